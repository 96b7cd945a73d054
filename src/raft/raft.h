/// @file
/// The Raft consensus core: a deterministic state machine with no I/O, no threads,
/// no clock and no hidden randomness. Inputs are tick(), step(), propose(); the
/// output is a Ready batch that the runtime persists, sends and applies before it
/// calls advance(). The same inputs always produce the same outputs.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/config.h"
#include "raft/error.h"
#include "raft/message.h"
#include "raft/progress_state.h"
#include "raft/ready.h"
#include "raft/roles.h"
#include "raft/types.h"

namespace raft {

/// What a node recovered from stable storage. Empty for a brand-new node.
struct Restored {
  HardState hard_state;        ///< the latest one written
  LogId snapshot;              ///< the last entry covered by a snapshot ({0, 0}: none)
  std::vector<Entry> entries;  ///< contiguous, starting at snapshot.index + 1
};

/// What the leader knows of one member's log (NodeStatus::peers).
struct PeerStatus {
  NodeId id;           ///< the member
  bool voter = false;  ///< false: a learner
  LogIndex match;      ///< the highest entry known to be in the member's log
  LogIndex next;       ///< the next entry the leader will send it
  ProgressState state = ProgressState::kProbe;  ///< probing, replicating, or sending a snapshot
  bool recent_active = false;                   ///< heard from since the last CheckQuorum check
};

/// This node's view of itself and, on the leader, of its peers: for metrics and status.
struct NodeStatus {
  NodeId id;                        ///< this node
  Role role = Role::kFollower;      ///< follower, pre-candidate, candidate or leader
  Term term;                        ///< the current term
  NodeId vote;                      ///< whom this node voted for in `term` (kNoNode: nobody)
  NodeId leader;                    ///< the leader of `term` it knows, or kNoNode
  LogIndex commit;                  ///< the highest entry known committed
  LogIndex applied;                 ///< the highest entry handed out and advanced past
  LogIndex last_index;              ///< the last entry in the log
  std::vector<PeerStatus> peers{};  ///< filled on the leader only
};

/// Peer input that was not acted on, by reason. Bad input is dropped and counted,
/// never a crash.
struct DropCounters {
  uint64_t wrong_recipient = 0;  ///< `to` is not this node, or `from` is 0 or this node
  uint64_t malformed = 0;        ///< e.g. entries that do not follow `prev`
  uint64_t stale_term = 0;       ///< from an older term
  uint64_t unexpected = 0;       ///< valid, but not for this node's role or round
  uint64_t vote_in_lease = 0;    ///< vote requests ignored while a leader is known
};

/// What compact() did: an error naming why it refused, or the snapshot it recorded.
struct CompactResult {
  Error error;          ///< kInvalidArgument when the index is out of range
  SnapshotMeta meta{};  ///< on success: what the snapshot covers; store it with its bytes
};

/// Where a proposal was appended, or why it was refused (nothing changed then).
struct ProposeResult {
  Error error;  ///< kNotLeader names the known leader; kProposalDropped says why
  LogId id{};   ///< on success, where the entry was appended
};

class RaftCore;  // raft/raft_core.h (internal, not installed)

/// One node's consensus state machine. Each call goes to the RaftCore it owns (one
/// pointer away; raft/raft_core.h, internal), whose definition is split by concept:
/// raft.cc (roles, elections, inputs, message dispatch, Ready), replication.cc
/// (AppendEntries, heartbeats, commit), snapshot.cc (compaction, InstallSnapshot),
/// config_change.cc (membership and timeouts changes) and read_index.cc (ReadIndex and
/// lease reads). A copy is a deep copy of the whole state (the model checker explores
/// copies); a moved-from Raft may only be assigned to or destroyed.
class Raft {
 public:
  /// Requires validate(config) to be ok (the runtime checks it first). `membership`
  /// is the configuration before the first entry of `restored` (the bootstrap
  /// configuration, or the one in the snapshot); membership entries in the restored
  /// log take effect on top of it. A node outside the membership (joining) waits
  /// to learn it from the leader's log.
  Raft(const Config& config, Membership membership, Restored restored = {});
  ///@{
  /// A deep copy, and a move that leaves `other` only assignable or destructible.
  Raft(const Raft& other);
  Raft& operator=(const Raft& other);
  Raft(Raft&& other) noexcept;
  Raft& operator=(Raft&& other) noexcept;
  ~Raft();
  ///@}

  /// One unit of logical time. Followers count towards an election, leaders towards
  /// the next heartbeat and the next CheckQuorum round.
  void tick();

  /// A message from a peer. Stale, malformed and misaddressed messages are dropped
  /// and counted in drops().
  void step(Message message);

  /// The runtime saw `peer`'s stream into this node cancelled (its connection reset or closed):
  /// its process has most likely stopped. A follower whose leader it is stops counting on
  /// that leader at once: it campaigns (pre-vote first) after a random 1 to heartbeat_ticks
  /// ticks instead of a whole election timeout, and grants the votes of others that saw it
  /// too. Only timing changes, never safety: a connection can break while its peer lives,
  /// and then the followers that still hear the leader refuse the pre-vote. Ignored with
  /// lease_reads, whose leader counts on followers refusing votes for a whole election
  /// timeout, and without pre_vote, where the early campaign would raise the term at once
  /// and depose a leader that lives (issue 19: fast failover).
  void peer_closed(NodeId peer);

  /// Appends `data` as a new entry if this node is the leader. On a follower the
  /// error names the known leader: there is no local fallback.
  ProposeResult propose(std::string data);

  /// Proposes new timeouts; every node switches to them when it applies the entry.
  /// Refused, changing nothing, unless valid (1 <= heartbeat < election min < max <=
  /// max_election_ticks) and this node is the leader.
  ProposeResult propose_timeouts(const Timeouts& timeouts);

  /// Membership changes by joint consensus (thesis 4.3): the leader appends
  /// C_old,new; once that commits it appends C_new by itself. A configuration takes
  /// effect as soon as it is in the log (thesis 4.1). One change at a time: refused
  /// while one is pending. A voter cannot become a learner directly (remove it first).
  ProposeResult change_membership(std::set<NodeId> voters, std::set<NodeId> learners);
  /// Adds `id` as a learner and promotes it to voter once its log is within
  /// config.catch_up_entries of the leader's (thesis 4.2.1). The promotion is this
  /// leader's intent; a new leader does not inherit it.
  ProposeResult add_node(NodeId id);
  /// Removes a voter or learner. Removing the last voter is refused.
  ProposeResult remove_node(NodeId id);

  /// Thesis 3.10: stops accepting proposals, brings `to` up to date, then tells it to
  /// start an election at once. Aborted after an election timeout.
  Error transfer_leadership(NodeId to);

  /// The state machine has a snapshot of its state at `index` (<= applied): the log
  /// up to there is dropped (thesis 5.1). Followers that need those entries later
  /// get an InstallSnapshot instead.
  CompactResult compact(LogIndex index);
  /// What compact(index) would record, without compacting: the runtime writes the
  /// snapshot's file (whose header holds this) before it compacts.
  CompactResult snapshot_meta_at(LogIndex index) const;
  /// Whether config.snapshot_entries entries were applied since the last snapshot.
  bool snapshot_due() const;
  /// The latest snapshot this core recorded or installed (last.index 0: none).
  const SnapshotMeta& snapshot_meta() const;

  /// A linearizable read (ReadIndex, thesis 6.4): once confirmed, Ready::reads carries
  /// `id` with the index the state machine must have applied to serve it; if it cannot
  /// be confirmed, Ready::dropped_reads carries `id`. On a follower the request goes
  /// to the leader. `id` is chosen by the caller and only handed back.
  Error read_index(ReadId id);

  /// Whether ready() has work to hand out. False from ready() until advance().
  bool has_ready() const;
  /// The next batch of work; see ready.h for the contract. Requires has_ready().
  Ready ready();
  /// The runtime finished the last Ready: its entries and hard state are durable, its
  /// committed entries applied (and its messages handed to the network). The core then
  /// counts those entries as stable (a leader counts its own copy toward a quorum only
  /// now, thesis 10.2.1) and as applied. Call it only after the fsync.
  void advance();

  /// A copy of this node's view, for metrics and status pages.
  NodeStatus status() const;
  /// This node's id, role, current term and its vote in that term (kNoNode: none).
  ///@{
  NodeId id() const;
  Role role() const;
  Term term() const;
  NodeId vote() const;
  ///@}
  /// The leader of the current term this node knows of, or kNoNode.
  NodeId leader() const;
  /// The latest configuration in the log, in force now (thesis 4.1). The reference
  /// is valid until the next input to this core.
  const Membership& membership() const;
  /// Peer input dropped so far, by reason.
  const DropCounters& drops() const;
  /// The hard state as it is now (possibly not yet handed out in a Ready, nor durable).
  HardState hard_state() const;
  /// The timeouts in force: the configured ones until a timeouts entry or a snapshot
  /// from the leader brings others.
  const Timeouts& timeouts() const;
  /// The target of the leadership transfer in progress, or kNoNode.
  NodeId transfer_target() const;
  /// Whether a membership change is appended but not yet complete.
  bool membership_change_pending() const;
  /// A digest of the whole state of this core (not only what status() shows), so
  /// that a model checker can recognise a state it has explored already.
  uint64_t fingerprint() const;

 private:
  friend const RaftCore& core_of(const Raft& raft);
  std::unique_ptr<RaftCore> core_;  // never null, but in a moved-from Raft
};

}  // namespace raft
