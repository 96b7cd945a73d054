/// @file
/// Snapshot files: a state machine snapshot with the raft metadata it covers, written
/// atomically (temporary file, fsync, rename, directory fsync) and checksummed. A file
/// may hold only the bytes that follow those of an earlier snapshot (a delta): a snapshot
/// is then a chain of files, read everywhere as one byte sequence. The last `keep`
/// snapshots and the files their chains reach stay; other files are deleted. A snapshot
/// can be written as its bytes are produced (SnapshotWriter) and read back in pieces
/// (SnapshotReader), so that nothing the size of the state machine is held in memory to
/// save or send one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
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
/// temporary file. A delta's writer keeps the snapshot it extends from being deleted
/// until it is committed or destroyed. One thread at a time.
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
  /// deletes the files no kept snapshot needs (SnapshotStore). A delta whose base file
  /// was deleted or replaced since begin() is not named: kInvalidArgument naming both.
  Status commit();

  /// What the snapshot covers, as given to SnapshotStore::begin().
  const raft::SnapshotMeta& meta() const { return meta_; }
  /// The index of the snapshot this one extends; 0 for a full snapshot.
  uint64_t base() const { return base_; }
  uint64_t size() const { return size_; }  ///< state machine bytes appended so far

 private:
  friend class SnapshotStore;
  SnapshotWriter(SnapshotStore& store, raft::SnapshotMeta meta, uint64_t base,
                 uint64_t base_checksum, std::string tmp, std::unique_ptr<WritableFile> file);
  Status write(std::string_view bytes);  // to the file and the checksum

  SnapshotStore& store_;
  raft::SnapshotMeta meta_;
  uint64_t base_;           // the snapshot this one extends, 0 for none
  uint64_t base_checksum_;  // that snapshot's file's checksum when begin() read it
  std::string tmp_;
  std::unique_ptr<WritableFile> file_;
  std::unique_ptr<XXH3_state_s, void (*)(XXH3_state_s*)> hash_;
  uint64_t size_ = 0;
  Status error_;
  bool finished_ = false;
  bool committed_ = false;
  bool base_pinned_ = false;  // base_ is in the store's pinned set on this writer's behalf
};

/// A snapshot opened to read its state machine bytes in pieces (to send it to a
/// follower): the bytes of its chain's files, oldest first, as one sequence. The headers
/// and the links between the files are checked when it opens; the bytes are read when
/// asked, and the checksums are not verified here (the files were verified when they were
/// loaded or written, and the state machine's own format checks what it restores). The
/// files stay readable while open, even once a newer snapshot has deleted them: one open
/// file per link of the chain.
class SnapshotReader {
 public:
  /// What the snapshot covers, from the newest file's header.
  const raft::SnapshotMeta& meta() const { return meta_; }
  uint64_t size() const { return size_; }  ///< the state machine bytes, all files together
  /// Reads `n` state machine bytes at `offset` into `*out`; they may span files.
  Status read(uint64_t offset, uint64_t n, std::string* out) const;
  /// Reads every file a piece at a time and checks its checksum, and that each delta's
  /// base is the file it was written on: kCorruption naming the file (and the snapshot
  /// asked for) when not. Memory: one piece, not the snapshot.
  Status verify() const;

 private:
  friend class SnapshotStore;
  // One file of the chain, open.
  struct Part {
    std::string path;
    std::unique_ptr<ReadableFile> file;
    uint64_t offset = 0;         // where its state machine bytes start in the file
    uint64_t size = 0;           // how many there are
    uint64_t start = 0;          // where they start in the chain's bytes
    uint64_t base = 0;           // the snapshot it extends (lower index); 0 for a full one
    uint64_t base_checksum = 0;  // that snapshot's file's checksum, recorded in this one
    uint64_t checksum = 0;       // this file's own checksum (its last 8 bytes), as opened
  };
  // `parts` oldest first, each starting where the one before ends; the last is the
  // snapshot asked for.
  SnapshotReader(std::vector<Part> parts, raft::SnapshotMeta meta);
  // Verifies every file as verify() does, appending the chain's bytes to `*data` when it
  // is not null (SnapshotStore::load_latest).
  Status verify_into(std::string* data) const;

  std::vector<Part> parts_;  // not empty
  raft::SnapshotMeta meta_;
  uint64_t size_ = 0;  // the parts' sizes added up
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
/// keeps the newest `keep` with the files their chains reach, finds and reads them back.
/// Methods may be called from different threads.
class SnapshotStore {
 public:
  /// The snapshots in `dir`, keeping the newest `keep`.
  SnapshotStore(FileSystem& fs, std::string dir, int keep = 3)
      : fs_(fs), dir_(std::move(dir)), keep_(keep) {}

  /// Starts writing the snapshot `meta` covers. Snapshots of different indexes may be
  /// written from different threads at once. With `base` not 0 the file holds only the
  /// state machine bytes that follow those of the published snapshot at index `base`
  /// (a delta, format version 3); `base` must be below meta.last.index and published
  /// (else kInvalidArgument), its chain sound (else kCorruption), and it is not deleted
  /// until the writer is committed or destroyed.
  StatusOr<std::unique_ptr<SnapshotWriter>> begin(const raft::SnapshotMeta& meta,
                                                  uint64_t base = 0);
  /// Writes the snapshot durably (in full) under a name derived from its index, then
  /// deletes the files no kept snapshot needs.
  Status save(const StoredSnapshot& snapshot);
  /// The same, from bytes the caller keeps: nothing the size of the snapshot is copied.
  Status save(const raft::SnapshotMeta& meta, std::string_view data);
  /// The newest snapshot that reads back intact, its chain's bytes in one string;
  /// kCorruption names the file and what is wrong when a file of it is damaged or
  /// missing (an older snapshot is not used silently).
  StatusOr<StoredSnapshot> load_latest();
  /// The same snapshot opened for reading in pieces, its chain's checksums verified a
  /// piece at a time (SnapshotReader::verify): nothing the size of the snapshot is held.
  StatusOr<std::unique_ptr<SnapshotReader>> open_latest();
  /// A temporary file for the bytes of snapshot `index` as they arrive from the leader.
  /// Several may be received at once (each gets its own file).
  StatusOr<std::unique_ptr<ReceivedSnapshot>> receive(uint64_t index);
  /// The snapshot saved at `index`, opened for reading in pieces: its chain's headers and
  /// links checked (kCorruption naming the file), its checksums not.
  StatusOr<std::unique_ptr<SnapshotReader>> open(uint64_t index);
  /// The indexes of the snapshots on disk, oldest first.
  StatusOr<std::vector<uint64_t>> list();
  /// The index of the snapshot the file at `index` extends, from its header; 0 when it is
  /// a full snapshot.
  StatusOr<uint64_t> base_of(uint64_t index);
  /// Deletes the temporary files of snapshots a crash left unfinished (never read, each
  /// up to the state machine's size). Call before anything writes a snapshot.
  Status remove_temporaries();

 private:
  friend class SnapshotWriter;
  std::string path(uint64_t index) const;
  // Renames a written and synced temporary file to the snapshot's name, then deletes
  // the files no kept snapshot needs. For a delta (`base` not 0), first checks that the
  // base file is still the one whose checksum is `base_checksum`.
  Status publish(const std::string& tmp, uint64_t index, uint64_t base, uint64_t base_checksum);
  // Deletes every file that is not one of the newest `keep`, pinned, or reached by the
  // chain of one of those. Holding mu_.
  Status remove_unneeded();
  void unpin(uint64_t base);  // a delta writer is done with `base`

  FileSystem& fs_;
  std::string dir_;
  int keep_;
  std::atomic<uint64_t> received_{0};  // names the files of receive()
  // Serializes publish() (its base check, rename, deletions and directory syncs) with
  // begin()'s look at its base, so that a base begin() sees is durable and stays.
  std::mutex mu_;
  // The bases of delta writers begun and not yet committed or destroyed; never deleted.
  // Guarded by mu_.
  std::multiset<uint64_t> pinned_;
};

}  // namespace storage
