// What the limiter enforces: limits for each client (a default for every client plus
// named overrides) and for the whole member. An unset limit is no limit; a set one must
// be sensible (validate() names the field, the value and what is allowed).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace limits {

struct ClientLimits {
  std::optional<double> requests_per_second;     // token bucket rate
  std::optional<double> burst;                   // bucket size; >= 1 and >= the rate
  std::optional<double> write_bytes_per_second;  // bytes of writes admitted per second
  std::optional<uint32_t> max_concurrent;        // requests admitted and not yet answered
  std::optional<uint64_t> max_memory_bytes;      // bytes of those requests
  std::optional<uint32_t> max_watchers;          // watchers open, all streams together
  std::optional<uint32_t> max_watchers_per_stream;
  std::optional<uint32_t> max_leases;  // leases granted through this member and alive
  bool operator==(const ClientLimits&) const = default;
};

struct MemberLimits {
  std::optional<uint32_t> max_concurrent;
  std::optional<uint64_t> max_memory_bytes;
  bool operator==(const MemberLimits&) const = default;
};

struct LimitsConfig {
  ClientLimits defaults;                          // every client without an override
  std::map<std::string, ClientLimits> overrides;  // by client key (client_key.h)
  MemberLimits member;
  bool operator==(const LimitsConfig&) const = default;

  // The limits that apply to `client`: its override's set fields, else the defaults'.
  ClientLimits for_client(const std::string& client) const;
};

// Limits far beyond any sensible value are refused too: they are typing mistakes.
inline constexpr double kMaxRate = 10'000'000;  // requests or bytes... per second
inline constexpr double kMaxByteRate = 1e12;    // bytes per second
inline constexpr uint32_t kMaxConcurrent = 1'000'000;
inline constexpr uint64_t kMaxMemoryBytes = uint64_t{1} << 40;  // 1 TiB

absl::Status validate(const ClientLimits& l, const std::string& where);
// "CLIENT:key=value,..." (keys as the fields above; CLIENT may hold colons, as an IPv6
// address does) to the client and its limits. Values are checked by validate().
absl::StatusOr<std::pair<std::string, ClientLimits>> parse_override(const std::string& spec);
// "key=value,..." alone ("" is no limit at all).
absl::StatusOr<ClientLimits> parse_client_limits(const std::string& spec);
absl::StatusOr<MemberLimits> parse_member_limits(const std::string& spec);
// "requests_per_second=100,burst=200" (set fields only; "" when none is set).
std::string to_string(const ClientLimits& l);
absl::Status validate(const LimitsConfig& c);

}  // namespace limits
