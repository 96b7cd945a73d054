/// @file
/// The configuration of one node of a cluster: identity, addresses, data directory,
/// timeouts in milliseconds and snapshot policy. validate() names the field, the value
/// and what is allowed, so a bad flag stops the start with a clear error.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "raft/config.h"
#include "raft/types.h"

namespace metrics {
class Registry;
}

namespace node {

/// Timeouts as people set them: milliseconds. The node ticks every tick_ms.
struct TimeoutsMs {
  uint32_t heartbeat_ms = 100;      ///< the leader's heartbeat interval
  uint32_t election_min_ms = 1000;  ///< election timeouts are drawn from [min, max)
  uint32_t election_max_ms = 2000;  ///< see election_min_ms
  bool operator==(const TimeoutsMs&) const = default;
};

/// When a member stops taking new work (kOverloaded), so that a backlog cannot grow its
/// memory without bound.
struct OverloadBounds {
  /// No new proposal while applying trails committing by more than this (etcd's
  /// maxGapBetweenApplyAndCommitIndex).
  uint64_t max_apply_lag = 5000;
  /// The core thread's queue: beyond either bound, client work is refused and peer
  /// messages are dropped (Raft sends them again). The storage thread holds at most one
  /// Ready, whose size the core bounds (max_uncommitted_bytes, one batch); the apply
  /// thread's queue, max_applying_bytes and one Ready more.
  ///@{
  size_t max_queued_tasks = 10'000;
  size_t max_queued_bytes = size_t{64} << 20;
  ///@}
  /// The leader refuses proposals (kOverloaded) while this many entry bytes are
  /// uncommitted. One Ready hands at most max_apply_bytes of committed entries to the
  /// apply thread: while a Ready is persisted this node sends nothing new, heartbeats
  /// included, so a smaller batch keeps that pause short (etcd hands over about 1 MiB a
  /// Ready).
  ///@{
  uint64_t max_uncommitted_bytes = uint64_t{64} << 20;
  uint64_t max_apply_bytes = uint64_t{8} << 20;
  ///@}
  /// Committed entry bytes (each counted at its data and about 100 bytes more) that may
  /// wait in the apply thread's queue with the core gone past them. Within it the core
  /// takes its next Ready once the last is durable and handed over, as etcd's raft loop
  /// does, so a long apply or a local snapshot holds the state machine only: the member
  /// goes on appending, acknowledging and answering heartbeats. Beyond it, and for a
  /// snapshot from the leader, the core waits for the Ready's apply. 0: always waits.
  uint64_t max_applying_bytes = uint64_t{64} << 20;
};

/// What RaftNode::open() needs; validate() checks it.
struct NodeConfig {
  raft::NodeId id;                     ///< non-zero, unique in the cluster
  std::string name;                    ///< not read by the runtime; for the embedder's own logs
  std::string data_dir;                ///< holds wal/ and snap/; one node's, never shared
  std::string client_address;          ///< host:port for clients
  std::string peer_address;            ///< host:port for peers
  std::string metrics_address;         ///< host:port for /metrics (empty: none)
  uint32_t tick_ms = 10;               ///< the length of one core tick
  TimeoutsMs timeouts;                 ///< used until a snapshot or a timeouts entry brings others
  uint64_t snapshot_entries = 10'000;  ///< snapshot after this many applied entries (0: never)
  /// And only once the entries applied since the last snapshot hold at least this percent
  /// of its bytes (0: snapshot_entries alone, etcd's rule). A local snapshot rewrites the
  /// whole state machine: with a large one (an MVCC history never compacted) a snapshot
  /// every snapshot_entries entries writes many times what the log does, on every member
  /// (docs/benchmarks.md, "The twelfth cut": 150 MB every 100,000 puts). At 50 the snapshots write
  /// at most twice the log's bytes; the log then holds at most half the last snapshot's bytes more
  /// than snapshot_entries would (docs/limits.md).
  uint32_t snapshot_log_percent = 50;
  /// Entries the log keeps behind a snapshot for followers a little behind (raft::Config).
  ///@{
  uint64_t snapshot_catch_up_entries = 5'000;
  uint64_t snapshot_catch_up_bytes = 64ull << 20;
  ///@}
  /// AppendEntries with entries the leader has out to one follower, unacknowledged, at a
  /// time (raft::Config::max_inflight_msgs, whose default is etcd's 256). One: while a
  /// follower writes and fsyncs one append, the entries proposed meanwhile wait in the
  /// leader's log and go out together in the next, so each follower fsync covers more
  /// entries (docs/benchmarks.md: at 64 clients on loopback, 13 -> 20 entries per follower
  /// fsync and about 15% less CPU per put). A follower fsyncs its appends one after
  /// another anyway; more in flight pays only where the round trip is long against the
  /// follower's fsync (a WAN).
  uint32_t max_inflight_appends = 1;
  /// The voters of a new cluster; empty when this node joins an existing one.
  raft::Membership bootstrap;
  /// A client request's size limit. The runtime only checks that it is non-zero; the KV
  /// server sizes its gRPC receive limit by it.
  uint64_t max_request_bytes = 1536 * 1024;
  /// Entry bytes per AppendEntries (raft::Config::max_msg_bytes; one entry always goes,
  /// whatever its size). The KV server lowers it to max_request_bytes where that is
  /// smaller, so that every peer message fits the receive limit its port shares with
  /// the client port.
  uint64_t max_append_bytes = 1ull << 20;
  OverloadBounds overload;  ///< when this member turns work away
  /// Whether a peer's message may be stepped on the thread that delivers it when the core
  /// thread is idle (then the message costs no wake-up of the core thread; that thread
  /// still ticks, and takes whatever queues meanwhile). Only for a transport that delivers
  /// on threads holding none of its locks and free to block for an fsync: the gRPC
  /// transport's callback threads (the server sets it). LocalNetwork delivers on the
  /// sender's core thread under its own lock, so the default is off.
  bool step_on_receiving_thread = false;
  /// Whether committed entries may be applied on the thread that made them durable or
  /// committed them (the core thread, or one that stepped a message there) when the
  /// apply thread has nothing queued or in hand, and the core's next round then run on
  /// the thread that applied when the core thread is idle: each saves a hand-off (a
  /// wake-up each way) per Ready. The state machine is still called by one thread at a
  /// time, in log order; a snapshot from the leader is still installed, and local
  /// snapshots still taken, on the apply thread. A slow apply then holds the thread it
  /// runs on, the core's among them (on the apply thread it holds the state machine
  /// alone, within OverloadBounds::max_applying_bytes), so a held apply holds the core:
  /// the apply-lag refusal (OverloadBounds::max_apply_lag) then fires only for what
  /// queued behind the apply thread, and the core thread's queue bound does the rest.
  /// The server sets it (issue 19); off by default, as the apply-lag tests need.
  bool apply_on_calling_thread = false;
  /// Where the runtime registers its metrics (node_metrics.h); null: a registry of its own.
  metrics::Registry* registry = nullptr;
  /// Asked on the leader before it acts on a cluster operation a client requested through
  /// any member (membership, leadership transfer, timeouts), with the client's user and the
  /// operation's action name (add_node, remove_node, promote_node, transfer_leader,
  /// change_config); a refusal is the answer. Unset: every operation is allowed. Called on
  /// a runtime thread; it must not block.
  std::function<absl::Status(const std::string& user, std::string_view action)> authorize;
};

/// Limits on timeouts, shared by the start-up check and run-time changes.
///@{
inline constexpr uint32_t kMinTickMs = 1;
inline constexpr uint32_t kMaxTickMs = 1000;
inline constexpr uint32_t kMaxElectionMs = 600'000;
inline constexpr uint32_t kMaxInflightAppends = 4096;     ///< see NodeConfig::max_inflight_appends
inline constexpr uint32_t kMaxSnapshotLogPercent = 1000;  ///< see NodeConfig::snapshot_log_percent
///@}
/// etcd: "--election-timeout should be at least as 5 times as --heartbeat-interval".
inline constexpr uint32_t kMinElectionHeartbeatRatio = 5;

/// Ok, or an error naming the field, its value and what is allowed.
absl::Status validate(const NodeConfig& config);
/// heartbeat >= tick, election min >= kMinElectionHeartbeatRatio x heartbeat, election
/// max >= election min + one tick, election max <= kMaxElectionMs. Values are rounded to
/// whole ticks when they take effect (to_ticks); to_ms(to_ticks(t)) is what is in force.
absl::Status validate(const TimeoutsMs& t, uint32_t tick_ms);

/// Milliseconds to the core's ticks of `tick_ms` (rounded, kept in order) and back.
///@{
raft::Timeouts to_ticks(const TimeoutsMs& t, uint32_t tick_ms);
TimeoutsMs to_ms(const raft::Timeouts& t, uint32_t tick_ms);
///@}

}  // namespace node
