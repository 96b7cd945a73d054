// The in-memory disk: synced data survives every crash; unsynced data survives whole,
// torn or not at all, as the generator decides; directory changes need sync_dir. And
// the real WAL recovers from each outcome.
#include "storage/mem_file_system.h"

#include <gtest/gtest.h>

#include "storage/wal.h"

namespace storage {
namespace {

std::string read(MemFileSystem& fs, const std::string& path) {
  auto r = fs.read_file(path);
  return r.is_ok() ? r.value() : "<missing>";
}

TEST(MemFileSystem, SyncedBytesSurviveAndUnsyncedOnesAreKeptCutOrDropped) {
  for (uint64_t keep : {0u, 2u, 100u}) {
    MemFileSystem fs;
    ASSERT_TRUE(fs.create_dir("/d").is_ok());
    auto f = fs.open_for_append("/d/f", 0, 0);
    ASSERT_TRUE(f.is_ok());
    ASSERT_TRUE(f.value()->append("durable").is_ok());
    ASSERT_TRUE(f.value()->sync().is_ok());
    ASSERT_TRUE(fs.sync_dir("/d").is_ok());
    ASSERT_TRUE(f.value()->append("+tail").is_ok());
    EXPECT_EQ(fs.unsynced_bytes(), 5u);
    fs.crash([&](uint64_t n) { return std::min(n, keep); });
    const std::string expected =
        std::string("durable+tail").substr(0, 7 + std::min<uint64_t>(keep, 5));
    EXPECT_EQ(read(fs, "/d/f"), expected) << "keep " << keep;
    // The file opened before the crash is dead.
    EXPECT_FALSE(f.value()->append("x").is_ok());
  }
}

TEST(MemFileSystem, ACreateOrRenameWithoutSyncDirIsLostAtACrash) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.create_dir("/d").is_ok());
  auto f = fs.open_for_append("/d/a.tmp", 0, 0);
  ASSERT_TRUE(f.value()->append("x").is_ok());
  ASSERT_TRUE(f.value()->sync().is_ok());
  ASSERT_TRUE(fs.rename("/d/a.tmp", "/d/a").is_ok());
  EXPECT_EQ(read(fs, "/d/a"), "x");
  fs.crash([](uint64_t n) { return n; });
  EXPECT_EQ(read(fs, "/d/a"), "<missing>");  // neither name was ever made durable
  auto g = fs.open_for_append("/d/b.tmp", 0, 0);
  ASSERT_TRUE(g.value()->append("y").is_ok());
  ASSERT_TRUE(g.value()->sync().is_ok());
  ASSERT_TRUE(fs.rename("/d/b.tmp", "/d/b").is_ok());
  ASSERT_TRUE(fs.sync_dir("/d").is_ok());
  fs.crash([](uint64_t) { return 0; });
  EXPECT_EQ(read(fs, "/d/b"), "y");
  EXPECT_EQ(fs.list("/d").value(), std::vector<std::string>{"b"});
}

raft::Entry entry(uint64_t index, const std::string& data) {
  return raft::Entry{raft::Term(1), raft::LogIndex(index), raft::EntryType::kNormal, data};
}

TEST(MemFileSystem, TheWalRecoversEverySyncedEntryWhateverACrashKeepsOfTheRest) {
  for (uint64_t keep = 0; keep < 200; keep += 7) {
    MemFileSystem fs;
    Recovered r;
    auto wal = Wal::open(fs, "/wal", WalOptions{4096, false}, &r);
    ASSERT_TRUE(wal.is_ok()) << wal.status().message();
    for (uint64_t i = 1; i <= 20; ++i)
      ASSERT_TRUE(wal.value()->append({entry(i, "synced")}, {}).is_ok());
    ASSERT_TRUE(wal.value()->sync().is_ok());
    for (uint64_t i = 21; i <= 25; ++i)
      ASSERT_TRUE(wal.value()->append({entry(i, "unsynced")}, {}).is_ok());
    ASSERT_TRUE(wal.value()->flush().is_ok());
    fs.crash([&](uint64_t n) { return std::min(n, keep); });
    Recovered back;
    auto again = Wal::open(fs, "/wal", WalOptions{4096, false}, &back);
    ASSERT_TRUE(again.is_ok()) << "keep " << keep << ": " << again.status().message();
    ASSERT_GE(back.entries.size(), 20u) << "keep " << keep;
    for (size_t k = 0; k < back.entries.size(); ++k) {
      EXPECT_EQ(back.entries[k].index.value(), k + 1);  // nothing invented, no gap
    }
  }
}

}  // namespace
}  // namespace storage
