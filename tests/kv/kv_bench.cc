// Google Benchmark of the MVCC store with 1M keys: put, range (one key, and a 10-key
// prefix) and txn (compare-and-put) operations per second, and the heap bytes per key.
// Not a test: `build/bin/kv_bench` (docs/benchmarks.md, "KV state machine").
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "kv/store.h"

namespace {

constexpr int64_t kKeys = 1'000'000;
constexpr size_t kValueBytes = 64;

std::string key_of(int64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "/bench/k%09lld", static_cast<long long>(i));  // 17 bytes
  return buf;
}

size_t heap_bytes() { return mallinfo2().uordblks; }

struct Fixture {
  std::unique_ptr<kv::Store> store;
  double bytes_per_key = 0;
};

// One store with kKeys keys, built once and shared by the benchmarks. Options: no quota.
Fixture& fixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    kv::StoreOptions o;
    o.quota_bytes = 0;
    const size_t before = heap_bytes();
    fx->store = std::make_unique<kv::Store>(o);
    kv::PutRequest p;
    p.value.assign(kValueBytes, 'v');
    for (int64_t i = 0; i < kKeys; ++i) {
      p.key = key_of(i);
      if (!fx->store->put(p).is_ok()) std::abort();
    }
    fx->bytes_per_key = static_cast<double>(heap_bytes() - before) / kKeys;
    return fx;
  }();
  return *f;
}

// Keeps history bounded while a write benchmark runs: compacts to the current revision
// every 64K writes, outside the timed region.
void maybe_compact(benchmark::State& state, kv::Store& s, int64_t& writes) {
  if (++writes % 65536 != 0) return;
  state.PauseTiming();
  if (!s.compact({s.revision(), false}).is_ok()) std::abort();
  state.ResumeTiming();
}

void BM_Memory(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) benchmark::DoNotOptimize(f.store->revision());
  state.counters["bytes_per_key"] = f.bytes_per_key;
  state.counters["key_plus_value_bytes"] = static_cast<double>(key_of(0).size() + kValueBytes);
}
BENCHMARK(BM_Memory)->Iterations(1);

void BM_Put(benchmark::State& state) {
  kv::Store& s = *fixture().store;
  std::mt19937_64 rng(1);
  kv::PutRequest p;
  p.value.assign(kValueBytes, 'w');
  int64_t writes = 0;
  for (auto _ : state) {
    p.key = key_of(static_cast<int64_t>(rng() % kKeys));
    auto r = s.put(p);
    benchmark::DoNotOptimize(r);
    maybe_compact(state, s, writes);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Put);

void BM_RangeOneKey(benchmark::State& state) {
  kv::Store& s = *fixture().store;
  std::mt19937_64 rng(2);
  kv::RangeRequest r;
  for (auto _ : state) {
    r.key = key_of(static_cast<int64_t>(rng() % kKeys));
    auto resp = s.range(r);
    benchmark::DoNotOptimize(resp);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RangeOneKey);

void BM_RangePrefix10(benchmark::State& state) {
  kv::Store& s = *fixture().store;
  std::mt19937_64 rng(3);
  kv::RangeRequest r;
  for (auto _ : state) {
    // Keys /bench/kNNNNNNNN0 .. 9: the prefix of ten consecutive keys.
    std::string k = key_of(static_cast<int64_t>(rng() % (kKeys / 10)) * 10);
    k.pop_back();
    r.key = k;
    r.range_end = k;
    r.range_end.back() = static_cast<char>(r.range_end.back() + 1);
    auto resp = s.range(r);
    if (!resp.is_ok() || resp->count != 10) std::abort();
    benchmark::DoNotOptimize(resp);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RangePrefix10);

// A compare-and-swap as etcd clients write it: if version(k) > 0 then put k else get k.
void BM_TxnCompareAndPut(benchmark::State& state) {
  kv::Store& s = *fixture().store;
  std::mt19937_64 rng(4);
  int64_t writes = 0;
  for (auto _ : state) {
    const std::string k = key_of(static_cast<int64_t>(rng() % kKeys));
    kv::TxnRequest t;
    kv::Compare c;
    c.key = k;
    c.target = kv::Compare::Target::kVersion;
    c.result = kv::Compare::Result::kGreater;
    c.version = 0;
    t.compare.push_back(c);
    kv::PutRequest p;
    p.key = k;
    p.value.assign(kValueBytes, 't');
    t.success.push_back(kv::RequestOp{p});
    kv::RangeRequest g;
    g.key = k;
    t.failure.push_back(kv::RequestOp{g});
    auto r = s.txn(t);
    if (!r.is_ok() || !r->succeeded) std::abort();
    maybe_compact(state, s, writes);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TxnCompareAndPut);

// A snapshot of the history the comparison's 256-client puts leave (docs/benchmarks.md,
// "The thirteenth cut"): 10,000 keys of 42 versions each, 256-byte values, about 150 MB
// encoded. Encoded to a writer that keeps nothing: the state machine's share of a
// snapshot, without the file.
void BM_SaveSnapshot(benchmark::State& state) {
  static kv::Store* s = [] {
    kv::StoreOptions o;
    o.quota_bytes = 0;
    auto* st = new kv::Store(o);
    kv::PutRequest p;
    p.value.assign(256, 's');
    for (int v = 0; v < 42; ++v) {
      for (int64_t i = 0; i < 10'000; ++i) {
        p.key = key_of(i);
        if (!st->put(p).is_ok()) std::abort();
      }
    }
    return st;
  }();
  int64_t bytes = 0;
  for (auto _ : state) {
    kv::Status r = s->save_snapshot([&bytes](std::string_view chunk) {
      bytes += static_cast<int64_t>(chunk.size());
      return kv::Status::ok();
    });
    if (!r.is_ok()) std::abort();
  }
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_SaveSnapshot)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
