// ReadIndex and lease reads (thesis 6.4, 6.4.1) on the leader: the reads it must
// confirm with a quorum before they may be served, and the heartbeat rounds that
// confirm them. Bookkeeping only (as etcd raft's read_only.go); the core sends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "raft/types.h"

namespace raft {

// A read and who asked for it: this node (its runtime) or a follower that forwarded it.
struct ReadRequest {
  ReadId id;
  NodeId from;
};

// A read waiting for a quorum to acknowledge heartbeat round `round`: the first round
// sent after it arrived. Once confirmed it may be served at `index`, the leader's
// commit index when the read arrived (thesis 6.4 steps 1-3).
struct PendingRead {
  ReadRequest request;
  LogIndex index;
  HeartbeatRound round;
};

// The read state of one leadership. It lives in the leader's role state, so a new
// leader starts with none and stepping down drops it (after take_all()).
class ReadOnly {
 public:
  // How many of the latest rounds' send times are kept for the lease. The lease
  // needs the time of the latest round a quorum acknowledged; rounds go out once per
  // heartbeat and once per Ready that carries new reads, so one this old is older
  // than any lease in practice. Forgetting a round only makes the lease look expired:
  // the read then waits for a round of its own (slower, never unsafe).
  static constexpr size_t kRoundsRemembered = 256;

  // Thesis 6.4 step 1: until the leader commits an entry of its own term it does not
  // know the latest commit index, so a read arriving before then waits here.
  void defer(ReadRequest request) { deferred_.push_back(request); }
  bool has_deferred() const { return !deferred_.empty(); }
  // The deferred reads in arrival order, taken out.
  std::vector<ReadRequest> take_deferred();

  // Registers a read at commit index `index`; it waits for the next round.
  void add(ReadRequest request, LogIndex index);
  // Whether a read waits for a round not sent yet (the next Ready sends one).
  bool round_needed() const { return round_needed_; }
  size_t pending_count() const { return pending_.size(); }

  // Records that round last_round().next() is sent at logical time `now`, returns it.
  HeartbeatRound start_round(uint64_t now);
  HeartbeatRound last_round() const { return last_round_; }
  // `from` answered `round`. Requires round <= last_round(). Returns whether that is
  // a later round than `from` had answered before.
  bool acknowledge(NodeId from, HeartbeatRound round);

  // Takes out, oldest first, the reads whose round a quorum of `m` has acknowledged.
  // The leader `self` counts for every round up to the next one: it vouches for
  // itself even for a round it has yet to send, so a cluster of one confirms at once.
  std::vector<PendingRead> take_confirmed(const Membership& m, NodeId self);

  // Thesis 6.4.1: whether, at logical time `now`, a quorum of `m` acknowledged a
  // round sent less than `lease_ticks` ago (no other leader can have been elected
  // since, given bounded clock drift).
  bool lease_valid(const Membership& m, NodeId self, uint64_t now, uint64_t lease_ticks) const;

  // Every read still waiting (confirmation first, then deferred ones), taken out: the
  // node stops leading and will confirm none of them.
  std::vector<ReadRequest> take_all();

 private:
  // The latest round a quorum of `m` acknowledged, `self` counting for `self_round`.
  HeartbeatRound acknowledged_by_quorum(const Membership& m, NodeId self,
                                        HeartbeatRound self_round) const;

  std::vector<ReadRequest> deferred_;  // arrival order
  std::deque<PendingRead> pending_;    // invariant: ordered by round, each <= last_round_ + 1
  bool round_needed_ = false;          // set by add(), cleared by start_round()
  HeartbeatRound last_round_;          // the last round sent; 0 before the first
  // Send times of rounds last_round_ - size + 1 .. last_round_, at most kRoundsRemembered.
  std::deque<uint64_t> sent_at_;
  // The latest round each follower answered; invariant: every value <= last_round_.
  std::map<NodeId, HeartbeatRound> acknowledged_;
};

}  // namespace raft
