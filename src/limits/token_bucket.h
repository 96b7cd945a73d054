// A token bucket: `rate` tokens a second up to `burst`, starting full. Time is passed in,
// so it is exact under test. A take larger than the bucket is allowed once the bucket
// is full and leaves it in debt, so no request is refused forever for its size alone.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

namespace limits {

using Clock = std::chrono::steady_clock;

class TokenBucket {
 public:
  TokenBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(burst), tokens_(burst), at_(now) {}

  // Takes `n` tokens and returns nullopt, or takes nothing and returns how long until
  // the take would succeed.
  std::optional<Clock::duration> take(double n, Clock::time_point now) {
    refill(now);
    const double need = std::min(n, burst_);
    if (tokens_ >= need) {
      tokens_ -= n;
      return std::nullopt;
    }
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>((need - tokens_) / rate_));
  }
  // Gives back tokens taken for a request that was then refused by another limit.
  void give_back(double n) { tokens_ = std::min(burst_, tokens_ + n); }

  // New limits at run time; the tokens in hand are kept (up to the new burst).
  void set(double rate, double burst, Clock::time_point now) {
    refill(now);
    rate_ = rate;
    burst_ = burst;
    tokens_ = std::min(tokens_, burst_);
  }
  double tokens(Clock::time_point now) {
    refill(now);
    return tokens_;
  }

 private:
  void refill(Clock::time_point now) {
    if (now > at_) {
      tokens_ =
          std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - at_).count());
      at_ = now;
    }
  }

  double rate_;
  double burst_;
  double tokens_;  // may be negative after a take larger than the bucket
  Clock::time_point at_;
};

}  // namespace limits
