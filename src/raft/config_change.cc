// Configuration changes through the log: membership by joint consensus (thesis 4.3)
// with learners promoted once caught up (thesis 4.2.1), and run-time timeouts. Keeps
// the configuration history in step with the log as it grows, shrinks and applies.
#include <optional>
#include <string>
#include <utility>

#include "raft/codec.h"
#include "raft/planted_bugs.h"
#include "raft/raft_core.h"

namespace raft {
namespace {

ProposeResult invalid_argument(std::string what) {
  return {.error = Error(ErrorCode::kInvalidArgument, std::move(what))};
}

}  // namespace

bool RaftCore::membership_change_pending() const {
  // The latest configuration is in force but not yet committed, or it is joint and
  // C_new is still to come.
  return membership().joint() || history_.latest_membership_index() > log_.committed();
}

ProposeResult RaftCore::change_membership(std::set<NodeId> voters, std::set<NodeId> learners) {
  if (Error e = check_can_propose(); !e.is_ok()) {
    return {.error = std::move(e)};
  }
  const Membership& current = membership();
  if (voters.empty()) {
    return invalid_argument("a membership must keep at least one voter");
  }
  for (NodeId id : voters) {
    if (id == kNoNode) return invalid_argument("node id 0 is reserved; ids start at 1");
    if (learners.contains(id)) {
      return invalid_argument("node " + std::to_string(id.value()) +
                              " cannot be both voter and learner");
    }
  }
  for (NodeId id : learners) {
    if (id == kNoNode) return invalid_argument("node id 0 is reserved; ids start at 1");
    if (current.voters.contains(id)) {
      return invalid_argument("voter " + std::to_string(id.value()) +
                              " cannot become a learner directly; remove it first");
    }
  }
  if (voters == current.voters && learners == current.learners) {
    return invalid_argument("the requested membership is the current one");
  }
  if (membership_change_pending() && !planted::kTwoMembershipChangesAtOnce) {
    return {.error = Error(ErrorCode::kFailedPrecondition,
                           "a membership change is in progress (the configuration at index " +
                               std::to_string(history_.latest_membership_index().value()) +
                               " is not yet complete); retry once it commits")};
  }
  // Thesis 4.3: C_old,new first; both majorities decide until C_new commits.
  const Membership next{
      .voters = std::move(voters),
      .voters_outgoing = planted::kMembershipSkipsJointPhase ? std::set<NodeId>() : current.voters,
      .learners = std::move(learners),
  };
  return append_own(EntryType::kMembership, encode_membership(next));
}

ProposeResult RaftCore::add_node(NodeId id) {
  if (Error e = check_can_propose(); !e.is_ok()) {
    return {.error = std::move(e)};
  }
  if (membership().voters.contains(id)) {
    return invalid_argument("node " + std::to_string(id.value()) + " is already a voter");
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
  leading()->promote_when_caught_up.insert(id);
  return r;
}

ProposeResult RaftCore::remove_node(NodeId id) {
  if (!membership().contains(id)) {
    return invalid_argument("node " + std::to_string(id.value()) + " is not a member");
  }
  std::set<NodeId> voters = membership().voters;
  std::set<NodeId> learners = membership().learners;
  voters.erase(id);
  learners.erase(id);
  if (voters.empty()) {
    return invalid_argument("node " + std::to_string(id.value()) +
                            " is the last voter; it cannot be removed");
  }
  if (LeaderState* l = leading()) {
    l->promote_when_caught_up.erase(id);
  }
  return change_membership(std::move(voters), std::move(learners));
}

bool RaftCore::promotable() const {
  // Thesis 4.1 puts a configuration in force when appended. If the leader that
  // appended a C_new without itself loses leadership before C_new commits, the
  // voters of C_new may lack C_new and still need its vote, while its longer log
  // wins their votes: it must be able to campaign, or the cluster is stuck.
  return membership().is_voter(config_.id) ||
         history_.membership_at(log_.committed()).is_voter(config_.id);
}

void RaftCore::track_membership(LeaderState& l) {
  const Membership& m = membership();
  for (auto it = l.progress.begin(); it != l.progress.end();) {
    if (it->first != config_.id && !m.contains(it->first)) {
      l.promote_when_caught_up.erase(it->first);
      it = l.progress.erase(it);
    } else {
      ++it;
    }
  }
  // New members start in probe at the end of the leader's log.
  auto add = [&](NodeId id) {
    if (!l.progress.contains(id)) {
      Progress& pr = l.progress[id];
      pr.next = log_.last_index().next();
      pr.recent_active = true;  // a grace period before CheckQuorum counts it
    }
  };
  for (NodeId id : m.voters) add(id);
  for (NodeId id : m.voters_outgoing) add(id);
  for (NodeId id : m.learners) add(id);
}

void RaftCore::note_appended(LogIndex from, LogIndex to) {
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
    if (LeaderState* l = leading()) {
      track_membership(*l);
    }
  }
}

void RaftCore::note_truncated(LogIndex from) {
  if (history_.truncate_from(from)) {
    if (LeaderState* l = leading()) {
      track_membership(*l);
    }
  }
}

void RaftCore::maybe_leave_joint_or_promote(LeaderState& l) {
  if (l.transfer.has_value()) {
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
  for (NodeId id : l.promote_when_caught_up) {
    const Membership& m = membership();
    if (m.voters.contains(id) || !m.learners.contains(id)) {
      l.promote_when_caught_up.erase(id);
      return;
    }
    auto it = l.progress.find(id);
    if (it != l.progress.end() &&
        it->second.match + config_.catch_up_entries >= log_.last_index()) {
      std::set<NodeId> voters = m.voters;
      std::set<NodeId> learners = m.learners;
      voters.insert(id);
      learners.erase(id);
      l.promote_when_caught_up.erase(id);
      change_membership(std::move(voters), std::move(learners));
      return;
    }
  }
}

void RaftCore::maybe_step_down_after_removal() {
  // Thesis 4.2.2: a leader that is not in C_new steps down once C_new commits.
  if (leading() != nullptr && !membership().voters.contains(config_.id) &&
      !membership_change_pending()) {
    become_follower(term_, kNoNode);
  }
}

void RaftCore::apply_core_entries(LogIndex from, LogIndex to) {
  for (LogIndex i = std::max(from, log_.first_index()); i <= to; i = i.next()) {
    const Entry& e = log_.at(i);
    if (e.type != EntryType::kTimeouts) {
      continue;
    }
    if (std::optional<Timeouts> t = decode_timeouts(e.data)) {
      // Every node switches when it applies the entry; the running election timer
      // is redrawn from the new range.
      config_.timeouts = *t;
      history_.apply_timeouts(i, *t);
      randomized_timeout_ = draw_election_timeout();
    } else {
      ++drops_.malformed;
    }
  }
}

}  // namespace raft
