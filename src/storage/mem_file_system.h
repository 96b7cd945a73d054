/// @file
/// A file system in memory that behaves like a disk across a crash: what was written but
/// not fsynced (file data), and directory changes not followed by sync_dir (creates,
/// renames, removes), may be lost when crash() is called: each unsynced tail is kept
/// whole, dropped, or cut to a prefix (a torn write), as a seeded generator decides. The
/// simulator runs the real WAL and snapshot files on it; tests use it too.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "storage/file_system.h"

namespace storage {

/// The FileSystem in memory, with crash(). Not thread-safe: one thread at a time.
class MemFileSystem : public FileSystem {
 public:
  StatusOr<std::unique_ptr<WritableFile>> open_for_append(const std::string& path, uint64_t offset,
                                                          uint64_t preallocate) override;
  StatusOr<std::string> read_file(const std::string& path) override;
  StatusOr<std::vector<std::string>> list(const std::string& dir) override;
  Status create_dir(const std::string& dir) override;
  Status remove(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status sync_dir(const std::string& dir) override;

  /// Power fails: every directory returns to its last synced entries, and every file
  /// to its synced bytes plus what `pick` keeps of the rest. `pick(n)` returns how many
  /// of the n unsynced bytes survive (0..n); the caller's seeded generator decides.
  /// Open files become unusable (their writes fail).
  void crash(const std::function<uint64_t(uint64_t)>& pick);

  /// Bytes written but not yet synced, over all files (for tests).
  uint64_t unsynced_bytes() const;

 private:
  struct Inode {
    std::string durable;  // what survives any crash
    std::string current;  // what reads see
  };
  class File;
  static std::string dir_of(const std::string& path);

  uint64_t generation_ = 0;  // bumped by crash(): older open files are dead
  uint64_t next_inode_ = 1;
  std::map<uint64_t, std::shared_ptr<Inode>> inodes_;
  std::map<std::string, uint64_t> names_;          // path -> inode, as reads see it
  std::map<std::string, uint64_t> durable_names_;  // path -> inode, as a crash leaves it
  std::set<std::string> dirs_;
};

}  // namespace storage
