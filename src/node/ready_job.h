// One Ready on its way through the runtime: the core thread takes it from the core,
// the storage thread makes it durable, the apply thread applies it, and the core thread
// acknowledges it (Raft::advance), once it is durable and handed to the apply thread, or
// once applied (`advanced`). Only one is taken and not yet acknowledged at a time
// (ready.h's contract); those acknowledged wait in the apply thread's queue, in order.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "raft/ready.h"
#include "transport/transport.h"

namespace node {

struct ReadyJob {
  raft::Ready ready;
  // The bytes of ready.snapshot (a snapshot from the leader), if it has one: as they
  // were received (a temporary file of the data directory, or memory).
  std::shared_ptr<const transport::SnapshotSource> snapshot;
  // The same snapshot read from its file, once the storage thread has saved it: what
  // the state machine restores from and the node keeps for its own followers, so the
  // bytes above go once applied.
  std::shared_ptr<const transport::SnapshotSource> snapshot_file;
  // When the core handed it over: its committed entries were known committed then.
  std::chrono::steady_clock::time_point taken_at{};
  // Whether the core advances past it once it is durable and handed to the apply thread,
  // without waiting for its apply (OverloadBounds::max_applying_bytes); never for one
  // that installs a snapshot from the leader.
  bool advanced = false;

  // Whether the state machine has anything to do with it.
  bool has_apply_work() const {
    return snapshot != nullptr || !ready.committed_entries.empty() || !ready.reads.empty() ||
           !ready.dropped_reads.empty();
  }
};

// A snapshot of the state machine as the core knows it: its bytes (read from its file,
// or held in memory until the file is written) and what they cover.
struct SnapshotData {
  std::shared_ptr<const transport::SnapshotSource> source;  // null: none yet
  raft::SnapshotMeta meta;
};

using FatalHandler = std::function<void(const std::string&)>;

}  // namespace node
