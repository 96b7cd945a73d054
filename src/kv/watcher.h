// A watcher: a key range, filters and a bounded queue of events that the caller drains.
// The store appends live events to a synced watcher; a watcher that is behind (its start
// revision is in the past, or its queue overflowed) is unsynced and catches up from the
// MVCC history when drained, as etcd's unsynced watchers do.
#pragma once

#include <cstdint>
#include <deque>

#include "kv/key_range.h"
#include "kv/key_value.h"
#include "kv/watch_messages.h"

namespace kv {

struct Watcher {
  WatchId id = 0;
  KeyRange range;
  bool no_put = false;
  bool no_delete = false;
  bool prev_kv = false;
  // Every event with a revision in [start, next_rev) has been queued or delivered, none at
  // or after next_rev has. next_rev >= start.
  int64_t next_rev = 0;
  // next_rev > store revision: new events are appended as they happen. When false the
  // watcher gets nothing live and catches up from history once its queue is drained.
  bool synced = false;
  // Non-zero once the history the watcher needs was compacted (next_rev < the compact
  // revision, which it records); the next poll that finds the queue empty cancels it.
  int64_t compacted_at = 0;
  std::deque<Event> queue;  // revision order, whole revisions only

  bool wants(const Event& e) const {
    if (e.type == Event::Type::kPut ? no_put : no_delete) return false;
    return range.contains(e.kv.key);
  }
};

}  // namespace kv
