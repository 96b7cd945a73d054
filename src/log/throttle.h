// Throttle: lets a repeated log line through once per period per key (a peer, say), and
// counts what it held back, so a misbehaving peer cannot flood the log.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace raftlog {

class Throttle {
 public:
  using Clock = std::chrono::steady_clock;

  // At most `max_keys` keys are remembered; when full, the expired ones are forgotten
  // and, failing that, lines for new keys are held back (counted nowhere).
  explicit Throttle(Clock::duration period, size_t max_keys = 1024)
      : period_(period), max_keys_(max_keys) {}

  // Whether a line for `key` may be written at `now`: the first time, then once
  // `period` has passed since the last one let through. On true, `*suppressed` (if not
  // null) gets how many were held back for the key since then. Any thread.
  bool allow(const std::string& key, uint64_t* suppressed = nullptr,
             Clock::time_point now = Clock::now());

 private:
  struct Entry {
    Clock::time_point last;
    uint64_t suppressed = 0;
  };
  const Clock::duration period_;
  const size_t max_keys_;
  std::mutex mu_;
  std::map<std::string, Entry> keys_;  // guarded by mu_
};

}  // namespace raftlog
