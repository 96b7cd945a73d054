// Snapshot files as the runtime moves them: a saved file as the transport's source (read
// from disk a chunk at a time while it is sent), a snapshot arriving from the leader
// written to a temporary file as it comes, saved from there as a snapshot file, and
// restored into the state machine a piece at a time. No member holds a snapshot whole in
// memory to send, receive, save or restore it (unless its state machine gathers it).
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "node/state_machine.h"
#include "storage/snapshot_file.h"
#include "transport/transport.h"

namespace node {

// The snapshot saved at `index` in `store`, opened for sending.
absl::StatusOr<std::shared_ptr<const transport::SnapshotSource>> open_file_snapshot(
    storage::SnapshotStore& store, uint64_t index);

// A snapshot file already open, as a source.
std::shared_ptr<const transport::SnapshotSource> file_snapshot(
    std::unique_ptr<storage::SnapshotReader> reader);

// A sink writing the bytes of snapshot `index` to a temporary file of `store`'s
// directory; finish() gives them back as a source reading that file, which is removed
// when the source goes.
absl::StatusOr<std::unique_ptr<transport::SnapshotSink>> file_sink(storage::SnapshotStore& store,
                                                                   uint64_t index);

// Saves `data` as the snapshot `meta` covers, copied a piece at a time.
storage::Status save_snapshot_from(storage::SnapshotStore& store, const raft::SnapshotMeta& meta,
                                   const transport::SnapshotSource& data);

// Restores `sm` from `data` through StateMachine::restore_from(), a piece at a time.
absl::Status restore_from(StateMachine& sm, const transport::SnapshotSource& data);

}  // namespace node
