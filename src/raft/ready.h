// The core's output: what the runtime must persist, send and apply, and in which
// order. The contract (etcd raft's Ready, with the durability rule in the type):
//   1. write `hard_state` and `entries` to stable storage (entries[0] may replace a
//      suffix of what is stored: truncate from entries[0].index first);
//   2. `messages` may be sent at any time, even before step 1 completes;
//   3. `persisted_messages` may be sent only after step 1 is durable (fsync): they
//      promise state that must survive a crash (votes, append acknowledgements);
//   4. apply `committed_entries` in order, after step 1;
//   5. call Raft::advance() with this Ready.
// No new Ready is produced until advance() is called for the previous one.
#pragma once

#include <optional>
#include <vector>

#include "raft/message.h"
#include "raft/types.h"

namespace raft {

struct Ready {
  std::optional<HardState> hard_state;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<Message> persisted_messages;
  std::vector<Entry> committed_entries;

  bool empty() const {
    return !hard_state.has_value() && entries.empty() && messages.empty() &&
           persisted_messages.empty() && committed_entries.empty();
  }
};

}  // namespace raft
