// CoreEvents: what the runtime logs of the core, observed between rounds of an in-memory
// cluster of real cores: pre-vote, election, leadership, leader changes, a learner added
// and promoted, a member removed, new timeouts, stepping down; each once, and nothing
// for a round that changed nothing.
#include "node/core_events.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../raft/test_cluster.h"
#include "log/log.h"

namespace node {
namespace {

using raft::testing::TestCluster;

class CoreEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("raftkv-core-events-" + std::to_string(::getpid()) + ".log");
    std::filesystem::remove(path_);
  }
  void TearDown() override {
    raftlog::reset();
    std::filesystem::remove(path_);
  }

  // Observes `core` with its member's name on the lines.
  void observe(CoreEvents& events, const raft::Raft& core, const std::string& name) {
    ASSERT_TRUE(
        raftlog::init(
            {.level = raftlog::Level::kInfo, .outputs = {path_.string()}, .member_name = name})
            .ok());
    events.observe(core);
  }

  // The messages `name` logged, in order.
  std::vector<std::string> logged(const std::string& name) {
    std::vector<std::string> out;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"name\":\"" + name + "\"") == std::string::npos) continue;
      const size_t msg = line.find("\"msg\":\"") + 7;
      out.push_back(line.substr(msg, line.find('"', msg) - msg));
    }
    return out;
  }
  std::string whole_log() {
    std::ifstream in(path_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path path_;
};

TEST_F(CoreEventsTest, LogsEachElectionStepAndTheLeaderOnce) {
  TestCluster c(3);
  CoreEvents e1(c.node(1), 10), e2(c.node(2), 10);
  // One message round at a time, so each role the candidate passes through is seen.
  for (int i = 0; i < 200 && c.node(1).role() != raft::Role::kLeader; ++i) {
    c.node(1).tick();
    c.settle(1);
    observe(e1, c.node(1), "n1");
    observe(e2, c.node(2), "n2");
  }
  ASSERT_EQ(c.node(1).role(), raft::Role::kLeader);
  c.settle();
  observe(e1, c.node(1), "n1");
  observe(e2, c.node(2), "n2");
  EXPECT_EQ(logged("n1"), (std::vector<std::string>{"starting pre-vote", "starting election",
                                                    "became leader", "leader changed"}));
  EXPECT_EQ(logged("n2"), (std::vector<std::string>{"leader changed"}));
  EXPECT_NE(whole_log().find(R"("msg":"became leader","name":"n1","term":1})"), std::string::npos)
      << whole_log();
  EXPECT_NE(whole_log().find(R"("msg":"leader changed","name":"n2","previous-leader":"none",)"
                             R"("leader":"0000000000000001","term":1})"),
            std::string::npos)
      << whole_log();
}

TEST_F(CoreEventsTest, LogsMembershipAndTimeoutChangesAndSteppingDown) {
  TestCluster c(4, &raft::testing::test_config, 3);  // node 4 starts outside
  ASSERT_TRUE(c.elect(1));
  CoreEvents e1(c.node(1), 10), e2(c.node(2), 10);
  observe(e1, c.node(1), "n1");
  EXPECT_EQ(logged("n1"), std::vector<std::string>{}) << "the state at start is no event";

  const std::set<raft::NodeId> three = {raft::NodeId(1), raft::NodeId(2), raft::NodeId(3)};
  ASSERT_TRUE(c.node(1).change_membership(three, {raft::NodeId(4)}).error.is_ok());
  c.settle();
  observe(e1, c.node(1), "n1");
  std::set<raft::NodeId> four = three;
  four.insert(raft::NodeId(4));
  ASSERT_TRUE(c.node(1).change_membership(four, {}).error.is_ok());
  c.settle();
  observe(e1, c.node(1), "n1");
  ASSERT_TRUE(c.node(1).remove_node(raft::NodeId(3)).error.is_ok());
  c.settle();
  observe(e1, c.node(1), "n1");
  ASSERT_TRUE(c.node(1).propose_timeouts({2, 12, 24}).error.is_ok());
  c.settle();
  observe(e1, c.node(1), "n1");
  observe(e1, c.node(1), "n1");  // nothing new: nothing logged
  EXPECT_EQ(logged("n1"), (std::vector<std::string>{"added learner", "promoted learner",
                                                    "removed member", "timeouts changed"}));
  const std::string log = whole_log();
  EXPECT_NE(log.find(R"("msg":"added learner","name":"n1","member-id":"0000000000000004",)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(R"("msg":"removed member","name":"n1","member-id":"0000000000000003",)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(R"("timeouts changed","name":"n1","heartbeat-ms":20,"election-min-ms":120,)"
                     R"("election-max-ms":240})"),
            std::string::npos)
      << log;

  observe(e2, c.node(2), "n2");  // e2 started after the election: it saw all but that
  ASSERT_TRUE(c.node(1).transfer_leadership(raft::NodeId(2)).is_ok());
  c.settle();
  ASSERT_EQ(c.node(2).role(), raft::Role::kLeader);
  observe(e1, c.node(1), "n1");
  observe(e2, c.node(2), "n2");
  const std::vector<std::string> n1 = logged("n1");
  EXPECT_EQ(std::vector<std::string>(n1.begin() + 4, n1.end()),
            (std::vector<std::string>{"stepped down", "leader changed"}));
  EXPECT_NE(whole_log().find(R"("msg":"leader changed","name":"n1",)"
                             R"("previous-leader":"0000000000000001","leader":"0000000000000002")"),
            std::string::npos)
      << whole_log();
}

}  // namespace
}  // namespace node
