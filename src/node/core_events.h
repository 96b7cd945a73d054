// CoreEvents: the log lines and counters about what the consensus core did, read from its
// state after each round of the core thread: elections started and won, leader changes,
// stepping down, membership and timeout changes. The core stays pure (it never logs); the
// runtime observes its outputs instead.
#pragma once

#include <cstdint>

#include "node/node_metrics.h"
#include "raft/raft.h"

namespace node {

class CoreEvents {
 public:
  // `core` as the node opens it: what it holds already (a restored term, membership,
  // timeouts) is the starting point, not an event.
  // `metrics` (may be null: no counting) must outlive this.
  CoreEvents(const raft::Raft& core, uint32_t tick_ms, NodeMetrics* metrics = nullptr);

  // Core thread: logs each change since the last call, once.
  void observe(const raft::Raft& core);

 private:
  void observe_membership(const raft::Membership& m);

  void count(raft::Role role, raft::Term term, raft::NodeId leader);

  const uint32_t tick_ms_;
  NodeMetrics* const metrics_;
  raft::Role role_;
  raft::Term term_;
  raft::NodeId leader_;
  raft::NodeId last_leader_;  // the last leader known, kept through a "lost leader"
  raft::Membership membership_;
  raft::Timeouts timeouts_;
};

}  // namespace node
