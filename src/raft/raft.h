// The Raft consensus core: a deterministic state machine with no I/O, no threads,
// no clock and no hidden randomness. Inputs are tick(), step(), propose(); the
// output is a Ready batch that the runtime persists, sends and applies before it
// calls advance(). The same inputs always produce the same outputs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/config.h"
#include "raft/config_history.h"
#include "raft/error.h"
#include "raft/message.h"
#include "raft/progress.h"
#include "raft/quorum.h"
#include "raft/raft_log.h"
#include "raft/read_only.h"
#include "raft/ready.h"
#include "raft/rng.h"
#include "raft/types.h"

namespace raft {

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view role_name(Role role);

// What a node recovered from stable storage. Empty for a brand-new node.
struct Restored {
  HardState hard_state;
  LogId snapshot;              // the last entry covered by a snapshot ({0, 0}: none)
  std::vector<Entry> entries;  // contiguous, starting at snapshot.index + 1
};

struct PeerStatus {
  NodeId id;
  bool voter = false;
  LogIndex match;
  LogIndex next;
  ProgressState state = ProgressState::kProbe;
  bool recent_active = false;
};

struct NodeStatus {
  NodeId id;
  Role role = Role::kFollower;
  Term term;
  NodeId vote;
  NodeId leader;
  LogIndex commit;
  LogIndex applied;
  LogIndex last_index;
  std::vector<PeerStatus> peers{};  // filled on the leader only
};

// Peer input that was not acted on, by reason. Bad input is dropped and counted,
// never a crash.
struct DropCounters {
  uint64_t wrong_recipient = 0;  // `to` is not this node, or `from` is 0 or this node
  uint64_t malformed = 0;        // e.g. entries that do not follow `prev`
  uint64_t stale_term = 0;       // from an older term
  uint64_t unexpected = 0;       // valid, but not for this node's role or round
  uint64_t vote_in_lease = 0;    // vote requests ignored while a leader is known
};

struct CompactResult {
  Error error;
  SnapshotMeta meta{};  // on success: what the snapshot covers; store it with its bytes
};

struct ProposeResult {
  Error error;  // kNotLeader names the known leader; kProposalDropped says why
  LogId id{};   // on success, where the entry was appended
};

class Raft {
 public:
  // Requires validate(config) to be ok (the runtime checks it first). `membership`
  // is the configuration before the first entry of `restored` (the bootstrap
  // configuration, or the one in the snapshot); membership entries in the restored
  // log take effect on top of it. A node outside the membership (joining) waits
  // to learn it from the leader's log.
  Raft(const Config& config, Membership membership, Restored restored = {});

  // One unit of logical time. Followers count towards an election, leaders towards
  // the next heartbeat and the next CheckQuorum round.
  void tick();

  // A message from a peer. Stale, malformed and misaddressed messages are dropped
  // and counted in drops().
  void step(Message message);

  // Appends `data` as a new entry if this node is the leader. On a follower the
  // error names the known leader: there is no local fallback.
  ProposeResult propose(std::string data);

  // Proposes new timeouts; every node switches to them when it applies the entry.
  // Refused, changing nothing, unless valid (1 <= heartbeat < election min < max <=
  // max_election_ticks) and this node is the leader.
  ProposeResult propose_timeouts(const Timeouts& timeouts);

  // Membership changes by joint consensus (thesis 4.3): the leader appends
  // C_old,new; once that commits it appends C_new by itself. A configuration takes
  // effect as soon as it is in the log (thesis 4.1). One change at a time: refused
  // while one is pending. A voter cannot become a learner directly (remove it first).
  ProposeResult change_membership(std::set<NodeId> voters, std::set<NodeId> learners);
  // Adds `id` as a learner and promotes it to voter once its log is within
  // config.catch_up_entries of the leader's (thesis 4.2.1). The promotion is this
  // leader's intent; a new leader does not inherit it.
  ProposeResult add_node(NodeId id);
  // Removes a voter or learner. Removing the last voter is refused.
  ProposeResult remove_node(NodeId id);

  // Thesis 3.10: stops accepting proposals, brings `to` up to date, then tells it to
  // start an election at once. Aborted after an election timeout.
  Error transfer_leadership(NodeId to);

  // The state machine has a snapshot of its state at `index` (<= applied): the log
  // up to there is dropped (thesis 5.1). Followers that need those entries later
  // get an InstallSnapshot instead.
  CompactResult compact(LogIndex index);
  // Whether config.snapshot_entries entries were applied since the last snapshot.
  bool snapshot_due() const;
  const SnapshotMeta& snapshot_meta() const { return snapshot_meta_; }

  // A linearizable read (ReadIndex, thesis 6.4): once confirmed, Ready::reads carries
  // `id` with the index the state machine must have applied to serve it. On a
  // follower the request goes to the leader. `id` is chosen by the caller.
  Error read_index(ReadId id);

  bool has_ready() const;
  // The next batch of work; see ready.h for the contract. Requires has_ready().
  Ready ready();
  // The runtime finished the last Ready: persisted, sent and applied it.
  void advance();

  NodeStatus status() const;
  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return leader_; }
  const RaftLog& log() const { return log_; }
  // The latest configuration in the log, in force now (thesis 4.1). The reference
  // is valid until the next input to this core.
  const Membership& membership() const { return history_.latest_membership(); }
  const DropCounters& drops() const { return drops_; }
  HardState hard_state() const {
    return {.term = term_, .vote = vote_, .commit = log_.committed()};
  }
  const Timeouts& timeouts() const { return config_.timeouts; }
  NodeId transfer_target() const { return lead_transferee_; }
  // Whether a membership change is appended but not yet complete.
  bool membership_change_pending() const;
  // A digest of the whole state of this core (not only what status() shows), so
  // that a model checker can recognise a state it has explored already.
  uint64_t fingerprint() const;

 private:
  // With `reset_timer` false the election timer keeps running: a vote request we may
  // not grant must not postpone our own election (paper Figure 2: only a granted
  // vote or the current leader resets it).
  void become_follower(Term term, NodeId leader, bool reset_timer = true);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void campaign(bool pre_vote, bool transfer);
  void reset_election_timer();
  // A voter of the latest configuration, or of the latest committed one: a leader
  // removed by an uncommitted C_new may have to lead again to commit it.
  bool promotable() const;

  bool well_formed(const Message& m) const;
  void step_lower_term(const Message& m);
  void handle_request_vote(const Message& m, const RequestVote& rv);
  void handle_vote_response(const Message& m, const VoteResponse& vr);
  // A message from the leader of our term: follow it (a candidate steps down).
  // False (and counted) when this node is itself the leader of the term.
  bool accept_leader(const Message& m);
  VoteResult tally() const;  // this round's votes against the membership
  void handle_append(const Message& m, AppendEntries& ae);
  void handle_append_response(const Message& m, const AppendResponse& ar);
  void handle_heartbeat(const Message& m, const Heartbeat& hb);
  void handle_heartbeat_response(const Message& m, const HeartbeatResponse& hr);
  void handle_timeout_now();
  void handle_read_index_request(const Message& m, const ReadIndexRequest& rr);
  void handle_read_index_response(const ReadIndexResponse& rr);
  void handle_install_snapshot(const Message& m, const InstallSnapshot& is);
  void send_snapshot(NodeId to);

  // Sends `to` what it is missing, if flow control allows. With `send_if_empty`, an
  // empty AppendEntries still goes out (to carry a new commit index).
  bool send_append(NodeId to, bool send_if_empty);
  void broadcast_append(bool send_if_empty);
  // Starts the next heartbeat round and sends it: every heartbeat is a round, and a
  // quorum answering it confirms the reads that wait for it.
  void broadcast_heartbeat();
  // Advances the commit index to what a quorum holds, if that entry is of this
  // term (paper 5.4.2). Returns whether it moved.
  bool maybe_commit();
  bool quorum_active() const;

  void send(NodeId to, MessageBody body, bool after_persist, Term term = Term());
  // A leader's messages carry its term; they may leave before the Ready is
  // persisted only if that term is already durable. A leader elected by its own
  // vote alone (a one-voter configuration) sent no vote request that waited for
  // the disk: without this, a crash could forget the term and a second leader of
  // the same term would write different entries at the same index.
  bool term_durable() const { return durable_term_ == term_; }

  // Refusal shared by the leader-only calls; ok when this node may propose now.
  Error check_can_propose() const;
  ProposeResult append_own(EntryType type, std::string data);
  // Membership bookkeeping: the configuration is the latest one in the log.
  void note_appended(LogIndex from, LogIndex to);
  void note_truncated(LogIndex from);
  // Keeps the leader's progress map equal to the latest membership (plus itself).
  void track_membership();
  void maybe_leave_joint_or_promote();
  void maybe_step_down_after_removal();
  void apply_core_entries(LogIndex from, LogIndex to);
  // Registers a read at the current commit index, or serves it at once on a lease.
  void start_read(ReadRequest request);
  // Starts the reads that waited for this leader's first commit, once it happened.
  void start_deferred_reads();
  void confirm_reads();
  bool lease_valid() const;
  void release_read(ReadRequest request, LogIndex index);
  // Leadership ends: every waiting read is answered as dropped.
  void drop_reads();

  Config config_;
  Rng rng_;
  RaftLog log_;
  // The configuration along the log; its latest membership is membership().
  // Invariant: history_.base_index() == log_.snapshot().index.
  ConfigHistory history_;
  Membership initial_membership_;  // the one this core was constructed with

  Role role_ = Role::kFollower;
  Term term_;
  NodeId vote_;    // invariant: changes only together with a new term, or from none
  NodeId leader_;  // the leader of term_ this node knows, or none

  uint32_t election_elapsed_ = 0;   // ticks since the leader was last heard (or the election began)
  uint32_t heartbeat_elapsed_ = 0;  // leader: ticks since the last heartbeat
  uint32_t randomized_timeout_ = 0;  // in [election_min_ticks, election_max_ticks)

  SnapshotMeta snapshot_meta_;                       // the latest snapshot (last.index 0: none)
  std::optional<SnapshotMeta> snapshot_to_install_;  // received; handed out in the next Ready
  std::set<NodeId> promote_when_caught_up_;          // leader: learners added by add_node

  NodeId lead_transferee_;         // leader: the target of a transfer in progress
  uint32_t transfer_elapsed_ = 0;  // ticks since the transfer began

  ReadOnly reads_;                      // leader: ReadIndex and lease reads of this leadership
  uint64_t ticks_ = 0;                  // ticks since this core started (lease reads' clock)
  std::vector<ReadState> reads_ready_;  // confirmed; released once applied
  std::vector<ReadId> reads_dropped_;

  std::map<NodeId, bool> votes_;         // (pre-)candidate: the answers of this round
  std::map<NodeId, Progress> progress_;  // leader: every member, this node included
  uint64_t uncommitted_bytes_ = 0;       // leader: payload bytes in (committed, last]
  bool pending_broadcast_ = false;       // leader: proposals appended since the last Ready

  std::vector<Message> messages_;
  std::vector<Message> persisted_messages_;
  HardState last_hard_state_;  // the hard state handed out in the last Ready
  Term durable_term_;          // the term of the last hard state known to be on disk

  // The Ready being handled by the runtime, if any.
  bool ready_outstanding_ = false;
  LogId ready_last_entry_;
  LogIndex ready_applied_;

  DropCounters drops_;
};

}  // namespace raft
