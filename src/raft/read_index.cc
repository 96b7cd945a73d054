// Linearizable reads without a log entry (thesis 6.4): the leader serves a read at
// its commit index once a quorum confirms it still leads, or at once while its lease
// holds (thesis 6.4.1, opt-in); a follower asks the leader for the index.
#include <string>

#include "raft/planted_bugs.h"
#include "raft/raft_core.h"

namespace raft {

Error RaftCore::read_index(ReadId id) {
  if (LeaderState* l = leading()) {
    start_read(*l, ReadRequest{.id = id, .from = config_.id});
    return Error::ok();
  }
  if (planted::kFollowerLocalRead) {
    outbox_.reads.push_back(ReadState{.id = id, .index = log_.committed()});
    return Error::ok();
  }
  if (leader_ == kNoNode) {
    return Error(ErrorCode::kNotLeader, "no leader is known in term " +
                                            std::to_string(term_.value()) + " to confirm a read");
  }
  send(leader_, ReadIndexRequest{.id = id}, /*after_persist=*/false);
  return Error::ok();
}

void RaftCore::handle_read_index_request(const Message& m, const ReadIndexRequest& rr) {
  if (LeaderState* l = leading()) {
    start_read(*l, ReadRequest{.id = rr.id, .from = m.from});
  } else {
    send(m.from, ReadIndexResponse{.id = rr.id, .ok = false}, /*after_persist=*/false);
  }
}

void RaftCore::handle_read_index_response(const ReadIndexResponse& rr) {
  if (rr.ok) {
    outbox_.reads.push_back(ReadState{.id = rr.id, .index = rr.index});
  } else {
    outbox_.dropped_reads.push_back(rr.id);
  }
}

void RaftCore::start_read(LeaderState& l, ReadRequest request) {
  // Thesis 6.4 step 1: until it commits an entry of its own term, a new leader does
  // not know the commit index of its predecessor; its no-op settles that.
  if (log_.term(log_.committed()) != term_) {
    l.reads.defer(request);
    return;
  }
  if (planted::kReadWithoutQuorum || planted::kLeaderIgnoresQuorumLoss || lease_valid(l)) {
    release_read(request, log_.committed());
    return;
  }
  // Steps 2-3: a heartbeat round sent after the read arrived, answered by a quorum.
  l.reads.add(request, log_.committed());
  confirm_reads(l);  // a cluster of one confirms at once
}

void RaftCore::start_deferred_reads(LeaderState& l) {
  if (l.reads.has_deferred() && log_.term(log_.committed()) == term_) {
    for (const ReadRequest& r : l.reads.take_deferred()) {
      start_read(l, r);
    }
  }
}

void RaftCore::confirm_reads(LeaderState& l) {
  for (const PendingRead& r : l.reads.take_confirmed(membership(), config_.id)) {
    release_read(r.request, r.index);
  }
}

bool RaftCore::lease_valid(const LeaderState& l) const {
  if (!config_.lease_reads || !config_.check_quorum) {
    return false;
  }
  // Thesis 6.4.1: no other leader is elected before an election timeout passes on
  // some voter; shortened by the clock drift the configuration allows.
  const uint64_t lease = config_.timeouts.election_min_ticks - config_.lease_drift_ticks;
  return l.reads.lease_valid(membership(), config_.id, ticks_, lease);
}

void RaftCore::release_read(ReadRequest request, LogIndex index) {
  if (request.from == config_.id) {
    outbox_.reads.push_back(ReadState{.id = request.id, .index = index});
  } else {
    send(request.from, ReadIndexResponse{.id = request.id, .index = index, .ok = true},
         /*after_persist=*/false);
  }
}

void RaftCore::drop_reads(LeaderState& l) {
  for (const ReadRequest& r : l.reads.take_all()) {
    if (r.from == config_.id) {
      outbox_.dropped_reads.push_back(r.id);
    } else {
      send(r.from, ReadIndexResponse{.id = r.id, .ok = false}, /*after_persist=*/false);
    }
  }
}

}  // namespace raft
