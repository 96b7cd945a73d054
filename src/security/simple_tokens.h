// etcd's simple tokens: an opaque string Authenticate hands out, naming a user until it
// goes unused for the TTL. Every member learns each token from the log (the
// Authenticate entry), so a client may use it on any member; each member keeps its own
// expiry by its own clock, which the caller passes in. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "security/text_util.h"

namespace security {

class SimpleTokens {
 public:
  using Clock = std::chrono::steady_clock;
  explicit SimpleTokens(std::chrono::nanoseconds ttl) : ttl_(ttl) {}

  // `token` names `user` until unused for the TTL from `now`.
  void assign(const std::string& token, const std::string& user, Clock::time_point now);
  // The user `token` names, if it is known and unexpired; a use restarts its TTL.
  std::optional<std::string> user_of(std::string_view token, Clock::time_point now);
  // Forgets every token of `user` (deleted, or a new password), or every token.
  void revoke_user(std::string_view user);
  void clear();
  size_t size();

 private:
  struct Entry {
    std::string user;
    // Clock ticks; moved forward by lookups that hold mu_ shared only (every request
    // presents its token: a lookup must not serialise them).
    std::atomic<Clock::rep> expires{0};
  };
  void sweep(Clock::time_point now);  // under mu_, exclusive

  const std::chrono::nanoseconds ttl_;
  std::shared_mutex mu_;  // exclusive to add or remove tokens, shared to look one up
  // Looked up by string_view: a request's token is not copied to find it.
  std::unordered_map<std::string, Entry, StringViewHash, std::equal_to<>>
      tokens_;                      // guarded by mu_
  Clock::time_point next_sweep_{};  // guarded by mu_
};

}  // namespace security
