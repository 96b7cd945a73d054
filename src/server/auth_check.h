// What etcd's auth requires of each request: the key permissions of Range, Put,
// DeleteRange and Txn (every compare and every op of both branches), and the admin
// (root) check of cluster, maintenance and admin calls. One table, used by the gate on
// the member that receives a request and again by every member when a write applies.
#pragma once

#include <google/protobuf/message.h>

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "etcd/rpc.pb.h"
#include "security/auth_store.h"
#include "server/identity.h"

namespace server {

// The key permissions `req` needs, checked against `auth` for `who`. Requests that
// touch no key (and Watch, which answers refusals in its stream) pass. Auth off: OK.
absl::Status check_keys(const security::AuthStore& auth, const Identity& who,
                        const google::protobuf::Message& req);
absl::Status check_txn(const security::AuthStore& auth, const Identity& who,
                       const etcdserverpb::TxnRequest& txn);

// The cluster operation `req` performs, by the names of the RBAC actions (add_node,
// remove_node, transfer_leader, change_config, ...), or nullopt for a request every
// client may make (reads of keys, MemberList, Status, Alarm GET, leases, Authenticate).
std::optional<std::string_view> cluster_action(const google::protobuf::Message& req);

}  // namespace server
