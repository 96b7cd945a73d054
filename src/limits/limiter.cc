#include "limits/limiter.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace limits {

// One client's budgets. Guarded by the limiter's mutex.
struct ClientState {
  ClientLimits limits;
  std::optional<TokenBucket> requests;
  std::optional<TokenBucket> write_bytes;
  Usage usage;
  uint64_t watchers = 0;
  Clock::time_point last_seen;
};

namespace {

std::string num(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

std::chrono::milliseconds round_up(Clock::duration d) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(d);
  return std::max(ms, std::chrono::milliseconds(1));
}

void apply_limits(ClientState& c, const ClientLimits& l, Clock::time_point now) {
  c.limits = l;
  auto bucket = [now](std::optional<TokenBucket>& b, const std::optional<double>& rate,
                      double burst) {
    if (!rate.has_value()) {
      b.reset();
    } else if (b.has_value()) {
      b->set(*rate, burst, now);
    } else {
      b.emplace(*rate, burst, now);
    }
  };
  const double rate = l.requests_per_second.value_or(0);
  bucket(c.requests, l.requests_per_second, l.burst.value_or(std::max(1.0, rate)));
  // A second's worth of bytes, at least one request of any size (see TokenBucket).
  bucket(c.write_bytes, l.write_bytes_per_second, l.write_bytes_per_second.value_or(0));
}

}  // namespace

const char* limit_name(Limit l) {
  switch (l) {
    case Limit::kRequestRate:
      return "request_rate";
    case Limit::kWriteBytesRate:
      return "write_bytes_rate";
    case Limit::kClientConcurrent:
      return "client_concurrent";
    case Limit::kClientMemory:
      return "client_memory";
    case Limit::kMemberConcurrent:
      return "member_concurrent";
    case Limit::kMemberMemory:
      return "member_memory";
    case Limit::kWatchers:
      return "watchers";
    case Limit::kWatchersPerStream:
      return "watchers_per_stream";
    case Limit::kLeases:
      return "leases";
    case Limit::kMemberBacklog:
      return "member_backlog";
  }
  return "unknown";
}

Permit& Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    release();
    limiter_ = other.limiter_;
    client_ = std::move(other.client_);
    bytes_ = other.bytes_;
    admitted_at_ = other.admitted_at_;
    queued_ = other.queued_;
    watcher_ = other.watcher_;
    other.limiter_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void Permit::release() { give_back(admitted_at_); }

void Permit::release_unserved() { give_back(std::nullopt); }

void Permit::give_back(std::optional<Clock::time_point> served_since) {
  if (limiter_ == nullptr) return;
  if (watcher_) {
    limiter_->release_watcher(*client_);
  } else {
    limiter_->release(*client_, bytes_, served_since, queued_);
  }
  limiter_ = nullptr;
  client_.reset();
  bytes_ = 0;
}

namespace {

bool sets_a_limit(const LimitsConfig& c) { return c != LimitsConfig{}; }

}  // namespace

Limiter::Limiter(LimitsConfig config, Clock::time_point, std::function<Clock::time_point()> clock)
    : active_(sets_a_limit(config)), config_(std::move(config)), clock_(std::move(clock)) {}

Limiter::~Limiter() = default;

LimitsConfig Limiter::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

void Limiter::configure(LimitsConfig config, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  config_ = std::move(config);
  active_.store(sets_a_limit(config_), std::memory_order_release);
  for (auto& [client, state] : clients_) apply_limits(*state, config_.for_client(client), now);
}

std::shared_ptr<ClientState> Limiter::state_of(const std::string& client, Clock::time_point now) {
  auto it = clients_.find(client);
  if (it != clients_.end()) return it->second;
  if (clients_.size() >= kMaxIdleClients) {
    // Forget idle clients (nothing in flight). Their buckets start full again when they
    // return, which gives at most one more burst.
    std::erase_if(clients_, [](const auto& kv) {
      return kv.second->usage.in_flight == 0 && kv.second->watchers == 0;
    });
  }
  auto state = std::make_shared<ClientState>();
  apply_limits(*state, config_.for_client(client), now);
  clients_.emplace(client, state);
  return state;
}

std::optional<Refusal> Limiter::check(const std::string& client, ClientState& c, const Request& r,
                                      Clock::time_point now) {
  const ClientLimits& l = c.limits;
  const MemberLimits& m = config_.member;
  auto refuse = [&](Limit limit, std::string what, Clock::duration retry) {
    ++refused_[static_cast<size_t>(limit)];
    return Refusal{.limit = limit,
                   .message = "client " + client + " is over its " + what,
                   .retry_after = round_up(retry)};
  };
  // Nothing is taken before every check has passed, except the buckets, which are
  // given back when a later check refuses. An in-flight budget frees up as the member
  // finishes what it holds: the hint is how long all of that takes.
  const auto soon = drain_hint(static_cast<double>(member_.in_flight),
                               drain_per_second_ ? drain_per_second_->first : 0);
  const auto soon_bytes = drain_hint(static_cast<double>(member_.bytes),
                                     drain_per_second_ ? drain_per_second_->second : 0);
  if (m.max_concurrent && member_.in_flight + 1 > *m.max_concurrent) {
    ++refused_[static_cast<size_t>(Limit::kMemberConcurrent)];
    return Refusal{.limit = Limit::kMemberConcurrent,
                   .message = "this member is at its limit of " +
                              std::to_string(*m.max_concurrent) + " concurrent requests",
                   .retry_after = soon};
  }
  if (m.max_memory_bytes && member_.bytes + r.bytes > *m.max_memory_bytes) {
    ++refused_[static_cast<size_t>(Limit::kMemberMemory)];
    return Refusal{.limit = Limit::kMemberMemory,
                   .message = "this member holds " + std::to_string(member_.bytes) +
                              " bytes of requests; its limit is " +
                              std::to_string(*m.max_memory_bytes),
                   .retry_after = soon_bytes};
  }
  if ((m.max_concurrent || m.max_memory_bytes) && r.queued && r.deadline && last_min_sojourn_ &&
      *last_min_sojourn_ > kBacklogShare * (*r.deadline - now)) {
    ++refused_[static_cast<size_t>(Limit::kMemberBacklog)];
    const auto ms = [](Clock::duration d) {
      return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    };
    return Refusal{.limit = Limit::kMemberBacklog,
                   .message = "this member's requests wait at least " + ms(*last_min_sojourn_) +
                              " ms before they are answered; this one's deadline is in " +
                              ms(*r.deadline - now) + " ms",
                   .retry_after = soon};
  }
  if (l.max_concurrent && c.usage.in_flight + 1 > *l.max_concurrent) {
    return refuse(Limit::kClientConcurrent,
                  "limit of " + std::to_string(*l.max_concurrent) + " concurrent requests", soon);
  }
  if (l.max_memory_bytes && c.usage.bytes + r.bytes > *l.max_memory_bytes) {
    return refuse(Limit::kClientMemory,
                  "memory limit of " + std::to_string(*l.max_memory_bytes) +
                      " bytes of requests in flight (holds " + std::to_string(c.usage.bytes) + ")",
                  soon_bytes);
  }
  if (c.requests) {
    if (auto wait = c.requests->take(1, now)) {
      return refuse(Limit::kRequestRate,
                    "request rate limit of " + num(*l.requests_per_second) + "/s (burst " +
                        num(l.burst.value_or(std::max(1.0, *l.requests_per_second))) + ")",
                    *wait);
    }
  }
  if (r.write && c.write_bytes) {
    if (auto wait = c.write_bytes->take(static_cast<double>(r.bytes), now)) {
      if (c.requests) c.requests->give_back(1);
      return refuse(Limit::kWriteBytesRate,
                    "write rate limit of " + num(*l.write_bytes_per_second) + " bytes/s", *wait);
    }
  }
  return std::nullopt;
}

std::variant<Permit, Refusal> Limiter::admit(const std::string& client, Request r,
                                             Clock::time_point now) {
  if (!active()) {
    admitted_unlimited_.fetch_add(1, std::memory_order_relaxed);
    return Permit();
  }
  std::lock_guard<std::mutex> lock(mu_);
  sample_drain(now);
  std::shared_ptr<ClientState> c = state_of(client, now);
  c->last_seen = now;
  if (std::optional<Refusal> no = check(client, *c, r, now)) return *std::move(no);
  ++admitted_;
  ++c->usage.in_flight;
  c->usage.bytes += r.bytes;
  ++member_.in_flight;
  member_.bytes += r.bytes;
  Permit p;
  p.limiter_ = this;
  p.client_ = std::move(c);
  p.bytes_ = r.bytes;
  p.admitted_at_ = now;
  p.queued_ = r.queued;
  return p;
}

std::variant<Permit, Refusal> Limiter::admit_watcher(const std::string& client, size_t in_stream,
                                                     Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<ClientState> c = state_of(client, now);
  const ClientLimits& l = c->limits;
  auto refuse = [&](Limit limit, const std::string& what) {
    ++refused_[static_cast<size_t>(limit)];
    return Refusal{.limit = limit,
                   .message = "client " + client + " is over its " + what,
                   .retry_after = std::chrono::milliseconds(1000)};
  };
  if (l.max_watchers_per_stream && in_stream + 1 > *l.max_watchers_per_stream) {
    return refuse(
        Limit::kWatchersPerStream,
        "limit of " + std::to_string(*l.max_watchers_per_stream) + " watchers on one stream");
  }
  if (l.max_watchers && c->watchers + 1 > *l.max_watchers) {
    return refuse(Limit::kWatchers, "limit of " + std::to_string(*l.max_watchers) + " watchers");
  }
  ++c->watchers;
  Permit p;
  p.limiter_ = this;
  p.client_ = std::move(c);
  p.watcher_ = true;
  return p;
}

void Limiter::count_refusal(Limit l) {
  std::lock_guard<std::mutex> lock(mu_);
  ++refused_[static_cast<size_t>(l)];
}

void Limiter::release_watcher(ClientState& c) {
  std::lock_guard<std::mutex> lock(mu_);
  --c.watchers;
}

uint64_t Limiter::watchers(const std::string& client) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = clients_.find(client);
  return it == clients_.end() ? 0 : it->second->watchers;
}

void Limiter::release(ClientState& c, uint64_t bytes, std::optional<Clock::time_point> admitted_at,
                      bool queued) {
  const std::optional<Clock::duration> sojourn =
      admitted_at ? std::optional(clock_() - *admitted_at) : std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  if (sojourn && queued && (!min_sojourn_ || *sojourn < *min_sojourn_)) min_sojourn_ = sojourn;
  --c.usage.in_flight;
  c.usage.bytes -= bytes;
  --member_.in_flight;
  member_.bytes -= bytes;
  if (!sojourn) return;  // not served: no part of the drain rate
  ++released_.in_flight;
  released_.bytes += bytes;
}

void Limiter::sample_drain(Clock::time_point now) {
  if (!sampled_at_.has_value()) {
    sampled_at_ = now;
    sampled_ = released_;
    return;
  }
  const Clock::duration since = now - *sampled_at_;
  if (since < kDrainWindow) return;
  // A window that ran much longer than kDrainWindow (no request came) says little about
  // the queue now.
  last_min_sojourn_ = since <= 4 * kDrainWindow ? min_sojourn_ : std::nullopt;
  min_sojourn_.reset();
  const double seconds = std::chrono::duration<double>(since).count();
  drain_per_second_ = {static_cast<double>(released_.in_flight - sampled_.in_flight) / seconds,
                       static_cast<double>(released_.bytes - sampled_.bytes) / seconds};
  sampled_at_ = now;
  sampled_ = released_;
}

std::chrono::milliseconds Limiter::drain_hint(double backlog, double per_second) const {
  if (!drain_per_second_.has_value()) return kUnknownDrainHint;
  if (per_second <= 0) return kMaxDrainHint;  // nothing finished over a whole window
  const double ms = std::clamp(1000 * backlog / per_second, double(kMinDrainHint.count()),
                               double(kMaxDrainHint.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

std::chrono::milliseconds Limiter::backlog_hint(Clock::time_point now) {
  if (!active()) return kUnknownDrainHint;
  std::lock_guard<std::mutex> lock(mu_);
  sample_drain(now);
  return drain_hint(static_cast<double>(member_.in_flight),
                    drain_per_second_ ? drain_per_second_->first : 0);
}

Usage Limiter::member_usage() const {
  std::lock_guard<std::mutex> lock(mu_);
  return member_;
}

Usage Limiter::client_usage(const std::string& client) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = clients_.find(client);
  return it == clients_.end() ? Usage{} : it->second->usage;
}

uint64_t Limiter::admitted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return admitted_ + admitted_unlimited_.load(std::memory_order_relaxed);
}

uint64_t Limiter::refused(Limit l) const {
  std::lock_guard<std::mutex> lock(mu_);
  return refused_[static_cast<size_t>(l)];
}

}  // namespace limits
