// Log compaction and InstallSnapshot (thesis 5.1): the state machine's snapshot
// replaces the log up to its index, carrying the configuration in force there; a
// follower that needs compacted entries receives the snapshot instead.
#include <string>

#include "raft/planted_bugs.h"
#include "raft/raft_core.h"

namespace raft {

bool RaftCore::snapshot_due() const {
  return config_.snapshot_entries != 0 && log_.applied() >= snapshot_meta_.last.index &&
         log_.applied().value() - snapshot_meta_.last.index.value() >= config_.snapshot_entries;
}

CompactResult RaftCore::snapshot_meta_at(LogIndex index) const {
  if (index <= snapshot_meta_.last.index || index > log_.applied()) {
    return {.error = Error(ErrorCode::kInvalidArgument,
                           "cannot compact to index " + std::to_string(index.value()) +
                               ": it must be after the last snapshot (" +
                               std::to_string(snapshot_meta_.last.index.value()) +
                               ") and applied (" + std::to_string(log_.applied().value()) + ")")};
  }
  return {.error = Error::ok(),
          .meta = SnapshotMeta{
              .last = {.term = *log_.term(index), .index = index},
              .membership = planted::kSnapshotDropsMembership ? initial_membership_
                                                              : history_.membership_at(index),
              .timeouts = history_.timeouts_at(index),
          }};
}

CompactResult RaftCore::compact(LogIndex index) {
  CompactResult r = snapshot_meta_at(index);
  if (!r.error.is_ok()) return r;
  snapshot_meta_ = r.meta;
  // The log forgets what the snapshot covers but a tail (config.snapshot_catch_up_*):
  // the entries up to `base` go, and what they leave becomes the base of what it keeps.
  LogIndex base = index;
  uint64_t kept = 0, bytes = 0;
  while (base > log_.snapshot().index && kept < config_.snapshot_catch_up_entries &&
         bytes + log_.at(base).data.size() <= config_.snapshot_catch_up_bytes) {
    bytes += log_.at(base).data.size();
    ++kept;
    base = base.prev();
  }
  if (base == index) {
    history_.compact_to(base, r.meta.membership, r.meta.timeouts);
    log_.compact_to(r.meta.last);
  } else if (base > log_.snapshot().index) {
    history_.compact_to(base, history_.membership_at(base), history_.timeouts_at(base));
    log_.compact_to({.term = *log_.term(base), .index = base});
  }
  return r;
}

void RaftCore::send_snapshot(LeaderState& l, NodeId to) {
  if (snapshot_meta_.last.index == LogIndex()) {
    return;  // nothing compacted: cannot happen while entries are missing
  }
  l.progress.at(to).become_snapshot(snapshot_meta_.last.index);
  send(to, InstallSnapshot{.meta = snapshot_meta_}, !term_durable());
}

void RaftCore::handle_install_snapshot(const Message& m, const InstallSnapshot& is) {
  if (!accept_leader(m)) {
    return;
  }
  const LogId last = is.meta.last;
  if (last.index <= log_.committed()) {
    // We already hold everything it covers.
    send(m.from, AppendResponse{.success = true, .match = log_.committed()},
         /*after_persist=*/true);
    return;
  }
  if (log_.matches(last)) {
    // Our log already holds its last entry: keep the log, move the commit index.
    log_.commit_to(last.index);
    send(m.from, AppendResponse{.success = true, .match = last.index}, /*after_persist=*/true);
    return;
  }
  // Thesis 5.1: discard the whole log and restart from the snapshot, in the
  // configuration it records. (A follower tracks no progress to update.)
  log_.restore(last);
  history_.reset(last.index, is.meta.membership, is.meta.timeouts);
  config_.timeouts = is.meta.timeouts;
  snapshot_meta_ = is.meta;
  outbox_.snapshot = is.meta;
  send(m.from, AppendResponse{.success = true, .match = last.index}, /*after_persist=*/true);
}

}  // namespace raft
