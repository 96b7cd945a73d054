#include "node/applier.h"

#include <time.h>

#include <chrono>
#include <utility>

#include "log/log.h"
#include "node/file_snapshot.h"
#include "node/node_error.h"
#include "raft/codec.h"
#include "raftkv/node.pb.h"

namespace node {
namespace {

using Steady = std::chrono::steady_clock;

// The calling thread's CPU time so far.
std::chrono::nanoseconds thread_cpu_time() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// etcd warns of a request whose apply took over 100 ms ("apply request took too long").
constexpr std::chrono::milliseconds kSlowApply(100);

}  // namespace

Applier::Applier(raft::NodeId self, StateMachine* sm, RequestTracker* tracker,
                 RemovedMembers* removed, FatalHandler fatal, NodeMetrics* metrics,
                 raft::LogIndex applied, storage::SnapshotStore* snapshots, Outputs outputs,
                 bool apply_here)
    : self_(self),
      sm_(sm),
      tracker_(tracker),
      removed_(removed),
      fatal_(std::move(fatal)),
      metrics_(metrics),
      snapshots_(snapshots),
      outputs_(std::move(outputs)),
      applied_(applied.value()),
      apply_here_(apply_here),
      handle_([this](Item& item) { std::visit([this](auto& i) { run(i); }, item); }) {}

Applier::~Applier() { stop(); }

void Applier::start() {
  snapshot_queue_.start("raftkv-snapshot", [this](SnapshotWork& w) { write(w); });
  queue_.start("raftkv-apply", handle_);
}

void Applier::stop() {
  // The snapshot thread first: an apply may wait for the snapshot in hand to end (a
  // compaction, a restore), and a queued one, dropped, lets it go on.
  stopping_.store(true);
  snapshot_queue_.stop();
  queue_.stop();
}

void Applier::apply(ReadyJob job) {
  // A snapshot from the leader replaces the whole state machine: the apply thread's.
  if (!apply_here_ || job.ready.snapshot.has_value()) return queue_.push(std::move(job));
  Item item(std::move(job));
  if (queue_.run_here_if_idle(item, handle_)) {
    applied_here_.fetch_add(1, std::memory_order_relaxed);
  } else {
    queue_.push(std::move(item));
  }
}
void Applier::take_snapshot(raft::SnapshotMeta meta) {
  queue_.push(SnapshotRequest{std::move(meta)});
}
void Applier::leadership(bool leader, raft::Term term) { queue_.push(Leadership{leader, term}); }
void Applier::leader_call(std::string payload, uint64_t call) {
  queue_.push(LeaderCall{std::move(payload), call});
}

void Applier::run(ReadyJob& job) {
  raft::Ready& rd = job.ready;
  std::optional<SnapshotData> installed;
  if (rd.snapshot.has_value()) {
    // Restored from the saved file when there is one (read a piece at a time), and kept
    // for this member's own followers, so that the bytes received go with the job.
    std::shared_ptr<const transport::SnapshotSource> data =
        job.snapshot_file != nullptr ? std::move(job.snapshot_file) : std::move(job.snapshot);
    install(*rd.snapshot, *data);
    // A snapshot not restored: nothing after it may be applied on the state it replaced.
    if (failed_) return;
    installed = SnapshotData{std::move(data), *rd.snapshot};
  }
  const auto batch_start = std::chrono::steady_clock::now();
  for (const raft::Entry& e : rd.committed_entries) {
    const auto start = std::chrono::steady_clock::now();
    apply_entry(e);
    if (failed_) return;
    // etcd's warning threshold for one apply ("apply request took too long").
    if (const auto took = std::chrono::steady_clock::now() - start; took > kSlowApply) {
      metrics_->slow_applies.inc();
      raftlog::warn(
          "node", "apply request took too long",
          {{"took", took}, {"expected-duration", kSlowApply}, {"index", e.index.value()}});
    }
    metrics_->commit_to_apply.observe(seconds_since(job.taken_at));
  }
  if (!rd.committed_entries.empty()) metrics_->backend_commit.observe(seconds_since(batch_start));
  // Ready's contract: each read's index is applied by now.
  for (const raft::ReadState& r : rd.reads) tracker_->complete_call(r.id.value(), std::string());
  for (raft::ReadId id : rd.dropped_reads) {
    tracker_->complete_call(id.value(),
                            node_error(NodeErrorKind::kLeaderChanged,
                                       "the leader changed before the read was confirmed"));
  }
  outputs_.applied(std::move(installed), job.advanced);
}

void Applier::install(const raft::SnapshotMeta& meta, const transport::SnapshotSource& data) {
  const auto start = Steady::now();
  if (absl::Status s = restore_from(*sm_, data); !s.ok()) {
    return fail("the snapshot from the leader cannot be restored: " + std::string(s.message()));
  }
  metrics_->snapshots_installed.inc();
  raftlog::info("node", "installed snapshot",
                {{"index", meta.last.index.value()},
                 {"term", meta.last.term.value()},
                 {"bytes", data.size()},
                 {"took", Steady::now() - start}});
  sm_->on_membership(meta.membership);
  removed_->applied(meta.membership);
  applied_.store(meta.last.index.value());
  tracker_->snapshot_installed(meta.last.index);
}

void Applier::apply_entry(const raft::Entry& e) {
  std::optional<raftkv::node::LogCommand> mine;  // a command this member proposed
  std::string result;
  switch (e.type) {
    case raft::EntryType::kNormal: {
      raftkv::node::LogCommand c;
      if (!c.ParseFromString(e.data)) {
        // Leaders check forwarded envelopes before proposing them: an entry no raftkv
        // member could have appended means the log is not ours to apply.
        return fail("log entry " + std::to_string(e.index.value()) +
                    " holds no raftkv command envelope (a log written by another program "
                    "or an older raftkv?)");
      }
      result = sm_->apply(e.index, c.command());
      if (raft::NodeId(c.origin()) == self_) mine = std::move(c);
      break;
    }
    case raft::EntryType::kMembership:
      if (std::optional<raft::Membership> m = raft::decode_membership(e.data)) {
        sm_->on_membership(*m);
        removed_->applied(*m);
      }
      break;
    case raft::EntryType::kNoop:
    case raft::EntryType::kTimeouts:  // the core applies timeouts itself
      break;
  }
  applied_.store(e.index.value());
  if (mine.has_value()) tracker_->complete_call(mine->request(), std::move(result));
}

void Applier::run(SnapshotRequest& request) {
  const auto start = Steady::now();
  const raft::LogIndex index = request.meta.last.index;
  if (index != applied()) {
    // The core asks at the index it has applied, before it hands over more entries.
    raftlog::error("node", "snapshot not taken",
                   {{"asked-index", index.value()}, {"applied-index", applied().value()}});
    return outputs_.snapshot_taken(nullptr);
  }
  // A state machine that can, captures its state here and writes it on the snapshot
  // thread: applies go on meanwhile, and so do the answers to this member's clients. It
  // may write only what it gained since the newest snapshot on disk (a file that extends
  // that one's: storage/snapshot_file.h).
  storage::StatusOr<std::vector<uint64_t>> on_disk = snapshots_->list();
  if (!on_disk.is_ok()) return fail("cannot list snapshots: " + on_disk.status().message());
  const raft::LogIndex latest(on_disk.value().empty() ? 0 : on_disk.value().back());
  if (std::unique_ptr<SnapshotJob> job = sm_->begin_snapshot({index, latest})) {
    const raft::LogIndex base = job->extends();
    if (base.value() != 0 && base != latest) {
      return fail("the state machine's snapshot at " + std::to_string(index.value()) +
                  " extends snapshot " + std::to_string(base.value()) + ", not the newest (" +
                  std::to_string(latest.value()) + ")");
    }
    storage::StatusOr<std::unique_ptr<storage::SnapshotWriter>> w =
        snapshots_->begin(request.meta, base.value());
    if (!w.is_ok()) return fail("cannot write snapshot: " + w.status().message());
    return snapshot_queue_.push({std::move(job), std::move(w.value()), start});
  }
  // Written to its file as the state machine produces it: nothing the size of the
  // state machine is held in memory.
  storage::StatusOr<std::unique_ptr<storage::SnapshotWriter>> w = snapshots_->begin(request.meta);
  if (!w.is_ok()) return fail("cannot write snapshot: " + w.status().message());
  std::optional<std::string> error = write_snapshot(
      std::move(w.value()), [this](const auto& write) { return sm_->snapshot_to(write); }, start);
  if (error.has_value()) fail(*error);
}

void Applier::write(SnapshotWork& work) {
  std::optional<std::string> error = write_snapshot(
      std::move(work.writer),
      [this, &work](const auto& write) {
        return work.job->write_to(
            [this, &write](std::string_view bytes) { return !stopping_.load() && write(bytes); });
      },
      work.start);
  work.job.reset();  // the state machine's hold on what the snapshot needed ends here
  // Stopping, a snapshot cut short is no fault: nothing was handed over.
  if (error.has_value() && !stopping_.load()) fatal_(*error);
}

std::optional<std::string> Applier::write_snapshot(
    std::unique_ptr<storage::SnapshotWriter> writer,
    const std::function<absl::Status(const std::function<bool(std::string_view)>&)>& produce,
    Steady::time_point start) {
  const std::chrono::nanoseconds cpu_start = thread_cpu_time();
  storage::Status written = storage::Status::ok();
  const absl::Status taken = produce([&](std::string_view bytes) {
    written = writer->append(bytes);
    return written.is_ok();
  });
  if (!written.is_ok()) return "cannot write snapshot: " + written.message();
  if (!taken.ok()) {
    return "the state machine cannot take a snapshot: " + std::string(taken.message());
  }
  // Made durable here, where only applies (or nothing) wait for it: the storage thread,
  // which names the file once the core has compacted, then has no fsync of the whole
  // snapshot to do ahead of the log's next append.
  if (storage::Status s = writer->finish(); !s.is_ok()) {
    return "cannot write snapshot: " + s.message();
  }
  metrics_->snapshot_seconds.observe(seconds_since(start));
  metrics_->snapshots_taken.inc();
  raftlog::info("node", "took snapshot",
                {{"index", writer->meta().last.index.value()},
                 {"bytes", writer->size()},
                 {"extends", writer->base()},
                 {"took", Steady::now() - start},
                 {"cpu", thread_cpu_time() - cpu_start}});
  outputs_.snapshot_taken(std::shared_ptr<storage::SnapshotWriter>(std::move(writer)));
  return std::nullopt;
}

void Applier::run(LeaderCall& call) {
  tracker_->complete_call(call.call, sm_->leader_call(call.payload));
}

}  // namespace node
