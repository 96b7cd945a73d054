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
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cmd/client_auth.h"
#include "cmd/client_tls.h"
#include "cmd/command_line.h"
#include "etcd/rpc.grpc.pb.h"

namespace {

namespace pb = etcdserverpb;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string endpoints = "127.0.0.1:2379";
  raftkv::cmd::ClientTlsFlags tls;
  std::shared_ptr<grpc::ChannelCredentials> creds;  // from `tls` and the endpoints
  raftkv::cmd::ClientAuthFlags auth;                // --user, --password
  std::string token;                                // from Authenticate, with --user
  std::string workload = "put";                     // put | range | range-serializable | txn | mix
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
  std::string client_id;  // sent as client-id metadata when set (raftkv --limits-trust-client-id)
  bool honor_retry_after = false;  // after a refusal, wait what its retry-after-ms trailer says
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

// ---- the operations a workload mixes

grpc::Status put(pb::KV::Stub& kv, grpc::ClientContext* ctx, const std::string& key,
                 const std::string& value) {
  pb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  pb::PutResponse resp;
  return kv.Put(ctx, req, &resp);
}

grpc::Status range(pb::KV::Stub& kv, grpc::ClientContext* ctx, const std::string& key,
                   bool serializable) {
  pb::RangeRequest req;
  req.set_key(key);
  req.set_serializable(serializable);
  pb::RangeResponse resp;
  return kv.Range(ctx, req, &resp);
}

grpc::Status range_linearizable(pb::KV::Stub& kv, grpc::ClientContext* ctx, const std::string& key,
                                const std::string&) {
  return range(kv, ctx, key, false);
}

grpc::Status range_serializable(pb::KV::Stub& kv, grpc::ClientContext* ctx, const std::string& key,
                                const std::string&) {
  return range(kv, ctx, key, true);
}

// Compare-and-swap: if the key exists (version > 0), write a new value; else read it.
grpc::Status compare_and_swap(pb::KV::Stub& kv, grpc::ClientContext* ctx, const std::string& key,
                              const std::string& value) {
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
  return kv.Txn(ctx, req, &resp);
}

// One kind of operation: its name in --workload and --mix, and how it is issued.
struct Operation {
  const char* name;
  grpc::Status (*issue)(pb::KV::Stub& kv, grpc::ClientContext* ctx, const std::string& key,
                        const std::string& value);
};

constexpr Operation kOperations[] = {
    {"put", put},
    {"range", range_linearizable},
    {"range-serializable", range_serializable},
    {"txn", compare_and_swap},
};
const Operation& kPut = kOperations[0];

const Operation* find_operation(const std::string& name) {
  for (const Operation& op : kOperations) {
    if (name == op.name) return &op;
  }
  return nullptr;
}

// One request; `retry_after`, when given, gets the refusal's retry-after-ms trailer (0 if none).
// `wait_for_ready`: a channel not connected yet (or backing off after a failed connect)
// holds the request until it connects or the timeout passes, instead of failing it.
grpc::Status run_op(pb::KV::Stub& kv, const Operation& op, const std::string& key,
                    const std::string& value, const Options& o,
                    std::chrono::milliseconds* retry_after = nullptr, bool wait_for_ready = false) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(o.timeout_ms));
  ctx.set_wait_for_ready(wait_for_ready);
  if (!o.client_id.empty()) ctx.AddMetadata("client-id", o.client_id);
  if (!o.token.empty()) ctx.AddMetadata("token", o.token);
  grpc::Status s = op.issue(kv, &ctx, key, value);
  if (retry_after != nullptr) {
    *retry_after = std::chrono::milliseconds(0);
    const auto& trailers = ctx.GetServerTrailingMetadata();
    if (auto it = trailers.find("retry-after-ms"); it != trailers.end()) {
      const std::string v(it->second.data(), it->second.size());
      char* end = nullptr;
      const long ms = std::strtol(v.c_str(), &end, 10);
      if (end != v.c_str() && ms > 0)
        *retry_after = std::chrono::milliseconds(std::min(ms, 60'000L));
    }
  }
  return s;
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

// ---- the command line

void add_options(CLI::App& app, Options* o) {
  std::vector<std::string> workloads;
  for (const Operation& op : kOperations) workloads.push_back(op.name);
  workloads.push_back("mix");
  app.add_option("--endpoints", o->endpoints, "host:port,... (clients spread over them)")
      ->capture_default_str();
  raftkv::cmd::add_client_tls_flags(app, o->tls);
  raftkv::cmd::add_client_auth_flags(app, o->auth);
  app.add_option("--workload", o->workload, "put, range, range-serializable, txn or mix")
      ->check(CLI::IsMember(workloads))
      ->capture_default_str();
  app.add_option("--mix", o->mix,
                 "For --workload mix: op=weight,... (put, range, "
                 "range-serializable, txn)")
      ->capture_default_str();
  app.add_option("--clients", o->clients, "Concurrent clients")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--conns", o->conns, "gRPC connections shared by the clients")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--duration", o->duration_s, "Seconds to measure (after the warm-up)")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.add_option("--total", o->total, "Operations to measure instead of a duration")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  app.add_option("--warmup", o->warmup_s, "Seconds of load before measuring")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--rate", o->rate, "Open loop: operations per second in all (0: closed loop)")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--key-space", o->key_space, "Distinct keys")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--key-size", o->key_size, "Key bytes")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--value-size", o->value_size, "Value bytes")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app.add_option("--zipf", o->zipf, "Skew keys with this Zipf exponent (0: uniform)")
      ->check(CLI::Range(0.0, 5.0));
  app.add_option("--timeout", o->timeout_ms, "Per-request timeout in ms")
      ->check(CLI::Range(1, 600'000));
  app.add_option("--client-id", o->client_id,
                 "Send this client-id request metadata (how raftkv --limits-trust-client-id "
                 "tells clients apart)");
  app.add_flag("--honor-retry-after", o->honor_retry_after,
               "After a refusal, wait as long as its retry-after-ms trailer asks before the "
               "client's next request");
  app.add_option("-o,--output", o->output, "table or json")
      ->check(CLI::IsMember({"table", "json"}));
  app.add_flag("!--no-progress", o->progress, "No progress bar on stderr");
  app.add_flag("!--no-preload", o->preload, "Do not write the key space before reads and txns");
}

// The operation mix, as cumulative weights: an operation is picked by a draw below the
// last weight, the first entry whose weight exceeds it.
using Mix = std::vector<std::pair<const Operation*, int>>;

// The mix of --workload (and --mix), or nullopt after printing what is wrong.
std::optional<Mix> parse_mix(const Options& o) {
  if (o.workload != "mix") return Mix{{find_operation(o.workload), 1}};
  Mix mix;
  std::string rest = o.mix;
  int total_weight = 0;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string part = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const size_t eq = part.find('=');
    const Operation* op = eq == std::string::npos ? nullptr : find_operation(part.substr(0, eq));
    if (op == nullptr) {
      std::cerr << "Error: --mix: \"" << part << "\" is not op=weight" << std::endl;
      return std::nullopt;
    }
    const int w = std::atoi(part.substr(eq + 1).c_str());
    if (w <= 0) {
      std::cerr << "Error: --mix: weight in \"" << part << "\" must be a positive integer"
                << std::endl;
      return std::nullopt;
    }
    total_weight += w;
    mix.push_back({op, total_weight});
  }
  return mix;
}

std::vector<std::string> parse_endpoints(const std::string& list) {
  std::vector<std::string> endpoints;
  for (size_t start = 0; start < list.size();) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string ep = list.substr(start, end - start);
    if (ep.rfind("http://", 0) == 0) ep = ep.substr(7);
    if (ep.rfind("https://", 0) == 0) ep = ep.substr(8);
    if (!ep.empty()) endpoints.push_back(ep);
    start = end + 1;
  }
  return endpoints;
}

// ---- the load

using Stubs = std::vector<std::unique_ptr<pb::KV::Stub>>;

// --conns connections, spread over the endpoints in turn.
Stubs connect(const Options& o, const std::vector<std::string>& endpoints) {
  Stubs stubs;
  for (int i = 0; i < o.conns; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("raftkv.bench.conn", i);  // a distinct argument: a distinct connection
    stubs.push_back(pb::KV::NewStub(grpc::CreateCustomChannel(
        endpoints[static_cast<size_t>(i) % endpoints.size()], o.creds, args)));
  }
  return stubs;
}

// Writes every key once, so that reads return data and compare-and-swap succeeds.
// False (after saying why on stderr) when some put failed even after retries.
bool preload(const Options& o, const Stubs& stubs, const std::string& value) {
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
        // A put is idempotent here: retry what a leader change failed, 50 ms after the
        // first refusal, doubling (1.55 s in all). Each put waits for its connection.
        for (int attempt = 0; attempt < 6; ++attempt) {
          if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(25 << attempt));
          s = run_op(*stubs[static_cast<size_t>(t) % stubs.size()], kPut, key_of(i, o.key_size),
                     value, o, nullptr, /*wait_for_ready=*/true);
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
          if (first_error.empty())
            first_error = code_name(s.error_code()) + ": " + s.error_message();
        }
      }
    });
  }
  for (auto& t : loaders) t.join();
  if (retried > 0) {
    std::cerr << "preload: " << static_cast<long long>(retried)
              << " puts retried (first: " << first_retry << ")" << std::endl;
  }
  if (failed > 0) {
    std::cerr << "Error: preloading the key space: " << static_cast<long long>(failed.load())
              << " puts failed (first: " << first_error << ")" << std::endl;
    return false;
  }
  return true;
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// What every client of one run shares: what to send, the clock, the counters.
struct Load {
  Load(const Options& options, Mix operations, Stubs connections)
      : o(options),
        mix(std::move(operations)),
        stubs(std::move(connections)),
        picker(o.key_space, o.zipf),
        value(static_cast<size_t>(o.value_size), 'v') {}

  const Options& o;
  const Mix mix;
  const Stubs stubs;
  const KeyPicker picker;
  const std::string value;
  Clock::time_point start, measure_from, measure_until;  // set by run()
  std::atomic<int64_t> measured{0}, done_ops{0};
  std::atomic<bool> stop{false};
};

const Operation& pick(const Mix& mix, std::mt19937_64& rng) {
  const int w = static_cast<int>(rng() % static_cast<uint64_t>(mix.back().second));
  for (const auto& [candidate, upto] : mix) {
    if (w < upto) return *candidate;
  }
  return *mix.front().first;
}

// Client `c`: operations one after another (closed loop), or on its share of --rate's
// schedule (open loop: latency counts from the scheduled start, so a stall is not hidden).
void run_client(Load& load, int c, Result* r) {
  const Options& o = load.o;
  std::mt19937_64 rng(static_cast<uint64_t>(c) * 7919 + 1);
  pb::KV::Stub& kv = *load.stubs[static_cast<size_t>(c) % load.stubs.size()];
  const double interval_s = o.rate > 0 ? o.clients / o.rate : 0;
  auto scheduled = load.start + seconds(interval_s * c / o.clients);
  while (!load.stop) {
    if (interval_s > 0) std::this_thread::sleep_until(scheduled);
    const Operation& op = pick(load.mix, rng);
    const auto began = interval_s > 0 ? scheduled : Clock::now();
    std::chrono::milliseconds retry_after{0};
    const grpc::Status s =
        run_op(kv, op, key_of(load.picker.pick(rng), o.key_size), load.value, o, &retry_after);
    const auto ended = Clock::now();
    // A well-behaved client waits as the refusal asks (at most a minute, run_op caps it).
    if (o.honor_retry_after && !s.ok()) std::this_thread::sleep_for(retry_after);
    if (interval_s > 0) scheduled += seconds(interval_s);
    ++load.done_ops;
    if (began < load.measure_from) continue;  // warm-up
    if (o.total > 0 ? load.measured >= o.total : ended > load.measure_until) {
      load.stop = true;
      break;
    }
    ++load.measured;
    if (s.ok()) {
      r->latencies_us.push_back(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(ended - began).count()));
    } else {
      ++r->errors[code_name(s.error_code()) + ": " + s.error_message()];
    }
  }
}

// A progress bar on stderr until the run stops.
void show_progress(const Load& load) {
  const Options& o = load.o;
  while (!load.stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const double elapsed = std::chrono::duration<double>(Clock::now() - load.start).count();
    const double total_s = o.warmup_s + o.duration_s;
    const double frac = o.total > 0
                            ? static_cast<double>(load.measured) / static_cast<double>(o.total)
                            : std::min(1.0, elapsed / total_s);
    const int width = 30;
    const int filled = static_cast<int>(frac * width);
    std::ostringstream bar;  // its own stream: std::fixed must not stick to std::cerr
    bar << "\r[" << std::string(static_cast<size_t>(filled), '#')
        << std::string(static_cast<size_t>(width - filled), ' ') << "] " << std::setw(3)
        << std::fixed << std::setprecision(0) << frac * 100 << "%  "
        << static_cast<long long>(load.done_ops.load()) << " ops";
    std::cerr << bar.str() << std::flush;
  }
  std::cerr << "\r" << std::string(60, ' ') << "\r" << std::flush;
}

// What a run measured, over all its clients.
struct Summary {
  std::string workload;             // as printed: "put", "mix(put=50,range=50)"
  std::vector<uint32_t> latencies;  // microseconds, sorted
  std::map<std::string, int64_t> errors;
  int64_t error_count = 0;
  double seconds = 0;
  double throughput = 0;
};

// Runs --clients clients (after the warm-up: for --duration, or --total operations).
Summary run(Load& load) {
  const Options& o = load.o;
  load.start = Clock::now();
  load.measure_from = load.start + seconds(o.warmup_s);
  load.measure_until = load.measure_from + seconds(o.duration_s);
  std::vector<Result> results(static_cast<size_t>(o.clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back(run_client, std::ref(load), c, &results[static_cast<size_t>(c)]);
  }
  std::thread progress;
  if (o.progress) progress = std::thread(show_progress, std::cref(load));
  for (auto& t : threads) t.join();
  load.stop = true;
  if (progress.joinable()) progress.join();
  const auto finished = Clock::now();

  Summary sum;
  sum.workload = o.workload == "mix" ? "mix(" + o.mix + ")" : o.workload;
  for (Result& r : results) {
    sum.latencies.insert(sum.latencies.end(), r.latencies_us.begin(), r.latencies_us.end());
    for (const auto& [k, v] : r.errors) {
      sum.errors[k] += v;
      sum.error_count += v;
    }
  }
  std::sort(sum.latencies.begin(), sum.latencies.end());
  sum.seconds =
      o.total > 0
          ? std::chrono::duration<double>(finished - std::max(load.measure_from, load.start))
                .count()
          : o.duration_s;
  sum.throughput = static_cast<double>(sum.latencies.size()) / sum.seconds;
  return sum;
}

// ---- the report

double max_ms(const Summary& s) { return s.latencies.empty() ? 0.0 : s.latencies.back() / 1000.0; }

void print_json(const Options& o, const Summary& s) {
  const std::vector<uint32_t>& all = s.latencies;
  std::printf(
      "{\"workload\":\"%s\",\"clients\":%d,\"conns\":%d,\"rate\":%g,\"seconds\":%.3f,"
      "\"ops\":%zu,\"errors\":%lld,\"throughput\":%.1f,\"latency_ms\":{\"p50\":%.3f,"
      "\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},\"error_codes\":{",
      s.workload.c_str(), o.clients, o.conns, o.rate, s.seconds, all.size(),
      static_cast<long long>(s.error_count), s.throughput, percentile(all, 50), percentile(all, 90),
      percentile(all, 99), percentile(all, 99.9), max_ms(s));
  bool first = true;
  for (const auto& [k, v] : s.errors) {
    std::string esc;
    for (char ch : k) {
      if (ch == '"' || ch == '\\') esc += '\\';
      esc += ch;
    }
    std::printf("%s\"%s\":%lld", first ? "" : ",", esc.c_str(), static_cast<long long>(v));
    first = false;
  }
  std::printf("}}\n");
}

void print_table(const Options& o, const Summary& s) {
  const std::vector<uint32_t>& all = s.latencies;
  const std::string loop =
      o.rate > 0 ? "open loop at " + std::to_string(static_cast<int64_t>(o.rate)) + " ops/s"
                 : "closed loop";
  std::printf("workload %s: %d clients over %d connections, %s, %.1f s measured\n",
              s.workload.c_str(), o.clients, o.conns, loop.c_str(), s.seconds);
  std::printf("  %zu ok, %lld errors: %.1f ops/s\n", all.size(),
              static_cast<long long>(s.error_count), s.throughput);
  std::printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
              percentile(all, 50), percentile(all, 90), percentile(all, 99), percentile(all, 99.9),
              max_ms(s));
  for (const auto& [k, v] : s.errors) {
    std::printf("  error %s: %lld\n", k.c_str(), static_cast<long long>(v));
  }
}

}  // namespace

// Exit status: 0 when the run measured, 1 when nothing succeeded or the preload failed,
// 2 on bad usage (command_line.h).
int main(int argc, char** argv) {
  const raftkv::cmd::GrpcLifetime grpc;  // first: outlives every channel
  Options o;
  CLI::App app{"raftkv-bench: load over etcd's v3 API (raftkv or etcd)"};
  add_options(app, &o);
  if (std::optional<int> exit = raftkv::cmd::parse_command_line(app, "raftkv-bench", argc, argv)) {
    return *exit;
  }
  std::optional<Mix> mix = parse_mix(o);
  if (!mix.has_value()) return raftkv::cmd::kUsageError;
  const std::vector<std::string> endpoints = parse_endpoints(o.endpoints);
  if (endpoints.empty()) {
    std::cerr << "Error: --endpoints names no endpoint" << std::endl;
    return raftkv::cmd::kUsageError;
  }
  auto creds = raftkv::cmd::channel_credentials(o.tls, o.endpoints);
  if (!creds.ok()) {
    std::cerr << "Error: " << creds.status().message() << std::endl;
    return raftkv::cmd::kUsageError;
  }
  o.creds = *std::move(creds);
  // One token for every client, as etcd's benchmark tool shares its client's.
  absl::StatusOr<std::string> token =
      raftkv::cmd::authenticate(o.auth, grpc::CreateChannel(endpoints[0], o.creds), o.timeout_ms);
  if (!token.ok()) {
    std::cerr << "Error: " << token.status().message() << std::endl;
    return absl::IsInvalidArgument(token.status()) ? raftkv::cmd::kUsageError : 1;
  }
  o.token = *std::move(token);
  Load load(o, std::move(*mix), connect(o, endpoints));
  const bool reads_or_txn =
      std::any_of(load.mix.begin(), load.mix.end(), [](const auto& m) { return m.first != &kPut; });
  if (reads_or_txn && o.preload && !preload(o, load.stubs, load.value)) return 1;
  const Summary s = run(load);
  if (o.output == "json") {
    print_json(o, s);
  } else {
    print_table(o, s);
  }
  return s.latencies.empty() && s.error_count > 0 ? 1 : 0;
}
