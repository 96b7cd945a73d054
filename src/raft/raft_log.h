// The core's view of the replicated log: the entries after the last snapshot, the
// commit and apply positions, and how much of it is known to be on stable storage.
// The log is kept in memory; the runtime persists what Ready hands it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "raft/types.h"

namespace raft {

class RaftLog {
 public:
  // A log that starts after `snapshot` (index 0, term 0 for an empty log) and holds
  // `entries`, which must be contiguous from snapshot.index + 1, with `commit`
  // entries committed and everything already stable (a restart from disk).
  RaftLog(LogId snapshot, std::vector<Entry> entries, LogIndex commit);

  LogIndex first_index() const { return snapshot_.index.next(); }
  LogIndex last_index() const { return snapshot_.index + entries_.size(); }
  LogId last_id() const { return {.term = last_term(), .index = last_index()}; }
  Term last_term() const;
  LogIndex committed() const { return committed_; }
  LogIndex applied() const { return applied_; }
  // The last index known to be durable on this node.
  LogIndex stabled() const { return stabled_; }
  LogId snapshot() const { return snapshot_; }

  // The term of the entry at `i`; nullopt when `i` is compacted or beyond the end.
  // term(snapshot().index) is the snapshot's term.
  std::optional<Term> term(LogIndex i) const;
  bool matches(LogId id) const { return term(id.index) == id.term; }
  // Requires first_index() <= i <= last_index().
  const Entry& at(LogIndex i) const;

  // Paper 5.4.1: a log is at least as up-to-date as ours if its last term is higher,
  // or equal with an index at least as high.
  bool is_up_to_date(LogId candidate_last) const;

  // Appends entries that continue the log (a leader's own proposals).
  void append(std::vector<Entry> entries);

  // The follower side of AppendEntries (paper 5.3), after the caller checked that
  // `prev` matches. Entries already present with the same term are kept (a stale,
  // duplicated message must not truncate anything); from the first conflict on,
  // the log is replaced. Returns the last index now shared with the leader, and
  // sets `first_written` to the first index written (0 when nothing was).
  LogIndex append_after(LogId prev, std::vector<Entry>&& entries, LogIndex* first_written);

  // The first index holding `term` in the run of entries of that term that ends at
  // or before `from`, used for the conflict hint. Stops at the commit index: the
  // committed prefix is never in conflict.
  LogIndex first_index_of_term_at(LogIndex from) const;
  // The last index at or before `from` whose term is <= `term`; used by the leader
  // to jump over a follower's conflicting term. Returns 0 if none.
  LogIndex last_index_with_term_at_most(Term term, LogIndex from) const;

  // Entries in [lo, hi], at most `max_bytes` of payload (but at least one entry).
  std::vector<Entry> slice(LogIndex lo, LogIndex hi, uint64_t max_bytes) const;

  // Entries not yet handed to stable storage: (stabled, last].
  std::vector<Entry> unstable() const;
  // Storage confirms everything up to `id` is durable. Ignored when the entry at
  // id.index has since been replaced (its term differs): the newer one is unstable.
  void stable_to(LogId id);

  void commit_to(LogIndex i);   // requires i <= last_index(); never moves backwards
  void applied_to(LogIndex i);  // requires applied() <= i <= committed()

  // Drops the entries up to `id` (folded into a snapshot). Requires id to be an
  // applied entry of this log.
  void compact_to(LogId id);
  // Replaces the whole log by a snapshot ending at `id`, as a follower that receives
  // one does: nothing after it is kept; commit and stable move to it. applied moves
  // when the runtime has installed it (applied_to).
  void restore(LogId id);

  // Payload bytes of the entries in (after, last].
  uint64_t bytes_after(LogIndex after) const;
  // Payload bytes of every entry held (bytes_after(snapshot().index)), kept as the log
  // changes: what the log costs in memory, for the runtime's metrics.
  uint64_t bytes() const { return bytes_; }

 private:
  size_t offset(LogIndex i) const { return i.value() - snapshot_.index.value() - 1; }

  LogId snapshot_;              // the last entry folded into a snapshot
  std::vector<Entry> entries_;  // entries_[k] has index snapshot_.index + 1 + k
  LogIndex committed_;          // invariant: applied_ <= committed_ <= last_index()
  LogIndex applied_;
  LogIndex stabled_;    // invariant: stabled_ <= last_index()
  uint64_t bytes_ = 0;  // invariant: the sum of entries_[k].data.size()
};

}  // namespace raft
