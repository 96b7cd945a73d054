#include "raft/codec.h"

#include <cstdint>

#include "raft/byte_codec.h"

namespace raft {
namespace {

void put_set(ByteWriter& out, const std::set<NodeId>& ids) {
  out.u32(static_cast<uint32_t>(ids.size()));
  for (NodeId id : ids) out.u64(id.value());
}

bool get_set(ByteReader& r, std::set<NodeId>* ids) {
  uint32_t n = 0;
  if (!r.u32(&n) || n > 65536) return false;
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t id = 0;
    if (!r.u64(&id) || id == 0) return false;
    ids->insert(NodeId(id));
  }
  return true;
}

}  // namespace

std::string encode_timeouts(const Timeouts& t) {
  std::string out;
  ByteWriter w(&out);
  w.u32(t.heartbeat_ticks);
  w.u32(t.election_min_ticks);
  w.u32(t.election_max_ticks);
  return out;
}

std::optional<Timeouts> decode_timeouts(std::string_view data) {
  ByteReader r(data);
  Timeouts t;
  if (!r.u32(&t.heartbeat_ticks) || !r.u32(&t.election_min_ticks) ||
      !r.u32(&t.election_max_ticks) || !r.done() || !validate(t).is_ok()) {
    return std::nullopt;
  }
  return t;
}

std::string encode_membership(const Membership& m) {
  std::string out;
  ByteWriter w(&out);
  put_set(w, m.voters);
  put_set(w, m.voters_outgoing);
  put_set(w, m.learners);
  return out;
}

std::optional<Membership> decode_membership(std::string_view data) {
  ByteReader r(data);
  Membership m;
  if (!get_set(r, &m.voters) || !get_set(r, &m.voters_outgoing) || !get_set(r, &m.learners) ||
      !r.done() || m.voters.empty()) {
    return std::nullopt;
  }
  // Membership's invariant: a learner is not also a voter (change_membership refuses it).
  for (NodeId id : m.learners) {
    if (m.is_voter(id)) return std::nullopt;
  }
  return m;
}

}  // namespace raft
