// Quorum arithmetic, checked exhaustively against a brute-force definition.
#include "raft/quorum.h"

#include <gtest/gtest.h>

#include <map>

namespace raft {
namespace {

std::set<NodeId> ids(int n, int first = 1) {
  std::set<NodeId> s;
  for (int i = first; i < first + n; ++i) s.insert(NodeId(i));
  return s;
}

TEST(Quorum, CommittedIndexIsTheHighestAMajorityReached) {  // paper 5.3
  // Every assignment of indexes 0..3 to 1..5 voters, against the definition:
  // the largest k such that more than half the voters have index >= k.
  for (int n = 1; n <= 5; ++n) {
    std::set<NodeId> voters = ids(n);
    int combos = 1;
    for (int i = 0; i < n; ++i) combos *= 4;
    for (int c = 0; c < combos; ++c) {
      std::map<NodeId, LogIndex> acked;
      int x = c;
      for (NodeId id : voters) {
        acked[id] = LogIndex(x % 4);
        x /= 4;
      }
      uint64_t expect = 0;
      for (uint64_t k = 0; k <= 3; ++k) {
        int at_least = 0;
        for (auto& [id, idx] : acked) at_least += idx.value() >= k;
        if (at_least * 2 > n) expect = k;
      }
      EXPECT_EQ(majority_committed(voters, [&](NodeId id) { return acked[id]; }), LogIndex(expect));
    }
  }
}

TEST(Quorum, VoteOutcomeIsWonLostOrPending) {  // paper 5.2
  std::set<NodeId> v = ids(5);
  std::map<NodeId, std::optional<bool>> votes;
  auto vote = [&](NodeId id) { return votes[id]; };
  votes[NodeId(1)] = true;
  votes[NodeId(2)] = true;
  EXPECT_EQ(majority_vote(v, vote), VoteResult::kPending);
  votes[NodeId(3)] = true;
  EXPECT_EQ(majority_vote(v, vote), VoteResult::kWon);
  votes.clear();
  votes[NodeId(1)] = false;
  votes[NodeId(2)] = false;
  EXPECT_EQ(majority_vote(v, vote), VoteResult::kPending);
  votes[NodeId(3)] = false;
  EXPECT_EQ(majority_vote(v, vote), VoteResult::kLost);
}

TEST(Quorum, JointConsensusNeedsBothMajorities) {  // thesis 4.3
  Membership m;
  m.voters = ids(3, 1);           // {1,2,3}
  m.voters_outgoing = ids(3, 3);  // {3,4,5}
  std::map<NodeId, LogIndex> acked{{NodeId(1), LogIndex(9)},
                                   {NodeId(2), LogIndex(9)},
                                   {NodeId(3), LogIndex(4)},
                                   {NodeId(4), LogIndex(2)},
                                   {NodeId(5), LogIndex(1)}};
  EXPECT_EQ(joint_committed(m, [&](NodeId id) { return acked[id]; }), LogIndex(2));
  std::map<NodeId, std::optional<bool>> votes{{NodeId(1), true}, {NodeId(2), true}};
  auto vote = [&](NodeId id) { return votes[id]; };
  EXPECT_EQ(joint_vote(m, vote), VoteResult::kPending);
  votes[NodeId(4)] = false;
  votes[NodeId(5)] = false;
  EXPECT_EQ(joint_vote(m, vote), VoteResult::kLost);
  Membership simple;
  simple.voters = ids(3);
  EXPECT_EQ(joint_committed(simple, [&](NodeId id) { return acked[id]; }), LogIndex(9));
}

}  // namespace
}  // namespace raft
