// The health score: a pure function from what a member observes of itself to a score
// from 0 to 100 and the reasons it is lower, each naming its input and the threshold it
// crossed. docs/metrics.md gives the formula; health_test.cc is its table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace metrics {

// What the leader sees of one follower or learner.
struct PeerObservation {
  std::string id;               // as operators see it: 16 hex digits
  bool reachable = true;        // heard from within the last election timeout
  uint64_t behind = 0;          // the leader's last index minus the peer's match index
  bool needs_snapshot = false;  // its log starts after what the leader still holds
};

struct HealthInputs {
  bool leader_known = true;
  bool is_leader = false;
  // On the leader: a quorum of voters (itself included) heard from within the last
  // election timeout. Ignored on other members.
  bool quorum_active = true;
  std::vector<PeerObservation> peers;  // on the leader only
  // The 99th percentile of WAL fsync durations over the last window (0: none).
  double fsync_p99_seconds = 0;
  uint64_t apply_lag = 0;  // commit index minus applied index
  bool nospace_alarm = false;
  struct Queue {
    std::string name;
    uint64_t depth = 0;
  };
  std::vector<Queue> queues;
  // Requests the limiter refused per second over the last window: sustained refusals
  // mean clients are being turned away.
  double refusals_per_second = 0;
};

struct HealthThresholds {
  uint64_t peer_behind_entries = 1000;
  double fsync_p99_seconds = 1.0;  // etcd warns of a "slow fdatasync" beyond 1 s
  uint64_t apply_lag_entries = 1000;
  uint64_t queue_depth = 10000;
  double refusals_per_second = 10;
};

// The points each condition takes off 100 (the score never goes below 0). Losing the
// leader, the quorum or the space to write each cost half: such a member serves no write.
struct HealthPenalties {
  static constexpr uint32_t kNoLeader = 50;
  static constexpr uint32_t kNoQuorum = 50;
  static constexpr uint32_t kNospace = 50;
  static constexpr uint32_t kPeerUnreachable = 20;  // per peer
  static constexpr uint32_t kPeerBehind = 10;       // per peer (lagging or needing a snapshot)
  static constexpr uint32_t kSlowFsync = 20;
  static constexpr uint32_t kApplyLag = 20;
  static constexpr uint32_t kQueueDepth = 10;  // per queue
  static constexpr uint32_t kRefusals = 10;
};

struct HealthReason {
  std::string input;      // "leader", "quorum", "peer", "fsync_p99", "apply_lag", "alarm", "queue",
                          // "limits"
  std::string detail;     // what was seen, naming the peer or queue
  std::string threshold;  // the bound it crossed
  uint32_t penalty = 0;
};

struct HealthScore {
  uint32_t score = 100;
  std::vector<HealthReason> reasons;  // empty exactly when score is 100
};

HealthScore score_health(const HealthInputs& in, const HealthThresholds& limits = {});

}  // namespace metrics
