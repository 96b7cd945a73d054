// The MVCC record of one key: every version kept since the last compaction, oldest
// first, deletions included as tombstones. Reads at a past revision pick the newest
// version at or below it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace kv {

// One write to a key. A tombstone (a delete) has version 0, create_revision 0, lease 0
// and an empty value.
struct KeyRevision {
  int64_t mod_revision = 0;     // the write's (main) revision
  int64_t create_revision = 0;  // <= mod_revision; 0 for a tombstone
  int64_t version = 0;          // >= 1 for a put, 0 for a tombstone
  int64_t lease = 0;
  int32_t sub = 0;  // position of the write inside its revision (0, 1, ...): orders events
  std::string value;

  bool tombstone() const { return version == 0; }
};

// Invariant: non-empty while the key is in the index; strictly ascending mod_revision;
// all revisions >= the compact revision except possibly the first (the newest version
// at or below it, kept so reads at the compact revision still see it); a tombstone at
// the front is never older than the compact revision.
using KeyHistory = std::vector<KeyRevision>;

// The newest version with mod_revision <= rev, or nullptr when there is none.
inline const KeyRevision* version_at(const KeyHistory& h, int64_t rev) {
  if (!h.empty() && h.back().mod_revision <= rev) return &h.back();
  auto it = std::upper_bound(h.begin(), h.end(), rev,
                             [](int64_t r, const KeyRevision& k) { return r < k.mod_revision; });
  if (it == h.begin()) return nullptr;
  return &*(it - 1);
}

}  // namespace kv
