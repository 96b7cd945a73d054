// A sender reaches a peer that was down as soon as the peer is back, whatever gRPC's own
// reconnect timer does. Debian's abseil times gRPC's waits by the wall clock, so a member
// whose clock was stepped back (or, in the chaos runs, moved by libfaketime) could have
// that timer held back for the size of the step: its peer streams, once broken, never
// came back. Here gRPC's reconnect backoff is ten minutes, which is what such a stalled
// timer looks like from outside; real gRPC on 127.0.0.1.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "node/null_handler.h"
#include "transport/grpc_transport.h"

namespace transport {
namespace {

class CountingHandler : public NullHandler {
 public:
  void on_message(raft::Message, std::shared_ptr<const SnapshotSource>) override { ++messages; }
  bool is_member(raft::NodeId) override { return true; }
  std::atomic<int> messages{0};
};

raft::Message heartbeat() {
  return raft::Message{.from = raft::NodeId(2),
                       .to = raft::NodeId(1),
                       .term = raft::Term(1),
                       .body = raft::Heartbeat{}};
}

// Sends a heartbeat every 20 ms until `to` has received one; false after `limit`.
bool delivered_within(GrpcTransport& from, const CountingHandler& to, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int round = 0; round < 5000 && std::chrono::steady_clock::now() < deadline; ++round) {
    if (to.messages.load() > 0) return true;
    from.send({heartbeat()});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the send rate
  }
  return to.messages.load() > 0;
}

TEST(PeerReconnect, APeerThatWasDownIsReachedWithoutWaitingForGrpcsReconnectTimer) {
  CountingHandler first, second, sender_handler;
  // The peer listens once, to learn a port that is free, and stops.
  auto peer = std::make_unique<GrpcTransport>(GrpcTransportOptions{
      .self = raft::NodeId(1), .cluster_id = 7, .listen_address = "127.0.0.1:0"});
  absl::StatusOr<int> port = peer->start(&first);
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string address = "127.0.0.1:" + std::to_string(*port);

  GrpcTransport sender(
      GrpcTransportOptions{.self = raft::NodeId(2),
                           .cluster_id = 7,
                           .listen_address = "127.0.0.1:0",
                           .grpc_initial_reconnect_backoff = std::chrono::minutes(10),
                           .grpc_max_reconnect_backoff = std::chrono::minutes(10)});
  ASSERT_TRUE(sender.start(&sender_handler).ok());
  sender.set_peer(raft::NodeId(1), address);
  ASSERT_TRUE(delivered_within(sender, first, std::chrono::seconds(20)));

  // The peer goes away: the sender's stream breaks, and its redials are refused, so gRPC
  // would next dial after its ten-minute backoff.
  peer->stop();
  peer.reset();
  const uint64_t opened = sender.stats().reconnects;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int round = 0; round < 1000 && sender.stats().reconnects < opened + 3; ++round) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    sender.send({heartbeat()});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // Back on the same address: the sender reaches it within its own backoff (at most 1 s a
  // try), not gRPC's.
  GrpcTransport again(
      GrpcTransportOptions{.self = raft::NodeId(1), .cluster_id = 7, .listen_address = address});
  ASSERT_TRUE(again.start(&second).ok()) << "port " << *port << " taken meanwhile";
  EXPECT_TRUE(delivered_within(sender, second, std::chrono::seconds(15)))
      << "the sender waited for gRPC's reconnect timer";
  sender.stop();
  again.stop();
}

}  // namespace
}  // namespace transport
