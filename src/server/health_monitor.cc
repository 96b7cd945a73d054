#include "server/health_monitor.h"

#include <cstdio>

#include "limits/limiter.h"
#include "node/raft_node.h"
#include "server/kv_state_machine.h"
#include "transport/grpc_transport.h"

namespace server {

std::string hex16(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

HealthMonitor::HealthMonitor(node::RaftNode* node, KvStateMachine* sm,
                             transport::GrpcTransport* transport, limits::Limiter* limiter,
                             metrics::HealthThresholds thresholds)
    : node_(node), sm_(sm), transport_(transport), limiter_(limiter), thresholds_(thresholds) {
  const auto now = std::chrono::steady_clock::now();
  refused_base_ = refused_next_ = {now, 0};
}

double HealthMonitor::refusals_per_second() {
  uint64_t total = 0;
  for (size_t i = 0; i < limits::kLimitCount; ++i) {
    total += limiter_->refused(static_cast<limits::Limit>(i));
  }
  const auto t = std::chrono::steady_clock::now();
  node::MutexLock lock(&mu_);
  if (t - refused_next_.first >= kFsyncWindow) {
    refused_base_ = refused_next_;
    refused_next_ = {t, total};
  }
  const double seconds = std::chrono::duration<double>(t - refused_base_.first).count();
  // Over at least a second, so a few refusals just after a window starts are no rate.
  return static_cast<double>(total - refused_base_.second) / std::max(seconds, 1.0);
}

double HealthMonitor::fsync_p99() {
  const metrics::Histogram::Snapshot now = node_->metrics().wal_fsync.snapshot();
  const auto t = std::chrono::steady_clock::now();
  node::MutexLock lock(&mu_);
  if (next_.counts.empty()) {  // the first call: the window starts at the process start
    base_ = metrics::Histogram::Snapshot{.bounds = now.bounds,
                                         .counts = std::vector<uint64_t>(now.counts.size()),
                                         .sum = 0,
                                         .count = 0};
    next_ = now;
    next_at_ = t;
  } else if (t - next_at_ >= kFsyncWindow) {
    base_ = std::move(next_);
    next_ = now;
    next_at_ = t;
  }
  return now.since(base_).quantile_bound(0.99);
}

metrics::HealthInputs HealthMonitor::observe_recent() {
  const auto now = std::chrono::steady_clock::now();
  {
    node::MutexLock lock(&mu_);
    if (last_at_ != std::chrono::steady_clock::time_point{} && now - last_at_ < kReuseFor) {
      return last_;
    }
  }
  metrics::HealthInputs in = observe();
  node::MutexLock lock(&mu_);
  last_ = in;
  last_at_ = now;
  return in;
}

metrics::HealthInputs HealthMonitor::observe() {
  const node::NodeState st = node_->status();
  metrics::HealthInputs in;
  in.leader_known = st.core.leader != raft::NodeId();
  in.is_leader = st.core.role == raft::Role::kLeader;
  // Heard from within the longest election timeout: what CheckQuorum allows (thesis 6.2).
  const auto horizon = node::Clock::now() - std::chrono::milliseconds(st.timeouts.election_max_ms);
  auto heard = [&](raft::NodeId id) {
    if (id == st.core.id) return true;
    auto it = st.last_heard.find(id);
    return it != st.last_heard.end() && it->second >= horizon;
  };
  size_t voters = 0, active = 0;
  for (raft::NodeId v : st.membership.voters) {
    ++voters;
    if (heard(v)) ++active;
  }
  in.quorum_active = voters == 0 || active > voters / 2;
  for (const raft::PeerStatus& p : st.core.peers) {
    if (p.id == st.core.id) continue;
    in.peers.push_back(metrics::PeerObservation{
        .id = hex16(p.id.value()),
        .reachable = heard(p.id),
        .behind = st.core.last_index > p.match ? st.core.last_index.value() - p.match.value() : 0,
        .needs_snapshot = p.state == raft::ProgressState::kSnapshot});
  }
  in.fsync_p99_seconds = fsync_p99();
  in.refusals_per_second = refusals_per_second();
  in.apply_lag = st.core.commit > st.applied ? st.core.commit.value() - st.applied.value() : 0;
  for (const auto& a : sm_->alarms()) {
    if (a.alarm() == etcdserverpb::AlarmType::NOSPACE) in.nospace_alarm = true;
  }
  const node::QueueDepths q = node_->queue_depths();
  in.queues = {{.name = "core", .depth = q.core},
               {.name = "storage", .depth = q.storage},
               {.name = "apply", .depth = q.apply},
               {.name = "peer_send", .depth = transport_->queued_messages()}};
  return in;
}

}  // namespace server
