// Unit tests of the consensus core, each named after the rule it proves, with the
// section of the Raft paper or thesis the rule comes from.
#include "raft/raft.h"

#include <gtest/gtest.h>

#include <map>

#include "raft/raft_core.h"
#include "test_cluster.h"

namespace raft {
namespace {

using testing::test_config;
using testing::TestCluster;
using testing::voters;

// Drives a lone node through its Ready cycle, as a runtime would.
std::vector<Entry> drain(Raft& r, std::vector<Message>* sent = nullptr) {
  std::vector<Entry> applied;
  while (r.has_ready()) {
    Ready rd = r.ready();
    if (sent) {
      for (auto& m : rd.messages) sent->push_back(m);
      for (auto& m : rd.persisted_messages) sent->push_back(m);
    }
    for (auto& e : rd.committed_entries) applied.push_back(e);
    r.advance();
  }
  return applied;
}

void tick_until_not_follower(Raft& r) {
  for (int i = 0; i < 100 && r.role() == Role::kFollower; ++i) r.tick();
}

Message msg(uint64_t from, uint64_t to, uint64_t term, MessageBody body) {
  return Message{NodeId(from), NodeId(to), Term(term), std::move(body)};
}

// Makes node 1 of {1,2,3} leader by answering its vote requests by hand.
void make_leader(Raft& r) {
  tick_until_not_follower(r);
  drain(r);
  if (r.role() == Role::kPreCandidate) {
    r.step(msg(2, 1, r.term().value() + 1, VoteResponse{true, true}));
    drain(r);
  }
  ASSERT_EQ(r.role(), Role::kCandidate);
  r.step(msg(2, 1, r.term().value(), VoteResponse{false, true}));
  ASSERT_EQ(r.role(), Role::kLeader);
}

TEST(Config, RejectsTimeoutsOutOfOrderNamingTheValues) {
  EXPECT_EQ(validate(Timeouts{0, 10, 20}).message(), "heartbeat_ticks is 0; it must be at least 1");
  EXPECT_EQ(validate(Timeouts{5, 5, 20}).message(),
            "election_min_ticks 5 must be greater than heartbeat_ticks 5");
  EXPECT_EQ(validate(Timeouts{1, 10, 10}).message(),
            "election_max_ticks 10 must be greater than election_min_ticks 10");
  EXPECT_TRUE(validate(Timeouts{1, 10, 11}).is_ok());
  Config c;
  EXPECT_EQ(validate(c).code(), ErrorCode::kInvalidArgument);  // id 0
  c.id = NodeId(1);
  EXPECT_TRUE(validate(c).is_ok());
}

TEST(Election, TimeoutIsRandomizedWithinMinMax) {  // paper 5.2
  std::set<int> seen;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Raft r(test_config(1, seed), voters({1, 2, 3}));
    int ticks = 0;
    while (r.role() == Role::kFollower && ticks < 100) {
      r.tick();
      ++ticks;
    }
    EXPECT_GE(ticks, 10);
    EXPECT_LT(ticks, 20);
    seen.insert(ticks);
  }
  EXPECT_GT(seen.size(), 5u) << "timeouts are not spread over the range";
}

TEST(Election, SingleNodeElectsItselfAndCommitsThroughTheLog) {  // no local shortcut
  Raft r(test_config(1), voters({1}));
  tick_until_not_follower(r);
  // It won its own vote, but leads only once that vote is durable.
  ASSERT_EQ(r.role(), Role::kCandidate);
  Ready first = r.ready();
  ASSERT_TRUE(first.hard_state.has_value());
  EXPECT_EQ(first.hard_state->vote, NodeId(1));
  r.advance();
  ASSERT_EQ(r.role(), Role::kLeader);
  EXPECT_EQ(r.term(), Term(1));
  ProposeResult p = r.propose("hello");
  ASSERT_TRUE(p.error.is_ok());
  EXPECT_EQ(p.id.index, LogIndex(2));                   // after the leader's no-op
  EXPECT_EQ(core_of(r).log().committed(), LogIndex());  // nothing is durable yet
  std::vector<Entry> applied = drain(r);
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied[0].type, EntryType::kNoop);
  EXPECT_EQ(applied[1].data, "hello");
  EXPECT_EQ(r.status().applied, LogIndex(2));
}

TEST(Election, LeaderCountsItsOwnEntryOnlyOncePersisted) {  // thesis 10.2.1
  Raft r(test_config(1), voters({1}));
  tick_until_not_follower(r);
  r.ready();
  r.advance();  // the vote is durable: now it leads
  ASSERT_EQ(r.role(), Role::kLeader);
  Ready rd = r.ready();
  ASSERT_EQ(rd.entries.size(), 1u);  // the no-op, to persist
  EXPECT_TRUE(rd.committed_entries.empty());
  EXPECT_EQ(core_of(r).log().committed(), LogIndex());
  r.advance();
  EXPECT_EQ(core_of(r).log().committed(), LogIndex(1));
}

TEST(Election, NewLeaderAppendsANoopOfItsTerm) {  // paper 5.4.2, thesis 6.4
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  const Entry& last = core_of(c.node(1)).log().at(core_of(c.node(1)).log().last_index());
  EXPECT_EQ(last.type, EntryType::kNoop);
  EXPECT_EQ(last.term, c.node(1).term());
  EXPECT_EQ(core_of(c.node(2)).log().committed(), LogIndex(1));  // followers learn of its commit
}

TEST(Election, AtMostOneVotePerTerm) {  // paper 5.2
  Raft r(test_config(1), voters({1, 2, 3}));
  r.step(msg(2, 1, 5, RequestVote{false, {}, false}));
  std::vector<Message> sent;
  drain(r, &sent);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(std::get<VoteResponse>(sent[0].body).granted);
  EXPECT_EQ(r.vote(), NodeId(2));
  sent.clear();
  r.step(msg(3, 1, 5, RequestVote{false, {}, false}));
  drain(r, &sent);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(std::get<VoteResponse>(sent[0].body).granted);
  EXPECT_EQ(r.vote(), NodeId(2));
}

TEST(Election, VoteDeniedToACandidateWithAStaleLog) {  // paper 5.4.1
  Restored restored{{Term(2), kNoNode, LogIndex()},
                    {},
                    {Entry{Term(1), LogIndex(1), EntryType::kNormal, "a"},
                     Entry{Term(2), LogIndex(2), EntryType::kNormal, "b"}}};
  Raft r(test_config(1), voters({1, 2, 3}), restored);
  std::vector<Message> sent;
  // Lower last term: denied, even with a longer log.
  r.step(msg(2, 1, 3, RequestVote{false, {Term(1), LogIndex(9)}, false}));
  drain(r, &sent);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(std::get<VoteResponse>(sent[0].body).granted);
  // Same last term, shorter log: denied.
  sent.clear();
  r.step(msg(3, 1, 4, RequestVote{false, {Term(2), LogIndex(1)}, false}));
  drain(r, &sent);
  EXPECT_FALSE(std::get<VoteResponse>(sent[0].body).granted);
  // Same last term, same length: granted.
  sent.clear();
  r.step(msg(3, 1, 5, RequestVote{false, {Term(2), LogIndex(2)}, false}));
  drain(r, &sent);
  EXPECT_TRUE(std::get<VoteResponse>(sent[0].body).granted);
}

TEST(Election, VoteGrantIsReleasedOnlyAfterItIsPersisted) {  // paper Figure 2
  Raft r(test_config(1), voters({1, 2, 3}));
  r.step(msg(2, 1, 1, RequestVote{false, {}, false}));
  Ready rd = r.ready();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->vote, NodeId(2));
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.persisted_messages.size(), 1u);
  EXPECT_TRUE(std::get<VoteResponse>(rd.persisted_messages[0].body).granted);
}

TEST(Election, AppendAcknowledgementIsReleasedOnlyAfterPersist) {  // paper Figure 2
  Raft r(test_config(2), voters({1, 2, 3}));
  r.step(
      msg(1, 2, 1, AppendEntries{{}, {Entry{Term(1), LogIndex(1), EntryType::kNormal, "x"}}, {}}));
  Ready rd = r.ready();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_EQ(rd.persisted_messages.size(), 1u);
  EXPECT_EQ(std::get<AppendResponse>(rd.persisted_messages[0].body).match, LogIndex(1));
}

TEST(PreVote, PartitionedNodeDoesNotRaiseItsTerm) {  // thesis 9.6
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  const Term term = c.node(1).term();
  c.isolate(3);
  for (int i = 0; i < 200; ++i) {
    c.node(3).tick();
    c.settle();
  }
  EXPECT_EQ(c.node(3).term(), term);
  c.heal();
  c.tick_all(30);
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
  EXPECT_EQ(c.node(1).term(), term);
}

TEST(PreVote, WithoutPreVoteARejoiningNodeDisruptsTheLeader) {  // why 9.6 exists
  auto no_prevote = [](uint64_t id, uint64_t seed) {
    Config c = test_config(id, seed);
    c.pre_vote = false;
    c.check_quorum = false;
    return c;
  };
  TestCluster c(3, no_prevote);
  ASSERT_TRUE(c.elect(1));
  const Term term = c.node(1).term();
  c.isolate(3);
  for (int i = 0; i < 100; ++i) c.node(3).tick();
  c.settle();
  EXPECT_GT(c.node(3).term(), term);
  c.heal();
  c.tick_all(25);
  EXPECT_GT(c.node(1).term(), term);  // the healthy leader was deposed
}

TEST(CheckQuorum, LeaderStepsDownWithoutQuorum) {  // thesis 6.2
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.isolate(1);
  for (int i = 0; i < 25 && c.node(1).role() == Role::kLeader; ++i) {
    c.node(1).tick();
    c.settle();
  }
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  EXPECT_EQ(c.node(1).leader(), kNoNode);
}

TEST(CheckQuorum, LeaderWithQuorumStaysLeader) {  // thesis 6.2
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.cut(1, 3);  // 1 still hears from 2: a quorum of {1, 2}
  for (int i = 0; i < 60; ++i) {
    c.node(1).tick();
    c.settle();
  }
  EXPECT_EQ(c.node(1).role(), Role::kLeader);
}

TEST(CheckQuorum, VoteRequestsIgnoredWhileALeaderIsKnown) {  // thesis 4.2.3
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  const Term term = c.node(2).term();
  c.node(2).step(
      msg(3, 2, term.value() + 5, RequestVote{false, core_of(c.node(2)).log().last_id(), false}));
  EXPECT_EQ(c.node(2).term(), term);
  EXPECT_EQ(c.node(2).drops().vote_in_lease, 1u);
  // A leadership transfer overrides the lease.
  c.node(2).step(
      msg(3, 2, term.value() + 5, RequestVote{false, core_of(c.node(2)).log().last_id(), true}));
  EXPECT_EQ(c.node(2).term(), term + 5);
}

TEST(Proposal, FollowerRefusesAndNamesTheLeader) {  // no local fallback
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  ProposeResult p = c.node(2).propose("x");
  EXPECT_EQ(p.error.code(), ErrorCode::kNotLeader);
  EXPECT_EQ(p.error.leader(), NodeId(1));
  EXPECT_EQ(p.error.message(), "node 2 is not the leader; the leader is node 1");
  Raft lone(test_config(1), voters({1, 2, 3}));
  EXPECT_EQ(lone.propose("x").error.message(),
            "node 1 is not the leader; no leader is known in term 0");
}

TEST(Replication, CommittedEntriesReachEveryNodeInOrder) {  // paper 5.3
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.node(1).propose("e" + std::to_string(i)).error.is_ok());
  c.settle();
  c.tick_all(2);  // heartbeats carry the final commit index
  for (uint64_t id : {1, 2, 3}) {
    const auto& applied = c.applied(id);
    ASSERT_EQ(applied.size(), 6u) << "node " << id;
    for (int i = 0; i < 5; ++i) EXPECT_EQ(applied[i + 1].data, "e" + std::to_string(i));
  }
}

TEST(Replication, ProposalsBeforeAReadyShareOneAppendEntries) {  // batching
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  Raft& l = c.node(1);
  for (int i = 0; i < 10; ++i) l.propose("p" + std::to_string(i));
  Ready rd = l.ready();
  int appends = 0;
  for (const Message& m : rd.messages) {
    if (const auto* ae = std::get_if<AppendEntries>(&m.body)) {
      ++appends;
      EXPECT_EQ(ae->entries.size(), 10u);
    }
  }
  EXPECT_EQ(appends, 2);  // one per follower
  l.advance();
}

TEST(Replication, PipelineStopsAtMaxInflightMessages) {  // flow control
  auto small = [](uint64_t id, uint64_t seed) {
    Config c = test_config(id, seed);
    c.max_inflight_msgs = 2;
    return c;
  };
  TestCluster c(3, small);
  ASSERT_TRUE(c.elect(1));  // followers are now in the replicate state
  Raft& l = c.node(1);
  int appends_to_2 = 0;
  for (int i = 0; i < 5; ++i) {
    l.propose("p" + std::to_string(i));
    Ready rd = l.ready();
    for (const Message& m : rd.messages)
      if (m.to == NodeId(2) && std::holds_alternative<AppendEntries>(m.body)) ++appends_to_2;
    l.advance();
  }
  EXPECT_EQ(appends_to_2, 2);
  NodeStatus s = l.status();
  for (const PeerStatus& p : s.peers) {
    if (p.id == NodeId(2)) {
      EXPECT_EQ(p.state, ProgressState::kReplicate);
    }
  }
}

// With one append in flight per follower, the commit broadcast that follows the first
// acknowledgement skips the follower whose append is still out; its own acknowledgement
// must then bring it the commit, not the next heartbeat (which, on a real server, left it
// applying up to a heartbeat interval late and serving stale local reads meanwhile).
TEST(Replication, AFollowerHeldBackByFlowControlLearnsTheCommitWithItsAck) {
  auto one = [](uint64_t id, uint64_t seed) {
    Config c = test_config(id, seed);
    c.max_inflight_msgs = 1;
    return c;
  };
  TestCluster c(3, one);
  ASSERT_TRUE(c.elect(1));
  Raft& l = c.node(1);
  l.propose("x");
  std::vector<Message> appends;
  drain(l, &appends);
  std::map<NodeId, Message> ack;
  for (Message& m : appends) {
    if (!std::holds_alternative<AppendEntries>(m.body)) continue;
    const NodeId to = m.to;
    c.node(to.value()).step(std::move(m));
    std::vector<Message> answer;
    drain(c.node(to.value()), &answer);
    ASSERT_EQ(answer.size(), 1u);
    ack.emplace(to, std::move(answer[0]));
  }
  ASSERT_EQ(ack.size(), 2u);
  l.step(std::move(ack.at(NodeId(2))));  // commits "x"
  std::vector<Message> after_first;
  drain(l, &after_first);
  const LogIndex commit = l.status().commit;
  ASSERT_EQ(commit, l.status().last_index);
  for (const Message& m : after_first) EXPECT_NE(m.to, NodeId(3)) << "flow control let it out";
  l.step(std::move(ack.at(NodeId(3))));
  std::vector<Message> after_second;
  drain(l, &after_second);
  int told = 0;
  for (const Message& m : after_second) {
    const auto* ae = std::get_if<AppendEntries>(&m.body);
    if (m.to == NodeId(3) && ae != nullptr && ae->commit == commit) ++told;
  }
  EXPECT_EQ(told, 1);
}

TEST(Replication, ProbeSendsOneMessageUntilAnswered) {  // flow control
  Raft l(test_config(1), voters({1, 2, 3}));
  make_leader(l);
  std::vector<Message> sent;
  drain(l, &sent);
  l.propose("a");
  l.propose("b");
  sent.clear();
  drain(l, &sent);
  for (const Message& m : sent) EXPECT_NE(m.to, NodeId(2)) << "a second probe went out";
}

TEST(Replication, ConflictHintSkipsATermAtATime) {  // paper 5.3, thesis 5.3 optimization
  // The leader holds 40 entries of term 3; node 2 holds 50 entries of term 2 that
  // the leader never had. Without the hint the leader would back off 40 times.
  std::vector<Entry> leader_log{Entry{Term(1), LogIndex(1), EntryType::kNormal, "a"}};
  for (uint64_t i = 2; i <= 41; ++i) {
    leader_log.push_back(Entry{Term(3), LogIndex(i), EntryType::kNormal, "new"});
  }
  std::vector<Entry> stale{Entry{Term(1), LogIndex(1), EntryType::kNormal, "a"}};
  for (uint64_t i = 2; i <= 51; ++i) {
    stale.push_back(Entry{Term(2), LogIndex(i), EntryType::kNormal, "old"});
  }
  Raft follower(test_config(2), voters({1, 2, 3}),
                Restored{{Term(2), kNoNode, LogIndex(1)}, {}, stale});
  Raft leader(test_config(1), voters({1, 2, 3}),
              Restored{{Term(3), kNoNode, LogIndex(1)}, {}, leader_log});
  make_leader(leader);  // term 4, no-op at index 42
  int rejections = 0;
  for (int round = 0; round < 100; ++round) {
    std::vector<Message> out;
    drain(leader, &out);
    std::vector<Message> back;
    for (Message& m : out) {
      if (m.to == NodeId(2)) follower.step(std::move(m));
    }
    drain(follower, &back);
    for (Message& m : back) {
      if (const auto* ar = std::get_if<AppendResponse>(&m.body); ar && !ar->success) ++rejections;
      leader.step(std::move(m));
    }
    if (back.empty()) break;
  }
  EXPECT_EQ(core_of(follower).log().last_index(), LogIndex(42));
  EXPECT_EQ(core_of(follower).log().term(LogIndex(2)), Term(3));
  EXPECT_EQ(core_of(follower).log().term(LogIndex(42)), Term(4));
  EXPECT_EQ(rejections, 1) << "the leader did not skip the follower's term 2 in one step";
}

TEST(Commit, OnlyEntriesOfTheCurrentTermCommitByCounting) {  // paper 5.4.2, Figure 8
  Restored restored{{Term(2), kNoNode, LogIndex()},
                    {},
                    {Entry{Term(1), LogIndex(1), EntryType::kNormal, "a"},
                     Entry{Term(2), LogIndex(2), EntryType::kNormal, "b"}}};
  Raft l(test_config(1), voters({1, 2, 3}), restored);
  make_leader(l);  // term 3, no-op at index 3
  drain(l);
  // A majority (1 and 2) holds index 2, of term 2: not enough.
  l.step(msg(2, 1, 3, AppendResponse{true, LogIndex(2), {}, {}}));
  EXPECT_EQ(core_of(l).log().committed(), LogIndex());
  // Once the no-op of term 3 is on a majority, everything before it commits.
  l.step(msg(2, 1, 3, AppendResponse{true, LogIndex(3), {}, {}}));
  EXPECT_EQ(core_of(l).log().committed(), LogIndex(3));
}

TEST(Commit, HeartbeatCarriesCommitUpToTheFollowersMatch) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.cut(1, 3);
  c.node(1).propose("x");
  c.settle();
  EXPECT_EQ(core_of(c.node(1)).log().committed(), LogIndex(2));
  c.heal();
  c.node(1).tick();  // heartbeat: node 3 has match 1 and must not commit beyond it
  Ready rd = c.node(1).ready();
  for (const Message& m : rd.messages) {
    if (const auto* hb = std::get_if<Heartbeat>(&m.body)) {
      EXPECT_EQ(hb->commit, m.to == NodeId(3) ? LogIndex(1) : LogIndex(2));
    }
  }
  c.node(1).advance();
}

TEST(BadInput, MalformedAppendIsDroppedAndCounted) {
  Raft r(test_config(2), voters({1, 2, 3}));
  // Entries that skip an index.
  r.step(msg(1, 2, 1,
             AppendEntries{{},
                           {Entry{Term(1), LogIndex(1), EntryType::kNormal, "a"},
                            Entry{Term(1), LogIndex(3), EntryType::kNormal, "c"}},
                           {}}));
  // An entry from a later term than the message's.
  r.step(
      msg(1, 2, 1, AppendEntries{{}, {Entry{Term(7), LogIndex(1), EntryType::kNormal, "a"}}, {}}));
  EXPECT_EQ(r.drops().malformed, 2u);
  EXPECT_EQ(core_of(r).log().last_index(), LogIndex());
  r.step(msg(1, 3, 1, Heartbeat{}));  // addressed to someone else
  r.step(msg(2, 2, 1, Heartbeat{}));  // from itself
  EXPECT_EQ(r.drops().wrong_recipient, 2u);
}

TEST(BadInput, StaleLeaderLearnsTheNewTermAndStepsDown) {  // paper 5.1
  // Without CheckQuorum the isolated leader does not step down by itself.
  auto no_check_quorum = [](uint64_t id, uint64_t seed) {
    Config c = test_config(id, seed);
    c.check_quorum = false;
    return c;
  };
  TestCluster c(3, no_check_quorum);
  ASSERT_TRUE(c.elect(1));
  c.isolate(1);
  // Nodes 2 and 3 stop hearing from 1; once their lease lapses they elect one of
  // themselves.
  for (int i = 0; i < 100 && c.node(2).role() != Role::kLeader && c.node(3).role() != Role::kLeader;
       ++i) {
    c.node(2).tick();
    c.node(3).tick();
    c.settle();
  }
  ASSERT_TRUE(c.node(2).role() == Role::kLeader || c.node(3).role() == Role::kLeader);
  c.heal();
  EXPECT_EQ(c.node(1).role(), Role::kLeader);  // it has not heard yet
  c.node(1).tick();
  c.settle();
  EXPECT_EQ(c.node(1).role(), Role::kFollower);
  EXPECT_EQ(c.node(1).term(), c.node(2).term());
}

TEST(Election, AOneVoterCandidateLeadsOnlyOnceItsVoteIsDurable) {  // paper Figure 2
  // Otherwise a crash could forget term 1, and a second leader of term 1 (the same
  // node, restarted) would write a different entry at the same index and term.
  Membership m = voters({1});
  m.learners.insert(NodeId(2));
  Raft r(test_config(1), m);
  for (int i = 0; i < 100 && r.role() == Role::kFollower; ++i) r.tick();
  ASSERT_EQ(r.role(), Role::kCandidate);
  Ready rd = r.ready();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, Term(1));
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_TRUE(rd.messages.empty());
  r.advance();
  ASSERT_EQ(r.role(), Role::kLeader);
  Ready next = r.ready();
  ASSERT_EQ(next.entries.size(), 1u);
  bool append = false;
  for (const Message& msg : next.messages)
    append |= std::holds_alternative<AppendEntries>(msg.body);
  EXPECT_TRUE(append) << "with its term durable the leader replicates at once";
  r.advance();
}

TEST(Limits, UncommittedBytesLimitDropsProposals) {
  auto tight = [](uint64_t id, uint64_t seed) {
    Config c = test_config(id, seed);
    c.max_uncommitted_bytes = 10;
    return c;
  };
  TestCluster c(3, tight);
  ASSERT_TRUE(c.elect(1));
  c.isolate(1);
  EXPECT_TRUE(c.node(1).propose("123456").error.is_ok());
  ProposeResult p = c.node(1).propose("123456");
  EXPECT_EQ(p.error.code(), ErrorCode::kOverloaded);
  EXPECT_NE(p.error.message().find("limit is 10"), std::string::npos);
}

TEST(Status, LeaderReportsEachFollowersProgress) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.node(1).propose("x");
  c.settle();
  NodeStatus s = c.node(1).status();
  EXPECT_EQ(s.role, Role::kLeader);
  EXPECT_EQ(s.leader, NodeId(1));
  EXPECT_EQ(s.commit, LogIndex(2));
  ASSERT_EQ(s.peers.size(), 3u);
  for (const PeerStatus& p : s.peers) {
    EXPECT_EQ(p.match, LogIndex(2));
    EXPECT_EQ(p.next, LogIndex(3));
  }
  EXPECT_TRUE(c.node(2).status().peers.empty());
}

}  // namespace
}  // namespace raft
