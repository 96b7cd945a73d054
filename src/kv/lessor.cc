#include "kv/lessor.h"

namespace kv {

const Lease* Lessor::find(int64_t id) const {
  auto it = leases_.find(id);
  return it == leases_.end() ? nullptr : &it->second;
}

Lease* Lessor::find(int64_t id) {
  auto it = leases_.find(id);
  return it == leases_.end() ? nullptr : &it->second;
}

namespace {
// splitmix64: a fixed bijective mix, so consecutive counters give well-spread ids.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

int64_t Lessor::next_id() {
  for (;;) {
    const auto id = static_cast<int64_t>(mix(++id_sequence_) & 0x7fffffffffffffffull);
    if (id != 0 && !contains(id)) return id;
  }
}

Lease& Lessor::add(int64_t id, int64_t ttl, TimePoint deadline) {
  Lease& l = leases_[id];
  l.id = id;
  l.ttl = ttl;
  l.deadline = deadline;
  return l;
}

void Lessor::attach(int64_t id, const std::string& key) {
  if (Lease* l = find(id)) l->keys.insert(key);
}

void Lessor::detach(int64_t id, const std::string& key) {
  if (Lease* l = find(id)) l->keys.erase(key);
}

std::vector<int64_t> Lessor::expired(TimePoint now) const {
  std::vector<int64_t> out;
  for (const auto& [id, l] : leases_) {
    if (l.deadline <= now) out.push_back(id);
  }
  return out;
}

void Lessor::refresh_all(TimePoint now, std::chrono::seconds extend) {
  for (auto& [id, l] : leases_) l.deadline = deadline_after(now, extend.count() + l.ttl);
}

}  // namespace kv
