#include "metrics/health.h"

#include <cstdio>

namespace metrics {
namespace {

std::string fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

HealthScore score_health(const HealthInputs& in, const HealthThresholds& limits) {
  HealthScore out;
  auto reason = [&out](std::string input, std::string detail, std::string threshold,
                       uint32_t penalty) {
    out.reasons.push_back(HealthReason{.input = std::move(input),
                                       .detail = std::move(detail),
                                       .threshold = std::move(threshold),
                                       .penalty = penalty});
  };
  using P = HealthPenalties;
  if (!in.leader_known) reason("leader", "no leader known", "a leader known", P::kNoLeader);
  if (in.is_leader && !in.quorum_active) {
    reason("quorum", "a quorum of voters was not heard from within an election timeout",
           "a quorum heard from within an election timeout", P::kNoQuorum);
  }
  if (in.nospace_alarm) {
    reason("alarm", "NOSPACE alarm raised: the store exceeded its quota", "no alarm", P::kNospace);
  }
  if (in.is_leader) {
    for (const PeerObservation& p : in.peers) {
      if (!p.reachable) {
        reason("peer", "peer " + p.id + " unreachable", "heard from within an election timeout",
               P::kPeerUnreachable);
      } else if (p.needs_snapshot) {
        reason("peer", "peer " + p.id + " needs a snapshot", "catching up from the log",
               P::kPeerBehind);
      } else if (p.behind > limits.peer_behind_entries) {
        reason("peer", "peer " + p.id + " is " + std::to_string(p.behind) + " entries behind",
               "at most " + std::to_string(limits.peer_behind_entries) + " entries",
               P::kPeerBehind);
      }
    }
  }
  if (in.fsync_p99_seconds > limits.fsync_p99_seconds) {
    reason("fsync_p99", "WAL fsync p99 " + fixed(in.fsync_p99_seconds) + " s",
           "at most " + fixed(limits.fsync_p99_seconds) + " s", P::kSlowFsync);
  }
  if (in.apply_lag > limits.apply_lag_entries) {
    reason("apply_lag", "applied index " + std::to_string(in.apply_lag) + " entries behind commit",
           "at most " + std::to_string(limits.apply_lag_entries) + " entries", P::kApplyLag);
  }
  for (const HealthInputs::Queue& q : in.queues) {
    if (q.depth > limits.queue_depth) {
      reason("queue", q.name + " queue holds " + std::to_string(q.depth) + " items",
             "at most " + std::to_string(limits.queue_depth), P::kQueueDepth);
    }
  }
  if (in.refusals_per_second > limits.refusals_per_second) {
    reason("limits", "the limiter refuses " + fixed(in.refusals_per_second) + " requests/s",
           "at most " + fixed(limits.refusals_per_second) + "/s", P::kRefusals);
  }
  uint32_t lost = 0;
  for (const HealthReason& r : out.reasons) lost += r.penalty;
  out.score = lost >= 100 ? 0 : 100 - lost;
  return out;
}

}  // namespace metrics
