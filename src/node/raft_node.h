/// @file
/// RaftNode: one member of a cluster, running the pure core with real time, a durable
/// log and a transport. It is the public face of the runtime; the work is done by parts
/// that each own one thread and one mutex (docs/architecture.md):
///   - CoreLoop (core thread): the only code that touches raft::Raft;
///   - StorageWriter (storage thread): appends and fsyncs the WAL once per batch (group
///     commit) and writes snapshot files;
///   - Applier (apply thread): the only code that calls the StateMachine once started;
///   - RequestTracker (timer thread): every request in flight, by deadline, and retries.
/// The Dispatcher (no thread of its own) routes requests to the leader. A request on a
/// follower is forwarded; there is no local shortcut, and a one-node cluster commits
/// through its log. Errors are absl::Status values carrying a NodeErrorKind
/// (node_error.h); the server words them as etcd does.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "metrics/registry.h"
#include "node/node_config.h"
#include "node/node_metrics.h"
#include "node/node_types.h"
#include "node/state_machine.h"
#include "raft/raft.h"
#include "transport/transport.h"

namespace raftkv::node {
class ForwardedRequest;  // proto/raftkv/node.proto
}  // namespace raftkv::node

namespace node {

// The runtime's parts (internal headers, not installed): RaftNode owns one of each.
class Applier;
class CoreLoop;
class Dispatcher;
class RemovedMembers;
class RequestTracker;
class StorageWriter;

/// The API's timeouts are in milliseconds.
using Millis = std::chrono::milliseconds;

/// What status() reports: the core's view plus what the runtime adds.
struct NodeState {
  raft::NodeStatus core;             ///< the core's own view
  raft::Membership membership;       ///< the latest configuration in the log
  TimeoutsMs timeouts;               ///< in force
  raft::LogIndex applied;            ///< applied to the state machine
  raft::LogIndex snapshot_index;     ///< the latest snapshot's last entry (0: none)
  uint64_t wal_syncs = 0;            ///< fsyncs of the log since open()
  raft::DropCounters drops;          ///< peer messages the core did not act on, by reason
  uint64_t malformed_proposals = 0;  ///< proposals handed over by peers, unreadable
  /// This member's writes found in no log once an entry of a later term applied (the
  /// leader they were handed to lost them): each sent again if its deadline allows.
  uint64_t writes_lost_with_leader = 0;
  /// Peer messages stepped on the thread that delivered them, the core thread being idle
  /// (NodeConfig::step_on_receiving_thread), since open().
  uint64_t messages_stepped_here = 0;
  /// Committed entries applied on the thread that made them durable or committed them,
  /// one count per Ready (NodeConfig::apply_on_calling_thread), since open().
  uint64_t readies_applied_here = 0;
  OverloadCounters overload;                             ///< work the core thread turned away
  std::map<raft::NodeId, Clock::time_point> last_heard;  ///< a message from each peer
  MemoryHeld memory;                                     ///< what the core thread holds
};

/// Work waiting in each runtime thread's queue.
struct QueueDepths {
  size_t core = 0;     ///< tasks for the core thread
  size_t storage = 0;  ///< Readys and snapshots for the storage thread
  size_t apply = 0;    ///< Readys, snapshot requests and calls for the apply thread
};

/// One member of a cluster. Requests may come from any thread but the runtime's own (the
/// core, storage, apply and timer threads), concurrently; the state machine is called on
/// the apply thread only (state_machine.h). `sm` and the transport must outlive it. Stop
/// order: the callers first, then stop() and the transport's own stop
/// (GrpcTransport::stop(); LocalNetwork::detach()), and only then destroy the node: no
/// transport thread may reach a destroyed node.
class RaftNode : public transport::Handler {
 public:
  /// Opens (or creates) the data directory, recovers the log and the latest snapshot
  /// into `sm`, and prepares the core. Nothing runs until start(). Caller's thread:
  /// StateMachine::restore() and on_membership() run here; the entries after the snapshot
  /// are applied on the apply thread once started. A snapshot file restore() refuses fails
  /// the open with DataLossError naming it. A new cluster's members bootstrap from
  /// config.bootstrap; a joining member (bootstrap empty) waits for the leader.
  static absl::StatusOr<std::unique_ptr<RaftNode>> open(const NodeConfig& config, StateMachine* sm,
                                                        transport::Transport* transport);
  ~RaftNode() override;

  /// Starts the four threads. Once, before any request.
  void start();
  /// Stops the threads; every request still waiting fails with kStopped. Idempotent. Any
  /// thread but the runtime's own.
  void stop();

  // The calls below may be made from any thread but the runtime's own (the core, storage,
  // apply and timer threads), concurrently.

  /// Replicates `command` and returns what applying it produced here. Forwarded to the
  /// leader on a follower. Errors: kNoLeader, kTimedOut, kLeaderChanged, kStopped, ...
  absl::StatusOr<std::string> client_write(std::string command, Millis timeout);
  /// Replicates `command` only if this node leads in `term` (kNotLeader otherwise): never
  /// forwarded. For decisions only that term's leader may make.
  absl::StatusOr<std::string> leader_write(std::string command, raft::Term term, Millis timeout);
  /// Returns once this node's state machine reflects every write that completed before
  /// the call (ReadIndex, thesis 6.4), on the leader and on followers alike.
  absl::Status linearizable_read(Millis timeout);
  /// The same two without a waiting thread: `done` runs exactly once, on a runtime
  /// thread (apply, core, transport or timer), and must not block.
  ///@{
  void client_write_async(std::string command, Millis timeout, WriteCallback done);
  void linearizable_read_async(Millis timeout, StatusCallback done);
  ///@}
  /// Runs the state machine's leader_call on the leader (on its apply thread).
  absl::StatusOr<std::string> leader_call(std::string payload, Millis timeout);

  /// Whether this node leads, as the core saw it at its last round: for routing and status.
  /// A decision only a leader may make goes through leader_write() instead.
  bool is_leader() const;
  /// The leader this node knows of, or kNoNode.
  raft::NodeId leader() const;
  raft::Term term() const;  ///< without copying status()
  /// NodeConfig::id.
  raft::NodeId id() const { return config_.id; }

  /// Membership, through the log, on the leader (forwarded from followers). Each returns
  /// once the change is applied on the leader, or fails.
  /// `user` is the client that asked (NodeConfig::authorize checks it on the leader).
  /// add_node with `learner` adds a learner, to promote_node() once it caught up; without,
  /// the leader adds a learner and promotes it itself once it is close enough
  /// (raft::Raft::add_node). None of these sets a peer address: call the transport's
  /// set_peer() on every member for a new one.
  ///@{
  absl::Status add_node(raft::NodeId id, bool learner, Millis timeout,
                        const std::string& user = "");
  absl::Status promote_node(raft::NodeId id, Millis timeout, const std::string& user = "");
  absl::Status remove_node(raft::NodeId id, Millis timeout, const std::string& user = "");
  ///@}
  /// Replaces the configuration; only on the leader (FailedPrecondition elsewhere).
  absl::Status change_membership(std::set<raft::NodeId> voters, std::set<raft::NodeId> learners,
                                 Millis timeout);
  /// Hands leadership to `to` and waits until it leads.
  absl::Status transfer_leadership(raft::NodeId to, Millis timeout, const std::string& user = "");
  /// New timeouts for every node, through the log.
  absl::Status update_timeouts(const TimeoutsMs& timeouts, Millis timeout,
                               const std::string& user = "");
  /// The timeouts in force, in milliseconds.
  TimeoutsMs timeouts() const;
  /// A copy of the node's view, for status pages and tests.
  NodeState status() const;
  /// Work waiting in the runtime's queues now. Any thread.
  QueueDepths queue_depths() const;
  /// The registry the runtime's metrics are on (NodeConfig::registry, or its own).
  metrics::Registry& registry() { return *registry_; }
  /// The runtime's own metrics (node/node_metrics.h).
  const NodeMetrics& metrics() const { return metrics_; }

  /// What happens when the node cannot go on: the disk fails under the log (a failed
  /// fsync may have lost acknowledged data in the page cache), a snapshot from the leader
  /// cannot be stored or restored, the state machine cannot take a snapshot, a log entry
  /// is not a raftkv command, or a runtime invariant breaks. The node must stop. Default:
  /// log and abort. Set before start(). Before the handler runs the node halts: it
  /// writes, applies, sends and answers nothing more, and every waiting request (and every
  /// later one) fails with kStopped. The handler runs on the runtime thread that met the
  /// failure, so it must not call stop() there: a handler of your own ends the process,
  /// or takes the node out of service and calls stop() from another thread.
  void set_fatal_handler(std::function<void(const std::string&)> handler) {
    fatal_ = std::move(handler);
  }
  /// Called once when a peer says this member was removed from the cluster (a removed
  /// follower learns it this way: the leader stops replicating to it, so it may never
  /// apply its own removal). Set before start().
  void set_removed_handler(std::function<void(const std::string&)> handler) {
    removed_handler_ = std::move(handler);
  }

  /// transport::Handler (transport threads): give the node to the transport's start()
  /// or LocalNetwork::attach(); not for the embedder to call.
  absl::StatusOr<std::unique_ptr<transport::SnapshotSink>> receive_snapshot(raft::NodeId from,
                                                                            uint64_t index,
                                                                            uint64_t size) override;
  void on_message(raft::Message message,
                  std::shared_ptr<const transport::SnapshotSource> snapshot) override;
  void on_proposal(raft::NodeId from, std::string entry) override;
  void on_refusal(uint64_t request, absl::Status why) override;
  void on_forward(raft::NodeId from, std::string payload, Millis timeout,
                  transport::ForwardCallback done) override;
  bool is_removed(raft::NodeId peer) override;
  bool is_member(raft::NodeId peer) override;
  void on_removed(std::string message) override;
  void on_peer_closed(raft::NodeId peer) override;

 private:
  explicit RaftNode(const NodeConfig& config);
  // After a fatal error, on the runtime thread that met it: the node takes no more work.
  void halt(const std::string& why);
  // Runs a request on the leader and waits for its answer (the blocking calls).
  absl::Status run_on_leader(raftkv::node::ForwardedRequest request, Millis timeout);
  Deadline deadline(Millis timeout) const { return Clock::now() + timeout; }

  const NodeConfig config_;
  std::unique_ptr<metrics::Registry> own_registry_;  // when the config names none
  metrics::Registry* const registry_;
  NodeMetrics metrics_;
  std::function<void(const std::string&)> fatal_;
  std::function<void(const std::string&)> removed_handler_;
  std::atomic<bool> removed_told_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> halted_{false};

  // The parts, in the order they are built; destroyed in reverse. Never null once
  // open() returns.
  std::unique_ptr<RemovedMembers> removed_;
  std::unique_ptr<RequestTracker> tracker_;
  std::unique_ptr<StorageWriter> storage_;
  std::unique_ptr<Applier> applier_;
  std::unique_ptr<CoreLoop> core_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

}  // namespace node
