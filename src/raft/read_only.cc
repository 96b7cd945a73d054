#include "raft/read_only.h"

#include <utility>

#include "raft/quorum.h"

namespace raft {

std::vector<ReadRequest> ReadOnly::take_deferred() { return std::exchange(deferred_, {}); }

void ReadOnly::add(ReadRequest request, LogIndex index) {
  pending_.push_back({.request = request, .index = index, .round = last_round_.next()});
  round_needed_ = true;
}

HeartbeatRound ReadOnly::start_round(uint64_t now) {
  last_round_ = last_round_.next();
  round_needed_ = false;
  sent_at_.push_back(now);
  if (sent_at_.size() > kRoundsRemembered) {
    sent_at_.pop_front();
  }
  return last_round_;
}

bool ReadOnly::acknowledge(NodeId from, HeartbeatRound round) {
  HeartbeatRound& acked = acknowledged_[from];
  if (round <= acked) {
    return false;
  }
  acked = round;
  return true;
}

HeartbeatRound ReadOnly::acknowledged_by_quorum(const Membership& m, NodeId self,
                                                HeartbeatRound self_round) const {
  return joint_acknowledged(m, [&](NodeId id) {
    if (id == self) return self_round;
    auto it = acknowledged_.find(id);
    return it == acknowledged_.end() ? HeartbeatRound() : it->second;
  });
}

std::vector<PendingRead> ReadOnly::take_confirmed(const Membership& m, NodeId self) {
  std::vector<PendingRead> confirmed;
  if (pending_.empty()) {
    return confirmed;
  }
  const HeartbeatRound round = acknowledged_by_quorum(m, self, last_round_.next());
  while (!pending_.empty() && pending_.front().round <= round) {
    confirmed.push_back(pending_.front());
    pending_.pop_front();
  }
  return confirmed;
}

bool ReadOnly::lease_valid(const Membership& m, NodeId self, uint64_t now,
                           uint64_t lease_ticks) const {
  // The lease runs from when the latest round a quorum answered was sent.
  const HeartbeatRound round = acknowledged_by_quorum(m, self, last_round_);
  const uint64_t age = last_round_.value() - round.value();  // rounds sent since
  if (round == HeartbeatRound() || age >= sent_at_.size()) {
    return false;  // none answered yet, or its send time is forgotten
  }
  const uint64_t sent = sent_at_[sent_at_.size() - 1 - age];
  return now < sent + lease_ticks;
}

std::vector<ReadRequest> ReadOnly::take_all() {
  std::vector<ReadRequest> all;
  all.reserve(pending_.size() + deferred_.size());
  for (const PendingRead& r : pending_) all.push_back(r.request);
  all.insert(all.end(), deferred_.begin(), deferred_.end());
  pending_.clear();
  deferred_.clear();
  return all;
}

}  // namespace raft
