// The write-ahead log's bytes, named once (docs/storage-format.md): the segment header,
// the frame around every record, `length u32 | checksum u64 | type u8 | payload`, and
// the payload of each record type. The writer (Wal), the segment reader and the replay
// all go through here; no other code knows an offset of the format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "raft/types.h"

namespace storage {

// Each segment starts with: magic, format version u32, reserved u32 (0).
inline constexpr char kWalMagic[8] = {'R', 'A', 'F', 'T', 'K', 'V', 'W', 'L'};
inline constexpr uint32_t kWalFormatVersion = 1;
inline constexpr size_t kSegmentHeaderBytes = 16;
// Each record starts with: payload length u32, checksum u64, type u8.
inline constexpr size_t kRecordHeaderBytes = 13;

enum class WalRecordType : uint8_t {
  kEntry = 1,
  kHardState = 2,
  kSnapshot = 3,           // a snapshot covers the log up to here; later entries stay
  kSnapshotInstalled = 4,  // a snapshot from the leader replaced the whole log
};

// The records other than entries and hard states: snapshot markers.
struct SnapshotMarker {  // type 3: the log up to `id` is in a snapshot
  raft::LogId id;
};
struct SnapshotInstalled {  // type 4: a snapshot from the leader replaced the whole log
  raft::LogId id;
};
// A record's meaning, decoded from its payload.
using WalRecord = std::variant<raft::Entry, raft::HardState, SnapshotMarker, SnapshotInstalled>;

// The 16-byte header of a new segment.
std::string segment_header();
// Appends the record, framed, to `out`.
void append_record(const raft::Entry& e, std::string* out);
void append_record(const raft::HardState& h, std::string* out);
void append_record(const SnapshotMarker& m, std::string* out);
void append_record(const SnapshotInstalled& m, std::string* out);

// One record as framed in a segment: its type byte and payload, meaning not yet read.
struct Frame {
  uint64_t offset = 0;       // where the record starts in its segment
  uint8_t type = 0;          // a WalRecordType, unless the segment is damaged
  std::string_view payload;  // a view into the segment's bytes
};

enum class FrameCheck {
  kGood,            // whole, and its checksum holds
  kHeaderPastEnd,   // fewer than kRecordHeaderBytes remain
  kPayloadPastEnd,  // the length runs past the end of the bytes
  kBadChecksum,     // whole, but the checksum does not hold
};
// Reads the frame at `offset` of a segment's bytes `data`. *frame is filled in when the
// result is kGood or kBadChecksum (the payload then has the length the header says).
FrameCheck read_frame(std::string_view data, uint64_t offset, Frame* frame);

// The record a good frame holds, or nullopt with *problem saying what is wrong (an
// unknown type, a payload of the wrong size for its type).
std::optional<WalRecord> decode_record(const Frame& frame, std::string* problem);

// Where a record lies: its segment's sequence number and its offset in that segment.
struct RecordLocation {
  uint64_t segment = 0;
  uint64_t offset = 0;
};

}  // namespace storage
