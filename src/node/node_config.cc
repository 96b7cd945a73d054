#include "node/node_config.h"

#include <algorithm>
#include <string>

namespace node {
namespace {

std::string n(uint64_t v) { return std::to_string(v); }

}  // namespace

absl::Status validate(const TimeoutsMs& t, uint32_t tick_ms) {
  if (t.heartbeat_ms < tick_ms) {
    return absl::InvalidArgumentError("heartbeat interval " + n(t.heartbeat_ms) +
                                      " ms is shorter than a tick (" + n(tick_ms) + " ms)");
  }
  // etcd's rule: a follower must miss several heartbeats before it may start an election,
  // or one slow fsync under load deposes a healthy leader (an election timeout of twice
  // the heartbeat did exactly that).
  if (t.election_min_ms < kMinElectionHeartbeatRatio * uint64_t{t.heartbeat_ms}) {
    return absl::InvalidArgumentError("election timeout " + n(t.election_min_ms) +
                                      " ms must be at least " + n(kMinElectionHeartbeatRatio) +
                                      " times the heartbeat interval (" + n(t.heartbeat_ms) +
                                      " ms), as etcd requires");
  }
  if (t.election_max_ms < t.election_min_ms + tick_ms) {
    return absl::InvalidArgumentError("election timeout range [" + n(t.election_min_ms) + ", " +
                                      n(t.election_max_ms) + "] ms must span at least one tick (" +
                                      n(tick_ms) + " ms)");
  }
  if (t.election_max_ms > kMaxElectionMs) {
    return absl::InvalidArgumentError("election timeout " + n(t.election_max_ms) +
                                      " ms is above the limit of " + n(kMaxElectionMs) + " ms");
  }
  return absl::OkStatus();
}

raft::Timeouts to_ticks(const TimeoutsMs& t, uint32_t tick) {
  raft::Timeouts r;
  r.heartbeat_ticks = std::max<uint32_t>(1, (t.heartbeat_ms + tick / 2) / tick);
  r.election_min_ticks = std::max(r.heartbeat_ticks + 1, (t.election_min_ms + tick / 2) / tick);
  r.election_max_ticks = std::max(r.election_min_ticks + 1, (t.election_max_ms + tick / 2) / tick);
  return r;
}

TimeoutsMs to_ms(const raft::Timeouts& t, uint32_t tick) {
  return TimeoutsMs{t.heartbeat_ticks * tick, t.election_min_ticks * tick,
                    t.election_max_ticks * tick};
}

absl::Status validate(const NodeConfig& c) {
  if (c.id == raft::kNoNode) return absl::InvalidArgumentError("node id must not be 0");
  if (c.name.empty()) return absl::InvalidArgumentError("name must not be empty");
  if (c.data_dir.empty()) return absl::InvalidArgumentError("data-dir must not be empty");
  if (c.tick_ms < kMinTickMs || c.tick_ms > kMaxTickMs) {
    return absl::InvalidArgumentError("tick " + n(c.tick_ms) + " ms is out of range [" +
                                      n(kMinTickMs) + ", " + n(kMaxTickMs) + "]");
  }
  if (absl::Status s = validate(c.timeouts, c.tick_ms); !s.ok()) return s;
  if (!c.bootstrap.voters.empty() && !c.bootstrap.voters.contains(c.id)) {
    return absl::InvalidArgumentError("the initial cluster does not contain this node (id " +
                                      n(c.id.value()) + ", name " + c.name + ")");
  }
  if (c.max_inflight_appends < 1 || c.max_inflight_appends > kMaxInflightAppends) {
    return absl::InvalidArgumentError("max-inflight-appends " + n(c.max_inflight_appends) +
                                      " is out of range [1, " + n(kMaxInflightAppends) + "]");
  }
  if (c.snapshot_log_percent > kMaxSnapshotLogPercent) {
    return absl::InvalidArgumentError("snapshot-log-percent " + n(c.snapshot_log_percent) +
                                      " is out of range [0, " + n(kMaxSnapshotLogPercent) + "]");
  }
  if (c.max_request_bytes == 0) {
    return absl::InvalidArgumentError("max-request-bytes must be above 0");
  }
  if (c.max_append_bytes == 0) {
    return absl::InvalidArgumentError("max_append_bytes (entry bytes per append) must be above 0");
  }
  if (c.overload.max_queued_tasks == 0 || c.overload.max_queued_bytes == 0) {
    return absl::InvalidArgumentError("the core queue's bounds must be above 0");
  }
  return absl::OkStatus();
}

}  // namespace node
