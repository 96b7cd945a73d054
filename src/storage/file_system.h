/// @file
/// The file operations the write-ahead log needs, behind an interface so that tests
/// can inject short writes, EIO on fsync and ENOSPC, and a simulator can lose
/// unsynced writes. PosixFileSystem is the real one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/status.h"

namespace storage {

/// An open file, written at its end.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  /// Writes all of `data` (retrying short writes) or fails; a failure may leave a
  /// prefix written.
  virtual Status append(std::string_view data) = 0;
  /// fdatasync: everything appended so far is durable once this returns ok.
  virtual Status sync() = 0;
  /// Shrinks the file to `size` bytes (and syncs).
  virtual Status truncate(uint64_t size) = 0;
  /// The next `n` bytes are about to be appended. A file with space reserved on disk may
  /// write zeros over them, and some way beyond, ahead of time: a file system that keeps
  /// reserved blocks as "unwritten" (ext4, XFS) then finds them written when the records
  /// land, and an fdatasync has no block map to update for them. Moves nothing: the next
  /// append still goes where it would have; what is beyond it still reads as zeros. The
  /// default does nothing.
  virtual Status prepare(uint64_t n) {
    (void)n;
    return Status::ok();
  }
};

/// An open file, read at any offset (a snapshot sent to a follower in pieces).
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  /// The file's length in bytes.
  virtual uint64_t size() const = 0;
  /// Reads exactly `n` bytes at `offset` into `*out` (replacing it), or fails.
  virtual Status read_at(uint64_t offset, uint64_t n, std::string* out) const = 0;
};

/// The file operations the WAL and the snapshot files use. Paths are strings, as the
/// operating system takes them.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  /// Opens `path` for appending at `offset` (creating it when absent), reserving
  /// `preallocate` bytes on disk if positive.
  virtual StatusOr<std::unique_ptr<WritableFile>> open_for_append(const std::string& path,
                                                                  uint64_t offset,
                                                                  uint64_t preallocate) = 0;
  /// The whole file.
  virtual StatusOr<std::string> read_file(const std::string& path) = 0;
  /// The file's bytes up to the end of the last region it holds data in: a tail the file
  /// system reports as a hole (space preallocated and never written, which reads as
  /// zeros) is left out, so a 64 MiB WAL segment holding a few records costs the records
  /// to read, not 64 MiB. Where the file system cannot tell, the whole file (the default).
  virtual StatusOr<std::string> read_written(const std::string& path) { return read_file(path); }
  /// Opens `path` for reading at any offset. The default reads the whole file into
  /// memory (enough for file systems in memory); the POSIX one reads on demand.
  virtual StatusOr<std::unique_ptr<ReadableFile>> open_for_read(const std::string& path);
  /// The names (not paths) of the files in `dir`, sorted.
  virtual StatusOr<std::vector<std::string>> list(const std::string& dir) = 0;
  /// Creates `dir`; ok when it exists already.
  virtual Status create_dir(const std::string& dir) = 0;
  /// Deletes the file at `path`.
  virtual Status remove(const std::string& path) = 0;
  /// Atomically replaces `to` with `from` (POSIX rename).
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  /// Makes a directory's entries (new, renamed, removed files) durable.
  virtual Status sync_dir(const std::string& dir) = 0;
};

/// The operating system's files.
std::unique_ptr<FileSystem> make_posix_file_system();

/// The file system this process stores its data on: the POSIX one (process_file_system.cc).
/// The chaos harness's build of raftkv links its own definition instead, which wraps the
/// POSIX one with injectable faults (tests/chaos/fault_fs); nothing else differs.
FileSystem& posix_file_system();

}  // namespace storage
