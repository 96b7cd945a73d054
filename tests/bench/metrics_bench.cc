// The cost of the metrics hot path: what a put pays for being counted. `make bench` runs
// it; docs/benchmarks.md compares it with a put's CPU time.
#include <benchmark/benchmark.h>

#include "metrics/health.h"
#include "metrics/registry.h"

namespace {

void BM_CounterInc(benchmark::State& state) {
  static metrics::Registry r;
  static metrics::Counter& c = r.counter("bench_counter_total", "x");
  for (auto _ : state) c.inc();
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  static metrics::Registry r;
  static metrics::Histogram& h =
      r.histogram("bench_seconds", "x", metrics::exponential_buckets(0.001, 2, 14));
  double v = 0.0001;
  for (auto _ : state) {
    h.observe(v);
    v = v < 10 ? v * 1.1 : 0.0001;
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

void BM_FamilyLookup(benchmark::State& state) {
  // What the hot paths avoid by keeping the child: a lookup under the family's lock.
  metrics::Registry r;
  auto& f = r.counter_family("bench_family_total", "x", {"grpc_method", "grpc_code"});
  for (auto _ : state) f.with({"Put", "OK"}).inc();
}
BENCHMARK(BM_FamilyLookup);

void BM_RenderAll(benchmark::State& state) {
  // A scrape of a registry shaped like a member's (~700 series, most of them gRPC's).
  metrics::Registry r;
  auto& handled = r.counter_family("grpc_server_handled_total", "x",
                                   {"grpc_type", "grpc_service", "grpc_method", "grpc_code"});
  for (int m = 0; m < 40; ++m) {
    for (int c = 0; c < 17; ++c)
      handled.with({"unary", "svc", std::to_string(m), std::to_string(c)});
  }
  auto& h =
      r.histogram_family("grpc_server_handling_seconds", "x",
                         {"grpc_type", "grpc_service", "grpc_method"}, metrics::default_buckets());
  for (int m = 0; m < 40; ++m) h.with({"unary", "svc", std::to_string(m)}).observe(0.01);
  for (auto _ : state) benchmark::DoNotOptimize(r.render());
}
BENCHMARK(BM_RenderAll);

void BM_HealthScore(benchmark::State& state) {
  metrics::HealthInputs in;
  in.is_leader = true;
  in.peers = {{.id = "a", .reachable = true, .behind = 5, .needs_snapshot = false},
              {.id = "b", .reachable = false, .behind = 0, .needs_snapshot = false}};
  for (auto _ : state) benchmark::DoNotOptimize(metrics::score_health(in));
}
BENCHMARK(BM_HealthScore);

}  // namespace

BENCHMARK_MAIN();
