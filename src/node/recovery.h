// What a node finds in its data directory when it opens: the latest snapshot (restored
// into the state machine here), the write-ahead log after it, and, for a founding member
// of a new cluster, the first entry every founder writes. Runs in RaftNode::open(),
// before any thread starts.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "node/node_config.h"
#include "node/ready_job.h"
#include "node/removed_members.h"
#include "node/state_machine.h"
#include "raft/raft.h"
#include "storage/snapshot_file.h"
#include "storage/wal.h"

namespace node {

struct Recovery {
  std::unique_ptr<storage::Wal> wal;
  std::unique_ptr<storage::SnapshotStore> snapshots;
  SnapshotData snapshot;  // bytes null when there is none
  raft::Restored restored;
};

// Restores the latest snapshot into `sm` and tells `removed` its membership; opens the
// log. A log that does not join up with the snapshot is refused (DataLoss) naming what
// is missing.
absl::StatusOr<Recovery> recover(const NodeConfig& config, StateMachine* sm,
                                 RemovedMembers* removed);

}  // namespace node
