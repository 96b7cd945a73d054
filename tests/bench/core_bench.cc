// Not a test: `build/bin/core_bench` measures the pure core alone: a proposal on the
// leader of 3 in-memory nodes until it is committed and applied on the leader, with
// messages delivered at once and no I/O. One proposal at a time, and in batches.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <vector>

#include "raft/raft.h"

namespace {

using raft::Message;
using raft::NodeId;

class Cluster {
 public:
  Cluster() {
    raft::Membership m;
    for (uint64_t i = 1; i <= 3; ++i) m.voters.insert(NodeId(i));
    for (uint64_t i = 1; i <= 3; ++i) {
      raft::Config c;
      c.id = NodeId(i);
      c.timeouts = {1, 10, 20};
      c.seed = i;
      c.snapshot_entries = 0;
      nodes_[i] = std::make_unique<raft::Raft>(c, m);
    }
    for (int i = 0; i < 100 && leader().role() != raft::Role::kLeader; ++i) {
      leader().tick();
      settle();
    }
  }
  raft::Raft& leader() { return *nodes_[1]; }

  // Runs every Ready and delivers every message until quiet; returns entries applied on
  // the leader.
  size_t settle() {
    size_t applied = 0;
    for (int round = 0; round < 1000; ++round) {
      bool any = false;
      for (auto& [id, n] : nodes_) {
        while (n->has_ready()) {
          any = true;
          raft::Ready rd = n->ready();
          for (Message& m : rd.messages) queue_.push_back(std::move(m));
          for (Message& m : rd.persisted_messages) queue_.push_back(std::move(m));
          if (id == 1) applied += rd.committed_entries.size();
          last_applied_[id] =
              rd.committed_entries.empty() ? last_applied_[id] : rd.committed_entries.back().index;
          n->advance();
        }
      }
      std::vector<Message> batch;
      batch.swap(queue_);
      for (Message& m : batch) {
        any = true;
        nodes_[m.to.value()]->step(std::move(m));
      }
      if (!any) break;
    }
    return applied;
  }
  // Keeps memory flat over millions of entries: every node drops what it applied.
  void compact() {
    for (auto& [id, n] : nodes_) {
      if (last_applied_[id].value() > 0) (void)n->compact(last_applied_[id]);
    }
  }

 private:
  std::map<uint64_t, std::unique_ptr<raft::Raft>> nodes_;
  std::map<uint64_t, raft::LogIndex> last_applied_;
  std::vector<Message> queue_;
};

void BM_ProposeToCommit(benchmark::State& state) {
  Cluster c;
  const std::string payload(static_cast<size_t>(state.range(1)), 'x');
  const int batch = static_cast<int>(state.range(0));
  int64_t n = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      if (!c.leader().propose(payload).error.is_ok()) state.SkipWithError("propose refused");
    }
    if (c.settle() < static_cast<size_t>(batch)) state.SkipWithError("not all applied");
    if (++n % 1024 == 0) c.compact();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.SetBytesProcessed(state.iterations() * batch * state.range(1));
}
BENCHMARK(BM_ProposeToCommit)->Args({1, 256})->Args({16, 256})->Args({256, 256});

}  // namespace

BENCHMARK_MAIN();
