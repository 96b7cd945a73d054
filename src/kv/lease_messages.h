// The Lease service's requests and responses (etcdserverpb LeaseGrant, LeaseRevoke,
// LeaseKeepAlive, LeaseTimeToLive, LeaseLeases) as plain structs with etcd's fields.
// TTLs are in seconds, as in etcd.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kv {

struct LeaseGrantRequest {
  int64_t ttl = 0;  // seconds; raised to the store's minimum
  int64_t id = 0;   // 0: the store picks one (deterministically, see Store::lease_grant)
};

struct LeaseGrantResponse {
  int64_t revision = 0;
  int64_t id = 0;
  int64_t ttl = 0;  // the effective TTL
};

struct LeaseRevokeRequest {
  int64_t id = 0;
};

struct LeaseRevokeResponse {
  int64_t revision = 0;  // a new revision when keys were deleted
};

struct LeaseKeepAliveRequest {
  int64_t id = 0;
};

struct LeaseKeepAliveResponse {
  int64_t revision = 0;
  int64_t id = 0;
  int64_t ttl = 0;  // the granted TTL the deadline was reset to
};

struct LeaseTimeToLiveRequest {
  int64_t id = 0;
  bool keys = false;
};

struct LeaseTimeToLiveResponse {
  int64_t revision = 0;
  int64_t id = 0;
  int64_t ttl = -1;  // remaining seconds (rounded up); -1 when the lease does not exist
  int64_t granted_ttl = 0;
  std::vector<std::string> keys;  // attached keys in key order, when asked for
};

struct LeaseLeasesResponse {
  int64_t revision = 0;
  std::vector<int64_t> leases;  // ids in ascending order
};

}  // namespace kv
