#include "security/simple_tokens.h"

namespace security {

void SimpleTokens::assign(const std::string& token, const std::string& user,
                          Clock::time_point now) {
  std::unique_lock lock(mu_);
  sweep(now);
  Entry& e = tokens_[token];
  e.user = user;
  e.expires.store((now + ttl_).time_since_epoch().count(), std::memory_order_relaxed);
}

std::optional<std::string> SimpleTokens::user_of(std::string_view token, Clock::time_point now) {
  {
    std::shared_lock lock(mu_);
    auto it = tokens_.find(token);
    if (it == tokens_.end()) return std::nullopt;
    Entry& e = it->second;
    if (e.expires.load(std::memory_order_relaxed) > now.time_since_epoch().count()) {
      // Concurrent uses may both move it forward: either later time will do.
      e.expires.store((now + ttl_).time_since_epoch().count(), std::memory_order_relaxed);
      return e.user;
    }
  }
  std::unique_lock lock(mu_);  // expired: forget it, unless a new assign replaced it
  auto it = tokens_.find(token);
  if (it != tokens_.end() &&
      it->second.expires.load(std::memory_order_relaxed) <= now.time_since_epoch().count()) {
    tokens_.erase(it);
  }
  return std::nullopt;
}

void SimpleTokens::revoke_user(std::string_view user) {
  std::unique_lock lock(mu_);
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.user == user; });
}

void SimpleTokens::clear() {
  std::unique_lock lock(mu_);
  tokens_.clear();
}

size_t SimpleTokens::size() {
  std::shared_lock lock(mu_);
  return tokens_.size();
}

void SimpleTokens::sweep(Clock::time_point now) {
  // Expired tokens nobody presents again go at most once per TTL, so memory is bounded by
  // the tokens handed out within two TTLs.
  if (now < next_sweep_) return;
  const Clock::rep t = now.time_since_epoch().count();
  std::erase_if(tokens_, [t](const auto& kv) {
    return kv.second.expires.load(std::memory_order_relaxed) <= t;
  });
  next_sweep_ = now + ttl_;
}

}  // namespace security
