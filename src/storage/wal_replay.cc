#include "storage/wal_replay.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "raft/overloaded.h"
#include "storage/segment_reader.h"

namespace storage {
namespace {

Status corruption(std::string message) { return Status(Code::kCorruption, std::move(message)); }

}  // namespace

void WalReplay::begin_segment(uint64_t seq, std::string file) {
  segment_ = seq;
  file_ = std::move(file);
  segment_last_index_ = 0;
}

std::string WalReplay::where(uint64_t offset) const { return at_offset(file_, offset); }

Status WalReplay::add(const Frame& frame) {
  std::string problem;
  std::optional<WalRecord> record = decode_record(frame, &problem);
  if (!record.has_value()) return corruption("wal: " + problem + " in " + where(frame.offset));
  return std::visit(
      raft::Overloaded{
          [&](raft::Entry& e) { return add_entry(std::move(e), frame.offset); },
          [&](const raft::HardState& h) {
            out_->hard_state = h;  // the latest one wins
            return Status::ok();
          },
          [&](const SnapshotMarker& m) { return add_snapshot_marker(m.id, frame.offset); },
          [&](const SnapshotInstalled& m) {
            add_snapshot_installed(m.id);
            return Status::ok();
          },
      },
      *record);
}

void WalReplay::restart_at(uint64_t index) {
  out_->entries.clear();
  locations_.clear();
  base_ = index - 1;
}

Status WalReplay::add_entry(raft::Entry e, uint64_t offset) {
  const uint64_t index = e.index.value();
  // Segments behind a snapshot are deleted, so the first entry read may be anywhere;
  // from then on the log must stay contiguous.
  if (!base_.has_value()) base_ = index - 1;
  if (index > *base_ + 1 + out_->entries.size()) {
    // A gap is legal only if a later snapshot marker covers it: the segment that held
    // the missing entries was deleted behind that marker (a segment may hold an older
    // marker before them). Checked by finish(), once every record is read.
    gap_ = Gap{index,
               "wal: entry " + std::to_string(index) + " in " + where(offset) + " leaves a gap"};
    restart_at(index);
  }
  if (index < *base_ + 1) {
    // A follower truncated a conflicting suffix that began in a segment since deleted
    // behind a snapshot: this entry supersedes every entry read so far. Never legal at
    // or below a snapshot already read (those entries are committed); the entries
    // before it must be covered by a later marker.
    if (e.index <= out_->snapshot.index) {
      return corruption("wal: entry " + std::to_string(index) + " in " + where(offset) +
                        " comes before the start of the log (snapshot " +
                        std::to_string(out_->snapshot.index.value()) + ")");
    }
    if (e.index > out_->snapshot.index.next()) {
      gap_ = Gap{index, "wal: entry " + std::to_string(index) + " in " + where(offset) +
                            " supersedes the log read so far, and the entries before it are "
                            "missing"};
    } else {
      gap_.reset();  // whatever was missing before is superseded too
    }
    restart_at(index);
  }
  // An entry at or below the last one read supersedes everything from its index on.
  const size_t kept = index - (*base_ + 1);
  out_->entries.resize(kept);
  locations_.resize(kept);
  // Terms never decrease along a log (paper 5.3, Log Matching: a leader appends in its
  // own term after entries of earlier terms), nor below the snapshot it follows. A log
  // that says otherwise is damaged, whatever its checksums say.
  const raft::Term before = kept > 0                                 ? out_->entries.back().term
                            : *base_ == out_->snapshot.index.value() ? out_->snapshot.term
                                                                     : raft::Term();
  if (e.term < before) {
    return corruption("wal: entry " + std::to_string(index) + " in " + where(offset) +
                      " has term " + std::to_string(e.term.value()) + ", below term " +
                      std::to_string(before.value()) + " of the entry before it");
  }
  out_->entries.push_back(std::move(e));
  locations_.push_back(RecordLocation{.segment = segment_, .offset = offset});
  segment_last_index_ = std::max(segment_last_index_, index);
  return Status::ok();
}

Status WalReplay::add_snapshot_marker(raft::LogId snap, uint64_t offset) {
  if (snap.index <= out_->snapshot.index) return Status::ok();  // an older marker: nothing new
  // Entries up to the snapshot are folded into it.
  std::vector<raft::Entry>& entries = out_->entries;
  const auto covered = std::find_if(entries.begin(), entries.end(),
                                    [&](const raft::Entry& e) { return e.index > snap.index; });
  const auto n = covered - entries.begin();
  entries.erase(entries.begin(), covered);
  locations_.erase(locations_.begin(), locations_.begin() + n);
  // The log now starts after the snapshot (or right after its last entry).
  base_ = entries.empty() ? snap.index.value() : entries.front().index.value() - 1;
  out_->snapshot = snap;
  // As in add_entry: the entries after a snapshot are not of an earlier term than it.
  if (!entries.empty() && entries.front().term < snap.term) {
    return corruption("wal: snapshot marker (term " + std::to_string(snap.term.value()) +
                      ", index " + std::to_string(snap.index.value()) + ") in " + where(offset) +
                      " comes before entry " + std::to_string(entries.front().index.value()) +
                      " of the lower term " + std::to_string(entries.front().term.value()));
  }
  return Status::ok();
}

void WalReplay::add_snapshot_installed(raft::LogId snap) {
  // Thesis 5.1: the follower discarded its whole log for the leader's snapshot,
  // including entries after it (they may be from an older term).
  out_->entries.clear();
  locations_.clear();
  base_ = snap.index.value();
  gap_.reset();
  if (snap.index > out_->snapshot.index) out_->snapshot = snap;
}

Status WalReplay::finish(const std::string& dir) const {
  if (gap_.has_value() && out_->snapshot.index.value() + 1 < gap_->after) {
    return corruption(gap_->message);
  }
  if (!out_->entries.empty() && out_->entries.front().index != out_->snapshot.index.next()) {
    return corruption("wal: the log in " + dir + " starts at entry " +
                      std::to_string(out_->entries.front().index.value()) +
                      " but the last snapshot ends at " +
                      std::to_string(out_->snapshot.index.value()) + ": entries are missing");
  }
  return Status::ok();
}

}  // namespace storage
