// Applier: the apply thread, the only code that calls the StateMachine once the node
// runs. It applies committed entries in log order, installs snapshots from the leader,
// takes local snapshots, tells the state machine about leadership, runs leader calls,
// and completes the requests waiting for what it applied (through the tracker). Work
// reaches it as queue items, in order. Beside it, the snapshot thread writes the local
// snapshots a state machine begins on the apply thread (StateMachine::begin_snapshot)
// and hands them to the core.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "node/node_metrics.h"
#include "node/ready_job.h"
#include "node/removed_members.h"
#include "node/request_tracker.h"
#include "node/state_machine.h"
#include "node/work_queue.h"
#include "storage/snapshot_file.h"

namespace node {

class Applier {
 public:
  // What the applier tells the core thread: a Ready was applied (with the snapshot it
  // installed, if any; `advanced`: the job's own flag, the core went past it when it was
  // handed over), or a local snapshot was written (not yet committed: the core
  // compacts, then the storage thread commits it; null when none was taken).
  struct Outputs {
    std::function<void(std::optional<SnapshotData> installed, bool advanced)> applied;
    std::function<void(std::shared_ptr<storage::SnapshotWriter>)> snapshot_taken;
  };

  // `applied` is the index the state machine reflects already (its restored snapshot).
  // Local snapshots are written into `snapshots` as the state machine produces them.
  // With `apply_here`, apply() applies on the calling thread when the apply thread is
  // idle (NodeConfig::apply_on_calling_thread).
  Applier(raft::NodeId self, StateMachine* sm, RequestTracker* tracker, RemovedMembers* removed,
          FatalHandler fatal, NodeMetrics* metrics, raft::LogIndex applied,
          storage::SnapshotStore* snapshots, Outputs outputs, bool apply_here = false);
  ~Applier();

  void start();
  // Stops the thread; queued items are dropped (their waiters fail through the tracker).
  void stop();
  // Takes no more items, without waiting for the thread: any thread (RaftNode::halt).
  void halt() {
    stopping_.store(true);
    snapshot_queue_.halt();
    queue_.halt();
  }

  // Any thread: queue items for the apply thread. apply() runs the job on the calling
  // thread instead when `apply_here` was given, the job installs no snapshot, and the
  // apply thread has nothing queued or in hand (then it takes nothing meanwhile).
  void apply(ReadyJob job);  // then outputs.applied
  // A snapshot of the state machine as of `meta.last` (the index it has applied): begun
  // on the apply thread, written there or (StateMachine::begin_snapshot) on the snapshot
  // thread while applies go on.
  void take_snapshot(raft::SnapshotMeta meta);    // then outputs.snapshot_taken, either thread
  void leadership(bool leader, raft::Term term);  // StateMachine::on_leadership
  void leader_call(std::string payload, uint64_t call);  // completes tracker call `call`

  // The last index applied to the state machine. Any thread.
  raft::LogIndex applied() const { return raft::LogIndex(applied_.load()); }
  // Items waiting for the apply thread. Any thread.
  size_t queue_depth() const { return queue_.size(); }
  // Ready jobs applied on the thread that handed them over (`apply_here`). Any thread.
  uint64_t applied_here() const { return applied_here_.load(std::memory_order_relaxed); }

 private:
  struct SnapshotRequest {
    raft::SnapshotMeta meta;
  };
  // A snapshot begun on the apply thread, written on the snapshot thread.
  struct SnapshotWork {
    std::unique_ptr<SnapshotJob> job;
    std::unique_ptr<storage::SnapshotWriter> writer;
    std::chrono::steady_clock::time_point start;
  };
  struct Leadership {
    bool leader;
    raft::Term term;
  };
  struct LeaderCall {
    std::string payload;
    uint64_t call;
  };
  using Item = std::variant<ReadyJob, SnapshotRequest, Leadership, LeaderCall>;

  void run(ReadyJob& job);
  void run(SnapshotRequest&);
  void run(Leadership& change) { sm_->on_leadership(change.leader, change.term); }
  void run(LeaderCall& call);
  void write(SnapshotWork& work);  // the snapshot thread
  // Writes what `produce` hands over into `writer`, makes it durable and hands it to the
  // core; an error names what failed (then nothing is handed over).
  std::optional<std::string> write_snapshot(
      std::unique_ptr<storage::SnapshotWriter> writer,
      const std::function<absl::Status(const std::function<bool(std::string_view)>&)>& produce,
      std::chrono::steady_clock::time_point start);
  void install(const raft::SnapshotMeta& meta, const transport::SnapshotSource& data);
  void apply_entry(const raft::Entry& e);
  // A fatal error: the handler is told, and this thread applies nothing more, whatever
  // the handler does (RaftNode halts the node in it; this stops the item in hand).
  void fail(const std::string& why) {
    failed_ = true;
    fatal_(why);
  }

  const raft::NodeId self_;
  // Called by one thread at a time once started: the apply thread, or one in
  // run_here_if_idle (the queue keeps the two apart and in order).
  StateMachine* const sm_;
  RequestTracker* const tracker_;
  RemovedMembers* const removed_;
  const FatalHandler fatal_;
  NodeMetrics* const metrics_;
  storage::SnapshotStore* const snapshots_;
  const Outputs outputs_;
  std::atomic<uint64_t> applied_;  // written by the applying thread only
  bool failed_ = false;            // the applying thread
  const bool apply_here_;
  std::atomic<uint64_t> applied_here_{0};

  const std::function<void(Item&)> handle_;  // runs an item (either thread)
  WorkQueue<Item> queue_;                    // the apply thread
  // The snapshot thread: snapshots the state machine writes beside the apply thread
  // (StateMachine::begin_snapshot). Stopped first; `stopping_` makes one in hand end early.
  WorkQueue<SnapshotWork> snapshot_queue_;
  std::atomic<bool> stopping_{false};
};

}  // namespace node
