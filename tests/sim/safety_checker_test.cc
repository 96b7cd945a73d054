// The safety checker catches each violation it exists for, fed by hand-built node
// states, and accepts a consistent history.
#include "sim/safety_checker.h"

#include <gtest/gtest.h>

namespace sim {
namespace {

using raft::Entry;
using raft::LogIndex;
using raft::NodeId;
using raft::RaftLog;
using raft::Role;
using raft::Term;

Entry entry(uint64_t index, uint64_t term, std::string data) {
  return Entry{Term(term), LogIndex(index), raft::EntryType::kNormal, std::move(data)};
}

RaftLog log_of(std::vector<Entry> entries, uint64_t commit) {
  return RaftLog(raft::LogId{}, std::move(entries), LogIndex(commit));
}

NodeView view(uint64_t id, Role role, uint64_t term, uint64_t vote, const RaftLog& log) {
  return NodeView{NodeId(id), role, Term(term), NodeId(vote), &log};
}

TEST(SafetyChecker, AcceptsAConsistentCluster) {
  SafetyChecker c;
  RaftLog a = log_of({entry(1, 1, "x"), entry(2, 1, "y")}, 2);
  RaftLog b = log_of({entry(1, 1, "x")}, 1);
  EXPECT_FALSE(c.observe(view(1, Role::kLeader, 1, 1, a)));
  EXPECT_FALSE(c.observe(view(2, Role::kFollower, 1, 1, b)));
  EXPECT_FALSE(c.on_apply(NodeId(1), a.at(LogIndex(1))));
  EXPECT_FALSE(c.on_apply(NodeId(2), b.at(LogIndex(1))));
  RaftLog b2 = log_of({entry(1, 1, "x"), entry(2, 1, "y"), entry(3, 2, "z")}, 2);
  b2.applied_to(LogIndex(1));
  EXPECT_FALSE(c.observe(view(2, Role::kLeader, 2, 2, b2)));  // holds every committed entry
}

TEST(SafetyChecker, CatchesTwoLeadersInOneTerm) {  // Election Safety
  SafetyChecker c;
  RaftLog l = log_of({}, 0);
  EXPECT_FALSE(c.observe(view(1, Role::kLeader, 2, 1, l)));
  auto v = c.observe(view(2, Role::kLeader, 2, 2, l));
  ASSERT_TRUE(v);
  EXPECT_NE(v->find("Election Safety"), std::string::npos) << *v;
}

TEST(SafetyChecker, CatchesDifferentEntriesWithTheSameIndexAndTerm) {  // Log Matching
  SafetyChecker c;
  RaftLog a = log_of({entry(1, 1, "x")}, 0);
  RaftLog b = log_of({entry(1, 1, "not x")}, 0);
  EXPECT_FALSE(c.observe(view(1, Role::kFollower, 1, 0, a)));
  auto v = c.observe(view(2, Role::kFollower, 1, 0, b));
  ASSERT_TRUE(v);
  EXPECT_NE(v->find("Log Matching"), std::string::npos) << *v;
}

TEST(SafetyChecker, CatchesMatchingEntriesWithDifferentPredecessors) {  // Log Matching
  SafetyChecker c;
  RaftLog a = log_of({entry(1, 1, "x"), entry(2, 3, "y")}, 0);
  RaftLog b = log_of({entry(1, 2, "w"), entry(2, 3, "y")}, 0);
  EXPECT_FALSE(c.observe(view(1, Role::kFollower, 3, 0, a)));
  auto v = c.observe(view(2, Role::kFollower, 3, 0, b));
  ASSERT_TRUE(v);
  EXPECT_NE(v->find("Log Matching"), std::string::npos) << *v;
}

TEST(SafetyChecker, CatchesALeaderWithoutACommittedEntry) {  // Leader Completeness
  SafetyChecker c;
  RaftLog a = log_of({entry(1, 1, "x"), entry(2, 1, "y")}, 2);
  EXPECT_FALSE(c.observe(view(1, Role::kLeader, 1, 1, a)));
  RaftLog b = log_of({entry(1, 1, "x")}, 1);
  auto v = c.observe(view(2, Role::kLeader, 2, 2, b));
  ASSERT_TRUE(v);
  EXPECT_NE(v->find("Leader Completeness"), std::string::npos) << *v;
}

TEST(SafetyChecker, ALeaderOfAnOlderTermNeedNotHoldWhatALaterTermCommitted) {
  // The model checker's path at depth 16: node 1, candidate in term 1, counts node 2's
  // vote of term 1 after node 2 led term 2 and committed its no-op at index 1.
  SafetyChecker c;
  RaftLog a = log_of({entry(1, 2, "noop")}, 1);
  EXPECT_FALSE(c.observe(view(2, Role::kLeader, 2, 2, a)));
  RaftLog b = log_of({}, 0);
  EXPECT_FALSE(c.observe(view(1, Role::kLeader, 1, 1, b)));
  // A leader of term 3 without it is caught.
  RaftLog d = log_of({}, 0);
  auto v = c.observe(view(3, Role::kLeader, 3, 3, d));
  ASSERT_TRUE(v);
  EXPECT_NE(v->find("Leader Completeness"), std::string::npos) << *v;
}

TEST(SafetyChecker, CatchesALeaderRewritingItsLog) {  // Leader Append-Only
  SafetyChecker c;
  RaftLog a = log_of({entry(1, 1, "x"), entry(2, 1, "y")}, 0);
  EXPECT_FALSE(c.observe(view(1, Role::kLeader, 1, 1, a)));
  RaftLog a2 = log_of({entry(1, 1, "x"), entry(2, 1, "changed")}, 0);
  auto v = c.observe(view(1, Role::kLeader, 1, 1, a2));
  ASSERT_TRUE(v);
  EXPECT_NE(v->find("Leader Append-Only"), std::string::npos) << *v;
}

TEST(SafetyChecker, CatchesTwoDifferentCommittedEntriesAtOneIndex) {  // State Machine Safety
  SafetyChecker c;
  RaftLog a = log_of({entry(1, 1, "x")}, 1);
  RaftLog b = log_of({entry(1, 2, "y")}, 1);
  EXPECT_FALSE(c.observe(view(1, Role::kFollower, 2, 0, a)));
  auto v = c.observe(view(2, Role::kFollower, 2, 0, b));
  ASSERT_TRUE(v);
  EXPECT_NE(v->find("State Machine Safety"), std::string::npos) << *v;
}

TEST(SafetyChecker, CatchesTwoDifferentAppliedEntriesAtOneIndex) {  // State Machine Safety
  SafetyChecker c;
  EXPECT_FALSE(c.on_apply(NodeId(1), entry(1, 1, "x")));
  auto v = c.on_apply(NodeId(2), entry(1, 1, "y"));
  ASSERT_TRUE(v);
  EXPECT_NE(v->find("State Machine Safety"), std::string::npos) << *v;
}

TEST(SafetyChecker, CatchesAppliesOutOfOrder) {
  SafetyChecker c;
  EXPECT_TRUE(c.on_apply(NodeId(1), entry(2, 1, "x")));
}

TEST(SafetyChecker, CatchesATermGoingBackwards) {
  SafetyChecker c;
  RaftLog l = log_of({}, 0);
  EXPECT_FALSE(c.observe(view(1, Role::kFollower, 5, 0, l)));
  EXPECT_TRUE(c.observe(view(1, Role::kFollower, 4, 0, l)));
}

TEST(SafetyChecker, CatchesTwoVotesInOneTerm) {
  SafetyChecker c;
  RaftLog l = log_of({}, 0);
  EXPECT_FALSE(c.observe(view(1, Role::kFollower, 5, 2, l)));
  EXPECT_TRUE(c.observe(view(1, Role::kFollower, 5, 3, l)));
}

TEST(SafetyChecker, CatchesADurableVoteChangingWithinATerm) {
  SafetyChecker c;
  raft::HardState before{Term(3), NodeId(2), LogIndex()};
  EXPECT_FALSE(c.on_durable_hard_state(NodeId(1), before, {Term(3), NodeId(2), LogIndex(1)}));
  EXPECT_TRUE(c.on_durable_hard_state(NodeId(1), before, {Term(3), NodeId(3), LogIndex()}));
  EXPECT_TRUE(c.on_durable_hard_state(NodeId(1), before, {Term(2), NodeId(), LogIndex()}));
}

TEST(SafetyChecker, CatchesACommitIndexGoingBackwards) {
  SafetyChecker c;
  RaftLog a = log_of({entry(1, 1, "x"), entry(2, 1, "y")}, 2);
  RaftLog b = log_of({entry(1, 1, "x"), entry(2, 1, "y")}, 1);
  EXPECT_FALSE(c.observe(view(1, Role::kFollower, 1, 0, a)));
  EXPECT_TRUE(c.observe(view(1, Role::kFollower, 1, 0, b)));
}

}  // namespace
}  // namespace sim
