// The replicated part of the store, shared by store.cc and snapshot.cc: the MVCC index,
// the change log that orders history by revision, the revision counters and the leases.
// Internal to src/kv.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include "kv/key_history.h"
#include "kv/lessor.h"
#include "kv/store.h"

namespace kv {

struct Store::State {
  using Index = std::map<std::string, KeyHistory, std::less<>>;
  using Node = Index::value_type;

  // One write, in the order writes happened: what watchers catch up from.
  struct Change {
    int64_t revision = 0;
    Node* node = nullptr;  // the key; map nodes never move, so this stays valid
  };

  Index keys;  // every key with a kept version (see KeyHistory's invariant)
  // Every kept version with mod_revision >= compact_revision, ascending by (revision, sub);
  // each points at a node of `keys`.
  std::deque<Change> changes;
  int64_t revision = 1;          // a fresh store is at 1; the first write makes 2
  int64_t compact_revision = 0;  // 0: never compacted; else <= revision
  Lessor leases;
  int64_t size_bytes = 0;  // what the quota counts (Store::size_bytes)
};

inline int64_t revision_cost(const std::string& key, const KeyRevision& r) {
  return static_cast<int64_t>(key.size() + r.value.size()) + kRevisionOverheadBytes;
}

}  // namespace kv
