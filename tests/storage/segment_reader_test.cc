// The WAL's framing on its own: records written by wal_format read back in order through
// SegmentReader, where the records end (file end, preallocated zeros, a torn write in the
// last segment), and which damage is corruption, named by file and offset.
#include "storage/segment_reader.h"

#include <gtest/gtest.h>

#include <vector>

#include "storage/wal_format.h"

namespace storage {
namespace {

raft::Entry entry(uint64_t index, std::string data) {
  return raft::Entry{.term = raft::Term(2),
                     .index = raft::LogIndex(index),
                     .type = raft::EntryType::kNormal,
                     .data = std::move(data)};
}

// A segment holding entries 1 and 2, a hard state and a snapshot marker.
std::string segment() {
  std::string s = segment_header();
  append_record(entry(1, "one"), &s);
  append_record(entry(2, ""), &s);
  append_record(
      raft::HardState{.term = raft::Term(2), .vote = raft::NodeId(3), .commit = raft::LogIndex(2)},
      &s);
  append_record(SnapshotMarker{.id = {.term = raft::Term(2), .index = raft::LogIndex(1)}}, &s);
  return s;
}

// Every record the reader returns, decoded; the reader is left at the end.
std::vector<WalRecord> read_all(SegmentReader& reader) {
  std::vector<WalRecord> out;
  Frame frame;
  while (reader.next(&frame)) {
    std::string problem;
    std::optional<WalRecord> r = decode_record(frame, &problem);
    EXPECT_TRUE(r.has_value()) << problem;
    if (r.has_value()) out.push_back(std::move(*r));
  }
  return out;
}

TEST(SegmentReader, RecordsReadBackInOrderWithTheirMeaning) {
  const std::string data = segment();
  SegmentReader reader("seg", data, true);
  std::vector<WalRecord> records = read_all(reader);
  ASSERT_TRUE(reader.status().is_ok()) << reader.status().message();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(std::get<raft::Entry>(records[0]), entry(1, "one"));
  EXPECT_EQ(std::get<raft::Entry>(records[1]), entry(2, ""));
  EXPECT_EQ(std::get<raft::HardState>(records[2]).vote, raft::NodeId(3));
  EXPECT_EQ(std::get<SnapshotMarker>(records[3]).id.index, raft::LogIndex(1));
  EXPECT_EQ(reader.end(), data.size());
  EXPECT_FALSE(reader.torn_at().has_value());
}

TEST(SegmentReader, PreallocatedZerosAreTheEndOfTheRecords) {
  const std::string records = segment();
  const std::string data = records + std::string(4096, '\0');
  SegmentReader reader("seg", data, false);
  EXPECT_EQ(read_all(reader).size(), 4u);
  EXPECT_TRUE(reader.status().is_ok()) << reader.status().message();
  EXPECT_EQ(reader.end(), records.size());
}

TEST(SegmentReader, ATornWriteInTheLastSegmentEndsTheRecordsWhereItBegins) {
  const std::string whole = segment();
  std::string next;
  append_record(entry(3, "three"), &next);
  for (size_t cut = 1; cut < next.size(); ++cut) {  // every prefix of the next record
    const std::string data = whole + next.substr(0, cut) + std::string(64, '\0');
    SegmentReader reader("seg", data, true);
    EXPECT_EQ(read_all(reader).size(), 4u) << cut;
    EXPECT_TRUE(reader.status().is_ok()) << cut << ": " << reader.status().message();
    EXPECT_EQ(reader.torn_at(), whole.size()) << cut;
    EXPECT_EQ(reader.end(), whole.size()) << cut;
  }
}

TEST(SegmentReader, TheSameDamageInAnEarlierSegmentIsCorruption) {
  std::string next;
  append_record(entry(3, "three"), &next);
  const std::string whole = segment();
  const std::string data = whole + next.substr(0, next.size() - 1);
  SegmentReader reader("dir/0.wal", data, false);
  read_all(reader);
  EXPECT_EQ(reader.status().code(), Code::kCorruption);
  EXPECT_EQ(reader.status().message(), "wal: bad checksum in dir/0.wal at offset " +
                                           std::to_string(whole.size()) +
                                           " (record runs past the end of the file)");
}

TEST(SegmentReader, ADamagedRecordWithRecordsAfterItIsCorruptionInAnySegment) {
  std::string data = segment();
  const size_t second = kSegmentHeaderBytes + kRecordHeaderBytes + 17 + 3;  // after entry 1
  data[second + kRecordHeaderBytes + 4] ^= 1;  // inside entry 2's index
  SegmentReader reader("dir/5.wal", data, true);
  EXPECT_EQ(read_all(reader).size(), 1u);
  EXPECT_EQ(reader.status().code(), Code::kCorruption);
  EXPECT_EQ(reader.status().message(), "wal: bad checksum in dir/5.wal at offset " +
                                           std::to_string(second) + " (record of 17 bytes)");
}

TEST(SegmentReader, ABadMagicOrAnUnknownVersionIsRefused) {
  std::string data = segment();
  data[0] = 'X';
  SegmentReader bad_magic("f.wal", data, true);
  EXPECT_TRUE(read_all(bad_magic).empty());
  EXPECT_EQ(bad_magic.status().message(), "wal: f.wal is not a raftkv WAL segment (bad magic)");
  data = segment();
  data[8] = 2;
  SegmentReader newer("f.wal", data, true);
  EXPECT_TRUE(read_all(newer).empty());
  EXPECT_EQ(newer.status().message(),
            "wal: f.wal has format version 2; this binary reads version 1");
  SegmentReader short_file("f.wal", std::string_view("RAFTKVWL", 8), true);
  EXPECT_TRUE(read_all(short_file).empty());
  EXPECT_EQ(short_file.status().code(), Code::kCorruption);
}

TEST(WalFormat, APayloadOfTheWrongSizeOrAnUnknownTypeDoesNotDecode) {
  std::string problem;
  const std::string nine(9, 'x');
  EXPECT_FALSE(decode_record(Frame{.offset = 0, .type = 1, .payload = nine}, &problem));
  EXPECT_EQ(problem, "entry record of 9 bytes (expected at least 17)");
  EXPECT_FALSE(decode_record(Frame{.offset = 0, .type = 2, .payload = nine}, &problem));
  EXPECT_EQ(problem, "hard state record of 9 bytes (expected 24)");
  EXPECT_FALSE(decode_record(Frame{.offset = 0, .type = 4, .payload = nine}, &problem));
  EXPECT_EQ(problem, "snapshot installed record of 9 bytes (expected 16)");
  EXPECT_FALSE(decode_record(Frame{.offset = 0, .type = 9, .payload = nine}, &problem));
  EXPECT_EQ(problem, "unknown record type 9");
}

}  // namespace
}  // namespace storage
