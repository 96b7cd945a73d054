// The cluster configuration along the log: which membership and which timeouts were
// in force at each index this node holds, so that a snapshot records the configuration
// at its own index (thesis 5.1) and a truncated suffix takes its memberships with it.
#pragma once

#include <map>

#include "raft/config.h"
#include "raft/types.h"

namespace raft {

// A membership is in force from the moment its entry is appended (thesis 4.1); new
// timeouts from the moment their entry is applied on this node. Both are recorded by
// index, on top of a base: the configuration in force at base_index(), the last index
// folded into a snapshot (0 for a log that was never compacted).
class ConfigHistory {
 public:
  ConfigHistory(LogIndex base_index, Membership membership, Timeouts timeouts);

  // The configuration in force at `index`: that of the last entry at or before it,
  // or the base. Requires index >= base_index() (earlier ones are forgotten).
  const Membership& membership_at(LogIndex index) const;
  const Timeouts& timeouts_at(LogIndex index) const;

  // The latest membership in the log: the one in force now (thesis 4.1).
  const Membership& latest_membership() const;
  // The index of the entry that set latest_membership(); base_index() when that entry
  // is folded into the snapshot (a compacted configuration is committed).
  LogIndex latest_membership_index() const;
  LogIndex base_index() const { return base_index_; }

  // A membership entry at `index`, after every one recorded, was appended.
  void append_membership(LogIndex index, Membership membership);
  // The log from `index` on was replaced: the memberships appended there are gone.
  // Returns whether any was.
  bool truncate_from(LogIndex index);
  // A timeouts entry at `index`, after every one recorded, was applied.
  void apply_timeouts(LogIndex index, Timeouts timeouts);

  // The log up to `index` (>= base_index()) is folded into a snapshot that records
  // `membership` and `timeouts`: they become the base; later entries stay.
  void compact_to(LogIndex index, Membership membership, Timeouts timeouts);
  // The whole log is replaced by a snapshot ending at `index` that records `membership`
  // and `timeouts` (a follower installing the leader's snapshot): nothing else stays.
  void reset(LogIndex index, Membership membership, Timeouts timeouts);

 private:
  // The one lookup every query above shares: the value of the last entry at or before
  // `index` in `by_index`, or `base`.
  template <typename T>
  static const T& in_force_at(const std::map<LogIndex, T>& by_index, const T& base, LogIndex index);

  LogIndex base_index_;
  Membership base_membership_;  // in force at base_index_
  Timeouts base_timeouts_;      // in force at base_index_
  // Membership entries appended after base_index_; invariant: every key > base_index_.
  std::map<LogIndex, Membership> memberships_;
  // Timeouts entries applied after base_index_; invariant: every key > base_index_.
  std::map<LogIndex, Timeouts> timeouts_;
};

}  // namespace raft
