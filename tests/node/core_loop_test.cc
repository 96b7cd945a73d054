// The core thread's queue is bounded in tasks and in bytes (OverloadBounds): requests
// beyond it are refused at once with kOverloaded and peer messages are dropped, while
// the storage and apply threads' acknowledgements always get in. The loop is never
// started here, so what is queued stays queued and every count is exact.
#include "node/core_loop.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "metrics/registry.h"
#include "node/node_error.h"

namespace node {
namespace {

using raft::NodeId;

class CoreLoopQueueTest : public ::testing::Test {
 protected:
  std::unique_ptr<CoreLoop> loop(OverloadBounds bounds) {
    raft::Config c;
    c.id = NodeId(1);
    c.timeouts = {1, 10, 20};
    raft::Membership m;
    m.voters.insert(NodeId(1));
    // Nothing below runs a task, so the parts the tasks would use are not needed.
    return std::make_unique<CoreLoop>(10, std::make_unique<raft::Raft>(c, m), SnapshotData{},
                                      raft::HardState{},
                                      CoreLoop::Parts{.transport = nullptr,
                                                      .storage = nullptr,
                                                      .applier = nullptr,
                                                      .tracker = nullptr,
                                                      .fatal = [](const std::string&) {},
                                                      .metrics = &metrics_,
                                                      .bounds = bounds});
  }
  // Proposes `bytes` bytes; the refusal, if the loop answered at once.
  static std::optional<absl::Status> propose(CoreLoop& l, size_t bytes) {
    std::optional<absl::Status> answer;
    l.propose(std::string(bytes, 'x'), [&](absl::StatusOr<raft::LogId> r) { answer = r.status(); });
    return answer;
  }
  static raft::Message heartbeat() {
    return raft::Message{
        .from = NodeId(2), .to = NodeId(1), .term = raft::Term(1), .body = raft::Heartbeat{}};
  }

  metrics::Registry registry_;
  NodeMetrics metrics_{registry_};
};

TEST_F(CoreLoopQueueTest, BeyondItsTaskBoundRequestsAreRefusedAndPeerMessagesDropped) {
  auto l = loop({.max_apply_lag = 5000, .max_queued_tasks = 3, .max_queued_bytes = 1 << 20});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(propose(*l, 10), std::nullopt) << i;
  const std::optional<absl::Status> refused = propose(*l, 10);
  ASSERT_TRUE(refused.has_value());
  EXPECT_TRUE(is_node_error(*refused, NodeErrorKind::kOverloaded)) << *refused;
  EXPECT_EQ(refused->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused->message(),
            "the core thread's queue is full (at most 3 tasks and 1048576 bytes)");
  // Every other kind of request is refused the same way, at once.
  std::vector<absl::Status> others;
  l->read_index(raft::ReadId(7), [&](absl::Status s) { others.push_back(s); });
  l->change_membership(Remove{NodeId(2)},
                       [&](absl::StatusOr<raft::LogId> r) { others.push_back(r.status()); });
  l->propose_timeouts(raft::Timeouts{1, 10, 20},
                      [&](absl::StatusOr<raft::LogId> r) { others.push_back(r.status()); });
  l->transfer_leadership(NodeId(2), [&](absl::Status s) { others.push_back(s); });
  ASSERT_EQ(others.size(), 4u);
  for (const absl::Status& s : others)
    EXPECT_TRUE(is_node_error(s, NodeErrorKind::kOverloaded)) << s;
  l->step(heartbeat(), nullptr);
  EXPECT_EQ(l->overload().dropped_messages, 1u);
  EXPECT_EQ(l->overload().refused_queue_full, 5u);
  EXPECT_EQ(l->queue_depth(), 3u);
  // The storage and apply threads' acknowledgements are never turned away.
  l->applied(std::nullopt, /*advanced=*/false);
  l->applied(std::nullopt, /*advanced=*/true);
  EXPECT_EQ(l->queue_depth(), 5u);
}

TEST_F(CoreLoopQueueTest, BeyondItsByteBoundRequestsAreRefusedButOneLargeItemAlwaysFits) {
  auto l = loop({.max_apply_lag = 5000, .max_queued_tasks = 100, .max_queued_bytes = 100});
  // Alone in the queue, an item larger than the bound gets in (a big snapshot must).
  EXPECT_EQ(propose(*l, 500), std::nullopt);
  EXPECT_TRUE(propose(*l, 1).has_value());
  EXPECT_EQ(l->overload().refused_queue_full, 1u);

  auto m = loop({.max_apply_lag = 5000, .max_queued_tasks = 100, .max_queued_bytes = 100});
  EXPECT_EQ(propose(*m, 60), std::nullopt);
  EXPECT_TRUE(propose(*m, 60).has_value());  // 120 > 100
  EXPECT_EQ(propose(*m, 40), std::nullopt);  // exactly 100
  raft::Message append{
      .from = NodeId(2), .to = NodeId(1), .term = raft::Term(1), .body = raft::AppendEntries{}};
  std::get<raft::AppendEntries>(append.body)
      .entries.push_back(
          raft::Entry{.term = raft::Term(1), .index = raft::LogIndex(1), .data = "e"});
  m->step(append, nullptr);  // one entry byte more: dropped
  EXPECT_EQ(m->overload().dropped_messages, 1u);
  EXPECT_EQ(m->queue_depth(), 2u);
}

}  // namespace
}  // namespace node
