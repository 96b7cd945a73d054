#include "raft/quorum.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace raft {
namespace {

// The largest value a majority of `voters` has reached, for any ordinal strong type.
template <typename Ordinal>
Ordinal majority_reached(const std::set<NodeId>& voters,
                         const std::function<Ordinal(NodeId)>& acked) {
  if (voters.empty()) {
    return Ordinal(std::numeric_limits<uint64_t>::max());
  }
  std::vector<Ordinal> values;
  values.reserve(voters.size());
  for (NodeId id : voters) {
    values.push_back(acked(id));
  }
  // Sorted descending, the value at position quorum-1 is reached by `quorum` voters.
  std::sort(values.begin(), values.end(), std::greater<>());
  return values[voters.size() / 2];
}

template <typename Ordinal>
Ordinal joint_reached(const Membership& m, const std::function<Ordinal(NodeId)>& acked) {
  return std::min(majority_reached(m.voters, acked), majority_reached(m.voters_outgoing, acked));
}

}  // namespace

LogIndex majority_committed(const std::set<NodeId>& voters,
                            const std::function<LogIndex(NodeId)>& acked) {
  return majority_reached(voters, acked);
}

VoteResult majority_vote(const std::set<NodeId>& voters,
                         const std::function<std::optional<bool>(NodeId)>& vote) {
  if (voters.empty()) {
    return VoteResult::kWon;
  }
  size_t granted = 0;
  size_t missing = 0;
  for (NodeId id : voters) {
    std::optional<bool> v = vote(id);
    if (!v.has_value()) {
      ++missing;
    } else if (*v) {
      ++granted;
    }
  }
  const size_t quorum = voters.size() / 2 + 1;
  if (granted >= quorum) {
    return VoteResult::kWon;
  }
  if (granted + missing >= quorum) {
    return VoteResult::kPending;
  }
  return VoteResult::kLost;
}

LogIndex joint_committed(const Membership& m, const std::function<LogIndex(NodeId)>& acked) {
  return joint_reached(m, acked);
}

HeartbeatRound joint_acknowledged(const Membership& m,
                                  const std::function<HeartbeatRound(NodeId)>& acked) {
  return joint_reached(m, acked);
}

VoteResult joint_vote(const Membership& m, const std::function<std::optional<bool>(NodeId)>& vote) {
  VoteResult in = majority_vote(m.voters, vote);
  VoteResult out = majority_vote(m.voters_outgoing, vote);
  if (in == VoteResult::kLost || out == VoteResult::kLost) {
    return VoteResult::kLost;
  }
  if (in == VoteResult::kWon && out == VoteResult::kWon) {
    return VoteResult::kWon;
  }
  return VoteResult::kPending;
}

}  // namespace raft
