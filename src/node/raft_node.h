// RaftNode: one member of a cluster, running the pure core with real time, a durable
// log and a transport. Threads (DESIGN.md): the core thread alone touches the core
// (peer messages, proposals, ticks and completions reach it through one queue); the
// storage thread appends and fsyncs the WAL once per batch (group commit) and writes
// snapshot files; the apply thread applies committed entries to the state machine and
// completes the requests waiting for them. A request on a follower is forwarded to the
// leader; there is no local shortcut, and a one-node cluster commits through its log.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "node/node_config.h"
#include "node/state_machine.h"
#include "raft/raft.h"
#include "storage/snapshot_file.h"
#include "storage/wal.h"
#include "transport/transport.h"

namespace node {

using Millis = std::chrono::milliseconds;

// What status() reports: the core's view plus what the runtime adds.
struct NodeState {
  raft::NodeStatus core;
  raft::Membership membership;
  TimeoutsMs timeouts;
  raft::LogIndex applied;  // applied to the state machine
  raft::LogIndex snapshot_index;
  uint64_t wal_syncs = 0;
};

class RaftNode : public transport::Handler {
 public:
  // Opens (or creates) the data directory, recovers the log and the latest snapshot
  // into `sm`, and prepares the core. Nothing runs until start().
  static absl::StatusOr<std::unique_ptr<RaftNode>> open(const NodeConfig& config, StateMachine* sm,
                                                        transport::Transport* transport);
  ~RaftNode() override;

  void start();
  // Stops the threads; waiting requests fail with Unavailable. Idempotent.
  void stop();

  // Replicates `command`; returns what applying it produced. Forwarded to the leader on
  // a follower. Errors (etcd's strings): "etcdserver: no leader", "etcdserver: request
  // timed out", "etcdserver: leader changed".
  absl::StatusOr<std::string> client_write(std::string command, Millis timeout);
  // Returns once this node's state machine reflects every write that completed before
  // the call (ReadIndex, thesis 6.4), on the leader and on followers alike.
  absl::Status linearizable_read(Millis timeout);
  // The same two without a waiting thread: `done` runs exactly once, on a runtime
  // thread (apply, core, transport or timer), and must not block. For servers that
  // complete requests from callbacks (gRPC's callback API).
  using WriteCallback = std::function<void(absl::StatusOr<std::string>)>;
  using ReadCallback = std::function<void(absl::Status)>;
  void client_write_async(std::string command, Millis timeout, WriteCallback done);
  void linearizable_read_async(Millis timeout, ReadCallback done);
  // Runs the state machine's leader_call on the leader.
  absl::StatusOr<std::string> leader_call(std::string payload, Millis timeout);

  bool is_leader() const;
  raft::NodeId leader() const;
  raft::Term term() const;  // the current term, without copying status()
  raft::NodeId id() const { return config_.id; }

  // Membership, through the log, on the leader (forwarded from followers). Each returns
  // once the change is applied here or fails.
  absl::Status add_node(raft::NodeId id, bool learner, Millis timeout);
  absl::Status promote_node(raft::NodeId id, Millis timeout);
  absl::Status remove_node(raft::NodeId id, Millis timeout);
  absl::Status change_membership(std::set<raft::NodeId> voters, std::set<raft::NodeId> learners,
                                 Millis timeout);
  // Hands leadership to `to` and waits until it leads.
  absl::Status transfer_leadership(raft::NodeId to, Millis timeout);
  // New timeouts for every node, through the log.
  absl::Status update_timeouts(const TimeoutsMs& timeouts, Millis timeout);
  TimeoutsMs timeouts() const;
  NodeState status() const;

  // What happens when the disk fails under the log: the node must stop (a failed fsync
  // may have lost acknowledged data in the page cache). Default: print and abort.
  void set_fatal_handler(std::function<void(const std::string&)> handler) {
    fatal_ = std::move(handler);
  }
  // Called once when a peer says this member was removed from the cluster (a removed
  // follower learns it this way: the leader stops replicating to it, so it may never
  // apply its own removal). Set before start().
  void set_removed_handler(std::function<void(const std::string&)> handler) {
    removed_handler_ = std::move(handler);
  }

  // transport::Handler
  void on_message(raft::Message message, std::string snapshot) override;
  absl::StatusOr<std::string> on_forward(transport::ForwardKind kind, std::string payload,
                                         Millis timeout) override;
  void on_proposal(raft::NodeId from, std::string entry) override;
  void on_refusal(uint64_t request, std::string message) override;
  bool is_removed(raft::NodeId peer) override;
  void on_removed(std::string message) override;

 private:
  RaftNode(const NodeConfig& config, StateMachine* sm, transport::Transport* transport);

  using Task = std::function<void()>;
  using Deadline = std::chrono::steady_clock::time_point;
  struct WriteWaiter {
    Deadline deadline;  // the timer thread fails it with "request timed out" then
    WriteCallback done;
  };
  struct ReadWaiter {
    Deadline deadline;
    ReadCallback done;
  };
  struct AsyncWrite {
    std::string command;
    Deadline deadline;
    WriteCallback done;
  };
  struct IndexWaiter {
    raft::Term term;
    std::shared_ptr<std::promise<absl::Status>> done;
  };

  // Core thread.
  void post(Task task);
  void core_loop();
  void drive();
  void on_applied(std::shared_ptr<const std::string> snapshot, raft::SnapshotMeta meta);
  void send_messages(std::vector<raft::Message>& messages);
  void maybe_snapshot();
  void publish_status();
  // Storage and apply threads.
  void storage_loop();
  void apply_loop();

  absl::StatusOr<std::string> propose_local(std::string command, Millis timeout);
  // Proposes `command` on `leader` (this node, or forwarded on the peer stream) and waits
  // until this node applies it.
  absl::StatusOr<std::string> propose_via(raft::NodeId leader, std::string command, Millis timeout);
  void complete_write(uint64_t request, absl::StatusOr<std::string> result);
  // Registers `done` for `request` and sends `command` to `leader` (no waiting).
  void propose_async(raft::NodeId leader, std::string command, Deadline deadline,
                     WriteCallback done);
  void write_attempt(std::shared_ptr<AsyncWrite> w);
  // Runs `task` on the timer thread at `at` (or at stop, when running_ is false).
  void schedule(Deadline at, Task task);
  void timer_loop();
  // Runs `local` on the leader, or forwards `payload` to it, retrying while the leader is
  // unknown or unreachable (the request was not delivered) until `timeout`.
  absl::StatusOr<std::string> on_leader(
      const std::function<absl::StatusOr<std::string>(Millis)>& local, transport::ForwardKind kind,
      const std::string& payload, Millis timeout);
  absl::Status admin_local(std::string_view payload, Millis timeout);
  absl::Status run_admin(std::string payload, Millis timeout);
  absl::Status wait_index(std::function<raft::ProposeResult(raft::Raft&)> op, Millis timeout);
  absl::Status wait_for_leader(Millis timeout);
  raft::Timeouts to_ticks(const TimeoutsMs& t) const;
  TimeoutsMs to_ms(const raft::Timeouts& t) const;
  void fail_all(const absl::Status& status);

  const NodeConfig config_;
  StateMachine* const sm_;
  transport::Transport* const transport_;
  std::function<void(const std::string&)> fatal_;
  std::function<void(const std::string&)> removed_handler_;
  std::atomic<bool> removed_told_{false};
  // Hands an applied configuration to the state machine and notes the members that
  // left it (and did not come back): their streams are refused with
  // transport::kRemovedMessage. Rebuilt from the log replayed after a restart; removals
  // folded into the snapshot before it are forgotten.
  void apply_membership(const raft::Membership& m);
  std::mutex removed_mu_;
  std::optional<raft::Membership> applied_membership_;  // guarded by removed_mu_
  std::set<raft::NodeId> removed_;                      // guarded by removed_mu_

  // Owned by the core thread after start().
  std::unique_ptr<raft::Raft> core_;
  bool ready_in_flight_ = false;
  raft::Term durable_term_;  // the term and vote last made durable: a change needs an fsync
  raft::NodeId durable_vote_;
  raft::Role last_role_ = raft::Role::kFollower;
  std::map<raft::LogIndex, std::string> incoming_snapshots_;  // by index, until installed
  std::shared_ptr<const std::string> latest_snapshot_;        // for InstallSnapshot
  raft::SnapshotMeta latest_snapshot_meta_;

  // Storage (used by the storage thread, and by open() before the threads run).
  std::unique_ptr<storage::Wal> wal_;
  std::unique_ptr<storage::SnapshotStore> snapshots_;

  std::mutex mu_;  // guards the three queues and the stop flag
  std::condition_variable core_cv_, storage_cv_, apply_cv_;
  std::deque<Task> core_queue_;
  std::deque<std::function<void()>> storage_queue_;
  struct ApplyJob {
    raft::Ready ready;
    std::shared_ptr<const std::string> snapshot;  // the bytes of ready.snapshot, if any
  };
  std::deque<ApplyJob> apply_queue_;
  void apply_job(ApplyJob& job);
  void after_persist(ApplyJob job);
  bool stopping_ = false;
  std::thread core_thread_, storage_thread_, apply_thread_;
  std::mutex timer_mu_;  // guards timers_ and timer_stop_
  std::condition_variable timer_cv_;
  std::multimap<Deadline, Task> timers_;
  bool timer_stop_ = false;
  std::thread timer_thread_;

  std::mutex wait_mu_;  // guards the waiters
  std::map<uint64_t, WriteWaiter> writes_;
  std::map<uint64_t, ReadWaiter> reads_;
  std::map<raft::LogIndex, IndexWaiter> indexes_;
  std::atomic<uint64_t> next_request_{1};
  std::atomic<uint64_t> next_read_{1};

  mutable std::mutex status_mu_;
  NodeState state_;  // guarded by status_mu_; published by the core and apply threads
  std::atomic<uint64_t> leader_{0};
  std::atomic<uint64_t> term_{0};
  std::atomic<bool> running_{false};
};

}  // namespace node
