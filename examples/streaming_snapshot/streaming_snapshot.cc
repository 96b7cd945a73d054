// A state machine too large to copy into one string for a snapshot: it hands its
// snapshot to the runtime a record at a time (StateMachine::snapshot_to), and the runtime
// writes the pieces to the snapshot file as they come; on the way back it restores from
// the file's bytes a piece at a time (StateMachine::restore_from), parsing records as the
// pieces arrive. Three RaftNodes run in this one process over a transport::LocalNetwork;
// the program checks that a member that fell behind the leader's compaction (the leader
// streams its snapshot file, the member writes the chunks to a file and restores from it)
// and a member restarted from its own snapshot file both end with exactly the leader's
// state, and that neither restore held more than a piece and one value at a time.
// Exit status 0 when they do.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "node/raft_node.h"
#include "transport/local_transport.h"

namespace {

using std::chrono::milliseconds;

// FNV-1a, 64 bits: a checksum over the snapshot's records, so that restore() can tell
// a damaged or cut snapshot from a good one.
uint64_t fnv1a(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}
constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ULL;

// Parses a blob snapshot (format below) as its bytes come, in pieces of any size: a
// line, or the value a record header announced, at a time. It holds the line being read
// and the value being read, never the whole snapshot.
class BlobParser {
 public:
  absl::Status feed(std::string_view piece) {
    while (!piece.empty()) {
      if (want_ == Want::kValue) {
        const size_t n = std::min<size_t>(piece.size(), remaining_);
        value_.append(piece.substr(0, n));
        sum_ = fnv1a(sum_, piece.substr(0, n));
        piece.remove_prefix(n);
        held_most_ = std::max(held_most_, value_.size());
        if ((remaining_ -= n) == 0) {
          blobs_.emplace_hint(blobs_.end(), key_, std::move(value_));
          value_.clear();
          want_ = Want::kRecord;
        }
        continue;
      }
      if (want_ == Want::kDone) return absl::DataLossError("bytes after the snapshot's trailer");
      const size_t nl = piece.find('\n');
      line_.append(piece.substr(0, nl));
      if (line_.size() > kMaxLine) return absl::InvalidArgumentError("a line runs too long");
      if (nl == std::string_view::npos) return absl::OkStatus();  // the line goes on
      piece.remove_prefix(nl + 1);
      if (absl::Status s = take_line(); !s.ok()) return s;
      line_.clear();
    }
    return absl::OkStatus();
  }
  // The stream ended: it must have ended at its trailer.
  absl::Status finish() const {
    if (want_ != Want::kDone) return absl::DataLossError("the snapshot ends before its trailer");
    return absl::OkStatus();
  }
  std::map<uint64_t, std::string>& blobs() { return blobs_; }
  size_t held_most() const { return held_most_; }  // the largest value held at once

 private:
  enum class Want { kHeader, kRecord, kValue, kDone };
  static constexpr size_t kMaxLine = 64;

  absl::Status take_line() {
    if (want_ == Want::kHeader) {
      if (line_ != "blobs 1") return absl::InvalidArgumentError("not a blob snapshot");
      want_ = Want::kRecord;
      return absl::OkStatus();
    }
    unsigned long long key = 0, length = 0, count = 0, checksum = 0;
    if (std::sscanf(line_.c_str(), "end %llu %llu", &count, &checksum) == 2) {
      if (count != blobs_.size() || checksum != sum_) {
        return absl::DataLossError("the snapshot's trailer does not match its records");
      }
      want_ = Want::kDone;
      return absl::OkStatus();
    }
    if (std::sscanf(line_.c_str(), "%llu %llu", &key, &length) != 2 ||
        (!blobs_.empty() && key <= blobs_.rbegin()->first) || length > (1ull << 30)) {
      return absl::InvalidArgumentError("bad record header \"" + line_ + "\"");
    }
    sum_ = fnv1a(sum_, line_ + "\n");
    key_ = key;
    remaining_ = length;
    if (length == 0) {
      blobs_.emplace_hint(blobs_.end(), key_, std::string());
    } else {
      want_ = Want::kValue;
    }
    return absl::OkStatus();
  }

  Want want_ = Want::kHeader;
  std::string line_;
  std::string value_;
  uint64_t key_ = 0;
  uint64_t remaining_ = 0;
  uint64_t sum_ = kFnvBasis;
  size_t held_most_ = 0;
  std::map<uint64_t, std::string> blobs_;
};

// One string as pieces (restore() of the whole snapshot, for tools and tests).
class OnePiece : public node::SnapshotPieces {
 public:
  explicit OnePiece(std::string_view data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  absl::StatusOr<std::string_view> next() override { return std::exchange(data_, {}); }

 private:
  std::string_view data_;
};

// A map of numbered blobs. Commands: "put <key> <value>" (value: one word).
// Snapshot format, in the order it is streamed:
//   "blobs 1\n"
//   per blob, by ascending key: "<key> <length>\n" then <length> bytes of value
//   "end <count> <fnv1a-64 of every record's bytes, in order>\n"
class BlobStore : public node::StateMachine {
 public:
  std::string apply(raft::LogIndex, std::string_view command) override {
    const size_t sp1 = command.find(' '), sp2 = command.find(' ', sp1 + 1);
    if (!command.starts_with("put ") || sp2 == std::string_view::npos) return "error: not a put";
    const std::string key(command.substr(sp1 + 1, sp2 - sp1 - 1));
    char* end = nullptr;
    const uint64_t k = std::strtoull(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0') return "error: key is not a number";
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[k] = std::string(command.substr(sp2 + 1));
    return "ok";
  }

  // Streams the snapshot: a few bytes of framing, then a view of each value as it lies
  // in the map. Nothing the size of the state is built. (Called on the apply thread, so
  // no apply() runs meanwhile; the lock is for readers on other threads.)
  absl::Status snapshot_to(const std::function<bool(std::string_view)>& write) override {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t sum = kFnvBasis;
    last_pieces_ = 0;
    bool ok = write("blobs 1\n");
    for (auto it = blobs_.begin(); ok && it != blobs_.end(); ++it) {
      const std::string frame =
          std::to_string(it->first) + " " + std::to_string(it->second.size()) + "\n";
      ok = write(frame) && write(it->second);
      sum = fnv1a(fnv1a(sum, frame), it->second);
      last_pieces_ += 2;  // besides the header and the trailer
    }
    ok = ok && write("end " + std::to_string(blobs_.size()) + " " + std::to_string(sum) + "\n");
    return ok ? absl::OkStatus() : absl::AbortedError("the snapshot's bytes could not be kept");
  }

  // The runtime takes snapshots only through snapshot_to (the applier); snapshot() is
  // still part of the interface, so it gathers the same stream, for tools and tests.
  std::string snapshot() override {
    std::string out;
    (void)snapshot_to([&out](std::string_view piece) {
      out.append(piece);
      return true;
    });
    return out;
  }

  // Parses the pieces into a new map as they come, checking framing, order, count and
  // checksum; the live map changes only when all of it is good. Never the whole snapshot
  // in one buffer: the runtime reads it from the file a piece (at most 1 MiB) at a time.
  absl::Status restore_from(node::SnapshotPieces& pieces) override {
    BlobParser parser;
    uint64_t count = 0, largest = 0;
    for (;;) {
      absl::StatusOr<std::string_view> piece = pieces.next();
      if (!piece.ok()) return piece.status();
      if (piece->empty()) break;
      ++count;
      largest = std::max<uint64_t>(largest, piece->size());
      if (absl::Status s = parser.feed(*piece); !s.ok()) return s;
    }
    if (absl::Status s = parser.finish(); !s.ok()) return s;
    std::lock_guard<std::mutex> lock(mu_);
    blobs_ = std::move(parser.blobs());
    ++restores_;
    restored_ = {count, largest, parser.held_most()};
    return absl::OkStatus();
  }

  // The whole snapshot at once: the same parser, given one piece.
  absl::Status restore(std::string_view data) override {
    OnePiece piece(data);
    return restore_from(piece);
  }

  // How the last restore went: pieces read, the largest piece, the largest value held.
  struct Restored {
    uint64_t pieces = 0, largest_piece = 0, held_most = 0;
  };
  Restored last_restore() {
    std::lock_guard<std::mutex> lock(mu_);
    return restored_;
  }

  std::map<uint64_t, std::string> blobs() {
    std::lock_guard<std::mutex> lock(mu_);
    return blobs_;
  }
  int restores() {
    std::lock_guard<std::mutex> lock(mu_);
    return restores_;
  }
  uint64_t last_pieces() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_pieces_;
  }

 private:
  std::mutex mu_;
  std::map<uint64_t, std::string> blobs_;
  int restores_ = 0;          // how often a restore replaced the state
  uint64_t last_pieces_ = 0;  // record pieces the last snapshot_to handed over
  Restored restored_;
};

// Three members in one process, each with its own data directory.
class Cluster {
 public:
  explicit Cluster(std::string dir) : dir_(std::move(dir)) {
    for (int i = 1; i <= 3; ++i) start(i);
  }
  ~Cluster() {
    for (int i = 1; i <= 3; ++i) stop(i);
  }

  // Starts member i with a fresh state machine: open() restores its latest snapshot file
  // (if any) and replays its log; the leader sends a snapshot if the log it needs is gone.
  void start(int i) {
    node::NodeConfig c;
    c.id = raft::NodeId(i);
    c.name = "m" + std::to_string(i);
    c.data_dir = dir_ + "/m" + std::to_string(i);
    c.tick_ms = 5;
    c.timeouts =
        node::TimeoutsMs{.heartbeat_ms = 20, .election_min_ms = 150, .election_max_ms = 300};
    c.snapshot_entries = 20;          // snapshot often, every 20 entries...
    c.snapshot_log_percent = 0;       // ...however large the state is against them...
    c.snapshot_catch_up_entries = 0;  // ...and keep no log behind it: laggards get snapshots
    c.bootstrap.voters = {raft::NodeId(1), raft::NodeId(2), raft::NodeId(3)};
    Member& m = members_[i];
    m.sm = std::make_unique<BlobStore>();
    m.transport = net_.join(c.id);
    absl::StatusOr<std::unique_ptr<node::RaftNode>> opened =
        node::RaftNode::open(c, m.sm.get(), m.transport.get());
    if (!opened.ok()) {
      std::fprintf(stderr, "cannot open m%d: %s\n", i, opened.status().ToString().c_str());
      std::exit(1);
    }
    m.node = *std::move(opened);
    net_.attach(c.id, m.node.get());
    m.node->start();
  }
  void stop(int i) {
    Member& m = members_[i];
    if (m.node == nullptr) return;
    net_.detach(raft::NodeId(i));
    m.node->stop();
    m.node.reset();
    m.transport.reset();
  }
  int leader() {
    for (auto& [i, m] : members_) {
      if (m.node != nullptr && m.node->is_leader()) return i;
    }
    return 0;
  }
  node::RaftNode& node(int i) { return *members_[i].node; }
  BlobStore& sm(int i) { return *members_[i].sm; }

 private:
  struct Member {
    std::unique_ptr<BlobStore> sm;
    std::unique_ptr<transport::Transport> transport;
    std::unique_ptr<node::RaftNode> node;
  };
  std::string dir_;
  transport::LocalNetwork net_;  // outlives the members (declared before them)
  std::map<int, Member> members_;
};

// Polls `pred` every 10 ms for at most 10 s.
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

constexpr size_t kValueBytes = 8192;

// A restore read in several pieces of at most the runtime's piece size, and held no value
// larger than one put's: the snapshot (about 1.9 MiB) was never in one buffer.
bool streamed(const BlobStore::Restored& r) {
  std::printf("restored from %llu pieces (largest %llu bytes), holding at most %llu bytes\n",
              static_cast<unsigned long long>(r.pieces),
              static_cast<unsigned long long>(r.largest_piece),
              static_cast<unsigned long long>(r.held_most));
  return r.pieces >= 2 && r.largest_piece <= node::kRestorePieceBytes && r.held_most <= kValueBytes;
}

bool check(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  std::fflush(stdout);  // before the runtime's log lines on stderr
  return ok;
}

int run(const std::string& dir) {
  Cluster c(dir);
  int leader = 0;
  if (!check(eventually([&] { return (leader = c.leader()) != 0; }), "a leader is elected")) {
    return 1;
  }

  // One member falls behind: everything below is written without it.
  const int lagging = leader % 3 + 1;
  c.stop(lagging);
  for (int i = 0; i < 400; ++i) {
    // 400 puts of 8 KiB over 240 keys (some overwritten): about 1.9 MiB of state.
    const std::string value(kValueBytes, static_cast<char>('a' + i % 26));
    absl::StatusOr<std::string> r = c.node(leader).client_write(
        "put " + std::to_string(i % 240) + " " + value, milliseconds(5000));
    if (!r.ok() || *r != "ok") {
      std::printf("FAILED: put %d: %s\n", i, r.ok() ? r->c_str() : r.status().ToString().c_str());
      return 1;
    }
  }
  const std::map<uint64_t, std::string> want = c.sm(leader).blobs();
  if (!check(eventually([&] { return c.node(leader).status().snapshot_index.value() >= 380; }),
             "the leader snapshots and compacts its log")) {
    return 1;
  }
  std::printf("the leader's last snapshot went to snapshot_to's writer in %llu pieces\n",
              static_cast<unsigned long long>(c.sm(leader).last_pieces()));

  // A restore refuses a damaged, cut or lengthened snapshot and keeps what it had.
  const std::string good = c.sm(leader).snapshot();
  BlobStore probe;
  std::string damaged = good;
  damaged[good.size() / 2] ^= 1;
  bool ok = check(probe.restore(good).ok() && !probe.restore(damaged).ok() &&
                      !probe.restore(good.substr(0, good.size() - 1)).ok() &&
                      !probe.restore(good + "x").ok() && probe.blobs() == want,
                  "a damaged, cut or lengthened snapshot is refused and changes nothing");

  // The lagging member comes back: the entries it lacks are gone from the leader's log,
  // so the leader streams its snapshot file and the member restores from it.
  c.start(lagging);
  ok = check(eventually([&] { return c.sm(lagging).blobs() == want; }),
             "the lagging member reaches the leader's state");
  ok = check(c.sm(lagging).restores() >= 1, "it was restored from a snapshot") && ok;
  ok = check(streamed(c.sm(lagging).last_restore()),
             "it restored in pieces, holding one piece and one value at a time") &&
       ok;

  // A member restarts (its state machine starts empty): open() restores its own latest
  // snapshot file, then it replays the log after it.
  const int restarted = lagging % 3 + 1;
  c.stop(restarted);
  c.start(restarted);
  ok =
      check(c.sm(restarted).restores() == 1, "a restarted member restores its snapshot file") && ok;
  ok = check(streamed(c.sm(restarted).last_restore()), "in pieces too") && ok;
  ok = check(eventually([&] { return c.sm(restarted).blobs() == want; }),
             "the restarted member reaches the leader's state") &&
       ok;
  return ok ? 0 : 1;
}

}  // namespace

int main() {
  char pattern[] = "/tmp/streaming-snapshot-XXXXXX";
  const char* dir = mkdtemp(pattern);
  if (dir == nullptr) return std::perror("mkdtemp"), 1;
  const int rc = run(dir);
  std::filesystem::remove_all(dir);
  return rc;
}
