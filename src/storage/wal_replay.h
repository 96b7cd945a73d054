// Folds the records of a WAL, read in order across its segments, into what the log held
// (docs/storage-format.md, "Replay"): the entries, the latest hard state, the last
// snapshot, and where each entry's record lies. It knows what records mean and nothing
// of how they are framed (SegmentReader reads them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/status.h"
#include "storage/wal.h"
#include "storage/wal_format.h"

namespace storage {

class WalReplay {
 public:
  // Folds into `out`, which must start empty and outlive the replay.
  explicit WalReplay(Recovered* out) : out_(out) {}

  // The records added next come from segment `seq`, the file `file`.
  void begin_segment(uint64_t seq, std::string file);
  // Folds in the next record. kCorruption (naming the file and offset) when it is
  // malformed, or an entry at or below a snapshot already read.
  Status add(const Frame& frame);
  // After the last record: kCorruption when entries are missing that no later snapshot
  // marker covers. `dir` names the log in the error.
  Status finish(const std::string& dir) const;

  // The highest entry index read in the current segment (0: none).
  uint64_t segment_last_index() const { return segment_last_index_; }
  // Where the record of each entry of out->entries lies, in the same order.
  const std::vector<RecordLocation>& locations() const { return locations_; }

 private:
  // A gap between entries: legal only when a later snapshot marker covers it, since
  // the segment that held the missing entries was deleted behind that marker.
  struct Gap {
    uint64_t after;  // the first index after the gap
    std::string message;
  };

  Status add_entry(raft::Entry e, uint64_t offset);
  Status add_snapshot_marker(raft::LogId snap, uint64_t offset);
  void add_snapshot_installed(raft::LogId snap);
  // The log read so far is dropped; it starts again at `index`.
  void restart_at(uint64_t index);
  std::string where(uint64_t offset) const;  // "<file> at offset <offset>"

  Recovered* out_;
  // locations_[i] is where out_->entries[i] was read; the two change together.
  std::vector<RecordLocation> locations_;
  std::optional<uint64_t> base_;  // the index before the first entry kept
  std::optional<Gap> gap_;        // the latest gap between entries, if any
  uint64_t segment_ = 0;
  std::string file_;
  uint64_t segment_last_index_ = 0;
};

}  // namespace storage
