// A peer's message stepped on the thread that delivers it (NodeConfig::
// step_on_receiving_thread, issue 19): three RaftNodes over the real gRPC transport on
// 127.0.0.1, whose callback threads then run the core when its own thread is idle. The
// core's code must still run on one thread at a time and in the order of its inputs, and
// the core thread must still tick (elections, heartbeats) while messages keep coming.
// Committed entries applied on the thread that made them durable or committed them
// (NodeConfig::apply_on_calling_thread): the state machine must still be called by one
// thread at a time, in log order, on every member. Every wait is bounded.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "node/eventually.h"
#include "node/raft_node.h"
#include "transport/grpc_transport.h"

namespace node {
namespace {

using raft::NodeId;
using std::chrono::milliseconds;

// Appends every command to a list, and records the thread each apply ran on.
class ListMachine : public StateMachine {
 public:
  std::string apply(raft::LogIndex index, std::string_view command) override {
    // Two applies at once break the runtime's contract: counted (the list's lock below
    // would hide them otherwise).
    if (applying_.exchange(true)) ++overlaps_;
    char name[16] = {};
    (void)pthread_getname_np(pthread_self(), name, sizeof name);
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++applied_on_[name];
      waiting_ = held_;
      released_.wait(lock, [this] { return !held_; });
      waiting_ = false;
      items_.emplace_back(command);
    }
    applying_ = false;
    return "applied " + std::to_string(index.value());
  }
  // Taken on the apply thread, no apply running meanwhile (counted as apply() counts).
  std::string snapshot() override {
    if (applying_.exchange(true)) ++overlaps_;
    std::string out;
    {
      std::unique_lock<std::mutex> lock(mu_);
      snapshot_waiting_ = snapshot_held_;
      released_.wait(lock, [this] { return !snapshot_held_; });
      snapshot_waiting_ = false;
      for (const std::string& s : items_) out += s + "\n";
    }
    applying_ = false;
    return out;
  }
  absl::Status restore(std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    items_.clear();
    std::string line;
    for (char ch : data) {
      if (ch != '\n') {
        line += ch;
      } else {
        items_.push_back(std::move(line));
        line.clear();
      }
    }
    return absl::OkStatus();
  }
  // While held, apply waits (on whichever thread applies).
  void hold(bool held) {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = held;
    released_.notify_all();
  }
  // While held, snapshot() waits.
  void hold_snapshots(bool held) {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_held_ = held;
    released_.notify_all();
  }
  bool snapshot_waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return snapshot_waiting_;
  }
  // An apply is waiting for hold(false).
  bool waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }
  // Applies per thread name, and applies that began while another was running.
  std::map<std::string, int> applied_on() {
    std::lock_guard<std::mutex> lock(mu_);
    return applied_on_;
  }
  int overlaps() const { return overlaps_.load(); }
  std::vector<std::string> items() {
    std::lock_guard<std::mutex> lock(mu_);
    return items_;
  }

 private:
  std::mutex mu_;
  std::condition_variable released_;
  bool held_ = false;
  bool waiting_ = false;
  bool snapshot_held_ = false;
  bool snapshot_waiting_ = false;
  std::vector<std::string> items_;
  std::map<std::string, int> applied_on_;
  std::atomic<bool> applying_{false};
  std::atomic<int> overlaps_{0};
};

// Three members on the gRPC transport, each with its own data directory.
class GrpcCluster {
 public:
  explicit GrpcCluster(bool step_here, bool apply_here = false,
                       uint64_t snapshot_entries = NodeConfig{}.snapshot_entries,
                       bool peer_lanes = true) {
    char pattern[] = "/tmp/raftkv-step-here-XXXXXX";
    dir_ = mkdtemp(pattern);
    raft::Membership bootstrap;
    for (int i = 1; i <= 3; ++i) bootstrap.voters.insert(NodeId(i));
    std::map<int, int> ports;
    for (int i = 1; i <= 3; ++i) {
      Member& m = members_[i];
      m.sm = std::make_unique<ListMachine>();
      m.transport = std::make_unique<transport::GrpcTransport>(
          transport::GrpcTransportOptions{.self = NodeId(i),
                                          .cluster_id = 9,
                                          .listen_address = "127.0.0.1:0",
                                          .peer_lanes = peer_lanes});
      NodeConfig c;
      c.id = NodeId(i);
      c.name = "n" + std::to_string(i);
      c.data_dir = dir_ + "/n" + std::to_string(i);
      c.tick_ms = 5;
      c.timeouts = TimeoutsMs{20, 150, 300};
      c.bootstrap = bootstrap;
      c.step_on_receiving_thread = step_here;
      c.apply_on_calling_thread = apply_here;
      c.snapshot_entries = snapshot_entries;
      auto node = RaftNode::open(c, m.sm.get(), m.transport.get());
      EXPECT_TRUE(node.ok()) << node.status();
      if (!node.ok()) return;
      m.node = *std::move(node);
      absl::StatusOr<int> port = m.transport->start(m.node.get());
      EXPECT_TRUE(port.ok()) << port.status();
      if (!port.ok()) return;
      ports[i] = *port;
    }
    for (int i = 1; i <= 3; ++i) {
      for (int j = 1; j <= 3; ++j) {
        if (i != j)
          members_[i].transport->set_peer(NodeId(j), "127.0.0.1:" + std::to_string(ports[j]));
      }
    }
    for (int i = 1; i <= 3; ++i) members_[i].node->start();
  }
  ~GrpcCluster() {
    for (int i = 1; i <= 3; ++i) stop(i);
    std::filesystem::remove_all(dir_);
  }
  // As the server stops: the node, then its transport.
  void stop(int i) {
    Member& m = members_[i];
    if (m.node == nullptr) return;
    m.node->stop();
    m.transport->stop();
    m.node.reset();
    m.transport.reset();
  }
  int leader(int except = 0) {
    for (int i = 1; i <= 3; ++i) {
      if (i != except && members_[i].node != nullptr && members_[i].node->is_leader()) return i;
    }
    return 0;
  }
  int wait_leader(int except = 0) {
    int l = 0;
    eventually([&] { return (l = leader(except)) != 0; });
    return l;
  }
  RaftNode& node(int i) { return *members_[i].node; }
  ListMachine& sm(int i) { return *members_[i].sm; }

 private:
  struct Member {
    std::unique_ptr<ListMachine> sm;
    std::unique_ptr<transport::GrpcTransport> transport;
    std::unique_ptr<RaftNode> node;
  };
  std::string dir_;
  std::map<int, Member> members_;
};

const milliseconds kTimeout(5000);

// Writes from `writers` threads, `each` apiece, spread over members `on`; the number
// that failed.
int write_concurrently(GrpcCluster& c, const std::vector<int>& on, int writers, int each) {
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int k = 0; k < each; ++k) {
        const int member = on[static_cast<size_t>(w + k) % on.size()];
        auto r = c.node(member).client_write("w" + std::to_string(w) + "-" + std::to_string(k),
                                             kTimeout);
        if (!r.ok()) ++failed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return failed.load();
}

// Each writer's commands appear in the order it wrote them (it waited for each).
bool in_writer_order(const std::vector<std::string>& items, int writers) {
  std::vector<int> next(static_cast<size_t>(writers), 0);
  for (const std::string& s : items) {
    const size_t dash = s.find('-');
    const int w = std::stoi(s.substr(1, dash - 1));
    const int k = std::stoi(s.substr(dash + 1));
    if (k < next[static_cast<size_t>(w)]) return false;
    next[static_cast<size_t>(w)] = k + 1;
  }
  return true;
}

// `writers` threads write `each` apiece over the three members; every member then holds
// them all, in one order, each writer's in the order it wrote them.
void write_and_expect_one_order(GrpcCluster& c, int writers, int each) {
  ASSERT_EQ(write_concurrently(c, {1, 2, 3}, writers, each), 0);
  const size_t n = static_cast<size_t>(writers) * static_cast<size_t>(each);
  ASSERT_TRUE(eventually([&] {
    return c.sm(1).items().size() == n && c.sm(2).items().size() == n &&
           c.sm(3).items().size() == n;
  }));
  EXPECT_EQ(c.sm(1).items(), c.sm(2).items());
  EXPECT_EQ(c.sm(1).items(), c.sm(3).items());
  EXPECT_TRUE(in_writer_order(c.sm(1).items(), writers));
}

uint64_t stepped_here(GrpcCluster& c) {
  uint64_t n = 0;
  for (int i = 1; i <= 3; ++i) n += c.node(i).status().messages_stepped_here;
  return n;
}

TEST(StepHere, MessagesAreSteppedWhereTheyArriveAndEveryMemberAppliesOneOrder) {
  GrpcCluster c(/*step_here=*/true);
  ASSERT_NE(c.wait_leader(), 0);
  ASSERT_NO_FATAL_FAILURE(write_and_expect_one_order(c, 4, 100));
  // Most messages found the core idle: the path ran, not just the fallback to the queue.
  EXPECT_GT(stepped_here(c), 100u);
}

TEST(StepHere, WithoutTheSwitchEveryMessageGoesThroughTheCoreThread) {
  GrpcCluster c(/*step_here=*/false);
  ASSERT_NE(c.wait_leader(), 0);
  ASSERT_EQ(write_concurrently(c, {1, 2, 3}, 2, 50), 0);
  EXPECT_EQ(stepped_here(c), 0u);
}

TEST(StepHere, MessagesArrivingOnTheThreadThatPollsTheNetworkAreSteppedOnTheCoreThread) {
  // Without lanes, messages arrive on the gRPC streams, read by the completion queue's
  // thread, which polls every connection of the process: a step there could fsync and hold
  // them all, so the core thread takes them.
  GrpcCluster c(/*step_here=*/true, /*apply_here=*/false, NodeConfig{}.snapshot_entries,
                /*peer_lanes=*/false);
  ASSERT_NE(c.wait_leader(), 0);
  ASSERT_NO_FATAL_FAILURE(write_and_expect_one_order(c, 2, 50));
  EXPECT_EQ(stepped_here(c), 0u);
}

TEST(StepHere, ALeaderThatStopsUnderLoadIsReplacedAndWritesGoOn) {
  GrpcCluster c(/*step_here=*/true);
  const int first = c.wait_leader();
  ASSERT_NE(first, 0);
  std::vector<int> others;
  for (int i = 1; i <= 3; ++i) {
    if (i != first) others.push_back(i);
  }
  // Writes keep the survivors' callback threads stepping messages while the leader goes:
  // their core threads must still tick to elect a new one.
  std::atomic<bool> done{false};
  std::atomic<int> ok{0};
  std::thread load([&] {
    for (int k = 0; k < 100'000 && !done.load(); ++k) {
      auto r = c.node(others[static_cast<size_t>(k) % 2])
                   .client_write("x" + std::to_string(k), milliseconds(500));
      if (r.ok()) ++ok;
    }
  });
  ASSERT_TRUE(eventually([&] { return ok.load() >= 50; }));
  c.stop(first);
  const int second = c.wait_leader(first);
  EXPECT_NE(second, 0);
  const int before = ok.load();
  EXPECT_TRUE(eventually([&] { return ok.load() >= before + 50; }));
  done = true;
  load.join();
  ASSERT_TRUE(eventually([&] { return c.sm(others[0]).items() == c.sm(others[1]).items(); }));
}

uint64_t applied_here(GrpcCluster& c) {
  uint64_t n = 0;
  for (int i = 1; i <= 3; ++i) n += c.node(i).status().readies_applied_here;
  return n;
}

// Applies a member's state machine saw on threads other than the apply thread.
int applied_elsewhere(ListMachine& sm) {
  int n = 0;
  for (const auto& [thread, count] : sm.applied_on()) {
    if (thread != "raftkv-apply") n += count;
  }
  return n;
}

TEST(ApplyHere, EntriesAreAppliedWhereTheyCommitAndEveryMemberAppliesOneOrder) {
  GrpcCluster c(/*step_here=*/true, /*apply_here=*/true);
  ASSERT_NE(c.wait_leader(), 0);
  ASSERT_NO_FATAL_FAILURE(write_and_expect_one_order(c, 4, 100));
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(c.sm(i).overlaps(), 0) << "member " << i;
    // Every member took the path (the leader where it learns of a commit, a follower
    // where the leader's entries arrive), not just the fallback to the apply thread.
    EXPECT_GT(applied_elsewhere(c.sm(i)), 0) << "member " << i;
  }
  EXPECT_GT(applied_here(c), 100u);
}

TEST(ApplyHere, WithoutTheSwitchEveryApplyRunsOnTheApplyThread) {
  GrpcCluster c(/*step_here=*/true, /*apply_here=*/false);
  ASSERT_NE(c.wait_leader(), 0);
  ASSERT_NO_FATAL_FAILURE(write_and_expect_one_order(c, 2, 50));
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(c.sm(i).applied_on(), (std::map<std::string, int>{{"raftkv-apply", 100}}))
        << "member " << i;
  }
  EXPECT_EQ(applied_here(c), 0u);
}

// A held apply holds whatever thread runs it, the core's with it: the writes behind it
// wait, and are applied after it, in order, once it is released.
TEST(ApplyHere, AHeldApplyHoldsTheWritesBehindItAndLosesNone) {
  GrpcCluster c(/*step_here=*/true, /*apply_here=*/true);
  const int l = c.wait_leader();
  ASSERT_NE(l, 0);
  ASSERT_TRUE(c.node(l).client_write("zero", kTimeout).ok());
  c.sm(l).hold(true);
  std::atomic<int> answered{0};
  absl::StatusOr<std::string> first = absl::UnknownError("unanswered");
  absl::StatusOr<std::string> second = absl::UnknownError("unanswered");
  c.node(l).client_write_async("first", kTimeout, [&](absl::StatusOr<std::string> r) {
    first = std::move(r);
    ++answered;
  });
  ASSERT_TRUE(eventually([&] { return c.sm(l).waiting(); }));
  c.node(l).client_write_async("second", kTimeout, [&](absl::StatusOr<std::string> r) {
    second = std::move(r);
    ++answered;
  });
  EXPECT_EQ(answered.load(), 0);  // "first" is answered once applied
  c.sm(l).hold(false);
  ASSERT_TRUE(eventually([&] { return answered.load() == 2; }));
  EXPECT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(second.ok()) << second.status();
  const std::vector<std::string> want{"zero", "first", "second"};
  EXPECT_EQ(c.sm(l).items(), want);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_TRUE(eventually([&] { return c.sm(i).items() == want; })) << "member " << i;
    EXPECT_EQ(c.sm(i).overlaps(), 0) << "member " << i;
  }
}

// While the apply thread takes a snapshot, what commits meanwhile waits for it: applied
// after the snapshot, in order, never beside it on another thread.
TEST(ApplyHere, WhatCommitsWhileTheApplyThreadTakesASnapshotIsAppliedAfterIt) {
  GrpcCluster c(/*step_here=*/true, /*apply_here=*/true, /*snapshot_entries=*/20);
  const int l = c.wait_leader();
  ASSERT_NE(l, 0);
  ListMachine& sm = c.sm(l);
  struct Release {  // however the test ends, so that the node can stop
    ListMachine& sm;
    ~Release() { sm.hold_snapshots(false); }
  } release{sm};
  sm.hold_snapshots(true);
  // Writes one at a time until the leader's snapshot has begun (and holds).
  std::atomic<int> answered{0}, failed{0};
  int written = 0;
  auto write = [&] {
    c.node(l).client_write_async("w" + std::to_string(written++), kTimeout,
                                 [&](absl::StatusOr<std::string> r) {
                                   if (!r.ok()) ++failed;
                                   ++answered;
                                 });
  };
  while (!sm.snapshot_waiting() && written < 100) {
    write();
    ASSERT_TRUE(eventually([&] { return answered.load() == written || sm.snapshot_waiting(); }));
  }
  ASSERT_TRUE(sm.snapshot_waiting());
  const std::vector<std::string> at_hold = sm.items();
  if (answered.load() == written) write();  // else the last write is already behind it
  // Committed, and not applied: neither here nor on the thread that committed it.
  ASSERT_TRUE(eventually([&] {
    const NodeState st = c.node(l).status();
    return st.core.commit > st.applied;
  }));
  EXPECT_EQ(sm.items(), at_hold);
  EXPECT_EQ(answered.load(), written - 1);
  sm.hold_snapshots(false);
  ASSERT_TRUE(eventually([&] { return answered.load() == written; }));
  EXPECT_EQ(failed.load(), 0);
  std::vector<std::string> want;
  for (int k = 0; k < written; ++k) want.push_back("w" + std::to_string(k));
  EXPECT_EQ(sm.items(), want);
  EXPECT_EQ(sm.overlaps(), 0);
}

// A snapshot on both followers at once, each held for 1 s (seven election timeouts): the
// followers go on acknowledging and the leader keeps its quorum (applies wait, not the
// core). It failed while a Ready stayed in flight until applied (the snapshot ahead of it
// in the apply queue stalled each follower's core, and the leader stepped down, as a bench
// cluster's did when all three members snapshotted 148 MB); it fails so again with
// OverloadBounds::max_applying_bytes 0.
TEST(SnapshotStall, ALongSnapshotOnBothFollowersUnderWritesLeavesTheLeaderInPlace) {
  GrpcCluster c(/*step_here=*/true, /*apply_here=*/true, /*snapshot_entries=*/20);
  const int l = c.wait_leader();
  ASSERT_NE(l, 0);
  struct Release {  // however the test ends, so that the nodes can stop
    GrpcCluster& c;
    ~Release() {
      for (int i = 1; i <= 3; ++i) c.sm(i).hold_snapshots(false);
    }
  } release{c};
  // The followers' snapshots held: the leader, whose own is not, hears from no one.
  for (int i = 1; i <= 3; ++i) c.sm(i).hold_snapshots(i != l);
  const raft::Term term = c.node(l).term();
  std::atomic<int> answered{0};
  int written = 0;
  // Writes until every member's snapshot has begun (and holds).
  auto followers_held = [&] {
    for (int i = 1; i <= 3; ++i) {
      if (i != l && !c.sm(i).snapshot_waiting()) return false;
    }
    return true;
  };
  while (written < 100 && !followers_held()) {
    c.node(l).client_write_async("s" + std::to_string(written++), kTimeout,
                                 [&](absl::StatusOr<std::string>) { ++answered; });
    eventually([&] { return answered.load() == written; }, milliseconds(200));
  }
  ASSERT_TRUE(followers_held());
  // Held for 1 s (what a member publishes of its core is stale while the core stalls, so
  // the outcome is read once the snapshots are done).
  // Writes go on meanwhile (what commits must be applied, behind the snapshot).
  const auto until = std::chrono::steady_clock::now() + milliseconds(1000);
  while (std::chrono::steady_clock::now() < until) {
    c.node(l).client_write_async("s" + std::to_string(written++), kTimeout,
                                 [&](absl::StatusOr<std::string>) { ++answered; });
    std::this_thread::sleep_for(milliseconds(10));
  }
  for (int i = 1; i <= 3; ++i) c.sm(i).hold_snapshots(false);
  ASSERT_TRUE(eventually([&] { return answered.load() == written; }));
  ASSERT_EQ(c.wait_leader(), l) << "the leader lost its place while the followers snapshotted";
  EXPECT_EQ(c.node(l).term(), term) << "an election while the followers snapshotted";
}

}  // namespace
}  // namespace node
