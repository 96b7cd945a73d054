// CoreEvents: the log lines about what the consensus core did, read from its state after
// each round of the core thread: elections started and won, leader changes, stepping
// down, membership and timeout changes. The core stays pure (it never logs); the
// runtime observes its outputs instead.
#pragma once

#include <cstdint>

#include "raft/raft.h"

namespace node {

class CoreEvents {
 public:
  // `core` as the node opens it: what it holds already (a restored term, membership,
  // timeouts) is the starting point, not an event.
  CoreEvents(const raft::Raft& core, uint32_t tick_ms);

  // Core thread: logs each change since the last call, once.
  void observe(const raft::Raft& core);

 private:
  void observe_membership(const raft::Membership& m);

  const uint32_t tick_ms_;
  raft::Role role_;
  raft::Term term_;
  raft::NodeId leader_;
  raft::NodeId last_leader_;  // the last leader known, kept through a "lost leader"
  raft::Membership membership_;
  raft::Timeouts timeouts_;
};

}  // namespace node
