// RemovedMembers: the members that left the applied configuration and did not come
// back. Their peer streams are refused with transport::kRemovedMessage, as etcd's
// members answer a removed one. Rebuilt from the log replayed after a restart; removals
// folded into the snapshot before it are forgotten.
#pragma once

#include <optional>
#include <set>

#include "absl/base/thread_annotations.h"
#include "node/mutex.h"
#include "raft/types.h"

namespace node {

class RemovedMembers {
 public:
  // The apply thread (or open(), before the threads run): a configuration was applied.
  void applied(const raft::Membership& m) {
    MutexLock lock(&mu_);
    if (last_.has_value()) {
      for (const auto* ids : {&last_->voters, &last_->voters_outgoing, &last_->learners}) {
        for (raft::NodeId id : *ids) {
          if (!m.contains(id)) removed_.insert(id);
        }
      }
    }
    for (const auto* ids : {&m.voters, &m.voters_outgoing, &m.learners}) {
      for (raft::NodeId id : *ids) removed_.erase(id);  // added (back)
    }
    last_ = m;
  }
  // Any thread (the transport asks for every frame's sender).
  bool contains(raft::NodeId id) const {
    MutexLock lock(&mu_);
    return removed_.contains(id);
  }

 private:
  mutable Mutex mu_;
  std::optional<raft::Membership> last_ ABSL_GUARDED_BY(mu_);  // the last one applied
  std::set<raft::NodeId> removed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace node
