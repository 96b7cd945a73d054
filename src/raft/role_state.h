// What a node remembers only while it holds one role (Scylla's fsm keeps
// std::variant<follower, candidate, leader>): leaving the role destroys that state,
// so stepping down cannot forget to clear a field, and a new leader starts afresh.
// Internal to the core (RaftCore's role_state_); the role itself is public (roles.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "raft/progress.h"
#include "raft/read_only.h"
#include "raft/types.h"

namespace raft {

// A follower needs nothing beyond what every role keeps (term, vote, known leader).
struct FollowerState {};

// A pre-candidate (thesis 9.6) or a candidate (paper 5.2), during one round of votes.
struct CandidateState {
  bool pre_vote = false;  // a PreVote round: neither term nor vote changed
  // The answers of this round, this node's own included: granted or refused.
  std::map<NodeId, bool> votes{};
};

// A leadership transfer in progress (thesis 3.10).
struct LeadershipTransfer {
  NodeId target;
  uint32_t elapsed = 0;  // ticks since it began; aborted at an election timeout
};

// Everything a leader keeps about its followers and its own pending work.
struct LeaderState {
  // Every member of the latest membership, this node included (invariant: keys are
  // exactly membership().contains(id) plus this node).
  std::map<NodeId, Progress> progress;
  // Payload bytes of the entries in (committed, last]: bounded by
  // Config::max_uncommitted_bytes.
  uint64_t uncommitted_bytes = 0;
  // Proposals appended since the last Ready: the next Ready broadcasts them in
  // shared AppendEntries (batching).
  bool pending_broadcast = false;
  uint32_t heartbeat_elapsed = 0;  // ticks since the last heartbeat round
  // Learners added by add_node, promoted to voters once caught up (thesis 4.2.1).
  // This leader's intent only: a new leader does not inherit it.
  std::set<NodeId> promote_when_caught_up;
  // While set, proposals are refused (thesis 3.10).
  std::optional<LeadershipTransfer> transfer;
  // ReadIndex and lease reads of this leadership (thesis 6.4).
  ReadOnly reads;
};

}  // namespace raft
