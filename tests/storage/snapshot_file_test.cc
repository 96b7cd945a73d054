// Snapshot files: atomic, checksummed, the last N kept, damage refused by name.
#include "storage/snapshot_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

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

}  // namespace
}  // namespace storage
