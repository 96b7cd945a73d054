#include "raft/config.h"

#include <string>

namespace raft {

Error validate(const Timeouts& t, uint32_t max_election_ticks) {
  auto invalid = [](std::string what) {
    return Error(ErrorCode::kInvalidArgument, std::move(what));
  };
  if (t.heartbeat_ticks < 1) {
    return invalid("heartbeat_ticks is 0; it must be at least 1");
  }
  if (t.election_min_ticks <= t.heartbeat_ticks) {
    return invalid("election_min_ticks " + std::to_string(t.election_min_ticks) +
                   " must be greater than heartbeat_ticks " + std::to_string(t.heartbeat_ticks));
  }
  if (t.election_max_ticks <= t.election_min_ticks) {
    return invalid("election_max_ticks " + std::to_string(t.election_max_ticks) +
                   " must be greater than election_min_ticks " +
                   std::to_string(t.election_min_ticks));
  }
  if (t.election_max_ticks > max_election_ticks) {
    return invalid("election_max_ticks " + std::to_string(t.election_max_ticks) +
                   " is above the configured bound " + std::to_string(max_election_ticks));
  }
  return Error::ok();
}

Error validate(const Config& c) {
  if (c.id == kNoNode) {
    return Error(ErrorCode::kInvalidArgument, "node id 0 is reserved; ids start at 1");
  }
  if (Error e = validate(c.timeouts, c.max_election_ticks); !e.is_ok()) {
    return e;
  }
  if (c.lease_reads && !c.check_quorum) {
    return Error(ErrorCode::kInvalidArgument, "lease_reads requires check_quorum");
  }
  if (c.lease_reads && c.lease_drift_ticks >= c.timeouts.election_min_ticks) {
    return Error(ErrorCode::kInvalidArgument, "lease_drift_ticks " +
                                                  std::to_string(c.lease_drift_ticks) +
                                                  " must be below election_min_ticks " +
                                                  std::to_string(c.timeouts.election_min_ticks));
  }
  if (c.max_inflight_msgs < 1) {
    return Error(ErrorCode::kInvalidArgument, "max_inflight_msgs is 0; it must be at least 1");
  }
  if (c.max_msg_bytes < 1 || c.max_inflight_bytes < 1 || c.max_apply_bytes < 1) {
    return Error(ErrorCode::kInvalidArgument,
                 "max_msg_bytes, max_inflight_bytes and max_apply_bytes must be at least 1");
  }
  return Error::ok();
}

}  // namespace raft
