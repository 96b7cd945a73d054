// Every later version must keep reading what version 1 wrote: the fixture in
// tests/fixtures/storage/v1 was written by this code (RAFTKV_WRITE_FIXTURE=1
// rewrites it) and must open with exactly this content.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "storage/mem_file_system.h"
#include "storage/wal.h"

namespace storage {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::LogIndex;
using raft::Term;

const std::string kFixture = std::string(RAFTKV_SOURCE_DIR) + "/tests/fixtures/storage/v1/wal";

std::vector<Entry> expected_entries() {
  return {Entry{Term(2), LogIndex(4), EntryType::kNoop, ""},
          Entry{Term(2), LogIndex(5), EntryType::kNormal, "put k=v"},
          Entry{Term(3), LogIndex(6), EntryType::kNormal, "replaced"}};
}

// What version 1 wrote into the fixture: entries, a snapshot marker, and a suffix
// superseded by a later term, in 256-byte segments.
void write_version1_history(FileSystem& fs, const std::string& dir) {
  Recovered r;
  auto w = Wal::open(fs, dir, WalOptions{256, false}, &r);
  ASSERT_TRUE(w.is_ok());
  Wal& wal = *w.value();
  wal.append({Entry{Term(1), LogIndex(1), EntryType::kNoop, ""},
              Entry{Term(1), LogIndex(2), EntryType::kNormal, "a"},
              Entry{Term(1), LogIndex(3), EntryType::kNormal, "b"}},
             raft::HardState{Term(1), raft::NodeId(1), LogIndex(3)});
  ASSERT_TRUE(wal.sync().is_ok());
  ASSERT_TRUE(wal.mark_snapshot({Term(1), LogIndex(3)}).is_ok());
  wal.append({Entry{Term(2), LogIndex(4), EntryType::kNoop, ""},
              Entry{Term(2), LogIndex(5), EntryType::kNormal, "put k=v"},
              Entry{Term(2), LogIndex(6), EntryType::kNormal, "superseded"}},
             raft::HardState{Term(2), raft::NodeId(2), LogIndex(5)});
  ASSERT_TRUE(wal.sync().is_ok());
  wal.append({Entry{Term(3), LogIndex(6), EntryType::kNormal, "replaced"}},
             raft::HardState{Term(3), raft::NodeId(3), LogIndex(5)});
  ASSERT_TRUE(wal.sync().is_ok());
}

TEST(StorageFixture, Version1DataDirectoryOpensWithItsExactContent) {
  if (std::getenv("RAFTKV_WRITE_FIXTURE") != nullptr) {
    std::filesystem::remove_all(kFixture);
    write_version1_history(posix_file_system(), kFixture);
  }
  // Open a copy: opening may rewrite a torn tail, and the fixture must stay as it is.
  const std::string copy =
      (std::filesystem::temp_directory_path() / ("raftkv-fixture-" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(copy);
  std::filesystem::copy(kFixture, copy);
  Recovered r;
  auto w = Wal::open(posix_file_system(), copy, WalOptions{256, false}, &r);
  std::filesystem::remove_all(copy);
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  EXPECT_EQ(r.snapshot, (raft::LogId{Term(1), LogIndex(3)}));
  EXPECT_EQ(r.entries, expected_entries());
  EXPECT_EQ(r.hard_state, (raft::HardState{Term(3), raft::NodeId(3), LogIndex(5)}));
  EXPECT_TRUE(r.notes.empty());
}

// The writer's side of the format: the same history written again today gives the
// fixture's bytes exactly, file by file.
TEST(StorageFixture, WritingTheVersion1HistoryAgainGivesTheFixturesBytes) {
  MemFileSystem fs;
  write_version1_history(fs, "/v1");
  StatusOr<std::vector<std::string>> written = fs.list("/v1");
  StatusOr<std::vector<std::string>> fixture = posix_file_system().list(kFixture);
  ASSERT_TRUE(written.is_ok() && fixture.is_ok());
  ASSERT_EQ(written.value(), fixture.value());
  for (const std::string& name : fixture.value()) {
    EXPECT_EQ(fs.read_file("/v1/" + name).value(),
              posix_file_system().read_file(kFixture + "/" + name).value())
        << name;
  }
}

}  // namespace
}  // namespace storage
