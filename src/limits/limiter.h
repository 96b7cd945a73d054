// The limiter: every client request asks it for a permit before it reaches Raft. A
// permit holds the request's share of the client's and the member's concurrency and
// memory budgets until it is destroyed (RAII: every path that ends a request releases
// it). A refusal names the limit, its value and the client, and says when to retry.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "limits/limits_config.h"
#include "limits/token_bucket.h"

namespace limits {

enum class Limit {
  kRequestRate,
  kWriteBytesRate,
  kClientConcurrent,
  kClientMemory,
  kMemberConcurrent,
  kMemberMemory,
  kWatchers,
  kWatchersPerStream,
  kLeases,
  kMemberBacklog,  // the member could not answer before the request's deadline
};
inline constexpr size_t kLimitCount = 10;
// The metric label of each limit: "request_rate", "write_bytes_rate", ...
const char* limit_name(Limit l);

struct Request {
  uint64_t bytes = 0;  // the request's size; held until the permit is released
  bool write = false;  // writes count against write_bytes_per_second too
  // When the client gives up on it. With a member budget set, a request that the member
  // cannot be expected to answer in time is refused now rather than left to time out:
  // Limiter::kBacklogShare.
  std::optional<Clock::time_point> deadline = std::nullopt;
  // Whether it waits behind the member's queue (a write, a linearizable read). A read the
  // member answers from its own store (a serializable Range) does not: the standing-queue
  // rule neither refuses it nor learns from it (its quick answer would hide the queue).
  bool queued = true;
};

struct Refusal {
  Limit limit;
  std::string message;  // names the limit, its value and the client
  std::chrono::milliseconds retry_after{0};
};

class Limiter;
struct ClientState;

// Move-only; releases what it holds when destroyed or released.
class Permit {
 public:
  Permit() = default;
  Permit(Permit&& other) noexcept { *this = std::move(other); }
  Permit& operator=(Permit&& other) noexcept;
  Permit(const Permit&) = delete;
  Permit& operator=(const Permit&) = delete;
  ~Permit() { release(); }
  void release();
  // For a request the runtime turned away at once (its own overload refusal): gives the
  // permit back without counting the request as served, so that the drain rate and the
  // standing-queue rule see only the requests the member worked on. A flood of instant
  // refusals would otherwise hide a queue behind them.
  void release_unserved();
  bool held() const { return limiter_ != nullptr; }

 private:
  friend class Limiter;
  // Both releases: `served_since` is when the request was admitted, or none.
  void give_back(std::optional<Clock::time_point> served_since);
  Limiter* limiter_ = nullptr;
  std::shared_ptr<ClientState> client_;
  uint64_t bytes_ = 0;
  Clock::time_point admitted_at_{};
  bool queued_ = true;    // Request::queued
  bool watcher_ = false;  // a watcher's place, not a request's
};

// What a client or the member holds now.
struct Usage {
  uint64_t in_flight = 0;
  uint64_t bytes = 0;
  bool operator==(const Usage&) const = default;
};

class Limiter {
 public:
  // `clock` tells when a permit is released (tests pass a fake one).
  Limiter(LimitsConfig config, Clock::time_point now,
          std::function<Clock::time_point()> clock = Clock::now);
  ~Limiter();  // every permit must be released first

  // A permit, or why not. Any thread.
  std::variant<Permit, Refusal> admit(const std::string& client, Request r, Clock::time_point now);
  // A place for one more watcher of `client`, whose stream holds `in_stream` already;
  // held while the watcher exists. Any thread.
  std::variant<Permit, Refusal> admit_watcher(const std::string& client, size_t in_stream,
                                              Clock::time_point now);
  uint64_t watchers(const std::string& client) const;
  // Counts a refusal the caller made for a limit the limiter does not hold (leases: the
  // server knows which exist). Any thread.
  void count_refusal(Limit l);
  // New limits (already validated); permits held stay valid. Any thread.
  void configure(LimitsConfig config, Clock::time_point now);
  LimitsConfig config() const;
  // Whether any limit is set. When none is, admit() hands out an empty permit without
  // taking the lock: the gate costs nothing while limits are off. Any thread.
  bool active() const { return active_.load(std::memory_order_acquire); }

  // How long a client refused for a reason the limiter does not see (the runtime's own
  // overload refusals) should wait: the time the member needs to finish what it holds
  // now, as for a full budget; kUnknownDrainHint while no limit is set. Any thread.
  std::chrono::milliseconds backlog_hint(Clock::time_point now);

  Usage member_usage() const;
  Usage client_usage(const std::string& client) const;
  uint64_t admitted() const;
  uint64_t refused(Limit l) const;

  // How many idle clients' states are kept before the oldest idle ones are forgotten.
  static constexpr size_t kMaxIdleClients = 100'000;
  // A refusal for a full in-flight budget asks the client to come back once the member
  // could have finished all it holds now, at the rate requests finished over the last
  // window: a few milliseconds would bring every refused client back at once. Within
  // [kMinDrainHint, kMaxDrainHint]; kUnknownDrainHint before a window has passed.
  static constexpr Clock::duration kDrainWindow = std::chrono::milliseconds(250);
  static constexpr std::chrono::milliseconds kMinDrainHint{10}, kMaxDrainHint{5000},
      kUnknownDrainHint{1000};
  // Queueing, as CoDel sees it: while even the quickest request finished over the last
  // window spent longer in the member than this share of a new request's time to its
  // deadline, the member has a standing backlog that this request would most likely
  // time out behind, and it is refused (kMemberBacklog). A burst after a quiet spell
  // passes: the quick requests of the quiet spell keep the minimum low. Only with a
  // member budget set, and only for requests that carry a deadline.
  static constexpr double kBacklogShare = 0.5;

 private:
  friend class Permit;
  // `admitted_at`: when the request came in; none for one that was not served. `queued`:
  // Request::queued (only those teach the standing-queue rule).
  void release(ClientState& c, uint64_t bytes, std::optional<Clock::time_point> admitted_at,
               bool queued);
  void release_watcher(ClientState& c);
  std::shared_ptr<ClientState> state_of(const std::string& client, Clock::time_point now);
  std::optional<Refusal> check(const std::string& client, ClientState& c, const Request& r,
                               Clock::time_point now);
  // The drain rate's bookkeeping, and the hint for a backlog at a rate (per second).
  void sample_drain(Clock::time_point now);
  std::chrono::milliseconds drain_hint(double backlog, double per_second) const;

  mutable std::mutex mu_;
  std::atomic<bool> active_{false};                              // config_ sets a limit
  std::atomic<uint64_t> admitted_unlimited_{0};                  // admitted while inactive
  LimitsConfig config_;                                          // guarded by mu_
  std::map<std::string, std::shared_ptr<ClientState>> clients_;  // guarded by mu_
  Usage member_;                                                 // guarded by mu_
  uint64_t admitted_ = 0;                                        // guarded by mu_
  std::array<uint64_t, kLimitCount> refused_{};                  // guarded by mu_
  // Requests and bytes released so far, the totals at the last sample and when it was
  // taken, and the rates over the window that sample closed. Guarded by mu_.
  Usage released_, sampled_;
  std::optional<Clock::time_point> sampled_at_;
  std::optional<std::pair<double, double>> drain_per_second_;  // requests, bytes
  // The least time a request spent between admission and release, in the window being
  // sampled and in the last one closed (none: nothing was released, or the window was
  // too long to say anything about now). Guarded by mu_.
  std::optional<Clock::duration> min_sojourn_, last_min_sojourn_;
  const std::function<Clock::time_point()> clock_;
};

}  // namespace limits
