// The cost of the limiter on the path of a request: a permit taken and given back, with
// limits off (the gate's fast path) and with every limit set far above the load (the
// "limits on but not reached" case of issue 14). `make bench` runs it;
// docs/benchmarks.md compares it with a put's CPU time.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <variant>

#include "limits/limiter.h"

namespace {

limits::LimitsConfig far_above_the_load() {
  limits::LimitsConfig c;
  c.defaults.requests_per_second = 1e6;
  c.defaults.burst = 1e6;
  c.defaults.write_bytes_per_second = 1e9;
  c.defaults.max_concurrent = 100'000;
  c.defaults.max_memory_bytes = 1'000'000'000;
  c.member.max_concurrent = 1'000'000;
  c.member.max_memory_bytes = 1'000'000'000;
  return c;
}

void admit_and_release(benchmark::State& state, limits::Limiter& l) {
  const std::string client = "127.0.0.1";
  for (auto _ : state) {
    const auto now = limits::Clock::now();
    auto r = l.admit(
        client,
        limits::Request{.bytes = 300, .write = true, .deadline = now + std::chrono::seconds(5)},
        now);
    benchmark::DoNotOptimize(r);
    if (auto* p = std::get_if<limits::Permit>(&r)) p->release();
  }
}

void BM_PermitLimitsOff(benchmark::State& state) {
  static limits::Limiter l(limits::LimitsConfig{}, limits::Clock::now());
  admit_and_release(state, l);
}
BENCHMARK(BM_PermitLimitsOff)->Threads(1)->Threads(2);

void BM_PermitLimitsOnNotReached(benchmark::State& state) {
  static limits::Limiter l(far_above_the_load(), limits::Clock::now());
  admit_and_release(state, l);
}
BENCHMARK(BM_PermitLimitsOnNotReached)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
