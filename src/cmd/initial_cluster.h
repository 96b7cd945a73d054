// --initial-cluster, etcd's `name=peer-url,...` list of the founding members: parsed and
// checked against this member's own flags before anything starts.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "security/url.h"

namespace raftkv::cmd {

// One founding member as --initial-cluster names it.
struct InitialMember {
  std::string name;      // not empty, unique in the list
  std::string peer_url;  // as written; parses as a URL, unique in the list
};

// The flags --initial-cluster is checked against.
struct InitialClusterFlags {
  std::string name;                        // --name: the list must name this member...
  std::string adv_peer;                    // ...with this peer URL (--initial-advertise-peer-urls)
  std::vector<security::Network> allowed;  // --peer-allowed-networks (empty: any)
  size_t max_voters = 0;                   // --max-voters
};

// The members `text` names, in order; when `text` is empty, this member alone
// (name=adv_peer). Refused, with an error starting "--initial-cluster": an item that is
// not name=peer-url, a URL that does not parse or lies outside the allowed networks, a
// name or URL given twice, more members than max_voters, a list without this member or
// with another URL for it.
absl::StatusOr<std::vector<InitialMember>> parse_initial_cluster(const std::string& text,
                                                                 const InitialClusterFlags& f);

}  // namespace raftkv::cmd
