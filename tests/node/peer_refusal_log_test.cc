// The peer transport's log of refused peers, over real gRPC on 127.0.0.1: a member of
// another cluster that keeps reconnecting is refused every time but logged once per
// period, with the peer and the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "log/log_file_fixture.h"
#include "transport/grpc_transport.h"

namespace transport {
namespace {

class NullHandler : public Handler {
 public:
  void on_message(raft::Message, std::string) override {}
  void on_proposal(raft::NodeId, std::string) override {}
  void on_refusal(uint64_t, absl::Status) override {}
  void on_forward(raft::NodeId, std::string, std::chrono::milliseconds,
                  ForwardCallback done) override {
    done(absl::UnavailableError("not in this test"));
  }
};

TEST(PeerRefusalLog, APeerOfAnotherClusterIsLoggedOncePerPeriodNotOncePerAttempt) {
  const raftlog_test::LogFile log("peer-refusal", "a");
  ASSERT_TRUE(log.ok());
  NullHandler ha, hb;
  GrpcTransport a(GrpcTransportOptions{
      .self = raft::NodeId(1), .cluster_id = 111, .listen_address = "127.0.0.1:0"});
  GrpcTransport b(GrpcTransportOptions{
      .self = raft::NodeId(2), .cluster_id = 222, .listen_address = "127.0.0.1:0"});
  absl::StatusOr<int> port = a.start(&ha);
  ASSERT_TRUE(port.ok()) << port.status();
  ASSERT_TRUE(b.start(&hb).ok());
  b.set_peer(raft::NodeId(1), "127.0.0.1:" + std::to_string(*port));

  // b keeps sending (each refusal closes its stream; it reconnects with a backoff of at
  // most 1 s) until a has refused at least four streams. Bounded in time and rounds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int round = 0; round < 3000 && a.stats().refused < 4; ++round) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "a refused " << a.stats().refused;
    b.send({raft::Message{.from = raft::NodeId(2),
                          .to = raft::NodeId(1),
                          .term = raft::Term(1),
                          .body = raft::Heartbeat{}}});
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the send rate, not a wait
  }
  ASSERT_GE(a.stats().refused, 4u);
  b.stop();
  a.stop();

  const std::vector<std::string> refused = log.lines_with(R"("msg":"refused peer stream")");
  ASSERT_EQ(refused.size(), 1u) << "one line per peer and 10 s, not one per attempt";
  EXPECT_NE(refused[0].find(R"("level":"warn")"), std::string::npos) << refused[0];
  EXPECT_NE(
      refused[0].find(R"("name":"a","peer":"0000000000000002","reason":"cluster-id mismatch")"),
      std::string::npos)
      << refused[0];
}

}  // namespace
}  // namespace transport
