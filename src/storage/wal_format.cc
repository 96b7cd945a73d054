#include "storage/wal_format.h"

#include <xxhash.h>

#include "raft/byte_codec.h"

namespace storage {
namespace {

// Payload sizes: an entry's is at least its fixed part (term, index, entry type).
constexpr size_t kEntryFixedBytes = 8 + 8 + 1;
constexpr size_t kHardStateBytes = 8 + 8 + 8;
constexpr size_t kMarkerBytes = 8 + 8;

// XXH3-64 of the type byte followed by the payload. In a record the two are adjacent,
// so one call over both computes it without a streaming state.
uint64_t checksum(std::string_view type_and_payload) {
  return XXH3_64bits(type_and_payload.data(), type_and_payload.size());
}

// Appends a record of `type` whose `payload_size` bytes `write_payload` writes: the
// length, the checksum (filled in once the type and payload are in place), the type.
template <typename WritePayload>
void append_frame(WalRecordType type, size_t payload_size, std::string* out,
                  WritePayload&& write_payload) {
  raft::ByteWriter w(out);
  w.u32(static_cast<uint32_t>(payload_size));
  const size_t checksum_at = w.reserve_u64();
  const size_t type_at = w.size();
  w.u8(static_cast<uint8_t>(type));
  write_payload(w);
  RAFT_INVARIANT(w.size() - type_at == payload_size + 1, "a WAL record's length is its payload's");
  w.fill_u64(checksum_at, checksum(std::string_view(*out).substr(type_at)));
}

void append_marker(WalRecordType type, raft::LogId id, std::string* out) {
  append_frame(type, kMarkerBytes, out, [&](raft::ByteWriter& w) {
    w.u64(id.index.value());
    w.u64(id.term.value());
  });
}

std::optional<raft::LogId> decode_marker(std::string_view payload) {
  raft::ByteReader r(payload);
  uint64_t index = 0, term = 0;
  if (!r.u64(&index) || !r.u64(&term) || !r.done()) return std::nullopt;
  return raft::LogId{.term = raft::Term(term), .index = raft::LogIndex(index)};
}

}  // namespace

std::string segment_header() {
  std::string out;
  raft::ByteWriter w(&out);
  w.bytes(std::string_view(kWalMagic, sizeof kWalMagic));
  w.u32(kWalFormatVersion);
  w.u32(0);  // reserved
  return out;
}

void append_record(const raft::Entry& e, std::string* out) {
  append_frame(WalRecordType::kEntry, kEntryFixedBytes + e.data.size(), out,
               [&](raft::ByteWriter& w) {
                 w.u64(e.term.value());
                 w.u64(e.index.value());
                 w.u8(static_cast<uint8_t>(e.type));
                 w.bytes(e.data);
               });
}

void append_record(const raft::HardState& h, std::string* out) {
  append_frame(WalRecordType::kHardState, kHardStateBytes, out, [&](raft::ByteWriter& w) {
    w.u64(h.term.value());
    w.u64(h.vote.value());
    w.u64(h.commit.value());
  });
}

void append_record(const SnapshotMarker& m, std::string* out) {
  append_marker(WalRecordType::kSnapshot, m.id, out);
}

void append_record(const SnapshotInstalled& m, std::string* out) {
  append_marker(WalRecordType::kSnapshotInstalled, m.id, out);
}

FrameCheck read_frame(std::string_view data, uint64_t offset, Frame* frame) {
  raft::ByteReader r(offset <= data.size() ? data.substr(offset) : std::string_view{});
  uint32_t length = 0;
  uint64_t sum = 0;
  uint8_t type = 0;
  if (!r.u32(&length) || !r.u64(&sum) || !r.u8(&type)) return FrameCheck::kHeaderPastEnd;
  std::string_view payload;
  if (!r.bytes(length, &payload)) return FrameCheck::kPayloadPastEnd;
  *frame = Frame{.offset = offset, .type = type, .payload = payload};
  // The type byte and the payload are adjacent in `data`.
  const std::string_view type_and_payload =
      data.substr(offset + kRecordHeaderBytes - 1, length + 1);
  return sum == checksum(type_and_payload) ? FrameCheck::kGood : FrameCheck::kBadChecksum;
}

std::optional<WalRecord> decode_record(const Frame& frame, std::string* problem) {
  auto wrong_size = [&](const char* what, size_t expected) {
    *problem = std::string(what) + " record of " + std::to_string(frame.payload.size()) +
               " bytes (expected " + std::to_string(expected) + ")";
    return std::nullopt;
  };
  raft::ByteReader r(frame.payload);
  switch (static_cast<WalRecordType>(frame.type)) {
    case WalRecordType::kEntry: {
      uint64_t term = 0, index = 0;
      uint8_t type = 0;
      if (!r.u64(&term) || !r.u64(&index) || !r.u8(&type)) {
        *problem = "entry record of " + std::to_string(frame.payload.size()) +
                   " bytes (expected at least " + std::to_string(kEntryFixedBytes) + ")";
        return std::nullopt;
      }
      return raft::Entry{.term = raft::Term(term),
                         .index = raft::LogIndex(index),
                         .type = static_cast<raft::EntryType>(type),
                         .data = std::string(r.rest())};
    }
    case WalRecordType::kHardState: {
      uint64_t term = 0, vote = 0, commit = 0;
      if (!r.u64(&term) || !r.u64(&vote) || !r.u64(&commit) || !r.done()) {
        return wrong_size("hard state", kHardStateBytes);
      }
      return raft::HardState{
          .term = raft::Term(term), .vote = raft::NodeId(vote), .commit = raft::LogIndex(commit)};
    }
    case WalRecordType::kSnapshot:
      if (std::optional<raft::LogId> id = decode_marker(frame.payload))
        return SnapshotMarker{.id = *id};
      return wrong_size("snapshot marker", kMarkerBytes);
    case WalRecordType::kSnapshotInstalled:
      if (std::optional<raft::LogId> id = decode_marker(frame.payload)) {
        return SnapshotInstalled{.id = *id};
      }
      return wrong_size("snapshot installed", kMarkerBytes);
  }
  *problem = "unknown record type " + std::to_string(frame.type);
  return std::nullopt;
}

}  // namespace storage
