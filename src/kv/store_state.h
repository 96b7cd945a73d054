// The replicated part of the store, shared by store.cc and snapshot.cc: the MVCC index,
// the change log that orders history by revision, the revision counters and the leases.
// Internal to src/kv.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "kv/key_history.h"
#include "kv/lessor.h"
#include "kv/status.h"
#include "kv/store.h"

namespace kv {

// The MVCC index: every key with a kept version, in key order (ranges and snapshots walk
// it), and hashed as well, for the lookup of one key (a put, a one-key range, a compare):
// one probe where the ordered map descends about log2(keys) nodes, each a likely cache
// miss on a busy member (docs/benchmarks.md, "The seventh cut"). Every insertion and
// removal goes through here, so the two always hold the same nodes.
class KeyIndex {
 public:
  using Map = std::map<std::string, KeyHistory, std::less<>>;
  using Node = Map::value_type;
  using iterator = Map::iterator;
  using const_iterator = Map::const_iterator;

  KeyIndex() = default;
  // A copy's hash would point into the original's nodes; a move carries the nodes along.
  KeyIndex(const KeyIndex&) = delete;
  KeyIndex& operator=(const KeyIndex&) = delete;
  KeyIndex(KeyIndex&&) = default;
  KeyIndex& operator=(KeyIndex&&) = default;

  Node* find(std::string_view key) {
    auto it = hash_.find(key);
    return it == hash_.end() ? nullptr : *it;
  }
  const Node* find(std::string_view key) const {
    auto it = hash_.find(key);
    return it == hash_.end() ? nullptr : *it;
  }
  // The node of `key`, added with an empty history when absent; second: whether added.
  std::pair<Node*, bool> insert(std::string_view key) {
    if (Node* n = find(key)) return {n, false};
    return {add(map_.try_emplace(std::string(key)).first), true};
  }
  // Adds `key`, above every key held (a snapshot's keys, in order), with history `h`.
  Node* append(std::string key, KeyHistory h) {
    return add(map_.emplace_hint(map_.end(), std::move(key), std::move(h)));
  }
  // Removes `n` (map nodes never move, so every other Node* stays valid).
  void erase(const Node* n) {
    // Found by its key, equal by address: a node the hash lacks is a broken index, not a
    // key to drop from the map alone.
    if (hash_.erase(const_cast<Node*>(n)) != 1) {
      invariant_failed("key index: erasing a key its hash does not hold");
    }
    map_.erase(n->first);
  }

  iterator lower_bound(std::string_view key) { return map_.lower_bound(key); }
  const_iterator lower_bound(std::string_view key) const { return map_.lower_bound(key); }
  const_iterator upper_bound(std::string_view key) const { return map_.upper_bound(key); }
  iterator begin() { return map_.begin(); }
  iterator end() { return map_.end(); }
  const_iterator begin() const { return map_.begin(); }
  const_iterator end() const { return map_.end(); }
  // The greatest key held; the index must not be empty.
  const std::string& last_key() const { return map_.rbegin()->first; }
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  Node* add(iterator it) {
    hash_.insert(&*it);
    return &*it;
  }

  // The hash holds map_'s nodes, found by key (heterogeneous lookup), in abseil's open
  // addressing table: a probe reads a group of control bytes and a slot, where
  // std::unordered_set read a bucket, a list node and divided twice (docs/benchmarks.md,
  // "The eighth cut"). kv_bench: 305 heap bytes a key in all, 337 with std::unordered_set.
  struct ByKeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return absl::Hash<std::string_view>{}(key); }
    size_t operator()(const Node* n) const { return (*this)(n->first); }
  };
  struct ByKeyEqual {
    using is_transparent = void;
    bool operator()(const Node* a, const Node* b) const { return a == b; }
    bool operator()(std::string_view key, const Node* n) const { return key == n->first; }
    bool operator()(const Node* n, std::string_view key) const { return key == n->first; }
  };

  Map map_;
  absl::flat_hash_set<Node*, ByKeyHash, ByKeyEqual> hash_;
};

struct Store::State {
  using Index = KeyIndex;
  using Node = KeyIndex::Node;

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
