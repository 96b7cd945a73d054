// raftkv-bench: a load generator over etcd's v3 gRPC API, so it measures raftkv and etcd
// alike. Workloads: put, range (linearizable or serializable), txn (compare-and-swap) and
// mixes by ratio; clients spread over connections; closed loop, or open loop at a fixed
// rate (latency then counts from the scheduled start, so a stall is not hidden); by
// duration or by count, after a warm-up. Prints throughput, latency percentiles and
// errors by code, as a table or -o json.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "etcd/rpc.grpc.pb.h"

namespace {

namespace pb = etcdserverpb;
using Clock = std::chrono::steady_clock;

enum class Op { kPut, kRange, kRangeSerializable, kTxn };

struct Options {
  std::string endpoints = "127.0.0.1:2379";
  std::string workload = "put";  // put | range | range-serializable | txn | mix
  std::string mix = "put=50,range=50";
  int clients = 16;
  int conns = 4;
  double duration_s = 10;
  int64_t total = 0;  // > 0: stop after this many operations instead
  double warmup_s = 1;
  double rate = 0;  // ops/s for all clients together; 0 = closed loop
  int64_t key_space = 10000;
  int key_size = 16;
  int value_size = 256;
  double zipf = 0;  // 0 = uniform; otherwise the Zipf exponent
  int timeout_ms = 10000;
  std::string output = "table";
  bool progress = true;
  bool preload = true;  // write every key once before range and txn workloads
};

// Picks keys: uniform, or Zipf(s) through a precomputed CDF.
class KeyPicker {
 public:
  KeyPicker(int64_t n, double s) : n_(n) {
    if (s <= 0) return;
    cdf_.resize(static_cast<size_t>(n));
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) {
      acc += 1.0 / std::pow(static_cast<double>(i + 1), s) / sum;
      cdf_[static_cast<size_t>(i)] = acc;
    }
  }
  int64_t pick(std::mt19937_64& rng) const {
    if (cdf_.empty()) return static_cast<int64_t>(rng() % static_cast<uint64_t>(n_));
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
  }

 private:
  int64_t n_;
  std::vector<double> cdf_;
};

std::string key_of(int64_t i, int size) {
  std::string k = "bench/" + std::to_string(i);
  if (static_cast<int>(k.size()) < size) k.append(static_cast<size_t>(size) - k.size(), '_');
  return k;
}

struct Result {
  std::vector<uint32_t> latencies_us;  // successful operations, measured after warm-up
  std::map<std::string, int64_t> errors;
};

grpc::Status run_op(pb::KV::Stub& kv, Op op, const std::string& key, const std::string& value,
                    int timeout_ms) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  switch (op) {
    case Op::kPut: {
      pb::PutRequest req;
      req.set_key(key);
      req.set_value(value);
      pb::PutResponse resp;
      return kv.Put(&ctx, req, &resp);
    }
    case Op::kRange:
    case Op::kRangeSerializable: {
      pb::RangeRequest req;
      req.set_key(key);
      req.set_serializable(op == Op::kRangeSerializable);
      pb::RangeResponse resp;
      return kv.Range(&ctx, req, &resp);
    }
    case Op::kTxn: {
      // Compare-and-swap: if the key's version is what we last saw, write a new value.
      pb::TxnRequest req;
      pb::Compare* c = req.add_compare();
      c->set_key(key);
      c->set_target(pb::Compare::VERSION);
      c->set_result(pb::Compare::GREATER);
      c->set_version(0);
      pb::PutRequest* put = req.add_success()->mutable_request_put();
      put->set_key(key);
      put->set_value(value);
      pb::RangeRequest* get = req.add_failure()->mutable_request_range();
      get->set_key(key);
      pb::TxnResponse resp;
      return kv.Txn(&ctx, req, &resp);
    }
  }
  return grpc::Status::OK;
}

std::string code_name(grpc::StatusCode c) {
  static const char* names[] = {"OK",
                                "CANCELLED",
                                "UNKNOWN",
                                "INVALID_ARGUMENT",
                                "DEADLINE_EXCEEDED",
                                "NOT_FOUND",
                                "ALREADY_EXISTS",
                                "PERMISSION_DENIED",
                                "RESOURCE_EXHAUSTED",
                                "FAILED_PRECONDITION",
                                "ABORTED",
                                "OUT_OF_RANGE",
                                "UNIMPLEMENTED",
                                "INTERNAL",
                                "UNAVAILABLE",
                                "DATA_LOSS",
                                "UNAUTHENTICATED"};
  const int i = static_cast<int>(c);
  return i >= 0 && i <= 16 ? names[i] : std::to_string(i);
}

double percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i =
      std::min(sorted.size() - 1,
               static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size()))) -
                   (p > 0 ? 1 : 0));
  return sorted[i] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"raftkv-bench: load over etcd's v3 API (raftkv or etcd)"};
  app.add_option("--endpoints", o.endpoints, "host:port,... (clients spread over them)")
      ->capture_default_str();
  app.add_option("--workload", o.workload, "put, range, range-serializable, txn or mix")
      ->check(CLI::IsMember({"put", "range", "range-serializable", "txn", "mix"}))
      ->capture_default_str();
  app.add_option("--mix", o.mix,
                 "For --workload mix: op=weight,... (put, range, "
                 "range-serializable, txn)")
      ->capture_default_str();
  app.add_option("--clients", o.clients, "Concurrent clients")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--conns", o.conns, "gRPC connections shared by the clients")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "Seconds to measure (after the warm-up)")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.add_option("--total", o.total, "Operations to measure instead of a duration")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  app.add_option("--warmup", o.warmup_s, "Seconds of load before measuring")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--rate", o.rate, "Open loop: operations per second in all (0: closed loop)")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--key-space", o.key_space, "Distinct keys")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--key-size", o.key_size, "Key bytes")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--value-size", o.value_size, "Value bytes")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--zipf", o.zipf, "Skew keys with this Zipf exponent (0: uniform)")
      ->check(CLI::Range(0.0, 5.0));
  app.add_option("--timeout", o.timeout_ms, "Per-request timeout in ms")
      ->check(CLI::Range(1, 600'000));
  app.add_option("-o,--output", o.output, "table or json")->check(CLI::IsMember({"table", "json"}));
  app.add_flag("!--no-progress", o.progress, "No progress bar on stderr");
  app.add_flag("!--no-preload", o.preload, "Do not write the key space before reads and txns");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  // The operation mix, as cumulative weights.
  std::vector<std::pair<Op, int>> mix;
  auto parse_op = [](const std::string& s, Op* op) {
    if (s == "put")
      *op = Op::kPut;
    else if (s == "range")
      *op = Op::kRange;
    else if (s == "range-serializable")
      *op = Op::kRangeSerializable;
    else if (s == "txn")
      *op = Op::kTxn;
    else
      return false;
    return true;
  };
  if (o.workload == "mix") {
    std::string rest = o.mix;
    int total_weight = 0;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string part = rest.substr(0, comma);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
      const size_t eq = part.find('=');
      Op op = Op::kPut;
      if (eq == std::string::npos || !parse_op(part.substr(0, eq), &op)) {
        std::fprintf(stderr, "Error: --mix: \"%s\" is not op=weight\n", part.c_str());
        return 2;
      }
      const int w = std::atoi(part.substr(eq + 1).c_str());
      if (w <= 0) {
        std::fprintf(stderr, "Error: --mix: weight in \"%s\" must be a positive integer\n",
                     part.c_str());
        return 2;
      }
      total_weight += w;
      mix.push_back({op, total_weight});
    }
  } else {
    Op op = Op::kPut;
    parse_op(o.workload, &op);
    mix.push_back({op, 1});
  }

  std::vector<std::string> endpoints;
  for (size_t start = 0; start < o.endpoints.size();) {
    size_t end = o.endpoints.find(',', start);
    if (end == std::string::npos) end = o.endpoints.size();
    std::string ep = o.endpoints.substr(start, end - start);
    if (ep.rfind("http://", 0) == 0) ep = ep.substr(7);
    if (!ep.empty()) endpoints.push_back(ep);
    start = end + 1;
  }
  if (endpoints.empty()) {
    std::fprintf(stderr, "Error: --endpoints names no endpoint\n");
    return 2;
  }
  std::vector<std::unique_ptr<pb::KV::Stub>> stubs;
  for (int i = 0; i < o.conns; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("raftkv.bench.conn", i);  // a distinct argument: a distinct connection
    stubs.push_back(pb::KV::NewStub(
        grpc::CreateCustomChannel(endpoints[static_cast<size_t>(i) % endpoints.size()],
                                  grpc::InsecureChannelCredentials(), args)));
  }
  const std::string value(static_cast<size_t>(o.value_size), 'v');
  const KeyPicker picker(o.key_space, o.zipf);

  const bool reads_or_txn =
      std::any_of(mix.begin(), mix.end(), [](auto& m) { return m.first != Op::kPut; });
  if (reads_or_txn && o.preload) {
    // Every key exists, so reads return data and compare-and-swap succeeds.
    std::atomic<int64_t> next{0};
    std::vector<std::thread> loaders;
    std::atomic<int64_t> failed{0};
    std::mutex first_mu;
    std::string first_error, first_retry;
    int64_t retried = 0;
    for (int t = 0; t < std::min(o.clients, 64); ++t) {
      loaders.emplace_back([&, t] {
        for (int64_t i = next++; i < o.key_space; i = next++) {
          grpc::Status s;
          // A put is idempotent here: retry what a leader change or a timeout failed.
          for (int attempt = 0; attempt < 5; ++attempt) {
            s = run_op(*stubs[static_cast<size_t>(t) % stubs.size()], Op::kPut,
                       key_of(i, o.key_size), value, o.timeout_ms);
            if (s.ok() || s.error_code() != grpc::StatusCode::UNAVAILABLE) break;
            if (attempt == 0) {
              std::lock_guard<std::mutex> lock(first_mu);
              ++retried;
              if (first_retry.empty()) first_retry = s.error_message();
            }
          }
          if (!s.ok()) {
            ++failed;
            std::lock_guard<std::mutex> lock(first_mu);
            if (first_error.empty()) {
              first_error = code_name(s.error_code()) + ": " + s.error_message();
            }
          }
        }
      });
    }
    for (auto& t : loaders) t.join();
    if (retried > 0) {
      std::fprintf(stderr, "preload: %lld puts retried (first: %s)\n",
                   static_cast<long long>(retried), first_retry.c_str());
    }
    if (failed > 0) {
      std::fprintf(stderr, "Error: preloading the key space: %lld puts failed (first: %s)\n",
                   static_cast<long long>(failed.load()), first_error.c_str());
      return 1;
    }
  }

  const auto start = Clock::now();
  const auto measure_from = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.warmup_s));
  const auto measure_until = measure_from + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(o.duration_s));
  std::atomic<int64_t> measured{0}, done_ops{0};
  std::atomic<bool> stop{false};
  std::vector<Result> results(static_cast<size_t>(o.clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(static_cast<uint64_t>(c) * 7919 + 1);
      Result& r = results[static_cast<size_t>(c)];
      pb::KV::Stub& kv = *stubs[static_cast<size_t>(c) % stubs.size()];
      const int total_weight = mix.back().second;
      // Open loop: this client's share of the rate, on a fixed schedule.
      const double interval_s = o.rate > 0 ? o.clients / o.rate : 0;
      auto scheduled = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(interval_s * c / o.clients));
      while (!stop) {
        if (interval_s > 0) {
          std::this_thread::sleep_until(scheduled);
        }
        const int w = static_cast<int>(rng() % static_cast<uint64_t>(total_weight));
        Op op = mix.front().first;
        for (const auto& [candidate, upto] : mix) {
          if (w < upto) {
            op = candidate;
            break;
          }
        }
        const auto began = interval_s > 0 ? scheduled : Clock::now();
        const grpc::Status s =
            run_op(kv, op, key_of(picker.pick(rng), o.key_size), value, o.timeout_ms);
        const auto ended = Clock::now();
        if (interval_s > 0) {
          scheduled += std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(interval_s));
        }
        ++done_ops;
        if (began < measure_from) continue;  // warm-up
        if (o.total > 0 ? measured >= o.total : ended > measure_until) {
          stop = true;
          break;
        }
        ++measured;
        if (s.ok()) {
          r.latencies_us.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(ended - began).count()));
        } else {
          ++r.errors[code_name(s.error_code()) + ": " + s.error_message()];
        }
      }
    });
  }
  std::thread progress;
  if (o.progress) {
    progress = std::thread([&] {
      while (!stop) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        const double total_s = o.warmup_s + o.duration_s;
        const double frac = o.total > 0
                                ? static_cast<double>(measured) / static_cast<double>(o.total)
                                : std::min(1.0, elapsed / total_s);
        const int width = 30;
        const int filled = static_cast<int>(frac * width);
        std::fprintf(stderr, "\r[%s%s] %3.0f%%  %lld ops",
                     std::string(static_cast<size_t>(filled), '#').c_str(),
                     std::string(static_cast<size_t>(width - filled), ' ').c_str(), frac * 100,
                     static_cast<long long>(done_ops.load()));
      }
      std::fprintf(stderr, "\r%60s\r", "");
    });
  }
  for (auto& t : threads) t.join();
  stop = true;
  if (progress.joinable()) progress.join();
  const auto finished = Clock::now();

  std::vector<uint32_t> all;
  std::map<std::string, int64_t> errors;
  int64_t error_count = 0;
  for (Result& r : results) {
    all.insert(all.end(), r.latencies_us.begin(), r.latencies_us.end());
    for (const auto& [k, v] : r.errors) {
      errors[k] += v;
      error_count += v;
    }
  }
  std::sort(all.begin(), all.end());
  const double seconds =
      o.total > 0 ? std::chrono::duration<double>(finished - std::max(measure_from, start)).count()
                  : o.duration_s;
  const double throughput = static_cast<double>(all.size()) / seconds;
  std::string name = o.workload == "mix" ? "mix(" + o.mix + ")" : o.workload;
  if (o.output == "json") {
    std::printf(
        "{\"workload\":\"%s\",\"clients\":%d,\"conns\":%d,\"rate\":%g,\"seconds\":%.3f,"
        "\"ops\":%zu,\"errors\":%lld,\"throughput\":%.1f,\"latency_ms\":{\"p50\":%.3f,"
        "\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},\"error_codes\":{",
        name.c_str(), o.clients, o.conns, o.rate, seconds, all.size(),
        static_cast<long long>(error_count), throughput, percentile(all, 50), percentile(all, 90),
        percentile(all, 99), percentile(all, 99.9), all.empty() ? 0.0 : all.back() / 1000.0);
    bool first = true;
    for (const auto& [k, v] : errors) {
      std::string esc;
      for (char ch : k) {
        if (ch == '"' || ch == '\\') esc += '\\';
        esc += ch;
      }
      std::printf("%s\"%s\":%lld", first ? "" : ",", esc.c_str(), static_cast<long long>(v));
      first = false;
    }
    std::printf("}}\n");
  } else {
    std::printf(
        "workload %s: %d clients over %d connections, %s, %.1f s measured\n", name.c_str(),
        o.clients, o.conns,
        o.rate > 0
            ? ("open loop at " + std::to_string(static_cast<int64_t>(o.rate)) + " ops/s").c_str()
            : "closed loop",
        seconds);
    std::printf("  %zu ok, %lld errors: %.1f ops/s\n", all.size(),
                static_cast<long long>(error_count), throughput);
    std::printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
                percentile(all, 50), percentile(all, 90), percentile(all, 99),
                percentile(all, 99.9), all.empty() ? 0.0 : all.back() / 1000.0);
    for (const auto& [k, v] : errors) {
      std::printf("  error %s: %lld\n", k.c_str(), static_cast<long long>(v));
    }
  }
  return all.empty() && error_count > 0 ? 1 : 0;
}
