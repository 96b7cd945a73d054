// What the peer transport tests share: a heartbeat from member 2 whose commit index
// tells messages apart, and a bounded wait for a condition.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "raft/message.h"
#include "transport/transport.h"

namespace transport {

inline raft::Message heartbeat(raft::NodeId to, uint64_t commit) {
  return raft::Message{.from = raft::NodeId(2),
                       .to = to,
                       .term = raft::Term(1),
                       .body = raft::Heartbeat{.commit = raft::LogIndex(commit), .round = {}}};
}

// Heartbeats of commit 1 to `count` to `to`, sent by two threads in turns (a lock orders
// them, as the core and storage threads' sends are ordered by the core), in batches of
// one to seven. Returns once all are handed to `t`.
inline void send_in_turns(Transport& t, raft::NodeId to, uint64_t count) {
  std::mutex turn;
  uint64_t next = 1;
  auto send_some = [&](uint64_t seed) {
    for (uint64_t round = 0;; ++round) {
      std::lock_guard<std::mutex> lock(turn);
      if (next > count) return;
      std::vector<raft::Message> batch;
      for (uint64_t k = 0; k < 1 + (seed + round) % 7 && next <= count; ++k) {
        batch.push_back(heartbeat(to, next++));
      }
      t.send(std::move(batch));
    }
  };
  std::thread a(send_some, 0), b(send_some, 3);
  a.join();
  b.join();
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
