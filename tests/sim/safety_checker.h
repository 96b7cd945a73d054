// Checks Raft's safety properties (paper Figure 3) over a running cluster, after
// every step: Election Safety, Leader Append-Only, Log Matching, Leader
// Completeness and State Machine Safety, plus that terms, votes within a term,
// commit and applied indexes never go backwards on a node. It looks only at what
// each node exposes, never trusts the core's own bookkeeping, and keeps the cost of
// a check proportional to what changed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "raft/raft.h"
#include "raft/raft_log.h"
#include "raft/types.h"

namespace sim {

// What the checker sees of one node at one moment.
struct NodeView {
  raft::NodeId id;
  raft::Role role = raft::Role::kFollower;
  raft::Term term;
  raft::NodeId vote;
  const raft::RaftLog* log = nullptr;
};

NodeView view_of(const raft::Raft& r);

// A digest of an entry's identity and content.
uint64_t entry_digest(const raft::Entry& e);

class SafetyChecker {
 public:
  // Call after every step that touched node `v.id`. Returns a description of the
  // first violation found, or nullopt.
  std::optional<std::string> observe(const NodeView& v);
  // The node applied `e` to its state machine.
  std::optional<std::string> on_apply(raft::NodeId id, const raft::Entry& e);
  // The node crashed and restarts from its disk: in-memory positions start over.
  void on_restart(raft::NodeId id);
  // The node's state machine was replaced by a snapshot covering up to `index`.
  void on_snapshot_installed(raft::NodeId id, raft::LogIndex index);
  // The durable hard state of a node was rewritten: terms never go backwards and a
  // vote, once durable, never changes within its term.
  std::optional<std::string> on_durable_hard_state(raft::NodeId id, const raft::HardState& before,
                                                   const raft::HardState& after);

  // Entries known committed, by index (1-based; committed()[0] is index 1).
  size_t committed_count() const { return committed_.size(); }
  uint64_t committed_digest(raft::LogIndex i) const { return committed_.at(i.value() - 1); }
  uint64_t applied_digest(raft::LogIndex i) const;
  size_t leaders_seen() const { return leaders_.size(); }

 private:
  struct Known {
    uint64_t digest;
    raft::Term prev_term;
  };
  struct PerNode {
    raft::Term term;
    raft::NodeId vote;
    raft::Role role = raft::Role::kFollower;
    raft::LogIndex commit;
    raft::LogIndex applied;  // the core's (observe)
    // The state machine's (on_apply, on_snapshot_installed): behind the core's while the
    // node applies behind it.
    raft::LogIndex sm_applied;
    // What the checker last saw of the node's log: (term, digest) by index - 1.
    std::vector<std::pair<raft::Term, uint64_t>> mirror;
    raft::LogIndex checked_commit;  // entries up to here were checked as committed
  };

  std::map<raft::NodeId, PerNode> nodes_;
  std::map<raft::Term, raft::NodeId> leaders_;                      // Election Safety
  std::map<std::pair<raft::LogIndex, raft::Term>, Known> entries_;  // Log Matching
  std::vector<uint64_t> committed_;                                 // Leader Completeness
  std::vector<raft::Term> committed_in_;  // the term in which each index was first seen committed
  std::vector<uint64_t> applied_;         // State Machine Safety
};

}  // namespace sim
