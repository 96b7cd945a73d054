// The validator's membership rules: a MemberAdd, MemberUpdate or --initial-cluster is
// checked against the members the cluster has before anything is proposed, so a refused
// change leaves the member list, the log and the transport as they were.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "security/url.h"

namespace security {

// A member as the rules see it.
struct MemberView {
  uint64_t id = 0;
  std::vector<std::string> peer_urls;
  bool learner = false;
};

// How large a cluster may grow. etcd has no voter limit but advises at most 7 (each
// voter adds a round trip to every commit's quorum); etcd 3.5 allows one learner
// (--experimental-max-learners).
struct ClusterLimits {
  size_t max_voters = 7;
  size_t max_learners = 1;
};

// Why a membership change was refused; the server edge maps each to etcd's code and words.
enum class MemberRefusalKind {
  kBadUrl,           // a URL does not parse, or the list is empty or repeats one
  kUrlNotAllowed,    // outside --peer-allowed-networks
  kUrlInUse,         // another member has it
  kTooManyVoters,    // ClusterLimits::max_voters reached
  kTooManyLearners,  // ClusterLimits::max_learners reached
  kUnknownMember,    // no member has the id
};

struct MemberRefusal {
  MemberRefusalKind kind;
  std::string detail;  // names the field, the value and what is allowed
};

// A member id as etcd prints it: lowercase hex, no leading zeros.
std::string hex(uint64_t id);

// The peer URLs of one member: at least one, each parsed strictly (no port 0), none
// twice, each inside `allowed` when a list is set.
std::optional<MemberRefusal> check_peer_urls(const std::vector<std::string>& urls,
                                             const std::vector<Network>& allowed);

// MemberAdd: check_peer_urls, no URL another member has, and room for one more voter or
// learner under `limits`.
std::optional<MemberRefusal> check_member_add(const std::vector<std::string>& urls, bool learner,
                                              const std::vector<MemberView>& members,
                                              const ClusterLimits& limits,
                                              const std::vector<Network>& allowed);

// MemberUpdate of member `id`: it exists, check_peer_urls, and no URL another member has
// (its own old URLs may stay).
std::optional<MemberRefusal> check_member_update(uint64_t id, const std::vector<std::string>& urls,
                                                 const std::vector<MemberView>& members,
                                                 const std::vector<Network>& allowed);

}  // namespace security
