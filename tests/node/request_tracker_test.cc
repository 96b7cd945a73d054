// The request tracker alone: every waiter ends exactly once (its result, its deadline,
// or the stop), leader waits fire on the leader they accept, retries run when due.
// Waits are on futures with generous bounds: nothing here measures time.
#include "node/request_tracker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "node/node_error.h"
#include "transport/transport.h"
#include "transport/wire_status.h"

namespace node {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Deadline in(milliseconds d) { return Clock::now() + d; }

// A callback that hands its one answer to a future, and counts its calls.
struct Answer {
  std::promise<absl::StatusOr<std::string>> promise;
  std::future<absl::StatusOr<std::string>> future = promise.get_future();
  std::atomic<int> calls{0};
  WriteCallback callback() {
    return [this](absl::StatusOr<std::string> r) {
      if (calls++ == 0) promise.set_value(std::move(r));
    };
  }
  absl::StatusOr<std::string> get() {
    EXPECT_EQ(future.wait_for(seconds(10)), std::future_status::ready);
    return future.get();
  }
};

TEST(RequestTracker, ACallEndsOnceWithItsResultAndALateAnswerIsDropped) {
  RequestTracker t;
  t.start();
  Answer a;
  const uint64_t id = t.add_call(in(seconds(60)), a.callback());
  ASSERT_NE(id, 0u);
  EXPECT_EQ(t.pending(), 1u);
  t.complete_call(id, std::string("done"));
  t.complete_call(id, std::string("again"));
  EXPECT_EQ(*a.get(), "done");
  EXPECT_EQ(a.calls.load(), 1);
  EXPECT_EQ(t.pending(), 0u);
}

TEST(RequestTracker, ACallPastItsDeadlineFailsWithTimedOut) {
  RequestTracker t;
  t.start();
  Answer late, later;
  t.add_call(in(milliseconds(20)), late.callback());
  const uint64_t id = t.add_call(in(seconds(60)), later.callback());
  absl::StatusOr<std::string> r = late.get();
  EXPECT_TRUE(is_node_error(r.status(), NodeErrorKind::kTimedOut)) << r.status();
  // Only the due one: the other is still waiting for its answer.
  EXPECT_EQ(t.pending(), 1u);
  t.complete_call(id, std::string("ok"));
  EXPECT_TRUE(later.get().ok());
}

TEST(RequestTracker, AnEarlierDeadlineWakesTheTimerThatSleepsForALaterOne) {
  Answer far, near;  // outlive the tracker, which fails `far` when it stops
  RequestTracker t;
  t.start();
  t.add_call(in(seconds(600)), far.callback());
  t.add_call(in(milliseconds(10)), near.callback());
  EXPECT_TRUE(is_node_error(near.get().status(), NodeErrorKind::kTimedOut));
  EXPECT_EQ(far.calls.load(), 0);
}

TEST(RequestTracker, AnIndexWaiterSucceedsOnlyForItsOwnTerm) {
  RequestTracker t;
  t.start();
  std::promise<absl::Status> same, other;
  t.add_index({raft::Term(2), raft::LogIndex(7)}, in(seconds(60)),
              [&](absl::Status s) { same.set_value(s); });
  t.add_index({raft::Term(2), raft::LogIndex(8)}, in(seconds(60)),
              [&](absl::Status s) { other.set_value(s); });
  // Index 8 holds another leader's entry.
  t.applied({{raft::Term(2), raft::LogIndex(7)}, {raft::Term(3), raft::LogIndex(8)}});
  EXPECT_TRUE(same.get_future().get().ok());
  EXPECT_TRUE(is_node_error(other.get_future().get(), NodeErrorKind::kLeaderChanged));
}

TEST(RequestTracker, ASnapshotOvertakingAChangeFailsItAsTimedOut) {
  std::promise<absl::Status> covered;
  std::atomic<int> beyond{0};  // outlives the tracker, which fails its waiter when it stops
  RequestTracker t;
  t.start();
  t.add_index({raft::Term(1), raft::LogIndex(5)}, in(seconds(60)),
              [&](absl::Status s) { covered.set_value(s); });
  t.add_index({raft::Term(1), raft::LogIndex(9)}, in(seconds(60)), [&](absl::Status) { ++beyond; });
  t.snapshot_installed(raft::LogIndex(6));
  EXPECT_TRUE(is_node_error(covered.get_future().get(), NodeErrorKind::kTimedOut));
  EXPECT_EQ(beyond.load(), 0);
  EXPECT_EQ(t.pending(), 1u);
  t.stop(node_error(NodeErrorKind::kStopped, "end of test"));
  EXPECT_EQ(beyond.load(), 1);
}

TEST(RequestTracker, AHandedOverWriteFailsRetryablyOnceALaterTermApplies) {
  RequestTracker t;
  t.start();
  Answer lost, kept, done;
  const uint64_t a = t.add_call(in(seconds(60)), lost.callback());
  const uint64_t b = t.add_call(in(seconds(60)), kept.callback());
  const uint64_t c = t.add_call(in(seconds(60)), done.callback());
  t.add_handover(a, raft::Term(2));
  t.add_handover(b, raft::Term(3));
  t.add_handover(c, raft::Term(2));
  t.complete_call(c, std::string("applied"));       // its entry applied: no longer watched
  t.applied({{raft::Term(2), raft::LogIndex(7)}});  // its own term: it may still come
  EXPECT_EQ(lost.calls.load(), 0);
  t.applied({{raft::Term(2), raft::LogIndex(8)}, {raft::Term(3), raft::LogIndex(9)}});
  const absl::StatusOr<std::string> r = lost.get();
  EXPECT_TRUE(is_node_error(r.status(), NodeErrorKind::kNotLeader)) << r.status();
  EXPECT_TRUE(retryable(r.status()));
  EXPECT_EQ(t.lost_handovers(), 1u);
  EXPECT_EQ(kept.calls.load(), 0);
  EXPECT_EQ(done.calls.load(), 1);
  EXPECT_EQ(t.pending(), 1u);
  t.add_handover(a, raft::Term(1));  // no longer waiting: ignored
  t.applied({{raft::Term(4), raft::LogIndex(10)}});
  EXPECT_TRUE(is_node_error(kept.get().status(), NodeErrorKind::kNotLeader));
  EXPECT_EQ(lost.calls.load(), 1);
  EXPECT_EQ(t.lost_handovers(), 2u);
  EXPECT_EQ(t.pending(), 0u);
}

TEST(RequestTracker, AfterASnapshotAHandedOverWriteWaitsForItsEntryOrDeadline) {
  // The snapshot may hold the entry: failing the write as lost could apply it twice.
  RequestTracker t;
  t.start();
  Answer before, after;
  const uint64_t a = t.add_call(in(milliseconds(300)), before.callback());
  t.add_handover(a, raft::Term(2));
  t.snapshot_installed(raft::LogIndex(20));
  const uint64_t b = t.add_call(in(seconds(60)), after.callback());
  t.add_handover(b, raft::Term(2));
  t.applied({{raft::Term(3), raft::LogIndex(21)}});
  EXPECT_TRUE(is_node_error(after.get().status(), NodeErrorKind::kNotLeader));
  EXPECT_TRUE(is_node_error(before.get().status(), NodeErrorKind::kTimedOut));
}

TEST(RequestTracker, LeaderWaitsFireOnTheLeaderTheyAcceptOrFailWithNoLeader) {
  RequestTracker t;
  t.start();
  std::promise<absl::StatusOr<raft::NodeId>> any, three, never;
  t.when_leader([](raft::NodeId) { return true; }, in(seconds(60)),
                [&](absl::StatusOr<raft::NodeId> l) { any.set_value(l); });
  t.when_leader([](raft::NodeId l) { return l == raft::NodeId(3); }, in(seconds(60)),
                [&](absl::StatusOr<raft::NodeId> l) { three.set_value(l); });
  t.when_leader([](raft::NodeId l) { return l == raft::NodeId(9); }, in(milliseconds(20)),
                [&](absl::StatusOr<raft::NodeId> l) { never.set_value(l); });
  t.leader_changed(raft::kNoNode);  // no leader: nobody is answered
  t.leader_changed(raft::NodeId(2));
  EXPECT_EQ(*any.get_future().get(), raft::NodeId(2));
  t.leader_changed(raft::NodeId(3));
  EXPECT_EQ(*three.get_future().get(), raft::NodeId(3));
  EXPECT_TRUE(is_node_error(never.get_future().get().status(), NodeErrorKind::kNoLeader));
  // A leader known already answers at once, on the caller's thread.
  bool now = false;
  t.when_leader([](raft::NodeId) { return true; }, in(seconds(60)),
                [&](absl::StatusOr<raft::NodeId> l) { now = l.ok(); });
  EXPECT_TRUE(now);
}

TEST(RequestTracker, AScheduledTaskRunsWhenDue) {
  RequestTracker t;
  t.start();
  std::promise<void> ran;
  t.schedule(in(milliseconds(5)), [&] { ran.set_value(); });
  EXPECT_EQ(ran.get_future().wait_for(seconds(10)), std::future_status::ready);
}

TEST(RequestTracker, StopFailsEveryWaiterRunsEveryRetryAndAnswersLaterCallsAtOnce) {
  RequestTracker t;
  t.start();
  Answer call;
  std::promise<absl::Status> index;
  std::promise<absl::StatusOr<raft::NodeId>> leader;
  std::atomic<int> retries{0};
  t.add_call(in(seconds(600)), call.callback());
  t.add_index({raft::Term(1), raft::LogIndex(3)}, in(seconds(600)),
              [&](absl::Status s) { index.set_value(s); });
  t.when_leader([](raft::NodeId) { return true; }, in(seconds(600)),
                [&](absl::StatusOr<raft::NodeId> l) { leader.set_value(l); });
  t.schedule(in(seconds(600)), [&] { ++retries; });
  t.stop(node_error(NodeErrorKind::kStopped, "test stop"));
  EXPECT_TRUE(is_node_error(call.get().status(), NodeErrorKind::kStopped));
  EXPECT_TRUE(is_node_error(index.get_future().get(), NodeErrorKind::kStopped));
  EXPECT_TRUE(is_node_error(leader.get_future().get().status(), NodeErrorKind::kStopped));
  EXPECT_EQ(retries.load(), 1);
  EXPECT_EQ(t.pending(), 0u);
  Answer after;
  EXPECT_EQ(t.add_call(in(seconds(60)), after.callback()), 0u);
  EXPECT_TRUE(is_node_error(after.get().status(), NodeErrorKind::kStopped));
  t.schedule(in(seconds(600)), [&] { ++retries; });  // runs at once
  EXPECT_EQ(retries.load(), 2);
}

TEST(NodeError, KindsSurviveTheTripAndOnlyUndeliveredRequestsAreRetryable) {
  for (NodeErrorKind kind :
       {NodeErrorKind::kNotLeader, NodeErrorKind::kNoLeader, NodeErrorKind::kLeaderUnreachable,
        NodeErrorKind::kLeaderChanged, NodeErrorKind::kTimedOut, NodeErrorKind::kStopped,
        NodeErrorKind::kProposalDropped, NodeErrorKind::kChangePending, NodeErrorKind::kMalformed,
        NodeErrorKind::kOverloaded}) {
    const absl::Status s = node_error(kind, "why");
    EXPECT_EQ(node_error_kind(s), kind) << kind_name(kind);
    EXPECT_EQ(s.message(), "why");
    EXPECT_EQ(retryable(s),
              kind == NodeErrorKind::kNotLeader || kind == NodeErrorKind::kLeaderUnreachable)
        << kind_name(kind);
  }
  // The message alone is not a kind: text never decides.
  EXPECT_FALSE(node_error_kind(absl::UnavailableError("etcdserver: not leader")).has_value());
  EXPECT_FALSE(retryable(absl::UnavailableError("etcdserver: not leader")));
  EXPECT_EQ(node_error(NodeErrorKind::kMalformed, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(node_error(NodeErrorKind::kOverloaded, "x").code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(NodeError, KindsCrossThePeerWireAndTransportFailuresAreTyped) {
  raftkv::peer::WireStatus wire;
  transport::to_wire(node_error(NodeErrorKind::kNotLeader, "node 2 is not the leader"), &wire);
  const absl::Status back = transport::from_wire(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(back.message(), "node 2 is not the leader");
  EXPECT_TRUE(is_node_error(back, NodeErrorKind::kNotLeader));
  EXPECT_TRUE(retryable(back));
  // A code outside absl's range is named, not trusted.
  wire.set_code(99);
  EXPECT_EQ(transport::from_wire(wire).code(), absl::StatusCode::kUnknown);
  EXPECT_NE(transport::from_wire(wire).message().find("status code 99"), std::string::npos);
  EXPECT_TRUE(transport::is_unreachable(transport::unreachable_error("no route")));
}

TEST(NodeError, AMessageThatIsNotUtf8CrossesThePeerWire) {
  // A message naming a key holds any bytes; as a proto3 string it failed to parse on the
  // member that forwarded the request.
  const std::string text = std::string("key '\xff\xfe' is not here");
  raftkv::peer::WireStatus wire;
  transport::to_wire(absl::NotFoundError(text), &wire);
  raftkv::peer::WireStatus parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire.SerializeAsString()));
  EXPECT_EQ(transport::from_wire(parsed).message(), text);
  EXPECT_FALSE(transport::is_unreachable(absl::UnavailableError("no route")));
}

}  // namespace
}  // namespace node
