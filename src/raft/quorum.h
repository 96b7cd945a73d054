// Quorum arithmetic: the index a majority has reached and the outcome of a vote,
// for a simple majority and for joint consensus (thesis 4.3), where a decision
// needs a majority of the incoming and of the outgoing voters.
#pragma once

#include <functional>
#include <optional>
#include <set>

#include "raft/types.h"

namespace raft {

enum class VoteResult { kPending, kWon, kLost };

// Returns the largest index that a majority of `voters` has reached, given each
// voter's acknowledged index (voters with no acknowledgement count as 0). An empty
// voter set returns the maximum index, so it never holds back a joint decision.
LogIndex majority_committed(const std::set<NodeId>& voters,
                            const std::function<LogIndex(NodeId)>& acked);

// `vote(id)` is true (granted), false (rejected) or nullopt (not yet answered).
VoteResult majority_vote(const std::set<NodeId>& voters,
                         const std::function<std::optional<bool>(NodeId)>& vote);

// The joint forms: both halves must agree; a membership outside a change has an
// empty outgoing set, and then these equal the simple majority.
LogIndex joint_committed(const Membership& m, const std::function<LogIndex(NodeId)>& acked);
VoteResult joint_vote(const Membership& m, const std::function<std::optional<bool>(NodeId)>& vote);

// The latest heartbeat round that a majority of both halves of `m` acknowledged,
// given each voter's latest acknowledged round (the same arithmetic as
// joint_committed, over rounds instead of log indexes).
HeartbeatRound joint_acknowledged(const Membership& m,
                                  const std::function<HeartbeatRound(NodeId)>& acked);

}  // namespace raft
