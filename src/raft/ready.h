// The core's output: what the runtime must persist, send and apply, and in which
// order. The contract (etcd raft's Ready, with the durability rule in the type):
//   1. write `hard_state` and `entries` to stable storage (entries[0] may replace a
//      suffix of what is stored: truncate from entries[0].index first);
//   2. `messages` may be sent at any time, even before step 1 completes;
//   3. `persisted_messages` may be sent only after step 1 is durable (fsync): they
//      promise state that must survive a crash (votes, append acknowledgements);
//   4. apply `committed_entries` in order, after step 1;
//   5. serve `reads` (after applying committed_entries: each read's index is applied);
//      reads in `dropped_reads` will never complete here and may be retried;
//   6. call Raft::advance().
// No new Ready is produced until advance() is called for the previous one.
#pragma once

#include <optional>
#include <vector>

#include "raft/message.h"
#include "raft/types.h"

namespace raft {

// A linearizable read (thesis 6.4) that may now be served: the state machine has
// applied at least `index`, which was the leader's commit index when the read
// arrived, confirmed by a quorum afterwards.
struct ReadState {
  ReadId id;
  LogIndex index;
};

struct Ready {
  // A snapshot received from the leader: store it (with the bytes the transport
  // delivered) and install it in the state machine before anything else; the log
  // restarts after it.
  std::optional<SnapshotMeta> snapshot;
  std::optional<HardState> hard_state;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<Message> persisted_messages;
  std::vector<Entry> committed_entries;
  std::vector<ReadState> reads;
  std::vector<ReadId> dropped_reads;

  bool empty() const {
    return !snapshot.has_value() && !hard_state.has_value() && entries.empty() &&
           messages.empty() && persisted_messages.empty() && committed_entries.empty() &&
           reads.empty() && dropped_reads.empty();
  }
};

}  // namespace raft
