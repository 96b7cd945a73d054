// The peer transport's refusals, over real gRPC on 127.0.0.1: a member of another
// cluster that keeps reconnecting is refused every time but logged once per period, with
// the peer and the reason; and what membership alone rules out on the plaintext peer
// port, forged by a raw client: a sender in no configuration, a stream that speaks for
// two members, a message claiming another sender than its stream, a forwarded request
// from a non-member. None of them reaches the node.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "log/log_file_fixture.h"
#include "node/null_handler.h"
#include "raftkv/peer.grpc.pb.h"
#include "transport/grpc_transport.h"

namespace transport {
namespace {

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

namespace pb = raftkv::peer;

// A node whose configuration is {1, 2}; counts what reaches it.
class MemberHandler : public NullHandler {
 public:
  void on_message(raft::Message m, std::shared_ptr<const transport::SnapshotSource>) override {
    std::lock_guard<std::mutex> lock(mu_);
    from_.push_back(m.from.value());
  }
  void on_forward(raft::NodeId, std::string, std::chrono::milliseconds,
                  ForwardCallback done) override {
    ++forwards_;
    done(std::string("done"));
  }
  bool is_member(raft::NodeId peer) override { return peer.value() == 1 || peer.value() == 2; }
  std::vector<uint64_t> delivered_from() {
    std::lock_guard<std::mutex> lock(mu_);
    return from_;
  }
  std::atomic<int> forwards_{0};

 private:
  std::mutex mu_;
  std::vector<uint64_t> from_;
};

pb::PeerFrame heartbeat_frame(uint64_t frame_from, uint64_t message_from, uint64_t to) {
  pb::PeerFrame f;
  f.set_cluster_id(7);
  f.set_from(frame_from);
  pb::Message* m = f.add_messages();
  m->set_from(message_from);
  m->set_to(to);
  m->set_term(99);
  m->mutable_heartbeat()->set_commit(0);
  return f;
}

// Sends `frames` on one stream; the status it ends with and why, if refused.
std::pair<grpc::Status, pb::StreamRefusal::Reason> stream(
    pb::Peer::Stub& stub, const std::vector<pb::PeerFrame>& frames) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::StreamAck ack;
  auto writer = stub.Stream(&ctx, &ack);
  for (const pb::PeerFrame& f : frames) {
    if (!writer->Write(f)) break;
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  pb::StreamRefusal why;
  if (!s.ok()) why.ParseFromString(s.error_details());
  return {s, why.reason()};
}

TEST(PeerIdentity, WhatMembershipRulesOutIsRefusedAndNeverReachesTheNode) {
  const raftlog_test::LogFile log("peer-identity", "n1");
  ASSERT_TRUE(log.ok());
  MemberHandler node;
  GrpcTransport t(GrpcTransportOptions{
      .self = raft::NodeId(1), .cluster_id = 7, .listen_address = "127.0.0.1:0"});
  absl::StatusOr<int> port = t.start(&node);
  ASSERT_TRUE(port.ok()) << port.status();
  auto stub = pb::Peer::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(*port),
                                                    grpc::InsecureChannelCredentials()));

  // The control: member 2 speaking for itself is heard.
  auto [ok, none] = stream(*stub, {heartbeat_frame(2, 2, 1)});
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(node.delivered_from(), std::vector<uint64_t>{2});

  // A sender in no configuration: the stream is refused at its first frame.
  auto [stranger, why1] = stream(*stub, {heartbeat_frame(3, 3, 1)});
  EXPECT_EQ(stranger.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(why1, pb::StreamRefusal::NOT_A_MEMBER);
  EXPECT_EQ(stranger.error_message(),
            "peer stream from 0000000000000003, which is in no configuration this node knows");

  // A stream that begins as member 2 and then claims to be member 1 (this node's own id,
  // or the leader's): refused at the frame that changes its sender.
  auto [two, why2] = stream(*stub, {heartbeat_frame(2, 2, 1), heartbeat_frame(1, 1, 1)});
  EXPECT_EQ(why2, pb::StreamRefusal::TWO_SENDERS);
  EXPECT_EQ(two.error_message(),
            "a frame on the stream of member 0000000000000002 claimed to come from "
            "0000000000000001");

  // A message inside member 2's frame claiming to come from member 1: dropped.
  auto [inner, why3] = stream(*stub, {heartbeat_frame(2, 1, 1)});
  EXPECT_TRUE(inner.ok()) << inner.error_message();

  // A forwarded request from a non-member never reaches the node; a member's does.
  for (uint64_t from : {uint64_t{3}, uint64_t{2}}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::ForwardRequest req;
    req.set_cluster_id(7);
    req.set_from(from);
    req.set_payload("x");
    pb::ForwardResponse resp;
    const grpc::Status s = stub->Forward(&ctx, req, &resp);
    if (from == 3) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      EXPECT_EQ(s.error_message(),
                "forward from 0000000000000003, which is in no configuration this node knows");
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(resp.result(), "done");
    }
  }
  EXPECT_EQ(node.forwards_.load(), 1);
  // Only the two honest heartbeats of member 2 reached the node.
  EXPECT_EQ(node.delivered_from(), (std::vector<uint64_t>{2, 2}));
  t.stop();

  for (const char* reason : {"not a member", "two senders", "another sender"}) {
    EXPECT_FALSE(log.lines_with(std::string(R"("reason":")") + reason + "\"").empty()) << reason;
  }
}

}  // namespace
}  // namespace transport
