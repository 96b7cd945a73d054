#include "raft/raft.h"

#include <algorithm>
#include <utility>

#include "raft/invariant.h"
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

std::string_view kind_name(const Message& m) {
  static constexpr std::string_view kNames[] = {
      "RequestVote", "VoteResponse",      "AppendEntries", "AppendResponse",
      "Heartbeat",   "HeartbeatResponse", "TimeoutNow"};
  return kNames[m.body.index()];
}

Raft::Raft(const Config& config, Membership membership, Restored restored)
    : config_(config),
      membership_(std::move(membership)),
      rng_(config.seed),
      log_(restored.snapshot, std::move(restored.entries), restored.hard_state.commit) {
  RAFT_INVARIANT(validate(config_).is_ok(), "the core is constructed from a validated config");
  RAFT_INVARIANT(membership_.contains(config_.id), "a node is a member of its own cluster");
  term_ = restored.hard_state.term;
  vote_ = restored.hard_state.vote;
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

void Raft::become_follower(Term term, NodeId leader) {
  if (term != term_) {
    RAFT_INVARIANT(term > term_, "terms only move forward");
    term_ = term;
    vote_ = kNoNode;  // a vote is for one term (paper Figure 2)
  }
  role_ = Role::kFollower;
  leader_ = leader;
  votes_.clear();
  progress_.clear();
  pending_broadcast_ = false;
  reset_election_timer();
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
  progress_.clear();
  auto add = [&](NodeId id) {
    Progress& pr = progress_[id];
    pr.match = LogIndex();
    pr.next = log_.last_index().next();
  };
  for (NodeId id : membership_.voters) add(id);
  for (NodeId id : membership_.voters_outgoing) add(id);
  for (NodeId id : membership_.learners) add(id);
  // The leader acknowledges its own entries only once they are durable here.
  Progress& self = progress_[config_.id];
  self.match = log_.stabled();
  self.recent_active = true;
  self.become_replicate();

  // Paper 5.4.2 / thesis 6.4: a leader commits entries of earlier terms only by
  // committing one of its own, so it appends a no-op at once.
  uncommitted_bytes_ = log_.bytes_after(log_.committed());
  log_.append({Entry{term_, log_.last_index().next(), EntryType::kNoop, {}}});
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
  auto answer = [&](NodeId id) -> std::optional<bool> {
    auto it = votes_.find(id);
    return it == votes_.end() ? std::nullopt : std::optional<bool>(it->second);
  };
  if (joint_vote(membership_, answer) == VoteResult::kWon) {
    // A cluster of one: no one else to ask.
    if (pre_vote) {
      campaign(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  std::set<NodeId> voters = membership_.voters;
  voters.insert(membership_.voters_outgoing.begin(), membership_.voters_outgoing.end());
  for (NodeId id : voters) {
    if (id == config_.id) {
      continue;
    }
    // Sent only once our new term and self-vote are durable.
    send(id, RequestVote{pre_vote, log_.last_id(), transfer}, /*after_persist=*/true, vote_term);
  }
}

// ---------------------------------------------------------------------------
// Inputs

void Raft::tick() {
  if (role_ == Role::kLeader) {
    ++heartbeat_elapsed_;
    ++election_elapsed_;
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

ProposeResult Raft::propose(std::string data) {
  if (role_ != Role::kLeader) {
    std::string msg = "node " + std::to_string(config_.id.value()) + " is not the leader";
    msg += leader_ == kNoNode ? "; no leader is known in term " + std::to_string(term_.value())
                              : "; the leader is node " + std::to_string(leader_.value());
    return {Error(ErrorCode::kNotLeader, std::move(msg), leader_), {}};
  }
  if (config_.max_uncommitted_bytes != 0 && uncommitted_bytes_ > 0 &&
      uncommitted_bytes_ + data.size() > config_.max_uncommitted_bytes) {
    return {Error(ErrorCode::kProposalDropped,
                  "proposal dropped: " + std::to_string(uncommitted_bytes_) +
                      " uncommitted bytes, the limit is " +
                      std::to_string(config_.max_uncommitted_bytes)),
            {}};
  }
  uncommitted_bytes_ += data.size();
  LogId id{term_, log_.last_index().next()};
  log_.append({Entry{id.term, id.index, EntryType::kNormal, std::move(data)}});
  // Batching: proposals made before the next Ready share AppendEntries messages.
  pending_broadcast_ = true;
  return {Error::ok(), id};
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
  const bool from_leader =
      std::holds_alternative<AppendEntries>(m.body) || std::holds_alternative<Heartbeat>(m.body);
  if (m.term > term_) {
    if (const auto* rv = std::get_if<RequestVote>(&m.body)) {
      // Thesis 4.2.3: while a leader is known to be alive, vote requests are ignored,
      // so a removed or partitioned server cannot force an election.
      const bool in_lease = config_.check_quorum && leader_ != kNoNode &&
                            election_elapsed_ < config_.timeouts.election_min_ticks;
      if (in_lease && !rv->transfer) {
        ++drops_.vote_in_lease;
        return;
      }
      if (!rv->pre_vote) {
        become_follower(m.term, kNoNode);
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

  switch (m.body.index()) {
    case 0:
      handle_request_vote(m, std::get<RequestVote>(m.body));
      break;
    case 1:
      handle_vote_response(m, std::get<VoteResponse>(m.body));
      break;
    case 2:
      handle_append(m, std::get<AppendEntries>(m.body));
      break;
    case 3:
      handle_append_response(m, std::get<AppendResponse>(m.body));
      break;
    case 4:
      handle_heartbeat(m, std::get<Heartbeat>(m.body));
      break;
    case 5:
      handle_heartbeat_response(m);
      break;
    case 6:
      // Thesis 3.10: the leader asks us to start an election now.
      if (role_ != Role::kLeader && promotable()) {
        campaign(/*pre_vote=*/false, /*transfer=*/true);
      } else {
        ++drops_.unexpected;
      }
      break;
  }
}

void Raft::step_lower_term(const Message& m) {
  ++drops_.stale_term;
  if ((config_.check_quorum || config_.pre_vote) &&
      (std::holds_alternative<AppendEntries>(m.body) ||
       std::holds_alternative<Heartbeat>(m.body))) {
    // A deposed leader keeps sending in its old term. Tell it the current term so it
    // steps down: with PreVote or CheckQuorum our term may have risen without any
    // vote request reaching it.
    send(m.from, AppendResponse{}, /*after_persist=*/false);
  } else if (const auto* rv = std::get_if<RequestVote>(&m.body); rv != nullptr && rv->pre_vote) {
    send(m.from, VoteResponse{true, false}, /*after_persist=*/false);
  }
}

void Raft::handle_request_vote(const Message& m, const RequestVote& rv) {
  // Paper 5.2: at most one vote per term, first come first served; a repeated
  // request from the same candidate is answered the same way. A pre-vote for a
  // later term commits us to nothing.
  const bool can_vote = vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) ||
                        (rv.pre_vote && m.term > term_);
  const bool up_to_date = planted::kVoteWithoutUpToDateCheck || log_.is_up_to_date(rv.last_log);
  if (can_vote && up_to_date && membership_.contains(m.from)) {
    if (!rv.pre_vote) {
      vote_ = m.from;
      reset_election_timer();
    }
    // The grant promises a persisted vote: it leaves only after the vote is durable.
    const bool after_persist = !rv.pre_vote && !planted::kVoteBeforePersist;
    send(m.from, VoteResponse{rv.pre_vote, true}, after_persist, rv.pre_vote ? m.term : term_);
    return;
  }
  send(m.from, VoteResponse{rv.pre_vote, false}, /*after_persist=*/true);
}

void Raft::handle_vote_response(const Message& m, const VoteResponse& vr) {
  const bool expected =
      (role_ == Role::kPreCandidate && vr.pre_vote && (m.term == term_.next() || !vr.granted)) ||
      (role_ == Role::kCandidate && !vr.pre_vote && m.term == term_);
  if (!expected || !membership_.is_voter(m.from)) {
    ++drops_.unexpected;
    return;
  }
  votes_[m.from] = vr.granted;
  auto answer = [&](NodeId id) -> std::optional<bool> {
    auto it = votes_.find(id);
    return it == votes_.end() ? std::nullopt : std::optional<bool>(it->second);
  };
  switch (joint_vote(membership_, answer)) {
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

void Raft::handle_append(const Message& m, AppendEntries& ae) {
  if (role_ == Role::kLeader) {
    // Two leaders in one term would break Election Safety; this message cannot be
    // from an honest peer.
    ++drops_.unexpected;
    return;
  }
  if (role_ != Role::kFollower) {
    become_follower(term_, m.from);
  }
  leader_ = m.from;
  election_elapsed_ = 0;

  if (ae.prev.index < log_.committed()) {
    // Our committed prefix matches every leader's log (Leader Completeness).
    send(m.from, AppendResponse{true, log_.committed(), {}, {}}, /*after_persist=*/true);
    return;
  }
  const bool prev_ok = log_.matches(ae.prev) ||
                       (planted::kSkipConsistencyCheck && ae.prev.index <= log_.last_index());
  if (!prev_ok) {
    AppendResponse reject{false, {}, ae.prev.index, {}};
    if (ae.prev.index > log_.last_index()) {
      reject.hint = {Term(), log_.last_index().next()};
    } else {
      reject.hint = {*log_.term(ae.prev.index), log_.first_index_of_term_at(ae.prev.index)};
    }
    send(m.from, reject, /*after_persist=*/true);
    return;
  }
  LogIndex last_new = log_.append_after(ae.prev, std::move(ae.entries));
  log_.commit_to(std::min(ae.commit, last_new));
  // The acknowledgement promises the entries are durable here.
  send(m.from, AppendResponse{true, last_new, {}, {}}, /*after_persist=*/true);
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
      if (pr.state == ProgressState::kProbe) {
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
    while (send_append(m.from, /*send_if_empty=*/false)) {
    }
    return;
  }
  // Rejected. Ignore answers to messages we have since moved past.
  if (ar.rejected <= pr.match ||
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
  if (role_ == Role::kLeader) {
    ++drops_.unexpected;
    return;
  }
  if (role_ != Role::kFollower) {
    become_follower(term_, m.from);
  }
  leader_ = m.from;
  election_elapsed_ = 0;
  // The leader sends min(match, commit): entries we are known to hold.
  log_.commit_to(std::min(hb.commit, log_.last_index()));
  send(m.from, HeartbeatResponse{hb.context}, /*after_persist=*/false);
}

void Raft::handle_heartbeat_response(const Message& m) {
  auto it = progress_.find(m.from);
  if (role_ != Role::kLeader || it == progress_.end()) {
    ++drops_.unexpected;
    return;
  }
  Progress& pr = it->second;
  pr.recent_active = true;
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
  LogId prev{Term(), pr.next.prev()};
  std::optional<Term> prev_term = log_.term(prev.index);
  if (!prev_term.has_value()) {
    return false;  // compacted: needs a snapshot
  }
  prev.term = *prev_term;
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
  send(to, AppendEntries{prev, std::move(entries), log_.committed()}, /*after_persist=*/false);
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
  for (auto& [id, pr] : progress_) {
    if (id != config_.id) {
      send(id, Heartbeat{std::min(pr.match, log_.committed()), 0}, /*after_persist=*/false);
    }
  }
}

bool Raft::maybe_commit() {
  LogIndex index = joint_committed(membership_, [&](NodeId id) {
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
  return true;
}

bool Raft::quorum_active() const {
  auto answer = [&](NodeId id) -> std::optional<bool> {
    auto it = progress_.find(id);
    return it != progress_.end() && it->second.recent_active;
  };
  return joint_vote(membership_, answer) == VoteResult::kWon;
}

void Raft::send(NodeId to, MessageBody body, bool after_persist, Term term) {
  Message m{config_.id, to, term == Term() ? term_ : term, std::move(body)};
  (after_persist ? persisted_messages_ : messages_).push_back(std::move(m));
}

// ---------------------------------------------------------------------------
// Ready / advance

bool Raft::has_ready() const {
  if (ready_outstanding_) {
    return false;
  }
  return pending_broadcast_ || !messages_.empty() || !persisted_messages_.empty() ||
         hard_state() != last_hard_state_ || log_.stabled() < log_.last_index() ||
         log_.applied() < log_.committed();
}

Ready Raft::ready() {
  RAFT_INVARIANT(!ready_outstanding_, "advance() is called before the next ready()");
  if (pending_broadcast_ && role_ == Role::kLeader) {
    broadcast_append(/*send_if_empty=*/false);
  }
  pending_broadcast_ = false;

  Ready rd;
  if (hard_state() != last_hard_state_) {
    rd.hard_state = hard_state();
    last_hard_state_ = *rd.hard_state;
  }
  rd.entries = log_.unstable();
  rd.messages = std::move(messages_);
  rd.persisted_messages = std::move(persisted_messages_);
  messages_.clear();
  persisted_messages_.clear();
  if (log_.applied() < log_.committed()) {
    rd.committed_entries =
        log_.slice(log_.applied().next(), log_.committed(), config_.max_apply_bytes);
  }
  ready_outstanding_ = true;
  ready_last_entry_ = rd.entries.empty() ? LogId{} : rd.entries.back().id();
  ready_applied_ =
      rd.committed_entries.empty() ? log_.applied() : rd.committed_entries.back().index;
  return rd;
}

void Raft::advance() {
  RAFT_INVARIANT(ready_outstanding_, "advance() follows ready()");
  ready_outstanding_ = false;
  if (ready_last_entry_.index != LogIndex()) {
    log_.stable_to(ready_last_entry_);
  }
  log_.applied_to(ready_applied_);
  if (role_ == Role::kLeader) {
    // The leader's own copy now counts toward the quorum (thesis 10.2.1: it may
    // send entries before persisting them, but not count itself before).
    Progress& self = progress_.at(config_.id);
    if (self.maybe_update(log_.stabled()) && maybe_commit()) {
      broadcast_append(/*send_if_empty=*/true);
    }
  }
}

NodeStatus Raft::status() const {
  NodeStatus s{config_.id,        role_, term_, vote_, leader_, log_.committed(), log_.applied(),
               log_.last_index(), {}};
  if (role_ == Role::kLeader) {
    for (const auto& [id, pr] : progress_) {
      s.peers.push_back(
          {id, membership_.is_voter(id), pr.match, pr.next, pr.state, pr.recent_active});
    }
  }
  return s;
}

}  // namespace raft
