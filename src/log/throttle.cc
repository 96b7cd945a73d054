#include "log/throttle.h"

namespace raftlog {

bool Throttle::allow(const std::string& key, uint64_t* suppressed, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    if (keys_.size() >= max_keys_) {
      std::erase_if(keys_, [&](const auto& kv) { return now - kv.second.last >= period_; });
      if (keys_.size() >= max_keys_) return false;
    }
    keys_.emplace(key, Entry{.last = now, .suppressed = 0});
    if (suppressed != nullptr) *suppressed = 0;
    return true;
  }
  Entry& e = it->second;
  if (now - e.last < period_) {
    ++e.suppressed;
    return false;
  }
  if (suppressed != nullptr) *suppressed = e.suppressed;
  e = Entry{.last = now, .suppressed = 0};
  return true;
}

}  // namespace raftlog
