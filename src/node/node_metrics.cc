#include "node/node_metrics.h"

namespace node {

using metrics::exponential_buckets;

NodeMetrics::NodeMetrics(metrics::Registry& r)
    : leader_changes(
          r.counter("etcd_server_leader_changes_seen_total", "The number of leader changes seen.")),
      proposals_pending(r.gauge("etcd_server_proposals_pending",
                                "The current number of pending proposals to commit.")),
      proposals_failed(r.counter("etcd_server_proposals_failed_total",
                                 "The total number of failed proposals seen.")),
      slow_applies(r.counter("etcd_server_slow_apply_total",
                             "The total number of slow apply requests (likely overloaded from "
                             "slow disk).")),
      wal_fsync(r.histogram("etcd_disk_wal_fsync_duration_seconds",
                            "The latency distributions of fsync called by WAL.",
                            exponential_buckets(0.001, 2, 14))),
      snapshot_seconds(r.histogram("etcd_disk_backend_snapshot_duration_seconds",
                                   "The latency distribution of backend snapshots.",
                                   exponential_buckets(0.01, 2, 17))),
      commit_to_apply(r.histogram("raftkv_server_commit_to_apply_seconds",
                                  "Time from the core reporting an entry committed to the state "
                                  "machine having applied it.",
                                  exponential_buckets(0.0001, 2, 16))),
      backend_commit(r.histogram("etcd_disk_backend_commit_duration_seconds",
                                 "The latency distributions of commit called by backend (raftkv: "
                                 "applying one batch of committed entries to the store).",
                                 exponential_buckets(0.001, 2, 14))),
      peer_rtt(r.histogram_family("etcd_network_peer_round_trip_time_seconds",
                                  "Round-Trip-Time histogram between peers (a heartbeat and its "
                                  "response, measured on the leader).",
                                  {"To"}, exponential_buckets(0.0001, 2, 14))),
      prevotes_started(r.counter("raftkv_raft_prevotes_started_total",
                                 "Pre-vote rounds this member started (thesis 9.6).")),
      elections_started(
          r.counter("raftkv_raft_elections_started_total", "Elections this member started.")),
      elections_won(r.counter("raftkv_raft_elections_won_total",
                              "Elections this member won (it became leader).")),
      snapshots_taken(r.counter("raftkv_snapshots_taken_total",
                                "Snapshots of the state machine taken here (log compaction).")),
      snapshots_sent(r.counter("raftkv_snapshots_sent_total",
                               "Snapshots sent to followers too far behind (InstallSnapshot).")),
      snapshots_installed(r.counter("raftkv_snapshots_installed_total",
                                    "Snapshots from the leader installed here.")) {}

}  // namespace node
