#include "raft/codec.h"

#include <cstdint>

namespace raft {
namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads little-endian integers from a view, failing (not crashing) past its end.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool u32(uint32_t* v) { return fixed(v, 4); }
  bool u64(uint64_t* v) { return fixed(v, 8); }
  bool done() const { return pos_ == data_.size(); }

 private:
  template <typename T>
  bool fixed(T* v, size_t n) {
    if (data_.size() - pos_ < n) return false;
    T out = 0;
    for (size_t i = 0; i < n; ++i) {
      out |= static_cast<T>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += n;
    *v = out;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

void put_set(std::string& out, const std::set<NodeId>& ids) {
  put_u32(out, static_cast<uint32_t>(ids.size()));
  for (NodeId id : ids) put_u64(out, id.value());
}

bool get_set(Reader& r, std::set<NodeId>* ids) {
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
  put_u32(out, t.heartbeat_ticks);
  put_u32(out, t.election_min_ticks);
  put_u32(out, t.election_max_ticks);
  return out;
}

std::optional<Timeouts> decode_timeouts(std::string_view data) {
  Reader r(data);
  Timeouts t;
  if (!r.u32(&t.heartbeat_ticks) || !r.u32(&t.election_min_ticks) ||
      !r.u32(&t.election_max_ticks) || !r.done() || !validate(t).is_ok()) {
    return std::nullopt;
  }
  return t;
}

std::string encode_membership(const Membership& m) {
  std::string out;
  put_set(out, m.voters);
  put_set(out, m.voters_outgoing);
  put_set(out, m.learners);
  return out;
}

std::optional<Membership> decode_membership(std::string_view data) {
  Reader r(data);
  Membership m;
  if (!get_set(r, &m.voters) || !get_set(r, &m.voters_outgoing) || !get_set(r, &m.learners) ||
      !r.done() || m.voters.empty()) {
    return std::nullopt;
  }
  return m;
}

}  // namespace raft
