// Checks a Txn request before anything runs, as etcd's gRPC layer does: op counts, empty
// keys, compare targets and results in range, ignore_value/ignore_lease misuse, and keys
// written twice (put+put, put+delete, also across nested transactions; then/else of one
// nested txn may put the same key). The server runs it before proposing; the store again
// when applying.
#pragma once

#include <cstdint>

#include "kv/kv_messages.h"
#include "kv/status.h"

namespace kv {

// Ok, or the first error etcd would report (too many ops, key not provided, value/lease
// provided, duplicate key).
Status validate_txn(const TxnRequest& req, int64_t max_txn_ops);

// The request-level checks of a Put outside a Txn: key present, ignore_* not combined with
// a value or lease.
Status validate_put(const PutRequest& req);

// Bytes the quota would be charged if the txn ran: the larger branch's puts (recursively).
int64_t txn_put_cost(const TxnRequest& req);

}  // namespace kv
