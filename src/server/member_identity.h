// Who this member is: its member id and its cluster's id, decided once, when its data
// directory is new, and kept in <data-dir>/member (etcd keeps them in its WAL's
// metadata). A founding member's id comes from --initial-cluster; a member MemberAdd
// added (with an id fresh at each addition) learns it from a peer before it starts.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class ChannelCredentials;
}

namespace server {

struct MemberIdentity {
  uint64_t member_id = 0;
  uint64_t cluster_id = 0;
  friend bool operator==(const MemberIdentity&, const MemberIdentity&) = default;
};

// The identity kept in `data_dir`, or nothing when none was written (a new data
// directory, or one from before this file existed). A file that cannot be read or is
// malformed is an error naming it.
absl::StatusOr<std::optional<MemberIdentity>> read_identity(const std::string& data_dir);

// Keeps `identity` in `data_dir` (created if missing): written to a temporary file,
// synced and renamed, so a crash leaves the old file or the new one.
absl::Status write_identity(const std::string& data_dir, const MemberIdentity& identity);

// Whether `data_dir` holds nothing of a member yet (missing, empty, or only the TLS
// copies a start makes).
bool is_new_data_dir(const std::string& data_dir);

// A member of the cluster as a peer described it.
struct PeerMember {
  uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
};

struct ClusterInfo {
  MemberIdentity identity;          // this member's id, the cluster's id
  std::vector<PeerMember> members;  // every member, this one included
};

// Asks the peers at `peer_urls` (rounds over all of them until `timeout`) for the
// cluster's id and members, and finds this member as the one whose peer URLs include
// `self_peer_url`. Errors: no peer answered ("cannot fetch cluster info from peer urls",
// etcd's words, with each peer's error), or the cluster has no member with that URL
// (MemberAdd must come first). `tls` dials https:// peers (null: the system's roots).
absl::StatusOr<ClusterInfo> fetch_cluster_info(const std::vector<std::string>& peer_urls,
                                               const std::string& self_peer_url,
                                               std::shared_ptr<grpc::ChannelCredentials> tls,
                                               std::chrono::milliseconds timeout);

}  // namespace server
