/// @file
/// The runtime's metrics: what only the runtime sees happen (leader changes, elections,
/// fsync and snapshot durations, apply latency, proposals in flight, heartbeat round
/// trips). Gauges read from a status (indexes, terms, peers' progress) are the server's.
/// Names and buckets follow etcd's where etcd has the metric; docs/metrics.md lists them.
/// RaftNode::metrics() hands them out; they are on RaftNode::registry().
#pragma once

#include <chrono>

#include "metrics/registry.h"

namespace node {

/// One node's runtime metrics, each registered on the node's registry.
struct NodeMetrics {
  /// Registers every metric on `r`, which must outlive this.
  explicit NodeMetrics(metrics::Registry& r);

  metrics::Counter& leader_changes;      ///< a different leader (or none) became known
  metrics::Gauge& proposals_pending;     ///< client writes accepted and not yet answered
  metrics::Counter& proposals_failed;    ///< client writes answered with an error
  metrics::Counter& slow_applies;        ///< entries whose apply took over 100 ms
  metrics::Histogram& wal_fsync;         ///< one append + fsync of the log, seconds
  metrics::Histogram& snapshot_seconds;  ///< writing the state machine's snapshot into its file
  metrics::Histogram& commit_to_apply;   ///< from the core reporting an entry committed to applied
  metrics::Histogram& backend_commit;    ///< applying one Ready's committed entries
  metrics::Family<metrics::Histogram>& peer_rtt;  ///< heartbeat to its response, by peer {To}
  metrics::Counter& prevotes_started;             ///< pre-vote rounds this node began
  metrics::Counter& elections_started;            ///< elections this node began
  metrics::Counter& elections_won;                ///< elections this node won
  metrics::Counter& snapshots_taken;              ///< snapshots of the state machine written here
  metrics::Counter& snapshots_sent;               ///< snapshots sent to followers
  metrics::Counter& snapshots_installed;          ///< snapshots from the leader installed here
};

/// Seconds from `start` to now, for the histograms above.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace node
