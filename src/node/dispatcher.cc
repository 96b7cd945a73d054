#include "node/dispatcher.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "node/node_config.h"
#include "node/node_error.h"

namespace node {
namespace {

using raftkv::node::ForwardedRequest;

// How long a read round may go unanswered before its reads join a new one.
constexpr std::chrono::milliseconds kReadRoundRetry(500);

std::string hex(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::chrono::milliseconds left(Deadline deadline) {
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

// A forward's failure in the runtime's terms: not delivered (safe to retry), or out of
// time on the way.
absl::Status from_forward(const absl::Status& s) {
  if (transport::is_unreachable(s)) {
    return node_error(NodeErrorKind::kLeaderUnreachable,
                      "the leader is unreachable: " + std::string(s.message()));
  }
  if (s.code() == absl::StatusCode::kDeadlineExceeded && !node_error_kind(s).has_value()) {
    return node_error(NodeErrorKind::kTimedOut, "the leader did not answer in time");
  }
  return s;
}

// Ids of members in forwarded requests: 0 names nobody.
absl::Status check_id(uint64_t id, const char* what) {
  if (id != 0) return absl::OkStatus();
  return absl::InvalidArgumentError(std::string(what) + ": node id 0 names no member");
}

}  // namespace

Dispatcher::Dispatcher(raft::NodeId self, uint32_t tick_ms, CoreLoop* core, Applier* applier,
                       RequestTracker* tracker, transport::Transport* transport,
                       Authorize authorize)
    : self_(self),
      tick_ms_(tick_ms),
      core_(core),
      applier_(applier),
      tracker_(tracker),
      transport_(transport),
      authorize_(std::move(authorize)) {}

bool Dispatcher::can_retry(Deadline deadline) const { return retry_at() < deadline; }

Deadline Dispatcher::retry_at() const {
  return Clock::now() + std::chrono::milliseconds(std::max<uint32_t>(tick_ms_, 10));
}

template <typename Pending, typename Send>
void Dispatcher::attempt(std::shared_ptr<Pending> p,
                         void (Dispatcher::*again)(std::shared_ptr<Pending>), Send send) {
  auto any = [](raft::NodeId) { return true; };
  tracker_->when_leader(
      any, p->deadline, [this, p, again, send](absl::StatusOr<raft::NodeId> leader) {
        if (!leader.ok()) return p->done(leader.status());
        const uint64_t call =
            tracker_->add_call(p->deadline, [this, p, again](absl::StatusOr<std::string> r) {
              // Refused before it reached a log (the leader moved, or could not be reached):
              // safe to send again once a leader is known.
              if (!r.ok() && retryable(r.status()) && can_retry(p->deadline)) {
                return tracker_->schedule(retry_at(), [this, p, again] { (this->*again)(p); });
              }
              p->done(std::move(r));
            });
        if (call == 0) return;  // stopped: answered already
        send(*leader, call);
      });
}

// ---- Writes and reads ----

void Dispatcher::write(std::string command, Deadline deadline, WriteCallback done) {
  write_attempt(std::make_shared<PendingWrite>(
      PendingWrite{.command = std::move(command), .deadline = deadline, .done = std::move(done)}));
}

void Dispatcher::write_attempt(std::shared_ptr<PendingWrite> w) {
  attempt(w, &Dispatcher::write_attempt, [this, w](raft::NodeId leader, uint64_t request) {
    raftkv::node::LogCommand envelope;
    envelope.set_origin(self_.value());
    envelope.set_request(request);  // the call the apply of the entry completes
    envelope.set_command(w->command);
    if (leader != self_) {
      // The leader appends it as it is, in this term only; this member answers when it
      // applies the entry, or sends it again once an entry of a later term applies first
      // (the leader died with it, or lost its term before appending it).
      const raft::Term term = core_->term();
      envelope.set_term(term.value());
      tracker_->add_handover(request, term);
      return transport_->propose(leader, envelope.SerializeAsString());
    }
    core_->propose(envelope.SerializeAsString(), [this, request](absl::StatusOr<raft::LogId> r) {
      if (!r.ok()) return tracker_->complete_call(request, r.status());
      tracker_->add_handover(request, r->term);  // overwritten by a later leader: sent again
    });
  });
}

void Dispatcher::write_as_leader(std::string command, raft::Term term, Deadline deadline,
                                 WriteCallback done) {
  const uint64_t request = tracker_->add_call(deadline, std::move(done));
  if (request == 0) return;  // stopped: answered already
  raftkv::node::LogCommand envelope;
  envelope.set_origin(self_.value());
  envelope.set_request(request);
  envelope.set_command(std::move(command));
  core_->propose(
      envelope.SerializeAsString(),
      [this, request](absl::StatusOr<raft::LogId> r) {
        if (!r.ok()) tracker_->complete_call(request, r.status());
      },
      term);
}

void Dispatcher::read(Deadline deadline, StatusCallback done) {
  const uint64_t id = tracker_->add_call(
      deadline, [done = std::move(done)](absl::StatusOr<std::string> r) { done(r.status()); });
  if (id == 0) return;
  {
    MutexLock lock(&reads_mu_);
    reads_waiting_.push_back(WaitingRead{.call = id, .deadline = deadline});
    if (read_round_out_) return;  // the round out answers the reads before it; this waits
    read_round_out_ = true;
  }
  start_read_round();
}

void Dispatcher::start_read_round() {
  std::vector<WaitingRead> round;
  {
    MutexLock lock(&reads_mu_);
    const Deadline now = Clock::now();
    for (const WaitingRead& r : reads_waiting_) {
      if (r.deadline > now) round.push_back(r);  // the others have failed by now
    }
    reads_waiting_.clear();
    if (round.empty()) {
      read_round_out_ = false;
      return;
    }
  }
  // A round whose answer is lost (its request or the answer dropped, the leader gone) is
  // given up after kReadRoundRetry, as etcd asks again after 500 ms: its reads join the
  // next round, until their own deadlines.
  const uint64_t id = tracker_->add_call(
      Clock::now() + kReadRoundRetry, [this, round](absl::StatusOr<std::string> r) {
        if (is_node_error(r.status(), NodeErrorKind::kTimedOut)) {
          MutexLock lock(&reads_mu_);
          reads_waiting_.insert(reads_waiting_.begin(), round.begin(), round.end());
        } else {
          for (const WaitingRead& w : round) {
            tracker_->complete_call(w.call, r.ok() ? absl::StatusOr<std::string>(std::string())
                                                   : absl::StatusOr<std::string>(r.status()));
          }
        }
        {
          MutexLock lock(&reads_mu_);
          if (reads_waiting_.empty()) {
            read_round_out_ = false;
            return;
          }
        }
        start_read_round();
      });
  if (id == 0) return;  // stopped: every read has been answered
  core_->read_index(raft::ReadId(id), [this, id](absl::Status refused) {
    // A follower refuses only when it knows no leader to ask.
    if (is_node_error(refused, NodeErrorKind::kNotLeader)) {
      refused = node_error(NodeErrorKind::kNoLeader, "no leader to confirm the read");
    }
    tracker_->complete_call(id, std::move(refused));
  });
}

// ---- Requests that run on the leader ----

void Dispatcher::on_leader(ForwardedRequest request, Deadline deadline, WriteCallback done) {
  auto r = std::make_shared<PendingRoute>(PendingRoute{
      .request = std::move(request), .bytes = {}, .deadline = deadline, .done = std::move(done)});
  r->bytes = r->request.SerializeAsString();
  route_attempt(std::move(r));
}

void Dispatcher::route_attempt(std::shared_ptr<PendingRoute> r) {
  attempt(r, &Dispatcher::route_attempt, [this, r](raft::NodeId leader, uint64_t call) {
    auto finish = [this, call](absl::StatusOr<std::string> result) {
      tracker_->complete_call(call, std::move(result));
    };
    if (leader == self_) return run_here(r->request, r->deadline, std::move(finish));
    transport_->forward(leader, r->bytes, left(r->deadline),
                        [finish](absl::StatusOr<std::string> result) {
                          if (!result.ok()) result = from_forward(result.status());
                          finish(std::move(result));
                        });
  });
}

void Dispatcher::on_forward(raft::NodeId from, std::string payload,
                            std::chrono::milliseconds timeout, transport::ForwardCallback done) {
  ForwardedRequest request;
  if (!request.ParseFromString(payload)) {
    return done(
        node_error(NodeErrorKind::kMalformed, "the request forwarded by node " + hex(from.value()) +
                                                  " is not a ForwardedRequest (" +
                                                  std::to_string(payload.size()) + " bytes)"));
  }
  const Deadline deadline = Clock::now() + timeout;
  const uint64_t call = tracker_->add_call(deadline, std::move(done));
  if (call == 0) return;
  run_here(request, deadline, [this, call](absl::StatusOr<std::string> r) {
    tracker_->complete_call(call, std::move(r));
  });
}

std::optional<std::string_view> Dispatcher::action_of(const ForwardedRequest& request) {
  switch (request.op_case()) {
    case ForwardedRequest::kAddMember:
      return "add_node";
    case ForwardedRequest::kPromote:
      return "promote_node";
    case ForwardedRequest::kRemove:
      return "remove_node";
    case ForwardedRequest::kTransferLeadership:
      return "transfer_leader";
    case ForwardedRequest::kTimeouts:
      return "change_config";
    case ForwardedRequest::kLeaderCall:
    case ForwardedRequest::OP_NOT_SET:
      break;
  }
  return std::nullopt;
}

void Dispatcher::run_here(const ForwardedRequest& request, Deadline deadline, WriteCallback done) {
  if (core_->leader() != self_) {
    return done(
        node_error(NodeErrorKind::kNotLeader, "node " + hex(self_.value()) + " is not the leader"));
  }
  // The member that received the request checked its client; the leader asks again, with
  // the user the request carries, before it acts.
  if (const std::optional<std::string_view> action = action_of(request);
      action.has_value() && authorize_) {
    if (absl::Status s = authorize_(request.user(), *action); !s.ok()) return done(s);
  }
  switch (request.op_case()) {
    case ForwardedRequest::kAddMember: {
      const auto& add = request.add_member();
      if (absl::Status s = check_id(add.id(), "add member"); !s.ok()) return done(s);
      const raft::NodeId id(add.id());
      return change_here(
          add.learner() ? MembershipChange(AddLearner{id}) : MembershipChange(AddVoter{id}),
          deadline, std::move(done));
    }
    case ForwardedRequest::kPromote:
      if (absl::Status s = check_id(request.promote(), "promote"); !s.ok()) return done(s);
      return change_here(Promote{raft::NodeId(request.promote())}, deadline, std::move(done));
    case ForwardedRequest::kRemove:
      if (absl::Status s = check_id(request.remove(), "remove"); !s.ok()) return done(s);
      return change_here(Remove{raft::NodeId(request.remove())}, deadline, std::move(done));
    case ForwardedRequest::kTransferLeadership:
      if (absl::Status s = check_id(request.transfer_leadership(), "transfer"); !s.ok()) {
        return done(s);
      }
      return transfer(raft::NodeId(request.transfer_leadership()), deadline, std::move(done));
    case ForwardedRequest::kTimeouts:
      return propose_timeouts(request.timeouts(), deadline, std::move(done));
    case ForwardedRequest::kLeaderCall: {
      // The leader first confirms that it still leads (a ReadIndex round: a quorum heard
      // it after the request arrived), as etcd 3.5's LeaseRenew does (ensureLeadership).
      // A leader cut off from the others answered keep-alives from its own lessor alone,
      // promising a TTL the leader that replaced it never granted.
      const uint64_t call = tracker_->add_call(deadline, std::move(done));
      if (call == 0) return;
      const uint64_t confirm = tracker_->add_call(
          deadline, [this, call, payload = request.leader_call()](absl::StatusOr<std::string> r) {
            if (!r.ok()) return tracker_->complete_call(call, r.status());
            applier_->leader_call(payload, call);
          });
      if (confirm == 0) return;
      // A round this member runs as leader: a read it would forward to a newer leader
      // confirms that leader, not this one (chaos seed 1787107966: a stopped leader,
      // woken, answered a keep-alive from its own lessor after the new leader's lessor
      // had started counting without it, and the lease expired before its promise).
      core_->confirm_leadership(raft::ReadId(confirm), [this, confirm](absl::Status refused) {
        tracker_->complete_call(confirm, std::move(refused));
      });
      return;
    }
    case ForwardedRequest::OP_NOT_SET:
      break;
  }
  done(absl::InvalidArgumentError("the forwarded request names no operation"));
}

void Dispatcher::change_here(MembershipChange change, Deadline deadline, WriteCallback done) {
  core_->change_membership(
      change, [this, change, deadline, done = std::move(done)](absl::StatusOr<raft::LogId> r) {
        if (is_node_error(r.status(), NodeErrorKind::kChangePending)) {
          if (!can_retry(deadline)) {
            return done(node_error(NodeErrorKind::kTimedOut,
                                   "the membership change in progress did not finish in time"));
          }
          return tracker_->schedule(
              retry_at(), [this, change, deadline, done] { change_here(change, deadline, done); });
        }
        await_applied(std::move(r), deadline, done);
      });
}

void Dispatcher::propose_timeouts(const raftkv::node::Timeouts& t, Deadline deadline,
                                  WriteCallback done) {
  const TimeoutsMs ms{t.heartbeat_ms(), t.election_min_ms(), t.election_max_ms()};
  if (absl::Status s = validate(ms, tick_ms_); !s.ok()) return done(s);
  core_->propose_timeouts(to_ticks(ms, tick_ms_),
                          [this, deadline, done = std::move(done)](absl::StatusOr<raft::LogId> r) {
                            await_applied(std::move(r), deadline, done);
                          });
}

void Dispatcher::await_applied(absl::StatusOr<raft::LogId> proposed, Deadline deadline,
                               WriteCallback done) {
  if (!proposed.ok()) return done(proposed.status());
  // Registered on the core thread right after the append, before the entry can commit.
  tracker_->add_index(*proposed, deadline, [done = std::move(done)](absl::Status s) {
    if (!s.ok()) return done(s);
    done(std::string());
  });
}

void Dispatcher::transfer(raft::NodeId to, Deadline deadline, WriteCallback done) {
  core_->transfer_leadership(to, [this, to, deadline, done = std::move(done)](absl::Status s) {
    if (!s.ok()) return done(s);
    // Thesis 3.10: done once `to` leads, as this member sees it.
    tracker_->when_leader(
        [to](raft::NodeId l) { return l == to; }, deadline,
        [to, done](absl::StatusOr<raft::NodeId> l) {
          if (l.ok()) return done(std::string());
          done(node_error(NodeErrorKind::kTimedOut,
                          "node " + hex(to.value()) + " did not take over before the deadline"));
        });
  });
}

// ---- What peers hand over ----

void Dispatcher::on_proposal(raft::NodeId from, std::string entry) {
  raftkv::node::LogCommand envelope;
  if (!envelope.ParseFromString(entry)) {
    // Nothing names a request to refuse: count it (a peer that sends these is broken).
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const uint64_t request = envelope.request();
  if (raft::NodeId(envelope.origin()) != from) {
    // A member may hand over only its own clients' writes: the envelope names who
    // answers the client when the entry applies.
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return transport_->refuse(
        from, request,
        node_error(NodeErrorKind::kMalformed, "a proposal from node " + hex(from.value()) +
                                                  " names node " + hex(envelope.origin()) +
                                                  " as its origin"));
  }
  // Only in the term the member handed it over in (0: an older member, no condition), so
  // that it knows the term of the entry, if there is one.
  core_->propose(
      std::move(entry),
      [this, from, request](absl::StatusOr<raft::LogId> r) {
        if (!r.ok()) transport_->refuse(from, request, r.status());
      },
      raft::Term(envelope.term()));
}

void Dispatcher::on_refusal(uint64_t request, absl::Status why) {
  if (why.ok()) {
    why = node_error(NodeErrorKind::kMalformed, "the leader refused the write without a reason");
  }
  tracker_->complete_call(request, std::move(why));
}

}  // namespace node
