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
  // The same calls as Raft (raft.h), whose comments state their contracts.
  RaftCore(const Config& config, Membership membership, Restored restored = {});

  void tick();

  void step(Message message);

  void peer_closed(NodeId peer);

  ProposeResult propose(std::string data);

  ProposeResult propose_timeouts(const Timeouts& timeouts);

  ProposeResult change_membership(std::set<NodeId> voters, std::set<NodeId> learners);
  ProposeResult add_node(NodeId id);
  ProposeResult remove_node(NodeId id);

  Error transfer_leadership(NodeId to);

  CompactResult compact(LogIndex index);
  CompactResult snapshot_meta_at(LogIndex index) const;
  bool snapshot_due() const;
  const SnapshotMeta& snapshot_meta() const { return snapshot_meta_; }

  Error read_index(ReadId id);

  bool has_ready() const;
  Ready ready();
  void advance();

  NodeStatus status() const;
  NodeId id() const { return config_.id; }
  Role role() const;
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return leader_; }
  /// The in-memory log.
  const RaftLog& log() const { return log_; }
  const Membership& membership() const { return history_.latest_membership(); }
  const DropCounters& drops() const { return drops_; }
  HardState hard_state() const {
    return {.term = term_, .vote = vote_, .commit = log_.committed()};
  }
  const Timeouts& timeouts() const { return config_.timeouts; }
  NodeId transfer_target() const;
  bool membership_change_pending() const;
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
