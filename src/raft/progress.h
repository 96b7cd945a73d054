// What a leader knows about one follower's log, and the flow control that bounds
// what it sends: probe (one message at a time until the match point is found),
// replicate (pipelined, bounded by messages and bytes in flight).
#pragma once

#include <cstdint>
#include <deque>

#include "raft/progress_state.h"
#include "raft/types.h"

namespace raft {

// The AppendEntries sent and not yet acknowledged, oldest first, each with the
// last index it carried and its payload bytes.
class Inflights {
 public:
  void add(LogIndex last, uint64_t bytes);
  // Drops every message whose last index is <= `index` (they are acknowledged).
  void free_to(LogIndex index);
  // Drops the oldest message: its acknowledgement is presumed lost.
  void free_first();
  void clear();
  size_t count() const { return items_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  struct Item {
    LogIndex last;
    uint64_t bytes;
  };
  std::deque<Item> items_;
  uint64_t bytes_ = 0;  // invariant: the sum of items_[k].bytes
};

struct Progress {
  // The highest index known to match the leader's log. Invariant: match < next.
  LogIndex match;
  // The next index to send.
  LogIndex next{1};
  ProgressState state = ProgressState::kProbe;
  // In probe: a message is out and we wait for its answer (or the next heartbeat).
  bool probe_sent = false;
  // Heard from since the last CheckQuorum round.
  bool recent_active = false;
  Inflights inflights;
  // The commit index the last AppendEntries sent to it carried: an acknowledgement that
  // finds the leader's commit beyond it, with nothing more to send, is answered with an
  // empty append, so a follower whose appends were held back by flow control while the
  // commit broadcast went out still learns the commit at once (not at the next heartbeat).
  LogIndex commit_sent;
  LogIndex pending_snapshot;    // kSnapshot: the index of the snapshot sent
  uint32_t snapshot_ticks = 0;  // kSnapshot: ticks since it was sent

  void become_snapshot(LogIndex index);
  void become_probe();
  void become_replicate();
  // An acknowledgement of `index`: returns whether match moved forward.
  bool maybe_update(LogIndex index);
  // Whether nothing more may be sent now.
  bool paused(uint32_t max_msgs, uint64_t max_bytes) const;
};

}  // namespace raft
