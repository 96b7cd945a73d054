// The health monitor: gathers what the health score needs (metrics/health.h) from the
// node, the state machine and the transport, and scores it. /health?verbose, the Admin
// Health call, /metrics and the status page all ask it.
#pragma once

#include <chrono>
#include <string>

#include "metrics/health.h"
#include "metrics/registry.h"
#include "node/mutex.h"

namespace node {
class RaftNode;
}
namespace transport {
class GrpcTransport;
}
namespace limits {
class Limiter;
}

namespace server {

class KvStateMachine;

class HealthMonitor {
 public:
  HealthMonitor(node::RaftNode* node, KvStateMachine* sm, transport::GrpcTransport* transport,
                limits::Limiter* limiter, metrics::HealthThresholds thresholds = {});

  // This member's observations now. Any thread.
  metrics::HealthInputs observe();
  metrics::HealthScore evaluate() { return metrics::score_health(observe(), thresholds_); }
  // The same, from an observation at most kReuseFor old: one /metrics scrape asks four
  // times (the score, the penalties, the fsync p99, the queues) and gathers them once.
  metrics::HealthInputs observe_recent();
  metrics::HealthScore evaluate_recent() {
    return metrics::score_health(observe_recent(), thresholds_);
  }

  // How far back the fsync p99 looks: between one and two windows.
  static constexpr std::chrono::seconds kFsyncWindow{30};
  static constexpr std::chrono::milliseconds kReuseFor{100};

 private:
  double fsync_p99();
  double refusals_per_second();

  node::RaftNode* const node_;
  KvStateMachine* const sm_;
  transport::GrpcTransport* const transport_;
  limits::Limiter* const limiter_;
  const metrics::HealthThresholds thresholds_;

  node::Mutex mu_;
  // Two fsync histogram snapshots, the older at least one window old once it exists:
  // the p99 is taken over what was observed since `base_`.
  metrics::Histogram::Snapshot base_ ABSL_GUARDED_BY(mu_);
  metrics::Histogram::Snapshot next_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point next_at_ ABSL_GUARDED_BY(mu_);
  // The same two-slot window for the limiter's refusals: (when, total refused then).
  std::pair<std::chrono::steady_clock::time_point, uint64_t> refused_base_ ABSL_GUARDED_BY(mu_);
  std::pair<std::chrono::steady_clock::time_point, uint64_t> refused_next_ ABSL_GUARDED_BY(mu_);
  // The last observation and when it was made (the epoch: none yet).
  metrics::HealthInputs last_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_at_ ABSL_GUARDED_BY(mu_){};
};

// "8e9e05c52164694d": member ids as etcd prints them.
std::string hex16(uint64_t id);

}  // namespace server
