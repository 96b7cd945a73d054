#include "raft/quorum.h"

#include <algorithm>
#include <limits>
#include <vector>

namespace raft {

LogIndex majority_committed(const std::set<NodeId>& voters,
                            const std::function<LogIndex(NodeId)>& acked) {
  if (voters.empty()) {
    return LogIndex(std::numeric_limits<uint64_t>::max());
  }
  std::vector<LogIndex> indexes;
  indexes.reserve(voters.size());
  for (NodeId id : voters) {
    indexes.push_back(acked(id));
  }
  // Sorted descending, the entry at position quorum-1 is reached by `quorum` voters.
  std::sort(indexes.begin(), indexes.end(), std::greater<>());
  return indexes[voters.size() / 2];
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
  return std::min(majority_committed(m.voters, acked),
                  majority_committed(m.voters_outgoing, acked));
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
