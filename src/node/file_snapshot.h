// A snapshot file as the transport's source: read from disk a chunk at a time while it
// is sent, so a member keeps no snapshot in memory for its followers.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "storage/snapshot_file.h"
#include "transport/transport.h"

namespace node {

// The snapshot saved at `index` in `store`, opened for sending.
absl::StatusOr<std::shared_ptr<const transport::SnapshotSource>> open_file_snapshot(
    storage::SnapshotStore& store, uint64_t index);

}  // namespace node
