/// @file
/// What a RaftNode replicates: the application's state machine. Once the node runs, every
/// call below comes from the node's apply thread (node/applier.h), one at a time; before
/// start(), RaftNode::open() restores the latest snapshot on the caller's thread. The KV
/// server's store is one; examples/ shows another.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "raft/types.h"

namespace node {

/// The most bytes one piece of SnapshotPieces holds.
inline constexpr uint64_t kRestorePieceBytes = 1 << 20;

/// A snapshot's bytes handed to StateMachine::restore_from() in order, a piece at a time:
/// read from a file, so that a member never holds the whole snapshot to restore it.
class SnapshotPieces {
 public:
  virtual ~SnapshotPieces() = default;
  /// The snapshot's length in bytes, all pieces together.
  virtual uint64_t size() const = 0;
  /// The next piece (valid until the next call; at most kRestorePieceBytes when the
  /// runtime reads a file), or an empty one once all were read. An
  /// error means the bytes cannot be read: return it from restore_from().
  virtual absl::StatusOr<std::string_view> next() = 0;
};

/// A snapshot written beside the apply thread: see StateMachine::begin_snapshot().
class SnapshotJob {
 public:
  virtual ~SnapshotJob() = default;
  /// Hands the snapshot's bytes to `write` in pieces, as StateMachine::snapshot_to() does:
  /// the state as of begin_snapshot(), while apply() goes on for later entries. Called
  /// once, on the node's snapshot thread. `write` returns false when the bytes cannot be
  /// kept (or the node stops); then stop and return an error.
  virtual absl::Status write_to(const std::function<bool(std::string_view)>& write) = 0;
  /// The snapshot whose bytes this one's continue (SnapshotPlace::latest), or 0: this one
  /// is the whole state. The runtime stores such a snapshot as a file that extends that
  /// one's, and reads and sends the two (and what that one extends) as one byte sequence.
  virtual raft::LogIndex extends() const { return raft::LogIndex(); }
};

/// Where a snapshot begins: see StateMachine::begin_snapshot().
struct SnapshotPlace {
  raft::LogIndex index;   ///< the index applied, which the snapshot covers
  raft::LogIndex latest;  ///< the newest snapshot on disk; 0 when there is none
};

/// The application's replicated state. Whatever apply() computes must depend only on the
/// state and the command, never on a clock, a random number, this member's id or
/// leadership: every replica must reach the same state from the same log. What a member
/// decides as leader (on_leadership, leader_call) stays outside that state, or enters it
/// as a command through the log (RaftNode::leader_write).
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  /// Applies the command committed at `index`; returns what the proposer is answered.
  /// Must be deterministic: every replica applies the same commands in the same order.
  virtual std::string apply(raft::LogIndex index, std::string_view command) = 0;
  /// The whole state as of the last apply, in bytes restore() accepts. The runtime takes
  /// its snapshots through snapshot_to(); snapshot() serves the default snapshot_to().
  virtual std::string snapshot() = 0;
  /// The inverse of snapshot(): replaces the state only when `data` is valid; otherwise
  /// it returns the error and changes nothing.
  /// A refusal cannot be worked around: RaftNode::open() fails with it (recovery.cc), and a
  /// refused snapshot from the leader stops the node through its fatal handler
  /// (Applier::install), since the member has no other way to catch up; the snapshot is
  /// stored before it is restored, so open() then refuses it too. restore() must therefore
  /// read back everything snapshot() and snapshot_to() can write. The runtime restores
  /// through restore_from(); restore() serves the default restore_from().
  virtual absl::Status restore(std::string_view data) = 0;
  /// The same restore, from the snapshot's bytes in pieces as they are read from its file
  /// (a state machine as large as its store overrides this, and builds its new state
  /// aside as the pieces come). The same contract as restore(): the state is replaced
  /// only when every piece was read and the whole is valid; otherwise return the error
  /// and keep the state as it was. The file's checksum was verified before the first
  /// piece. The default gathers the pieces and calls restore().
  virtual absl::Status restore_from(SnapshotPieces& pieces) {
    std::string all;
    all.reserve(pieces.size());
    for (;;) {
      absl::StatusOr<std::string_view> piece = pieces.next();
      if (!piece.ok()) return piece.status();
      if (piece->empty()) break;
      all.append(*piece);
    }
    return restore(all);
  }
  /// The same snapshot as snapshot(), handed to `write` in pieces as it is produced, so
  /// that the node writes it to its file without holding it whole (a state machine as
  /// large as its store overrides this). `write` returns false when the bytes cannot be
  /// kept; then stop and return an error. The default hands over snapshot() at once.
  /// Called on the apply thread at the index applied, so no apply() runs meanwhile. An
  /// error stops the node through its fatal handler: the log cannot be compacted without.
  virtual absl::Status snapshot_to(const std::function<bool(std::string_view)>& write) {
    if (write(snapshot())) return absl::OkStatus();
    return absl::AbortedError("the snapshot's bytes could not be written");
  }
  /// Optional: the same snapshot as snapshot_to(), written beside the apply thread. Called
  /// on the apply thread at the index applied, where snapshot_to() would be; the job it
  /// returns then writes the bytes snapshot_to() would have written at that moment, on the
  /// node's snapshot thread, while apply() goes on with later entries (a large state
  /// machine holds its applies, and its clients, only for what it captures here). The state
  /// machine keeps what the job needs until the job is destroyed (restore() included may
  /// have to wait for it). nullptr, the default: snapshot_to() on the apply thread.
  /// A state machine that knows what it held at `place.latest` (it began that snapshot
  /// itself, and nothing it cannot express as an addition happened since) may write only
  /// what was added since, and say so (SnapshotJob::extends): restore() then receives
  /// that snapshot's bytes followed by these, and must read them back as the state at
  /// `place.index`. It must not extend a snapshot it did not write, or one it restored.
  virtual std::unique_ptr<SnapshotJob> begin_snapshot(const SnapshotPlace& place) {
    (void)place;
    return nullptr;
  }
  /// A configuration change was applied (or restored from a snapshot).
  virtual void on_membership(const raft::Membership&) {}
  /// This node became leader in `term` (true) or stopped being leader (false). Called in
  /// order with apply(), as the applier reaches the change: a leader's term that the state
  /// machine has not seen yet is not its own to act on (KvStateMachine expires leases only
  /// in the term it was told of, after it gave every lease a full TTL).
  virtual void on_leadership(bool leader, raft::Term term) {
    (void)leader;
    (void)term;
  }
  /// An operation only the leader performs, outside the log (a lease keep-alive, say).
  /// Followers forward it to the leader.
  virtual absl::StatusOr<std::string> leader_call(std::string_view payload) {
    (void)payload;
    return absl::UnimplementedError("this state machine has no leader calls");
  }
};

}  // namespace node
