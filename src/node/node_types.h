/// @file
/// The types RaftNode's API names besides its configuration and errors: the clock its
/// deadlines are on, the callbacks of its asynchronous calls, and the counters status()
/// reports. The runtime's own parts (internal, not installed) use them too.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace node {

/// The runtime's clock: monotonic, so that a wall clock stepped back delays nothing.
using Clock = std::chrono::steady_clock;
/// When a request gives up (kTimedOut).
using Deadline = Clock::time_point;
/// How an asynchronous write ends: what applying the command produced, or why it failed.
using WriteCallback = std::function<void(absl::StatusOr<std::string>)>;
/// How an asynchronous call without a result (a read) ends.
using StatusCallback = std::function<void(absl::Status)>;

/// Bytes the core thread holds in memory: the log's entries since the last snapshot (the
/// core keeps them in memory), the newest snapshot (kept for followers that need it) and
/// snapshots received from the leader and not yet installed. A snapshot kept as its file
/// (as RaftNode keeps every one it saved or received) counts nothing.
struct MemoryHeld {
  uint64_t log_bytes = 0;                ///< entries' payloads
  uint64_t snapshot_bytes = 0;           ///< the newest snapshot's bytes in memory
  uint64_t incoming_snapshot_bytes = 0;  ///< snapshots received, not yet installed, in memory
};

/// Work the core thread turned away (NodeConfig::overload), since it started.
struct OverloadCounters {
  uint64_t dropped_messages = 0;    ///< peer messages, the queue being full
  uint64_t refused_queue_full = 0;  ///< requests, the queue being full
  uint64_t refused_apply_lag = 0;   ///< proposals, applying lagging committing too far
};

}  // namespace node
