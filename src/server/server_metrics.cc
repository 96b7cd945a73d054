#include "server/server_metrics.h"

#include "limits/limiter.h"
#include "node/raft_node.h"
#include "server/health_monitor.h"
#include "server/kv_state_machine.h"

namespace server {
namespace {

using metrics::Sample;
using metrics::Type;

std::vector<Sample> one(double v) { return {Sample{.labels = {}, .value = v}}; }

void register_raft_state(metrics::Registry& r, node::RaftNode* node, KvStateMachine* sm) {
  r.callback("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.",
             Type::kGauge, [node] { return one(node->leader() != raft::NodeId() ? 1 : 0); });
  r.callback("etcd_server_is_leader",
             "Whether or not this member is a leader. 1 if is, 0 otherwise.", Type::kGauge,
             [node] { return one(node->is_leader() ? 1 : 0); });
  r.callback("etcd_server_is_learner",
             "Whether or not this member is a learner. 1 if is, 0 otherwise.", Type::kGauge,
             [sm] { return one(sm->self_is_learner() ? 1 : 0); });
  const std::string id = hex16(node->id().value());
  r.callback("etcd_server_id",
             "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
             Type::kGauge, [id] {
               return std::vector<Sample>{{.labels = {{"server_id", id}}, .value = 1}};
             });
  r.callback("etcd_server_proposals_committed_total",
             "The total number of consensus proposals committed.", Type::kGauge,
             [node] { return one(double(node->status().core.commit.value())); });
  r.callback("etcd_server_proposals_applied_total",
             "The total number of consensus proposals applied.", Type::kGauge,
             [node] { return one(double(node->status().applied.value())); });
  r.callback("raftkv_raft_term", "The current Raft term.", Type::kGauge,
             [node] { return one(double(node->term().value())); });
  r.callback("raftkv_raft_commit_index", "The highest log index known committed.", Type::kGauge,
             [node] { return one(double(node->status().core.commit.value())); });
  r.callback("raftkv_raft_applied_index", "The highest log index applied here.", Type::kGauge,
             [node] { return one(double(node->status().applied.value())); });
  r.callback("raftkv_raft_last_index", "The last index in this member's log.", Type::kGauge,
             [node] { return one(double(node->status().core.last_index.value())); });
  r.callback("raftkv_snapshot_index", "The index the latest snapshot covers.", Type::kGauge,
             [node] { return one(double(node->status().snapshot_index.value())); });
  r.callback("raftkv_wal_fsyncs_total", "WAL fsyncs since start.", Type::kCounter,
             [node] { return one(double(node->status().wal_syncs)); });
}

// On the leader: each follower's and learner's replication progress (none elsewhere).
void register_peers(metrics::Registry& r, node::RaftNode* node) {
  auto per_peer = [node](auto value) {
    return [node, value] {
      const node::NodeState st = node->status();
      std::vector<Sample> out;
      for (const raft::PeerStatus& p : st.core.peers) {
        if (p.id == st.core.id) continue;
        out.push_back({.labels = {{"peer", hex16(p.id.value())}}, .value = value(st, p)});
      }
      return out;
    };
  };
  r.callback("raftkv_peer_match_index",
             "On the leader: the highest index known replicated on each peer.", Type::kGauge,
             per_peer([](const node::NodeState&, const raft::PeerStatus& p) {
               return double(p.match.value());
             }));
  r.callback("raftkv_peer_next_index", "On the leader: the next index to send to each peer.",
             Type::kGauge, per_peer([](const node::NodeState&, const raft::PeerStatus& p) {
               return double(p.next.value());
             }));
  r.callback(
      "raftkv_peer_lag_entries", "On the leader: its last index minus each peer's match index.",
      Type::kGauge, per_peer([](const node::NodeState& st, const raft::PeerStatus& p) {
        return st.core.last_index > p.match ? double(st.core.last_index.value() - p.match.value())
                                            : 0.0;
      }));
  r.callback("raftkv_peer_needs_snapshot",
             "On the leader: 1 for each peer being sent a snapshot (too far behind the log).",
             Type::kGauge, per_peer([](const node::NodeState&, const raft::PeerStatus& p) {
               return p.state == raft::ProgressState::kSnapshot ? 1.0 : 0.0;
             }));
}

void register_drops_and_queues(metrics::Registry& r, node::RaftNode* node, HealthMonitor* health) {
  r.callback("raftkv_raft_dropped_messages_total",
             "Peer messages the core did not act on, by reason.", Type::kCounter, [node] {
               const raft::DropCounters d = node->status().drops;
               auto s = [](const char* reason, uint64_t v) {
                 return Sample{.labels = {{"reason", reason}}, .value = double(v)};
               };
               return std::vector<Sample>{
                   s("wrong_recipient", d.wrong_recipient), s("malformed", d.malformed),
                   s("stale_term", d.stale_term), s("unexpected", d.unexpected),
                   s("vote_in_lease", d.vote_in_lease)};
             });
  r.callback("raftkv_overload_total",
             "Work this member turned away to bound its memory (node::OverloadBounds): peer "
             "messages dropped and requests refused with 'too many requests', by reason.",
             Type::kCounter, [node] {
               const node::OverloadCounters o = node->status().overload;
               auto s = [](const char* what, const char* reason, uint64_t v) {
                 return Sample{.labels = {{"what", what}, {"reason", reason}}, .value = double(v)};
               };
               return std::vector<Sample>{s("peer_message", "queue_full", o.dropped_messages),
                                          s("request", "queue_full", o.refused_queue_full),
                                          s("request", "apply_lag", o.refused_apply_lag)};
             });
  r.callback("raftkv_malformed_proposals_total",
             "Proposals forwarded by peers that could not be read (never appended).",
             Type::kCounter, [node] { return one(double(node->status().malformed_proposals)); });
  r.callback("raftkv_writes_lost_with_leader_total",
             "Writes of this member found in no log once an entry of a later term applied "
             "(their leader lost them); each is sent again to the new leader if its deadline "
             "allows.",
             Type::kCounter,
             [node] { return one(double(node->status().writes_lost_with_leader)); });
  r.callback("raftkv_queue_depth", "Items waiting in each runtime queue.", Type::kGauge, [health] {
    std::vector<Sample> out;
    for (const auto& q : health->observe_recent().queues) {
      out.push_back({.labels = {{"queue", q.name}}, .value = double(q.depth)});
    }
    return out;
  });
}

void register_health(metrics::Registry& r, HealthMonitor* health) {
  r.callback("raftkv_health_score",
             "This member's health score, 0 to 100 (docs/metrics.md gives the formula).",
             Type::kGauge, [health] { return one(health->evaluate_recent().score); });
  r.callback("raftkv_health_penalty",
             "Points each health input takes off the score now (0 when it is fine).", Type::kGauge,
             [health] {
               const metrics::HealthScore s = health->evaluate_recent();
               std::vector<Sample> out;
               for (const char* input : {"leader", "quorum", "alarm", "peer", "fsync_p99",
                                         "apply_lag", "queue", "limits"}) {
                 double points = 0;
                 for (const auto& reason : s.reasons) {
                   if (reason.input == input) points += reason.penalty;
                 }
                 out.push_back({.labels = {{"input", input}}, .value = points});
               }
               return out;
             });
  r.callback("raftkv_health_fsync_p99_seconds",
             "The WAL fsync p99 the health score uses (the last 30 to 60 s).", Type::kGauge,
             [health] { return one(health->observe_recent().fsync_p99_seconds); });
}

void register_store(metrics::Registry& r, KvStateMachine* sm, int64_t quota) {
  r.callback("etcd_server_quota_backend_bytes", "Current backend storage quota size in bytes.",
             Type::kGauge, [quota] { return one(double(quota)); });
  r.callback("etcd_mvcc_db_total_size_in_bytes",
             "Total size of the underlying database physically allocated in bytes (raftkv: "
             "the bytes the quota counts).",
             Type::kGauge, [sm] { return one(double(sm->size_bytes())); });
  r.callback("etcd_debugging_mvcc_db_total_size_in_bytes",
             "Total size of the underlying database physically allocated in bytes (etcd 3.4's "
             "dashboards read this name).",
             Type::kGauge, [sm] { return one(double(sm->size_bytes())); });
  r.callback("etcd_debugging_mvcc_keys_total", "Total number of keys.", Type::kGauge,
             [sm] { return one(double(sm->key_count())); });
  r.callback("etcd_debugging_mvcc_current_revision", "The current revision of store.", Type::kGauge,
             [sm] { return one(double(sm->revision())); });
  r.callback("raftkv_mvcc_revision", "The store's current revision.", Type::kGauge,
             [sm] { return one(double(sm->revision())); });
  const KvStateMachine::OpCounts* ops = &sm->op_counts();
  auto counter = [&r](const char* name, const char* help, const std::atomic<uint64_t>* v) {
    r.callback(name, help, Type::kCounter, [v] { return one(double(v->load())); });
  };
  counter("etcd_mvcc_put_total", "Total number of puts seen by this member.", &ops->put);
  counter("etcd_mvcc_range_total", "Total number of ranges seen by this member.", &ops->range);
  counter("etcd_mvcc_delete_total", "Total number of deletes seen by this member.",
          &ops->delete_range);
  counter("etcd_mvcc_txn_total", "Total number of txns seen by this member.", &ops->txn);
}

void register_limits(metrics::Registry& r, limits::Limiter* l) {
  r.callback("raftkv_limits_admitted_total", "Requests the limiter admitted.", Type::kCounter,
             [l] { return one(double(l->admitted())); });
  r.callback("raftkv_limits_refused_total", "Requests the limiter refused, by the limit hit.",
             Type::kCounter, [l] {
               std::vector<Sample> out;
               for (size_t i = 0; i < limits::kLimitCount; ++i) {
                 const auto limit = static_cast<limits::Limit>(i);
                 out.push_back({.labels = {{"limit", limits::limit_name(limit)}},
                                .value = double(l->refused(limit))});
               }
               return out;
             });
  r.callback("raftkv_limits_in_flight_requests",
             "Requests admitted and not yet answered, all clients together.", Type::kGauge,
             [l] { return one(double(l->member_usage().in_flight)); });
  r.callback("raftkv_limits_in_flight_bytes",
             "Bytes of requests admitted and not yet answered, all clients together.", Type::kGauge,
             [l] { return one(double(l->member_usage().bytes)); });
}

// What the member holds in memory, by holder: the data (the store, the log since the last
// snapshot, snapshots) and the requests in flight. RSS beyond their sum is the process
// itself, gRPC's buffers and what the allocator keeps.
void register_memory(metrics::Registry& r, node::RaftNode* node, KvStateMachine* sm,
                     limits::Limiter* l) {
  r.callback(
      "raftkv_memory_held_bytes",
      "Bytes the member holds, by holder: store (the MVCC data the quota counts), log (entries "
      "since the last snapshot), snapshot (the newest, kept for followers), incoming_snapshot "
      "(received, not yet installed), requests (admitted, not yet answered).",
      Type::kGauge, [node, sm, l] {
        const node::MemoryHeld m = node->status().memory;
        return std::vector<Sample>{
            {.labels = {{"holder", "store"}}, .value = double(sm->size_bytes())},
            {.labels = {{"holder", "log"}}, .value = double(m.log_bytes)},
            {.labels = {{"holder", "snapshot"}}, .value = double(m.snapshot_bytes)},
            {.labels = {{"holder", "incoming_snapshot"}},
             .value = double(m.incoming_snapshot_bytes)},
            {.labels = {{"holder", "requests"}}, .value = double(l->member_usage().bytes)}};
      });
}

}  // namespace

void register_server_metrics(metrics::Registry& r, MetricSources s) {
  register_raft_state(r, s.node, s.sm);
  register_peers(r, s.node);
  register_drops_and_queues(r, s.node, s.health);
  register_health(r, s.health);
  register_store(r, s.sm, s.quota_backend_bytes);
  register_limits(r, s.limiter);
  register_memory(r, s.node, s.sm, s.limiter);
}

}  // namespace server
