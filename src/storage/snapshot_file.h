/// @file
/// Snapshot files: a state machine snapshot with the raft metadata it covers, written
/// atomically (temporary file, fsync, rename, directory fsync) and checksummed. The
/// last `keep` snapshots stay; older ones are deleted. A snapshot can be written as its
/// bytes are produced (SnapshotWriter) and read back in pieces (SnapshotReader), so that
/// nothing the size of the state machine is held in memory to save or send one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "raft/message.h"
#include "storage/file_system.h"
#include "storage/status.h"

struct XXH3_state_s;

namespace storage {

/// A whole snapshot in memory: what it covers and the state machine's bytes.
struct StoredSnapshot {
  raft::SnapshotMeta meta;  ///< what it covers
  std::string data;         ///< the state machine's bytes, opaque here
};

class SnapshotStore;

/// A snapshot being written: its header first, then the state machine's bytes as they
/// come, then their length and the checksum. Nothing appears under the snapshot's name
/// before commit(); a writer destroyed without a successful commit removes its
/// temporary file. One thread at a time.
class SnapshotWriter {
 public:
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  /// Appends state machine bytes. After a failure, later calls fail the same way.
  Status append(std::string_view data);
  /// Ends the file and makes its bytes durable, under its temporary name: the long part
  /// of commit(), which a writer may do on its own thread first (then commit() only
  /// names the file). Nothing may be appended after it.
  Status finish();
  /// Ends the file, makes it durable (unless finish() did) and gives it its name, then
  /// deletes all but the newest `keep` snapshots.
  Status commit();

  /// What the snapshot covers, as given to SnapshotStore::begin().
  const raft::SnapshotMeta& meta() const { return meta_; }
  uint64_t size() const { return size_; }  ///< state machine bytes appended so far

 private:
  friend class SnapshotStore;
  SnapshotWriter(SnapshotStore& store, raft::SnapshotMeta meta, std::string tmp,
                 std::unique_ptr<WritableFile> file);
  Status write(std::string_view bytes);  // to the file and the checksum

  SnapshotStore& store_;
  raft::SnapshotMeta meta_;
  std::string tmp_;
  std::unique_ptr<WritableFile> file_;
  std::unique_ptr<XXH3_state_s, void (*)(XXH3_state_s*)> hash_;
  uint64_t size_ = 0;
  Status error_;
  bool finished_ = false;
  bool committed_ = false;
};

/// A snapshot file opened to read its state machine bytes in pieces (to send it to a
/// follower). The header is checked when it opens; the bytes are read when asked, and
/// the checksum is not verified here (the file was verified when it was loaded or
/// written, and the state machine's own format checks what it restores). The file stays
/// readable while open, even once a newer snapshot has deleted it.
class SnapshotReader {
 public:
  /// What the snapshot covers, from the file's header.
  const raft::SnapshotMeta& meta() const { return meta_; }
  uint64_t size() const { return size_; }  ///< the state machine bytes
  /// Reads `n` state machine bytes at `offset` into `*out`.
  Status read(uint64_t offset, uint64_t n, std::string* out) const;
  /// Reads the whole file a piece at a time and checks its checksum: kCorruption naming
  /// the file when it does not match. Memory: one piece, not the snapshot.
  Status verify() const;

 private:
  friend class SnapshotStore;
  SnapshotReader(std::string path, raft::SnapshotMeta meta, std::unique_ptr<ReadableFile> file,
                 uint64_t offset, uint64_t size)
      : path_(std::move(path)),
        meta_(std::move(meta)),
        file_(std::move(file)),
        offset_(offset),
        size_(size) {}

  std::string path_;
  raft::SnapshotMeta meta_;
  std::unique_ptr<ReadableFile> file_;
  uint64_t offset_;  // where the state machine bytes start in the file
  uint64_t size_;
};

/// The state machine bytes of a snapshot arriving from the leader, kept in a temporary
/// file of the store's directory as they come (never whole in memory) until the message
/// saying what they cover arrives and the node saves them as a snapshot file. append()
/// the bytes in order, then finish(); read() them back after that. The file is removed
/// when this is destroyed; one a crash leaves behind goes with remove_temporaries(). One
/// thread at a time.
class ReceivedSnapshot {
 public:
  ~ReceivedSnapshot();
  ReceivedSnapshot(const ReceivedSnapshot&) = delete;
  ReceivedSnapshot& operator=(const ReceivedSnapshot&) = delete;

  /// Appends the next bytes. After a failure, later calls fail the same way.
  Status append(std::string_view data);
  /// No more bytes: the file is opened for reading.
  Status finish();
  uint64_t size() const { return size_; }  ///< bytes appended
  /// Reads `n` bytes at `offset` into `*out`; after finish() only.
  Status read(uint64_t offset, uint64_t n, std::string* out) const;

 private:
  friend class SnapshotStore;
  ReceivedSnapshot(FileSystem& fs, std::string path, std::unique_ptr<WritableFile> file)
      : fs_(fs), path_(std::move(path)), out_(std::move(file)) {}

  FileSystem& fs_;
  std::string path_;
  std::unique_ptr<WritableFile> out_;  // until finish()
  std::unique_ptr<ReadableFile> in_;   // after finish()
  uint64_t size_ = 0;
  Status error_;
};

/// The snapshot files of one directory (docs/storage-format.md): writes them atomically,
/// keeps the newest `keep`, finds and reads them back.
class SnapshotStore {
 public:
  /// The snapshots in `dir`, keeping the newest `keep`.
  SnapshotStore(FileSystem& fs, std::string dir, int keep = 3)
      : fs_(fs), dir_(std::move(dir)), keep_(keep) {}

  /// Starts writing the snapshot `meta` covers. Snapshots of different indexes may be
  /// written from different threads at once.
  StatusOr<std::unique_ptr<SnapshotWriter>> begin(const raft::SnapshotMeta& meta);
  /// Writes the snapshot durably under a name derived from its index, then deletes
  /// all but the newest `keep`.
  Status save(const StoredSnapshot& snapshot);
  /// The same, from bytes the caller keeps: nothing the size of the snapshot is copied.
  Status save(const raft::SnapshotMeta& meta, std::string_view data);
  /// The newest snapshot that reads back intact; kCorruption names the file and what
  /// is wrong when the newest is damaged (an older one is not used silently).
  StatusOr<StoredSnapshot> load_latest();
  /// The same snapshot opened for reading in pieces, its checksum verified a piece at a
  /// time (SnapshotReader::verify): nothing the size of the snapshot is held.
  StatusOr<std::unique_ptr<SnapshotReader>> open_latest();
  /// A temporary file for the bytes of snapshot `index` as they arrive from the leader.
  /// Several may be received at once (each gets its own file).
  StatusOr<std::unique_ptr<ReceivedSnapshot>> receive(uint64_t index);
  /// The snapshot saved at `index`, opened for reading in pieces.
  StatusOr<std::unique_ptr<SnapshotReader>> open(uint64_t index);
  /// The indexes of the snapshots on disk, oldest first.
  StatusOr<std::vector<uint64_t>> list();
  /// Deletes the temporary files of snapshots a crash left unfinished (never read, each
  /// up to the state machine's size). Call before anything writes a snapshot.
  Status remove_temporaries();

 private:
  friend class SnapshotWriter;
  std::string path(uint64_t index) const;
  // Renames a written and synced temporary file to the snapshot's name, then deletes
  // all but the newest `keep`.
  Status publish(const std::string& tmp, uint64_t index);

  FileSystem& fs_;
  std::string dir_;
  int keep_;
  std::atomic<uint64_t> received_{0};  // names the files of receive()
};

}  // namespace storage
