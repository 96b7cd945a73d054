#include "sim/safety_checker.h"

#include <sstream>

#include "raft/raft_core.h"

namespace sim {
namespace {

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string node_name(raft::NodeId id) { return "node " + std::to_string(id.value()); }

}  // namespace

NodeView view_of(const raft::Raft& r) {
  return {r.id(), r.role(), r.term(), r.vote(), &core_of(r).log()};
}

uint64_t entry_digest(const raft::Entry& e) {
  uint64_t h = 0xcbf29ce484222325ull;
  uint64_t t = e.term.value(), i = e.index.value();
  h = fnv1a(h, &t, sizeof t);
  h = fnv1a(h, &i, sizeof i);
  auto type = static_cast<uint8_t>(e.type);
  h = fnv1a(h, &type, 1);
  return fnv1a(h, e.data.data(), e.data.size());
}

uint64_t SafetyChecker::applied_digest(raft::LogIndex i) const {
  return i.value() - 1 < applied_.size() ? applied_[i.value() - 1] : 0;
}

void SafetyChecker::on_restart(raft::NodeId id) {
  PerNode& n = nodes_[id];
  n.commit = raft::LogIndex();
  n.applied = raft::LogIndex();
  n.sm_applied = raft::LogIndex();
  n.checked_commit = raft::LogIndex();
  n.role = raft::Role::kFollower;
  // The term and vote in memory after a restart are the durable ones; they are
  // checked by on_durable_hard_state. Forget the in-memory ones.
  n.term = raft::Term();
  n.vote = raft::kNoNode;
}

void SafetyChecker::on_snapshot_installed(raft::NodeId id, raft::LogIndex index) {
  PerNode& n = nodes_[id];
  n.sm_applied = std::max(n.sm_applied, index);
}

std::optional<std::string> SafetyChecker::on_durable_hard_state(raft::NodeId id,
                                                                const raft::HardState& before,
                                                                const raft::HardState& after) {
  if (after.term < before.term) {
    return node_name(id) + ": durable term went backwards from " +
           std::to_string(before.term.value()) + " to " + std::to_string(after.term.value());
  }
  if (after.term == before.term && before.vote != raft::kNoNode && after.vote != before.vote) {
    return node_name(id) + ": durable vote in term " + std::to_string(after.term.value()) +
           " changed from " + std::to_string(before.vote.value()) + " to " +
           std::to_string(after.vote.value());
  }
  return std::nullopt;
}

std::optional<std::string> SafetyChecker::observe(const NodeView& v) {
  PerNode& n = nodes_[v.id];
  const raft::RaftLog& log = *v.log;
  const std::string who = node_name(v.id);

  // Terms never go backwards; within a term the vote never changes once cast.
  if (v.term < n.term) {
    return who + ": term went backwards from " + std::to_string(n.term.value()) + " to " +
           std::to_string(v.term.value());
  }
  if (v.term == n.term && n.vote != raft::kNoNode && v.vote != n.vote) {
    return who + ": voted twice in term " + std::to_string(v.term.value()) + " (for " +
           std::to_string(n.vote.value()) + ", then " + std::to_string(v.vote.value()) + ")";
  }
  if (log.committed() < n.commit) {
    return who + ": commit index went backwards from " + std::to_string(n.commit.value()) + " to " +
           std::to_string(log.committed().value());
  }
  if (log.applied() < n.applied) {
    return who + ": applied index went backwards";
  }

  // Election Safety: at most one leader per term.
  const bool new_leadership =
      v.role == raft::Role::kLeader && (n.role != raft::Role::kLeader || n.term != v.term);
  if (v.role == raft::Role::kLeader) {
    auto [it, inserted] = leaders_.emplace(v.term, v.id);
    if (!inserted && it->second != v.id) {
      return "Election Safety: " + who + " and node " + std::to_string(it->second.value()) +
             " are both leaders of term " + std::to_string(v.term.value());
    }
  }

  // Find where the log changed since the last look: scan down from the top until
  // the checker's mirror and the log agree.
  const uint64_t first = log.first_index().value();
  const uint64_t old_last = n.mirror.size();
  const uint64_t new_last = log.last_index().value();
  uint64_t agree = std::min(old_last, new_last);
  while (agree >= first) {
    const raft::Entry& e = log.at(raft::LogIndex(agree));
    const auto& m = n.mirror[agree - 1];
    if (m.first == e.term && m.second == entry_digest(e)) {
      break;
    }
    --agree;
  }
  if (agree < first) {
    agree = first - 1;
  }
  // Leader Append-Only: a leader never overwrites or deletes entries of its log.
  if (!new_leadership && v.role == raft::Role::kLeader && agree < old_last) {
    return "Leader Append-Only: leader " + who + " of term " + std::to_string(v.term.value()) +
           " changed its log at index " + std::to_string(agree + 1);
  }
  if (agree < n.checked_commit.value()) {
    return who + " changed its log at index " + std::to_string(agree + 1) +
           ", which it had already seen committed (up to " +
           std::to_string(n.checked_commit.value()) + ")";
  }
  n.mirror.resize(new_last);
  for (uint64_t i = agree + 1; i <= new_last; ++i) {
    const raft::Entry& e = log.at(raft::LogIndex(i));
    if (e.index.value() != i) {
      return who + ": entry at position " + std::to_string(i) + " claims index " +
             std::to_string(e.index.value());
    }
    const uint64_t digest = entry_digest(e);
    const raft::Term prev_term = log.term(raft::LogIndex(i - 1)).value_or(raft::Term());
    n.mirror[i - 1] = {e.term, digest};
    // Log Matching: an index and term identify one entry and all entries before it.
    auto [it, inserted] =
        entries_.emplace(std::make_pair(e.index, e.term), Known{digest, prev_term});
    if (!inserted &&
        (it->second.digest != digest || (i - 1 >= first && it->second.prev_term != prev_term))) {
      return "Log Matching: " + who + " holds an entry at index " + std::to_string(i) + " term " +
             std::to_string(e.term.value()) +
             " that differs from another node's entry with the same index and term" +
             (it->second.digest == digest ? " in what precedes it" : "");
    }
  }

  // Committed entries never change: every node agrees on them.
  for (uint64_t i = n.checked_commit.value() + 1; i <= log.committed().value(); ++i) {
    if (i < first) {
      continue;
    }
    const uint64_t digest = n.mirror[i - 1].second;
    if (i <= committed_.size()) {
      if (committed_[i - 1] != digest) {
        return "State Machine Safety: " + who + " committed a different entry at index " +
               std::to_string(i) + " than was committed before";
      }
    } else {
      committed_.push_back(digest);
      // The first node to see an index committed is the leader that committed it (it
      // knows before any follower can), so this is the term of the commit.
      committed_in_.push_back(v.term);
    }
  }
  n.checked_commit = log.committed();

  // Leader Completeness: a new leader holds every entry committed in an earlier term
  // (paper Figure 3). A leader of an older term may still be elected after a later term
  // committed something, by votes granted before (a candidate of term 1 counting a vote
  // that arrives after another leader of term 2 committed): it lacks that entry, and
  // cannot commit anything, since a majority has moved to the later term.
  if (new_leadership) {
    for (uint64_t i = first; i <= committed_.size(); ++i) {
      if (committed_in_[i - 1] >= v.term) continue;
      if (i > new_last || n.mirror[i - 1].second != committed_[i - 1]) {
        return "Leader Completeness: " + who + " became leader of term " +
               std::to_string(v.term.value()) + " without committed entry " + std::to_string(i);
      }
    }
  }

  n.term = v.term;
  n.vote = v.vote;
  n.role = v.role;
  n.commit = log.committed();
  n.applied = log.applied();
  return std::nullopt;
}

std::optional<std::string> SafetyChecker::on_apply(raft::NodeId id, const raft::Entry& e) {
  PerNode& n = nodes_[id];
  const std::string who = node_name(id);
  if (e.index != n.sm_applied.next()) {
    return who + " applied index " + std::to_string(e.index.value()) + " after " +
           std::to_string(n.sm_applied.value()) + ": entries must be applied in order, once";
  }
  n.sm_applied = e.index;
  const uint64_t digest = entry_digest(e);
  const uint64_t i = e.index.value();
  if (i > applied_.size()) {
    applied_.resize(i, 0);
  }
  if (applied_[i - 1] != 0) {
    if (applied_[i - 1] != digest) {
      return "State Machine Safety: " + who + " applied a different entry at index " +
             std::to_string(i) + " than another node";
    }
  } else {
    applied_[i - 1] = digest;
  }
  if (i <= committed_.size() && committed_[i - 1] != digest) {
    return "State Machine Safety: " + who + " applied an entry at index " + std::to_string(i) +
           " that is not the committed one";
  }
  return std::nullopt;
}

}  // namespace sim
