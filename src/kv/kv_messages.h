// The KV service's requests and responses (etcdserverpb Range, Put, DeleteRange, Txn,
// Compaction) as plain structs with etcd's field names and meanings, so the gRPC server
// maps them 1:1. `revision` in a response is what etcd puts in ResponseHeader.revision.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kv/key_value.h"

namespace kv {

// Key ranges (all requests): `range_end` empty means the single key `key`;
// `range_end == "\0"` means every key >= `key`; otherwise [key, range_end).
struct RangeRequest {
  enum class SortOrder { kNone = 0, kAscend = 1, kDescend = 2 };
  enum class SortTarget { kKey = 0, kVersion = 1, kCreate = 2, kMod = 3, kValue = 4 };
  std::string key;
  std::string range_end;
  int64_t limit = 0;     // <= 0: no limit
  int64_t revision = 0;  // <= 0: the current revision
  SortOrder sort_order = SortOrder::kNone;
  SortTarget sort_target = SortTarget::kKey;
  bool serializable = false;  // a server concern (local read); ignored by the store
  bool keys_only = false;
  bool count_only = false;
  int64_t min_mod_revision = 0;  // 0: no filter; filters never change `count`
  int64_t max_mod_revision = 0;
  int64_t min_create_revision = 0;
  int64_t max_create_revision = 0;
};

struct RangeResponse {
  int64_t revision = 0;  // the store's current revision (even for a read at a past one)
  std::vector<KeyValue> kvs;
  bool more = false;  // more keys passed the filters than `limit` let through
  int64_t count = 0;  // keys in the range at the read revision, before filters and limit
};

struct PutRequest {
  std::string key;
  std::string value;
  int64_t lease = 0;
  bool prev_kv = false;
  bool ignore_value = false;  // keep the current value (key must exist, value must be empty)
  bool ignore_lease = false;  // keep the current lease (key must exist, lease must be 0)
};

struct PutResponse {
  int64_t revision = 0;
  std::optional<KeyValue> prev_kv;
};

struct DeleteRangeRequest {
  std::string key;
  std::string range_end;
  bool prev_kv = false;
};

struct DeleteRangeResponse {
  int64_t revision = 0;
  int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

struct Compare {
  enum class Result { kEqual = 0, kGreater = 1, kLess = 2, kNotEqual = 3 };
  enum class Target { kVersion = 0, kCreate = 1, kMod = 2, kValue = 3, kLease = 4 };
  Result result = Result::kEqual;
  Target target = Target::kVersion;
  std::string key;
  std::string range_end;  // compare every key of the range (see RangeRequest)
  // The operand for `target` (etcd's target_union): only the one matching `target` is read.
  int64_t version = 0;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  std::string value;
  int64_t lease = 0;
};

struct TxnRequest;
struct TxnResponse;

// One operation of a transaction branch (etcd's RequestOp oneof). A nested TxnRequest is
// held by pointer because the type is recursive.
struct RequestOp {
  std::variant<RangeRequest, PutRequest, DeleteRangeRequest, std::shared_ptr<TxnRequest>> request;
};

struct ResponseOp {
  std::variant<RangeResponse, PutResponse, DeleteRangeResponse, std::shared_ptr<TxnResponse>>
      response;
};

struct TxnRequest {
  std::vector<Compare> compare;  // a conjunction; empty is true
  std::vector<RequestOp> success;
  std::vector<RequestOp> failure;
};

struct TxnResponse {
  int64_t revision = 0;
  bool succeeded = false;
  std::vector<ResponseOp> responses;  // one per op of the branch that ran, in order
};

struct CompactionRequest {
  int64_t revision = 0;
  bool physical = false;  // compaction is always complete on return; accepted and ignored
};

struct CompactionResponse {
  int64_t revision = 0;
};

}  // namespace kv
