// Snapshot files: atomic, checksummed, the last N kept, damage refused by name.
#include "storage/snapshot_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <xxhash.h>

#include <filesystem>
#include <fstream>

namespace storage {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "raftkv-snap-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

StoredSnapshot snapshot(uint64_t index, std::string data) {
  StoredSnapshot s;
  s.meta.last = {raft::Term(2), raft::LogIndex(index)};
  s.meta.membership.voters = {raft::NodeId(1), raft::NodeId(2), raft::NodeId(3)};
  s.meta.membership.learners = {raft::NodeId(4)};
  s.meta.timeouts = {2, 20, 40};
  s.data = std::move(data);
  return s;
}

TEST(SnapshotStore, SavedSnapshotReadsBackExactly) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(10, std::string("state\0bytes", 11))).is_ok());
  StatusOr<StoredSnapshot> back = store.load_latest();
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back.value().meta, snapshot(10, "").meta);
  EXPECT_EQ(back.value().data, std::string("state\0bytes", 11));
  for (const auto& f : std::filesystem::directory_iterator(d.path())) {
    EXPECT_EQ(f.path().extension(), ".snap") << "a temporary file was left behind";
  }
}

TEST(SnapshotStore, KeepsOnlyTheNewestN) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path(), 2);
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(store.save(snapshot(i * 10, "x")).is_ok());
  StatusOr<std::vector<uint64_t>> all = store.list();
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all.value(), (std::vector<uint64_t>{40, 50}));
  EXPECT_EQ(store.load_latest().value().meta.last.index, raft::LogIndex(50));
}

TEST(SnapshotStore, ADamagedSnapshotIsRefusedByName) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(7, "some state machine bytes")).is_ok());
  const std::string file = d.path() + "/0000000000000007.snap";
  {
    std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(70);
    f.put('!');
  }
  StatusOr<StoredSnapshot> back = store.load_latest();
  ASSERT_FALSE(back.is_ok());
  EXPECT_EQ(back.status().code(), Code::kCorruption);
  EXPECT_NE(back.status().message().find(file), std::string::npos) << back.status().message();
}

// The bytes of docs/storage-format.md's snapshot file, to the byte (a change of the
// code that writes them must not change them): magic, version, index 7, term 2, the
// membership {1, 2, 3} + learner {4}, timeouts {2, 20, 40}, the data, the checksum.
TEST(SnapshotStore, TheFileHoldsTheDocumentedBytes) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(7, "data")).is_ok());
  const std::string bytes =
      posix_file_system().read_file(d.path() + "/0000000000000007.snap").value();
  std::string hex;
  for (unsigned char c : bytes) {
    static const char* digits = "0123456789abcdef";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  EXPECT_EQ(hex,
            "524146544b56534e"    // magic RAFTKVSN
            "01000000"            // format version 1
            "0700000000000000"    // last index 7
            "0200000000000000"    // last term 2
            "2c000000"            // membership: 44 bytes
            "03000000"            // 3 voters
            "0100000000000000"    // 1
            "0200000000000000"    // 2
            "0300000000000000"    // 3
            "00000000"            // no outgoing voters
            "01000000"            // 1 learner
            "0400000000000000"    // 4
            "0c000000"            // timeouts: 12 bytes
            "02000000"            // heartbeat 2
            "14000000"            // election min 20
            "28000000"            // election max 40
            "0400000000000000"    // data: 4 bytes
            "64617461"            // "data"
            "679cfb6c744c24ff");  // XXH3-64 of all of the above
}

// A length that runs past the end is refused even when the checksum holds (a file
// written by a bug, not torn by a crash): the reader never reads past the end.
TEST(SnapshotStore, ALengthPastTheEndIsRefusedEvenWithAGoodChecksum) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(7, "data")).is_ok());
  const std::string file = d.path() + "/0000000000000007.snap";
  std::string bytes = posix_file_system().read_file(file).value();
  bytes[28] = '\x7f';  // the membership's length (offset 28) now claims 127 bytes
  const uint64_t sum = XXH3_64bits(bytes.data(), bytes.size() - 8);
  for (int i = 0; i < 8; ++i) bytes[bytes.size() - 8 + i] = static_cast<char>(sum >> (8 * i));
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  StatusOr<StoredSnapshot> back = store.load_latest();
  ASSERT_FALSE(back.is_ok());
  EXPECT_EQ(back.status().message(), "snapshot " + file + ": truncated header");
}

}  // namespace
}  // namespace storage
