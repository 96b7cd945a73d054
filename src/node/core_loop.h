// CoreLoop: the core thread, the only code that touches raft::Raft once the node runs.
// Everything reaches it through one queue (peer messages, proposals, reads, changes,
// acknowledgements from the storage and apply threads) and the tick. Each Ready it takes
// from the core goes out: messages to the transport, the rest to the storage thread and
// then the apply thread; advance() follows once it is durable and handed to the apply
// thread (or, beyond OverloadBounds::max_applying_bytes handed over unapplied, and for a
// snapshot from the leader, once applied). It publishes the core's view (leader, term,
// status) for every other thread to read.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "node/applier.h"
#include "node/core_events.h"
#include "node/mutex.h"
#include "node/node_config.h"
#include "node/node_metrics.h"
#include "node/node_types.h"
#include "node/ready_job.h"
#include "node/request_tracker.h"
#include "node/storage_writer.h"
#include "raft/raft.h"
#include "transport/transport.h"

namespace node {

// A membership change as the runtime asks for it; the core thread checks it against
// the configuration it holds at that moment.
struct AddVoter {
  raft::NodeId id;  // joins as a learner, promoted once caught up (Raft::add_node)
};
struct AddLearner {
  raft::NodeId id;
};
struct Promote {
  raft::NodeId id;  // must be a learner
};
struct Remove {
  raft::NodeId id;
};
struct Replace {
  std::set<raft::NodeId> voters;
  std::set<raft::NodeId> learners;
};
using MembershipChange = std::variant<AddVoter, AddLearner, Promote, Remove, Replace>;

// What status() reports of the core.
struct CoreStatus {
  raft::NodeStatus core;
  raft::Membership membership;
  raft::Timeouts timeouts;
  raft::LogIndex snapshot_index;
  raft::DropCounters drops;
  // When a message from each peer last arrived (the runtime's clock; the core has none).
  std::map<raft::NodeId, Clock::time_point> last_heard;
  MemoryHeld memory;
};

// The core's answer to a proposal: where the entry went, or why it did not.
using ProposeCallback = std::function<void(absl::StatusOr<raft::LogId>)>;

class CoreLoop {
 public:
  struct Parts {
    transport::Transport* transport;
    StorageWriter* storage;
    Applier* applier;
    RequestTracker* tracker;
    FatalHandler fatal;
    NodeMetrics* metrics;
    OverloadBounds bounds;
    // Whether step() may run the core on the calling thread when it is idle
    // (NodeConfig::step_on_receiving_thread).
    bool step_here = false;
    // Whether applied() may run the core's next round on the calling thread when the
    // core thread is idle (NodeConfig::apply_on_calling_thread).
    bool apply_here = false;
    // NodeConfig::snapshot_log_percent.
    uint32_t snapshot_log_percent = 0;
  };
  // `latest` is the snapshot the node recovered (for InstallSnapshot); `durable` the
  // hard state on disk.
  CoreLoop(uint32_t tick_ms, std::unique_ptr<raft::Raft> core, SnapshotData latest,
           raft::HardState durable, Parts parts);
  ~CoreLoop();

  void start();
  // Stops the thread; queued work is dropped (its waiters fail through the tracker).
  void stop();
  // Stops taking tasks without waiting for the thread: any thread, its own included
  // (RaftNode::halt).
  void halt();

  // Inputs, from any thread. Each queues work for the core thread; callbacks run there
  // and must not block. (With Parts::step_here, step() runs its message on the calling
  // thread instead when no other thread is in the core and nothing is queued, and takes
  // what queues meanwhile, up to kRoundsHere rounds; the core's code still runs on one
  // thread at a time, in the order the inputs came.) When the queue is over its bounds
  // (OverloadBounds) a peer's message is dropped, and a request is refused with kOverloaded at
  // once, on the calling thread; so is a proposal while applying lags too far behind committing.
  void step(raft::Message message, std::shared_ptr<const transport::SnapshotSource> snapshot);
  // A peer's connection to this member went away (transport::Handler::on_peer_closed).
  void peer_closed(raft::NodeId peer);
  // With `only_in` set, the proposal is refused (kNotLeader) unless the core leads in
  // that term when it takes it: a decision made as leader of one term never lands in a
  // log under another.
  void propose(std::string data, ProposeCallback done, raft::Term only_in = raft::Term());
  // `done` gets the refusal only; a read the core accepted completes through the Ready.
  void read_index(raft::ReadId id, std::function<void(absl::Status)> refused);
  // A ReadIndex round this core runs as leader, never one it asks a leader for: refused
  // (kNotLeader) unless the core leads when it takes the request, and dropped (through the
  // Ready, kLeaderChanged) if it stops leading before a quorum answers. What the caller
  // does once it completes is done by a member that led after the request arrived. (The
  // published leader() the caller checked may be stale: a core stalled, then woken with a
  // newer leader's message queued ahead of the request.)
  void confirm_leadership(raft::ReadId id, std::function<void(absl::Status)> refused);
  void change_membership(MembershipChange change, ProposeCallback done);
  void propose_timeouts(raft::Timeouts timeouts, ProposeCallback done);
  void transfer_leadership(raft::NodeId to, std::function<void(absl::Status)> done);

  // The thread that wrote it (the storage thread, or one in the core's round: the core
  // thread, or one in run_here): a Ready is durable. Sends what waited for the disk and
  // hands the job to the applier (which may apply it on this thread).
  void persisted(ReadyJob job);
  // The thread that applied it (the apply thread, or the one persisted() ran on): the
  // Ready was applied (`installed`: the leader's snapshot it restored; `advanced`: the
  // core went past it when it was handed over, ReadyJob::advanced). The changes waiting
  // for its entries are answered; unless `advanced`, the core advances. With
  // Parts::apply_here that runs on the calling thread when the core is idle.
  void applied(std::optional<SnapshotData> installed, bool advanced);
  // The apply thread: a local snapshot was taken.
  void snapshot_taken(std::shared_ptr<storage::SnapshotWriter> snapshot);
  // The storage thread: a local snapshot is durable, readable from its file.
  void snapshot_saved(SnapshotData saved);

  // The core's published view. Any thread.
  raft::NodeId leader() const { return raft::NodeId(leader_.load(std::memory_order_acquire)); }
  raft::Term term() const { return raft::Term(term_.load(std::memory_order_relaxed)); }
  raft::LogIndex commit() const { return raft::LogIndex(commit_.load(std::memory_order_relaxed)); }
  CoreStatus status() const;
  // The latest configuration the core knows (its log's newest), as last published. Any
  // thread.
  raft::Membership membership() const;
  // Tasks waiting for the core thread. Any thread.
  size_t queue_depth() const;
  // Peer messages step() ran on the calling thread (Parts::step_here). Any thread.
  uint64_t stepped_here() const { return stepped_here_.load(std::memory_order_relaxed); }
  // Any thread.
  OverloadCounters overload() const {
    return {.dropped_messages = dropped_messages_.load(std::memory_order_relaxed),
            .refused_queue_full = refused_requests_.load(std::memory_order_relaxed),
            .refused_apply_lag = refused_lagging_.load(std::memory_order_relaxed)};
  }

 private:
  // Who may be turned away when the queue is full: the storage and apply threads'
  // acknowledgements never are (they are bounded by the one Ready in flight).
  enum class Input { kInternal, kPeer, kRequest };
  // Queues `task` (moved from only then), counting `bytes` against the bounds; false
  // when it was turned away.
  bool post(Task&& task, Input input = Input::kInternal, size_t bytes = 0);
  absl::Status queue_full() const;
  // Core thread: kOverloaded when applying trails committing by more than the bound.
  absl::Status apply_lag_refusal();
  // step()'s message (Parts::step_here) or applied()'s advance (Parts::apply_here) run on
  // the calling thread: false, the task untouched, when another thread is in the core,
  // work is queued, or a tick is due.
  bool run_here(Task& task);
  static constexpr int kRoundsHere = 4;
  void loop();
  // Core thread only, below.
  void drive();
  void send(std::vector<raft::Message>& messages);
  void advance(std::optional<SnapshotData> installed);
  // Answers the changes waiting for the entries of Readies advanced past and applied.
  void answer_applied();
  void maybe_snapshot();
  void publish();
  raft::ProposeResult propose_change(const MembershipChange& change);
  // Heartbeat round trips, for NodeMetrics::peer_rtt.
  void heartbeat_sent(const raft::Message& m);
  void heartbeat_answered(const raft::Message& m);

  const uint32_t tick_ms_;
  const Parts parts_;

  // Core thread only, once started.
  const std::unique_ptr<raft::Raft> core_;
  CoreEvents events_;                  // the log lines about what the core did
  bool ready_in_flight_ = false;       // a Ready taken, not yet advanced past
  bool snapshot_requested_ = false;    // the apply thread is taking a snapshot
  std::vector<raft::LogId> applying_;  // the committed entries of the Ready in flight
  uint64_t applying_bytes_ = 0;        // and their bytes
  // The committed entries of the Readies advanced past, by Ready, until the apply thread
  // has applied them; and their bytes (held against max_applying_bytes).
  struct Unapplied {
    std::vector<raft::LogId> entries;
    uint64_t bytes = 0;
  };
  std::deque<Unapplied> unapplied_;
  uint64_t unapplied_bytes_ = 0;
  // The entry bytes advanced past since the last snapshot was asked for (or installed),
  // against the latest snapshot's bytes (Parts::snapshot_log_percent).
  uint64_t log_bytes_since_snapshot_ = 0;
  uint64_t snapshot_bytes_ = 0;
  raft::HardState durable_;                  // the term and vote last made durable
  raft::Role role_ = raft::Role::kFollower;  // as last published
  raft::Term led_term_;                      // the term of the last leadership published
  raft::NodeId published_leader_;
  struct HeartbeatSent {
    raft::HeartbeatRound round;
    Clock::time_point at;
    metrics::Histogram* rtt;  // this peer's child of NodeMetrics::peer_rtt
  };
  std::map<raft::NodeId, HeartbeatSent> heartbeats_;  // the latest round sent to each peer
  std::map<raft::NodeId, Clock::time_point> last_heard_;
  Clock::time_point heard_published_at_{};
  // By index, until installed.
  std::map<raft::LogIndex, std::shared_ptr<const transport::SnapshotSource>> incoming_snapshots_;
  SnapshotData latest_;  // the newest snapshot, sent to followers that need it

  mutable Mutex mu_;
  CondVar work_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> dropped_messages_{0}, refused_requests_{0}, refused_lagging_{0};
  std::atomic<uint64_t> stepped_here_{0};
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // A thread (the core thread, or one in run_here) is running the core's code; the other
  // waits. `core_waits_` says the core thread waits for that, to be woken when it ends.
  bool in_hand_ ABSL_GUARDED_BY(mu_) = false;
  bool core_waits_ ABSL_GUARDED_BY(mu_) = false;
  Clock::time_point next_tick_ ABSL_GUARDED_BY(mu_){};
  std::thread thread_;

  mutable Mutex status_mu_;
  CoreStatus status_ ABSL_GUARDED_BY(status_mu_);  // published by the core thread
  std::atomic<uint64_t> leader_{0};
  std::atomic<uint64_t> term_{0};
  std::atomic<uint64_t> commit_{0};
};

}  // namespace node
