// Leases: ids with a granted TTL and the keys attached to them. Which leases exist and
// their keys are replicated state (in snapshots); deadlines are not: each replica keeps
// its own, set from the `now` its caller passes, and only the leader acts on them (it
// proposes a revoke for every lease that `expired(now)` returns), as etcd's lessor does.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace kv {

using LeaseClock = std::chrono::steady_clock;
using TimePoint = LeaseClock::time_point;

// now + seconds, saturating at TimePoint::max() (TTLs go up to 9e9 s, close to the clock's range).
inline TimePoint deadline_after(TimePoint now, int64_t seconds) {
  using std::chrono::duration_cast;
  const auto max = TimePoint::max();
  const auto limit = duration_cast<std::chrono::seconds>(max - now).count();
  if (seconds >= limit) return max;
  return now + duration_cast<TimePoint::duration>(std::chrono::seconds(seconds));
}

struct Lease {
  int64_t id = 0;   // never 0
  int64_t ttl = 0;  // granted TTL in seconds, >= the store's minimum
  // When the lease expires on this replica. TimePoint::max() until the replica learns a
  // time for it (after a restore, until promote()).
  TimePoint deadline = TimePoint::max();
  std::set<std::string> keys;  // keys whose current version carries this lease
};

class Lessor {
 public:
  const Lease* find(int64_t id) const;
  Lease* find(int64_t id);
  bool contains(int64_t id) const { return leases_.count(id) != 0; }
  size_t size() const { return leases_.size(); }
  const std::map<int64_t, Lease>& all() const { return leases_; }

  // A fresh id for a grant that named none: a hash of a replicated counter, positive and
  // unused, so every replica picks the same one.
  int64_t next_id();
  // Precondition: id != 0 and not in use.
  Lease& add(int64_t id, int64_t ttl, TimePoint deadline);
  void erase(int64_t id) { leases_.erase(id); }

  // Attach/detach a key to/from a lease (no-op for lease 0 or an unknown lease).
  void attach(int64_t id, const std::string& key);
  void detach(int64_t id, const std::string& key);

  // Ids of leases whose deadline is at or before `now`, ascending.
  std::vector<int64_t> expired(TimePoint now) const;
  // Every deadline becomes now + extend + ttl (a new leader must not expire leases early).
  void refresh_all(TimePoint now, std::chrono::seconds extend);

  uint64_t id_sequence() const { return id_sequence_; }
  void set_id_sequence(uint64_t s) { id_sequence_ = s; }

 private:
  std::map<int64_t, Lease> leases_;  // key == value.id
  uint64_t id_sequence_ = 0;         // generated ids so far; replicated
};

}  // namespace kv
