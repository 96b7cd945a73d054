#include <algorithm>
#include <iterator>
#include <utility>

#include "raft/codec.h"
#include "raft/invariant.h"
#include "raft/overloaded.h"
#include "raft/planted_bugs.h"
#include "raft/quorum.h"
#include "raft/raft_core.h"

namespace raft {

RaftCore::RaftCore(const Config& config, Membership membership, Restored restored)
    : config_(config),
      rng_(config.seed),
      log_(restored.snapshot, std::move(restored.entries), restored.hard_state.commit),
      history_(restored.snapshot.index, membership, config.timeouts),
      initial_membership_(std::move(membership)),
      snapshot_meta_{.last = restored.snapshot,
                     .membership = initial_membership_,
                     .timeouts = config.timeouts},
      term_(restored.hard_state.term),
      vote_(restored.hard_state.vote) {
  RAFT_INVARIANT(validate(config_).is_ok(), "the core is constructed from a validated config");
  note_appended(log_.first_index(), log_.last_index());
  durable_term_ = term_;
  last_hard_state_ = hard_state();
  reset_election_timer();
}

Role RaftCore::role() const {
  return std::visit(Overloaded{
                        [](const FollowerState&) { return Role::kFollower; },
                        [](const CandidateState& c) {
                          return c.pre_vote ? Role::kPreCandidate : Role::kCandidate;
                        },
                        [](const LeaderState&) { return Role::kLeader; },
                    },
                    role_state_);
}

NodeId RaftCore::transfer_target() const {
  const LeaderState* l = leading();
  return l != nullptr && l->transfer.has_value() ? l->transfer->target : kNoNode;
}

// ---------------------------------------------------------------------------
// Roles

uint32_t RaftCore::draw_election_timeout() {
  return static_cast<uint32_t>(
      rng_.uniform(config_.timeouts.election_min_ticks, config_.timeouts.election_max_ticks));
}

void RaftCore::reset_election_timer() {
  election_elapsed_ = 0;
  randomized_timeout_ = draw_election_timeout();
}

void RaftCore::become_follower(Term term, NodeId leader, bool reset_timer) {
  if (term != term_) {
    RAFT_INVARIANT(term > term_, "terms only move forward");
    term_ = term;
    vote_ = kNoNode;  // a vote is for one term (paper Figure 2)
  }
  if (LeaderState* l = leading()) {
    drop_reads(*l);
  }
  role_state_.emplace<FollowerState>();  // whatever the last role kept goes with it
  leader_ = leader;
  if (reset_timer) {
    reset_election_timer();
  }
}

void RaftCore::become_leader() {
  LeaderState& l = role_state_.emplace<LeaderState>();
  leader_ = config_.id;
  election_elapsed_ = 0;
  track_membership(l);  // a progress entry for every member
  // The leader acknowledges its own entries only once they are durable here.
  Progress& self = l.progress[config_.id];
  self.match = log_.stabled();
  self.recent_active = true;
  self.become_replicate();

  // Paper 5.4.2 / thesis 6.4: a leader commits entries of earlier terms only by
  // committing one of its own, so it appends a no-op at once.
  l.uncommitted_bytes = log_.bytes_after(log_.committed());
  log_.append({Entry{.term = term_, .index = log_.last_index().next(), .type = EntryType::kNoop}});
  l.pending_broadcast = true;
}

void RaftCore::campaign(bool pre_vote, bool transfer) {
  RAFT_INVARIANT(leading() == nullptr, "a leader does not campaign");
  if (!promotable()) {
    return;
  }
  Term vote_term;
  if (pre_vote) {
    // Thesis 9.6: a pre-candidate changes neither its term nor its vote.
    vote_term = term_.next();
  } else {
    term_ = term_.next();
    vote_ = config_.id;
    vote_term = term_;
  }
  CandidateState& c = role_state_.emplace<CandidateState>(CandidateState{.pre_vote = pre_vote});
  leader_ = kNoNode;
  reset_election_timer();
  c.votes[config_.id] = true;
  if (tally(c) == VoteResult::kWon) {
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

VoteResult RaftCore::tally(const CandidateState& candidate) const {
  return joint_vote(membership(), [&](NodeId id) -> std::optional<bool> {
    auto it = candidate.votes.find(id);
    return it == candidate.votes.end() ? std::nullopt : std::optional<bool>(it->second);
  });
}

// ---------------------------------------------------------------------------
// Inputs

void RaftCore::tick() {
  ++ticks_;
  if (LeaderState* l = leading()) {
    tick_leader(*l);
    return;
  }
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_timeout_) {
    campaign(config_.pre_vote, /*transfer=*/false);
  }
}

void RaftCore::peer_closed(NodeId peer) {
  // Without PreVote a campaign raises the term at once, so a connection that broke while
  // the leader lives would depose it: only a pre-vote makes the early campaign harmless.
  if (config_.lease_reads || !config_.pre_vote || peer == config_.id || peer != leader_ ||
      leading() != nullptr || campaigning() != nullptr) {
    return;
  }
  leader_ = kNoNode;  // not in lease any more: the votes of others are granted
  election_elapsed_ = 0;
  // A short random pause, so that the followers that all lost the leader rarely
  // campaign at once and split the vote.
  randomized_timeout_ =
      static_cast<uint32_t>(rng_.uniform(1, config_.timeouts.heartbeat_ticks + 1));
}

void RaftCore::tick_leader(LeaderState& l) {
  ++l.heartbeat_elapsed;
  ++election_elapsed_;
  if (l.transfer.has_value() && ++l.transfer->elapsed >= config_.timeouts.election_min_ticks) {
    // Thesis 3.10: the target did not take over within an election timeout.
    l.transfer.reset();
  }
  if (election_elapsed_ >= config_.timeouts.election_min_ticks) {
    election_elapsed_ = 0;
    // Thesis 6.2: a leader that cannot reach a quorum steps down, so clients
    // look for the leader elsewhere instead of waiting on this one.
    if (config_.check_quorum && !quorum_active(l) && !planted::kLeaderIgnoresQuorumLoss) {
      become_follower(term_, kNoNode);  // `l` is gone
      return;
    }
    for (auto& [id, pr] : l.progress) {
      pr.recent_active = id == config_.id;
    }
  }
  for (auto& [id, pr] : l.progress) {
    // A snapshot (or its answer) may be lost: after an election timeout, probe
    // again, which sends a new one if still needed.
    if (pr.state == ProgressState::kSnapshot &&
        ++pr.snapshot_ticks >= config_.timeouts.election_min_ticks) {
      pr.become_probe();
    }
  }
  if (l.heartbeat_elapsed >= config_.timeouts.heartbeat_ticks) {
    l.heartbeat_elapsed = 0;
    broadcast_heartbeat(l);
  }
}

Error RaftCore::check_can_propose() const {
  const LeaderState* l = leading();
  if (l == nullptr) {
    std::string msg = "node " + std::to_string(config_.id.value()) + " is not the leader";
    msg += leader_ == kNoNode ? "; no leader is known in term " + std::to_string(term_.value())
                              : "; the leader is node " + std::to_string(leader_.value());
    return Error(ErrorCode::kNotLeader, std::move(msg), leader_);
  }
  if (l->transfer.has_value()) {
    return Error(ErrorCode::kProposalDropped,
                 "proposal dropped: leadership is being transferred to node " +
                     std::to_string(l->transfer->target.value()),
                 leader_);
  }
  return Error::ok();
}

ProposeResult RaftCore::append_own(EntryType type, std::string data) {
  if (Error e = check_can_propose(); !e.is_ok()) {
    return {.error = std::move(e)};
  }
  LeaderState& l = *leading();
  if (config_.max_uncommitted_bytes != 0 && l.uncommitted_bytes > 0 &&
      l.uncommitted_bytes + data.size() > config_.max_uncommitted_bytes) {
    return {.error = Error(ErrorCode::kOverloaded,
                           "proposal dropped: " + std::to_string(l.uncommitted_bytes) +
                               " uncommitted bytes, the limit is " +
                               std::to_string(config_.max_uncommitted_bytes))};
  }
  l.uncommitted_bytes += data.size();
  const LogId id{.term = term_, .index = log_.last_index().next()};
  log_.append({Entry{.term = id.term, .index = id.index, .type = type, .data = std::move(data)}});
  note_appended(id.index, id.index);
  // Batching: proposals made before the next Ready share AppendEntries messages.
  l.pending_broadcast = true;
  return {.error = Error::ok(), .id = id};
}

ProposeResult RaftCore::propose(std::string data) {
  return append_own(EntryType::kNormal, std::move(data));
}

ProposeResult RaftCore::propose_timeouts(const Timeouts& timeouts) {
  if (Error e = validate(timeouts, config_.max_election_ticks); !e.is_ok()) {
    return {.error = std::move(e)};
  }
  return append_own(EntryType::kTimeouts, encode_timeouts(timeouts));
}

Error RaftCore::transfer_leadership(NodeId to) {
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
  LeaderState& l = *leading();
  l.transfer = LeadershipTransfer{.target = to};
  if (l.progress.at(to).match == log_.last_index()) {
    send(to, TimeoutNow{}, /*after_persist=*/false);
  } else {
    send_append(l, to, /*send_if_empty=*/true);
  }
  return Error::ok();
}

// ---------------------------------------------------------------------------
// Message dispatch

bool RaftCore::well_formed(const Message& m) const {
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

void RaftCore::step(Message m) {
  if (m.to != config_.id || m.from == kNoNode || m.from == config_.id) {
    ++drops_.wrong_recipient;
    return;
  }
  if (!well_formed(m)) {
    ++drops_.malformed;
    return;
  }
  if (m.term > term_) {
    if (!step_higher_term(m)) {
      return;
    }
  } else if (m.term < term_) {
    step_lower_term(m);
    return;
  }
  std::visit(Overloaded{
                 [&](const RequestVote& rv) { handle_request_vote(m, rv); },
                 [&](const VoteResponse& vr) { handle_vote_response(m, vr); },
                 [&](AppendEntries& ae) { handle_append(m, ae); },
                 [&](const AppendResponse& ar) {
                   if (Progress* pr = heard_from(m.from)) {
                     handle_append_response(*leading(), m.from, *pr, ar);
                   }
                 },
                 [&](const Heartbeat& hb) { handle_heartbeat(m, hb); },
                 [&](const HeartbeatResponse& hr) {
                   if (Progress* pr = heard_from(m.from)) {
                     handle_heartbeat_response(*leading(), m.from, *pr, hr);
                   }
                 },
                 [&](const TimeoutNow&) { handle_timeout_now(); },
                 [&](const ReadIndexRequest& rr) { handle_read_index_request(m, rr); },
                 [&](const ReadIndexResponse& rr) { handle_read_index_response(rr); },
                 [&](const InstallSnapshot& is) { handle_install_snapshot(m, is); },
             },
             m.body);
}

bool RaftCore::step_higher_term(const Message& m) {
  if (const auto* rv = std::get_if<RequestVote>(&m.body)) {
    // Thesis 4.2.3: while a leader is known to be alive, vote requests are ignored,
    // so a removed or partitioned server cannot force an election.
    const bool in_lease =
        leader_ != kNoNode && election_elapsed_ < config_.timeouts.election_min_ticks;
    if (in_lease && !rv->transfer) {
      ++drops_.vote_in_lease;
      return false;
    }
    if (!rv->pre_vote) {
      become_follower(m.term, kNoNode, /*reset_timer=*/false);
    }
    return true;
  }
  if (const auto* vr = std::get_if<VoteResponse>(&m.body);
      vr != nullptr && vr->pre_vote && vr->granted) {
    return true;  // a granted pre-vote echoes the term we asked about; nobody changed term
  }
  const bool from_leader = std::holds_alternative<AppendEntries>(m.body) ||
                           std::holds_alternative<Heartbeat>(m.body) ||
                           std::holds_alternative<InstallSnapshot>(m.body);
  become_follower(m.term, from_leader ? m.from : kNoNode);
  return true;
}

void RaftCore::step_lower_term(const Message& m) {
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

void RaftCore::handle_request_vote(const Message& m, const RequestVote& rv) {
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
    // Two pre-candidates that timed out together (both lost the leader's connection, or
    // drew the same timeout) would both pass the pre-vote, then split the real vote and
    // wait a whole election timeout. The one with the lower id steps back for the other,
    // whose log is as up to date as its own, and waits a whole timeout before trying
    // again. Liveness only: a pre-vote changes no term and no vote.
    if (const CandidateState* c = campaigning(); rv.pre_vote && c != nullptr && c->pre_vote &&
                                                 m.term == term_.next() &&
                                                 m.from.value() > config_.id.value()) {
      become_follower(term_, kNoNode);
    }
    return;
  }
  send(m.from, VoteResponse{.pre_vote = rv.pre_vote, .granted = false}, /*after_persist=*/true);
}

void RaftCore::handle_vote_response(const Message& m, const VoteResponse& vr) {
  CandidateState* c = campaigning();
  // A pre-vote grant echoes the term asked about (term + 1); a refusal carries the
  // voter's own term. A vote answers a request of this term.
  const bool expected = c != nullptr && vr.pre_vote == c->pre_vote &&
                        (c->pre_vote ? (m.term == term_.next() || !vr.granted) : m.term == term_);
  if (!expected || !membership().is_voter(m.from)) {
    ++drops_.unexpected;
    return;
  }
  c->votes[m.from] = vr.granted;
  switch (tally(*c)) {
    case VoteResult::kWon:
      if (c->pre_vote) {
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

void RaftCore::handle_timeout_now() {
  // Thesis 3.10: the leader asks us to start an election now.
  if (leading() == nullptr && promotable()) {
    campaign(/*pre_vote=*/false, /*transfer=*/true);
  } else {
    ++drops_.unexpected;
  }
}

bool RaftCore::accept_leader(const Message& m) {
  if (leading() != nullptr) {
    // Two leaders in one term would break Election Safety; this message cannot be
    // from an honest peer.
    ++drops_.unexpected;
    return false;
  }
  if (campaigning() != nullptr) {
    become_follower(term_, m.from);
  }
  leader_ = m.from;
  election_elapsed_ = 0;  // the leader is alive (paper 5.2)
  if (randomized_timeout_ < config_.timeouts.election_min_ticks) {
    // A peer_closed() pause: the leader lives after all, so a whole timeout again.
    randomized_timeout_ = draw_election_timeout();
  }
  return true;
}

void RaftCore::send(NodeId to, MessageBody body, bool after_persist, Term term) {
  Message m{
      .from = config_.id, .to = to, .term = term == Term() ? term_ : term, .body = std::move(body)};
  (after_persist ? outbox_.persisted_messages : outbox_.messages).push_back(std::move(m));
}

// ---------------------------------------------------------------------------
// Ready / advance

bool RaftCore::has_ready() const {
  if (in_flight_.has_value()) {
    return false;
  }
  const LeaderState* l = leading();
  const bool leader_work = l != nullptr && (l->pending_broadcast || l->reads.round_needed());
  const bool read_to_release =
      std::any_of(outbox_.reads.begin(), outbox_.reads.end(),
                  [&](const ReadState& r) { return r.index <= log_.applied(); });
  return outbox_.snapshot.has_value() || leader_work || read_to_release ||
         !outbox_.dropped_reads.empty() || !outbox_.messages.empty() ||
         !outbox_.persisted_messages.empty() || hard_state() != last_hard_state_ ||
         log_.stabled() < log_.last_index() || log_.applied() < log_.committed();
}

Ready RaftCore::ready() {
  RAFT_INVARIANT(!in_flight_.has_value(), "advance() is called before the next ready()");
  if (LeaderState* l = leading()) {
    if (l->pending_broadcast) {
      broadcast_append(*l, /*send_if_empty=*/false);
      l->pending_broadcast = false;
    }
    if (l->reads.round_needed()) {
      // One heartbeat round confirms every read that arrived since the last one.
      broadcast_heartbeat(*l);
    }
  }

  Ready rd;
  rd.snapshot = std::exchange(outbox_.snapshot, std::nullopt);
  if (hard_state() != last_hard_state_) {
    rd.hard_state = hard_state();
    last_hard_state_ = *rd.hard_state;
  }
  rd.entries = log_.unstable();
  rd.messages = std::exchange(outbox_.messages, {});
  rd.persisted_messages = std::exchange(outbox_.persisted_messages, {});
  if (rd.snapshot.has_value()) {
    // The state machine restarts from the snapshot; entries after it come later.
  } else if (log_.applied() < log_.committed()) {
    rd.committed_entries =
        log_.slice(log_.applied().next(), log_.committed(), config_.max_apply_bytes);
  }
  const ReadyInFlight& done = in_flight_.emplace(ReadyInFlight{
      .last_entry = rd.entries.empty() ? LogId{} : rd.entries.back().id(),
      .applied = rd.snapshot.has_value()        ? rd.snapshot->last.index
                 : rd.committed_entries.empty() ? log_.applied()
                                                : rd.committed_entries.back().index,
  });
  // Reads whose index is applied once this Ready's entries are.
  auto servable = [&](const ReadState& r) { return r.index <= done.applied; };
  std::copy_if(outbox_.reads.begin(), outbox_.reads.end(), std::back_inserter(rd.reads), servable);
  std::erase_if(outbox_.reads, servable);
  rd.dropped_reads = std::exchange(outbox_.dropped_reads, {});
  return rd;
}

void RaftCore::advance() {
  RAFT_INVARIANT(in_flight_.has_value(), "advance() follows ready()");
  const ReadyInFlight done = *in_flight_;
  in_flight_.reset();
  durable_term_ = last_hard_state_.term;
  if (done.last_entry.index != LogIndex()) {
    log_.stable_to(done.last_entry);
  }
  apply_core_entries(log_.applied().next(), done.applied);
  log_.applied_to(done.applied);
  if (CandidateState* c = campaigning();
      c != nullptr && !c->pre_vote && term_durable() && tally(*c) == VoteResult::kWon) {
    become_leader();  // a one-voter election, now that its vote is on disk
  }
  if (LeaderState* l = leading()) {
    // The leader's own copy now counts toward the quorum (thesis 10.2.1: it may
    // send entries before persisting them, but not count itself before).
    Progress& self = l->progress.at(config_.id);
    if (self.maybe_update(log_.stabled()) && maybe_commit(*l)) {
      broadcast_append(*l, /*send_if_empty=*/true);
    }
    maybe_leave_joint_or_promote(*l);
    maybe_step_down_after_removal();  // last: it may end `l`
  }
}

// ---------------------------------------------------------------------------
// Observation

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

uint64_t RaftCore::fingerprint() const {
  // Role state is hashed where it exists and as zeros where it does not, in the
  // order of the fields it replaced (docs/verification.md, the model checker).
  static const LeaderState kNotLeading;
  static const CandidateState kNotCampaigning;
  const LeaderState& l = leading() != nullptr ? *leading() : kNotLeading;
  const auto* candidate = std::get_if<CandidateState>(&role_state_);
  const CandidateState& c = candidate != nullptr ? *candidate : kNotCampaigning;
  const Membership& members = membership();
  Digest d;
  d.add(static_cast<uint64_t>(role())).add(term_.value()).add(vote_.value()).add(leader_.value());
  d.add(election_elapsed_).add(l.heartbeat_elapsed).add(randomized_timeout_).add(rng_.state());
  d.add(log_.snapshot().index.value()).add(log_.snapshot().term.value());
  d.add(log_.committed().value()).add(log_.applied().value()).add(log_.stabled().value());
  for (LogIndex i = log_.first_index(); i <= log_.last_index(); i = i.next()) {
    const Entry& e = log_.at(i);
    d.add(e.term.value()).add(static_cast<uint64_t>(e.type)).add(e.data);
  }
  d.add(members.voters).add(members.voters_outgoing).add(members.learners);
  for (const auto& [id, granted] : c.votes) d.add(id.value()).add(granted);
  for (const auto& [id, pr] : l.progress) {
    d.add(id.value()).add(pr.match.value()).add(pr.next.value());
    d.add(static_cast<uint64_t>(pr.state)).add(pr.probe_sent).add(pr.recent_active);
    d.add(pr.inflights.count()).add(pr.pending_snapshot.value()).add(pr.snapshot_ticks);
    d.add(pr.commit_sent.value());
  }
  d.add(transfer_target().value()).add(l.transfer.has_value() ? l.transfer->elapsed : 0u);
  d.add(l.uncommitted_bytes).add(l.pending_broadcast).add(durable_term_.value());
  d.add(last_hard_state_.term.value()).add(last_hard_state_.vote.value());
  d.add(last_hard_state_.commit.value());
  d.add(l.reads.last_round().value()).add(l.reads.round_needed()).add(l.reads.pending_count());
  d.add(outbox_.messages.size()).add(outbox_.persisted_messages.size());
  d.add(in_flight_.has_value());
  d.add(config_.timeouts.heartbeat_ticks).add(config_.timeouts.election_min_ticks);
  d.add(config_.timeouts.election_max_ticks);
  return d.value();
}

NodeStatus RaftCore::status() const {
  NodeStatus s{.id = config_.id,
               .role = role(),
               .term = term_,
               .vote = vote_,
               .leader = leader_,
               .commit = log_.committed(),
               .applied = log_.applied(),
               .last_index = log_.last_index()};
  if (const LeaderState* l = leading()) {
    for (const auto& [id, pr] : l->progress) {
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
