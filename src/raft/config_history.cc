#include "raft/config_history.h"

#include <iterator>
#include <utility>

#include "raft/invariant.h"

namespace raft {

ConfigHistory::ConfigHistory(LogIndex base_index, Membership membership, Timeouts timeouts)
    : base_index_(base_index), base_membership_(std::move(membership)), base_timeouts_(timeouts) {}

template <typename T>
const T& ConfigHistory::in_force_at(const std::map<LogIndex, T>& by_index, const T& base,
                                    LogIndex index) {
  auto after = by_index.upper_bound(index);
  return after == by_index.begin() ? base : std::prev(after)->second;
}

const Membership& ConfigHistory::membership_at(LogIndex index) const {
  return in_force_at(memberships_, base_membership_, index);
}

const Timeouts& ConfigHistory::timeouts_at(LogIndex index) const {
  return in_force_at(timeouts_, base_timeouts_, index);
}

const Membership& ConfigHistory::latest_membership() const {
  return memberships_.empty() ? base_membership_ : memberships_.rbegin()->second;
}

LogIndex ConfigHistory::latest_membership_index() const {
  return memberships_.empty() ? base_index_ : memberships_.rbegin()->first;
}

void ConfigHistory::append_membership(LogIndex index, Membership membership) {
  RAFT_INVARIANT(index > latest_membership_index(), "memberships are appended in log order");
  memberships_.emplace_hint(memberships_.end(), index, std::move(membership));
}

bool ConfigHistory::truncate_from(LogIndex index) {
  auto first_gone = memberships_.lower_bound(index);
  if (first_gone == memberships_.end()) {
    return false;
  }
  memberships_.erase(first_gone, memberships_.end());
  return true;
}

void ConfigHistory::apply_timeouts(LogIndex index, Timeouts timeouts) {
  timeouts_.insert_or_assign(index, timeouts);
}

void ConfigHistory::compact_to(LogIndex index, Membership membership, Timeouts timeouts) {
  RAFT_INVARIANT(index >= base_index_, "a snapshot never moves behind the previous one");
  base_index_ = index;
  base_membership_ = std::move(membership);
  base_timeouts_ = timeouts;
  memberships_.erase(memberships_.begin(), memberships_.upper_bound(index));
  timeouts_.erase(timeouts_.begin(), timeouts_.upper_bound(index));
}

void ConfigHistory::reset(LogIndex index, Membership membership, Timeouts timeouts) {
  base_index_ = index;
  base_membership_ = std::move(membership);
  base_timeouts_ = timeouts;
  memberships_.clear();
  timeouts_.clear();
}

}  // namespace raft
