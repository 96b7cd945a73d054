// The lease workload's checker (docs/design/chaos.md 4.4): a lease's keys stay while its
// TTL promise holds, go at once when it is revoked, go within bounds after its last
// keepalive once every fault is healed, all at one revision, and a revoked lease takes
// no new key (rules L1-L5).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "raftkv/chaos_history.pb.h"

namespace chaos {

// One broken rule and the history lines that show it.
struct LeaseViolation {
  std::string rule;     // "L1" .. "L5"
  std::string anomaly;  // e.g. "lease-expired-early"
  int64_t lease = 0;
  std::string what;                    // one sentence for people
  std::vector<raftkv::chaos::Op> ops;  // the lines that show it, in history order
  int64_t from = 0, to = 0;            // when it happened: faults overlapping this matter
};

struct LeaseReport {
  size_t granted = 0, grants_failed = 0, grants_unknown = 0;
  size_t revoked = 0;                // leases with an acknowledged revoke
  size_t expired = 0;                // leases never revoked whose keys were seen gone
  size_t reads = 0, keepalives = 0;  // acknowledged
  size_t deletions_seen = 0;         // delete events the lease watcher delivered
  bool final_read = false;           // the final read came back: L3 could be checked
  size_t expiry_checked = 0;         // leases L3 judged (the final read came late enough)
  // Keepalives answered "lease not found" while the lease's promise still held and no
  // revoke had been sent. Not counted as L1: a member can answer before it has applied
  // the grant (etcd's leader renews from its applied state); kept for the record.
  size_t keepalive_not_found_early = 0;
  std::vector<LeaseViolation> violations;
};

// Election timeout of both servers in the harness: L3 allows two after the promise.
inline constexpr int64_t kLeaseElectionTimeout = 1'000'000'000;
// L3's further allowance for the revoke of an expired lease to be applied.
inline constexpr int64_t kLeaseRevokeAllowance = 3'000'000'000;

// Checks the lease workload's lines of `ops` (in history order).
LeaseReport check_lease(const std::vector<raftkv::chaos::Op>& ops);

// A report for people: the counts and, for each broken rule, its first violations with
// their lines and the faults around them. Times are seconds since `origin`.
std::string describe(const LeaseReport& report,
                     const std::vector<raftkv::chaos::NemesisEvent>& faults, int64_t origin);

}  // namespace chaos
