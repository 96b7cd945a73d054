// Log replication (paper 5.3, thesis 3.5 and 10.2): the leader's side (AppendEntries
// under flow control, heartbeats, commit by quorum) and the follower's side (the
// consistency check and the conflict hint). Members of RaftCore, not a class of their
// own: both sides read and write the log, the role state and the outbox.
#include <algorithm>
#include <utility>

#include "raft/planted_bugs.h"
#include "raft/quorum.h"
#include "raft/raft_core.h"

namespace raft {

// ---------------------------------------------------------------------------
// Leader

bool RaftCore::send_append(LeaderState& l, NodeId to, bool send_if_empty) {
  Progress& pr = l.progress.at(to);
  if (pr.paused(config_.max_inflight_msgs, config_.max_inflight_bytes)) {
    return false;
  }
  const LogIndex prev_index = pr.next.prev();
  const std::optional<Term> prev_term = log_.term(prev_index);
  if (!prev_term.has_value()) {
    send_snapshot(l, to);  // the entries it needs are compacted away
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
  pr.commit_sent = log_.committed();
  send(to,
       AppendEntries{.prev = {.term = *prev_term, .index = prev_index},
                     .entries = std::move(entries),
                     .commit = log_.committed()},
       !term_durable());
  return true;
}

void RaftCore::broadcast_append(LeaderState& l, bool send_if_empty) {
  for (auto& [id, pr] : l.progress) {
    if (id != config_.id) {
      bool first = true;
      while (send_append(l, id, first && send_if_empty)) {
        first = false;
      }
    }
  }
}

void RaftCore::broadcast_heartbeat(LeaderState& l) {
  const HeartbeatRound round = l.reads.start_round(ticks_);
  for (auto& [id, pr] : l.progress) {
    if (id != config_.id) {
      // The follower is known to hold min(match, commit); more could be wrong there.
      send(id, Heartbeat{.commit = std::min(pr.match, log_.committed()), .round = round},
           !term_durable());
    }
  }
}

bool RaftCore::maybe_commit(LeaderState& l) {
  const LogIndex index = joint_committed(membership(), [&](NodeId id) {
    auto it = l.progress.find(id);
    return it == l.progress.end() ? LogIndex() : it->second.match;
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
    const uint64_t size = log_.at(i).data.size();
    l.uncommitted_bytes -= std::min(l.uncommitted_bytes, size);
  }
  log_.commit_to(index);
  start_deferred_reads(l);
  return true;
}

bool RaftCore::quorum_active(const LeaderState& l) const {
  auto answer = [&](NodeId id) -> std::optional<bool> {
    auto it = l.progress.find(id);
    return it != l.progress.end() && it->second.recent_active;
  };
  return joint_vote(membership(), answer) == VoteResult::kWon;
}

Progress* RaftCore::heard_from(NodeId from) {
  if (LeaderState* l = leading()) {
    if (auto it = l->progress.find(from); it != l->progress.end()) {
      it->second.recent_active = true;  // for CheckQuorum (thesis 6.2)
      return &it->second;
    }
  }
  ++drops_.unexpected;  // we do not lead, or `from` left the membership since
  return nullptr;
}

void RaftCore::handle_append_response(LeaderState& l, NodeId from, Progress& pr,
                                      const AppendResponse& ar) {
  if (!ar.success) {
    handle_append_rejection(l, from, pr, ar);
    return;
  }
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
    if (maybe_commit(l)) {
      broadcast_append(l, /*send_if_empty=*/true);
    }
  } else if (pr.state == ProgressState::kReplicate) {
    pr.inflights.free_to(ar.match);
  }
  if (l.transfer.has_value() && from == l.transfer->target && pr.match == log_.last_index()) {
    // Thesis 3.10: the target is caught up; it may start its election now.
    send(from, TimeoutNow{}, /*after_persist=*/false);
  }
  while (send_append(l, from, /*send_if_empty=*/false)) {
  }
  if (pr.commit_sent < log_.committed()) {
    send_append(l, from, /*send_if_empty=*/true);  // the commit it missed, see commit_sent
  }
  maybe_leave_joint_or_promote(l);
  maybe_step_down_after_removal();  // last: it may end `l`
}

void RaftCore::handle_append_rejection(LeaderState& l, NodeId from, Progress& pr,
                                       const AppendResponse& ar) {
  // Ignore answers to messages we have since moved past.
  if (ar.rejected <= pr.match || pr.state == ProgressState::kSnapshot ||
      (pr.state == ProgressState::kProbe && ar.rejected != pr.next.prev())) {
    ++drops_.unexpected;
    return;
  }
  LogIndex next = ar.hint.index;
  if (ar.hint.term != Term()) {
    // If we hold entries of the follower's conflicting term, they match up to our
    // last one of that term (Log Matching); otherwise skip the follower's whole run.
    const LogIndex j = log_.last_index_with_term_at_most(ar.hint.term, ar.rejected.prev());
    if (log_.term(j) == ar.hint.term) {
      next = j.next();
    }
  }
  pr.become_probe();
  pr.next = std::clamp(next, pr.match.next(), std::max(ar.rejected, pr.match.next()));
  send_append(l, from, /*send_if_empty=*/true);
}

void RaftCore::handle_heartbeat_response(LeaderState& l, NodeId from, Progress& pr,
                                         const HeartbeatResponse& hr) {
  if (hr.round > l.reads.last_round()) {
    ++drops_.malformed;  // an answer to a round this leader never sent
    return;
  }
  if (l.reads.acknowledge(from, hr.round)) {
    confirm_reads(l);
  }
  // The follower is alive. Messages to it may have been lost: retry a probe, let one
  // more pipelined message out if acknowledgements went missing, and send an
  // append (even empty) so a gap is found by the consistency check.
  pr.probe_sent = false;
  if (pr.state == ProgressState::kReplicate && pr.inflights.count() >= config_.max_inflight_msgs) {
    pr.inflights.free_first();
  }
  if (pr.match < log_.last_index()) {
    send_append(l, from, /*send_if_empty=*/true);
  }
}

// ---------------------------------------------------------------------------
// Follower

void RaftCore::handle_append(const Message& m, AppendEntries& ae) {
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
  const LogIndex last_new = log_.append_after(ae.prev, std::move(ae.entries), &written);
  if (written != LogIndex()) {
    note_truncated(written);
    note_appended(written, log_.last_index());
  }
  log_.commit_to(std::min(ae.commit, last_new));
  // The acknowledgement promises the entries are durable here.
  send(m.from, AppendResponse{.success = true, .match = last_new}, /*after_persist=*/true);
}

void RaftCore::handle_heartbeat(const Message& m, const Heartbeat& hb) {
  if (!accept_leader(m)) {
    return;
  }
  // The leader sends min(match, commit): entries we are known to hold.
  log_.commit_to(std::min(hb.commit, log_.last_index()));
  send(m.from, HeartbeatResponse{.round = hb.round}, /*after_persist=*/false);
}

}  // namespace raft
