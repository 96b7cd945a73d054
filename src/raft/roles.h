/// @file
/// Role: which of the four Raft roles a node holds (follower, pre-candidate,
/// candidate, leader). What a node remembers only while it holds a role is the core's
/// own (raft/role_state.h, not installed).
#pragma once

#include <string_view>

namespace raft {

/// The role a node holds in its current term. Learners are followers that never vote.
enum class Role {
  kFollower,      ///< follows the leader of its term, if it knows one
  kPreCandidate,  ///< asks for pre-votes, changing neither term nor vote (thesis 9.6)
  kCandidate,     ///< asks for votes in a new term (paper 5.2)
  kLeader,        ///< leads its term
};

/// The role's name as status pages and logs show it: "follower", "pre-candidate",
/// "candidate" or "leader".
constexpr std::string_view role_name(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "unknown";
}

}  // namespace raft
