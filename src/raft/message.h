/// @file
/// The messages Raft peers exchange (paper Figure 2, thesis chapters 3, 4, 6 and 9),
/// as plain structs. Their wire encoding belongs to the transport, not the core.
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "raft/config.h"
#include "raft/types.h"

namespace raft {

/// What a snapshot covers: the log up to `last`, with the configuration and the
/// timeouts in force at that point (thesis 5.1: the snapshot carries the membership).
struct SnapshotMeta {
  LogId last;             ///< the last entry the snapshot covers
  Membership membership;  ///< the configuration in force at `last`
  Timeouts timeouts;      ///< the timeouts in force at `last`
  bool operator==(const SnapshotMeta&) const = default;
};

/// RequestVote (paper 5.2), also used for PreVote (thesis 9.6): a pre-vote asks
/// "would you vote for me in term+1?" without anyone changing term.
struct RequestVote {
  bool pre_vote = false;  ///< a PreVote round: nobody changes term
  LogId last_log;         ///< the candidate's last entry, for the up-to-date check (paper 5.4.1)
  bool transfer = false;  ///< sent after TimeoutNow: voters ignore their leader lease
};

/// The answer to RequestVote, of the same kind (vote or pre-vote).
struct VoteResponse {
  bool pre_vote = false;  ///< answers a pre-vote
  bool granted = false;   ///< the vote is given
};

/// AppendEntries (paper 5.3): entries follow `prev`; the receiver accepts them only
/// if its log holds an entry matching `prev` (the consistency check).
struct AppendEntries {
  LogId prev;                  ///< the entry just before `entries` in the leader's log
  std::vector<Entry> entries;  ///< may be empty
  LogIndex commit;             ///< the leader's commit index
};

/// The answer to AppendEntries. On success `match` is the last index the follower
/// now shares with the leader. On rejection `rejected` is the `prev.index` that did
/// not match and `hint` lets the leader skip a whole term at a time (thesis 5.3
/// footnote): the follower's term at the conflict and the first index it holds of
/// that term, or {0, last_index + 1} when its log is too short.
struct AppendResponse {
  bool success = false;  ///< the consistency check held
  LogIndex match{};      ///< on success
  LogIndex rejected{};   ///< on rejection
  LogId hint{};          ///< on rejection
};

/// Heartbeats carry the commit index without a consistency check: the leader sends
/// min(match, commit), which the follower is known to hold. `round` echoes back so a
/// leader can count acknowledgements of one heartbeat round (ReadIndex, lease reads).
struct Heartbeat {
  LogIndex commit;       ///< min(the follower's match, the leader's commit)
  HeartbeatRound round;  ///< echoed in the response
};

/// A follower acknowledges a heartbeat round.
struct HeartbeatResponse {
  HeartbeatRound round;  ///< the round of the Heartbeat this answers
};

/// Leadership transfer (thesis 3.10): the target starts an election at once.
struct TimeoutNow {};

/// A follower asks the leader for a read index (thesis 6.4.1); `id` is the
/// follower's own identifier for the read.
struct ReadIndexRequest {
  ReadId id;  ///< handed back in the response
};

/// The leader's answer: reads on the follower may be served once it has applied
/// `index`. With ok false the leader could not serve it (it is no longer leader).
struct ReadIndexResponse {
  ReadId id;         ///< the request's
  LogIndex index{};  ///< with ok false: 0
  bool ok = false;   ///< the leader confirmed the read
};

/// InstallSnapshot (thesis 5.1): the leader no longer has the entries a follower
/// needs. The core sends the metadata; the runtime streams the snapshot's bytes in
/// chunks beside it and steps this message into the follower's core once the whole
/// snapshot is stored there.
struct InstallSnapshot {
  SnapshotMeta meta;  ///< what the snapshot whose bytes travel beside it covers
};

/// Dispatched by type (std::visit), never by position: the order of the alternatives
/// carries no meaning.
using MessageBody = std::variant<RequestVote, VoteResponse, AppendEntries, AppendResponse,
                                 Heartbeat, HeartbeatResponse, TimeoutNow, ReadIndexRequest,
                                 ReadIndexResponse, InstallSnapshot>;

/// Every message carries its sender's term: a higher term makes the receiver a
/// follower of it, a lower one marks the message stale (paper 5.1).
struct Message {
  NodeId from;       ///< the sender
  NodeId to;         ///< the recipient
  Term term;         ///< the sender's current term
  MessageBody body;  ///< what it says
};

/// A short name for the message's kind, for traces and counters.
std::string_view kind_name(const Message& m);

}  // namespace raft
