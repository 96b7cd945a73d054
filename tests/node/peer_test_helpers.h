// What the peer transport tests share: a heartbeat from member 2 whose commit index
// tells messages apart, and a bounded wait for a condition.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

#include "raft/message.h"

namespace transport {

inline raft::Message heartbeat(raft::NodeId to, uint64_t commit) {
  return raft::Message{.from = raft::NodeId(2),
                       .to = to,
                       .term = raft::Term(1),
                       .body = raft::Heartbeat{.commit = raft::LogIndex(commit), .round = {}}};
}

// Whether `pred` holds within 20 s (polled every 5 ms, at most 4,000 times).
template <typename Pred>
bool eventually(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int round = 0; round < 4000 && std::chrono::steady_clock::now() < deadline; ++round) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace transport
