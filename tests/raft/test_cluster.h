// A tiny in-memory cluster for unit tests of the core: messages are delivered in
// order and at once, every Ready is persisted and applied at once, and tests can cut
// links. Deterministic and synchronous, unlike the simulator.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "raft/raft.h"

namespace raft::testing {

inline Config test_config(uint64_t id, uint64_t seed = 0) {
  Config c;
  c.id = NodeId(id);
  c.timeouts = {1, 10, 20};
  c.seed = seed == 0 ? id : seed;
  c.snapshot_catch_up_entries = 0;  // a compaction drops all it covers, unless a test says
  return c;
}

inline Membership voters(std::initializer_list<uint64_t> ids) {
  Membership m;
  for (uint64_t id : ids) m.voters.insert(NodeId(id));
  return m;
}

class TestCluster {
 public:
  // `size` nodes, of which the first `initial_voters` (all by default) form the
  // cluster; the others start outside it, as new servers do.
  explicit TestCluster(int size, Config (*make)(uint64_t, uint64_t) = &test_config,
                       int initial_voters = 0) {
    Membership m;
    if (initial_voters == 0) initial_voters = size;
    for (int i = 1; i <= initial_voters; ++i) m.voters.insert(NodeId(i));
    for (int i = 1; i <= size; ++i) {
      nodes_[NodeId(i)] = std::make_unique<Raft>(make(i, i), m);
    }
  }

  Raft& node(uint64_t id) { return *nodes_.at(NodeId(id)); }

  // Cut (or restore) both directions between a and b.
  void cut(uint64_t a, uint64_t b) {
    cut_.insert({NodeId(a), NodeId(b)});
    cut_.insert({NodeId(b), NodeId(a)});
  }
  void isolate(uint64_t a) {
    for (auto& [id, n] : nodes_)
      if (id != NodeId(a)) cut(a, id.value());
  }
  void heal() { cut_.clear(); }

  // Drains every Ready and delivers every message until the cluster is quiet.
  void settle(int max_rounds = 1000) {
    for (int round = 0; round < max_rounds; ++round) {
      bool any = false;
      for (auto& [id, n] : nodes_) {
        while (n->has_ready()) {
          any = true;
          Ready rd = n->ready();
          for (Message& m : rd.messages) queue_.push_back(std::move(m));
          for (Message& m : rd.persisted_messages) queue_.push_back(std::move(m));
          for (Entry& e : rd.committed_entries) applied_[id].push_back(std::move(e));
          for (ReadState& r : rd.reads) reads_[id].push_back(r);
          for (ReadId r : rd.dropped_reads) dropped_reads_[id].push_back(r);
          n->advance();
        }
      }
      std::vector<Message> batch = std::move(queue_);
      queue_.clear();
      for (Message& m : batch) {
        any = true;
        ++delivered_;
        if (!cut_.contains({m.from, m.to})) nodes_.at(m.to)->step(std::move(m));
      }
      if (!any) return;
    }
  }

  // Ticks `id` until it campaigns, then settles; returns whether it became leader.
  bool elect(uint64_t id) {
    Raft& n = node(id);
    for (int i = 0; i < 100 && n.role() == Role::kFollower; ++i) n.tick();
    settle();
    return n.role() == Role::kLeader;
  }

  // Queues messages a test took out of a Ready by hand, for the next settle().
  void inject(std::vector<Message> messages) {
    for (Message& m : messages) queue_.push_back(std::move(m));
  }

  void tick_all(int times) {
    for (int i = 0; i < times; ++i) {
      for (auto& [id, n] : nodes_) n->tick();
      settle();
    }
  }

  const std::vector<Entry>& applied(uint64_t id) { return applied_[NodeId(id)]; }
  const std::vector<ReadState>& reads(uint64_t id) { return reads_[NodeId(id)]; }
  const std::vector<ReadId>& dropped_reads(uint64_t id) { return dropped_reads_[NodeId(id)]; }
  uint64_t delivered() const { return delivered_; }

 private:
  std::map<NodeId, std::unique_ptr<Raft>> nodes_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::vector<Message> queue_;
  std::map<NodeId, std::vector<Entry>> applied_;
  std::map<NodeId, std::vector<ReadState>> reads_;
  std::map<NodeId, std::vector<ReadId>> dropped_reads_;
  uint64_t delivered_ = 0;
};

}  // namespace raft::testing
