#include "limits/limiter.h"

#include <gtest/gtest.h>

#include <deque>
#include <thread>
#include <vector>

namespace limits {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point t0{std::chrono::seconds(1000)};

bool admitted(const std::variant<Permit, Refusal>& r) { return std::holds_alternative<Permit>(r); }

LimitsConfig rate(double per_second, std::optional<double> burst = std::nullopt) {
  LimitsConfig c;
  c.defaults.requests_per_second = per_second;
  c.defaults.burst = burst;
  return c;
}

TEST(TokenBucket, RefillsAtItsRateUpToItsBurst) {
  TokenBucket b(10, 5, t0);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(b.take(1, t0).has_value());
  auto wait = b.take(1, t0);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(*wait), milliseconds(100));
  EXPECT_FALSE(b.take(1, t0 + milliseconds(100)).has_value());
  EXPECT_DOUBLE_EQ(b.tokens(t0 + std::chrono::seconds(60)), 5);  // never above the burst
}

TEST(TokenBucket, ATakeLargerThanTheBucketWaitsForAFullBucketAndLeavesDebt) {
  TokenBucket b(100, 100, t0);
  EXPECT_FALSE(b.take(250, t0).has_value());  // full: allowed, 150 in debt
  auto wait = b.take(1, t0 + milliseconds(1000));
  ASSERT_TRUE(wait.has_value());  // -150 + 100 = -50: half a second more
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(*wait), milliseconds(510));
}

TEST(Limiter, AClientOverItsRateGetsExactlyTheExcessRefused) {
  Limiter l(rate(10, 10), t0);
  int ok = 0, refused = 0;
  std::vector<Permit> held;
  for (int i = 0; i < 15; ++i) {
    auto r = l.admit("10.0.0.1", Request{.bytes = 10, .write = true}, t0);
    if (admitted(r)) {
      ++ok;
      held.push_back(std::get<Permit>(std::move(r)));
    } else {
      ++refused;
      const Refusal& no = std::get<Refusal>(r);
      EXPECT_EQ(no.limit, Limit::kRequestRate);
      EXPECT_EQ(no.message, "client 10.0.0.1 is over its request rate limit of 10/s (burst 10)");
      EXPECT_EQ(no.retry_after, milliseconds(100));
    }
  }
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(refused, 5);
  EXPECT_EQ(l.refused(Limit::kRequestRate), 5u);
  // Half a second later, five more tokens: exactly five.
  int later = 0;
  for (int i = 0; i < 8; ++i) later += admitted(l.admit("10.0.0.1", {}, t0 + milliseconds(500)));
  EXPECT_EQ(later, 5);
  // Another client has its own bucket.
  EXPECT_TRUE(admitted(l.admit("10.0.0.2", {}, t0)));
}

TEST(Limiter, WithAConcurrencyCapExactlyTheExcessIsRefusedUntilOneFinishes) {
  LimitsConfig c;
  c.defaults.max_concurrent = 4;
  Limiter l(c, t0);
  std::vector<Permit> in_flight;
  int refused = 0;
  for (int i = 0; i < 4 + 3; ++i) {
    auto r = l.admit("a", {}, t0);
    if (admitted(r)) {
      in_flight.push_back(std::get<Permit>(std::move(r)));
    } else {
      ++refused;
      EXPECT_EQ(std::get<Refusal>(r).limit, Limit::kClientConcurrent);
    }
  }
  EXPECT_EQ(in_flight.size(), 4u);
  EXPECT_EQ(refused, 3);
  in_flight.pop_back();  // one finishes
  auto again = l.admit("a", {}, t0);
  EXPECT_TRUE(admitted(again));
  EXPECT_FALSE(admitted(l.admit("a", {}, t0)));  // at the cap again
}

// A full in-flight budget asks the client back once the member could have finished all
// it holds, at the rate its requests finished over the last window.
TEST(Limiter, AFullBudgetAsksToComeBackOnceWhatIsInFlightCouldHaveDrained) {
  LimitsConfig c;
  c.member.max_concurrent = 8;
  Limiter l(c, t0);
  std::vector<Permit> held;
  auto fill = [&](Clock::time_point at) {
    while (held.size() < 8) held.push_back(std::get<Permit>(l.admit("a", {}, at)));
  };
  auto hint = [&](Clock::time_point at) {
    auto r = l.admit("a", {}, at);
    EXPECT_FALSE(admitted(r));
    return admitted(r) ? milliseconds(-1) : std::get<Refusal>(r).retry_after;
  };
  fill(t0);
  EXPECT_EQ(hint(t0), Limiter::kUnknownDrainHint);  // no window has passed yet
  held.resize(4);                                   // 4 finish within the first second
  fill(t0 + seconds(1));
  EXPECT_EQ(hint(t0 + seconds(1)), milliseconds(2000));  // 8 held, 4 finished a second
  held.clear();                                          // 8 in half a second
  fill(t0 + milliseconds(1500));
  EXPECT_EQ(hint(t0 + milliseconds(1500)), milliseconds(500));
  // Nothing finishes for a whole window: the longest hint.
  EXPECT_EQ(hint(t0 + seconds(2)), Limiter::kMaxDrainHint);
  held.clear();
}

// A standing queue: while even the quickest request of the last window waited longer
// than half of a new request's time to its deadline, that request is refused at once
// (it would most likely time out behind the others); a burst after quick answers, a
// request without a deadline, and a member without a budget are not.
TEST(Limiter, ARequestThatWouldTimeOutBehindAStandingBacklogIsRefusedAtOnce) {
  Clock::time_point now = t0;
  LimitsConfig c;
  c.member.max_memory_bytes = 1'000'000;
  Limiter l(c, t0, [&now] { return now; });
  auto with_deadline = [&](milliseconds left) {
    return Request{.bytes = 10, .write = true, .deadline = now + left};
  };
  // First window: answers take 10 ms. A burst of 50 then passes.
  for (int i = 0; i < 3; ++i) {
    Permit p = std::get<Permit>(l.admit("a", with_deadline(seconds(5)), now));
    now += milliseconds(10);
  }
  now = t0 + milliseconds(300);
  std::vector<Permit> held;
  for (int i = 0; i < 50; ++i) {
    auto r = l.admit("a", with_deadline(milliseconds(100)), now);
    ASSERT_TRUE(admitted(r)) << std::get<Refusal>(r).message;
    held.push_back(std::get<Permit>(std::move(r)));
  }
  // Then every request takes 3 s to be answered: a standing queue. One arrives and the
  // oldest is answered every 100 ms.
  held.clear();
  std::deque<Permit> queue;
  for (int step = 0; step < 40; ++step) {
    now += milliseconds(100);
    queue.push_back(std::get<Permit>(l.admit("a", with_deadline(seconds(7)), now)));
    if (step >= 30) queue.pop_front();
  }
  auto late = l.admit("a", with_deadline(seconds(5)), now);  // 3 s > 5 s / 2
  ASSERT_FALSE(admitted(late));
  const Refusal& no = std::get<Refusal>(late);
  EXPECT_EQ(no.limit, Limit::kMemberBacklog);
  EXPECT_EQ(no.message,
            "this member's requests wait at least 3000 ms before they are answered; this one's "
            "deadline is in 5000 ms");
  EXPECT_EQ(l.refused(Limit::kMemberBacklog), 1u);
  // A read the member answers from its own store waits behind no queue: admitted, and its
  // quick answer (1 ms, in a window of its own) does not hide the queue from the next one.
  Request local = with_deadline(seconds(5));
  local.write = false;
  local.queued = false;
  {
    auto read = l.admit("a", local, now);
    ASSERT_TRUE(admitted(read)) << std::get<Refusal>(read).message;
    now += milliseconds(1);
  }
  for (int step = 0; step < 3; ++step) {
    now += milliseconds(100);
    queue.push_back(std::get<Permit>(l.admit("a", with_deadline(seconds(60)), now)));
    queue.pop_front();
    Permit read = std::get<Permit>(l.admit("a", local, now));
    now += milliseconds(1);
  }
  EXPECT_FALSE(admitted(l.admit("a", with_deadline(seconds(5)), now)));
  EXPECT_TRUE(admitted(l.admit("a", with_deadline(seconds(7)), now)));  // 3 s < 7 s / 2
  EXPECT_TRUE(admitted(l.admit("a", Request{.bytes = 10}, now)));       // no deadline

  // Instant refusals by the runtime (released unserved) do not hide the queue. A window
  // opens; in it the queue goes on and five requests are refused at once; it closes.
  now += milliseconds(300);
  queue.push_back(std::get<Permit>(l.admit("a", with_deadline(seconds(60)), now)));
  for (int step = 0; step < 5; ++step) {
    now += milliseconds(40);
    queue.push_back(std::get<Permit>(l.admit("a", with_deadline(seconds(60)), now)));
    queue.pop_front();
    Permit refused = std::get<Permit>(l.admit("a", with_deadline(seconds(60)), now));
    refused.release_unserved();
  }
  now += milliseconds(100);
  EXPECT_FALSE(admitted(l.admit("a", with_deadline(seconds(5)), now)));
  EXPECT_EQ(l.member_usage().in_flight, queue.size());

  // Quick answers again over the next window: the same request passes.
  Permit quick = std::get<Permit>(l.admit("a", with_deadline(seconds(7)), now));
  now += milliseconds(5);
  quick.release();
  now += milliseconds(300);
  EXPECT_TRUE(admitted(l.admit("a", with_deadline(seconds(5)), now)));

  // A window much longer than kDrainWindow says nothing about now.
  Permit slow = std::get<Permit>(l.admit("a", with_deadline(seconds(7)), now));
  now += seconds(4);
  slow.release();
  EXPECT_TRUE(admitted(l.admit("a", with_deadline(seconds(5)), now)));

  // Without a member budget the rule is off.
  LimitsConfig per_client;
  per_client.defaults.requests_per_second = 1000;
  l.configure(per_client, now);
  Permit p = std::get<Permit>(l.admit("a", with_deadline(seconds(7)), now));
  now += seconds(3);
  p.release();
  now += milliseconds(300);
  EXPECT_TRUE(admitted(l.admit("a", with_deadline(seconds(7)), now)));
  EXPECT_TRUE(admitted(l.admit("a", with_deadline(seconds(1)), now)));
}

TEST(Limiter, MemoryIsHeldUntilThePermitGoesAndTheMemberBudgetCoversEveryClient) {
  LimitsConfig c;
  c.defaults.max_memory_bytes = 1000;
  c.member.max_memory_bytes = 1500;
  Limiter l(c, t0);
  auto a = l.admit("a", Request{.bytes = 800, .write = true}, t0);
  ASSERT_TRUE(admitted(a));
  auto a2 = l.admit("a", Request{.bytes = 300, .write = true}, t0);
  ASSERT_FALSE(admitted(a2));
  EXPECT_EQ(std::get<Refusal>(a2).limit, Limit::kClientMemory);
  EXPECT_EQ(std::get<Refusal>(a2).message,
            "client a is over its memory limit of 1000 bytes of requests in flight (holds 800)");
  auto b = l.admit("b", Request{.bytes = 800, .write = true}, t0);
  ASSERT_FALSE(admitted(b));  // 800 + 800 > the member's 1500
  EXPECT_EQ(std::get<Refusal>(b).limit, Limit::kMemberMemory);
  EXPECT_EQ((l.member_usage()), (Usage{.in_flight = 1, .bytes = 800}));
  std::get<Permit>(a).release();
  EXPECT_TRUE(admitted(l.admit("b", Request{.bytes = 800, .write = true}, t0)));
}

TEST(Limiter, WriteBytesAreRatedAndARefusalGivesItsRequestTokenBack) {
  LimitsConfig c;
  c.defaults.requests_per_second = 100;
  c.defaults.write_bytes_per_second = 1000;
  Limiter l(c, t0);
  EXPECT_TRUE(admitted(l.admit("w", Request{.bytes = 1000, .write = true}, t0)));
  auto r = l.admit("w", Request{.bytes = 10, .write = true}, t0);
  ASSERT_FALSE(admitted(r));
  EXPECT_EQ(std::get<Refusal>(r).limit, Limit::kWriteBytesRate);
  EXPECT_EQ(std::get<Refusal>(r).retry_after, milliseconds(10));
  // Reads are not writes: only the request rate applies, and its token came back.
  int reads = 0;
  for (int i = 0; i < 100; ++i) reads += admitted(l.admit("w", Request{.bytes = 10}, t0));
  EXPECT_EQ(reads, 99);
}

TEST(Limiter, EveryPathThatEndsAPermitReturnsTheCountersToZero) {
  LimitsConfig c;
  c.defaults.max_concurrent = 10;
  Limiter l(c, t0);
  {
    auto r = l.admit("x", Request{.bytes = 5}, t0);  // destroyed at scope end
  }
  {
    Permit moved;
    {
      auto r = l.admit("x", Request{.bytes = 5}, t0);
      moved = std::get<Permit>(std::move(r));  // moved out, then the source dies
    }
    EXPECT_EQ(l.client_usage("x"), (Usage{.in_flight = 1, .bytes = 5}));
    Permit again = std::move(moved);
    moved.release();  // released twice through a moved-from permit: nothing
    EXPECT_FALSE(moved.held());
  }
  {
    Permit p = std::get<Permit>(l.admit("x", Request{.bytes = 5}, t0));
    p = std::get<Permit>(l.admit("x", Request{.bytes = 7}, t0));  // the first goes here
    EXPECT_EQ(l.client_usage("x"), (Usage{.in_flight = 1, .bytes = 7}));
  }
  EXPECT_EQ(l.client_usage("x"), Usage{});
  EXPECT_EQ(l.member_usage(), Usage{});
}

TEST(Limiter, LimitsChangedAtRunTimeApplyToClientsAlreadySeen) {
  Limiter l(rate(1000), t0);
  EXPECT_TRUE(admitted(l.admit("c", {}, t0)));
  LimitsConfig strict = rate(1, 1);
  strict.overrides["vip"].requests_per_second = 1000;
  strict.overrides["vip"].burst = 1000;
  l.configure(strict, t0);
  EXPECT_TRUE(admitted(l.admit("c", {}, t0)));  // one token left from before, capped at 1
  EXPECT_FALSE(admitted(l.admit("c", {}, t0)));
  int vip = 0;
  for (int i = 0; i < 50; ++i) vip += admitted(l.admit("vip", {}, t0));
  EXPECT_EQ(vip, 50);
}

TEST(Limiter, PermitsFromManyThreadsAllComeBack) {
  LimitsConfig c;
  c.defaults.max_concurrent = 3;
  c.member.max_concurrent = 8;
  Limiter l(c, t0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&l, t] {
      for (int i = 0; i < 2000; ++i) {
        auto r = l.admit("client" + std::to_string(t % 2), Request{.bytes = 3}, t0);
        const Usage m = l.member_usage();
        EXPECT_LE(m.in_flight, 8u);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(l.member_usage(), Usage{});
  EXPECT_GT(l.admitted(), 0u);
}

TEST(Limiter, WatchersAreCountedPerStreamAndPerClientUntilTheyGo) {
  LimitsConfig c;
  c.defaults.max_watchers = 3;
  c.defaults.max_watchers_per_stream = 2;
  Limiter l(c, t0);
  std::vector<Permit> stream1, stream2;
  for (int i = 0; i < 2; ++i) stream1.push_back(std::get<Permit>(l.admit_watcher("w", i, t0)));
  auto third = l.admit_watcher("w", stream1.size(), t0);
  ASSERT_FALSE(admitted(third));
  EXPECT_EQ(std::get<Refusal>(third).message,
            "client w is over its limit of 2 watchers on one stream");
  stream2.push_back(std::get<Permit>(l.admit_watcher("w", 0, t0)));
  auto fourth = l.admit_watcher("w", stream2.size(), t0);
  ASSERT_FALSE(admitted(fourth));
  EXPECT_EQ(std::get<Refusal>(fourth).limit, Limit::kWatchers);
  EXPECT_EQ(l.watchers("w"), 3u);
  stream1.clear();  // the stream ends
  EXPECT_EQ(l.watchers("w"), 1u);
  EXPECT_TRUE(admitted(l.admit_watcher("w", stream2.size(), t0)));
  EXPECT_EQ(l.member_usage(), Usage{});  // watchers are not requests in flight
}

TEST(LimitsConfig, BadLimitsAreRefusedNamingTheField) {
  struct Row {
    void (*set)(LimitsConfig&);
    const char* message;
  };
  const Row rows[] = {
      {[](LimitsConfig& c) { c.defaults.requests_per_second = 0; },
       "defaults.requests_per_second 0 is out of range (0, 1e+07]"},
      {[](LimitsConfig& c) { c.defaults.requests_per_second = -5; },
       "defaults.requests_per_second -5 is out of range (0, 1e+07]"},
      {[](LimitsConfig& c) {
         c.defaults.requests_per_second = 100;
         c.defaults.burst = 10;
       },
       "defaults.burst 10 is below 1 or below defaults.requests_per_second 100"},
      {[](LimitsConfig& c) { c.defaults.burst = 10; },
       "defaults.burst is set without defaults.requests_per_second: a burst needs a rate"},
      {[](LimitsConfig& c) { c.defaults.max_concurrent = 0; },
       "defaults.max_concurrent 0 is out of range [1, 1000000]"},
      {[](LimitsConfig& c) { c.defaults.max_memory_bytes = uint64_t{1} << 50; },
       "defaults.max_memory_bytes 1125899906842624 is out of range [1, 1099511627776]"},
      {[](LimitsConfig& c) { c.overrides["bob"].write_bytes_per_second = -1; },
       "overrides[bob].write_bytes_per_second -1 is out of range (0, 1e+12]"},
      {[](LimitsConfig& c) {
         c.defaults.requests_per_second = 10;
         c.defaults.burst = 10;
         c.overrides["bob"].requests_per_second = 50;
       },
       "overrides[bob] with defaults.burst 10 is below 1 or below overrides[bob] with "
       "defaults.requests_per_second 50"},
      {[](LimitsConfig& c) { c.member.max_concurrent = 0; },
       "member.max_concurrent 0 is out of range [1, 1000000]"},
  };
  for (const Row& row : rows) {
    LimitsConfig c;
    row.set(c);
    const absl::Status s = validate(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << row.message;
    EXPECT_EQ(s.message(), row.message);
  }
  EXPECT_TRUE(validate(LimitsConfig{}).ok());
  EXPECT_TRUE(validate(rate(100, 200)).ok());
}

}  // namespace
}  // namespace limits
