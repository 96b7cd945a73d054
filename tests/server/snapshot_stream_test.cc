// Maintenance.Snapshot's framing (server/snapshot_stream.h): the chunks and their
// remaining_bytes as etcd counts them, the 512-byte alignment etcdctl 3.4 demands, the
// SHA-256 trailer it checks, and reading such a file back (with every way it can be wrong).
#include "server/snapshot_stream.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <string>
#include <vector>

namespace server {
namespace {

using etcdserverpb::SnapshotResponse;

std::vector<SnapshotResponse> drain(std::string_view data, size_t chunk) {
  SnapshotStream s(data, chunk);
  std::vector<SnapshotResponse> out;
  SnapshotResponse r;
  for (int i = 0; i < 100000 && s.next(&r); ++i) out.push_back(r);
  return out;
}

// The file etcdctl writes: every blob in order.
std::string file_of(const std::vector<SnapshotResponse>& msgs) {
  std::string f;
  for (const SnapshotResponse& m : msgs) f += m.blob();
  return f;
}

std::string sha256(std::string_view data) {
  unsigned char sum[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), sum);
  return std::string(reinterpret_cast<char*>(sum), sizeof sum);
}

std::string bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + 3);
  return s;
}

TEST(SnapshotStream, CutsTheFileIntoChunksCountingTheBytesAfterEachAsEtcdDoes) {
  const std::string data = bytes(900);  // 32 + 900 framed, padded to 1024
  const auto msgs = drain(data, 400);
  ASSERT_EQ(msgs.size(), 4u);  // 400 + 400 + 224, then the checksum
  EXPECT_EQ(msgs[0].blob().size(), 400u);
  EXPECT_EQ(msgs[0].remaining_bytes(), 624u);
  EXPECT_EQ(msgs[1].remaining_bytes(), 224u);
  EXPECT_EQ(msgs[2].blob().size(), 224u);
  EXPECT_EQ(msgs[2].remaining_bytes(), 0u);
  EXPECT_EQ(msgs[3].blob().size(), kSnapshotTrailerBytes);
  EXPECT_EQ(msgs[3].remaining_bytes(), 0u);
}

TEST(SnapshotStream, TheFileIsHeaderSnapshotZerosToA512MultipleThenItsSha256) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{480}, size_t{481}, kSnapshotChunkBytes - 1,
                   kSnapshotChunkBytes, 3 * kSnapshotChunkBytes + 17}) {
    const std::string data = bytes(n);
    const auto msgs = drain(data, kSnapshotChunkBytes);
    const std::string file = file_of(msgs);
    // etcdctl 3.4 saves a file only when its size is 32 past a multiple of 512.
    EXPECT_EQ(file.size() % 512, 32u) << n << " bytes";
    EXPECT_EQ(file.size(), (kSnapshotHeaderBytes + n + 511) / 512 * 512 + 32) << n;
    EXPECT_EQ(file.substr(0, 16), "RAFTKV-SNAPSHOT\n");
    EXPECT_EQ(file.substr(kSnapshotHeaderBytes, n), data) << n << " bytes";
    const std::string framed = file.substr(0, file.size() - 32);
    EXPECT_EQ(file.substr(framed.size()), sha256(framed)) << n << " bytes";
    for (size_t i = 0; i + 1 < msgs.size(); ++i) {
      EXPECT_LE(msgs[i].blob().size(), kSnapshotChunkBytes);
      EXPECT_FALSE(msgs[i].blob().empty()) << "message " << i << " of " << n << " bytes";
    }
    auto back = read_snapshot_file(file);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, data) << n << " bytes";
  }
}

TEST(SnapshotStream, GivesNothingAfterTheChecksum) {
  SnapshotStream s("xy", 256);
  SnapshotResponse r;
  int n = 0;
  while (n < 10 && s.next(&r)) ++n;
  EXPECT_EQ(n, 3);  // 512 bytes in two blobs, then the checksum
  EXPECT_FALSE(s.next(&r));
}

TEST(SnapshotFile, ReadingRefusesWhatIsNotAnIntactRaftkvSnapshot) {
  const std::string good = file_of(drain(bytes(100), kSnapshotChunkBytes));
  ASSERT_TRUE(read_snapshot_file(good).ok());
  auto refused = [](const std::string& f) { return read_snapshot_file(f).status(); };

  EXPECT_EQ(refused("short").code(), absl::StatusCode::kInvalidArgument);
  std::string bolt = good;
  bolt.replace(0, 16, std::string(16, '\0'));
  EXPECT_NE(refused(bolt).message().find("bbolt"), std::string::npos) << refused(bolt);
  std::string version = good;
  version[16] = 2;
  EXPECT_EQ(refused(version).message(),
            "raftkv snapshot file format version 2 is not supported (expected 1)");
  std::string flipped = good;
  flipped[kSnapshotHeaderBytes + 5] ^= 1;
  EXPECT_EQ(refused(flipped).code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(refused(flipped).message().find("SHA-256"), std::string::npos);
  EXPECT_EQ(refused(good.substr(0, good.size() - 1)).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace server
