// A peer's message stepped on the thread that delivers it (NodeConfig::
// step_on_receiving_thread, issue 19): three RaftNodes over the real gRPC transport on
// 127.0.0.1, whose callback threads then run the core when its own thread is idle. The
// core's code must still run on one thread at a time and in the order of its inputs, and
// the core thread must still tick (elections, heartbeats) while messages keep coming.
// Every wait is bounded.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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

// Appends every command to a list.
class ListMachine : public StateMachine {
 public:
  std::string apply(raft::LogIndex index, std::string_view command) override {
    std::lock_guard<std::mutex> lock(mu_);
    items_.emplace_back(command);
    return "applied " + std::to_string(index.value());
  }
  std::string snapshot() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const std::string& s : items_) out += s + "\n";
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
  std::vector<std::string> items() {
    std::lock_guard<std::mutex> lock(mu_);
    return items_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> items_;
};

// Three members on the gRPC transport, each with its own data directory.
class GrpcCluster {
 public:
  explicit GrpcCluster(bool step_here) {
    char pattern[] = "/tmp/raftkv-step-here-XXXXXX";
    dir_ = mkdtemp(pattern);
    raft::Membership bootstrap;
    for (int i = 1; i <= 3; ++i) bootstrap.voters.insert(NodeId(i));
    std::map<int, int> ports;
    for (int i = 1; i <= 3; ++i) {
      Member& m = members_[i];
      m.sm = std::make_unique<ListMachine>();
      m.transport = std::make_unique<transport::GrpcTransport>(transport::GrpcTransportOptions{
          .self = NodeId(i), .cluster_id = 9, .listen_address = "127.0.0.1:0"});
      NodeConfig c;
      c.id = NodeId(i);
      c.name = "n" + std::to_string(i);
      c.data_dir = dir_ + "/n" + std::to_string(i);
      c.tick_ms = 5;
      c.timeouts = TimeoutsMs{20, 150, 300};
      c.bootstrap = bootstrap;
      c.step_on_receiving_thread = step_here;
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

uint64_t stepped_here(GrpcCluster& c) {
  uint64_t n = 0;
  for (int i = 1; i <= 3; ++i) n += c.node(i).status().messages_stepped_here;
  return n;
}

TEST(StepHere, MessagesAreSteppedWhereTheyArriveAndEveryMemberAppliesOneOrder) {
  GrpcCluster c(/*step_here=*/true);
  ASSERT_NE(c.wait_leader(), 0);
  ASSERT_EQ(write_concurrently(c, {1, 2, 3}, 4, 100), 0);
  ASSERT_TRUE(eventually([&] {
    return c.sm(1).items().size() == 400 && c.sm(2).items().size() == 400 &&
           c.sm(3).items().size() == 400;
  }));
  EXPECT_EQ(c.sm(1).items(), c.sm(2).items());
  EXPECT_EQ(c.sm(1).items(), c.sm(3).items());
  EXPECT_TRUE(in_writer_order(c.sm(1).items(), 4));
  // Most messages found the core idle: the path ran, not just the fallback to the queue.
  EXPECT_GT(stepped_here(c), 100u);
}

TEST(StepHere, WithoutTheSwitchEveryMessageGoesThroughTheCoreThread) {
  GrpcCluster c(/*step_here=*/false);
  ASSERT_NE(c.wait_leader(), 0);
  ASSERT_EQ(write_concurrently(c, {1, 2, 3}, 2, 50), 0);
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

}  // namespace
}  // namespace node
