// The metrics the server reads at scrape time: etcd's server, mvcc and quota gauges,
// raftkv's Raft state, per-peer progress on the leader, the core's drop counters, queue
// depths and the health score. The runtime's and the transport's own metrics register
// themselves (node_metrics.h, grpc_transport.h); docs/metrics.md lists them all.
#pragma once

#include "metrics/registry.h"

namespace node {
class RaftNode;
}

namespace limits {
class Limiter;
}

namespace server {

class KvStateMachine;
class HealthMonitor;

struct MetricSources {
  node::RaftNode* node;
  KvStateMachine* sm;
  HealthMonitor* health;
  int64_t quota_backend_bytes;
  limits::Limiter* limiter;
};

void register_server_metrics(metrics::Registry& r, MetricSources s);

}  // namespace server
