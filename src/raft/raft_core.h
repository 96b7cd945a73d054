// RaftCore: the consensus core's state and rules, behind the public raft::Raft (raft.h),
// which owns one and forwards each call to it. Internal: not installed; the runtime,
// tests and tools built in this tree reach it through core_of(). Its public members
// beyond Raft's (log()) may change in any release.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "raft/config.h"
#include "raft/config_history.h"
#include "raft/error.h"
#include "raft/message.h"
#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/raft.h"
#include "raft/raft_log.h"
#include "raft/read_only.h"
#include "raft/ready.h"
#include "raft/rng.h"
#include "raft/role_state.h"
#include "raft/roles.h"
#include "raft/types.h"

namespace raft {

/// One node's consensus state machine: the contract of each call is on Raft (raft.h).
/// Its definition is split by concept: raft.cc
/// (roles, elections, inputs, message dispatch, Ready), replication.cc (AppendEntries,
/// heartbeats, commit), snapshot.cc (compaction, InstallSnapshot), config_change.cc
/// (membership and timeouts changes) and read_index.cc (ReadIndex and lease reads).
class RaftCore {
 public:
  /// Requires validate(config) to be ok (the runtime checks it first). `membership`
  /// is the configuration before the first entry of `restored` (the bootstrap
  /// configuration, or the one in the snapshot); membership entries in the restored
  /// log take effect on top of it. A node outside the membership (joining) waits
  /// to learn it from the leader's log.
  RaftCore(const Config& config, Membership membership, Restored restored = {});

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
  /// timeout (issue 19: fast failover).
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
  const SnapshotMeta& snapshot_meta() const { return snapshot_meta_; }

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
  NodeId id() const { return config_.id; }
  Role role() const;
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  ///@}
  /// The leader of the current term this node knows of, or kNoNode.
  NodeId leader() const { return leader_; }
  /// The in-memory log.
  const RaftLog& log() const { return log_; }
  /// The latest configuration in the log, in force now (thesis 4.1). The reference
  /// is valid until the next input to this core.
  const Membership& membership() const { return history_.latest_membership(); }
  /// Peer input dropped so far, by reason.
  const DropCounters& drops() const { return drops_; }
  /// The hard state as it is now (possibly not yet handed out in a Ready, nor durable).
  HardState hard_state() const {
    return {.term = term_, .vote = vote_, .commit = log_.committed()};
  }
  /// The timeouts in force: the configured ones until a timeouts entry or a snapshot
  /// from the leader brings others.
  const Timeouts& timeouts() const { return config_.timeouts; }
  /// The target of the leadership transfer in progress, or kNoNode.
  NodeId transfer_target() const;
  /// Whether a membership change is appended but not yet complete.
  bool membership_change_pending() const;
  /// A digest of the whole state of this core (not only what status() shows), so
  /// that a model checker can recognise a state it has explored already.
  uint64_t fingerprint() const;

 private:
  // The role state, when this node holds that role (nullptr otherwise).
  LeaderState* leading() { return std::get_if<LeaderState>(&role_state_); }
  const LeaderState* leading() const { return std::get_if<LeaderState>(&role_state_); }
  CandidateState* campaigning() { return std::get_if<CandidateState>(&role_state_); }

  // --- Roles and elections (raft.cc) ---
  // With `reset_timer` false the election timer keeps running: a vote request we may
  // not grant must not postpone our own election (paper Figure 2: only a granted
  // vote or the current leader resets it). A leader stepping down drops its reads.
  void become_follower(Term term, NodeId leader, bool reset_timer = true);
  void become_leader();
  void campaign(bool pre_vote, bool transfer);
  uint32_t draw_election_timeout();
  void reset_election_timer();
  void tick_leader(LeaderState& leader);
  VoteResult tally(const CandidateState& candidate) const;  // votes against the membership

  // --- Message dispatch (raft.cc) ---
  bool well_formed(const Message& m) const;
  // A message of a later term: adopt it (paper 5.1) unless it is a vote request to
  // ignore or a pre-vote. Returns false when the message is dropped.
  bool step_higher_term(const Message& m);
  void step_lower_term(const Message& m);
  void handle_request_vote(const Message& m, const RequestVote& rv);
  void handle_vote_response(const Message& m, const VoteResponse& vr);
  void handle_timeout_now();
  // A message from the leader of our term: follow it (a candidate steps down).
  // False (and counted) when this node is itself the leader of the term.
  bool accept_leader(const Message& m);
  // Queues a message of term `term` (the current term when Term()): with
  // `after_persist` it leaves only once this Ready is durable.
  void send(NodeId to, MessageBody body, bool after_persist, Term term = Term());
  // A leader's messages carry its term; they may leave before the Ready is
  // persisted only if that term is already durable. A leader elected by its own
  // vote alone (a one-voter configuration) sent no vote request that waited for
  // the disk: without this, a crash could forget the term and a second leader of
  // the same term would write different entries at the same index.
  bool term_durable() const { return durable_term_ == term_; }

  // --- Proposals (raft.cc) ---
  // Refusal shared by the leader-only calls; ok when this node may propose now.
  Error check_can_propose() const;
  ProposeResult append_own(EntryType type, std::string data);

  // --- Replication (replication.cc) ---
  // Sends `to` what it is missing, if flow control allows. With `send_if_empty`, an
  // empty AppendEntries still goes out (to carry a new commit index).
  bool send_append(LeaderState& leader, NodeId to, bool send_if_empty);
  void broadcast_append(LeaderState& leader, bool send_if_empty);
  // Starts the next heartbeat round and sends it: every heartbeat is a round, and a
  // quorum answering it confirms the reads that wait for it.
  void broadcast_heartbeat(LeaderState& leader);
  // Advances the commit index to what a quorum holds, if that entry is of this
  // term (paper 5.4.2). Returns whether it moved.
  bool maybe_commit(LeaderState& leader);
  bool quorum_active(const LeaderState& leader) const;
  // The progress of `from`, whose answer to the leader arrived, now marked recently
  // active; nullptr (counted as unexpected) when this node does not lead or does not
  // track `from`. The answers below are handled only when it is found.
  Progress* heard_from(NodeId from);
  void handle_append(const Message& m, AppendEntries& ae);
  void handle_append_response(LeaderState& leader, NodeId from, Progress& pr,
                              const AppendResponse& ar);
  void handle_append_rejection(LeaderState& leader, NodeId from, Progress& pr,
                               const AppendResponse& ar);
  void handle_heartbeat(const Message& m, const Heartbeat& hb);
  void handle_heartbeat_response(LeaderState& leader, NodeId from, Progress& pr,
                                 const HeartbeatResponse& hr);

  // --- Snapshots (snapshot.cc) ---
  void send_snapshot(LeaderState& leader, NodeId to);
  void handle_install_snapshot(const Message& m, const InstallSnapshot& is);

  // --- Configuration changes (config_change.cc) ---
  // A voter of the latest configuration, or of the latest committed one: a leader
  // removed by an uncommitted C_new may have to lead again to commit it.
  bool promotable() const;
  // Keeps the leader's progress map equal to the latest membership (plus itself).
  void track_membership(LeaderState& leader);
  // Records the membership entries in [from, to] (thesis 4.1: in force once appended),
  // or forgets those from `from` on when the log was truncated there.
  void note_appended(LogIndex from, LogIndex to);
  void note_truncated(LogIndex from);
  void maybe_leave_joint_or_promote(LeaderState& leader);
  void maybe_step_down_after_removal();
  // Applies what the core itself reads from committed entries: new timeouts.
  void apply_core_entries(LogIndex from, LogIndex to);

  // --- Reads (read_index.cc) ---
  void handle_read_index_request(const Message& m, const ReadIndexRequest& rr);
  void handle_read_index_response(const ReadIndexResponse& rr);
  // Registers a read at the current commit index, or serves it at once on a lease.
  void start_read(LeaderState& leader, ReadRequest request);
  // Starts the reads that waited for this leader's first commit, once it happened.
  void start_deferred_reads(LeaderState& leader);
  void confirm_reads(LeaderState& leader);
  bool lease_valid(const LeaderState& leader) const;
  void release_read(ReadRequest request, LogIndex index);
  // Leadership ends: every waiting read is answered as dropped.
  void drop_reads(LeaderState& leader);

  Config config_;
  Rng rng_;
  RaftLog log_;
  // The configuration along the log; its latest membership is membership().
  // Invariant: history_.base_index() == log_.snapshot().index.
  ConfigHistory history_;
  Membership initial_membership_;  // the one this core was constructed with
  SnapshotMeta snapshot_meta_;     // the latest snapshot (last.index 0: none)

  Term term_;
  NodeId vote_;    // invariant: changes only together with a new term, or from none
  NodeId leader_;  // the leader of term_ this node knows, or none
  // The state of the role this node holds; role() is derived from it.
  std::variant<FollowerState, CandidateState, LeaderState> role_state_;
  uint32_t election_elapsed_ = 0;  // ticks since the leader was last heard (or the election began)
  uint32_t randomized_timeout_ = 0;  // in [election_min_ticks, election_max_ticks)
  uint64_t ticks_ = 0;               // ticks since this core started (lease reads' clock)

  // What the next Ready hands out, gathered since the last one.
  struct Outbox {
    std::optional<SnapshotMeta> snapshot;     // received from the leader, to install
    std::vector<Message> messages;            // may leave at once
    std::vector<Message> persisted_messages;  // leave once this Ready is durable
    std::vector<ReadState> reads;  // confirmed; each handed out once its index is applied
    std::vector<ReadId> dropped_reads;
  };
  Outbox outbox_;
  // The Ready the runtime is handling (between ready() and advance()).
  struct ReadyInFlight {
    LogId last_entry;  // the last entry it persists ({0, 0}: none)
    LogIndex applied;  // applied once it is done
  };
  std::optional<ReadyInFlight> in_flight_;
  HardState last_hard_state_;  // the hard state handed out in the last Ready
  Term durable_term_;          // the term of the last hard state known to be on disk

  DropCounters drops_;
};

/// The core a Raft forwards to: for the runtime, tests and tools built in this tree.
inline const RaftCore& core_of(const Raft& raft) { return *raft.core_; }

}  // namespace raft
