// The peer transport on gRPC's callback API: a stream per peer costs no thread on either
// side (the synchronous API took a sender thread per peer and a receiving thread per
// stream), and what is sent to a peer arrives once each, in order, however the writes of
// the sending threads and the completions of earlier writes interleave. Real gRPC on
// 127.0.0.1.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "node/null_handler.h"
#include "node/peer_test_helpers.h"
#include "transport/grpc_transport.h"

namespace transport {
namespace {

int thread_count() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

// Keeps the commit index of every heartbeat that reaches it, in arrival order.
class RecordingHandler : public NullHandler {
 public:
  void on_message(raft::Message m, std::shared_ptr<const SnapshotSource>) override {
    if (const auto* hb = std::get_if<raft::Heartbeat>(&m.body)) {
      std::lock_guard<std::mutex> lock(mu_);
      commits_.push_back(hb->commit.value());
    }
  }
  bool is_member(raft::NodeId) override { return true; }
  std::vector<uint64_t> commits() {
    std::lock_guard<std::mutex> lock(mu_);
    return commits_;
  }

 private:
  std::mutex mu_;
  std::vector<uint64_t> commits_;
};

TEST(PeerStream, ManyPeersCostNoThreadEach) {
  RecordingHandler receiver_handler, sender_handler;
  GrpcTransport receiver(GrpcTransportOptions{
      .self = raft::NodeId(1), .cluster_id = 7, .listen_address = "127.0.0.1:0"});
  absl::StatusOr<int> port = receiver.start(&receiver_handler);
  ASSERT_TRUE(port.ok()) << port.status();
  GrpcTransport sender(GrpcTransportOptions{
      .self = raft::NodeId(2), .cluster_id = 7, .listen_address = "127.0.0.1:0"});
  ASSERT_TRUE(sender.start(&sender_handler).ok());
  // One peer first, so that gRPC's own pollers and the channel machinery are up.
  const std::string address = "127.0.0.1:" + std::to_string(*port);
  sender.set_peer(raft::NodeId(1), address);
  sender.send({heartbeat(raft::NodeId(1), 1)});
  ASSERT_TRUE(eventually([&] { return receiver_handler.commits().size() == 1; }));
  const int before = thread_count();
  // Thirty more peers, all at the receiver's address: thirty more streams each way.
  // Their messages are addressed to members the receiver is not, so it refuses each one;
  // a refusal means the stream carried a frame.
  constexpr int kPeers = 30;
  for (int i = 0; i < kPeers; ++i) sender.set_peer(raft::NodeId(100 + i), address);
  ASSERT_TRUE(eventually([&] {
    std::vector<raft::Message> round;
    for (int i = 0; i < kPeers; ++i) round.push_back(heartbeat(raft::NodeId(100 + i), 1));
    sender.send(std::move(round));
    return receiver.stats().refused >= static_cast<uint64_t>(kPeers) &&
           receiver.stats().reconnects == 0 && sender.stats().reconnects >= kPeers + 1;
  }));
  const int during = thread_count();
  // The synchronous API took a sender thread and a receiving thread per stream: 60 here.
  EXPECT_LT(during - before, kPeers / 2)
      << before << " threads before, " << during << " with " << kPeers << " more peers";
  sender.stop();
  receiver.stop();
}

TEST(PeerStream, WhatSeveralThreadsSendArrivesOnceEachInOrder) {
  RecordingHandler receiver_handler, sender_handler;
  GrpcTransport receiver(GrpcTransportOptions{
      .self = raft::NodeId(1), .cluster_id = 7, .listen_address = "127.0.0.1:0"});
  absl::StatusOr<int> port = receiver.start(&receiver_handler);
  ASSERT_TRUE(port.ok()) << port.status();
  // The stream alone (peer_lanes_test has the same with lanes).
  GrpcTransport sender(GrpcTransportOptions{.self = raft::NodeId(2),
                                            .cluster_id = 7,
                                            .listen_address = "127.0.0.1:0",
                                            .max_queue_messages = 1 << 20,
                                            .max_frame_bytes = 4096,
                                            .peer_lanes = false});
  ASSERT_TRUE(sender.start(&sender_handler).ok());
  sender.set_peer(raft::NodeId(1), "127.0.0.1:" + std::to_string(*port));
  sender.send({heartbeat(raft::NodeId(1), 0)});
  ASSERT_TRUE(eventually([&] { return receiver_handler.commits().size() == 1; }));
  // Two threads send in turns, small frames so that writes complete while others are
  // queued.
  constexpr uint64_t kMessages = 20'000;
  send_in_turns(sender, raft::NodeId(1), kMessages);
  ASSERT_TRUE(eventually([&] { return receiver_handler.commits().size() == kMessages + 1; }))
      << receiver_handler.commits().size() << " of " << kMessages + 1 << " arrived";
  const std::vector<uint64_t> got = receiver_handler.commits();
  for (uint64_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], i) << "at " << i;
  EXPECT_EQ(sender.stats().dropped, 0u);
  sender.stop();
  receiver.stop();
}

}  // namespace
}  // namespace transport

namespace transport {
namespace {

// A peer that is not listening: each stream fails, the sender retries after its backoff,
// and stopping ends every stream.
TEST(PeerStream, APeerThatIsDownIsRetriedUntilStopped) {
  RecordingHandler handler;
  GrpcTransport sender(GrpcTransportOptions{
      .self = raft::NodeId(2), .cluster_id = 7, .listen_address = "127.0.0.1:0"});
  absl::StatusOr<int> port = sender.start(&handler);
  ASSERT_TRUE(port.ok());
  // The peer's address: a port a transport listened on a moment ago and let go, so that
  // nothing answers there.
  int free_port = 0;
  {
    GrpcTransport probe(GrpcTransportOptions{
        .self = raft::NodeId(9), .cluster_id = 7, .listen_address = "127.0.0.1:0"});
    absl::StatusOr<int> p = probe.start(&handler);
    ASSERT_TRUE(p.ok());
    free_port = *p;
    probe.stop();
  }
  sender.set_peer(raft::NodeId(1), "127.0.0.1:" + std::to_string(free_port));
  ASSERT_TRUE(eventually([&] {
    sender.send({heartbeat(raft::NodeId(1), 1)});
    return sender.stats().reconnects >= 4;
  }));
  sender.stop();
}

}  // namespace
}  // namespace transport
