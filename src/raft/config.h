/// @file
/// The knobs of one Raft node, in logical ticks and bytes, and their validation.
/// Times are ticks, not milliseconds: the runtime decides how long a tick is.
#pragma once

#include <cstdint>

#include "raft/error.h"
#include "raft/types.h"

namespace raft {

/// Heartbeat and election timeouts. Invariant (checked by validate):
/// 1 <= heartbeat_ticks < election_min_ticks < election_max_ticks.
struct Timeouts {
  uint32_t heartbeat_ticks = 1;  ///< the leader sends a heartbeat round this often
  /// Election timeouts are drawn uniformly from [election_min_ticks, election_max_ticks)
  /// (paper 5.2: randomized timeouts make split votes rare).
  uint32_t election_min_ticks = 10;
  uint32_t election_max_ticks = 20;  ///< exclusive
  bool operator==(const Timeouts&) const = default;
};

/// Everything one core is constructed with; check it with validate() first.
struct Config {
  NodeId id;          ///< this node; non-zero
  Timeouts timeouts;  ///< until a timeouts entry or a snapshot brings others
  /// PreVote (thesis 9.6): a node asks whether it could win before it bumps its term,
  /// so a partitioned node that rejoins does not depose a healthy leader.
  bool pre_vote = true;
  /// CheckQuorum (thesis 6.2): a leader that has not heard from a quorum within an
  /// election timeout steps down; voters ignore vote requests while they have a
  /// leader (thesis 4.2.3).
  bool check_quorum = true;
  /// Flow control per follower in the replicate state: at most this many
  /// AppendEntries and this many entry bytes in flight.
  uint32_t max_inflight_msgs = 256;
  uint64_t max_inflight_bytes = 32ull << 20;  ///< see max_inflight_msgs
  /// Entry bytes per AppendEntries (at least one entry is always sent).
  uint64_t max_msg_bytes = 1ull << 20;
  /// The leader refuses proposals while this many entry bytes are uncommitted
  /// (0 = no limit): a stalled quorum must not grow the log without bound.
  uint64_t max_uncommitted_bytes = 64ull << 20;
  /// Committed entry bytes handed to the application per Ready (at least one entry).
  uint64_t max_apply_bytes = 64ull << 20;
  /// Run-time timeout changes must keep election_max_ticks at or below this bound.
  uint32_t max_election_ticks = 100'000;
  /// A learner added by add_node is promoted to voter once its log is within this
  /// many entries of the leader's (thesis 4.2.1: new servers catch up first).
  uint64_t catch_up_entries = 64;
  /// Snapshot policy: snapshot_due() turns true once this many entries have been
  /// applied since the last snapshot (0: never).
  uint64_t snapshot_entries = 10'000;
  /// After a snapshot, the log keeps up to this many of the newest entries it covers,
  /// within snapshot_catch_up_bytes of payload (etcd keeps 5,000: SnapshotCatchUpEntries),
  /// so that a follower a little behind, as the slowest one under load always is,
  /// catches up from the log instead of being sent the whole snapshot.
  uint64_t snapshot_catch_up_entries = 5'000;
  uint64_t snapshot_catch_up_bytes = 64ull << 20;  ///< see snapshot_catch_up_entries
  /// Lease reads (thesis 6.4.1), opt-in: the leader serves a read at once while a
  /// quorum answered a heartbeat sent less than election_min_ticks - lease_drift_ticks
  /// ago, trusting that no other leader can be elected before then. Safe only if no
  /// node's clock runs faster than another's by more than lease_drift_ticks per
  /// election timeout; requires check_quorum.
  bool lease_reads = false;
  uint32_t lease_drift_ticks = 1;  ///< see lease_reads
  /// Seed of the generator that draws election timeouts; the only randomness.
  uint64_t seed = 1;
};

/// Returns ok, or an error naming the first field that is out of range.
Error validate(const Config& config);
/// Checks 1 <= heartbeat < election_min < election_max <= max_election_ticks.
Error validate(const Timeouts& timeouts, uint32_t max_election_ticks = UINT32_MAX);

}  // namespace raft
