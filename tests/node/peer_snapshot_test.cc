// A snapshot crossing the gRPC transport reaches the receiving node a chunk at a time,
// through the sink the node gives for it (RaftNode's writes a file), and the message that
// installs it carries what that sink returned: the transport never gathers a snapshot
// whole. A sink that cannot keep the bytes drops the snapshot, never a partial one.
// Real gRPC on 127.0.0.1.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "node/null_handler.h"
#include "transport/grpc_transport.h"

namespace transport {
namespace {

using std::chrono::steady_clock;

class RecordingSink : public SnapshotSink {
 public:
  RecordingSink(std::vector<size_t>* writes, std::shared_ptr<const SnapshotSource>* returned,
                uint64_t fail_after, std::mutex* mu)
      : writes_(writes), returned_(returned), fail_after_(fail_after), mu_(mu) {}
  absl::Status write(std::string_view bytes) override {
    std::lock_guard<std::mutex> lock(*mu_);
    if (bytes_.size() + bytes.size() > fail_after_) return absl::UnavailableError("disk full");
    writes_->push_back(bytes.size());
    bytes_.append(bytes);
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<const SnapshotSource>> finish() override {
    std::lock_guard<std::mutex> lock(*mu_);
    *returned_ = memory_snapshot(std::make_shared<const std::string>(std::move(bytes_)));
    return *returned_;
  }

 private:
  std::vector<size_t>* writes_;
  std::shared_ptr<const SnapshotSource>* returned_;
  uint64_t fail_after_;
  std::mutex* mu_;
  std::string bytes_;
};

class SnapshotHandler : public NullHandler {
 public:
  explicit SnapshotHandler(uint64_t fail_after = UINT64_MAX) : fail_after_(fail_after) {}
  absl::StatusOr<std::unique_ptr<SnapshotSink>> receive_snapshot(raft::NodeId from, uint64_t index,
                                                                 uint64_t size) override {
    std::lock_guard<std::mutex> lock(mu_);
    begun.push_back({from.value(), index, size});
    return std::make_unique<RecordingSink>(&writes, &returned, fail_after_, &mu_);
  }
  void on_message(raft::Message m, std::shared_ptr<const SnapshotSource> snapshot) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (std::holds_alternative<raft::InstallSnapshot>(m.body)) {
      delivered = std::move(snapshot);
      ++installs;
    } else {
      ++others;
    }
  }
  bool is_member(raft::NodeId) override { return true; }

  std::mutex mu_;
  std::vector<std::array<uint64_t, 3>> begun;  // from, index, size
  std::vector<size_t> writes;
  std::shared_ptr<const SnapshotSource> returned, delivered;
  int installs = 0;
  int others = 0;

 private:
  const uint64_t fail_after_;
};

raft::Message install(uint64_t index) {
  raft::InstallSnapshot is;
  is.meta.last = {raft::Term(1), raft::LogIndex(index)};
  is.meta.membership.voters = {raft::NodeId(1), raft::NodeId(2)};
  is.meta.timeouts = {1, 10, 20};
  return raft::Message{
      .from = raft::NodeId(2), .to = raft::NodeId(1), .term = raft::Term(1), .body = is};
}

raft::Message heartbeat() {
  return raft::Message{.from = raft::NodeId(2),
                       .to = raft::NodeId(1),
                       .term = raft::Term(1),
                       .body = raft::Heartbeat{}};
}

// Two transports on 127.0.0.1: `receiver` (member 1, with `handler`) and a sender
// (member 2) that streams in chunks of `chunk` bytes.
struct Pair {
  // Snapshots go on the gRPC stream. The tests order a heartbeat after a snapshot on that
  // same stream, so messages go there too: no peer lanes (which they would overtake on).
  explicit Pair(Handler* handler, uint64_t chunk) {
    receiver = std::make_unique<GrpcTransport>(GrpcTransportOptions{.self = raft::NodeId(1),
                                                                    .cluster_id = 7,
                                                                    .listen_address = "127.0.0.1:0",
                                                                    .peer_lanes = false});
    absl::StatusOr<int> port = receiver->start(handler);
    EXPECT_TRUE(port.ok()) << port.status();
    sender = std::make_unique<GrpcTransport>(GrpcTransportOptions{.self = raft::NodeId(2),
                                                                  .cluster_id = 7,
                                                                  .listen_address = "127.0.0.1:0",
                                                                  .snapshot_chunk_bytes = chunk,
                                                                  .peer_lanes = false});
    EXPECT_TRUE(sender->start(&sender_handler).ok());
    sender->set_peer(raft::NodeId(1), "127.0.0.1:" + std::to_string(port.value_or(0)));
  }
  ~Pair() {
    sender->stop();
    receiver->stop();
  }
  SnapshotHandler sender_handler;
  std::unique_ptr<GrpcTransport> receiver, sender;
};

// Waits for `pred` at most 20 s, polling every 10 ms.
template <typename Pred>
bool within_20s(Pred pred) {
  const auto deadline = steady_clock::now() + std::chrono::seconds(20);
  for (int round = 0; round < 2000 && steady_clock::now() < deadline; ++round) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 + i / 7);
  return s;
}

TEST(PeerSnapshot, ChunksGoToTheNodesSinkAndTheInstallCarriesWhatItReturned) {
  SnapshotHandler handler;
  Pair p(&handler, /*chunk=*/64 * 1024);
  const std::string data = pattern(1'000'000);
  p.sender->send_snapshot(install(42), memory_snapshot(std::make_shared<const std::string>(data)));
  ASSERT_TRUE(within_20s([&] {
    std::lock_guard<std::mutex> lock(handler.mu_);
    return handler.installs == 1;
  }));
  std::lock_guard<std::mutex> lock(handler.mu_);
  ASSERT_EQ(handler.begun.size(), 1u);
  EXPECT_EQ(handler.begun[0], (std::array<uint64_t, 3>{2, 42, data.size()}));
  EXPECT_EQ(handler.writes.size(), 16u);  // 1,000,000 bytes in 64 KiB chunks
  for (size_t w : handler.writes) EXPECT_LE(w, 64u * 1024);
  ASSERT_NE(handler.delivered, nullptr);
  EXPECT_EQ(handler.delivered, handler.returned);  // the sink's source itself, no copy
  EXPECT_EQ(read_all(*handler.delivered).value(), data);
  EXPECT_EQ(p.receiver->stats().snapshots_received, 1u);
}

TEST(PeerSnapshot, ASinkThatCannotKeepTheBytesDropsTheSnapshotNotPartOfIt) {
  SnapshotHandler handler(/*fail_after=*/300'000);
  Pair p(&handler, /*chunk=*/64 * 1024);
  p.sender->send_snapshot(install(42),
                          memory_snapshot(std::make_shared<const std::string>(pattern(1'000'000))));
  // The stream goes on: a heartbeat sent after the snapshot arrives, the snapshot does not.
  ASSERT_TRUE(within_20s([&] {
    p.sender->send({heartbeat()});
    std::lock_guard<std::mutex> lock(handler.mu_);
    return handler.others > 0;
  }));
  const uint64_t refused = p.receiver->stats().refused;
  EXPECT_GE(refused, 1u);
  std::lock_guard<std::mutex> lock(handler.mu_);
  EXPECT_EQ(handler.installs, 0);
  EXPECT_EQ(handler.delivered, nullptr);
  EXPECT_EQ(handler.returned, nullptr);  // never finished
  EXPECT_EQ(p.receiver->stats().snapshots_received, 0u);
}

}  // namespace
}  // namespace transport
