/// @file
/// The write-ahead log: the raft log and hard state on disk, in segment files of
/// records `length | checksum | type | payload` (docs/storage-format.md). Appends are
/// buffered and made durable together by one fdatasync (group commit). On open it
/// replays every segment: a torn tail of the last segment is cut off and reported; a
/// bad checksum anywhere else, a missing segment or an unknown format refuses to
/// start with an error naming the file and the byte offset.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.h"
#include "storage/file_system.h"
#include "storage/status.h"

namespace storage {

class WalReplay;
struct RecordLocation;  // storage/wal_format.h (internal)

/// How a Wal lays out and caches its segments.
struct WalOptions {
  uint64_t segment_bytes = 64ull << 20;  ///< a segment is closed once it reaches this size
  bool preallocate = true;               ///< reserve a new segment's size on disk when it starts
  /// Recently appended entries kept in memory for read(); older ones are read from the
  /// segment files.
  uint64_t tail_cache_bytes = 4ull << 20;
};

/// What a log held when it was opened.
struct Recovered {
  raft::HardState hard_state;        ///< the latest one in the log
  raft::LogId snapshot;              ///< the last snapshot marker ({0, 0}: none)
  std::vector<raft::Entry> entries;  ///< contiguous, after the snapshot
  std::vector<std::string> notes;    ///< what recovery did, e.g. a torn tail it cut off
};

/// One node's durable raft log and hard state in a directory of its own. One thread at
/// a time (RaftNode's storage thread).
class Wal {
 public:
  /// Opens (creating when empty) the log in `dir` and replays it into `recovered`.
  static StatusOr<std::unique_ptr<Wal>> open(FileSystem& fs, const std::string& dir,
                                             const WalOptions& options, Recovered* recovered);
  ~Wal();

  /// Buffers `entries` (the first may replace a suffix of the log: everything from
  /// its index on is superseded) and the hard state. Nothing is durable before sync().
  Status append(const std::vector<raft::Entry>& entries,
                const std::optional<raft::HardState>& hard_state);
  /// Writes what is buffered and fdatasyncs once. After a failed fsync the log is
  /// failed: every later call returns kFailed (the page cache may have dropped the
  /// data; retrying is unsafe, the node must restart and recover).
  Status sync();
  /// Writes what is buffered to the file without waiting for the disk; sync() makes it
  /// durable. Lets a simulator crash between the write and the fsync.
  Status flush();
  /// The entries [first, last] of the log: the recent tail from memory, older ones from
  /// the segment files (each record's checksum checked). Errors name the missing index,
  /// or the file and offset of a damaged record.
  StatusOr<std::vector<raft::Entry>> read(raft::LogIndex first, raft::LogIndex last);
  /// Records that a snapshot covers the log up to `id` (durably), then deletes the
  /// whole segments that hold nothing after it.
  Status mark_snapshot(raft::LogId id);
  /// Records that a snapshot received from the leader replaced the whole log (thesis
  /// 5.1): every entry before this record is dropped, even those after `id`, and the log
  /// restarts at id.index + 1. Durable on return; older segments are deleted.
  Status install_snapshot(raft::LogId id);

  /// The segment files in the directory now.
  uint64_t segment_count() const { return segments_.size(); }

 private:
  struct Segment {
    uint64_t seq;
    uint64_t last_index;  // the highest entry index written in it (0: none)
  };
  Wal(FileSystem& fs, std::string dir, WalOptions options);
  std::string path(uint64_t seq) const;
  // The sequence numbers of the segments in dir_, in order (a gap is corruption).
  StatusOr<std::vector<uint64_t>> list_segments() const;
  // Reads segment `seq` (the one being written when `last`) into `replay`, cutting off
  // a torn tail (reported in `notes`).
  Status replay_segment(uint64_t seq, bool last, WalReplay* replay,
                        std::vector<std::string>* notes);
  Status start_segment(uint64_t seq);
  // A snapshot marker; `replaces_log` for one installed from the leader.
  Status write_marker(raft::LogId id, bool replaces_log);
  // The entry `index`, whose record is at `where`, read back from its segment file
  // (`files` holds the segments already read by this call).
  StatusOr<raft::Entry> read_from_segment(uint64_t index, RecordLocation where,
                                          std::map<uint64_t, std::string>* files);
  void cache(const raft::Entry& e);
  void trim_cache();
  void forget_after(uint64_t index);  // a superseding entry replaced everything after it

  FileSystem& fs_;
  std::string dir_;
  WalOptions options_;
  std::vector<Segment> segments_;  // in order; the last one is being written
  std::unique_ptr<WritableFile> file_;
  uint64_t offset_ = 0;         // bytes in the current segment, header included
  std::string buffer_;          // records appended, not yet written
  raft::HardState hard_state_;  // the latest one appended
  Status failed_;               // set once an fsync failed
  // Values for a contiguous run of entry indexes [first, first + size).
  template <typename T>
  struct Run {
    uint64_t first = 0;
    std::deque<T> items;
    bool empty() const { return items.empty(); }
    uint64_t last() const { return first + items.size() - 1; }  // requires !empty()
    T* find(uint64_t index) {
      return index >= first && index - first < items.size() ? &items[index - first] : nullptr;
    }
    // Drops everything at or after `index` (a superseding entry, or a gap restarts it).
    void truncate_from(uint64_t index) {
      if (items.empty() || index <= first) {
        items.clear();
        first = index;
      } else if (index - first < items.size()) {
        items.resize(index - first);
      }
    }
    // Sets the value for `index`, which must follow the run or replace part of it.
    void put(uint64_t index, T v) {
      truncate_from(index);
      if (items.empty()) first = index;
      if (index != first + items.size()) {  // a gap: the run restarts here
        items.clear();
        first = index;
      }
      items.push_back(std::move(v));
    }
    void drop_through(uint64_t index) {
      while (!items.empty() && first <= index) {
        items.pop_front();
        ++first;
      }
    }
  };
  // Where the live record of each entry index is (never null; held apart, its type being
  // the format's).
  std::unique_ptr<Run<RecordLocation>> where_;
  // The newest entries; always holds every entry not yet flushed to a file.
  Run<raft::Entry> tail_;
  uint64_t tail_bytes_ = 0;
};

}  // namespace storage
