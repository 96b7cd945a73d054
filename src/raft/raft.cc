#include "raft/raft.h"

#include <algorithm>
#include <utility>

#include "raft/codec.h"
#include "raft/invariant.h"
#include "raft/overloaded.h"
#include "raft/planted_bugs.h"
#include "raft/quorum.h"

namespace raft {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

Raft::Raft(const Config& config, Membership membership, Restored restored)
    : config_(config),
      rng_(config.seed),
      log_(restored.snapshot, std::move(restored.entries), restored.hard_state.commit),
      history_(restored.snapshot.index, membership, config.timeouts),
      initial_membership_(std::move(membership)),
      term_(restored.hard_state.term),
      vote_(restored.hard_state.vote),
      snapshot_meta_{.last = restored.snapshot,
                     .membership = initial_membership_,
                     .timeouts = config.timeouts} {
  RAFT_INVARIANT(validate(config_).is_ok(), "the core is constructed from a validated config");
  note_appended(log_.first_index(), log_.last_index());
  durable_term_ = term_;
  last_hard_state_ = hard_state();
  reset_election_timer();
}

// ---------------------------------------------------------------------------
// Roles

void Raft::reset_election_timer() {
  election_elapsed_ = 0;
  randomized_timeout_ = static_cast<uint32_t>(
      rng_.uniform(config_.timeouts.election_min_ticks, config_.timeouts.election_max_ticks));
}

void Raft::become_follower(Term term, NodeId leader, bool reset_timer) {
  if (term != term_) {
    RAFT_INVARIANT(term > term_, "terms only move forward");
    term_ = term;
    vote_ = kNoNode;  // a vote is for one term (paper Figure 2)
  }
  if (role_ == Role::kLeader) {
    drop_reads();
    reads_ = ReadOnly();  // the next leadership starts its rounds afresh
  }
  role_ = Role::kFollower;
  leader_ = leader;
  votes_.clear();
  progress_.clear();
  pending_broadcast_ = false;
  lead_transferee_ = kNoNode;
  promote_when_caught_up_.clear();
  if (reset_timer) {
    reset_election_timer();
  }
}

void Raft::become_pre_candidate() {
  // Thesis 9.6: a pre-candidate changes neither its term nor its vote.
  role_ = Role::kPreCandidate;
  leader_ = kNoNode;
  votes_.clear();
  reset_election_timer();
}

void Raft::become_candidate() {
  term_ = term_.next();
  vote_ = config_.id;
  role_ = Role::kCandidate;
  leader_ = kNoNode;
  votes_.clear();
  reset_election_timer();
}

void Raft::become_leader() {
  role_ = Role::kLeader;
  leader_ = config_.id;
  votes_.clear();
  heartbeat_elapsed_ = 0;
  election_elapsed_ = 0;
  lead_transferee_ = kNoNode;
  progress_.clear();
  track_membership();  // a progress entry for every member
  // The leader acknowledges its own entries only once they are durable here.
  Progress& self = progress_[config_.id];
  self.match = log_.stabled();
  self.recent_active = true;
  self.become_replicate();

  // Paper 5.4.2 / thesis 6.4: a leader commits entries of earlier terms only by
  // committing one of its own, so it appends a no-op at once.
  uncommitted_bytes_ = log_.bytes_after(log_.committed());
  log_.append({Entry{.term = term_, .index = log_.last_index().next(), .type = EntryType::kNoop}});
  pending_broadcast_ = true;
}

void Raft::campaign(bool pre_vote, bool transfer) {
  if (!promotable()) {
    return;
  }
  Term vote_term;
  if (pre_vote) {
    become_pre_candidate();
    vote_term = term_.next();
  } else {
    become_candidate();
    vote_term = term_;
  }
  votes_[config_.id] = true;
  if (tally() == VoteResult::kWon) {
    // A configuration of one voter: no one else to ask. A real win still waits
    // until the new term and self-vote are durable (see advance()), as it would
    // with other voters, whose grants answer requests sent only after the persist.
    if (pre_vote) {
      campaign(false, transfer);
    } else if (term_durable()) {
      become_leader();
    }
    return;
  }
  std::set<NodeId> voters = membership().voters;
  voters.insert(membership().voters_outgoing.begin(), membership().voters_outgoing.end());
  for (NodeId id : voters) {
    if (id == config_.id) {
      continue;
    }
    // Sent only once our new term and self-vote are durable.
    send(id, RequestVote{.pre_vote = pre_vote, .last_log = log_.last_id(), .transfer = transfer},
         /*after_persist=*/true, vote_term);
  }
}

// ---------------------------------------------------------------------------
// Inputs

void Raft::tick() {
  ++ticks_;
  if (role_ == Role::kLeader) {
    ++heartbeat_elapsed_;
    ++election_elapsed_;
    if (lead_transferee_ != kNoNode && ++transfer_elapsed_ >= config_.timeouts.election_min_ticks) {
      // Thesis 3.10: the target did not take over within an election timeout.
      lead_transferee_ = kNoNode;
    }
    if (election_elapsed_ >= config_.timeouts.election_min_ticks) {
      election_elapsed_ = 0;
      // Thesis 6.2: a leader that cannot reach a quorum steps down, so clients
      // look for the leader elsewhere instead of waiting on this one.
      if (config_.check_quorum && !quorum_active()) {
        become_follower(term_, kNoNode);
        return;
      }
      for (auto& [id, pr] : progress_) {
        pr.recent_active = id == config_.id;
      }
    }
    for (auto& [id, pr] : progress_) {
      // A snapshot (or its answer) may be lost: after an election timeout, probe
      // again, which sends a new one if still needed.
      if (pr.state == ProgressState::kSnapshot &&
          ++pr.snapshot_ticks >= config_.timeouts.election_min_ticks) {
        pr.become_probe();
      }
    }
    if (heartbeat_elapsed_ >= config_.timeouts.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      broadcast_heartbeat();
    }
    return;
  }
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_timeout_) {
    campaign(config_.pre_vote, /*transfer=*/false);
  }
}

Error Raft::check_can_propose() const {
  if (role_ != Role::kLeader) {
    std::string msg = "node " + std::to_string(config_.id.value()) + " is not the leader";
    msg += leader_ == kNoNode ? "; no leader is known in term " + std::to_string(term_.value())
                              : "; the leader is node " + std::to_string(leader_.value());
    return Error(ErrorCode::kNotLeader, std::move(msg), leader_);
  }
  if (lead_transferee_ != kNoNode) {
    return Error(ErrorCode::kProposalDropped,
                 "proposal dropped: leadership is being transferred to node " +
                     std::to_string(lead_transferee_.value()),
                 leader_);
  }
  return Error::ok();
}

ProposeResult Raft::append_own(EntryType type, std::string data) {
  if (Error e = check_can_propose(); !e.is_ok()) {
    return {.error = std::move(e)};
  }
  if (config_.max_uncommitted_bytes != 0 && uncommitted_bytes_ > 0 &&
      uncommitted_bytes_ + data.size() > config_.max_uncommitted_bytes) {
    return {.error = Error(ErrorCode::kProposalDropped,
                           "proposal dropped: " + std::to_string(uncommitted_bytes_) +
                               " uncommitted bytes, the limit is " +
                               std::to_string(config_.max_uncommitted_bytes))};
  }
  uncommitted_bytes_ += data.size();
  const LogId id{.term = term_, .index = log_.last_index().next()};
  log_.append({Entry{.term = id.term, .index = id.index, .type = type, .data = std::move(data)}});
  note_appended(id.index, id.index);
  // Batching: proposals made before the next Ready share AppendEntries messages.
  pending_broadcast_ = true;
  return {.error = Error::ok(), .id = id};
}

ProposeResult Raft::propose(std::string data) {
  return append_own(EntryType::kNormal, std::move(data));
}

ProposeResult Raft::propose_timeouts(const Timeouts& timeouts) {
  if (Error e = validate(timeouts, config_.max_election_ticks); !e.is_ok()) {
    return {.error = std::move(e)};
  }
  return append_own(EntryType::kTimeouts, encode_timeouts(timeouts));
}

bool Raft::membership_change_pending() const {
  // The latest configuration is in force but not yet committed, or it is joint and
  // C_new is still to come.
  return membership().joint() || history_.latest_membership_index() > log_.committed();
}

ProposeResult Raft::change_membership(std::set<NodeId> voters, std::set<NodeId> learners) {
  if (Error e = check_can_propose(); !e.is_ok()) {
    return {.error = std::move(e)};
  }
  auto invalid = [](std::string what) {
    return ProposeResult{.error = Error(ErrorCode::kInvalidArgument, std::move(what))};
  };
  if (voters.empty()) {
    return invalid("a membership must keep at least one voter");
  }
  for (NodeId id : voters) {
    if (id == kNoNode) return invalid("node id 0 is reserved; ids start at 1");
    if (learners.contains(id)) {
      return invalid("node " + std::to_string(id.value()) + " cannot be both voter and learner");
    }
  }
  for (NodeId id : learners) {
    if (id == kNoNode) return invalid("node id 0 is reserved; ids start at 1");
    if (membership().voters.contains(id)) {
      return invalid("voter " + std::to_string(id.value()) +
                     " cannot become a learner directly; remove it first");
    }
  }
  if (voters == membership().voters && learners == membership().learners) {
    return invalid("the requested membership is the current one");
  }
  if (membership_change_pending() && !planted::kTwoMembershipChangesAtOnce) {
    return {.error = Error(ErrorCode::kFailedPrecondition,
                           "a membership change is in progress (the configuration at index " +
                               std::to_string(history_.latest_membership_index().value()) +
                               " is not yet complete); retry once it commits")};
  }
  Membership next;
  next.voters = std::move(voters);
  next.learners = std::move(learners);
  if (!planted::kMembershipSkipsJointPhase) {
    // Thesis 4.3: C_old,new first; both majorities decide until C_new commits.
    next.voters_outgoing = membership().voters;
  }
  return append_own(EntryType::kMembership, encode_membership(next));
}

ProposeResult Raft::add_node(NodeId id) {
  if (Error e = check_can_propose(); !e.is_ok()) {
    return {.error = std::move(e)};
  }
  if (membership().voters.contains(id)) {
    return {.error = Error(ErrorCode::kInvalidArgument,
                           "node " + std::to_string(id.value()) + " is already a voter")};
  }
  ProposeResult r{.error = Error::ok()};
  if (!membership().learners.contains(id)) {
    std::set<NodeId> learners = membership().learners;
    learners.insert(id);
    r = change_membership(membership().voters, std::move(learners));
    if (!r.error.is_ok()) {
      return r;
    }
  }
  promote_when_caught_up_.insert(id);
  return r;
}

ProposeResult Raft::remove_node(NodeId id) {
  if (!membership().contains(id)) {
    return {.error = Error(ErrorCode::kInvalidArgument,
                           "node " + std::to_string(id.value()) + " is not a member")};
  }
  std::set<NodeId> voters = membership().voters;
  std::set<NodeId> learners = membership().learners;
  voters.erase(id);
  learners.erase(id);
  if (voters.empty()) {
    return {.error =
                Error(ErrorCode::kInvalidArgument, "node " + std::to_string(id.value()) +
                                                       " is the last voter; it cannot be removed")};
  }
  promote_when_caught_up_.erase(id);
  return change_membership(std::move(voters), std::move(learners));
}

Error Raft::transfer_leadership(NodeId to) {
  if (Error e = check_can_propose(); !e.is_ok() && e.code() == ErrorCode::kNotLeader) {
    return e;
  }
  if (to == config_.id) {
    return Error(ErrorCode::kInvalidArgument,
                 "node " + std::to_string(to.value()) + " is already the leader");
  }
  if (!membership().voters.contains(to)) {
    return Error(ErrorCode::kInvalidArgument,
                 "node " + std::to_string(to.value()) + " is not a voter; only voters can lead");
  }
  lead_transferee_ = to;
  transfer_elapsed_ = 0;
  Progress& pr = progress_.at(to);
  if (pr.match == log_.last_index()) {
    send(to, TimeoutNow{}, /*after_persist=*/false);
  } else {
    send_append(to, /*send_if_empty=*/true);
  }
  return Error::ok();
}

Error Raft::read_index(ReadId id) {
  if (role_ == Role::kLeader) {
    start_read(ReadRequest{.id = id, .from = config_.id});
    return Error::ok();
  }
  if (leader_ == kNoNode) {
    return Error(ErrorCode::kNotLeader, "no leader is known in term " +
                                            std::to_string(term_.value()) + " to confirm a read");
  }
  send(leader_, ReadIndexRequest{id}, /*after_persist=*/false);
  return Error::ok();
}

void Raft::start_read(ReadRequest request) {
  // Thesis 6.4 step 1: until it commits an entry of its own term, a new leader does
  // not know the commit index of its predecessor; its no-op settles that.
  if (log_.term(log_.committed()) != term_) {
    reads_.defer(request);
    return;
  }
  if (planted::kReadWithoutQuorum || lease_valid()) {
    release_read(request, log_.committed());
    return;
  }
  // Steps 2-3: a heartbeat round sent after the read arrived, answered by a quorum.
  reads_.add(request, log_.committed());
  confirm_reads();  // a cluster of one confirms at once
}

void Raft::start_deferred_reads() {
  if (reads_.has_deferred() && log_.term(log_.committed()) == term_) {
    for (const ReadRequest& r : reads_.take_deferred()) {
      start_read(r);
    }
  }
}

bool Raft::lease_valid() const {
  if (!config_.lease_reads || !config_.check_quorum) {
    return false;
  }
  // Thesis 6.4.1: no other leader is elected before an election timeout passes on
  // some voter; shortened by the clock drift the configuration allows.
  const uint64_t lease = config_.timeouts.election_min_ticks - config_.lease_drift_ticks;
  return reads_.lease_valid(membership(), config_.id, ticks_, lease);
}

void Raft::confirm_reads() {
  for (const PendingRead& r : reads_.take_confirmed(membership(), config_.id)) {
    release_read(r.request, r.index);
  }
}

void Raft::release_read(ReadRequest request, LogIndex index) {
  if (request.from == config_.id) {
    reads_ready_.push_back({.id = request.id, .index = index});
  } else {
    send(request.from, ReadIndexResponse{.id = request.id, .index = index, .ok = true},
         /*after_persist=*/false);
  }
}

void Raft::drop_reads() {
  for (const ReadRequest& r : reads_.take_all()) {
    if (r.from == config_.id) {
      reads_dropped_.push_back(r.id);
    } else {
      send(r.from, ReadIndexResponse{.id = r.id, .ok = false}, /*after_persist=*/false);
    }
  }
}

bool Raft::well_formed(const Message& m) const {
  if (const auto* ae = std::get_if<AppendEntries>(&m.body)) {
    LogIndex expect = ae->prev.index.next();
    Term floor = ae->prev.term;
    for (const Entry& e : ae->entries) {
      if (e.index != expect || e.term < floor || e.term > m.term) {
        return false;
      }
      expect = expect.next();
      floor = e.term;
    }
    return ae->prev.term <= m.term;
  }
  return true;
}

void Raft::step(Message m) {
  if (m.to != config_.id || m.from == kNoNode || m.from == config_.id) {
    ++drops_.wrong_recipient;
    return;
  }
  if (!well_formed(m)) {
    ++drops_.malformed;
    return;
  }
  const bool from_leader = std::holds_alternative<AppendEntries>(m.body) ||
                           std::holds_alternative<Heartbeat>(m.body) ||
                           std::holds_alternative<InstallSnapshot>(m.body);
  if (m.term > term_) {
    if (const auto* rv = std::get_if<RequestVote>(&m.body)) {
      // Thesis 4.2.3: while a leader is known to be alive, vote requests are ignored,
      // so a removed or partitioned server cannot force an election.
      const bool in_lease =
          leader_ != kNoNode && election_elapsed_ < config_.timeouts.election_min_ticks;
      if (in_lease && !rv->transfer) {
        ++drops_.vote_in_lease;
        return;
      }
      if (!rv->pre_vote) {
        become_follower(m.term, kNoNode, /*reset_timer=*/false);
      }
    } else if (const auto* vr = std::get_if<VoteResponse>(&m.body);
               vr != nullptr && vr->pre_vote && vr->granted) {
      // A granted pre-vote echoes the term we asked about; nobody changed term.
    } else {
      become_follower(m.term, from_leader ? m.from : kNoNode);
    }
  } else if (m.term < term_) {
    step_lower_term(m);
    return;
  }

  std::visit(Overloaded{
                 [&](const RequestVote& rv) { handle_request_vote(m, rv); },
                 [&](const VoteResponse& vr) { handle_vote_response(m, vr); },
                 [&](AppendEntries& ae) { handle_append(m, ae); },
                 [&](const AppendResponse& ar) { handle_append_response(m, ar); },
                 [&](const Heartbeat& hb) { handle_heartbeat(m, hb); },
                 [&](const HeartbeatResponse& hr) { handle_heartbeat_response(m, hr); },
                 [&](const TimeoutNow&) { handle_timeout_now(); },
                 [&](const ReadIndexRequest& rr) { handle_read_index_request(m, rr); },
                 [&](const ReadIndexResponse& rr) { handle_read_index_response(rr); },
                 [&](const InstallSnapshot& is) { handle_install_snapshot(m, is); },
             },
             m.body);
}

void Raft::handle_timeout_now() {
  // Thesis 3.10: the leader asks us to start an election now.
  if (role_ != Role::kLeader && promotable()) {
    campaign(/*pre_vote=*/false, /*transfer=*/true);
  } else {
    ++drops_.unexpected;
  }
}

void Raft::handle_read_index_request(const Message& m, const ReadIndexRequest& rr) {
  if (role_ == Role::kLeader) {
    start_read(ReadRequest{.id = rr.id, .from = m.from});
  } else {
    send(m.from, ReadIndexResponse{.id = rr.id, .ok = false}, /*after_persist=*/false);
  }
}

void Raft::handle_read_index_response(const ReadIndexResponse& rr) {
  if (rr.ok) {
    reads_ready_.push_back({.id = rr.id, .index = rr.index});
  } else {
    reads_dropped_.push_back(rr.id);
  }
}

void Raft::step_lower_term(const Message& m) {
  ++drops_.stale_term;
  if (std::holds_alternative<AppendEntries>(m.body) || std::holds_alternative<Heartbeat>(m.body)) {
    // A deposed leader keeps sending in its old term. Tell it the current term so it
    // steps down: our term may have risen without any vote request reaching it (its
    // lease made it ignore them, or they were lost), and otherwise neither side
    // would ever hear the other.
    send(m.from, AppendResponse{}, /*after_persist=*/false);
  } else if (const auto* rv = std::get_if<RequestVote>(&m.body)) {
    // Paper 5.1: the rejection carries our term, so a candidate that fell behind
    // learns it; otherwise it could keep campaigning in terms nobody answers.
    send(m.from, VoteResponse{.pre_vote = rv->pre_vote, .granted = false},
         /*after_persist=*/false);
  }
}

void Raft::handle_request_vote(const Message& m, const RequestVote& rv) {
  // Paper 5.2: at most one vote per term, first come first served; a repeated
  // request from the same candidate is answered the same way. A pre-vote for a
  // later term commits us to nothing.
  const bool can_vote = vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) ||
                        (rv.pre_vote && m.term > term_);
  const bool up_to_date = planted::kVoteWithoutUpToDateCheck || log_.is_up_to_date(rv.last_log);
  // Thesis 4.1: a vote goes also to a candidate outside our latest configuration
  // (ours may be stale); it is sometimes needed to keep the cluster available.
  if (can_vote && up_to_date) {
    if (!rv.pre_vote) {
      vote_ = m.from;
      reset_election_timer();
    }
    // The grant promises a persisted vote: it leaves only after the vote is durable.
    const bool after_persist = !rv.pre_vote && !planted::kVoteBeforePersist;
    send(m.from, VoteResponse{.pre_vote = rv.pre_vote, .granted = true}, after_persist,
         rv.pre_vote ? m.term : term_);
    return;
  }
  send(m.from, VoteResponse{.pre_vote = rv.pre_vote, .granted = false}, /*after_persist=*/true);
}

void Raft::handle_vote_response(const Message& m, const VoteResponse& vr) {
  const bool expected =
      (role_ == Role::kPreCandidate && vr.pre_vote && (m.term == term_.next() || !vr.granted)) ||
      (role_ == Role::kCandidate && !vr.pre_vote && m.term == term_);
  if (!expected || !membership().is_voter(m.from)) {
    ++drops_.unexpected;
    return;
  }
  votes_[m.from] = vr.granted;
  switch (tally()) {
    case VoteResult::kWon:
      if (role_ == Role::kPreCandidate) {
        campaign(/*pre_vote=*/false, /*transfer=*/false);
      } else {
        become_leader();
      }
      break;
    case VoteResult::kLost:
      become_follower(term_, kNoNode);
      break;
    case VoteResult::kPending:
      break;
  }
}

bool Raft::accept_leader(const Message& m) {
  if (role_ == Role::kLeader) {
    // Two leaders in one term would break Election Safety; this message cannot be
    // from an honest peer.
    ++drops_.unexpected;
    return false;
  }
  if (role_ != Role::kFollower) {
    become_follower(term_, m.from);
  }
  leader_ = m.from;
  election_elapsed_ = 0;  // the leader is alive (paper 5.2)
  return true;
}

VoteResult Raft::tally() const {
  return joint_vote(membership(), [&](NodeId id) -> std::optional<bool> {
    auto it = votes_.find(id);
    return it == votes_.end() ? std::nullopt : std::optional<bool>(it->second);
  });
}

void Raft::handle_append(const Message& m, AppendEntries& ae) {
  if (!accept_leader(m)) {
    return;
  }

  if (ae.prev.index < log_.committed()) {
    // Our committed prefix matches every leader's log (Leader Completeness).
    send(m.from, AppendResponse{.success = true, .match = log_.committed()},
         /*after_persist=*/true);
    return;
  }
  const bool prev_ok = log_.matches(ae.prev) ||
                       (planted::kSkipConsistencyCheck && ae.prev.index <= log_.last_index());
  if (!prev_ok) {
    // The hint (thesis 5.3 footnote): our term at the conflict and the first index we
    // hold of it, or the end of our log when it is too short.
    const LogId hint = ae.prev.index > log_.last_index()
                           ? LogId{.term = Term(), .index = log_.last_index().next()}
                           : LogId{.term = *log_.term(ae.prev.index),
                                   .index = log_.first_index_of_term_at(ae.prev.index)};
    send(m.from, AppendResponse{.success = false, .rejected = ae.prev.index, .hint = hint},
         /*after_persist=*/true);
    return;
  }
  LogIndex written;
  LogIndex last_new = log_.append_after(ae.prev, std::move(ae.entries), &written);
  if (written != LogIndex()) {
    note_truncated(written);
    note_appended(written, log_.last_index());
  }
  log_.commit_to(std::min(ae.commit, last_new));
  // The acknowledgement promises the entries are durable here.
  send(m.from, AppendResponse{.success = true, .match = last_new}, /*after_persist=*/true);
}

void Raft::handle_append_response(const Message& m, const AppendResponse& ar) {
  auto it = progress_.find(m.from);
  if (role_ != Role::kLeader || it == progress_.end()) {
    ++drops_.unexpected;
    return;
  }
  Progress& pr = it->second;
  pr.recent_active = true;
  if (ar.success) {
    if (ar.match > log_.last_index()) {
      ++drops_.malformed;
      return;
    }
    if (pr.maybe_update(ar.match)) {
      if (pr.state == ProgressState::kProbe ||
          (pr.state == ProgressState::kSnapshot && pr.match >= pr.pending_snapshot)) {
        pr.become_replicate();
      } else {
        pr.inflights.free_to(ar.match);
      }
      if (maybe_commit()) {
        broadcast_append(/*send_if_empty=*/true);
      }
    } else if (pr.state == ProgressState::kReplicate) {
      pr.inflights.free_to(ar.match);
    }
    if (m.from == lead_transferee_ && pr.match == log_.last_index()) {
      // Thesis 3.10: the target is caught up; it may start its election now.
      send(m.from, TimeoutNow{}, /*after_persist=*/false);
    }
    while (send_append(m.from, /*send_if_empty=*/false)) {
    }
    maybe_leave_joint_or_promote();
    maybe_step_down_after_removal();
    return;
  }
  // Rejected. Ignore answers to messages we have since moved past.
  if (ar.rejected <= pr.match || pr.state == ProgressState::kSnapshot ||
      (pr.state == ProgressState::kProbe && ar.rejected != pr.next.prev())) {
    ++drops_.unexpected;
    return;
  }
  LogIndex next = ar.hint.index;
  if (ar.hint.term != Term()) {
    // If we hold entries of the follower's conflicting term, they match up to our
    // last one of that term (Log Matching); otherwise skip the follower's whole run.
    LogIndex j = log_.last_index_with_term_at_most(ar.hint.term, ar.rejected.prev());
    if (log_.term(j) == ar.hint.term) {
      next = j.next();
    }
  }
  pr.become_probe();
  pr.next = std::clamp(next, pr.match.next(), std::max(ar.rejected, pr.match.next()));
  send_append(m.from, /*send_if_empty=*/true);
}

void Raft::handle_heartbeat(const Message& m, const Heartbeat& hb) {
  if (!accept_leader(m)) {
    return;
  }
  // The leader sends min(match, commit): entries we are known to hold.
  log_.commit_to(std::min(hb.commit, log_.last_index()));
  send(m.from, HeartbeatResponse{hb.round}, /*after_persist=*/false);
}

void Raft::handle_heartbeat_response(const Message& m, const HeartbeatResponse& hr) {
  auto it = progress_.find(m.from);
  if (role_ != Role::kLeader || it == progress_.end()) {
    ++drops_.unexpected;
    return;
  }
  Progress& pr = it->second;
  pr.recent_active = true;
  if (hr.round > reads_.last_round()) {
    ++drops_.malformed;  // an answer to a round this leader never sent
    return;
  }
  if (reads_.acknowledge(m.from, hr.round)) {
    confirm_reads();
  }
  // The follower is alive. Messages to it may have been lost: retry a probe, let one
  // more pipelined message out if acknowledgements went missing, and send an
  // append (even empty) so a gap is found by the consistency check.
  pr.probe_sent = false;
  if (pr.state == ProgressState::kReplicate && pr.inflights.count() >= config_.max_inflight_msgs) {
    pr.inflights.free_first();
  }
  if (pr.match < log_.last_index()) {
    send_append(m.from, /*send_if_empty=*/true);
  }
}

// ---------------------------------------------------------------------------
// Replication

bool Raft::send_append(NodeId to, bool send_if_empty) {
  Progress& pr = progress_.at(to);
  if (pr.paused(config_.max_inflight_msgs, config_.max_inflight_bytes)) {
    return false;
  }
  const LogIndex prev_index = pr.next.prev();
  const std::optional<Term> prev_term = log_.term(prev_index);
  if (!prev_term.has_value()) {
    send_snapshot(to);  // the entries it needs are compacted away
    return false;
  }
  std::vector<Entry> entries;
  if (pr.next <= log_.last_index()) {
    entries = log_.slice(pr.next, log_.last_index(), config_.max_msg_bytes);
  }
  if (entries.empty() && !send_if_empty) {
    return false;
  }
  if (!entries.empty()) {
    uint64_t bytes = 0;
    for (const Entry& e : entries) {
      bytes += e.data.size();
    }
    if (pr.state == ProgressState::kReplicate) {
      // Pipelining: assume success and move on; a rejection falls back to probe.
      pr.next = entries.back().index.next();
      pr.inflights.add(entries.back().index, bytes);
    } else {
      pr.probe_sent = true;
    }
  } else if (pr.state == ProgressState::kProbe) {
    pr.probe_sent = true;
  }
  send(to,
       AppendEntries{.prev = {.term = *prev_term, .index = prev_index},
                     .entries = std::move(entries),
                     .commit = log_.committed()},
       !term_durable());
  return true;
}

void Raft::broadcast_append(bool send_if_empty) {
  for (auto& [id, pr] : progress_) {
    if (id != config_.id) {
      bool first = true;
      while (send_append(id, first && send_if_empty)) {
        first = false;
      }
    }
  }
}

void Raft::broadcast_heartbeat() {
  const HeartbeatRound round = reads_.start_round(ticks_);
  for (auto& [id, pr] : progress_) {
    if (id != config_.id) {
      // The follower is known to hold min(match, commit); more could be wrong there.
      send(id, Heartbeat{.commit = std::min(pr.match, log_.committed()), .round = round},
           !term_durable());
    }
  }
}

bool Raft::maybe_commit() {
  LogIndex index = joint_committed(membership(), [&](NodeId id) {
    auto it = progress_.find(id);
    return it == progress_.end() ? LogIndex() : it->second.match;
  });
  if (index <= log_.committed()) {
    return false;
  }
  // Paper 5.4.2: only an entry of the current term is committed by counting
  // replicas; earlier ones are committed indirectly with it (Figure 8).
  if (!planted::kCommitPreviousTermByCounting && log_.term(index) != term_) {
    return false;
  }
  for (LogIndex i = log_.committed().next(); i <= index; i = i.next()) {
    uint64_t size = log_.at(i).data.size();
    uncommitted_bytes_ -= std::min(uncommitted_bytes_, size);
  }
  log_.commit_to(index);
  start_deferred_reads();
  return true;
}

bool Raft::quorum_active() const {
  auto answer = [&](NodeId id) -> std::optional<bool> {
    auto it = progress_.find(id);
    return it != progress_.end() && it->second.recent_active;
  };
  return joint_vote(membership(), answer) == VoteResult::kWon;
}

void Raft::send(NodeId to, MessageBody body, bool after_persist, Term term) {
  Message m{
      .from = config_.id, .to = to, .term = term == Term() ? term_ : term, .body = std::move(body)};
  (after_persist ? persisted_messages_ : messages_).push_back(std::move(m));
}

// ---------------------------------------------------------------------------
// Ready / advance

bool Raft::has_ready() const {
  if (ready_outstanding_) {
    return false;
  }
  const bool read_to_release =
      std::any_of(reads_ready_.begin(), reads_ready_.end(),
                  [&](const ReadState& r) { return r.index <= log_.applied(); });
  return snapshot_to_install_.has_value() || pending_broadcast_ || reads_.round_needed() ||
         read_to_release || !reads_dropped_.empty() || !messages_.empty() ||
         !persisted_messages_.empty() || hard_state() != last_hard_state_ ||
         log_.stabled() < log_.last_index() || log_.applied() < log_.committed();
}

Ready Raft::ready() {
  RAFT_INVARIANT(!ready_outstanding_, "advance() is called before the next ready()");
  if (role_ == Role::kLeader) {
    if (pending_broadcast_) {
      broadcast_append(/*send_if_empty=*/false);
    }
    if (reads_.round_needed()) {
      // One heartbeat round confirms every read that arrived since the last one.
      broadcast_heartbeat();
    }
  }
  pending_broadcast_ = false;

  Ready rd;
  rd.snapshot = std::move(snapshot_to_install_);
  snapshot_to_install_.reset();
  if (hard_state() != last_hard_state_) {
    rd.hard_state = hard_state();
    last_hard_state_ = *rd.hard_state;
  }
  rd.entries = log_.unstable();
  rd.messages = std::move(messages_);
  rd.persisted_messages = std::move(persisted_messages_);
  messages_.clear();
  persisted_messages_.clear();
  if (rd.snapshot.has_value()) {
    // The state machine restarts from the snapshot; entries after it come later.
  } else if (log_.applied() < log_.committed()) {
    rd.committed_entries =
        log_.slice(log_.applied().next(), log_.committed(), config_.max_apply_bytes);
  }
  ready_outstanding_ = true;
  ready_last_entry_ = rd.entries.empty() ? LogId{} : rd.entries.back().id();
  ready_applied_ = rd.snapshot.has_value()        ? rd.snapshot->last.index
                   : rd.committed_entries.empty() ? log_.applied()
                                                  : rd.committed_entries.back().index;
  // Reads whose index is applied once this Ready's entries are.
  auto servable = [&](const ReadState& r) { return r.index <= ready_applied_; };
  std::copy_if(reads_ready_.begin(), reads_ready_.end(), std::back_inserter(rd.reads), servable);
  std::erase_if(reads_ready_, servable);
  rd.dropped_reads = std::move(reads_dropped_);
  reads_dropped_.clear();
  return rd;
}

void Raft::advance() {
  RAFT_INVARIANT(ready_outstanding_, "advance() follows ready()");
  ready_outstanding_ = false;
  durable_term_ = last_hard_state_.term;
  if (ready_last_entry_.index != LogIndex()) {
    log_.stable_to(ready_last_entry_);
  }
  apply_core_entries(log_.applied().next(), ready_applied_);
  log_.applied_to(ready_applied_);
  if (role_ == Role::kCandidate && term_durable() && tally() == VoteResult::kWon) {
    become_leader();  // a one-voter election, now that its vote is on disk
  }
  if (role_ == Role::kLeader) {
    // The leader's own copy now counts toward the quorum (thesis 10.2.1: it may
    // send entries before persisting them, but not count itself before).
    Progress& self = progress_.at(config_.id);
    if (self.maybe_update(log_.stabled()) && maybe_commit()) {
      broadcast_append(/*send_if_empty=*/true);
    }
    maybe_leave_joint_or_promote();
    maybe_step_down_after_removal();
  }
}

// ---------------------------------------------------------------------------
// Membership and timeouts

bool Raft::snapshot_due() const {
  return config_.snapshot_entries != 0 && log_.applied() >= snapshot_meta_.last.index &&
         log_.applied().value() - snapshot_meta_.last.index.value() >= config_.snapshot_entries;
}

CompactResult Raft::compact(LogIndex index) {
  if (index <= log_.snapshot().index || index > log_.applied()) {
    return {.error = Error(ErrorCode::kInvalidArgument,
                           "cannot compact to index " + std::to_string(index.value()) +
                               ": it must be after the last snapshot (" +
                               std::to_string(log_.snapshot().index.value()) + ") and applied (" +
                               std::to_string(log_.applied().value()) + ")")};
  }
  const SnapshotMeta meta{
      .last = {.term = *log_.term(index), .index = index},
      .membership =
          planted::kSnapshotDropsMembership ? initial_membership_ : history_.membership_at(index),
      .timeouts = history_.timeouts_at(index),
  };
  // What the log forgets becomes the base of what it keeps.
  history_.compact_to(index, meta.membership, meta.timeouts);
  log_.compact_to(meta.last);
  snapshot_meta_ = meta;
  return {.error = Error::ok(), .meta = meta};
}

void Raft::send_snapshot(NodeId to) {
  Progress& pr = progress_.at(to);
  if (snapshot_meta_.last.index == LogIndex()) {
    return;  // nothing compacted: cannot happen while entries are missing
  }
  pr.become_snapshot(snapshot_meta_.last.index);
  send(to, InstallSnapshot{snapshot_meta_}, !term_durable());
}

void Raft::handle_install_snapshot(const Message& m, const InstallSnapshot& is) {
  if (!accept_leader(m)) {
    return;
  }
  const LogId last = is.meta.last;
  if (last.index <= log_.committed()) {
    // We already hold everything it covers.
    send(m.from, AppendResponse{.success = true, .match = log_.committed()},
         /*after_persist=*/true);
    return;
  }
  if (log_.matches(last)) {
    // Our log already holds its last entry: keep the log, move the commit index.
    log_.commit_to(last.index);
    send(m.from, AppendResponse{.success = true, .match = last.index}, /*after_persist=*/true);
    return;
  }
  // Thesis 5.1: discard the whole log and restart from the snapshot, in the
  // configuration it records. (A follower tracks no progress to update.)
  log_.restore(last);
  history_.reset(last.index, is.meta.membership, is.meta.timeouts);
  config_.timeouts = is.meta.timeouts;
  snapshot_meta_ = is.meta;
  snapshot_to_install_ = is.meta;
  send(m.from, AppendResponse{.success = true, .match = last.index}, /*after_persist=*/true);
}

bool Raft::promotable() const {
  // Thesis 4.1 puts a configuration in force when appended. If the leader that
  // appended a C_new without itself loses leadership before C_new commits, the
  // voters of C_new may lack C_new and still need its vote, while its longer log
  // wins their votes: it must be able to campaign, or the cluster is stuck.
  return membership().is_voter(config_.id) ||
         history_.membership_at(log_.committed()).is_voter(config_.id);
}

void Raft::track_membership() {
  if (role_ != Role::kLeader) {
    return;
  }
  const Membership& m = membership();
  // The leader tracks every member; new ones start in probe at the end of its log.
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (it->first != config_.id && !m.contains(it->first)) {
      promote_when_caught_up_.erase(it->first);
      it = progress_.erase(it);
    } else {
      ++it;
    }
  }
  auto add = [&](NodeId id) {
    if (!progress_.contains(id)) {
      Progress& pr = progress_[id];
      pr.next = log_.last_index().next();
      pr.recent_active = true;  // a grace period before CheckQuorum counts it
    }
  };
  for (NodeId id : m.voters) add(id);
  for (NodeId id : m.voters_outgoing) add(id);
  for (NodeId id : m.learners) add(id);
}

void Raft::note_appended(LogIndex from, LogIndex to) {
  for (LogIndex i = std::max(from, log_.first_index()); i <= to; i = i.next()) {
    const Entry& e = log_.at(i);
    if (e.type != EntryType::kMembership) {
      continue;
    }
    std::optional<Membership> m = decode_membership(e.data);
    if (!m.has_value()) {
      ++drops_.malformed;
      continue;
    }
    history_.append_membership(i, *std::move(m));  // thesis 4.1: in force once appended
    track_membership();
  }
}

void Raft::note_truncated(LogIndex from) {
  if (history_.truncate_from(from)) {
    track_membership();
  }
}

void Raft::maybe_leave_joint_or_promote() {
  if (role_ != Role::kLeader || lead_transferee_ != kNoNode) {
    return;
  }
  if (membership().joint()) {
    // Thesis 4.3: once C_old,new is committed the leader appends C_new alone.
    if (history_.latest_membership_index() <= log_.committed()) {
      Membership next = membership();
      next.voters_outgoing.clear();
      append_own(EntryType::kMembership, encode_membership(next));
    }
    return;
  }
  if (membership_change_pending()) {
    return;
  }
  for (NodeId id : promote_when_caught_up_) {
    if (membership().voters.contains(id) || !membership().learners.contains(id)) {
      promote_when_caught_up_.erase(id);
      return;
    }
    auto it = progress_.find(id);
    if (it != progress_.end() && it->second.match + config_.catch_up_entries >= log_.last_index()) {
      std::set<NodeId> voters = membership().voters;
      std::set<NodeId> learners = membership().learners;
      voters.insert(id);
      learners.erase(id);
      promote_when_caught_up_.erase(id);
      change_membership(std::move(voters), std::move(learners));
      return;
    }
  }
}

void Raft::maybe_step_down_after_removal() {
  // Thesis 4.2.2: a leader that is not in C_new steps down once C_new commits.
  if (role_ == Role::kLeader && !membership().voters.contains(config_.id) &&
      !membership_change_pending()) {
    become_follower(term_, kNoNode);
  }
}

void Raft::apply_core_entries(LogIndex from, LogIndex to) {
  for (LogIndex i = std::max(from, log_.first_index()); i <= to; i = i.next()) {
    const Entry& e = log_.at(i);
    if (e.type == EntryType::kTimeouts) {
      if (std::optional<Timeouts> t = decode_timeouts(e.data)) {
        // Every node switches when it applies the entry; the running election
        // timer is redrawn from the new range.
        config_.timeouts = *t;
        history_.apply_timeouts(i, *t);
        randomized_timeout_ = static_cast<uint32_t>(
            rng_.uniform(config_.timeouts.election_min_ticks, config_.timeouts.election_max_ticks));
      } else {
        ++drops_.malformed;
      }
    }
  }
}

namespace {

class Digest {
 public:
  Digest& add(uint64_t v) {
    h_ = (h_ ^ v) * 0x100000001b3ull;
    h_ ^= h_ >> 29;
    return *this;
  }
  Digest& add(const std::string& s) {
    for (unsigned char c : s) add(c);
    return add(s.size());
  }
  Digest& add(const std::set<NodeId>& ids) {
    for (NodeId id : ids) add(id.value());
    return add(ids.size());
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

}  // namespace

uint64_t Raft::fingerprint() const {
  Digest d;
  d.add(static_cast<uint64_t>(role_)).add(term_.value()).add(vote_.value()).add(leader_.value());
  d.add(election_elapsed_).add(heartbeat_elapsed_).add(randomized_timeout_).add(rng_.state());
  d.add(log_.snapshot().index.value()).add(log_.snapshot().term.value());
  d.add(log_.committed().value()).add(log_.applied().value()).add(log_.stabled().value());
  for (LogIndex i = log_.first_index(); i <= log_.last_index(); i = i.next()) {
    const Entry& e = log_.at(i);
    d.add(e.term.value()).add(static_cast<uint64_t>(e.type)).add(e.data);
  }
  const Membership& members = membership();
  d.add(members.voters).add(members.voters_outgoing).add(members.learners);
  for (const auto& [id, granted] : votes_) d.add(id.value()).add(granted);
  for (const auto& [id, pr] : progress_) {
    d.add(id.value()).add(pr.match.value()).add(pr.next.value());
    d.add(static_cast<uint64_t>(pr.state)).add(pr.probe_sent).add(pr.recent_active);
    d.add(pr.inflights.count()).add(pr.pending_snapshot.value()).add(pr.snapshot_ticks);
  }
  d.add(lead_transferee_.value()).add(transfer_elapsed_).add(uncommitted_bytes_);
  d.add(pending_broadcast_).add(durable_term_.value()).add(last_hard_state_.term.value());
  d.add(last_hard_state_.vote.value()).add(last_hard_state_.commit.value());
  d.add(reads_.last_round().value()).add(reads_.round_needed()).add(reads_.pending_count());
  d.add(messages_.size()).add(persisted_messages_.size()).add(ready_outstanding_);
  d.add(config_.timeouts.heartbeat_ticks).add(config_.timeouts.election_min_ticks);
  d.add(config_.timeouts.election_max_ticks);
  return d.value();
}

NodeStatus Raft::status() const {
  NodeStatus s{.id = config_.id,
               .role = role_,
               .term = term_,
               .vote = vote_,
               .leader = leader_,
               .commit = log_.committed(),
               .applied = log_.applied(),
               .last_index = log_.last_index()};
  if (role_ == Role::kLeader) {
    for (const auto& [id, pr] : progress_) {
      s.peers.push_back(PeerStatus{.id = id,
                                   .voter = membership().is_voter(id),
                                   .match = pr.match,
                                   .next = pr.next,
                                   .state = pr.state,
                                   .recent_active = pr.recent_active});
    }
  }
  return s;
}

}  // namespace raft
