#include "server/limits_proto.h"

namespace server {
namespace {

namespace ad = raftkv::admin;

// Set fields only: an unset optional is an absent proto field, and back.
ad::ClientLimits to_proto(const limits::ClientLimits& l) {
  ad::ClientLimits p;
  if (l.requests_per_second) p.set_requests_per_second(*l.requests_per_second);
  if (l.burst) p.set_burst(*l.burst);
  if (l.write_bytes_per_second) p.set_write_bytes_per_second(*l.write_bytes_per_second);
  if (l.max_concurrent) p.set_max_concurrent(*l.max_concurrent);
  if (l.max_memory_bytes) p.set_max_memory_bytes(*l.max_memory_bytes);
  if (l.max_watchers) p.set_max_watchers(*l.max_watchers);
  if (l.max_watchers_per_stream) p.set_max_watchers_per_stream(*l.max_watchers_per_stream);
  if (l.max_leases) p.set_max_leases(*l.max_leases);
  return p;
}

limits::ClientLimits from_proto(const ad::ClientLimits& p) {
  limits::ClientLimits l;
  if (p.has_requests_per_second()) l.requests_per_second = p.requests_per_second();
  if (p.has_burst()) l.burst = p.burst();
  if (p.has_write_bytes_per_second()) l.write_bytes_per_second = p.write_bytes_per_second();
  if (p.has_max_concurrent()) l.max_concurrent = p.max_concurrent();
  if (p.has_max_memory_bytes()) l.max_memory_bytes = p.max_memory_bytes();
  if (p.has_max_watchers()) l.max_watchers = p.max_watchers();
  if (p.has_max_watchers_per_stream()) l.max_watchers_per_stream = p.max_watchers_per_stream();
  if (p.has_max_leases()) l.max_leases = p.max_leases();
  return l;
}

}  // namespace

ad::Limits to_proto(const limits::LimitsConfig& c) {
  ad::Limits p;
  *p.mutable_defaults() = to_proto(c.defaults);
  for (const auto& [client, l] : c.overrides) (*p.mutable_overrides())[client] = to_proto(l);
  if (c.member.max_concurrent) p.mutable_member()->set_max_concurrent(*c.member.max_concurrent);
  if (c.member.max_memory_bytes) {
    p.mutable_member()->set_max_memory_bytes(*c.member.max_memory_bytes);
  }
  return p;
}

limits::LimitsConfig from_proto(const ad::Limits& p) {
  limits::LimitsConfig c;
  c.defaults = from_proto(p.defaults());
  for (const auto& [client, l] : p.overrides()) c.overrides[client] = from_proto(l);
  if (p.member().has_max_concurrent()) c.member.max_concurrent = p.member().max_concurrent();
  if (p.member().has_max_memory_bytes()) {
    c.member.max_memory_bytes = p.member().max_memory_bytes();
  }
  return c;
}

}  // namespace server
