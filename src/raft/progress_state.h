/// @file
/// ProgressState: how a leader is sending its log to one follower. The leader's
/// bookkeeping behind it (Progress, flow control) is the core's own; status() reports
/// the state for each peer (PeerStatus).
#pragma once

namespace raft {

/// How the leader sends to one follower (etcd raft's StateProbe, StateReplicate,
/// StateSnapshot).
enum class ProgressState {
  kProbe,      ///< one message at a time, until the point where the logs match is found
  kReplicate,  ///< pipelined, bounded by the messages and bytes in flight
  /// The follower needs entries this leader has compacted: a snapshot is on its way and
  /// nothing else is sent until it is acknowledged (or retried).
  kSnapshot,
};

}  // namespace raft
