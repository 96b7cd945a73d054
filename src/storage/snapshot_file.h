// Snapshot files: a state machine snapshot with the raft metadata it covers, written
// atomically (temporary file, fsync, rename, directory fsync) and checksummed. The
// last `keep` snapshots stay; older ones are deleted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "raft/message.h"
#include "storage/file_system.h"
#include "storage/status.h"

namespace storage {

struct StoredSnapshot {
  raft::SnapshotMeta meta;
  std::string data;  // the state machine's bytes, opaque here
};

class SnapshotStore {
 public:
  SnapshotStore(FileSystem& fs, std::string dir, int keep = 3)
      : fs_(fs), dir_(std::move(dir)), keep_(keep) {}

  // Writes the snapshot durably under a name derived from its index, then deletes
  // all but the newest `keep`.
  Status save(const StoredSnapshot& snapshot);
  // The same, from bytes the caller keeps: nothing the size of the snapshot is copied
  // (the runtime's snapshot is shared, and as large as its store).
  Status save(const raft::SnapshotMeta& meta, std::string_view data);
  // The newest snapshot that reads back intact; kCorruption names the file and what
  // is wrong when the newest is damaged (an older one is not used silently).
  StatusOr<StoredSnapshot> load_latest();
  // The indexes of the snapshots on disk, oldest first.
  StatusOr<std::vector<uint64_t>> list();

 private:
  std::string path(uint64_t index) const;

  FileSystem& fs_;
  std::string dir_;
  int keep_;
};

}  // namespace storage
