// What the apply thread logs, on a one-node RaftNode with real threads and WAL files: an
// apply above 100 ms is a warning naming its index and duration (etcd's "apply request
// took too long"), a fast one is not logged, and each local snapshot is logged with its
// index and size.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "log/log_file_fixture.h"
#include "node/raft_node.h"
#include "transport/local_transport.h"

namespace node {
namespace {

using std::chrono::milliseconds;

// Applies "slow" in 150 ms (a state machine stalled on something), anything else at once.
class SlowMachine : public StateMachine {
 public:
  std::string apply(raft::LogIndex, std::string_view command) override {
    if (command == "slow") std::this_thread::sleep_for(milliseconds(150));
    return "ok";
  }
  std::string snapshot() override { return "state"; }
  absl::Status restore(std::string_view) override { return absl::OkStatus(); }
};

TEST(ApplyLog, ASlowApplyIsAWarningWithItsIndexAndAFastOneIsNotLogged) {
  char pattern[] = "/tmp/raftkv-apply-log-XXXXXX";
  const std::filesystem::path dir = mkdtemp(pattern);
  const raftlog_test::LogFile log("apply-log", "n1");
  ASSERT_TRUE(log.ok());
  {
    SlowMachine sm;
    transport::LocalNetwork net;
    std::unique_ptr<transport::Transport> t = net.join(raft::NodeId(1));
    NodeConfig c;
    c.id = raft::NodeId(1);
    c.name = "n1";
    c.data_dir = (dir / "data").string();
    c.tick_ms = 5;
    c.timeouts = TimeoutsMs{20, 150, 300};
    c.snapshot_entries = 4;
    c.bootstrap.voters.insert(raft::NodeId(1));
    auto node = RaftNode::open(c, &sm, t.get());
    ASSERT_TRUE(node.ok()) << node.status();
    net.attach(raft::NodeId(1), node->get());
    (*node)->start();
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE((*node)->client_write("fast", milliseconds(10'000)).ok());
    }
    ASSERT_TRUE((*node)->client_write("slow", milliseconds(10'000)).ok());
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE((*node)->client_write("fast", milliseconds(10'000)).ok());
    }
    net.detach(raft::NodeId(1));
    (*node)->stop();
  }
  const std::vector<std::string> slow = log.lines_with(R"("msg":"apply request took too long")");
  ASSERT_EQ(slow.size(), 1u) << "only the slow command";
  EXPECT_NE(slow[0].find(R"({"level":"warn",)"), std::string::npos) << slow[0];
  EXPECT_NE(slow[0].find(R"("expected-duration":"100ms","index":)"), std::string::npos) << slow[0];
  // "took" is at least the 150 ms the apply slept, written as Go writes durations.
  const size_t at = slow[0].find(R"("took":")");
  ASSERT_NE(at, std::string::npos) << slow[0];
  const std::string took = slow[0].substr(at + 8, slow[0].find('"', at + 8) - at - 8);
  const bool in_ms = took.size() > 2 && took.substr(took.size() - 2) == "ms";
  const double ms = in_ms ? std::stod(took) : std::stod(took) * 1000;  // "1.2s" if stalled
  EXPECT_GE(ms, 150.0) << took;
  const std::vector<std::string> snapshots = log.lines_with(R"("msg":"took snapshot")");
  ASSERT_FALSE(snapshots.empty()) << "snapshot-entries 4 and 10 writes";
  EXPECT_NE(snapshots[0].find(R"("index":)"), std::string::npos) << snapshots[0];
  EXPECT_NE(snapshots[0].find(R"("bytes":5,)"), std::string::npos) << snapshots[0];
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace node
