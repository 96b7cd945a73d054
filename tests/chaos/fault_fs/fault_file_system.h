// A file system with faults the chaos harness turns on and off while raftkv runs,
// wrapping the real one (docs/design/chaos.md, section 3.5). Only the chaos build of
// raftkv (raftkv-chaos) links it.
//
// The control file holds key=value lines, re-read whenever it changes:
//   lazy=1             appended bytes stay in this process's memory until sync(): a
//                      SIGKILL then loses exactly what was never synced, as a power
//                      loss does (what the page cache would otherwise keep)
//   fsync_delay_ms=N   every sync() waits N ms first (a slow disk)
//   fsync_fail=once    the next sync() fails with EIO and its unsynced bytes are gone
//                      (Linux drops the dirty pages: "fsyncgate"); `always`: every one
// A fault that fires appends a line to <control file>.fired.
//
// Metadata (create, rename, remove) passes straight through: a real power loss can lose
// an unsynced rename too, which this does not model.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "storage/file_system.h"

namespace chaos {

struct Faults {
  bool lazy = false;
  int fsync_delay_ms = 0;
  enum class Fail { kNo, kOnce, kAlways } fsync_fail = Fail::kNo;
};

// Parses the control file's text; a line it does not understand is reported by
// `error` (and ignored) so a typo in the harness shows in the member's log.
Faults parse_faults(const std::string& text, const std::function<void(std::string)>& error);

class FaultFileSystem : public storage::FileSystem {
 public:
  // control == "": no faults ever (the build behaves as the release one).
  // sleep: how a delay is spent (tests pass a recorder).
  FaultFileSystem(std::unique_ptr<storage::FileSystem> inner, std::string control,
                  std::function<void(int ms)> sleep = nullptr);

  storage::StatusOr<std::unique_ptr<storage::WritableFile>> open_for_append(
      const std::string& path, uint64_t offset, uint64_t preallocate) override;
  storage::StatusOr<std::string> read_file(const std::string& path) override;
  storage::StatusOr<std::string> read_written(const std::string& path) override;
  storage::StatusOr<std::unique_ptr<storage::ReadableFile>> open_for_read(
      const std::string& path) override;
  storage::StatusOr<std::vector<std::string>> list(const std::string& dir) override;
  storage::Status create_dir(const std::string& dir) override;
  storage::Status remove(const std::string& path) override;
  storage::Status rename(const std::string& from, const std::string& to) override;
  storage::Status sync_dir(const std::string& dir) override;

  // The faults in force, re-read from the control file if it changed (at every sync()
  // and every file opened for appending, never on the append path).
  Faults faults();
  // Whether appends stay in memory, as of the last read of the control file.
  bool lazy();
  // Called by a file's sync(): applies the delay, and says whether this sync fails
  // (consuming a `once`).
  bool before_sync(const std::string& path);
  // Bytes appended but not yet written through, per open file (read-through: a read
  // of such a file writes them through first, as the page cache would show them).
  void register_file(const std::string& path, std::function<storage::Status()> flush);
  void unregister_file(const std::string& path);

 private:
  storage::Status flush_pending(const std::string& path);

  std::unique_ptr<storage::FileSystem> inner_;
  std::string control_;
  std::function<void(int)> sleep_;
  std::mutex mu_;
  std::string control_seen_;  // the control file's last text
  Faults faults_;
  bool once_fired_ = false;  // the current `once` was used up
  std::vector<std::pair<std::string, std::function<storage::Status()>>> open_;
};

}  // namespace chaos
