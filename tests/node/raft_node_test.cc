// RaftNode end to end inside one process: three nodes with their own data directories,
// connected by a LocalNetwork that can cut a node off. Every wait is bounded.
#include "node/raft_node.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "limits/limiter.h"
#include "node/eventually.h"
#include "node/node_error.h"
#include "raftkv/node.pb.h"
#include "transport/local_transport.h"

namespace node {
namespace {

using raft::NodeId;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Appends every command to a list; a snapshot is the list.
class ListMachine : public StateMachine {
 public:
  std::string apply(raft::LogIndex index, std::string_view command) override {
    std::unique_lock<std::mutex> lock(mu_);
    released_.wait(lock, [&] { return !held_; });
    items_.emplace_back(command);
    return "applied " + std::to_string(index.value());
  }
  absl::StatusOr<std::string> leader_call(std::string_view payload) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.emplace_back(payload);
    return "called " + std::string(payload);
  }
  // The payloads of the leader calls this machine answered.
  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::string snapshot() override {
    std::string out;
    (void)snapshot_to([&out](std::string_view piece) {
      out += piece;
      return true;
    });
    return out;
  }
  // A line at a time, as a large state machine hands over its snapshot.
  absl::Status snapshot_to(const std::function<bool(std::string_view)>& write) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& s : items_) {
      if (!write(s + "\n")) return absl::AbortedError("write failed");
    }
    return absl::OkStatus();
  }
  absl::Status restore(std::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (refuse_restore_) return absl::DataLossError("this machine refuses every snapshot");
    items_.clear();
    std::istringstream in{std::string(data)};
    for (std::string line; std::getline(in, line);) items_.push_back(line);
    ++restores_;
    ++whole_restores_;
    return absl::OkStatus();
  }
  // As a large state machine restores: a line at a time as the pieces come, the new list
  // built aside and swapped in only once every piece was read.
  absl::Status restore_from(SnapshotPieces& pieces) override {
    std::vector<std::string> items;
    std::string line;
    size_t count = 0, largest = 0;
    for (;;) {
      absl::StatusOr<std::string_view> piece = pieces.next();
      if (!piece.ok()) return piece.status();
      if (piece->empty()) break;
      ++count;
      largest = std::max(largest, piece->size());
      for (char ch : *piece) {
        if (ch != '\n') {
          line += ch;
        } else {
          items.push_back(std::move(line));
          line.clear();
        }
      }
    }
    if (!line.empty()) return absl::DataLossError("the snapshot ends inside a line");
    std::lock_guard<std::mutex> lock(mu_);
    if (refuse_restore_) return absl::DataLossError("this machine refuses every snapshot");
    items_ = std::move(items);
    marks_.clear();  // what it began no longer describes what it holds
    ++restores_;
    pieces_ = count;
    largest_piece_ = largest;
    return absl::OkStatus();
  }
  std::vector<std::string> items() {
    std::lock_guard<std::mutex> lock(mu_);
    return items_;
  }
  int restores() {
    std::lock_guard<std::mutex> lock(mu_);
    return restores_;
  }
  // Restores from the whole snapshot at once (restore()), not in pieces.
  int whole_restores() {
    std::lock_guard<std::mutex> lock(mu_);
    return whole_restores_;
  }
  // The pieces the last restore_from() read, and the largest of them.
  std::pair<size_t, size_t> last_pieces() {
    std::lock_guard<std::mutex> lock(mu_);
    return {pieces_, largest_piece_};
  }
  // A state machine that cannot read a snapshot back (a bug an embedder may have).
  void refuse_restore() {
    std::lock_guard<std::mutex> lock(mu_);
    refuse_restore_ = true;
  }
  // While held, apply waits: the apply thread stalls as under a slow disk.
  void hold(bool held) {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = held;
    released_.notify_all();
  }
  // Snapshots written beside the apply thread (begin_snapshot) when on: the items as of
  // its beginning, written a line at a time once snapshots are not held.
  // With deltas on, a snapshot after one this machine began writes only the items
  // appended since (the list only grows, so the two read back as the whole).
  std::unique_ptr<SnapshotJob> begin_snapshot(const SnapshotPlace& place) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!beside_) return nullptr;
    ++begun_;
    auto mark = marks_.find(place.latest.value());
    const bool delta = deltas_ && place.latest.value() != 0 && mark != marks_.end();
    const size_t from = delta ? mark->second : 0;
    marks_[place.index.value()] = items_.size();
    if (delta) ++deltas_begun_;
    return std::make_unique<Job>(
        this,
        std::vector<std::string>(items_.begin() + static_cast<std::ptrdiff_t>(from), items_.end()),
        delta ? place.latest : raft::LogIndex());
  }
  void write_snapshots_beside() {
    std::lock_guard<std::mutex> lock(mu_);
    beside_ = true;
  }
  void write_deltas() {
    std::lock_guard<std::mutex> lock(mu_);
    beside_ = deltas_ = true;
  }
  int deltas_begun() {
    std::lock_guard<std::mutex> lock(mu_);
    return deltas_begun_;
  }
  void hold_snapshots(bool held) {
    std::lock_guard<std::mutex> lock(mu_);
    snapshots_held_ = held;
    released_.notify_all();
  }
  int snapshots_begun() {
    std::lock_guard<std::mutex> lock(mu_);
    return begun_;
  }

 private:
  class Job : public SnapshotJob {
   public:
    Job(ListMachine* m, std::vector<std::string> items, raft::LogIndex base)
        : m_(m), items_(std::move(items)), base_(base) {}
    raft::LogIndex extends() const override { return base_; }
    absl::Status write_to(const std::function<bool(std::string_view)>& write) override {
      {
        std::unique_lock<std::mutex> lock(m_->mu_);
        m_->released_.wait(lock, [this] { return !m_->snapshots_held_; });
      }
      for (const std::string& s : items_) {
        if (!write(s + "\n")) return absl::AbortedError("write failed");
      }
      return absl::OkStatus();
    }

   private:
    ListMachine* const m_;
    const std::vector<std::string> items_;
    const raft::LogIndex base_;
  };

  std::mutex mu_;
  std::condition_variable released_;
  bool held_ = false;
  bool beside_ = false;
  bool deltas_ = false;
  int deltas_begun_ = 0;
  std::map<uint64_t, size_t> marks_;  // snapshots begun: index -> items then
  bool snapshots_held_ = false;
  int begun_ = 0;
  bool refuse_restore_ = false;
  std::vector<std::string> items_;
  std::vector<std::string> calls_;
  int restores_ = 0;
  int whole_restores_ = 0;
  size_t pieces_ = 0;
  size_t largest_piece_ = 0;
};

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/raftkv-node-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Cluster {
 public:
  // `authorize(i)` is node i's NodeConfig::authorize (none by default).
  using Authorize = std::function<absl::Status(const std::string&, std::string_view)>;
  // The log keeps `catch_up_entries` behind each snapshot (none by default here, so
  // that a follower behind a compaction needs the snapshot).
  explicit Cluster(int n, uint64_t snapshot_entries = 10'000, OverloadBounds bounds = {},
                   std::function<Authorize(int)> authorize = {}, uint64_t catch_up_entries = 0,
                   uint32_t max_inflight_appends = NodeConfig{}.max_inflight_appends,
                   bool apply_here = false,
                   uint32_t snapshot_log_percent = NodeConfig{}.snapshot_log_percent)
      : snapshot_entries_(snapshot_entries),
        snapshot_log_percent_(snapshot_log_percent),
        catch_up_entries_(catch_up_entries),
        max_inflight_appends_(max_inflight_appends),
        apply_here_(apply_here),
        bounds_(bounds),
        authorize_(std::move(authorize)) {
    for (int i = 1; i <= n; ++i) bootstrap_.voters.insert(NodeId(i));
    slots_.resize(n + 1);
    for (int i = 1; i <= n; ++i) start(i);
  }
  ~Cluster() {
    for (size_t i = 1; i < slots_.size(); ++i) stop(static_cast<int>(i));
  }

  NodeConfig config(int i) {
    NodeConfig c;
    c.id = NodeId(i);
    c.name = "n" + std::to_string(i);
    c.data_dir = dir_.path() + "/n" + std::to_string(i);
    c.tick_ms = 5;
    c.timeouts = TimeoutsMs{20, 150, 300};
    c.snapshot_entries = snapshot_entries_;
    c.snapshot_log_percent = snapshot_log_percent_;
    c.snapshot_catch_up_entries = catch_up_entries_;
    c.max_inflight_appends = max_inflight_appends_;
    c.bootstrap = bootstrap_;
    c.overload = bounds_;
    c.apply_on_calling_thread = apply_here_;
    if (authorize_) c.authorize = authorize_(i);
    return c;
  }

  void start(int i) {
    Slot& s = slots_[i];
    if (s.sm == nullptr) s.sm = std::make_unique<ListMachine>();
    s.transport = net_.join(NodeId(i));
    auto node = RaftNode::open(config(i), s.sm.get(), s.transport.get());
    ASSERT_TRUE(node.ok()) << node.status();
    s.node = *std::move(node);
    if (on_fatal) s.node->set_fatal_handler([this, i](const std::string& m) { on_fatal(i, m); });
    net_.attach(NodeId(i), s.node.get());
    s.node->start();
  }
  // Stops node i; with `forget`, its state machine goes too (a process restart).
  void stop(int i, bool forget = false) {
    Slot& s = slots_[i];
    if (s.node == nullptr) return;
    net_.detach(NodeId(i));
    s.node->stop();
    s.node.reset();
    s.transport.reset();
    if (forget) s.sm.reset();
  }

  // Restarts node i as a new process whose state machine holds its applies: what the
  // node applies again from its log waits until the test releases it (sm(i).hold(false)).
  void restart_held(int i) {
    stop(i, /*forget=*/true);
    slots_[i].sm = std::make_unique<ListMachine>();
    slots_[i].sm->hold(true);
    start(i);
  }

  int leader() {
    for (size_t i = 1; i < slots_.size(); ++i) {
      if (slots_[i].node != nullptr && slots_[i].node->is_leader()) return static_cast<int>(i);
    }
    return 0;
  }
  int wait_leader() {
    int l = 0;
    eventually([&] { return (l = leader()) != 0; });
    return l;
  }
  RaftNode& node(int i) { return *slots_[i].node; }
  // Replaces node i's state machine (stopped) before it starts again.
  void set_sm(int i, std::unique_ptr<ListMachine> sm) { slots_[i].sm = std::move(sm); }
  // Each node's fatal handler, when set before it starts (else the default aborts).
  std::function<void(int, const std::string&)> on_fatal;
  ListMachine& sm(int i) { return *slots_[i].sm; }
  transport::LocalNetwork& net() { return net_; }

 private:
  struct Slot {
    std::unique_ptr<ListMachine> sm;
    std::unique_ptr<transport::Transport> transport;
    std::unique_ptr<RaftNode> node;
  };
  TempDir dir_;
  transport::LocalNetwork net_;
  raft::Membership bootstrap_;
  uint64_t snapshot_entries_;
  uint32_t snapshot_log_percent_;
  uint64_t catch_up_entries_;
  uint32_t max_inflight_appends_;
  bool apply_here_;
  OverloadBounds bounds_;
  std::function<Authorize(int)> authorize_;
  std::vector<Slot> slots_;
};

const milliseconds kTimeout(5000);

TEST(RaftNode, WritesOnAnyNodeReachEveryStateMachineInOneOrder) {
  Cluster c(3);
  ASSERT_NE(c.wait_leader(), 0);
  for (int i = 0; i < 30; ++i) {
    const int on = 1 + i % 3;  // followers forward to the leader
    auto r = c.node(on).client_write("w" + std::to_string(i), kTimeout);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->rfind("applied ", 0), 0u) << *r;
  }
  ASSERT_TRUE(eventually([&] {
    return c.sm(1).items().size() == 30 && c.sm(2).items().size() == 30 &&
           c.sm(3).items().size() == 30;
  }));
  EXPECT_EQ(c.sm(1).items(), c.sm(2).items());
  EXPECT_EQ(c.sm(1).items(), c.sm(3).items());
  EXPECT_EQ(c.sm(1).items().front(), "w0");
}

// NodeConfig::apply_on_calling_thread: committed entries applied on the core thread that
// made them durable or committed them, local snapshots taken on the apply thread beside
// it, writes from several threads forwarded by followers (a run for `make test-tsan`).
TEST(RaftNode, EntriesAppliedWhereTheyCommitReachEveryStateMachineInOneOrder) {
  Cluster c(3, /*snapshot_entries=*/25, {}, {}, 0, NodeConfig{}.max_inflight_appends,
            /*apply_here=*/true);
  ASSERT_NE(c.wait_leader(), 0);
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (int k = 0; k < 40; ++k) {
        if (!c.node(1 + (w + k) % 3).client_write("w" + std::to_string(w * 100 + k), kTimeout).ok())
          ++failed;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(failed.load(), 0);
  ASSERT_TRUE(eventually([&] {
    return c.sm(1).items().size() == 120 && c.sm(2).items().size() == 120 &&
           c.sm(3).items().size() == 120;
  }));
  EXPECT_EQ(c.sm(1).items(), c.sm(2).items());
  EXPECT_EQ(c.sm(1).items(), c.sm(3).items());
  uint64_t here = 0;
  for (int i = 1; i <= 3; ++i) {
    here += c.node(i).status().readies_applied_here;
    EXPECT_GT(c.node(i).status().snapshot_index, raft::LogIndex(0)) << "member " << i;
  }
  EXPECT_GT(here, 0u);
}

TEST(RaftNode, ALinearizableReadOnAFollowerSeesEveryEarlierWrite) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(c.node(leader).client_write("x" + std::to_string(i), kTimeout).ok());
    ASSERT_TRUE(c.node(follower).linearizable_read(kTimeout).ok());
    // The read returned only once the follower applied the write.
    EXPECT_EQ(c.sm(follower).items().size(), static_cast<size_t>(i + 1));
  }
}

// Reads share read-index rounds: one is out at a time per member, and the reads that
// came while it was out wait for the next. Without this, a follower asked the leader once
// per read (here 200 requests for 200 reads).
TEST(RaftNode, ConcurrentReadsShareReadIndexRounds) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  ASSERT_TRUE(c.node(leader).client_write("before", kTimeout).ok());
  std::atomic<int> asked{0};
  c.net().set_tap([&](NodeId from, NodeId, const raft::Message& m) {
    if (from == NodeId(follower) && std::holds_alternative<raft::ReadIndexRequest>(m.body)) {
      ++asked;
    }
    return true;
  });
  constexpr int kReads = 200;
  std::mutex mu;
  std::vector<absl::Status> answers;
  for (int i = 0; i < kReads; ++i) {
    c.node(follower).linearizable_read_async(kTimeout, [&](absl::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      answers.push_back(s);
    });
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return answers.size() == kReads;
  }));
  c.net().set_tap(nullptr);
  for (const absl::Status& s : answers) EXPECT_TRUE(s.ok()) << s;
  // Every read saw the write that completed before it.
  EXPECT_EQ(c.sm(follower).items(), std::vector<std::string>{"before"});
  EXPECT_GE(asked.load(), 1);
  EXPECT_LT(asked.load(), kReads / 4) << "read-index requests for " << kReads << " reads";
}

// A round whose request (or answer) is lost is asked again after 500 ms; its reads are
// answered by the next, well before their own deadlines.
TEST(RaftNode, AReadRoundWhoseRequestIsLostIsAskedAgain) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  ASSERT_TRUE(c.node(leader).client_write("before", kTimeout).ok());
  std::atomic<int> asked{0};
  c.net().set_tap([&](NodeId from, NodeId, const raft::Message& m) {
    if (from != NodeId(follower) || !std::holds_alternative<raft::ReadIndexRequest>(m.body)) {
      return true;
    }
    return ++asked > 1;  // the first is lost
  });
  const absl::Status read = c.node(follower).linearizable_read(kTimeout);
  c.net().set_tap(nullptr);
  EXPECT_TRUE(read.ok()) << read;
  EXPECT_EQ(asked.load(), 2);
}

// The leader has at most max_inflight_appends appends of entries out to a follower that
// has not acknowledged them; entries proposed meanwhile wait and go out together. Here a
// follower's answers are lost while 20 writes commit through the other follower: with one
// append allowed out it is sent one, with 256 one per write. Once its answers get through
// again it catches up.
void count_appends_to_a_silent_follower(uint32_t max_inflight_appends, int* appends) {
  Cluster c(3, 10'000, {}, {}, 0, max_inflight_appends);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int silent = leader % 3 + 1;
  ASSERT_TRUE(c.node(leader).client_write("before", kTimeout).ok());
  ASSERT_TRUE(eventually([&] { return c.sm(silent).items().size() == 1; }));
  std::atomic<int> sent{0};
  c.net().set_tap([&](NodeId from, NodeId to, const raft::Message& m) {
    if (from == NodeId(silent)) {
      return !std::holds_alternative<raft::AppendResponse>(m.body) &&
             !std::holds_alternative<raft::HeartbeatResponse>(m.body);
    }
    if (to == NodeId(silent)) {
      const auto* ae = std::get_if<raft::AppendEntries>(&m.body);
      if (ae != nullptr && !ae->entries.empty()) ++sent;
    }
    return true;
  });
  constexpr int kWrites = 20;
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(c.node(leader).client_write("w" + std::to_string(i), kTimeout).ok());
  }
  c.net().set_tap(nullptr);
  *appends = sent.load();
  ASSERT_TRUE(eventually([&] { return c.sm(silent).items().size() == kWrites + 1; }));
  EXPECT_EQ(c.sm(silent).items(), c.sm(leader).items());
}

TEST(RaftNode, ALeaderHasAtMostMaxInflightAppendsOutToAFollower) {
  int appends = 0;
  count_appends_to_a_silent_follower(1, &appends);
  EXPECT_EQ(appends, 1);
  count_appends_to_a_silent_follower(256, &appends);
  EXPECT_EQ(appends, 20);
}

TEST(RaftNode, ANewLeaderTakesOverAndARestartedNodeRecoversFromItsLog) {
  Cluster c(3);
  const int old = c.wait_leader();
  ASSERT_NE(old, 0);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.node(old).client_write("a", kTimeout).ok());
  c.stop(old, /*forget=*/true);
  int next = 0;
  ASSERT_TRUE(eventually([&] { return (next = c.leader()) != 0 && next != old; }));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.node(next).client_write("b", kTimeout).ok());
  c.start(old);  // a fresh state machine: everything comes from the data directory
  ASSERT_TRUE(eventually([&] { return c.sm(old).items().size() == 10; }));
  EXPECT_EQ(c.sm(old).items(), c.sm(next).items());
}

TEST(RaftNode, ARestartedMembersOwnEarlierEntriesNeverAnswerItsNewWrites) {
  // After a restart a member applies its earlier life's entries again, and each carries
  // the request number that life gave its write. Numbered from 1 again in the new life,
  // those entries answered the new writes with the same numbers: another write's result,
  // before the new write was even applied (chaos, process mix: a Txn of gets answered
  // with a put's response).
  Cluster c(1);
  ASSERT_EQ(c.wait_leader(), 1);
  std::set<std::string> old_results;
  for (int i = 0; i < 20; ++i) {
    auto r = c.node(1).client_write("old" + std::to_string(i), kTimeout);
    ASSERT_TRUE(r.ok()) << r.status();
    old_results.insert(*r);
  }
  c.restart_held(1);
  ASSERT_TRUE(eventually([&] { return c.leader() == 1; }));
  std::mutex mu;
  std::vector<absl::StatusOr<std::string>> results;
  for (int i = 0; i < 20; ++i) {
    c.node(1).client_write_async("new" + std::to_string(i), kTimeout,
                                 [&](absl::StatusOr<std::string> r) {
                                   std::lock_guard<std::mutex> lock(mu);
                                   results.push_back(std::move(r));
                                 });
  }
  c.sm(1).hold(false);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return results.size() == 20;
  }));
  std::set<std::string> new_results;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(old_results.contains(*r)) << "a new write was answered by an old entry: " << *r;
    new_results.insert(*r);
  }
  EXPECT_EQ(new_results.size(), 20u);
  EXPECT_EQ(c.sm(1).items().size(), 40u);
}

TEST(RaftNode, AWriteAsLeaderLandsOnlyInItsTermsLogAndIsNeverForwarded) {
  // A leader's own decision (a lease it found expired) is proposed as that term's leader
  // or not at all. A leader paused past its leases' deadlines wakes up believing it leads;
  // its revoke, forwarded as a client write is, reached the new leader's log and deleted
  // keys whose lease the new leader had renewed (chaos, membership mix).
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  const raft::Term term = c.node(leader).term();
  auto refused = c.node(follower).leader_write("from-follower", c.node(follower).term(), kTimeout);
  EXPECT_TRUE(is_node_error(refused.status(), NodeErrorKind::kNotLeader)) << refused.status();
  auto other = c.node(leader).leader_write("other-term", raft::Term(term.value() + 1), kTimeout);
  EXPECT_TRUE(is_node_error(other.status(), NodeErrorKind::kNotLeader)) << other.status();
  auto ok = c.node(leader).leader_write("in-term", term, kTimeout);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_TRUE(c.node(follower).linearizable_read(kTimeout).ok());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(eventually([&] { return c.sm(i).items().size() == 1; }));
    EXPECT_EQ(c.sm(i).items(), std::vector<std::string>{"in-term"}) << i;
  }
}

TEST(RaftNode, ALeaderCallIsAnsweredOnlyByALeaderAQuorumStillHears) {
  // A leader cut off from the others (and not yet stepped down) answered leader calls
  // from its own state: keep-alives renewed a lease in its lessor alone, while the
  // leader that replaced it let the lease expire (chaos, partitions mix). It now
  // confirms its leadership first (etcd 3.5's ensureLeadership).
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  auto here = c.node(leader).leader_call("a", kTimeout);
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_EQ(*here, "called a");
  auto forwarded = c.node(follower).leader_call("b", kTimeout);
  ASSERT_TRUE(forwarded.ok()) << forwarded.status();
  EXPECT_EQ(*forwarded, "called b");
  c.net().set_cut_off(NodeId(leader), true);
  auto cut = c.node(leader).leader_call("c", milliseconds(2000));
  EXPECT_FALSE(cut.ok()) << "a cut-off leader answered: " << *cut;
  c.net().set_cut_off(NodeId(leader), false);
}

TEST(RaftNode, AStalledLeaderWokenBehindItsSuccessorsMessageLeavesALeaderCallToIt) {
  // Chaos (process mix, seed 1787107966): a leader stopped by SIGSTOP while the others
  // elected a successor; woken, it took a keep-alive while its published view still named
  // itself leader, and queued the confirming round behind the successor's message. Its
  // core, a follower by then, asked the successor for a read index, which confirmed the
  // successor, and the stalled member answered from its own lessor: the lease expired
  // 0.18 s before the TTL it promised. The round must be one it runs as leader.
  Cluster c(3);
  const int old = c.wait_leader();
  ASSERT_NE(old, 0);
  ASSERT_TRUE(c.node(old).leader_call("before", kTimeout).ok());
  const raft::Term old_term = c.node(old).status().core.term;
  // Phase 1: of what is sent to `old`, only the first AppendEntries or Heartbeat of a
  // newer term gets through.
  std::atomic<int> phase{0};
  std::atomic<int> passed{0};
  c.net().set_tap([&](NodeId, NodeId to, const raft::Message& m) {
    if (to != NodeId(old) || phase != 1) return true;
    const bool successor =
        m.term > old_term && (std::holds_alternative<raft::AppendEntries>(m.body) ||
                              std::holds_alternative<raft::Heartbeat>(m.body));
    return successor && passed.fetch_add(1) == 0;
  });
  c.net().set_paused(NodeId(old), true);  // its core thread stops at its next send
  ASSERT_TRUE(eventually([&] { return c.net().send_blocked(NodeId(old)); }));
  phase = 1;
  int next = 0;
  ASSERT_TRUE(eventually([&] {
    for (int i = 1; i <= 3; ++i) {
      if (i != old && c.node(i).is_leader()) next = i;
    }
    return next != 0 && passed >= 1;
  }));
  EXPECT_TRUE(c.node(old).is_leader());  // its published view, stale
  const size_t queued = c.node(old).queue_depths().core;
  absl::StatusOr<std::string> answer = absl::UnknownError("unanswered");
  std::thread caller([&] { answer = c.node(old).leader_call("after", kTimeout); });
  // The call's round is queued behind the successor's message.
  const bool behind = eventually([&] { return c.node(old).queue_depths().core > queued; });
  phase = 2;
  c.net().set_paused(NodeId(old), false);
  caller.join();
  c.net().set_tap(nullptr);
  ASSERT_TRUE(behind);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(*answer, "called after");
  EXPECT_EQ(c.sm(next).calls(), std::vector<std::string>{"after"});
  EXPECT_EQ(c.sm(old).calls(), std::vector<std::string>{"before"});
}

TEST(RaftNode, AFollowerBehindACompactionCatchesUpFromASnapshot) {
  Cluster c(3, /*snapshot_entries=*/5);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int behind = leader % 3 + 1;
  c.stop(behind, /*forget=*/true);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(c.node(leader).client_write("s" + std::to_string(i), kTimeout).ok());
  }
  ASSERT_TRUE(eventually([&] { return c.node(leader).status().snapshot_index.value() >= 20; }));
  c.start(behind);
  ASSERT_TRUE(eventually([&] { return c.sm(behind).items().size() == 40; }));
  EXPECT_EQ(c.sm(behind).items(), c.sm(leader).items());
  EXPECT_GE(c.sm(behind).restores(), 1);  // it did get a snapshot
  // Once installed and saved, the follower keeps it as its file: none of the bytes it
  // received stay in memory.
  EXPECT_TRUE(eventually([&] {
    const MemoryHeld m = c.node(behind).status().memory;
    return m.snapshot_bytes == 0 && m.incoming_snapshot_bytes == 0;
  })) << c.node(behind).status().memory.snapshot_bytes;
}

// Each runtime thread carries its name, so that a profile (perf, top -H) reads thread by
// thread.
TEST(RaftNode, TheRuntimeThreadsAreNamed) {
  Cluster c(1);
  ASSERT_NE(c.wait_leader(), 0);
  std::multiset<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  for (const char* want : {"raftkv-core", "raftkv-storage", "raftkv-apply", "raftkv-timer"}) {
    EXPECT_EQ(names.count(want), 1u) << want;
  }
}

// An open that fails (a damaged snapshot file, a state machine that refuses it) names
// the file and returns the error: nothing was started, and nothing is left to stop (the
// half-built node's destructor once stopped parts that did not exist yet).
TEST(RaftNode, AnOpenThatFailsNamesTheSnapshotAndLeavesNothingToStop) {
  Cluster c(1, /*snapshot_entries=*/5);
  ASSERT_NE(c.wait_leader(), 0);
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(c.node(1).client_write("w", kTimeout).ok());
  ASSERT_TRUE(eventually([&] { return c.node(1).status().snapshot_index.value() >= 5; }));
  c.stop(1);
  const std::string snap_dir = c.config(1).data_dir + "/snap";
  transport::LocalNetwork net;
  std::unique_ptr<transport::Transport> t = net.join(NodeId(1));

  ListMachine refusing;
  refusing.refuse_restore();
  absl::StatusOr<std::unique_ptr<RaftNode>> refused =
      RaftNode::open(c.config(1), &refusing, t.get());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(refused.status().message().find(snap_dir + ": this machine refuses every snapshot"),
            std::string::npos)
      << refused.status();

  std::string newest;
  for (const auto& f : std::filesystem::directory_iterator(snap_dir)) {
    if (f.path().extension() == ".snap" && f.path().string() > newest) newest = f.path().string();
  }
  ASSERT_FALSE(newest.empty());
  {
    std::fstream f(newest, std::ios::binary | std::ios::in | std::ios::out);
    // The last byte of the state machine's (before the length and the checksum).
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(newest) - 17));
    f.put('!');
  }
  ListMachine fresh;
  absl::StatusOr<std::unique_ptr<RaftNode>> damaged = RaftNode::open(c.config(1), &fresh, t.get());
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(damaged.status().message().find(newest + ": bad checksum"), std::string::npos)
      << damaged.status();
  EXPECT_EQ(fresh.restores(), 0);
}

// A snapshot from the leader is written to a file as its chunks arrive and restored from
// its saved file a piece at a time, never gathered whole: on the follower that receives
// it and again when that follower restarts from its own snapshot file.
TEST(RaftNode, ASnapshotIsReceivedIntoAFileAndRestoredInPiecesNeverWhole) {
  Cluster c(3, /*snapshot_entries=*/5);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int behind = leader % 3 + 1;
  c.stop(behind, /*forget=*/true);
  // About 2.6 MB of state: three pieces of at most 1 MiB, once the leader's snapshot
  // holds the 11th write (2.2 MB) at least. Snapshots are taken every 5 entries, after
  // the writes are answered: small writes follow until one holds it (index 10 alone was
  // waited for once, which 8 writes can reach; under ThreadSanitizer the follower then
  // often got a snapshot of 2 pieces).
  uint64_t eleventh = 0;
  for (int i = 0; i < 13; ++i) {
    auto r = c.node(leader).client_write(std::to_string(i) + std::string(200'000, 'v'), kTimeout);
    ASSERT_TRUE(r.ok()) << r.status();
    if (i == 10) eleventh = std::stoull(r->substr(std::string("applied ").size()));
  }
  size_t written = 13;
  for (; written < 23 && c.node(leader).status().snapshot_index.value() < eleventh; ++written) {
    ASSERT_TRUE(c.node(leader).client_write("small" + std::to_string(written), kTimeout).ok());
  }
  ASSERT_TRUE(
      eventually([&] { return c.node(leader).status().snapshot_index.value() >= eleventh; }));
  c.start(behind);
  ASSERT_TRUE(eventually([&] { return c.sm(behind).items().size() == written; }));
  EXPECT_EQ(c.sm(behind).items(), c.sm(leader).items());
  EXPECT_GE(c.sm(behind).restores(), 1);
  EXPECT_EQ(c.sm(behind).whole_restores(), 0);
  auto [pieces, largest] = c.sm(behind).last_pieces();
  EXPECT_GE(pieces, 3u);
  EXPECT_LE(largest, kRestorePieceBytes);
  // The file the chunks went to goes once the snapshot is saved and installed.
  const std::string snap_dir = c.config(behind).data_dir + "/snap";
  EXPECT_TRUE(eventually([&] {
    for (const auto& f : std::filesystem::directory_iterator(snap_dir)) {
      if (f.path().string().ends_with(".recv.snap.tmp")) return false;
    }
    return true;
  }));
  EXPECT_EQ(c.node(behind).status().memory.incoming_snapshot_bytes, 0u);

  // Restarted, it restores its own snapshot file in pieces too.
  c.stop(behind, /*forget=*/true);
  c.start(behind);
  ASSERT_TRUE(eventually([&] { return c.sm(behind).items().size() == written; }));
  EXPECT_EQ(c.sm(behind).restores(), 1);
  EXPECT_EQ(c.sm(behind).whole_restores(), 0);
  std::tie(pieces, largest) = c.sm(behind).last_pieces();
  EXPECT_GE(pieces, 3u);
  EXPECT_LE(largest, kRestorePieceBytes);
}

// A fatal error halts the node even when the embedder's handler returns: a follower whose
// state machine cannot restore the leader's snapshot applies none of the entries after it
// (they would land on the state the snapshot was to replace), and its requests fail at
// once rather than hang. Before the halt, it went on applying.
TEST(RaftNode, AFatalErrorHaltsTheNodeEvenWhenTheHandlerReturns) {
  std::mutex mu;
  std::vector<std::pair<int, std::string>> fatals;
  Cluster c(3, /*snapshot_entries=*/5);
  c.on_fatal = [&](int i, const std::string& m) {
    std::lock_guard<std::mutex> lock(mu);
    fatals.emplace_back(i, m);
  };
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int behind = leader % 3 + 1;
  const int other = 6 - leader - behind;
  c.stop(behind, /*forget=*/true);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(c.node(leader).client_write("s" + std::to_string(i), kTimeout).ok());
  }
  ASSERT_TRUE(eventually([&] { return c.node(leader).status().snapshot_index.value() >= 20; }));
  auto refusing = std::make_unique<ListMachine>();
  refusing->refuse_restore();
  c.set_sm(behind, std::move(refusing));
  c.start(behind);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !fatals.empty();
  }));
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(fatals[0].first, behind);
    EXPECT_NE(fatals[0].second.find("the snapshot from the leader cannot be restored"),
              std::string::npos)
        << fatals[0].second;
  }
  // The cluster goes on; the halted member applies nothing of it.
  for (int i = 40; i < 50; ++i) {
    ASSERT_TRUE(c.node(leader).client_write("s" + std::to_string(i), kTimeout).ok());
  }
  ASSERT_TRUE(eventually([&] { return c.sm(other).items().size() == 50; }));
  EXPECT_TRUE(c.sm(behind).items().empty());
  // (What it applied from its own log before the snapshot came stays: index 1 or 2.)
  EXPECT_LT(c.node(behind).status().applied.value(), 20u);
  // A request on it fails as stopped, naming the failure (not kTimedOut after waiting).
  absl::StatusOr<std::string> w = c.node(behind).client_write("late", milliseconds(30'000));
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(is_node_error(w.status(), NodeErrorKind::kStopped)) << w.status();
  EXPECT_NE(w.status().message().find("after a fatal error"), std::string::npos) << w.status();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(fatals.size(), 1u);  // once
}

// With a tail of entries kept behind each snapshot (etcd's catch-up entries), a follower
// a little behind the compaction catches up from the log: no snapshot is sent.
TEST(RaftNode, AFollowerWithinTheCatchUpTailGetsEntriesNotASnapshot) {
  Cluster c(3, /*snapshot_entries=*/5, {}, {}, /*catch_up_entries=*/100);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int behind = leader % 3 + 1;
  c.stop(behind, /*forget=*/false);
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(c.node(leader).client_write("t" + std::to_string(i), kTimeout).ok());
  }
  ASSERT_TRUE(eventually([&] { return c.node(leader).status().snapshot_index.value() >= 20; }));
  c.start(behind);
  ASSERT_TRUE(eventually([&] { return c.sm(behind).items().size() == 40; }));
  EXPECT_EQ(c.sm(behind).items(), c.sm(leader).items());
  EXPECT_EQ(c.node(behind).metrics().snapshots_installed.value(), 0);
  EXPECT_EQ(c.node(leader).metrics().snapshots_sent.value(), 0);
}

// status().memory: the log's entries until a snapshot folds them; the snapshot is kept
// for followers as its file, not in memory.
TEST(RaftNode, StatusCountsTheBytesTheCoreHolds) {
  Cluster c(1, /*snapshot_entries=*/20);
  ASSERT_NE(c.wait_leader(), 0);
  const std::string value(1000, 'v');
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.node(1).client_write(value, kTimeout).ok());
  EXPECT_TRUE(eventually([&] { return c.node(1).status().memory.log_bytes >= 10 * 1000; }))
      << c.node(1).status().memory.log_bytes;
  EXPECT_EQ(c.node(1).status().snapshot_index.value(), 0u);
  for (int i = 0; i < 15; ++i) ASSERT_TRUE(c.node(1).client_write(value, kTimeout).ok());
  ASSERT_TRUE(eventually([&] { return c.node(1).status().snapshot_index.value() >= 20; }));
  const NodeState st = c.node(1).status();
  EXPECT_EQ(st.memory.snapshot_bytes, 0u);
  // What it folded left the log: only the entries after it remain (1000 bytes and some
  // framing each).
  EXPECT_LE(st.memory.log_bytes, (st.core.last_index.value() - st.snapshot_index.value()) * 1100);
  EXPECT_EQ(st.memory.incoming_snapshot_bytes, 0u);
}

TEST(RaftNode, WithoutAQuorumAWriteFailsWithATypedError) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  for (int i = 1; i <= 3; ++i) {
    if (i != leader) c.net().set_cut_off(NodeId(i), true);
  }
  auto r = c.node(leader).client_write("lost", milliseconds(500));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(is_node_error(r.status(), NodeErrorKind::kTimedOut) ||
              is_node_error(r.status(), NodeErrorKind::kNoLeader))
      << r.status();
}

TEST(RaftNode, AsyncWritesAndReadsCompleteExactlyOnceWithoutAWaitingThread) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  std::mutex mu;
  std::vector<absl::StatusOr<std::string>> results;
  for (int i = 0; i < 60; ++i) {
    // All in flight at once, from every node (followers forward).
    c.node(1 + i % 3).client_write_async("a" + std::to_string(i), kTimeout,
                                         [&](absl::StatusOr<std::string> r) {
                                           std::lock_guard<std::mutex> lock(mu);
                                           results.push_back(std::move(r));
                                         });
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return results.size() == 60;
  }));
  for (const auto& r : results) EXPECT_TRUE(r.ok() && r->rfind("applied ", 0) == 0) << r.status();
  const int follower = leader % 3 + 1;
  std::atomic<int> reads{0};
  std::atomic<size_t> seen{0};
  c.node(follower).linearizable_read_async(kTimeout, [&](absl::Status s) {
    EXPECT_TRUE(s.ok()) << s;
    seen = c.sm(follower).items().size();  // applied before the read completes
    ++reads;
  });
  ASSERT_TRUE(eventually([&] { return reads == 1; }));
  EXPECT_EQ(seen.load(), 60u);

  // No quorum: the timer fails the write once its time is up, and only once.
  for (int i = 1; i <= 3; ++i) {
    if (i != leader) c.net().set_cut_off(NodeId(i), true);
  }
  std::atomic<int> failed{0};
  absl::Status why;
  c.node(leader).client_write_async("lost", milliseconds(300), [&](absl::StatusOr<std::string> r) {
    why = r.status();
    ++failed;
  });
  ASSERT_TRUE(eventually([&] { return failed == 1; }));
  EXPECT_TRUE(is_node_error(why, NodeErrorKind::kTimedOut) ||
              is_node_error(why, NodeErrorKind::kNoLeader))
      << why;
  // A stopped node answers at once.
  c.stop(follower);
  c.stop(leader);
  std::vector<absl::Status> after;
  for (int i = 1; i <= 3; ++i) {
    if (i == follower || i == leader) continue;
    c.node(i).stop();
    c.node(i).client_write_async(
        "late", kTimeout, [&](absl::StatusOr<std::string> r) { after.push_back(r.status()); });
  }
  ASSERT_EQ(after.size(), 1u);
  EXPECT_TRUE(is_node_error(after[0], NodeErrorKind::kStopped)) << after[0];
  // Every node has stopped (its timer and completions drained): nothing fired twice.
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ(results.size(), 60u);
}

// etcd's overload rule: while applying trails committing by more than the bound, a new
// write is refused at once (kOverloaded, RESOURCE_EXHAUSTED at the server) and never
// reaches the log; once applying catches up, writes are taken again.
TEST(RaftNode, AWriteIsRefusedWhileApplyingLagsTooFarAndTakenOnceItCatchesUp) {
  Cluster c(1, 10'000, OverloadBounds{.max_apply_lag = 0});
  ASSERT_EQ(c.wait_leader(), 1);
  RaftNode& n = c.node(1);
  auto lag = [&n] {
    const NodeState st = n.status();
    return st.core.commit > st.applied ? st.core.commit.value() - st.applied.value() : 0;
  };
  // Everything the new leader appended of its own (its term's first entry) applied first:
  // while that trails, "first" would be refused too. A write that returns has been applied
  // here, after every entry before it. (Waiting for a lag of 0 alone raced: the
  // bootstrap entry could be applied before the leader's entry was even committed; and
  // "zero" itself is refused, never appended, while the leader's entry trails.)
  ASSERT_TRUE(eventually([&] { return n.client_write("zero", kTimeout).ok(); }));
  ASSERT_TRUE(eventually([&] { return lag() == 0; }));
  c.sm(1).hold(true);
  std::atomic<int> answered{0};
  absl::StatusOr<std::string> first = absl::UnknownError("unanswered");
  n.client_write_async("first", kTimeout, [&](absl::StatusOr<std::string> r) {
    first = std::move(r);
    ++answered;
  });
  // Committed, and stuck in apply.
  ASSERT_TRUE(eventually([&] { return lag() >= 1; }));
  const raft::LogIndex commit = n.status().core.commit;
  // "zero" above may itself have been refused before it was taken: count from here.
  const uint64_t refused_before = n.status().overload.refused_apply_lag;
  auto refused = n.client_write("second", kTimeout);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(is_node_error(refused.status(), NodeErrorKind::kOverloaded)) << refused.status();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(), "applying trails committing by 1 entries (at most 0)");
  EXPECT_EQ(n.status().core.commit, commit);  // the refused write is in no log
  EXPECT_EQ(n.status().overload.refused_apply_lag, refused_before + 1);
  c.sm(1).hold(false);
  ASSERT_TRUE(eventually([&] { return answered == 1; }));
  EXPECT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(eventually([&] { return lag() == 0; }));
  EXPECT_TRUE(n.client_write("third", kTimeout).ok());
  EXPECT_EQ(c.sm(1).items(), (std::vector<std::string>{"zero", "first", "third"}));
}

// While the state machine is held (a long apply, a local snapshot being taken), the core
// goes on: what is written meanwhile is appended and committed, as etcd's raft loop
// advances once a Ready is handed to its apply loop. A change waiting for its entry is
// answered only once the state machine has applied it too, and everything applies in
// log order once released.
TEST(RaftNode, WhileApplyingIsHeldTheCoreGoesOnAndAChangeIsAnsweredOnlyOnceApplied) {
  Cluster c(3);
  const int l = c.wait_leader();
  ASSERT_NE(l, 0);
  RaftNode& n = c.node(l);
  ASSERT_TRUE(eventually([&] { return n.client_write("zero", kTimeout).ok(); }));
  struct Release {  // however the test ends, so that the nodes can stop
    ListMachine& sm;
    ~Release() { sm.hold(false); }
  } release{c.sm(l)};
  c.sm(l).hold(true);
  std::atomic<int> answered{0};
  auto count = [&](absl::StatusOr<std::string> r) {
    EXPECT_TRUE(r.ok()) << r.status();
    ++answered;
  };
  n.client_write_async("first", kTimeout, count);
  // Committed, and stuck in apply.
  ASSERT_TRUE(eventually([&] { return n.status().core.commit > n.status().applied; }));
  const raft::LogIndex first = n.status().core.commit;
  const TimeoutsMs next{25, 200, 400};
  std::future<absl::Status> change =
      std::async(std::launch::async, [&] { return n.update_timeouts(next, kTimeout); });
  for (int i = 0; i < 5; ++i) n.client_write_async("w" + std::to_string(i), kTimeout, count);
  // The change's entry and the five writes after it: appended and committed meanwhile.
  ASSERT_TRUE(eventually([&] { return n.status().core.commit.value() >= first.value() + 6; }))
      << "the core waited for the held apply (commit " << n.status().core.commit.value()
      << ", the held write at " << first.value() << ")";
  EXPECT_LE(n.status().applied.value(), first.value() - 1);
  // Not answered while its entry waits behind the held one.
  EXPECT_EQ(change.wait_for(milliseconds(100)), std::future_status::timeout);
  EXPECT_EQ(answered.load(), 0);
  c.sm(l).hold(false);
  ASSERT_EQ(change.wait_for(kTimeout), std::future_status::ready);
  EXPECT_TRUE(change.get().ok());
  ASSERT_TRUE(eventually([&] { return answered.load() == 6; }));
  EXPECT_EQ(n.timeouts(), next);
  EXPECT_EQ(c.sm(l).items(),
            (std::vector<std::string>{"zero", "first", "w0", "w1", "w2", "w3", "w4"}));
}

// With no room to apply ahead (max_applying_bytes 0), the core takes no Ready while one
// is being applied: what is written behind a held apply is not even committed until the
// apply is released. (The bound that keeps the apply thread's queue from growing without
// end; the default room is tested above.)
TEST(RaftNode, WithNoRoomToApplyAheadTheCoreWaitsForTheApply) {
  Cluster c(3, 10'000, OverloadBounds{.max_applying_bytes = 0});
  const int l = c.wait_leader();
  ASSERT_NE(l, 0);
  RaftNode& n = c.node(l);
  ASSERT_TRUE(eventually([&] { return n.client_write("zero", kTimeout).ok(); }));
  struct Release {
    ListMachine& sm;
    ~Release() { sm.hold(false); }
  } release{c.sm(l)};
  c.sm(l).hold(true);
  std::atomic<int> answered{0};
  n.client_write_async("first", kTimeout, [&](absl::StatusOr<std::string>) { ++answered; });
  ASSERT_TRUE(eventually([&] { return n.status().core.commit > n.status().applied; }));
  const raft::LogIndex first = n.status().core.commit;
  n.client_write_async("second", kTimeout, [&](absl::StatusOr<std::string>) { ++answered; });
  // A bounded look for what must not happen: "second" committed behind the held apply.
  EXPECT_FALSE(eventually([&] { return n.status().core.commit > first; }, milliseconds(200)));
  c.sm(l).hold(false);
  ASSERT_TRUE(eventually([&] { return answered.load() == 2; }));
  EXPECT_EQ(c.sm(l).items(), (std::vector<std::string>{"zero", "first", "second"}));
}

// A snapshot rewrites the whole state machine. With snapshot_log_percent, a large one is
// taken again only once the entries since the last hold that share of its bytes, not
// every snapshot_entries entries; with 0, every snapshot_entries entries (etcd's rule).
TEST(RaftNode, ALargeStateIsSnapshottedAgainOnlyOnceTheLogSinceHoldsAShareOfIt) {
  for (const uint32_t percent : {50u, 0u}) {
    SCOPED_TRACE("snapshot_log_percent " + std::to_string(percent));
    Cluster c(1, /*snapshot_entries=*/10, {}, {}, 0, NodeConfig{}.max_inflight_appends,
              /*apply_here=*/false, percent);
    ASSERT_EQ(c.wait_leader(), 1);
    RaftNode& n = c.node(1);
    int written = 0;
    auto write = [&](std::string item) {
      ASSERT_TRUE(n.client_write(std::move(item), kTimeout).ok());
      ++written;
    };
    // A 64 KiB item, then small ones until a snapshot holds it.
    ASSERT_NO_FATAL_FAILURE(write(std::string(64 * 1024, 'b')));
    const raft::LogIndex big = n.status().applied;
    while (n.status().snapshot_index < big && written < 200) {
      ASSERT_NO_FATAL_FAILURE(write("s" + std::to_string(written)));
    }
    ASSERT_TRUE(eventually([&] { return n.status().snapshot_index >= big; }));
    const raft::LogIndex first = n.status().snapshot_index;
    // 40 small entries: four times snapshot_entries, a few KiB against the 64 KiB held.
    for (int i = 0; i < 40; ++i) ASSERT_NO_FATAL_FAILURE(write("t" + std::to_string(i)));
    if (percent == 0) {
      ASSERT_TRUE(eventually([&] { return n.status().snapshot_index > first; }));
      continue;
    }
    // A bounded look for what must not happen: a snapshot of the whole again.
    EXPECT_FALSE(eventually([&] { return n.status().snapshot_index > first; }, milliseconds(300)));
    // Once the log since holds half the snapshot's bytes, the next is taken.
    ASSERT_NO_FATAL_FAILURE(write(std::string(40 * 1024, 'c')));
    for (int i = 0; i < 10; ++i) ASSERT_NO_FATAL_FAILURE(write("u" + std::to_string(i)));
    EXPECT_TRUE(eventually([&] { return n.status().snapshot_index > first; }));
  }
}

// A state machine that writes its snapshots beside the apply thread (begin_snapshot)
// holds no apply while one is written: writes go on being applied and answered, and the
// snapshot, once written, holds the state of its index (a restart restores it and
// applies the rest from the log, each item once).
TEST(RaftNode, ASnapshotWrittenBesideTheApplyThreadHoldsNoApply) {
  Cluster c(1, /*snapshot_entries=*/5);
  ASSERT_EQ(c.wait_leader(), 1);
  c.sm(1).write_snapshots_beside();
  c.sm(1).hold_snapshots(true);
  struct Release {  // however the test ends, so that the node can stop
    Cluster& c;
    ~Release() { c.sm(1).hold_snapshots(false); }  // the machine node 1 has then
  } release{c};
  std::vector<std::string> items;
  auto write = [&](std::string item) {
    ASSERT_TRUE(c.node(1).client_write(item, kTimeout).ok()) << "not applied: " << item;
    items.push_back(std::move(item));
  };
  while (c.sm(1).snapshots_begun() == 0 && items.size() < 100) {
    ASSERT_NO_FATAL_FAILURE(write("a" + std::to_string(items.size())));
  }
  ASSERT_EQ(c.sm(1).snapshots_begun(), 1);
  const raft::LogIndex before = c.node(1).status().snapshot_index;
  // Each write returns once applied: the apply thread goes on while the snapshot waits.
  for (int i = 0; i < 20; ++i) ASSERT_NO_FATAL_FAILURE(write("b" + std::to_string(i)));
  EXPECT_EQ(c.node(1).status().snapshot_index, before);  // not written yet
  EXPECT_EQ(c.sm(1).snapshots_begun(), 1);               // one at a time
  c.sm(1).hold_snapshots(false);
  ASSERT_TRUE(eventually([&] { return c.node(1).status().snapshot_index > before; }));
  c.stop(1, /*forget=*/true);
  c.start(1);
  EXPECT_GE(c.sm(1).restores(), 1);
  ASSERT_TRUE(eventually([&] { return c.sm(1).items().size() >= items.size(); }));
  EXPECT_EQ(c.sm(1).items(), items);
}

// Snapshots that extend the one before (SnapshotJob::extends) are files that extend the
// newest on disk: a restart restores the chain, and a follower cut off while the leader
// compacted its log gets the chain as one snapshot; both end with every item once.
TEST(RaftNode, SnapshotsThatExtendTheOneBeforeAreRestoredAndSentAsOne) {
  Cluster c(3, /*snapshot_entries=*/5);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  for (int i = 1; i <= 3; ++i) c.sm(i).write_deltas();
  const int lagging = leader % 3 + 1;
  c.net().set_cut_off(NodeId(lagging), true);
  std::vector<std::string> items;
  for (int i = 0; i < 60; ++i) {
    items.push_back("d" + std::to_string(i));
    ASSERT_TRUE(c.node(leader).client_write(items.back(), kTimeout).ok()) << items.back();
  }
  ASSERT_TRUE(eventually([&] { return c.sm(leader).deltas_begun() >= 3; }));
  const raft::LogIndex snap = c.node(leader).status().snapshot_index;
  EXPECT_GT(snap.value(), 10u);
  // The follower behind the leader's compacted log gets the chain as one snapshot.
  c.net().set_cut_off(NodeId(lagging), false);
  ASSERT_TRUE(eventually([&] { return c.sm(lagging).items() == items; }));
  EXPECT_GE(c.sm(lagging).restores(), 1);
  // The leader, restarted, restores its chain and replays the rest of its log.
  c.stop(leader, /*forget=*/true);
  c.start(leader);
  EXPECT_GE(c.sm(leader).restores(), 1);
  ASSERT_TRUE(eventually([&] { return c.sm(leader).items() == items; }));
}

// The server's permits ride on the runtime's callbacks (server::Context::write_async):
// each write holds one from admission until its callback has run, or until the runtime
// drops the callback unrun at stop. Here with the runtime's own threads (core, storage,
// apply, timers, forwarding), so that `make test-tsan` checks the release paths for
// races, without gRPC (Debian's is not built for ThreadSanitizer): success (on the
// leader and forwarded by followers), the deadline without a quorum, a follower whose
// leader is gone, and a stop with writes in flight. After each, nothing is held.
TEST(RaftNode, PermitsRidingOnWritesComeBackOnEveryPathThatEndsThem) {
  limits::LimitsConfig lc;
  lc.member.max_memory_bytes = 1 << 20;
  limits::Limiter limiter(lc, limits::Clock::now());
  Cluster c(3);
  std::atomic<int> answered{0}, ok{0};
  auto write = [&](int node, const std::string& v, milliseconds timeout) {
    auto admitted = limiter.admit("client", limits::Request{.bytes = v.size(), .write = true},
                                  limits::Clock::now());
    ASSERT_TRUE(std::holds_alternative<limits::Permit>(admitted));
    auto held = std::make_shared<limits::Permit>(std::get<limits::Permit>(std::move(admitted)));
    c.node(node).client_write_async(v, timeout, [&, held](absl::StatusOr<std::string> r) {
      if (r.ok()) ++ok;
      held->release();
      ++answered;
    });
  };
  auto nothing_held = [&] { return limiter.member_usage() == limits::Usage{}; };
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int f1 = leader % 3 + 1, f2 = f1 % 3 + 1;

  // Success, from writers on three threads at once, every node taking some.
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i)
        write(1 + (t + i) % 3, "ok" + std::to_string(t * 100 + i), kTimeout);
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_TRUE(eventually([&] { return answered == 60; }));
  EXPECT_EQ(ok.load(), 60);
  EXPECT_TRUE(nothing_held());

  // The deadline: no quorum, so the leader's timer fails them.
  c.net().set_cut_off(NodeId(f1), true);
  c.net().set_cut_off(NodeId(f2), true);
  for (int i = 0; i < 5; ++i) write(leader, "late" + std::to_string(i), milliseconds(200));
  ASSERT_TRUE(eventually([&] { return answered == 65; }));
  EXPECT_TRUE(nothing_held());

  // A follower forwarding to a leader it cannot reach.
  c.net().set_cut_off(NodeId(f2), false);
  c.net().set_cut_off(NodeId(leader), true);
  for (int i = 0; i < 5; ++i) write(f2, "fwd" + std::to_string(i), milliseconds(300));
  ASSERT_TRUE(eventually([&] { return answered == 70; }));
  EXPECT_TRUE(nothing_held());

  // A stop with writes in flight: f2 alone has no quorum, so they wait until it stops.
  for (int i = 0; i < 5; ++i) write(f2, "stop" + std::to_string(i), kTimeout);
  EXPECT_FALSE(nothing_held());
  c.stop(f2);
  EXPECT_TRUE(eventually([&] { return nothing_held(); }));
  EXPECT_LE(answered.load(), 75);
}

// The transport asks the node who is a member before it hears a peer stream or a
// forwarded request: the latest configuration, voters and learners.
TEST(RaftNode, TheTransportHearsOnlyMembersOfTheLatestConfiguration) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(c.node(leader).is_member(NodeId(i))) << i;
  EXPECT_FALSE(c.node(leader).is_member(NodeId(9)));
  ASSERT_TRUE(c.node(leader)
                  .change_membership({NodeId(1), NodeId(2), NodeId(3)}, {NodeId(9)}, kTimeout)
                  .ok());
  EXPECT_TRUE(c.node(leader).is_member(NodeId(9)));  // a learner is one
}

TEST(RaftNode, LeadershipMovesToTheChosenNode) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int target = leader % 3 + 1;
  ASSERT_TRUE(c.node(leader).transfer_leadership(NodeId(target), kTimeout).ok());
  EXPECT_TRUE(c.node(target).is_leader());
}

TEST(RaftNode, TimeoutsChangeAtRunTimeOnEveryNode) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const TimeoutsMs next{25, 200, 400};
  // Asked on a follower: forwarded to the leader, through the log.
  ASSERT_TRUE(c.node(leader % 3 + 1).update_timeouts(next, kTimeout).ok());
  ASSERT_TRUE(eventually([&] {
    return c.node(1).timeouts() == next && c.node(2).timeouts() == next &&
           c.node(3).timeouts() == next;
  }));
  // Invalid ones are refused and change nothing.
  absl::Status bad = c.node(leader).update_timeouts(TimeoutsMs{300, 200, 400}, kTimeout);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("election timeout 200 ms must be at least 5 times the heartbeat"),
            std::string::npos)
      << bad;
  EXPECT_EQ(c.node(leader).timeouts(), next);
}

// The member that receives a cluster operation checks its client; the leader asks again
// with the user the forwarded request carries, before it acts (issue 16).
TEST(RaftNode, TheLeaderAuthorizesAForwardedClusterOperationWithTheUserItCarries) {
  std::mutex mu;
  std::vector<std::tuple<int, std::string, std::string>> asked;  // node, user, action
  Cluster c(3, 10'000, {}, [&](int i) -> Cluster::Authorize {
    return [&, i](const std::string& user, std::string_view action) {
      std::lock_guard lock(mu);
      asked.emplace_back(i, user, std::string(action));
      if (user == "mallory") {
        return absl::PermissionDeniedError("user mallory may not " + std::string(action));
      }
      return absl::OkStatus();
    };
  });
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  const TimeoutsMs before = c.node(leader).timeouts();
  absl::Status refused =
      c.node(follower).update_timeouts(TimeoutsMs{25, 200, 400}, kTimeout, "mallory");
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_EQ(refused.message(), "user mallory may not change_config");
  refused = c.node(follower).remove_node(NodeId(leader), kTimeout, "mallory");
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied) << refused;
  EXPECT_EQ(c.node(leader).timeouts(), before);
  EXPECT_TRUE(c.node(leader).status().membership.contains(NodeId(leader)));
  ASSERT_TRUE(c.node(follower).update_timeouts(TimeoutsMs{25, 200, 400}, kTimeout, "alice").ok());
  std::lock_guard lock(mu);
  // Asked on the leader (the follower forwarded it), with the user and the action.
  const std::vector<std::tuple<int, std::string, std::string>> want = {
      {leader, "mallory", "change_config"},
      {leader, "mallory", "remove_node"},
      {leader, "alice", "change_config"}};
  EXPECT_EQ(asked, want);
}

TEST(RaftNode, ALearnerIsAddedThenPromotedAndAVoterRemoved) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  ASSERT_TRUE(c.node(leader).client_write("before", kTimeout).ok());
  const int gone = leader % 3 + 1;
  ASSERT_TRUE(c.node(leader).remove_node(NodeId(gone), kTimeout).ok());
  ASSERT_TRUE(
      eventually([&] { return !c.node(leader).status().membership.contains(NodeId(gone)); }));
  // The members that applied the removal refuse the removed one's stream; a node that
  // never was a member is not "removed", and neither is a member itself.
  ASSERT_TRUE(eventually([&] { return c.node(leader).is_removed(NodeId(gone)); }));
  EXPECT_FALSE(c.node(leader).is_removed(NodeId(42)));
  EXPECT_FALSE(c.node(leader).is_removed(NodeId(leader)));
  ASSERT_TRUE(c.node(leader).add_node(NodeId(gone), /*learner=*/true, kTimeout).ok());
  ASSERT_TRUE(eventually(
      [&] { return c.node(leader).status().membership.learners.contains(NodeId(gone)); }));
  ASSERT_TRUE(eventually([&] { return !c.node(leader).is_removed(NodeId(gone)); }));  // back
  absl::Status promoted = c.node(leader).promote_node(NodeId(gone), kTimeout);
  ASSERT_TRUE(promoted.ok()) << promoted;
  ASSERT_TRUE(
      eventually([&] { return c.node(leader).status().membership.voters.contains(NodeId(gone)); }));
  absl::Status again = c.node(leader).promote_node(NodeId(gone), kTimeout);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_NE(again.message().find("is not a learner"), std::string::npos) << again;
}

// What a peer hands the leader is read, never trusted: a forwarded request that is
// garbled, cut short or empty is refused as InvalidArgument naming what was wrong, and
// changes nothing (run under ASan by make test: no read past the bytes received). The
// old hand-packed format read 8 bytes from a 4-byte string here.
TEST(RaftNode, AShortOrGarbledForwardedRequestIsRefusedAndChangesNothing) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const TimeoutsMs before = c.node(leader).timeouts();
  raftkv::node::ForwardedRequest timeouts;
  timeouts.mutable_timeouts()->set_heartbeat_ms(50);
  timeouts.mutable_timeouts()->set_election_min_ms(500);
  timeouts.mutable_timeouts()->set_election_max_ms(1000);
  const std::string whole = timeouts.SerializeAsString();
  raftkv::node::ForwardedRequest half;  // a timeouts request without its election timeouts
  half.mutable_timeouts()->set_heartbeat_ms(50);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"cut short", whole.substr(0, whole.size() - 3)},
      {"the old op-code format", std::string("\x06\x32\x00\x00\x00\xf4\x01\x00\x00", 9)},
      {"garbled", std::string("\xff\xff\xff\xff\x0f\x01", 6)},
      {"empty", std::string()},
      {"incomplete timeouts", half.SerializeAsString()},
  };
  for (const auto& [what, payload] : bad) {
    std::promise<absl::StatusOr<std::string>> answer;
    c.node(leader).on_forward(NodeId(leader % 3 + 1), payload, kTimeout,
                              [&](absl::StatusOr<std::string> r) { answer.set_value(r); });
    auto future = answer.get_future();
    ASSERT_EQ(future.wait_for(kTimeout), std::future_status::ready) << what;
    absl::StatusOr<std::string> r = future.get();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << what << ": " << r.status();
    EXPECT_FALSE(r.status().message().empty()) << what;
  }
  EXPECT_EQ(c.node(leader).timeouts(), before);
  // The well-formed request goes through.
  std::promise<absl::StatusOr<std::string>> answer;
  c.node(leader).on_forward(NodeId(leader % 3 + 1), whole, kTimeout,
                            [&](absl::StatusOr<std::string> r) { answer.set_value(r); });
  EXPECT_TRUE(answer.get_future().get().ok());
  // Answered once the core took the change in: the member that answered reports it.
  EXPECT_EQ(c.node(leader).timeouts(), (TimeoutsMs{50, 500, 1000}));
}

// A member may hand the leader only its own clients' writes: a proposal whose envelope
// names another origin is refused back to the sender, and an unreadable one is counted.
TEST(RaftNode, AProposalNamingAnotherOriginOrUnreadableIsNeverAppended) {
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  ASSERT_TRUE(c.node(leader).client_write("first", kTimeout).ok());
  const int follower = leader % 3 + 1;
  raftkv::node::LogCommand forged;
  forged.set_origin(leader);  // claims to come from the leader itself
  forged.set_request(77);
  forged.set_command("forged");
  c.node(leader).on_proposal(NodeId(follower), forged.SerializeAsString());
  c.node(leader).on_proposal(NodeId(follower), std::string("\xff\xff\xff", 3));
  EXPECT_EQ(c.node(leader).status().malformed_proposals, 2u);
  ASSERT_TRUE(c.node(leader).client_write("second", kTimeout).ok());
  ASSERT_TRUE(eventually([&] { return c.sm(follower).items().size() == 2; }));
  EXPECT_EQ(c.sm(leader).items(), (std::vector<std::string>{"first", "second"}));
}

TEST(RaftNode, AProposalHandedOverInAnotherTermIsRefusedAndNeverAppended) {
  // A member hands its write over naming the term it saw the leader lead in; the leader
  // appends it only in that term, so that the member knows which term the entry carries.
  Cluster c(3);
  const int leader = c.wait_leader();
  ASSERT_NE(leader, 0);
  const int follower = leader % 3 + 1;
  raftkv::node::LogCommand stale;
  stale.set_origin(follower);
  stale.set_request(77);
  stale.set_command("stale");
  stale.set_term(c.node(leader).term().value() + 1);
  c.node(leader).on_proposal(NodeId(follower), stale.SerializeAsString());
  ASSERT_TRUE(c.node(leader).client_write("after", kTimeout).ok());
  ASSERT_TRUE(eventually([&] { return !c.sm(follower).items().empty(); }));
  EXPECT_EQ(c.sm(follower).items(), std::vector<std::string>{"after"});
  EXPECT_EQ(c.sm(leader).items(), std::vector<std::string>{"after"});
}

// A follower hands a write to the leader, whose appends of it are lost; then the leader
// is cut off and the other two elect a new one. With `reached_follower` the follower
// got the entry (its acknowledgement lost), so the new leader (it) commits it; without,
// only the old leader has it, and the write is in no log that can commit: the follower
// learns so when the new leader's first entry applies, and sends it again. Either way
// the write succeeds long before its deadline and applies once.
void write_through_a_leader_cut_off(bool reached_follower) {
  Cluster c(3);
  const int old = c.wait_leader();
  ASSERT_NE(old, 0);
  ASSERT_TRUE(c.node(old).client_write("before", kTimeout).ok());
  const int writer = old % 3 + 1;
  const int other = writer % 3 + 1;
  ASSERT_TRUE(eventually([&] { return c.sm(writer).items().size() == 1; }));
  std::atomic<int> held{0};
  c.net().set_tap([&](NodeId from, NodeId to, const raft::Message& m) {
    const auto* ae = std::get_if<raft::AppendEntries>(&m.body);
    if (from == NodeId(old) && ae != nullptr && !ae->entries.empty()) {
      if (!reached_follower || to == NodeId(other)) {
        ++held;
        return false;
      }
      return true;
    }
    if (reached_follower && from == NodeId(writer) &&
        std::holds_alternative<raft::AppendResponse>(m.body)) {
      ++held;  // the writer has the entry: its answer is lost
      return false;
    }
    return true;
  });
  std::promise<absl::StatusOr<std::string>> result;
  c.node(writer).client_write_async("w", milliseconds(20'000),
                                    [&](absl::StatusOr<std::string> r) { result.set_value(r); });
  ASSERT_TRUE(eventually([&] { return held.load() > 0; }));
  c.net().set_cut_off(NodeId(old), true);
  c.net().set_tap(nullptr);
  auto done = result.get_future();
  ASSERT_EQ(done.wait_for(milliseconds(15'000)), std::future_status::ready)
      << "the write waited for its deadline";
  const absl::StatusOr<std::string> r = done.get();
  ASSERT_TRUE(r.ok()) << r.status();
  c.net().set_cut_off(NodeId(old), false);
  // A write after it, so that a second copy of "w" would have applied before it.
  ASSERT_TRUE(c.node(writer).client_write("after", kTimeout).ok());
  const std::vector<std::string> want{"before", "w", "after"};
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(eventually([&] {
      const std::vector<std::string> items = c.sm(i).items();
      return !items.empty() && items.back() == "after";
    })) << i;
    EXPECT_EQ(c.sm(i).items(), want) << i;
  }
}

TEST(RaftNode, AWriteOnlyTheDeadLeaderHadIsSentAgainToTheNextLeaderAndAppliedOnce) {
  write_through_a_leader_cut_off(/*reached_follower=*/false);
}

TEST(RaftNode, AWriteTheDeadLeaderReplicatedIsCommittedByTheNextLeaderAndAppliedOnce) {
  write_through_a_leader_cut_off(/*reached_follower=*/true);
}

TEST(NodeConfig, EveryBadValueIsNamed) {
  NodeConfig c;
  c.id = NodeId(1);
  c.name = "n1";
  c.data_dir = "/tmp/x";
  EXPECT_TRUE(validate(c).ok());
  NodeConfig bad = c;
  bad.id = raft::kNoNode;
  EXPECT_EQ(validate(bad).message(), "node id must not be 0");
  bad = c;
  bad.timeouts = TimeoutsMs{100, 100, 200};
  EXPECT_EQ(
      validate(bad).message(),
      "election timeout 100 ms must be at least 5 times the heartbeat interval (100 ms), as etcd "
      "requires");
  bad = c;
  bad.timeouts = TimeoutsMs{100, 1000, 1005};
  EXPECT_EQ(validate(bad).message(),
            "election timeout range [1000, 1005] ms must span at least one tick (10 ms)");
  bad = c;
  bad.tick_ms = 0;
  EXPECT_EQ(validate(bad).message(), "tick 0 ms is out of range [1, 1000]");
  bad = c;
  bad.bootstrap.voters = {NodeId(2), NodeId(3)};
  EXPECT_EQ(validate(bad).message(),
            "the initial cluster does not contain this node (id 1, name n1)");
  bad = c;
  bad.max_inflight_appends = 0;
  EXPECT_EQ(validate(bad).message(), "max-inflight-appends 0 is out of range [1, 4096]");
  bad.max_inflight_appends = 4097;
  EXPECT_EQ(validate(bad).message(), "max-inflight-appends 4097 is out of range [1, 4096]");
  bad = c;
  bad.max_append_bytes = 0;
  EXPECT_EQ(validate(bad).message(), "max_append_bytes (entry bytes per append) must be above 0");
  bad = c;
  bad.snapshot_log_percent = 1001;
  EXPECT_EQ(validate(bad).message(), "snapshot-log-percent 1001 is out of range [0, 1000]");
  bad.snapshot_log_percent = 1000;
  EXPECT_TRUE(validate(bad).ok());
}

}  // namespace
}  // namespace node
