#include "node/core_events.h"

#include <string>

#include "log/log.h"

namespace node {
namespace {

constexpr std::string_view kComponent = "raft";

std::string id_or_none(raft::NodeId id) {
  return id == raft::NodeId() ? "none" : raftlog::hex_id(id.value());
}

std::string ids(const std::set<raft::NodeId>& set) {
  std::string out;
  for (raft::NodeId id : set) out += (out.empty() ? "" : ",") + raftlog::hex_id(id.value());
  return out;
}

}  // namespace

CoreEvents::CoreEvents(const raft::Raft& core, uint32_t tick_ms)
    : tick_ms_(tick_ms),
      role_(core.role()),
      term_(core.term()),
      leader_(core.leader()),
      last_leader_(core.leader()),
      membership_(core.membership()),
      timeouts_(core.timeouts()) {}

void CoreEvents::observe(const raft::Raft& core) {
  const raft::Role role = core.role();
  const raft::Term term = core.term();
  const raft::NodeId leader = core.leader();
  const uint64_t t = term.value();
  if (role != role_) {
    switch (role) {
      case raft::Role::kPreCandidate:
        // Thesis 9.6: asks whether it could win before it bumps its term.
        raftlog::info(kComponent, "starting pre-vote", {{"term", t}, {"campaign-term", t + 1}});
        break;
      case raft::Role::kCandidate:
        raftlog::info(kComponent, "starting election", {{"term", t}});
        break;
      case raft::Role::kLeader:
        raftlog::info(kComponent, "became leader", {{"term", t}});
        break;
      case raft::Role::kFollower:
        break;
    }
    if (role_ == raft::Role::kLeader) {
      raftlog::info(kComponent, "stepped down",
                    {{"term", t}, {"role", raft::role_name(role)}, {"leader", id_or_none(leader)}});
    }
  } else if (term != term_) {
    raftlog::debug(
        kComponent, "term changed",
        {{"term", t}, {"previous-term", term_.value()}, {"role", raft::role_name(role)}});
  }
  if (leader != leader_) {
    if (leader == raft::NodeId()) {
      raftlog::info(kComponent, "lost leader",
                    {{"previous-leader", id_or_none(leader_)}, {"term", t}});
    } else {
      raftlog::info(kComponent, "leader changed",
                    {{"previous-leader", id_or_none(last_leader_)},
                     {"leader", id_or_none(leader)},
                     {"term", t}});
      last_leader_ = leader;
    }
  }
  role_ = role;
  term_ = term;
  leader_ = leader;
  if (core.membership() != membership_) observe_membership(core.membership());
  const raft::Timeouts& to = core.timeouts();
  if (to != timeouts_) {
    timeouts_ = to;
    raftlog::info(kComponent, "timeouts changed",
                  {{"heartbeat-ms", uint64_t{to.heartbeat_ticks} * tick_ms_},
                   {"election-min-ms", uint64_t{to.election_min_ticks} * tick_ms_},
                   {"election-max-ms", uint64_t{to.election_max_ticks} * tick_ms_}});
  }
}

// A configuration is in force once appended (thesis 4.1). Joint consensus shows the new
// configuration in `voters` from C_old,new on, so changes are logged when it enters the
// log and leaving the joint configuration adds nothing new.
void CoreEvents::observe_membership(const raft::Membership& m) {
  const raft::Membership old = membership_;
  membership_ = m;
  const std::string voters = ids(m.voters);
  const std::string learners = ids(m.learners);
  for (raft::NodeId id : m.voters) {
    if (old.voters.contains(id)) continue;
    const bool was_learner = old.learners.contains(id);
    raftlog::info(
        kComponent, was_learner ? "promoted learner" : "added member",
        {{"member-id", raftlog::hex_id(id.value())}, {"voters", voters}, {"learners", learners}});
  }
  for (raft::NodeId id : m.learners) {
    if (old.contains(id)) continue;
    raftlog::info(
        kComponent, "added learner",
        {{"member-id", raftlog::hex_id(id.value())}, {"voters", voters}, {"learners", learners}});
  }
  for (const auto* set : {&old.voters, &old.learners}) {
    for (raft::NodeId id : *set) {
      if (m.voters.contains(id) || m.learners.contains(id)) continue;
      raftlog::info(
          kComponent, "removed member",
          {{"member-id", raftlog::hex_id(id.value())}, {"voters", voters}, {"learners", learners}});
    }
  }
}

}  // namespace node
