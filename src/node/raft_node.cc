#include "node/raft_node.h"

#include <cstdlib>
#include <future>

#include "log/log.h"
#include "node/applier.h"
#include "node/core_loop.h"
#include "node/dispatcher.h"
#include "node/node_error.h"
#include "node/recovery.h"
#include "node/removed_members.h"
#include "node/request_tracker.h"
#include "node/storage_writer.h"

namespace node {
namespace {

using raftkv::node::ForwardedRequest;

// Starts an asynchronous call and waits for its one answer: the blocking API's only
// way of waiting (every asynchronous call ends exactly once, see RequestTracker).
absl::StatusOr<std::string> await(const std::function<void(WriteCallback)>& start) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<std::string>>>();
  std::future<absl::StatusOr<std::string>> answer = promise->get_future();
  start([promise](absl::StatusOr<std::string> r) { promise->set_value(std::move(r)); });
  return answer.get();
}

raft::Config core_config(const NodeConfig& config, const SnapshotData& snapshot) {
  raft::Config rc;
  rc.id = config.id;
  rc.timeouts = snapshot.source != nullptr ? snapshot.meta.timeouts
                                           : to_ticks(config.timeouts, config.tick_ms);
  rc.snapshot_entries = config.snapshot_entries;
  rc.snapshot_catch_up_entries = config.snapshot_catch_up_entries;
  rc.snapshot_catch_up_bytes = config.snapshot_catch_up_bytes;
  rc.max_inflight_msgs = config.max_inflight_appends;
  rc.max_msg_bytes = config.max_append_bytes;
  rc.max_uncommitted_bytes = config.overload.max_uncommitted_bytes;
  rc.max_apply_bytes = config.overload.max_apply_bytes;
  rc.max_election_ticks = kMaxElectionMs / config.tick_ms;
  rc.seed = config.id.value() * 0x9E3779B97F4A7C15ull ^
            static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  return rc;
}

}  // namespace

RaftNode::RaftNode(const NodeConfig& config)
    : config_(config),
      own_registry_(config.registry == nullptr ? std::make_unique<metrics::Registry>() : nullptr),
      registry_(config.registry != nullptr ? config.registry : own_registry_.get()),
      metrics_(*registry_),
      removed_(std::make_unique<RemovedMembers>()),
      tracker_(std::make_unique<RequestTracker>()) {
  fatal_ = [](const std::string& message) {
    raftlog::error("node", "fatal error, stopping", {{"error", message}});
    std::abort();
  };
}

absl::StatusOr<std::unique_ptr<RaftNode>> RaftNode::open(const NodeConfig& config, StateMachine* sm,
                                                         transport::Transport* transport) {
  if (absl::Status s = validate(config); !s.ok()) return s;
  std::unique_ptr<RaftNode> node(new RaftNode(config));
  absl::StatusOr<Recovery> recovered = recover(config, sm, node->removed_.get());
  if (!recovered.ok()) return recovered.status();
  Recovery& r = *recovered;
  const raft::Config rc = core_config(config, r.snapshot);
  if (raft::Error e = raft::validate(rc); !e.is_ok()) {
    return absl::InvalidArgumentError(e.message());
  }
  const raft::HardState durable = r.restored.hard_state;
  const raft::Membership base =
      r.snapshot.source != nullptr ? r.snapshot.meta.membership : raft::Membership{};
  auto core = std::make_unique<raft::Raft>(rc, base, std::move(r.restored));

  RaftNode* n = node.get();
  // A fatal error halts the node before the embedder's handler hears of it, so that
  // nothing more is written, applied or answered even if the handler returns.
  FatalHandler fatal = [n](const std::string& message) {
    n->halt(message);
    n->fatal_(message);
  };
  storage::SnapshotStore* snapshots = r.snapshots.get();  // the storage writer owns it
  n->storage_ = std::make_unique<StorageWriter>(
      std::move(r.wal), std::move(r.snapshots),
      [n](ReadyJob job) { n->core_->persisted(std::move(job)); },
      [n](SnapshotData saved) { n->core_->snapshot_saved(std::move(saved)); }, fatal, &n->metrics_);
  n->applier_ = std::make_unique<Applier>(
      config.id, sm, n->tracker_.get(), n->removed_.get(), fatal, &n->metrics_,
      r.snapshot.meta.last.index, snapshots,
      Applier::Outputs{
          .applied = [n](std::optional<SnapshotData> installed,
                         bool advanced) { n->core_->applied(std::move(installed), advanced); },
          .snapshot_taken =
              [n](std::shared_ptr<storage::SnapshotWriter> snapshot) {
                n->core_->snapshot_taken(std::move(snapshot));
              }},
      config.apply_on_calling_thread);
  n->core_ = std::make_unique<CoreLoop>(
      config.tick_ms, std::move(core), std::move(r.snapshot), durable,
      CoreLoop::Parts{.transport = transport,
                      .storage = n->storage_.get(),
                      .applier = n->applier_.get(),
                      .tracker = n->tracker_.get(),
                      .fatal = fatal,
                      .metrics = &n->metrics_,
                      .bounds = config.overload,
                      .step_here = config.step_on_receiving_thread,
                      .apply_here = config.apply_on_calling_thread,
                      .snapshot_log_percent = config.snapshot_log_percent});
  n->dispatcher_ =
      std::make_unique<Dispatcher>(config.id, config.tick_ms, n->core_.get(), n->applier_.get(),
                                   n->tracker_.get(), transport, config.authorize);
  return node;
}

RaftNode::~RaftNode() { stop(); }

bool RaftNode::is_leader() const { return core_->leader() == config_.id; }
raft::NodeId RaftNode::leader() const { return core_->leader(); }
raft::Term RaftNode::term() const { return core_->term(); }

void RaftNode::start() {
  tracker_->start();
  storage_->start();
  applier_->start();
  core_->start();
}

void RaftNode::halt(const std::string& why) {
  if (halted_.exchange(true)) return;
  // The parts take no more work (none waits for its thread: this runs on one of them);
  // every waiting request fails now, and so does any later one.
  core_->halt();
  storage_->halt();
  applier_->halt();
  tracker_->stop(
      node_error(NodeErrorKind::kStopped, "the node stopped after a fatal error: " + why));
}

void RaftNode::stop() {
  if (stopped_.exchange(true)) return;
  // The threads that produce work first; then every waiter fails, and the retries the
  // tracker still holds run once more and fail too. A node whose open() failed has only
  // some of its parts (none of them started).
  if (core_ != nullptr) core_->stop();
  if (storage_ != nullptr) storage_->stop();
  if (applier_ != nullptr) applier_->stop();
  tracker_->stop(node_error(NodeErrorKind::kStopped, "the node stopped"));
}

// ---- Requests ----

absl::StatusOr<std::string> RaftNode::client_write(std::string command, Millis timeout) {
  return await([&](WriteCallback done) {
    client_write_async(std::move(command), timeout, std::move(done));
  });
}

absl::StatusOr<std::string> RaftNode::leader_write(std::string command, raft::Term term,
                                                   Millis timeout) {
  return await([&](WriteCallback done) {
    dispatcher_->write_as_leader(std::move(command), term, deadline(timeout), std::move(done));
  });
}

absl::Status RaftNode::linearizable_read(Millis timeout) {
  return await([&](WriteCallback done) {
           linearizable_read_async(timeout, [done = std::move(done)](absl::Status s) {
             if (!s.ok()) return done(s);
             done(std::string());
           });
         })
      .status();
}

void RaftNode::client_write_async(std::string command, Millis timeout, WriteCallback done) {
  metrics_.proposals_pending.add(1);
  dispatcher_->write(std::move(command), deadline(timeout),
                     [this, done = std::move(done)](absl::StatusOr<std::string> r) {
                       metrics_.proposals_pending.add(-1);
                       if (!r.ok()) metrics_.proposals_failed.inc();
                       done(std::move(r));
                     });
}

QueueDepths RaftNode::queue_depths() const {
  return QueueDepths{.core = core_->queue_depth(),
                     .storage = storage_->queue_depth(),
                     .apply = applier_->queue_depth()};
}

void RaftNode::linearizable_read_async(Millis timeout, StatusCallback done) {
  dispatcher_->read(deadline(timeout), std::move(done));
}

absl::StatusOr<std::string> RaftNode::leader_call(std::string payload, Millis timeout) {
  ForwardedRequest request;
  request.set_leader_call(std::move(payload));
  return await([&](WriteCallback done) {
    dispatcher_->on_leader(std::move(request), deadline(timeout), std::move(done));
  });
}

absl::Status RaftNode::run_on_leader(ForwardedRequest request, Millis timeout) {
  return await([&](WriteCallback done) {
           dispatcher_->on_leader(std::move(request), deadline(timeout), std::move(done));
         })
      .status();
}

absl::Status RaftNode::add_node(raft::NodeId id, bool learner, Millis timeout,
                                const std::string& user) {
  ForwardedRequest request;
  request.set_user(user);
  request.mutable_add_member()->set_id(id.value());
  request.mutable_add_member()->set_learner(learner);
  return run_on_leader(std::move(request), timeout);
}

absl::Status RaftNode::promote_node(raft::NodeId id, Millis timeout, const std::string& user) {
  ForwardedRequest request;
  request.set_user(user);
  request.set_promote(id.value());
  return run_on_leader(std::move(request), timeout);
}

absl::Status RaftNode::remove_node(raft::NodeId id, Millis timeout, const std::string& user) {
  ForwardedRequest request;
  request.set_user(user);
  request.set_remove(id.value());
  return run_on_leader(std::move(request), timeout);
}

absl::Status RaftNode::transfer_leadership(raft::NodeId to, Millis timeout,
                                           const std::string& user) {
  ForwardedRequest request;
  request.set_user(user);
  request.set_transfer_leadership(to.value());
  return run_on_leader(std::move(request), timeout);
}

absl::Status RaftNode::update_timeouts(const TimeoutsMs& t, Millis timeout,
                                       const std::string& user) {
  if (absl::Status s = validate(t, config_.tick_ms); !s.ok()) return s;
  ForwardedRequest request;
  request.set_user(user);
  request.mutable_timeouts()->set_heartbeat_ms(t.heartbeat_ms);
  request.mutable_timeouts()->set_election_min_ms(t.election_min_ms);
  request.mutable_timeouts()->set_election_max_ms(t.election_max_ms);
  return run_on_leader(std::move(request), timeout);
}

absl::Status RaftNode::change_membership(std::set<raft::NodeId> voters,
                                         std::set<raft::NodeId> learners, Millis timeout) {
  if (!is_leader()) return absl::FailedPreconditionError("change_membership runs on the leader");
  return await([&](WriteCallback done) {
           dispatcher_->change_here(Replace{std::move(voters), std::move(learners)},
                                    deadline(timeout), std::move(done));
         })
      .status();
}

// ---- Status ----

TimeoutsMs RaftNode::timeouts() const { return to_ms(core_->status().timeouts, config_.tick_ms); }

NodeState RaftNode::status() const {
  CoreStatus core = core_->status();
  return NodeState{.core = std::move(core.core),
                   .membership = std::move(core.membership),
                   .timeouts = to_ms(core.timeouts, config_.tick_ms),
                   .applied = applier_->applied(),
                   .snapshot_index = core.snapshot_index,
                   .wal_syncs = storage_->syncs(),
                   .drops = core.drops,
                   .malformed_proposals = dispatcher_->malformed_proposals(),
                   .writes_lost_with_leader = tracker_->lost_handovers(),
                   .messages_stepped_here = core_->stepped_here(),
                   .readies_applied_here = applier_->applied_here(),
                   .overload = core_->overload(),
                   .last_heard = std::move(core.last_heard),
                   .memory = core.memory};
}

// ---- transport::Handler ----

absl::StatusOr<std::unique_ptr<transport::SnapshotSink>> RaftNode::receive_snapshot(
    raft::NodeId from, uint64_t index, uint64_t size) {
  (void)from;
  (void)size;
  if (halted_) return node_error(NodeErrorKind::kStopped, "the node is halted");
  return storage_->receive_snapshot(index);  // to a file, never held in memory
}

void RaftNode::on_message(raft::Message message,
                          std::shared_ptr<const transport::SnapshotSource> snapshot) {
  core_->step(std::move(message), std::move(snapshot));
}

void RaftNode::on_peer_closed(raft::NodeId peer) { core_->peer_closed(peer); }

void RaftNode::on_proposal(raft::NodeId from, std::string entry) {
  dispatcher_->on_proposal(from, std::move(entry));
}

void RaftNode::on_refusal(uint64_t request, absl::Status why) {
  dispatcher_->on_refusal(request, std::move(why));
}

void RaftNode::on_forward(raft::NodeId from, std::string payload, Millis timeout,
                          transport::ForwardCallback done) {
  dispatcher_->on_forward(from, std::move(payload), timeout, std::move(done));
}

bool RaftNode::is_removed(raft::NodeId peer) {
  return peer != config_.id && removed_->contains(peer);
}

bool RaftNode::is_member(raft::NodeId peer) {
  const raft::Membership m = core_->membership();
  const bool knows_none = m.voters.empty() && m.voters_outgoing.empty() && m.learners.empty();
  return knows_none || m.contains(peer);
}

void RaftNode::on_removed(std::string message) {
  if (removed_told_.exchange(true)) return;
  if (removed_handler_) removed_handler_(message);
}

}  // namespace node
