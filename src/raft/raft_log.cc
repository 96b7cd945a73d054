#include "raft/raft_log.h"

#include <cassert>
#include <stdexcept>
#include <string>

#include "raft/invariant.h"
#include "raft/planted_bugs.h"

namespace raft {

RaftLog::RaftLog(LogId snapshot, std::vector<Entry> entries, LogIndex commit)
    : snapshot_(snapshot), entries_(std::move(entries)) {
  for (size_t k = 0; k < entries_.size(); ++k) {
    RAFT_INVARIANT(entries_[k].index == snapshot_.index + (k + 1),
                   "restored log entries are contiguous after the snapshot");
    bytes_ += entries_[k].data.size();
  }
  stabled_ = last_index();
  committed_ = std::max(snapshot_.index, std::min(commit, last_index()));
  applied_ = snapshot_.index;
}

Term RaftLog::last_term() const { return entries_.empty() ? snapshot_.term : entries_.back().term; }

std::optional<Term> RaftLog::term(LogIndex i) const {
  if (i == snapshot_.index) {
    return snapshot_.term;
  }
  if (i < snapshot_.index || i > last_index()) {
    return std::nullopt;
  }
  return entries_[offset(i)].term;
}

const Entry& RaftLog::at(LogIndex i) const {
  RAFT_INVARIANT(i >= first_index() && i <= last_index(), "log index in range");
  return entries_[offset(i)];
}

bool RaftLog::is_up_to_date(LogId candidate_last) const {
  Term our = last_term();
  return candidate_last.term > our ||
         (candidate_last.term == our && candidate_last.index >= last_index());
}

void RaftLog::append(std::vector<Entry> entries) {
  for (Entry& e : entries) {
    RAFT_INVARIANT(e.index == last_index().next(), "appended entries continue the log");
    bytes_ += e.data.size();
    entries_.push_back(std::move(e));
  }
}

LogIndex RaftLog::append_after(LogId prev, std::vector<Entry>&& entries, LogIndex* first_written) {
  *first_written = LogIndex();
  LogIndex last_new = prev.index + entries.size();
  size_t k = 0;
  // Skip what we already have (same index and term means same entry, paper 5.3).
  for (; k < entries.size(); ++k) {
    const Entry& e = entries[k];
    if (e.index < first_index()) {
      continue;  // already folded into our snapshot, hence committed and identical
    }
    std::optional<Term> t = term(e.index);
    if (!t.has_value() || *t != e.term) {
      break;
    }
  }
  if (k == entries.size()) {
    return last_new;
  }
  LogIndex conflict = entries[k].index;
  *first_written = conflict;
  if (conflict <= last_index()) {
    // Thesis 3.5: a committed entry is never in conflict with the leader's log.
    RAFT_INVARIANT(conflict > committed_, "a follower never truncates committed entries");
    for (size_t j = offset(conflict); j < entries_.size(); ++j) bytes_ -= entries_[j].data.size();
    entries_.resize(offset(conflict));
    if (stabled_ >= conflict) {
      stabled_ = conflict.prev();
    }
  }
  for (; k < entries.size(); ++k) {
    bytes_ += entries[k].data.size();
    entries_.push_back(std::move(entries[k]));
  }
  return last_new;
}

LogIndex RaftLog::first_index_of_term_at(LogIndex from) const {
  std::optional<Term> t = term(from);
  if (!t.has_value()) {
    return from;
  }
  LogIndex i = from;
  while (i > first_index() && i > committed_.next() && term(i.prev()) == t) {
    i = i.prev();
  }
  return i;
}

LogIndex RaftLog::last_index_with_term_at_most(Term t, LogIndex from) const {
  LogIndex i = std::min(from, last_index());
  while (i >= first_index()) {
    if (entries_[offset(i)].term <= t) {
      return i;
    }
    i = i.prev();
  }
  return snapshot_.index;
}

std::vector<Entry> RaftLog::slice(LogIndex lo, LogIndex hi, uint64_t max_bytes) const {
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (LogIndex i = std::max(lo, first_index()); i <= hi && i <= last_index(); i = i.next()) {
    const Entry& e = entries_[offset(i)];
    if (!out.empty() && bytes + e.data.size() > max_bytes) {
      break;
    }
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

std::vector<Entry> RaftLog::unstable() const {
  return slice(stabled_.next(), last_index(), UINT64_MAX);
}

void RaftLog::stable_to(LogId id) {
  if (id.index > stabled_ && term(id.index) == id.term) {
    stabled_ = id.index;
  }
}

void RaftLog::commit_to(LogIndex i) {
  if (i <= committed_) {
    return;
  }
  RAFT_INVARIANT(i <= last_index(), "commit index within the log");
  committed_ = i;
}

void RaftLog::applied_to(LogIndex i) {
  RAFT_INVARIANT(i >= applied_ && i <= committed_, "applied index within [applied, committed]");
  applied_ = i;
}

void RaftLog::compact_to(LogId id) {
  RAFT_INVARIANT(id.index <= applied_ && id.index >= snapshot_.index && term(id.index) == id.term,
                 "compaction stops at an applied entry of the log");
  const auto end = entries_.begin() + static_cast<long>(offset(id.index.next()));
  if (!planted::kLogBytesKeptOnCompaction) {
    for (auto it = entries_.begin(); it != end; ++it) bytes_ -= it->data.size();
  }
  entries_.erase(entries_.begin(), end);
  snapshot_ = id;
}

void RaftLog::restore(LogId id) {
  snapshot_ = id;
  entries_.clear();
  bytes_ = 0;
  committed_ = id.index;
  stabled_ = id.index;
  applied_ = std::min(applied_, id.index);
}

uint64_t RaftLog::bytes_after(LogIndex after) const {
  uint64_t bytes = 0;
  for (LogIndex i = std::max(after.next(), first_index()); i <= last_index(); i = i.next()) {
    bytes += entries_[offset(i)].data.size();
  }
  return bytes;
}

}  // namespace raft
