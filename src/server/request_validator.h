// etcd's request rules, checked at the gate before anything is proposed (as etcd's v3rpc
// layer checks each request before it reaches Raft): what a request must satisfy on its
// own, without the store. A refused request never becomes a log entry. What needs the
// state (compares, revisions, whether a lease exists) is decided when the entry applies.
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>

#include <cstdint>

#include "etcd/rpc.pb.h"

namespace server {

struct RequestRules {
  int64_t max_txn_ops = 128;  // --max-txn-ops
};

// OK, or etcd's code and words for the first rule `req` breaks: an empty key (Range, Put,
// DeleteRange, a Txn's compares and ops), a value or lease given with ignore_value or
// ignore_lease, a sort option out of range, a Txn over max_txn_ops, a key a Txn writes
// twice, a compare target or result out of range, a lease TTL over etcd's maximum.
// Requests of other types pass.
grpc::Status validate_request(const google::protobuf::Message& req, const RequestRules& rules);

// Whether a Txn only reads: every op of both branches a range, nested ones too (etcd's
// isTxnReadonly; an alarm's capped applier lets such a Txn through).
bool txn_is_read_only(const etcdserverpb::TxnRequest& txn);

}  // namespace server
