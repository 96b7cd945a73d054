// etcd's client-visible errors for the state machine, with the exact gRPC code and
// message of etcd's rpctypes (clientv3 maps errors back by exact string), in one place.
#pragma once

#include <string>

#include "kv/status.h"

namespace kv::errors {

inline Status empty_key() { return {Code::kInvalidArgument, "etcdserver: key is not provided"}; }
inline Status value_provided() { return {Code::kInvalidArgument, "etcdserver: value is provided"}; }
inline Status lease_provided() { return {Code::kInvalidArgument, "etcdserver: lease is provided"}; }
inline Status key_not_found() { return {Code::kInvalidArgument, "etcdserver: key not found"}; }
inline Status too_many_ops() {
  return {Code::kInvalidArgument, "etcdserver: too many operations in txn request"};
}
inline Status duplicate_key() {
  return {Code::kInvalidArgument, "etcdserver: duplicate key given in txn request"};
}
// raftkv's own: etcd 3.4 answers a compare with an unknown target or result as if it held.
inline Status bad_compare_target(int target) {
  return {Code::kInvalidArgument,
          "raftkv: compare target " + std::to_string(target) +
              " is not one of VERSION (0), CREATE (1), MOD (2), VALUE (3), LEASE (4)"};
}
inline Status bad_compare_result(int result) {
  return {Code::kInvalidArgument,
          "raftkv: compare result " + std::to_string(result) +
              " is not one of EQUAL (0), GREATER (1), LESS (2), NOT_EQUAL (3)"};
}
inline Status compacted() {
  return {Code::kOutOfRange, "etcdserver: mvcc: required revision has been compacted"};
}
inline Status future_revision() {
  return {Code::kOutOfRange, "etcdserver: mvcc: required revision is a future revision"};
}
inline Status no_space() {
  return {Code::kResourceExhausted, "etcdserver: mvcc: database space exceeded"};
}
inline Status lease_not_found() {
  return {Code::kNotFound, "etcdserver: requested lease not found"};
}
inline Status lease_exists() {
  return {Code::kFailedPrecondition, "etcdserver: lease already exists"};
}
inline Status lease_ttl_too_large() {
  return {Code::kOutOfRange, "etcdserver: too large lease TTL"};
}

}  // namespace kv::errors
