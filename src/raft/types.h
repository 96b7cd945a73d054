/// @file
/// The vocabulary of the consensus core: strong types for node ids, terms, log
/// indexes, read ids and heartbeat rounds; log entries, the hard state that must
/// survive a crash, and cluster membership. Plain structs, no behaviour but comparison.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>
#include <set>
#include <string>

namespace raft {

/// A 64-bit value that cannot be mixed up with a value of another kind: a Term is
/// not a LogIndex, and neither is a NodeId. kOrdinal types (terms and indexes)
/// also count: they can be stepped and offset; identifiers cannot.
template <typename Tag, bool kOrdinal>
class Strong {
 public:
  constexpr Strong() = default;
  /// Explicit: a bare integer never becomes an id or an index by accident.
  constexpr explicit Strong(uint64_t value) : value_(value) {}

  /// The raw number, for encoding and printing.
  constexpr uint64_t value() const { return value_; }
  constexpr auto operator<=>(const Strong&) const = default;

  /// The value after this one.
  constexpr Strong next() const requires kOrdinal { return Strong(value_ + 1); }
  /// The value before this one; the value before 0 is 0 (there is no index -1).
  constexpr Strong prev() const requires kOrdinal { return Strong(value_ == 0 ? 0 : value_ - 1); }
  /// Offsets; subtracting past 0 gives 0.
  ///@{
  constexpr Strong operator+(uint64_t n) const requires kOrdinal { return Strong(value_ + n); }
  constexpr Strong operator-(uint64_t n) const requires kOrdinal {
    return Strong(value_ >= n ? value_ - n : 0);
  }
  ///@}

  friend std::ostream& operator<<(std::ostream& os, Strong s) { return os << s.value_; }

 private:
  uint64_t value_ = 0;
};

/// Node ids start at 1; NodeId() (0) means "none" (no vote, no known leader).
using NodeId = Strong<struct NodeIdTag, false>;
/// Terms start at 1; Term() (0) is the term before any election.
using Term = Strong<struct TermTag, true>;
/// Log indexes start at 1; LogIndex() (0) is the empty log's last index.
using LogIndex = Strong<struct LogIndexTag, true>;

/// Identifies a linearizable read (thesis 6.4) to whoever asked for it. The runtime
/// chooses it; the core only carries it to the leader and back, never orders it.
using ReadId = Strong<struct ReadIdTag, false>;
/// A leader numbers its heartbeat rounds 1, 2, ... from the start of each leadership
/// (HeartbeatRound() (0): none sent yet). A quorum that acknowledged round r confirms
/// the leader still led when it sent r, which is what releases a read (thesis 6.4).
using HeartbeatRound = Strong<struct HeartbeatRoundTag, true>;

/// No node: no vote cast, no leader known.
inline constexpr NodeId kNoNode{};

/// The number of entries in [from, to]; 0 when to < from.
constexpr uint64_t count_between(LogIndex from, LogIndex to) {
  return to < from ? 0 : to.value() - from.value() + 1;
}

/// An entry's position: by Log Matching (paper 5.3) an index and term identify an
/// entry and every entry before it.
struct LogId {
  Term term;       ///< the term of the leader that appended the entry
  LogIndex index;  ///< its position in the log
  auto operator<=>(const LogId&) const = default;
};

/// What an entry holds. Only kNormal entries carry application commands; the others are
/// the core's own, and an embedder that applies the log skips them (kMembership and
/// kTimeouts take effect in the core itself).
enum class EntryType : uint8_t {
  kNormal = 0,      ///< an application command
  kNoop = 1,        ///< appended by every new leader (paper 5.4.2, thesis 6.4)
  kMembership = 2,  ///< a new cluster configuration (thesis 4.3)
  kTimeouts = 3,    ///< new election and heartbeat timeouts, applied on every node
};

/// One log entry. The core never looks into a kNormal entry's `data`.
struct Entry {
  Term term;                            ///< the term of the leader that appended it
  LogIndex index;                       ///< its position; the first entry is 1
  EntryType type = EntryType::kNormal;  ///< kNormal carries an application command
  std::string data{};  ///< the command as proposed, or the core's encoding for its own types

  /// Its position as a LogId.
  LogId id() const { return {.term = term, .index = index}; }
  bool operator==(const Entry&) const = default;
};

/// What a node must have on stable storage before it answers a message (paper
/// Figure 2 "persistent state"): its current term, its vote in that term, and the
/// highest index it knows to be committed (so a restart can apply at once).
struct HardState {
  Term term;        ///< the latest term this node has seen
  NodeId vote;      ///< kNoNode when it has not voted in `term`
  LogIndex commit;  ///< the highest entry it knows to be committed
  bool operator==(const HardState&) const = default;
};

/// Who is in the cluster. Outside a membership change `voters_outgoing` is empty;
/// during joint consensus (thesis 4.3) decisions need a majority of `voters` and
/// of `voters_outgoing`. Learners receive the log and never vote.
/// Invariant: `learners` is disjoint from `voters` and `voters_outgoing`.
struct Membership {
  std::set<NodeId> voters;           ///< the (incoming) voters
  std::set<NodeId> voters_outgoing;  ///< the old voters, during a joint configuration
  std::set<NodeId> learners;         ///< members that receive the log and never vote

  /// Whether a joint configuration (C_old,new) is in force.
  bool joint() const { return !voters_outgoing.empty(); }
  /// Whether `id` votes (in either half of a joint configuration).
  bool is_voter(NodeId id) const { return voters.contains(id) || voters_outgoing.contains(id); }
  /// Whether `id` is a member at all: a voter or a learner.
  bool contains(NodeId id) const { return is_voter(id) || learners.contains(id); }
  bool operator==(const Membership&) const = default;
};

}  // namespace raft

// Strong types key unordered containers as their values do. Hidden from doxygen, which
// cannot place a specialization declared outside namespace std.
/// @cond
template <typename Tag, bool kOrdinal>
struct std::hash<raft::Strong<Tag, kOrdinal>> {
  size_t operator()(raft::Strong<Tag, kOrdinal> s) const noexcept {
    return std::hash<uint64_t>{}(s.value());
  }
};
/// @endcond
