#include "raft/progress.h"

#include <algorithm>

namespace raft {

void Inflights::add(LogIndex last, uint64_t bytes) {
  items_.push_back({.last = last, .bytes = bytes});
  bytes_ += bytes;
}

void Inflights::free_to(LogIndex index) {
  while (!items_.empty() && items_.front().last <= index) {
    bytes_ -= items_.front().bytes;
    items_.pop_front();
  }
}

void Inflights::free_first() {
  if (!items_.empty()) {
    bytes_ -= items_.front().bytes;
    items_.pop_front();
  }
}

void Inflights::clear() {
  items_.clear();
  bytes_ = 0;
}

void Progress::become_probe() {
  state = ProgressState::kProbe;
  probe_sent = false;
  next = match.next();
  inflights.clear();
}

void Progress::become_replicate() {
  state = ProgressState::kReplicate;
  probe_sent = false;
  next = match.next();
  inflights.clear();
}

void Progress::become_snapshot(LogIndex index) {
  state = ProgressState::kSnapshot;
  probe_sent = false;
  pending_snapshot = index;
  snapshot_ticks = 0;
  inflights.clear();
}

bool Progress::maybe_update(LogIndex index) {
  bool updated = false;
  if (index > match) {
    match = index;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, index.next());
  return updated;
}

bool Progress::paused(uint32_t max_msgs, uint64_t max_bytes) const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.count() >= max_msgs || inflights.bytes() >= max_bytes;
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

}  // namespace raft
