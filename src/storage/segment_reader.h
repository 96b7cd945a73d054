// Reads the records of one WAL segment in order, checking each one's frame and checksum,
// without knowing what any record means: LevelDB's log::Reader. WalReplay gives them
// their meaning.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/status.h"
#include "storage/wal_format.h"

namespace storage {

// The records of a segment end at the end of its file, or where only zeros follow
// (space preallocated and not yet written). In the segment being written (`last`), a
// record that is incomplete or fails its checksum and is followed by nothing but zeros
// is a write torn by a crash: the records end before it. Any other damaged record, and
// a header with a bad magic or an unknown version, is corruption.
class SegmentReader {
 public:
  // `data` is the whole file and must outlive the reader; `file` names it in errors.
  SegmentReader(std::string file, std::string_view data, bool last)
      : file_(std::move(file)), data_(data), last_(last) {}

  // The next record in *frame; false once the records end, and then status() says
  // whether they ended well (ok, maybe at a torn write) or at corruption (kCorruption
  // naming the file and the byte offset). The first call checks the segment's header.
  bool next(Frame* frame);
  const Status& status() const { return status_; }
  // Where a torn write begins, when the records ended at one.
  std::optional<uint64_t> torn_at() const { return torn_at_; }
  // Past the last good record read: where appends may continue.
  uint64_t end() const { return pos_; }
  uint64_t size() const { return data_.size(); }
  const std::string& file() const { return file_; }

 private:
  Status check_header() const;
  bool zeros_from(uint64_t offset) const;  // true when only zeros (or nothing) follow
  bool stop(Status s);

  std::string file_;
  std::string_view data_;
  bool last_;
  uint64_t pos_ = 0;  // 0 until the header is checked, then always at a record boundary
  bool ended_ = false;
  Status status_;
  std::optional<uint64_t> torn_at_;
};

// "<file> at offset <offset>", as errors name a place in a segment.
std::string at_offset(const std::string& file, uint64_t offset);

}  // namespace storage
