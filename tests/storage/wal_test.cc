// The write-ahead log: round trips, superseded suffixes, torn tails, corruption
// that refuses to start, and injected faults (EIO on fsync, ENOSPC, short writes).
#include "storage/wal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#include <filesystem>
#include <fstream>

namespace storage {
namespace {

using raft::Entry;
using raft::LogIndex;
using raft::Term;

Entry e(uint64_t index, uint64_t term, std::string data = "x") {
  return Entry{Term(term), LogIndex(index), raft::EntryType::kNormal, std::move(data)};
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "raftkv-wal-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Wraps the real file system and fails where a test says.
class FaultyFileSystem : public FileSystem {
 public:
  enum class Fault { kNone, kEioOnSync, kNoSpaceOnWrite, kShortWrite };
  Fault fault = Fault::kNone;

  StatusOr<std::unique_ptr<WritableFile>> open_for_append(const std::string& path, uint64_t offset,
                                                          uint64_t prealloc) override {
    auto f = posix_file_system().open_for_append(path, offset, prealloc);
    if (!f.is_ok()) return f.status();
    return std::unique_ptr<WritableFile>(new File(this, std::move(f.value())));
  }
  StatusOr<std::string> read_file(const std::string& p) override {
    return posix_file_system().read_file(p);
  }
  StatusOr<std::vector<std::string>> list(const std::string& d) override {
    return posix_file_system().list(d);
  }
  Status create_dir(const std::string& d) override { return posix_file_system().create_dir(d); }
  Status remove(const std::string& p) override { return posix_file_system().remove(p); }
  Status rename(const std::string& a, const std::string& b) override {
    return posix_file_system().rename(a, b);
  }
  Status sync_dir(const std::string& d) override { return posix_file_system().sync_dir(d); }

 private:
  class File : public WritableFile {
   public:
    File(FaultyFileSystem* fs, std::unique_ptr<WritableFile> inner)
        : fs_(fs), inner_(std::move(inner)) {}
    Status append(std::string_view data) override {
      if (fs_->fault == Fault::kNoSpaceOnWrite) return Status(Code::kNoSpace, "injected ENOSPC");
      if (fs_->fault == Fault::kShortWrite) {
        inner_->append(data.substr(0, data.size() / 2));  // half of it, then the disk fails
        return Status(Code::kIoError, "injected short write");
      }
      return inner_->append(data);
    }
    Status sync() override {
      if (fs_->fault == Fault::kEioOnSync) return Status(Code::kIoError, "injected EIO");
      return inner_->sync();
    }
    Status truncate(uint64_t size) override { return inner_->truncate(size); }

   private:
    FaultyFileSystem* fs_;
    std::unique_ptr<WritableFile> inner_;
  };
};

// The log in `dir` opened (null, with a test failure, when it does not open); with
// `preallocate`, every segment is preallocated to `segment` bytes.
std::unique_ptr<Wal> open(FileSystem& fs, const std::string& dir, Recovered* r,
                          uint64_t segment = 1 << 20, bool preallocate = false) {
  StatusOr<std::unique_ptr<Wal>> w = Wal::open(fs, dir, WalOptions{segment, preallocate}, r);
  EXPECT_TRUE(w.is_ok()) << w.status().message();
  return w.is_ok() ? std::move(w.value()) : nullptr;
}

// Why opening the log in `dir` fails (ok when it opens).
Status open_error(const std::string& dir, uint64_t segment = 1 << 20) {
  Recovered r;
  return Wal::open(posix_file_system(), dir, WalOptions{segment, false}, &r).status();
}

std::string segment_path(const std::string& dir, int k) {
  char name[32];
  std::snprintf(name, sizeof name, "%016x.wal", k);
  return dir + "/" + name;
}

TEST(Wal, AppendedAndSyncedRecordsSurviveAReopen) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r);
  ASSERT_TRUE(wal->append({e(1, 1, "a"), e(2, 1, "b")},
                          raft::HardState{Term(1), raft::NodeId(2), LogIndex(1)})
                  .is_ok());
  ASSERT_TRUE(wal->sync().is_ok());
  wal.reset();
  Recovered back;
  open(posix_file_system(), d.path(), &back);
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[1], e(2, 1, "b"));
  EXPECT_EQ(back.hard_state, (raft::HardState{Term(1), raft::NodeId(2), LogIndex(1)}));
  EXPECT_TRUE(back.notes.empty());
}

TEST(Wal, ALaterEntrySupersedesTheConflictingSuffix) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r);
  wal->append({e(1, 1), e(2, 1), e(3, 1), e(4, 1)}, {});
  wal->append({e(3, 2, "new")}, {});
  ASSERT_TRUE(wal->sync().is_ok());
  wal.reset();
  Recovered back;
  open(posix_file_system(), d.path(), &back);
  ASSERT_EQ(back.entries.size(), 3u);
  EXPECT_EQ(back.entries[2], e(3, 2, "new"));
}

// Found by the wal_segment fuzz target: a log whose terms go down (which no leader writes)
// was recovered as it was.
TEST(Wal, AnEntryWithATermBelowTheEntryBeforeItRefusesToStartNamingFileAndOffset) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r);
  wal->append({e(1, 3), e(2, 2)}, {});
  ASSERT_TRUE(wal->sync().is_ok());
  wal.reset();
  Recovered back;
  StatusOr<std::unique_ptr<Wal>> w = Wal::open(posix_file_system(), d.path(), {}, &back);
  ASSERT_FALSE(w.is_ok());
  EXPECT_EQ(w.status().code(), Code::kCorruption);
  EXPECT_NE(w.status().message().find(segment_path(d.path(), 0) + " at offset "), std::string::npos)
      << w.status().message();
  EXPECT_NE(w.status().message().find("below term 3"), std::string::npos) << w.status().message();
}

TEST(Wal, ATornTailIsCutOffAndReported) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r);
  wal->append({e(1, 1), e(2, 1)}, {});
  ASSERT_TRUE(wal->sync().is_ok());
  wal.reset();
  {  // a crash in the middle of writing the next record
    std::ofstream f(segment_path(d.path(), 0), std::ios::binary | std::ios::app);
    f.write("\x20\x00\x00\x00\x11\x22", 6);
  }
  Recovered back;
  open(posix_file_system(), d.path(), &back);
  EXPECT_EQ(back.entries.size(), 2u);
  ASSERT_EQ(back.notes.size(), 1u);
  EXPECT_NE(back.notes[0].find("torn"), std::string::npos) << back.notes[0];
  Recovered again;  // the cut is durable
  open(posix_file_system(), d.path(), &again);
  EXPECT_TRUE(again.notes.empty());
  EXPECT_EQ(again.entries.size(), 2u);
}

TEST(Wal, ABadChecksumBeforeTheTailRefusesToStartNamingFileAndOffset) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r, 200);  // small segments
  for (uint64_t i = 1; i <= 20; ++i) {
    wal->append({e(i, 1, "payload")}, {});
    ASSERT_TRUE(wal->sync().is_ok());
  }
  ASSERT_GT(wal->segment_count(), 2u);
  wal.reset();
  const std::string victim = segment_path(d.path(), 0);
  {
    std::fstream f(victim, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(16 + 13 + 3);  // inside the first record's payload
    f.put('Z');
  }
  Recovered back;
  StatusOr<std::unique_ptr<Wal>> w = Wal::open(posix_file_system(), d.path(), {200, false}, &back);
  ASSERT_FALSE(w.is_ok());
  EXPECT_EQ(w.status().code(), Code::kCorruption);
  EXPECT_NE(w.status().message().find(victim + " at offset 16"), std::string::npos)
      << w.status().message();
}

TEST(Wal, AMissingSegmentRefusesToStart) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r, 200);
  for (uint64_t i = 1; i <= 20; ++i) {
    wal->append({e(i, 1, "payload")}, {});
    wal->sync();
  }
  wal.reset();
  std::filesystem::remove(segment_path(d.path(), 1));
  Recovered back;
  StatusOr<std::unique_ptr<Wal>> w = Wal::open(posix_file_system(), d.path(), {200, false}, &back);
  ASSERT_FALSE(w.is_ok());
  EXPECT_NE(w.status().message().find(segment_path(d.path(), 1) + " is missing"), std::string::npos)
      << w.status().message();
}

TEST(Wal, AnUnknownFormatVersionRefusesToStart) {
  TempDir d;
  Recovered r;
  open(posix_file_system(), d.path(), &r);
  {
    std::fstream f(segment_path(d.path(), 0), std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(8);
    f.put('\x09');
  }
  Recovered back;
  StatusOr<std::unique_ptr<Wal>> w = Wal::open(posix_file_system(), d.path(), {}, &back);
  ASSERT_FALSE(w.is_ok());
  EXPECT_NE(w.status().message().find("format version 9"), std::string::npos)
      << w.status().message();
}

// A record of a type this binary does not know (written by a newer one, say) is never
// skipped: the log refuses to open, naming the type, the file and the offset.
TEST(Wal, AnUnknownRecordTypeRefusesToStartNamingIt) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r);
  wal->append({e(1, 1)}, {});
  ASSERT_TRUE(wal->sync().is_ok());
  wal.reset();
  const std::string file = segment_path(d.path(), 0);
  const uint64_t offset = std::filesystem::file_size(file);
  std::string record("\x02\x00\x00\x00", 4);  // length 2
  const std::string type_and_payload("\x09pp", 3);
  const uint64_t sum = XXH3_64bits(type_and_payload.data(), type_and_payload.size());
  for (int i = 0; i < 8; ++i) record.push_back(static_cast<char>(sum >> (8 * i)));
  record += type_and_payload;
  std::ofstream(file, std::ios::binary | std::ios::app) << record;
  const Status s = open_error(d.path());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(),
            "wal: unknown record type 9 in " + file + " at offset " + std::to_string(offset));
}

// A log in `dir` holding entries 1..4 of term 1, then a snapshot marker at 3.
std::unique_ptr<Wal> open_with_a_snapshot_at_3(const std::string& dir) {
  Recovered r;
  auto wal = open(posix_file_system(), dir, &r);
  if (wal == nullptr) return nullptr;
  wal->append({e(1, 1), e(2, 1), e(3, 1), e(4, 1)}, {});
  EXPECT_TRUE(wal->sync().is_ok());
  EXPECT_TRUE(wal->mark_snapshot({Term(1), LogIndex(3)}).is_ok());
  return wal;
}

TEST(Wal, AnEntryAtOrBelowASnapshotAlreadyReadIsCorruption) {
  TempDir d;
  auto wal = open_with_a_snapshot_at_3(d.path());
  ASSERT_NE(wal, nullptr);
  wal->append({e(2, 2)}, {});  // committed entries replaced: only a bug writes this
  ASSERT_TRUE(wal->sync().is_ok());
  wal.reset();
  Recovered back;
  StatusOr<std::unique_ptr<Wal>> w = Wal::open(posix_file_system(), d.path(), {}, &back);
  ASSERT_FALSE(w.is_ok());
  EXPECT_EQ(w.status().code(), Code::kCorruption);
  EXPECT_NE(
      w.status().message().find("wal: entry 2 in " + segment_path(d.path(), 0) + " at offset "),
      std::string::npos)
      << w.status().message();
  EXPECT_NE(w.status().message().find("comes before the start of the log (snapshot 3)"),
            std::string::npos)
      << w.status().message();
}

TEST(Wal, AFailedFsyncFailsTheLogForGood) {
  TempDir d;
  FaultyFileSystem fs;
  Recovered r;
  auto wal = open(fs, d.path(), &r);
  wal->append({e(1, 1)}, {});
  fs.fault = FaultyFileSystem::Fault::kEioOnSync;
  Status s = wal->sync();
  EXPECT_EQ(s.code(), Code::kFailed);
  fs.fault = FaultyFileSystem::Fault::kNone;  // even once the disk "recovers"
  EXPECT_EQ(wal->append({e(2, 1)}, {}).code(), Code::kFailed);
  EXPECT_EQ(wal->sync().code(), Code::kFailed);
}

TEST(Wal, NoSpaceRefusesTheWriteAndCorruptsNothing) {
  TempDir d;
  FaultyFileSystem fs;
  Recovered r;
  auto wal = open(fs, d.path(), &r);
  wal->append({e(1, 1), e(2, 1)}, {});
  ASSERT_TRUE(wal->sync().is_ok());
  fs.fault = FaultyFileSystem::Fault::kNoSpaceOnWrite;
  wal->append({e(3, 1)}, {});
  Status s = wal->sync();
  EXPECT_EQ(s.code(), Code::kNoSpace);
  fs.fault = FaultyFileSystem::Fault::kNone;
  wal.reset();
  Recovered back;
  open(fs, d.path(), &back);
  EXPECT_EQ(back.entries.size(), 2u);
  EXPECT_TRUE(back.notes.empty());
}

TEST(Wal, AShortWriteLeavesNoPartialRecord) {
  TempDir d;
  FaultyFileSystem fs;
  Recovered r;
  auto wal = open(fs, d.path(), &r);
  wal->append({e(1, 1)}, {});
  ASSERT_TRUE(wal->sync().is_ok());
  fs.fault = FaultyFileSystem::Fault::kShortWrite;
  wal->append({e(2, 1, std::string(100, 'q'))}, {});
  EXPECT_EQ(wal->sync().code(), Code::kIoError);
  fs.fault = FaultyFileSystem::Fault::kNone;
  wal->append({e(2, 1, "retry")}, {});
  ASSERT_TRUE(wal->sync().is_ok());
  wal.reset();
  Recovered back;
  open(fs, d.path(), &back);
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[1].data, "retry");
  EXPECT_TRUE(back.notes.empty());
}

TEST(Wal, ASnapshotMarkerDeletesWholeSegmentsBehindIt) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r, 300);
  for (uint64_t i = 1; i <= 40; ++i) {
    wal->append({e(i, 2, "payload")}, raft::HardState{Term(2), raft::NodeId(1), LogIndex(i)});
    ASSERT_TRUE(wal->sync().is_ok());
  }
  const uint64_t before = wal->segment_count();
  ASSERT_TRUE(wal->mark_snapshot({Term(2), LogIndex(30)}).is_ok());
  EXPECT_LT(wal->segment_count(), before);
  wal.reset();
  Recovered back;
  open(posix_file_system(), d.path(), &back, 300);
  EXPECT_EQ(back.snapshot, (raft::LogId{Term(2), LogIndex(30)}));
  ASSERT_EQ(back.entries.size(), 10u);
  EXPECT_EQ(back.entries.front().index, LogIndex(31));
  EXPECT_EQ(back.hard_state.commit, LogIndex(40));
}

// Found by a real cluster: a leader snapshots at index 3 while entry 4 is already in
// the log, then appends entry 5. Replay must keep the log contiguous from 4.
TEST(Wal, EntriesAppendedAfterAMarkerBehindTheTailReplayInOrder) {
  TempDir d;
  auto wal = open_with_a_snapshot_at_3(d.path());
  ASSERT_NE(wal, nullptr);
  wal->append({e(5, 1), e(6, 1)}, {});
  ASSERT_TRUE(wal->sync().is_ok());
  wal.reset();
  Recovered back;
  open(posix_file_system(), d.path(), &back);
  EXPECT_EQ(back.snapshot, (raft::LogId{Term(1), LogIndex(3)}));
  ASSERT_EQ(back.entries.size(), 3u);
  EXPECT_EQ(back.entries.front().index, LogIndex(4));
  EXPECT_EQ(back.entries.back().index, LogIndex(6));
}

TEST(Wal, OlderEntriesAreReadFromTheSegmentFilesAndTheTailFromMemory) {
  TempDir d;
  Recovered r;
  WalOptions o{1024, false};
  o.tail_cache_bytes = 256;  // a few entries: the rest must come from disk
  StatusOr<std::unique_ptr<Wal>> w = Wal::open(posix_file_system(), d.path(), o, &r);
  ASSERT_TRUE(w.is_ok());
  Wal& wal = *w.value();
  for (uint64_t i = 1; i <= 60; ++i) {
    ASSERT_TRUE(wal.append({e(i, 1, "payload-" + std::to_string(i))}, {}).is_ok());
    ASSERT_TRUE(wal.sync().is_ok());
  }
  ASSERT_GT(wal.segment_count(), 2u);
  auto all = wal.read(LogIndex(1), LogIndex(60));
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  ASSERT_EQ(all.value().size(), 60u);
  for (uint64_t i = 1; i <= 60; ++i)
    EXPECT_EQ(all.value()[i - 1], e(i, 1, "payload-" + std::to_string(i)));
  // A superseding suffix replaces what is read back.
  ASSERT_TRUE(wal.append({e(58, 2, "new")}, {}).is_ok());
  ASSERT_TRUE(wal.sync().is_ok());
  auto tail = wal.read(LogIndex(57), LogIndex(58));
  ASSERT_TRUE(tail.is_ok());
  EXPECT_EQ(tail.value()[1], e(58, 2, "new"));
  auto gone = wal.read(LogIndex(58), LogIndex(59));
  ASSERT_FALSE(gone.is_ok());
  EXPECT_EQ(gone.status().message(), "wal: entry 59 is not in the log (it holds entries 1..58)");
  // Behind a snapshot the entries are gone, and say so.
  ASSERT_TRUE(wal.mark_snapshot({Term(1), LogIndex(40)}).is_ok());
  auto compacted = wal.read(LogIndex(10), LogIndex(10));
  ASSERT_FALSE(compacted.is_ok());
  EXPECT_EQ(compacted.status().message(),
            "wal: entry 10 is not in the log (it holds entries 41..58)");
  auto kept = wal.read(LogIndex(41), LogIndex(42));
  ASSERT_TRUE(kept.is_ok());
  EXPECT_EQ(kept.value()[0], e(41, 1, "payload-41"));
}

TEST(Wal, ADamagedRecordFoundByAReadNamesTheFileAndOffset) {
  TempDir d;
  Recovered r;
  WalOptions o{1 << 20, false};
  o.tail_cache_bytes = 0;
  StatusOr<std::unique_ptr<Wal>> w = Wal::open(posix_file_system(), d.path(), o, &r);
  ASSERT_TRUE(w.is_ok());
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(w.value()->append({e(i, 1, "abcdef")}, {}).is_ok());
  ASSERT_TRUE(w.value()->sync().is_ok());
  // Flip a byte of entry 2's payload behind the log's back.
  const std::string file = segment_path(d.path(), 0);
  std::string bytes = posix_file_system().read_file(file).value();
  const size_t record = 16 + (13 + 17 + 6);  // the file header, then entry 1's record
  bytes[record + 13 + 17 + 2] ^= 0x40;
  FILE* out = std::fopen(file.c_str(), "r+b");
  ASSERT_NE(out, nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), out);
  std::fclose(out);
  auto read = w.value()->read(LogIndex(1), LogIndex(3));
  ASSERT_FALSE(read.is_ok());
  EXPECT_EQ(read.status().code(), Code::kCorruption);
  EXPECT_EQ(read.status().message(),
            "wal: bad record for entry 2 in " + file + " at offset " + std::to_string(record));
}

// Found by the simulator once it ran the real WAL: a segment begins with an older
// marker (snapshot at n-1), the segment before it holds entry n, and a later marker
// (snapshot at n+1) in the same segment deletes that older segment. Replay meets the
// older marker, then entry n+2: the gap is covered by the later marker, not corruption.
TEST(Wal, AGapCoveredByALaterSnapshotMarkerIsNotCorruption) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r, 300);
  uint64_t last = 0;
  const uint64_t segments = wal->segment_count();
  while (wal->segment_count() == segments && last < 1000) {  // fill until a rollover
    ++last;
    ASSERT_TRUE(wal->append({e(last, 1, "payload")}, {}).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
  }
  ASSERT_TRUE(wal->mark_snapshot({Term(1), LogIndex(last - 1)}).is_ok());  // first record
  ASSERT_TRUE(wal->append({e(last + 1, 1), e(last + 2, 1), e(last + 3, 1)}, {}).is_ok());
  ASSERT_TRUE(wal->sync().is_ok());
  ASSERT_TRUE(wal->mark_snapshot({Term(1), LogIndex(last + 1)}).is_ok());  // deletes `last`
  wal.reset();
  Recovered back;
  ASSERT_NE(open(posix_file_system(), d.path(), &back, 300), nullptr);
  EXPECT_EQ(back.snapshot.index, LogIndex(last + 1));
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries.front().index, LogIndex(last + 2));
}

// Simulator seed 118768: a follower's conflicting suffix began in a segment that a
// later snapshot deleted, so the surviving segment starts with superseded entries
// followed by lower indexes. Replay must take the newer entries, and refuse the same
// layout when no snapshot marker covers what is missing.
void write_superseded_suffix_across_a_rollover(Wal* wal, uint64_t* last) {
  const uint64_t segments = wal->segment_count();
  while (wal->segment_count() == segments && *last < 1000) {  // fill until a rollover
    ++*last;
    ASSERT_TRUE(wal->append({e(*last, 1, "payload")}, {}).is_ok());
    ASSERT_TRUE(wal->sync().is_ok());
  }
  // Term 1 entries in the new segment, then the leader of term 2 replaces the log
  // from two entries before the rollover.
  ASSERT_TRUE(wal->append({e(*last + 1, 1), e(*last + 2, 1)}, {}).is_ok());
  ASSERT_TRUE(wal->sync().is_ok());
  std::vector<Entry> newer;
  for (uint64_t i = *last - 1; i <= *last + 3; ++i) newer.push_back(e(i, 2, "new"));
  ASSERT_TRUE(wal->append(newer, {}).is_ok());
  ASSERT_TRUE(wal->sync().is_ok());
}

// Opens a WAL of 300-byte segments in `dir` and writes that layout into it.
std::unique_ptr<Wal> open_with_a_superseded_suffix(const std::string& dir, uint64_t* last) {
  Recovered r;
  auto wal = open(posix_file_system(), dir, &r, 300);
  if (wal != nullptr) write_superseded_suffix_across_a_rollover(wal.get(), last);
  return wal;
}

TEST(Wal, ASupersededSuffixInADeletedSegmentReplaysTheNewerEntries) {
  TempDir d;
  uint64_t last = 0;
  auto wal = open_with_a_superseded_suffix(d.path(), &last);
  ASSERT_NE(wal, nullptr);
  ASSERT_TRUE(wal->mark_snapshot({Term(2), LogIndex(last + 1)}).is_ok());
  ASSERT_FALSE(std::filesystem::exists(segment_path(d.path(), 0)));  // deleted behind it
  wal.reset();
  Recovered back;
  ASSERT_NE(open(posix_file_system(), d.path(), &back, 300), nullptr);
  EXPECT_EQ(back.snapshot, (raft::LogId{Term(2), LogIndex(last + 1)}));
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[0], e(last + 2, 2, "new"));
  EXPECT_EQ(back.entries[1], e(last + 3, 2, "new"));
}

TEST(Wal, ASupersededSuffixWithNothingCoveringTheMissingEntriesIsRefused) {
  TempDir d;
  uint64_t last = 0;
  ASSERT_NE(open_with_a_superseded_suffix(d.path(), &last), nullptr);  // closed again here
  std::filesystem::remove(segment_path(d.path(), 0));  // lost, with no snapshot behind it
  Recovered back;
  StatusOr<std::unique_ptr<Wal>> again =
      Wal::open(posix_file_system(), d.path(), WalOptions{300, false}, &back);
  ASSERT_FALSE(again.is_ok());
  EXPECT_NE(again.status().message().find("entries before it are missing"), std::string::npos)
      << again.status().message();
}

TEST(Wal, AnInstalledSnapshotDropsTheWholeLogEvenEntriesAfterIt) {
  TempDir d;
  Recovered r;
  auto wal = open(posix_file_system(), d.path(), &r);
  // A follower holds entries 1..8 of an old term; the leader's snapshot ends at 5.
  for (uint64_t i = 1; i <= 8; ++i) ASSERT_TRUE(wal->append({e(i, 1)}, {}).is_ok());
  ASSERT_TRUE(wal->sync().is_ok());
  ASSERT_TRUE(wal->install_snapshot({Term(3), LogIndex(5)}).is_ok());
  wal.reset();
  Recovered back;
  wal = open(posix_file_system(), d.path(), &back);
  EXPECT_EQ(back.snapshot, (raft::LogId{Term(3), LogIndex(5)}));
  EXPECT_TRUE(back.entries.empty());  // 6..8 of term 1 are gone, not resurrected
  // The log then continues after the snapshot.
  ASSERT_TRUE(wal->append({e(6, 3, "new")}, {}).is_ok());
  ASSERT_TRUE(wal->sync().is_ok());
  wal.reset();
  Recovered again;
  open(posix_file_system(), d.path(), &again);
  ASSERT_EQ(again.entries.size(), 1u);
  EXPECT_EQ(again.entries[0], e(6, 3, "new"));
}

TEST(Wal, PreallocatedZerosAfterTheLastRecordAreNotCorruption) {
  TempDir d;
  Recovered r;
  std::unique_ptr<Wal> w = open(posix_file_system(), d.path(), &r, 1 << 16, true);
  ASSERT_NE(w, nullptr);
  w->append({e(1, 1), e(2, 1)}, {});
  ASSERT_TRUE(w->sync().is_ok());
  w.reset();
  EXPECT_GE(std::filesystem::file_size(segment_path(d.path(), 0)), 1u << 16);
  Recovered back;
  std::unique_ptr<Wal> again = open(posix_file_system(), d.path(), &back, 1 << 16, true);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(back.entries.size(), 2u);
  EXPECT_TRUE(back.notes.empty());
  again->append({e(3, 1)}, {});  // appends continue after the records, not the zeros
  ASSERT_TRUE(again->sync().is_ok());
  again.reset();
  Recovered third;
  open(posix_file_system(), d.path(), &third, 1 << 16, true);
  EXPECT_EQ(third.entries.size(), 3u);
}

TEST(Wal, RecordsLandOnBlocksAlreadyWrittenInAPreallocatedSegment) {
  // The WAL writes zeros ahead of its records (WritableFile::prepare), so that a batch's
  // fdatasync finds its blocks written and has no block map to update: the first hole of
  // the segment lies past the records, and the zeros there are still the log's end.
  TempDir d;
  Recovered r;
  std::unique_ptr<Wal> w = open(posix_file_system(), d.path(), &r, 4 << 20, true);
  ASSERT_NE(w, nullptr);
  for (uint64_t i = 1; i <= 10; ++i) {
    w->append({e(i, 1, std::string(300, 'v'))}, {});
    ASSERT_TRUE(w->sync().is_ok());
  }
  w.reset();
  const std::string segment = segment_path(d.path(), 0);
  const int fd = ::open(segment.c_str(), O_RDONLY | O_CLOEXEC);
  const off_t hole = ::lseek(fd, 0, SEEK_HOLE);
  ::close(fd);
  if (hole >= 0 && static_cast<uint64_t>(hole) < (4u << 20)) {  // the file system tells
    EXPECT_GE(hole, 64 << 10) << "the records' blocks were left to be converted one by one";
  }
  Recovered back;
  ASSERT_NE(open(posix_file_system(), d.path(), &back, 4 << 20, true), nullptr);
  EXPECT_EQ(back.entries.size(), 10u);
  EXPECT_TRUE(back.notes.empty());
}

}  // namespace
}  // namespace storage
