#include "security/simple_tokens.h"

namespace security {

void SimpleTokens::assign(const std::string& token, const std::string& user,
                          Clock::time_point now) {
  std::lock_guard lock(mu_);
  sweep(now);
  tokens_[token] = Entry{.user = user, .expires = now + ttl_};
}

std::optional<std::string> SimpleTokens::user_of(std::string_view token, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(std::string(token));
  if (it == tokens_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    tokens_.erase(it);
    return std::nullopt;
  }
  it->second.expires = now + ttl_;
  return it->second.user;
}

void SimpleTokens::revoke_user(std::string_view user) {
  std::lock_guard lock(mu_);
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.user == user; });
}

void SimpleTokens::clear() {
  std::lock_guard lock(mu_);
  tokens_.clear();
}

size_t SimpleTokens::size() {
  std::lock_guard lock(mu_);
  return tokens_.size();
}

void SimpleTokens::sweep(Clock::time_point now) {
  // Expired tokens nobody presents again go at most once per TTL, so memory is bounded by
  // the tokens handed out within two TTLs.
  if (now < next_sweep_) return;
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.expires <= now; });
  next_sweep_ = now + ttl_;
}

}  // namespace security
