// Watch requests and responses (etcdserverpb WatchCreateRequest, WatchResponse) as plain
// structs. The store assigns watch ids; mapping them to a stream's ids is the server's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kv/key_value.h"

namespace kv {

using WatchId = int64_t;

struct WatchCreateRequest {
  std::string key;
  std::string range_end;       // as in RangeRequest
  int64_t start_revision = 0;  // inclusive; <= 0: from the current revision + 1
  bool no_put = false;         // filter NOPUT
  bool no_delete = false;      // filter NODELETE
  bool prev_kv = false;
};

struct WatchCreateResponse {
  int64_t revision = 0;  // the current revision (header of the created response)
  WatchId watch_id = 0;
};

// What one poll of a watcher yields: events in revision order, whole revisions only.
// `canceled` with `compact_revision` > 0: the next event the watcher needed was compacted
// away (its start revision, or a slow watcher that fell behind a compaction); the watcher is
// gone and the client must re-watch from a newer revision.
struct WatchResponse {
  int64_t revision = 0;  // the store's current revision
  WatchId watch_id = 0;
  bool canceled = false;
  int64_t compact_revision = 0;
  std::string cancel_reason;
  std::vector<Event> events;
};

}  // namespace kv
