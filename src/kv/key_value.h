// mvccpb.KeyValue and mvccpb.Event as plain structs: one version of a key, and one
// change to a key as a watcher sees it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace kv {

// Fields mirror mvccpb.KeyValue (same names and meanings), so the server copies them 1:1.
struct KeyValue {
  std::string key;
  int64_t create_revision = 0;  // revision of the put that created this generation of the key
  int64_t mod_revision = 0;     // revision of the last write to the key
  int64_t version = 0;          // writes since creation: 1 after the create, 0 once deleted
  std::string value;
  int64_t lease = 0;  // attached lease id, 0 for none
  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

// mvccpb.Event. A DELETE event's kv holds only the key and mod_revision (the deletion's
// revision), as etcd sends it.
struct Event {
  enum class Type { kPut = 0, kDelete = 1 };
  Type type = Type::kPut;
  KeyValue kv;
  std::optional<KeyValue> prev_kv;  // set only when asked for and still in history
  friend bool operator==(const Event&, const Event&) = default;
};

}  // namespace kv
