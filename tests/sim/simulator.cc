#include "sim/simulator.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "lincheck/linearizability.h"
#include "raft/invariant.h"
#include "raft/raft.h"
#include "raft/raft_core.h"
#include "sim/safety_checker.h"
#include "storage/mem_file_system.h"
#include "storage/snapshot_file.h"
#include "storage/wal.h"

namespace sim {
namespace {

using raft::Entry;
using raft::LogIndex;
using raft::Message;
using raft::NodeId;
using raft::Term;

constexpr int64_t kTickUs = 10'000;         // one logical tick is 10 ms of simulated time
constexpr uint64_t kMaxSteps = 20'000'000;  // a bound on any run, whatever happens
constexpr int kKeys = 5;

// The simulator's own seeded generator (SplitMix64), separate from the cores'.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) {
    return hi <= lo ? lo : lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double unit() { return static_cast<double>(next() >> 11) / static_cast<double>(1ull << 53); }
  bool chance(double p) { return p > 0 && unit() < p; }

 private:
  uint64_t state_;
};

uint64_t mix(uint64_t a, uint64_t b) {
  Random r(a * 0x9e3779b97f4a7c15ull ^ b);
  return r.next();
}

struct CoreInvariantBroken : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_on_invariant(std::string_view what, std::string_view file, int line) {
  throw CoreInvariantBroken(std::string(what) + " (" + std::string(file) + ":" +
                            std::to_string(line) + ")");
}

// The replicated state machine of the simulation: a map from keys to values.
// Commands are "W|<op>|<key>|<value>" (write) and "R|<op>|<key>" (read).
struct Command {
  char kind = 'W';
  uint64_t op = 0;
  std::string key;
  std::string value;
};

std::string encode(const Command& c) {
  std::string s(1, c.kind);
  s += "|" + std::to_string(c.op) + "|" + c.key;
  if (c.kind == 'W') {
    s += "|" + c.value;
  }
  return s;
}

Command decode(const std::string& s) {
  Command c;
  c.kind = s.at(0);
  size_t a = s.find('|', 2);
  c.op = std::stoull(s.substr(2, a - 2));
  size_t b = s.find('|', a + 1);
  c.key = s.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  if (b != std::string::npos) {
    c.value = s.substr(b + 1);
  }
  return c;
}

enum class Kind {
  kTick,
  kDeliver,
  kPersisted,
  kClient,
  kClientTimeout,
  kNemesis,
  kRestart,
  kHeal,
  kCrash,
  kPeerClosed,  // a node learns that a peer's connection closed (node: who, token: the peer)
  kApplied      // a node's apply queue finishes its front job (apply-ahead seeds)
};

struct Event {
  Kind kind = Kind::kTick;
  int node = -1;
  uint64_t incarnation = 0;
  int client = -1;
  uint64_t token = 0;
  Message msg;
  std::shared_ptr<const std::map<std::string, std::string>> snapshot;  // with InstallSnapshot
};

// A compact record of one step, formatted only when a run fails.
struct TraceRecord {
  int64_t time = 0;
  Kind kind = Kind::kTick;
  int node = -1;
  std::string detail;
};

struct Waiter {
  int client = -1;
  Term term;
  size_t op = 0;  // index into the history
};

using KvData = std::map<std::string, std::string>;

struct Disk {
  raft::HardState hard_state;
  raft::SnapshotMeta snapshot;                  // last.index 0: no snapshot
  std::shared_ptr<const KvData> snapshot_data;  // the state machine at snapshot.last
  std::vector<Entry> log;                       // log[k].index == snapshot.last.index + k + 1

  uint64_t base() const { return snapshot.last.index.value(); }
  uint64_t last() const { return base() + log.size(); }
  // Writes `entries` (which may replace a suffix), or the first `keep` of them.
  // False when they would leave a gap.
  bool write(const std::vector<Entry>& entries, size_t keep) {
    if (entries.empty() || keep == 0) return true;
    const uint64_t first = entries.front().index.value();
    if (first > last() + 1 || first <= base()) return false;
    log.resize(first - base() - 1);
    log.insert(log.end(), entries.begin(), entries.begin() + static_cast<long>(keep));
    return true;
  }
  void install(const raft::SnapshotMeta& meta, std::shared_ptr<const KvData> data) {
    snapshot = meta;
    snapshot_data = std::move(data);
    log.clear();
    keep();
  }
  // The last few snapshots stay readable, as snapshot files do, so that one being
  // sent is not lost when a newer one is taken.
  std::map<LogIndex, std::pair<raft::SnapshotMeta, std::shared_ptr<const KvData>>> recent;
  void keep() {
    recent[snapshot.last.index] = {snapshot, snapshot_data};
    while (recent.size() > 3) recent.erase(recent.begin());
  }
};

// The state machine's bytes in a snapshot file: (key length, key, value length, value)*.
std::string encode_kv(const KvData& kv) {
  std::string out;
  auto put = [&](const std::string& x) {
    const uint32_t n = static_cast<uint32_t>(x.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out += x;
  };
  for (const auto& [k, v] : kv) {
    put(k);
    put(v);
  }
  return out;
}

std::optional<KvData> decode_kv(const std::string& in) {
  KvData kv;
  size_t pos = 0;
  auto get = [&](std::string* x) {
    if (in.size() - pos < 4) return false;
    uint32_t n = 0;
    for (int i = 3; i >= 0; --i)
      n = (n << 8) | static_cast<uint8_t>(in[pos + static_cast<size_t>(i)]);
    pos += 4;
    if (in.size() - pos < n) return false;
    *x = in.substr(pos, n);
    pos += n;
    return true;
  };
  while (pos < in.size()) {
    std::string k, v;
    if (!get(&k) || !get(&v)) return std::nullopt;
    kv[k] = v;
  }
  return kv;
}

// Work for a node's state machine, in the order it was handed over: a Ready's committed
// entries and reads, or a snapshot of the state machine at the index it has applied.
struct ApplyJob {
  std::vector<Entry> entries;
  std::vector<raft::ReadState> reads;
  std::vector<raft::ReadId> dropped_reads;
  std::optional<LogIndex> snapshot_at;  // a snapshot request, asked at this index
};

struct SimNode {
  NodeId id;
  bool up = true;
  uint64_t incarnation = 0;
  std::unique_ptr<raft::Raft> core;
  // The model of what is durable, kept beside the real storage for the checks; rebuilt
  // from the real storage at every restart.
  Disk disk;
  // The node's disk: the real WAL and snapshot files on a simulated file system that
  // loses unsynced writes at a crash. `fs` survives crashes; the others are reopened.
  std::unique_ptr<storage::MemFileSystem> fs;
  std::unique_ptr<storage::Wal> wal;
  std::unique_ptr<storage::SnapshotStore> snaps;
  bool persisting = false;
  raft::Ready in_flight;  // the Ready whose write waits for its fsync
  std::map<std::string, std::string> kv;
  std::map<LogIndex, Waiter> waiting;       // client operations proposed here, by index
  std::map<uint64_t, Waiter> read_waiting;  // ReadIndex reads asked here, by operation
  LogIndex applied;                         // the last entry applied to `kv`
  // Apply-ahead seeds: what the core has gone past (advance) and the state machine has
  // still to do, in order, as RaftNode's apply thread queue holds it.
  std::deque<ApplyJob> apply_queue;
  bool apply_scheduled = false;  // a kApplied event is due
  bool snapshot_asked = false;   // a snapshot request waits in apply_queue
  // Snapshots delivered by InstallSnapshot, by index, until the core installs one.
  std::map<LogIndex, std::shared_ptr<const KvData>> incoming_snapshots;
  // Chunks of snapshots on their way, by (sender, index): the chunk numbers arrived.
  std::map<std::pair<NodeId, LogIndex>, std::set<uint64_t>> snapshot_chunks;
  raft::Role role = raft::Role::kFollower;
  Term term;
  LogIndex commit;
};

struct Client {
  int id = 0;
  bool busy = false;
  size_t op = 0;
  int node = -1;
  NodeId guess;
  bool stopped = false;
};

struct OpRecord {
  lincheck::Operation op;
  bool failed = false;
  bool done = false;
  LogIndex index;  // where an acknowledged write was applied
  uint64_t digest = 0;
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& options) : options_(options), rng_(options.seed) {}

  SimResult run();

 private:
  void configure();
  void schedule(int64_t at, Event e) {
    queue_.emplace(std::make_pair(at, next_seq_++), std::move(e));
  }
  void handle(Event& e);
  void send(Message m);
  // Paper Figure 2: state is on stable storage before a message that relies on it
  // leaves the node. Checks votes and append acknowledgements against the disk.
  void check_promise(const Message& m);
  void drive(int n);
  void finish_ready(int n, raft::Ready& rd);
  // Applies a job's entries and serves its reads, or takes its snapshot.
  void run_job(int n, ApplyJob& job);
  // Runs every queued job now (before a snapshot from the leader replaces the state).
  void drain_applies(int n);
  void schedule_apply(int n);
  void maybe_snapshot(int n);
  void take_snapshot(int n);
  void apply(int n, const Entry& e);
  void after_step(int n);
  void crash(int n);
  void restart(int n);
  // Opens node n's WAL and snapshot files and rebuilds its Disk model from them.
  bool open_storage(int n);
  void nemesis();
  void change_membership();
  void transfer();
  void change_timeouts();
  void heal_all();
  void client_step(int c);
  void resolve(int c, size_t op, bool ok, bool unknown);
  void fail(std::string why) {
    if (failure_.empty()) failure_ = std::move(why);
  }
  void narrate(const std::string& line) {
    if (options_.narrate) options_.narrate(now_, line);
  }
  void record(const Event& e);
  int leader_index() const;
  bool converged() const;
  void final_checks();
  std::string format(const TraceRecord& r) const;
  raft::Config core_config(int n) const;

  SimOptions options_;
  Random rng_;
  FaultProfile profile_;
  raft::Config base_config_;
  std::string profile_text_;

  raft::Membership initial_;  // the bootstrap configuration every node starts from
  std::vector<SimNode> nodes_;
  std::vector<Client> clients_;
  std::vector<OpRecord> history_;
  std::map<std::pair<int64_t, uint64_t>, Event> queue_;
  uint64_t next_seq_ = 0;
  int64_t now_ = 0;
  std::set<std::pair<int, int>> blocked_;  // (from, to) pairs that cannot talk
  uint64_t partition_token_ = 0;
  bool healed_ = false;
  // Whether the cores hear of a peer's connection closing (Raft::peer_closed, issue 19's
  // fast failover): 0 never; 1 when the peer crashes; 2 also, now and then, while it
  // lives (a connection reset). Taken from the seed, with its own generator for the
  // delays, so that the seeds with 0 run as they did before.
  int peer_closed_mode_ = 0;
  Random closes_{0};
  // Whether nodes apply behind their core, as RaftNode does (issue 19): the core advances
  // past a durable Ready at once, and its entries, reads and snapshot requests wait in an
  // apply queue that a kApplied event works through one job at a time, a random delay
  // apart; a Ready that installs a leader's snapshot, and one in five others (a full
  // queue), wait for the queue instead. Taken from the seed, with its own generator, so
  // that the seeds without it run as they did before.
  bool apply_ahead_ = false;
  Random applies_{0};
  int64_t max_apply_us_ = 0;
  int64_t heal_time_ = 0;
  std::optional<size_t> liveness_op_;
  LogIndex max_acked_;  // the highest index of an acknowledged operation
  int64_t client_think_us_ = 20'000;
  double read_ratio_ = 0.3;                // the share of client operations that read
  int64_t client_timeout_us_ = 1'000'000;  // a client gives up (outcome unknown)

  SafetyChecker checker_;
  std::string failure_;
  SimStats stats_;
  uint64_t hash_ = 0xcbf29ce484222325ull;
  std::vector<TraceRecord> ring_;
  size_t ring_next_ = 0;
};

std::string fmt_time(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%8.3fs", static_cast<double>(us) / 1e6);
  return buf;
}

void Simulation::configure() {
  // Each seed draws its own cluster size, core options and fault rates.
  const int size = options_.demo ? 3 : (rng_.chance(0.6) ? 3 : 5);
  base_config_.pre_vote = options_.demo || rng_.chance(0.8);
  base_config_.check_quorum = options_.demo || rng_.chance(0.7);
  base_config_.timeouts.heartbeat_ticks =
      options_.demo ? 2 : static_cast<uint32_t>(rng_.range(1, 3));
  base_config_.timeouts.election_min_ticks =
      base_config_.timeouts.heartbeat_ticks * 3 + static_cast<uint32_t>(rng_.range(2, 8));
  base_config_.timeouts.election_max_ticks =
      base_config_.timeouts.election_min_ticks + static_cast<uint32_t>(rng_.range(4, 12));
  const uint32_t inflight[] = {1, 4, 256};
  const uint64_t msg_bytes[] = {1, 64, 1 << 20};
  base_config_.max_inflight_msgs = inflight[rng_.range(0, 2)];
  // Lease reads need CheckQuorum; the simulated clocks never drift apart.
  base_config_.lease_reads = base_config_.check_quorum && !options_.demo && rng_.chance(0.4);
  const uint64_t snapshot_every[] = {0, 10, 50, 200};
  base_config_.snapshot_entries = options_.demo ? 0 : snapshot_every[rng_.range(0, 3)];
  // The tail of entries the log keeps behind a snapshot: none (followers behind it get the
  // snapshot) or a few. Taken from the seed, not the generator, so that every other draw
  // of a seed stays what it was.
  const uint64_t tails[] = {0, 0, 3, 30};
  base_config_.snapshot_catch_up_entries = tails[(options_.seed * 0x9E3779B97F4A7C15ull) >> 62];
  base_config_.max_msg_bytes = msg_bytes[rng_.range(0, 2)];
  const int closes[] = {0, 1, 1, 2};
  peer_closed_mode_ = options_.demo ? 0 : closes[(options_.seed * 0xC2B2AE3D27D4EB4Full) >> 62];
  closes_ = Random(options_.seed ^ 0x5851F42D4C957F2Dull);
  apply_ahead_ = !options_.demo && ((options_.seed * 0xD6E8FEB86659FD93ull) >> 63) != 0;
  applies_ = Random(options_.seed ^ 0x2545F4914F6CDD1Dull);
  max_apply_us_ = applies_.range(0, 20'000);

  const int kind = options_.demo ? 0 : static_cast<int>(rng_.range(0, 6));
  FaultProfile& p = profile_;
  switch (kind) {
    case 0:  // calm
      break;
    case 1:  // lossy network
      p.drop = rng_.unit() * 0.3;
      p.duplicate = rng_.unit() * 0.1;
      p.max_delay_us = rng_.range(2'000, 30'000);
      break;
    case 2:  // crashes
      p.nemesis_every_ms = rng_.range(150, 800);
      p.crash_weight = 1;
      p.max_fsync_us = rng_.range(1'000, 20'000);
      p.drop = rng_.unit() * 0.02;
      break;
    case 3:  // partitions
      p.nemesis_every_ms = rng_.range(200, 1000);
      p.partition_weight = 1;
      p.max_delay_us = rng_.range(2'000, 10'000);
      break;
    case 4:
    case 5:  // leader churn (drawn twice as often): short-lived leaders, crashes mid-write
      p.nemesis_every_ms = rng_.range(300, 1500);
      p.crash_weight = 1;
      p.leader_crash = 0.4 + rng_.unit() * 0.5;
      p.write_crash = rng_.unit() * 0.05;
      p.commit_crash = 0.3 + rng_.unit() * 0.5;
      p.fresh_leader_crash = rng_.unit() * 0.5;
      // One entry per message: a follower can hold an old entry without the new
      // leader's no-op, the window of Figure 8 in the Raft paper.
      base_config_.max_msg_bytes = 1;
      p.max_restart_ms = rng_.range(20, 400);
      p.max_fsync_us = rng_.range(1'000, 10'000);
      p.max_delay_us = rng_.range(2'000, 20'000);
      break;
    default:  // violent: everything at once
      p.drop = rng_.unit() * 0.2;
      p.duplicate = rng_.unit() * 0.1;
      p.max_delay_us = rng_.range(2'000, 50'000);
      p.max_fsync_us = rng_.range(1'000, 20'000);
      p.nemesis_every_ms = rng_.range(150, 600);
      p.crash_weight = 1;
      p.partition_weight = 1;
      p.leader_crash = rng_.unit() * 0.3;
      p.write_crash = rng_.unit() * 0.02;
      p.commit_crash = rng_.unit() * 0.05;
      break;
  }
  // Configuration changes ride along with the crash, partition, churn and violent
  // profiles; with 5 slots, 2 of them sometimes start outside the cluster as spares.
  if (!options_.demo && kind >= 2) {
    p.membership_weight = rng_.chance(0.7) ? 1 : 0;
    p.transfer_weight = rng_.chance(0.5) ? 1 : 0;
    p.timeouts_weight = rng_.chance(0.3) ? 1 : 0;
  }
  const int initial_voters = size == 5 && p.membership_weight > 0 && rng_.chance(0.5) ? 3 : size;
  for (int n = 1; n <= initial_voters; ++n) {
    initial_.voters.insert(NodeId(n));
  }
  std::ostringstream os;
  os << size << " nodes, pre_vote=" << base_config_.pre_vote
     << " check_quorum=" << base_config_.check_quorum
     << " heartbeat=" << base_config_.timeouts.heartbeat_ticks << " election=["
     << base_config_.timeouts.election_min_ticks << "," << base_config_.timeouts.election_max_ticks
     << ") ticks"
     << " inflight=" << base_config_.max_inflight_msgs
     << " msg_bytes=" << base_config_.max_msg_bytes << " voters=" << initial_voters
     << " snapshot_every=" << base_config_.snapshot_entries
     << " catch_up_tail=" << base_config_.snapshot_catch_up_entries
     << " lease_reads=" << base_config_.lease_reads << " peer_closed=" << peer_closed_mode_
     << (apply_ahead_ ? " apply_ahead<=" + std::to_string(max_apply_us_) + "us" : "") << "; "
     << p.describe();
  profile_text_ = os.str();

  nodes_.resize(size);
  for (int n = 0; n < size; ++n) {
    nodes_[n].id = NodeId(n + 1);
  }
  const int clients = options_.demo ? 1 : static_cast<int>(rng_.range(2, 5));
  read_ratio_ = options_.demo ? 0.3 : 0.2 + rng_.unit() * 0.5;
  client_timeout_us_ = options_.demo || rng_.chance(0.5) ? 1'000'000 : 300'000;
  client_think_us_ = options_.demo ? 700'000 : 20'000;
  clients_.resize(clients);
  for (int c = 0; c < clients; ++c) {
    clients_[c].id = c;
  }
  stats_.nodes = size;
}

raft::Config Simulation::core_config(int n) const {
  raft::Config c = base_config_;
  c.id = nodes_[n].id;
  c.seed = mix(options_.seed, static_cast<uint64_t>(n) * 1000 + nodes_[n].incarnation);
  return c;
}

SimResult Simulation::run() {
  configure();
  const int size = static_cast<int>(nodes_.size());
  for (int n = 0; n < size; ++n) {
    nodes_[n].fs = std::make_unique<storage::MemFileSystem>();
    (void)open_storage(n);  // a fresh disk: a failure is recorded and ends the run
    nodes_[n].core = std::make_unique<raft::Raft>(core_config(n), initial_);
    // Nodes' clocks tick at the same rate, from different phases.
    schedule(rng_.range(0, kTickUs - 1), Event{Kind::kTick, n, 0, -1, 0, {}, {}});
  }
  for (Client& c : clients_) {
    schedule(rng_.range(0, 50'000), Event{Kind::kClient, -1, 0, c.id, 0, {}, {}});
  }
  if (options_.demo) {
    // A scripted story: crash the leader, bring it back, cut a node off, heal.
    schedule(2'500'000, Event{Kind::kNemesis, -1, 0, -1, 1, {}, {}});
    schedule(4'500'000, Event{Kind::kNemesis, -1, 0, -1, 2, {}, {}});
    schedule(6'500'000, Event{Kind::kNemesis, -1, 0, -1, 3, {}, {}});
    schedule(8'500'000, Event{Kind::kNemesis, -1, 0, -1, 4, {}, {}});
  } else if (profile_.nemesis_every_ms > 0) {
    schedule(profile_.nemesis_every_ms * 1000, Event{Kind::kNemesis, -1, 0, -1, 0, {}, {}});
  }
  schedule(options_.fault_ms * 1000, Event{Kind::kHeal, -1, 0, -1, 0, {}, {}});
  if (peer_closed_mode_ == 2) {
    schedule(closes_.range(100'000, 1'500'000), Event{Kind::kPeerClosed, -1, 0, -1, 0, {}, {}});
  }

  raft::InvariantHandler previous = raft::set_invariant_handler(&throw_on_invariant);
  try {
    while (!queue_.empty() && failure_.empty()) {
      auto handle_node = queue_.extract(queue_.begin());
      now_ = handle_node.key().first;
      Event& e = handle_node.mapped();
      ++stats_.steps;
      record(e);
      handle(e);
      if (healed_ && converged()) {
        break;
      }
      if (healed_ && now_ > heal_time_ + options_.liveness_ms * 1000) {
        int l = leader_index();
        fail("Liveness: " + std::to_string(options_.liveness_ms) +
             " ms after all faults healed the cluster has not committed a new write and caught up "
             "(leader: " +
             (l < 0 ? std::string("none") : "node " + std::to_string(l + 1)) + ")");
      }
      if (stats_.steps > kMaxSteps) {
        fail("the run exceeded its bound of " + std::to_string(kMaxSteps) + " steps");
      }
    }
    if (failure_.empty()) {
      final_checks();
    }
  } catch (const CoreInvariantBroken& ex) {
    fail(std::string("core invariant broken: ") + ex.what());
  }
  raft::set_invariant_handler(previous);

  SimResult result;
  result.passed = failure_.empty();
  result.failure = failure_;
  result.trace_hash = hash_;
  result.profile = profile_text_;
  result.stats = stats_;
  const size_t count = ring_.size();
  for (size_t k = 0; k < count; ++k) {
    result.last_events.push_back(format(ring_[(ring_next_ + k) % count]));
  }
  return result;
}

void Simulation::record(const Event& e) {
  uint64_t fields[] = {static_cast<uint64_t>(now_),
                       static_cast<uint64_t>(e.kind),
                       static_cast<uint64_t>(e.node + 1),
                       e.token,
                       e.msg.from.value(),
                       e.msg.to.value(),
                       e.msg.term.value(),
                       e.msg.body.index()};
  for (uint64_t f : fields) {
    hash_ = (hash_ ^ f) * 0x100000001b3ull;
  }
  constexpr size_t kRing = 40;
  TraceRecord r{now_, e.kind, e.node, {}};
  if (e.kind == Kind::kDeliver) {
    r.detail = std::string(raft::kind_name(e.msg)) + " " + std::to_string(e.msg.from.value()) +
               "->" + std::to_string(e.msg.to.value()) + " term " +
               std::to_string(e.msg.term.value());
    if (const auto* ae = std::get_if<raft::AppendEntries>(&e.msg.body)) {
      r.detail += " prev " + std::to_string(ae->prev.index.value()) + "/" +
                  std::to_string(ae->prev.term.value()) + " +" +
                  std::to_string(ae->entries.size()) + " commit " +
                  std::to_string(ae->commit.value());
    } else if (const auto* ar = std::get_if<raft::AppendResponse>(&e.msg.body)) {
      r.detail += ar->success ? " ok match " + std::to_string(ar->match.value())
                              : " reject " + std::to_string(ar->rejected.value());
    } else if (const auto* vr = std::get_if<raft::VoteResponse>(&e.msg.body)) {
      r.detail += std::string(vr->pre_vote ? " pre" : "") + (vr->granted ? " granted" : " denied");
    }
  }
  if (ring_.size() < kRing) {
    ring_.push_back(std::move(r));
  } else {
    ring_[ring_next_] = std::move(r);
    ring_next_ = (ring_next_ + 1) % kRing;
  }
}

std::string Simulation::format(const TraceRecord& r) const {
  static constexpr const char* kNames[] = {"tick",           "deliver",     "fsync done", "client",
                                           "client timeout", "nemesis",     "restart",    "heal",
                                           "crash",          "peer closed", "applied"};
  static_assert(std::size(kNames) == static_cast<size_t>(Kind::kApplied) + 1);
  std::string s = fmt_time(r.time) + " " + kNames[static_cast<int>(r.kind)];
  if (r.node >= 0) {
    s += " node " + std::to_string(r.node + 1);
  }
  if (!r.detail.empty()) {
    s += " " + r.detail;
  }
  return s;
}

void Simulation::handle(Event& e) {
  switch (e.kind) {
    case Kind::kTick: {
      SimNode& node = nodes_[e.node];
      if (!node.up || node.incarnation != e.incarnation) {
        return;
      }
      node.core->tick();
      after_step(e.node);
      schedule(now_ + kTickUs, Event{Kind::kTick, e.node, node.incarnation, -1, 0, {}, {}});
      return;
    }
    case Kind::kDeliver: {
      const int to = static_cast<int>(e.msg.to.value()) - 1;
      const int from = static_cast<int>(e.msg.from.value()) - 1;
      SimNode& node = nodes_[to];
      if (!node.up || blocked_.contains({from, to})) {
        ++stats_.messages_lost;
        return;
      }
      ++stats_.messages_delivered;
      if (e.snapshot) {
        const LogIndex index = std::get<raft::InstallSnapshot>(e.msg.body).meta.last.index;
        std::set<uint64_t>& got = node.snapshot_chunks[{e.msg.from, index}];
        got.insert(e.token);
        if (got.size() < static_cast<size_t>(e.client)) {
          return;  // more chunks to come
        }
        node.snapshot_chunks.erase({e.msg.from, index});
        node.incoming_snapshots[index] = e.snapshot;
      }
      node.core->step(std::move(e.msg));
      after_step(to);
      return;
    }
    case Kind::kPersisted: {
      SimNode& node = nodes_[e.node];
      if (!node.up || node.incarnation != e.incarnation || !node.persisting) {
        return;
      }
      // The write is durable: the fsync returns.
      if (storage::Status st = node.wal->sync(); !st.is_ok()) {
        fail("node " + std::to_string(e.node + 1) + " could not sync its log: " + st.message());
        return;
      }
      raft::Ready& rd = node.in_flight;
      if (rd.snapshot.has_value()) {
        auto data = node.incoming_snapshots.find(rd.snapshot->last.index);
        if (data == node.incoming_snapshots.end()) {
          fail("node " + std::to_string(e.node + 1) + " installs snapshot " +
               std::to_string(rd.snapshot->last.index.value()) + " that it never received");
          return;
        }
        node.disk.install(*rd.snapshot, data->second);
      }
      if (!node.disk.write(rd.entries, rd.entries.size())) {
        fail("node " + std::to_string(e.node + 1) + " was asked to persist index " +
             std::to_string(rd.entries.front().index.value()) + " after only " +
             std::to_string(node.disk.last()) + " entries: a gap in the log");
        return;
      }
      if (rd.hard_state.has_value()) {
        if (auto v =
                checker_.on_durable_hard_state(node.id, node.disk.hard_state, *rd.hard_state)) {
          fail(*v);
          return;
        }
        node.disk.hard_state = *rd.hard_state;
      }
      node.persisting = false;
      raft::Ready done = std::move(node.in_flight);
      node.in_flight = raft::Ready();
      finish_ready(e.node, done);
      after_step(e.node);
      return;
    }
    case Kind::kClient:
      client_step(e.client);
      return;
    case Kind::kClientTimeout: {
      Client& c = clients_[e.client];
      if (c.busy && c.op == e.token) {
        SimNode& node = nodes_[c.node];
        for (auto it = node.waiting.begin(); it != node.waiting.end(); ++it) {
          if (it->second.op == c.op) {
            node.waiting.erase(it);
            break;
          }
        }
        node.read_waiting.erase(c.op);
        resolve(e.client, c.op, false, true);
      }
      return;
    }
    case Kind::kNemesis:
      if (options_.demo) {
        // The scripted story for `make run`.
        int l = leader_index();
        if (e.token == 1 && l >= 0) {
          narrate("FAULT: the leader, node " + std::to_string(l + 1) + ", crashes");
          crash(l);
        } else if (e.token == 2) {
          for (int n = 0; n < static_cast<int>(nodes_.size()); ++n) {
            if (!nodes_[n].up) restart(n);
          }
        } else if (e.token == 3 && l >= 0) {
          narrate("FAULT: network partition: node " + std::to_string(l + 1) +
                  " (the leader) is cut off from the others");
          for (int n = 0; n < static_cast<int>(nodes_.size()); ++n) {
            if (n != l) {
              blocked_.insert({n, l});
              blocked_.insert({l, n});
            }
          }
          ++stats_.partitions;
        } else if (e.token == 4) {
          narrate("the partition heals");
          blocked_.clear();
        }
        return;
      }
      if (!healed_) {
        nemesis();
        schedule(
            now_ +
                rng_.range(profile_.nemesis_every_ms / 2, profile_.nemesis_every_ms * 3 / 2) * 1000,
            Event{Kind::kNemesis, -1, 0, -1, 0, {}, {}});
      }
      return;
    case Kind::kRestart:
      if (!healed_ && !nodes_[e.node].up && nodes_[e.node].incarnation == e.incarnation) {
        restart(e.node);
      }
      return;
    case Kind::kCrash:
      if (!healed_ && nodes_[e.node].up && nodes_[e.node].incarnation == e.incarnation) {
        narrate("FAULT: node " + std::to_string(e.node + 1) + " crashes");
        crash(e.node);
      }
      return;
    case Kind::kPeerClosed:
      if (e.node < 0) {
        // A connection reset between two live nodes: one of them hears its peer closed.
        if (healed_) return;
        const int size = static_cast<int>(nodes_.size());
        const int to = static_cast<int>(closes_.range(0, size - 1));
        const int peer = (to + static_cast<int>(closes_.range(1, size - 1))) % size;
        if (nodes_[to].up && nodes_[peer].up) {
          nodes_[to].core->peer_closed(NodeId(static_cast<uint64_t>(peer) + 1));
          after_step(to);
        }
        schedule(now_ + closes_.range(100'000, 1'500'000),
                 Event{Kind::kPeerClosed, -1, 0, -1, 0, {}, {}});
      } else if (nodes_[e.node].up && nodes_[e.node].incarnation == e.incarnation) {
        nodes_[e.node].core->peer_closed(NodeId(e.token + 1));
        after_step(e.node);
      }
      return;
    case Kind::kApplied: {
      SimNode& node = nodes_[e.node];
      if (!node.up || node.incarnation != e.incarnation) {
        return;
      }
      node.apply_scheduled = false;
      if (node.apply_queue.empty()) {
        return;
      }
      ApplyJob job = std::move(node.apply_queue.front());
      node.apply_queue.pop_front();
      run_job(e.node, job);
      if (!failure_.empty()) {
        return;
      }
      schedule_apply(e.node);
      after_step(e.node);
      return;
    }
    case Kind::kHeal:
      if (e.token == 0) {
        heal_all();
      } else if (e.token == partition_token_ && !healed_) {
        blocked_.clear();
        narrate("the partition heals");
      }
      return;
  }
}

void Simulation::send(Message m) {
  check_promise(m);
  if (rng_.chance(profile_.drop)) {
    ++stats_.messages_lost;
    return;
  }
  std::shared_ptr<const KvData> snapshot;
  if (const auto* is = std::get_if<raft::InstallSnapshot>(&m.body)) {
    // The transport streams the snapshot's bytes beside the message.
    const Disk& disk = nodes_[m.from.value() - 1].disk;
    auto kept = disk.recent.find(is->meta.last.index);
    if (kept == disk.recent.end() || kept->second.first != is->meta) {
      fail("node " + std::to_string(m.from.value()) + " sent snapshot " +
           std::to_string(is->meta.last.index.value()) + " that is not on its disk");
      return;
    }
    snapshot = kept->second.second;
    ++stats_.snapshots_sent;
    // The transport streams it in chunks, each of which may be lost, delayed or
    // duplicated; the receiver steps InstallSnapshot once it has every chunk.
    const uint64_t chunks = std::min<uint64_t>(8, 1 + snapshot->size() / 4);
    for (uint64_t k = 0; k < chunks; ++k) {
      if (rng_.chance(profile_.drop)) {
        ++stats_.messages_lost;
        continue;
      }
      Event e{Kind::kDeliver, static_cast<int>(m.to.value()) - 1, 0, static_cast<int>(chunks), k, m,
              snapshot};
      schedule(now_ + rng_.range(profile_.min_delay_us, profile_.max_delay_us), std::move(e));
    }
    return;
  }
  const int copies = rng_.chance(profile_.duplicate) ? 2 : 1;
  for (int k = 0; k < copies; ++k) {
    Event e{Kind::kDeliver,
            static_cast<int>(m.to.value()) - 1,
            0,
            -1,
            0,
            k + 1 < copies ? m : std::move(m),
            snapshot};
    // Independent delays reorder messages.
    schedule(now_ + rng_.range(profile_.min_delay_us, profile_.max_delay_us), std::move(e));
  }
}

void Simulation::check_promise(const Message& m) {
  const SimNode& node = nodes_[m.from.value() - 1];
  const raft::HardState& durable = node.disk.hard_state;
  const std::string who = "Durability: node " + std::to_string(m.from.value());
  auto vote_durable = [&](NodeId for_whom) {
    return durable.term > m.term || (durable.term == m.term && durable.vote == for_whom);
  };
  if (const auto* vr = std::get_if<raft::VoteResponse>(&m.body);
      vr != nullptr && vr->granted && !vr->pre_vote && !vote_durable(m.to)) {
    fail(who + " granted its vote to node " + std::to_string(m.to.value()) + " in term " +
         std::to_string(m.term.value()) + " before the vote was on its disk");
  } else if (const auto* rv = std::get_if<raft::RequestVote>(&m.body);
             rv != nullptr && !rv->pre_vote && !vote_durable(m.from)) {
    fail(who + " asked for votes in term " + std::to_string(m.term.value()) +
         " before its own term and vote were on its disk");
  } else if (const auto* ar = std::get_if<raft::AppendResponse>(&m.body);
             ar != nullptr && ar->success && ar->match.value() > node.disk.last()) {
    fail(who + " acknowledged entries up to " + std::to_string(ar->match.value()) + " with only " +
         std::to_string(node.disk.last()) + " on its disk");
  }
}

void Simulation::drive(int n) {
  SimNode& node = nodes_[n];
  while (node.up && !node.persisting && node.core->has_ready() && failure_.empty()) {
    raft::Ready rd = node.core->ready();
    const bool fresh_leader = node.core->role() == raft::Role::kLeader &&
                              (node.role != raft::Role::kLeader || node.term != node.core->term());
    if (!healed_ && fresh_leader && rng_.chance(profile_.fresh_leader_crash)) {
      // A new leader dies before its first messages leave: its no-op stays its own.
      if (auto v = checker_.observe(view_of(*node.core))) {
        fail(*v);
        return;
      }
      narrate("FAULT: node " + std::to_string(n + 1) + " crashes as soon as it is elected");
      crash(n);
      return;
    }
    if (!healed_ && node.core->role() == raft::Role::kLeader &&
        core_of(*node.core).log().committed() > node.commit && rng_.chance(profile_.commit_crash)) {
      // The leader crashes the moment it decides a commit, before anything of this
      // Ready leaves it. What it decided still counts as committed.
      if (auto v = checker_.observe(view_of(*node.core))) {
        fail(*v);
        return;
      }
      narrate("FAULT: leader " + std::to_string(n + 1) + " crashes right after committing index " +
              std::to_string(core_of(*node.core).log().committed().value()));
      crash(n);
      return;
    }
    for (Message& m : rd.messages) {
      send(std::move(m));
    }
    rd.messages.clear();
    if (rd.hard_state.has_value() || !rd.entries.empty() || rd.snapshot.has_value()) {
      // The write reaches the simulated disk now; the fsync completes at kPersisted.
      if (rd.snapshot.has_value()) {
        auto data = node.incoming_snapshots.find(rd.snapshot->last.index);
        if (data == node.incoming_snapshots.end()) {
          fail("node " + std::to_string(n + 1) + " installs snapshot " +
               std::to_string(rd.snapshot->last.index.value()) + " that it never received");
          return;
        }
        storage::Status s =
            node.snaps->save(storage::StoredSnapshot{*rd.snapshot, encode_kv(*data->second)});
        if (s.is_ok()) s = node.wal->install_snapshot(rd.snapshot->last);
        if (!s.is_ok()) {
          fail("node " + std::to_string(n + 1) + " could not store a snapshot: " + s.message());
          return;
        }
      }
      storage::Status s = node.wal->append(rd.entries, rd.hard_state);
      if (s.is_ok()) s = node.wal->flush();
      if (!s.is_ok()) {
        fail("node " + std::to_string(n + 1) + " could not write its log: " + s.message());
        return;
      }
      node.persisting = true;
      node.in_flight = std::move(rd);
      const int64_t fsync_us = rng_.range(0, profile_.max_fsync_us);
      schedule(now_ + fsync_us, Event{Kind::kPersisted, n, node.incarnation, -1, 0, {}, {}});
      if (!healed_ && rng_.chance(profile_.write_crash)) {
        // Power fails while the write is on its way to the disk.
        schedule(now_ + rng_.range(0, fsync_us),
                 Event{Kind::kCrash, n, node.incarnation, -1, 0, {}, {}});
      }
      return;
    }
    finish_ready(n, rd);
  }
}

void Simulation::finish_ready(int n, raft::Ready& rd) {
  SimNode& node = nodes_[n];
  for (Message& m : rd.persisted_messages) {
    send(std::move(m));
  }
  ApplyJob job{.entries = std::move(rd.committed_entries),
               .reads = std::move(rd.reads),
               .dropped_reads = std::move(rd.dropped_reads),
               .snapshot_at = std::nullopt};
  if (apply_ahead_ && !rd.snapshot.has_value() && !applies_.chance(0.2)) {
    // Handed to the apply queue; the core goes on at once.
    if (!job.entries.empty() || !job.reads.empty() || !job.dropped_reads.empty()) {
      node.apply_queue.push_back(std::move(job));
      schedule_apply(n);
    }
    node.core->advance();
    maybe_snapshot(n);
    return;
  }
  // The core waits for this Ready's apply, so for everything queued before it.
  drain_applies(n);
  if (!failure_.empty()) {
    return;
  }
  if (rd.snapshot.has_value()) {
    // The state machine restarts from the snapshot the leader sent.
    node.kv = *node.disk.snapshot_data;
    node.applied = rd.snapshot->last.index;
    node.incoming_snapshots.clear();
    checker_.on_snapshot_installed(node.id, node.applied);
  }
  run_job(n, job);
  if (!failure_.empty()) {
    return;
  }
  node.core->advance();
  maybe_snapshot(n);
}

void Simulation::run_job(int n, ApplyJob& job) {
  SimNode& node = nodes_[n];
  if (job.snapshot_at.has_value()) {
    node.snapshot_asked = false;
    if (node.applied != *job.snapshot_at) {
      fail("node " + std::to_string(n + 1) + " was asked for a snapshot at index " +
           std::to_string(job.snapshot_at->value()) + " with " +
           std::to_string(node.applied.value()) + " applied");
      return;
    }
    if (node.core->snapshot_meta().last.index >= node.applied) {
      return;  // a snapshot from the leader, restored since it was asked for, replaced it
    }
    take_snapshot(n);
    return;
  }
  for (const Entry& e : job.entries) {
    apply(n, e);
    if (!failure_.empty()) {
      return;
    }
  }
  for (const raft::ReadState& r : job.reads) {
    auto it = node.read_waiting.find(r.id.value());
    if (it == node.read_waiting.end()) {
      continue;  // the client gave up on it
    }
    if (node.applied < r.index) {
      fail("node " + std::to_string(n + 1) + " released read " + std::to_string(r.id.value()) +
           " at index " + std::to_string(r.index.value()) + " with only " +
           std::to_string(node.applied.value()) + " applied");
      return;
    }
    Waiter w = it->second;
    node.read_waiting.erase(it);
    OpRecord& rec = history_[w.op];
    auto kv = node.kv.find(rec.op.key);
    rec.op.found = kv != node.kv.end();
    rec.op.value = rec.op.found ? kv->second : std::string();
    rec.index = r.index;
    ++stats_.index_reads;
    resolve(w.client, w.op, true, false);
  }
  for (raft::ReadId id : job.dropped_reads) {
    if (auto it = node.read_waiting.find(id.value()); it != node.read_waiting.end()) {
      Waiter w = it->second;
      node.read_waiting.erase(it);
      resolve(w.client, w.op, false, false);  // a dropped read had no effect
    }
  }
}

void Simulation::drain_applies(int n) {
  SimNode& node = nodes_[n];
  while (!node.apply_queue.empty() && failure_.empty()) {
    ApplyJob job = std::move(node.apply_queue.front());
    node.apply_queue.pop_front();
    run_job(n, job);
  }
}

void Simulation::schedule_apply(int n) {
  SimNode& node = nodes_[n];
  if (node.apply_scheduled || node.apply_queue.empty()) {
    return;
  }
  node.apply_scheduled = true;
  schedule(now_ + applies_.range(0, max_apply_us_),
           Event{Kind::kApplied, n, node.incarnation, -1, 0, {}, {}});
}

void Simulation::maybe_snapshot(int n) {
  SimNode& node = nodes_[n];
  if (!node.core->snapshot_due()) {
    return;
  }
  if (!apply_ahead_) {
    take_snapshot(n);
    return;
  }
  // Asked of the state machine at the index the core has applied: behind everything
  // handed over before it, as RaftNode's snapshot request is.
  if (!node.snapshot_asked) {
    node.snapshot_asked = true;
    node.apply_queue.push_back(ApplyJob{.entries = {},
                                        .reads = {},
                                        .dropped_reads = {},
                                        .snapshot_at = core_of(*node.core).log().applied()});
    schedule_apply(n);
  }
}

void Simulation::take_snapshot(int n) {
  SimNode& node = nodes_[n];
  // The state machine snapshots itself at its applied index; the log behind it goes.
  raft::CompactResult c = node.core->compact(node.applied);
  if (!c.error.is_ok()) {
    fail("node " + std::to_string(n + 1) + " could not compact: " + c.error.message());
    return;
  }
  const uint64_t drop =
      std::min<uint64_t>(node.disk.log.size(), c.meta.last.index.value() - node.disk.base());
  node.disk.log.erase(node.disk.log.begin(), node.disk.log.begin() + static_cast<long>(drop));
  node.disk.snapshot = c.meta;
  node.disk.snapshot_data = std::make_shared<const KvData>(node.kv);
  node.disk.keep();
  storage::Status st = node.snaps->save(storage::StoredSnapshot{c.meta, encode_kv(node.kv)});
  if (st.is_ok()) st = node.wal->mark_snapshot(c.meta.last);
  if (!st.is_ok()) {
    fail("node " + std::to_string(n + 1) + " could not store its snapshot: " + st.message());
    return;
  }
  ++stats_.snapshots_taken;
}

void Simulation::apply(int n, const Entry& e) {
  SimNode& node = nodes_[n];
  if (auto v = checker_.on_apply(node.id, e)) {
    fail(*v);
    return;
  }
  node.applied = e.index;
  std::optional<std::pair<bool, std::string>> read;  // (found, value) of a read
  uint64_t op = 0;
  if (e.type == raft::EntryType::kNormal) {
    Command c = decode(e.data);
    op = c.op;
    if (c.kind == 'W') {
      node.kv[c.key] = c.value;
    } else {
      auto it = node.kv.find(c.key);
      read = it == node.kv.end() ? std::make_pair(false, std::string())
                                 : std::make_pair(true, it->second);
    }
  }
  auto it = node.waiting.find(e.index);
  if (it == node.waiting.end()) {
    return;
  }
  Waiter w = it->second;
  node.waiting.erase(it);
  OpRecord& rec = history_[w.op];
  if (e.term != w.term) {
    // Another entry was committed where ours was: ours never will be (it was
    // proposed once, at this index and term).
    resolve(w.client, w.op, false, false);
    return;
  }
  if (e.type != raft::EntryType::kNormal || op != static_cast<uint64_t>(w.op)) {
    fail("node " + std::to_string(n + 1) + " applied a different command at index " +
         std::to_string(e.index.value()) + " term " + std::to_string(e.term.value()) +
         " than the one it accepted there");
    return;
  }
  if (read.has_value()) {
    rec.op.found = read->first;
    rec.op.value = read->second;
  }
  rec.index = e.index;
  rec.digest = entry_digest(e);
  resolve(w.client, w.op, true, false);
}

void Simulation::resolve(int c, size_t op, bool ok, bool unknown) {
  Client& cl = clients_[c];
  if (!cl.busy || cl.op != op) {
    return;  // the client already gave up on this operation
  }
  OpRecord& rec = history_[op];
  rec.done = true;
  rec.op.complete = now_;
  if (unknown) {
    rec.op.outcome = lincheck::Outcome::kUnknown;
    ++stats_.ops_unknown;
  } else if (!ok) {
    rec.failed = true;
    ++stats_.ops_failed;
  } else {
    ++stats_.ops_ok;
    max_acked_ = std::max(max_acked_, rec.index);
    if (options_.demo) {
      const auto& op = rec.op;
      narrate("client: " +
              (op.kind == lincheck::OpKind::kWrite
                   ? "put " + op.key + " = " + op.value
                   : "get " + op.key + " -> " + (op.found ? op.value : std::string("(none)"))) +
              "  [ok, log index " + std::to_string(rec.index.value()) + "]");
    }
    if (healed_ && !liveness_op_.has_value() && rec.op.invoke >= heal_time_ &&
        rec.op.kind == lincheck::OpKind::kWrite) {
      liveness_op_ = cl.op;
    }
  }
  cl.busy = false;
  if (!cl.stopped) {
    schedule(now_ + rng_.range(0, client_think_us_), Event{Kind::kClient, -1, 0, c, 0, {}, {}});
  }
}

void Simulation::after_step(int n) {
  drive(n);
  if (!failure_.empty()) {
    return;
  }
  SimNode& node = nodes_[n];
  if (!node.up) {
    return;
  }
  const raft::Raft& core = *node.core;
  if (auto v = checker_.observe(view_of(core))) {
    fail(*v);
    return;
  }
  if (core.role() != node.role || core.term() != node.term) {
    if (core.role() == raft::Role::kLeader) {
      ++stats_.leaders_elected;
      if (!healed_ && rng_.chance(profile_.leader_crash)) {
        schedule(now_ + rng_.range(0, 30'000),
                 Event{Kind::kCrash, n, node.incarnation, -1, 0, {}, {}});
      }
      narrate("node " + std::to_string(n + 1) + " is elected leader of term " +
              std::to_string(core.term().value()));
    } else if (node.role == raft::Role::kLeader) {
      narrate("node " + std::to_string(n + 1) + " steps down (term " +
              std::to_string(core.term().value()) + ")");
    }
    node.role = core.role();
    node.term = core.term();
  }
  if (core.role() == raft::Role::kLeader && core_of(core).log().committed() > node.commit) {
    stats_.committed = std::max(stats_.committed, core_of(core).log().committed().value());
  }
  node.commit = core_of(core).log().committed();
  // The byte count the log keeps for the runtime's memory metric agrees with its entries
  // after every change the simulation drives (appends, conflicts, compactions, restores).
  if (const uint64_t walked = core_of(core).log().bytes_after(core_of(core).log().snapshot().index);
      core_of(core).log().bytes() != walked) {
    fail("node " + std::to_string(n + 1) + " counts " +
         std::to_string(core_of(core).log().bytes()) + " log bytes but its entries hold " +
         std::to_string(walked));
  }
}

int Simulation::leader_index() const {
  int best = -1;
  for (int n = 0; n < static_cast<int>(nodes_.size()); ++n) {
    const SimNode& node = nodes_[n];
    if (node.up && node.core->role() == raft::Role::kLeader &&
        (best < 0 || node.core->term() > nodes_[best].core->term())) {
      best = n;
    }
  }
  return best;
}

void Simulation::crash(int n) {
  SimNode& node = nodes_[n];
  if (!node.up) {
    return;
  }
  ++stats_.crashes;
  // Power fails: of what was written but not synced, the disk keeps nothing, all, or a
  // torn prefix. None of it was acknowledged. Restart reads back whatever survived.
  node.wal.reset();
  node.snaps.reset();
  node.fs->crash([this](uint64_t unsynced) -> uint64_t {
    switch (rng_.range(0, 2)) {
      case 0:
        return 0;
      case 1:
        return static_cast<uint64_t>(rng_.range(0, static_cast<int64_t>(unsynced)));
      default:
        return unsynced;
    }
  });
  node.up = false;
  node.persisting = false;
  node.in_flight = raft::Ready();
  node.apply_queue.clear();  // the state machine is rebuilt from the disk at restart
  node.apply_scheduled = false;
  node.snapshot_asked = false;
  node.incoming_snapshots.clear();
  node.snapshot_chunks.clear();
  node.core.reset();
  ++node.incarnation;
  // Operations waiting here have an unknown outcome: they may still commit.
  std::map<LogIndex, Waiter> waiting = std::move(node.waiting);
  node.waiting.clear();
  for (auto& [index, w] : waiting) {
    resolve(w.client, w.op, false, true);
  }
  std::map<uint64_t, Waiter> reads = std::move(node.read_waiting);
  node.read_waiting.clear();
  for (auto& [id, w] : reads) {
    resolve(w.client, w.op, false, true);
  }
  if (!options_.demo) {
    schedule(now_ + rng_.range(10'000, profile_.max_restart_ms * 1000),
             Event{Kind::kRestart, n, node.incarnation, -1, 0, {}, {}});
  }
  if (peer_closed_mode_ > 0) {
    // The crashed process's connections close; each live node hears of it a network
    // delay later.
    for (int m = 0; m < static_cast<int>(nodes_.size()); ++m) {
      if (m == n || !nodes_[m].up) continue;
      schedule(
          now_ + closes_.range(profile_.min_delay_us, profile_.max_delay_us),
          Event{Kind::kPeerClosed, m, nodes_[m].incarnation, -1, static_cast<uint64_t>(n), {}, {}});
    }
  }
}

bool Simulation::open_storage(int n) {
  SimNode& node = nodes_[n];
  const std::string who = "node " + std::to_string(n + 1);
  node.snaps = std::make_unique<storage::SnapshotStore>(*node.fs, "/snap");
  if (storage::Status s = node.fs->create_dir("/snap"); !s.is_ok()) {
    fail(who + ": " + s.message());
    return false;
  }
  Disk disk;
  auto listed = node.snaps->list();
  if (!listed.is_ok()) {
    fail(who + " cannot list its snapshots: " + listed.status().message());
    return false;
  }
  if (!listed.value().empty()) {
    auto snap = node.snaps->load_latest();
    std::optional<KvData> kv;
    if (snap.is_ok()) kv = decode_kv(snap.value().data);
    if (!snap.is_ok() || !kv.has_value()) {
      fail(who + " cannot read its snapshot after a crash: " +
           (snap.is_ok() ? std::string("bad state machine bytes") : snap.status().message()));
      return false;
    }
    disk.snapshot = snap.value().meta;
    disk.snapshot_data = std::make_shared<const KvData>(std::move(*kv));
    disk.keep();
  }
  storage::Recovered rec;
  // Small segments, so that rollovers and deletions behind snapshots happen often.
  storage::WalOptions options{8192, false};
  options.tail_cache_bytes = 64 << 10;
  auto wal = storage::Wal::open(*node.fs, "/wal", options, &rec);
  if (!wal.is_ok()) {
    fail(who + " cannot open its log after a crash: " + wal.status().message());
    return false;
  }
  node.wal = std::move(wal.value());
  if (rec.snapshot.index > disk.snapshot.last.index) {
    fail(who + "'s log was compacted to " + std::to_string(rec.snapshot.index.value()) +
         " but its newest snapshot file ends at " +
         std::to_string(disk.snapshot.last.index.value()));
    return false;
  }
  for (raft::Entry& e : rec.entries) {
    if (e.index > disk.snapshot.last.index) disk.log.push_back(std::move(e));
  }
  if (!disk.log.empty() && disk.log.front().index != disk.snapshot.last.index.next()) {
    fail(who + "'s log starts at " + std::to_string(disk.log.front().index.value()) +
         " after a snapshot ending at " + std::to_string(disk.snapshot.last.index.value()));
    return false;
  }
  disk.hard_state = rec.hard_state;
  if (auto v = checker_.on_durable_hard_state(node.id, node.disk.hard_state, disk.hard_state)) {
    fail(*v);
    return false;
  }
  node.disk = std::move(disk);
  return true;
}

void Simulation::restart(int n) {
  SimNode& node = nodes_[n];
  if (!open_storage(n)) return;
  node.up = true;
  node.kv.clear();
  node.applied = LogIndex();
  node.role = raft::Role::kFollower;
  node.commit = LogIndex();
  raft::Restored restored{node.disk.hard_state, node.disk.snapshot.last, node.disk.log};
  raft::Config config = core_config(n);
  raft::Membership membership = initial_;
  if (node.disk.base() > 0) {
    // The snapshot carries the configuration and timeouts in force at its index.
    membership = node.disk.snapshot.membership;
    config.timeouts = node.disk.snapshot.timeouts;
    node.kv = *node.disk.snapshot_data;
    node.applied = node.disk.snapshot.last.index;
  }
  node.core = std::make_unique<raft::Raft>(config, membership, std::move(restored));
  node.term = node.core->term();
  checker_.on_restart(node.id);
  checker_.on_snapshot_installed(node.id, node.disk.snapshot.last.index);
  narrate("node " + std::to_string(n + 1) + " restarts from its disk (term " +
          std::to_string(node.disk.hard_state.term.value()) + ", " +
          std::to_string(node.disk.log.size()) + " entries after snapshot " +
          std::to_string(node.disk.base()) + ")");
  schedule(now_ + rng_.range(0, kTickUs - 1),
           Event{Kind::kTick, n, node.incarnation, -1, 0, {}, {}});
  after_step(n);
}

void Simulation::nemesis() {
  const int size = static_cast<int>(nodes_.size());
  const int total = profile_.crash_weight + profile_.partition_weight + profile_.membership_weight +
                    profile_.transfer_weight + profile_.timeouts_weight;
  if (total == 0) {
    return;
  }
  int pick_action = static_cast<int>(rng_.range(1, total));
  if ((pick_action -= profile_.membership_weight) <= 0) {
    change_membership();
    return;
  }
  if ((pick_action -= profile_.transfer_weight) <= 0) {
    transfer();
    return;
  }
  if ((pick_action -= profile_.timeouts_weight) <= 0) {
    change_timeouts();
    return;
  }
  if (pick_action <= profile_.crash_weight) {
    // Crash the leader, a node in the middle of a write, or anyone.
    std::vector<int> writing;
    for (int n = 0; n < size; ++n) {
      if (nodes_[n].up && nodes_[n].persisting) writing.push_back(n);
    }
    const int64_t pick = rng_.range(0, 2);
    int victim = static_cast<int>(rng_.range(0, size - 1));
    if (pick == 0 && leader_index() >= 0) {
      victim = leader_index();
    } else if (pick == 1 && !writing.empty()) {
      victim = writing[rng_.range(0, static_cast<int64_t>(writing.size()) - 1)];
    }
    if (nodes_[victim].up) {
      narrate("FAULT: node " + std::to_string(victim + 1) + " crashes");
      crash(victim);
    }
    return;
  }
  // A new partition replaces the old one.
  blocked_.clear();
  ++stats_.partitions;
  const int64_t shape = rng_.range(0, 2);
  std::vector<int> order(size);
  for (int n = 0; n < size; ++n) order[n] = n;
  for (int n = size - 1; n > 0; --n) std::swap(order[n], order[rng_.range(0, n)]);
  if (shape == 0) {
    // Isolate one node (often the leader).
    int lone = leader_index() >= 0 && rng_.chance(0.5) ? leader_index() : order[0];
    for (int n = 0; n < size; ++n) {
      if (n != lone) {
        blocked_.insert({n, lone});
        blocked_.insert({lone, n});
      }
    }
    narrate("FAULT: node " + std::to_string(lone + 1) + " is partitioned away");
  } else if (shape == 1) {
    // Split into a minority and a majority.
    const int minority = static_cast<int>(rng_.range(1, (size - 1) / 2));
    for (int a = 0; a < minority; ++a) {
      for (int b = minority; b < size; ++b) {
        blocked_.insert({order[a], order[b]});
        blocked_.insert({order[b], order[a]});
      }
    }
    narrate("FAULT: the network splits " + std::to_string(minority) + " | " +
            std::to_string(size - minority));
  } else {
    // One-way: a node can send but not receive (or the reverse).
    const int x = order[0];
    const bool deaf = rng_.chance(0.5);
    for (int n = 0; n < size; ++n) {
      if (n != x) blocked_.insert(deaf ? std::make_pair(n, x) : std::make_pair(x, n));
    }
    narrate("FAULT: node " + std::to_string(x + 1) + (deaf ? " cannot receive" : " cannot send"));
  }
  schedule(now_ + rng_.range(100'000, 2'000'000),
           Event{Kind::kHeal, -1, 0, -1, ++partition_token_, {}, {}});
}

std::string names(const std::set<NodeId>& ids) {
  std::string s = "{";
  for (NodeId id : ids) s += (s.size() > 1 ? "," : "") + std::to_string(id.value());
  return s + "}";
}

void Simulation::change_membership() {
  const int l = leader_index();
  if (l < 0) {
    return;
  }
  raft::Raft& core = *nodes_[l].core;
  const raft::Membership m = core.membership();
  const int size = static_cast<int>(nodes_.size());
  std::vector<NodeId> outside, members;
  for (int n = 0; n < size; ++n) {
    (m.contains(NodeId(n + 1)) ? members : outside).push_back(NodeId(n + 1));
  }
  raft::ProposeResult r;
  std::string what;
  const int64_t kind = rng_.range(0, 2);
  if (kind == 0 && !outside.empty()) {
    NodeId id = outside[rng_.range(0, static_cast<int64_t>(outside.size()) - 1)];
    r = core.add_node(id);
    what = "add node " + std::to_string(id.value()) + " (learner, then voter)";
  } else if (kind == 1) {
    NodeId id = members[rng_.range(0, static_cast<int64_t>(members.size()) - 1)];
    r = core.remove_node(id);
    what = "remove node " + std::to_string(id.value());
  } else {
    // Several voters at once: any non-empty subset of the slots.
    std::set<NodeId> voters;
    while (voters.empty()) {
      for (int n = 0; n < size; ++n) {
        if (rng_.chance(0.6)) voters.insert(NodeId(n + 1));
      }
    }
    std::set<NodeId> learners;
    for (NodeId id : m.learners) {
      if (!voters.contains(id)) learners.insert(id);
    }
    r = core.change_membership(voters, learners);
    what = "voters " + names(m.voters) + " -> " + names(voters);
  }
  if (r.error.is_ok()) {
    ++stats_.membership_changes;
    narrate("membership change at leader " + std::to_string(l + 1) + ": " + what);
    if (rng_.chance(0.3)) {
      // A second request right behind the first: it must wait its turn.
      change_membership();
      return;
    }
  }
  after_step(l);
}

void Simulation::transfer() {
  const int l = leader_index();
  if (l < 0) {
    return;
  }
  raft::Raft& core = *nodes_[l].core;
  std::vector<NodeId> voters(core.membership().voters.begin(), core.membership().voters.end());
  NodeId to = voters[rng_.range(0, static_cast<int64_t>(voters.size()) - 1)];
  if (core.transfer_leadership(to).is_ok()) {
    ++stats_.transfers;
    narrate("leader " + std::to_string(l + 1) + " transfers leadership to node " +
            std::to_string(to.value()));
  }
  after_step(l);
}

void Simulation::change_timeouts() {
  const int l = leader_index();
  if (l < 0) {
    return;
  }
  raft::Raft& core = *nodes_[l].core;
  raft::Timeouts t;
  t.heartbeat_ticks = static_cast<uint32_t>(rng_.range(1, 3));
  t.election_min_ticks = t.heartbeat_ticks * 3 + static_cast<uint32_t>(rng_.range(2, 8));
  t.election_max_ticks = t.election_min_ticks + static_cast<uint32_t>(rng_.range(4, 12));
  const bool invalid = rng_.chance(0.2);
  if (invalid) {
    t.election_min_ticks = t.heartbeat_ticks;  // not greater than the heartbeat
  }
  const LogIndex before = core_of(core).log().last_index();
  raft::ProposeResult r = core.propose_timeouts(t);
  if (invalid && (r.error.is_ok() || core_of(core).log().last_index() != before)) {
    fail("node " + std::to_string(l + 1) + " accepted invalid timeouts");
    return;
  }
  if (r.error.is_ok()) {
    ++stats_.timeout_changes;
    narrate("leader " + std::to_string(l + 1) + " proposes timeouts: heartbeat " +
            std::to_string(t.heartbeat_ticks) + ", election [" +
            std::to_string(t.election_min_ticks) + ", " + std::to_string(t.election_max_ticks) +
            ") ticks");
  }
  after_step(l);
}

void Simulation::heal_all() {
  healed_ = true;
  heal_time_ = now_;
  blocked_.clear();
  profile_.drop = 0;
  profile_.duplicate = 0;
  profile_.max_delay_us = std::min<int64_t>(profile_.max_delay_us, 5'000);
  narrate("all faults heal; the cluster must now make progress");
  for (int n = 0; n < static_cast<int>(nodes_.size()); ++n) {
    if (!nodes_[n].up) {
      restart(n);
    }
  }
}

bool Simulation::converged() const {
  if (!liveness_op_.has_value()) {
    return false;
  }
  // Every acknowledged write is applied on every node.
  const LogIndex target = max_acked_;
  const int l = leader_index();
  if (l < 0) {
    return false;
  }
  // Every member of the leader's configuration applied every acknowledged write.
  const raft::Membership& m = nodes_[l].core->membership();
  for (const SimNode& node : nodes_) {
    if (m.contains(node.id) && (!node.up || node.applied < target)) {
      return false;
    }
  }
  return true;
}

void Simulation::client_step(int c) {
  Client& cl = clients_[c];
  if (cl.busy || cl.stopped) {
    return;
  }
  if (liveness_op_.has_value()) {
    cl.stopped = true;  // the liveness write is in: stop the load and let the cluster converge
    return;
  }
  const int size = static_cast<int>(nodes_.size());
  int target = static_cast<int>(rng_.range(0, size - 1));
  if (cl.guess != raft::kNoNode && rng_.chance(0.9)) {
    target = static_cast<int>(cl.guess.value()) - 1;
  }
  OpRecord rec;
  rec.op.client = c;
  rec.op.key = "k" + std::to_string(rng_.range(0, kKeys - 1));
  rec.op.kind = rng_.chance(read_ratio_) ? lincheck::OpKind::kRead : lincheck::OpKind::kWrite;
  const uint64_t op_id = history_.size();
  if (rec.op.kind == lincheck::OpKind::kWrite) {
    rec.op.value = "v" + std::to_string(op_id);
  }
  rec.op.invoke = now_;
  history_.push_back(rec);
  cl.op = op_id;
  cl.busy = true;
  cl.node = target;

  SimNode& node = nodes_[target];
  if (!node.up) {
    cl.guess = raft::kNoNode;
    resolve(c, op_id, false, false);  // connection refused: it certainly did not happen
    return;
  }
  if (rec.op.kind == lincheck::OpKind::kRead && rng_.chance(0.5)) {
    // A linearizable read without a log entry (ReadIndex), on whichever node.
    raft::Error e = node.core->read_index(raft::ReadId(op_id));
    if (!e.is_ok()) {
      cl.guess = e.leader();
      resolve(c, op_id, false, false);
      return;
    }
    node.read_waiting[op_id] = Waiter{c, Term(), op_id};
    schedule(now_ + client_timeout_us_, Event{Kind::kClientTimeout, -1, 0, c, op_id, {}, {}});
    after_step(target);
    return;
  }
  Command cmd{rec.op.kind == lincheck::OpKind::kWrite ? 'W' : 'R', op_id, rec.op.key, rec.op.value};
  raft::ProposeResult r = node.core->propose(encode(cmd));
  if (!r.error.is_ok()) {
    cl.guess = r.error.leader();
    resolve(c, op_id, false, false);
    return;
  }
  if (auto old = node.waiting.find(r.id.index); old != node.waiting.end()) {
    // An earlier proposal here at this index was overwritten in this log, but it may
    // survive on another node and still commit: its outcome is unknown.
    Waiter w = old->second;
    node.waiting.erase(old);
    resolve(w.client, w.op, false, true);
  }
  node.waiting[r.id.index] = Waiter{c, r.id.term, op_id};
  schedule(now_ + client_timeout_us_, Event{Kind::kClientTimeout, -1, 0, c, op_id, {}, {}});
  after_step(target);
}

void Simulation::final_checks() {
  std::vector<lincheck::Operation> ops;
  for (OpRecord& rec : history_) {
    if (!rec.done) {
      rec.op.outcome = lincheck::Outcome::kUnknown;
      rec.op.complete = now_;
    }
    if (!rec.failed) {
      ops.push_back(rec.op);
    }
  }
  // No acknowledged write is lost: every node applied it where it was acknowledged.
  for (const OpRecord& rec : history_) {
    // (ReadIndex reads have no entry of their own: digest 0.)
    if (rec.done && !rec.failed && rec.op.outcome == lincheck::Outcome::kOk && rec.digest != 0 &&
        checker_.applied_digest(rec.index) != rec.digest) {
      fail("acknowledged operation " + lincheck::to_string(rec.op) + " at index " +
           std::to_string(rec.index.value()) + " is not what the cluster applied there");
      return;
    }
  }
  lincheck::Result lin = lincheck::check(ops);
  if (lin.verdict == lincheck::Verdict::kNotLinearizable) {
    fail("Linearizability: " + lin.explanation);
  } else if (lin.verdict == lincheck::Verdict::kGaveUp) {
    fail("Linearizability: the checker gave up after " + std::to_string(lin.states_explored) +
         " states");
  }
}

}  // namespace

std::string FaultProfile::describe() const {
  std::ostringstream os;
  os << "drop=" << drop << " dup=" << duplicate << " delay=[" << min_delay_us << "," << max_delay_us
     << "]us fsync<=" << max_fsync_us << "us";
  if (leader_crash > 0 || write_crash > 0) {
    os << " leader_crash=" << leader_crash << " fresh_leader_crash=" << fresh_leader_crash
       << " write_crash=" << write_crash << " commit_crash=" << commit_crash
       << " restart<=" << max_restart_ms << "ms";
  }
  if (nemesis_every_ms > 0) {
    os << " faults every ~" << nemesis_every_ms << "ms (" << (crash_weight ? "crashes " : "")
       << (partition_weight ? "partitions " : "") << (membership_weight ? "membership " : "")
       << (transfer_weight ? "transfers " : "") << (timeouts_weight ? "timeouts" : "") << ")";
  } else {
    os << " no crashes or partitions";
  }
  return os.str();
}

SimResult run_simulation(const SimOptions& options) { return Simulation(options).run(); }

std::string replay_command(uint64_t seed) {
  return "build/bin/raftkv-sim --seed " + std::to_string(seed) + " --verbose";
}

}  // namespace sim
