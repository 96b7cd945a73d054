/// @file
/// The core's output: what the runtime must persist, send and apply, and in which
/// order. The contract (etcd raft's Ready, with the durability rule in the type):
///   1. write `hard_state` and `entries` to stable storage (entries[0] may replace a
///      suffix of what is stored: truncate from entries[0].index first);
///   2. `messages` may be sent at any time, even before step 1 completes;
///   3. `persisted_messages` may be sent only after step 1 is durable (fsync): they
///      promise state that must survive a crash (votes, append acknowledgements);
///   4. apply `committed_entries` in order, after step 1;
///   5. serve `reads` (after applying committed_entries: each read's index is applied);
///      reads in `dropped_reads` will never complete here and may be retried;
///   6. call Raft::advance().
/// No new Ready is produced until advance() is called for the previous one.
#pragma once

#include <optional>
#include <vector>

#include "raft/message.h"
#include "raft/types.h"

namespace raft {

/// A linearizable read (thesis 6.4) that may now be served: the state machine has
/// applied at least `index`, which was the leader's commit index when the read
/// arrived, confirmed by a quorum afterwards.
struct ReadState {
  ReadId id;       ///< as given to Raft::read_index()
  LogIndex index;  ///< serve the read once this entry is applied
};

/// One batch of work from Raft::ready(). Handle it in the order the file comment gives,
/// then call Raft::advance().
struct Ready {
  /// A snapshot received from the leader: store it (with the bytes the transport
  /// delivered) and install it in the state machine before anything else; the log
  /// restarts after it.
  std::optional<SnapshotMeta> snapshot;
  /// Present when term, vote or commit changed: write it with `entries`.
  std::optional<HardState> hard_state;
  /// New log entries to make durable; entries[0] may replace a suffix of the stored log.
  std::vector<Entry> entries;
  /// May be sent at once, before the disk write completes.
  std::vector<Message> messages;
  /// May be sent only once `hard_state` and `entries` are durable (fsync).
  std::vector<Message> persisted_messages;
  /// Entries now committed, in log order, to apply after the disk write (empty when
  /// `snapshot` is set: the state machine restarts from the snapshot instead).
  std::vector<Entry> committed_entries;
  /// Linearizable reads that may be served once `committed_entries` are applied.
  std::vector<ReadState> reads;
  /// Reads that will never be confirmed here (leadership was lost); the caller may retry.
  std::vector<ReadId> dropped_reads;

  /// Whether the batch holds nothing at all.
  bool empty() const {
    return !snapshot.has_value() && !hard_state.has_value() && entries.empty() &&
           messages.empty() && persisted_messages.empty() && committed_entries.empty() &&
           reads.empty() && dropped_reads.empty();
  }
};

}  // namespace raft
