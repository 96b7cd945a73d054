// raftkv-sim: runs the deterministic cluster simulation over many seeds (or one,
// verbosely, to replay a failure), and narrates a calm run for `make run`.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "sim/simulator.h"

namespace {

void usage() {
  std::fprintf(
      stderr,
      "usage: raftkv-sim [--seeds N] [--first-seed S] | --seed S [--verbose] | --demo\n"
      "  --seeds N       run N seeds (default 300), starting at --first-seed (default 1)\n"
      "  --seed S        run one seed; with --verbose print every narrated event\n"
      "  --demo          narrate a 3-node cluster in real time: elections, commits, faults\n");
}

bool parse_u64(const char* text, uint64_t* out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') return false;
  *out = v;
  return true;
}

void print_failure(uint64_t seed, const sim::SimResult& r) {
  std::printf("FAILED seed %llu: %s\n  profile: %s\n  replay: %s\n  last events:\n",
              static_cast<unsigned long long>(seed), r.failure.c_str(), r.profile.c_str(),
              sim::replay_command(seed).c_str());
  for (const std::string& line : r.last_events) {
    std::printf("    %s\n", line.c_str());
  }
}

int run_demo() {
  std::printf(
      "raftkv: a simulated 3-node Raft cluster (until the real server lands, `make run` shows the\n"
      "core at work). One client writes and reads through the leader; at 2.5 s the leader "
      "crashes,\n"
      "at 4.5 s it restarts, at 6.5 s the new leader is cut off by a partition, at 8.5 s it "
      "heals.\n"
      "Every step is checked for Raft's safety properties.\n\n");
  const auto start = std::chrono::steady_clock::now();
  sim::SimOptions options;
  options.seed = 7;
  options.demo = true;
  options.fault_ms = 9'000;
  options.liveness_ms = 5'000;
  options.narrate = [&](int64_t sim_us, std::string_view line) {
    // Pace the story at half real time so a person can follow it.
    std::this_thread::sleep_until(start + std::chrono::microseconds(sim_us / 2));
    std::printf("[%6.2fs] %.*s\n", static_cast<double>(sim_us) / 1e6, static_cast<int>(line.size()),
                line.data());
    std::fflush(stdout);
  };
  sim::SimResult r = sim::run_simulation(options);
  if (!r.passed) {
    print_failure(options.seed, r);
    return 1;
  }
  std::printf(
      "\n%llu steps checked; %llu leaders elected, %llu operations acknowledged, history "
      "linearizable.\n",
      static_cast<unsigned long long>(r.stats.steps),
      static_cast<unsigned long long>(r.stats.leaders_elected),
      static_cast<unsigned long long>(r.stats.ops_ok));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seeds = 300, first = 1, one = 0;
  bool single = false, verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](uint64_t* out) {
      if (i + 1 >= argc || !parse_u64(argv[i + 1], out)) {
        std::fprintf(stderr, "raftkv-sim: %s needs a non-negative integer\n", arg.c_str());
        std::exit(2);
      }
      ++i;
    };
    if (arg == "--seeds") {
      value(&seeds);
    } else if (arg == "--first-seed") {
      value(&first);
    } else if (arg == "--seed") {
      value(&one);
      single = true;
    } else if (arg == "--verbose") {
      verbose = true;
    } else if (arg == "--demo") {
      return run_demo();
    } else {
      std::fprintf(stderr, "raftkv-sim: unknown argument '%s'\n", arg.c_str());
      usage();
      return 2;
    }
  }
  if (single) {
    sim::SimOptions options;
    options.seed = one;
    if (verbose) {
      options.narrate = [](int64_t us, std::string_view line) {
        std::printf("[%8.3fs] %.*s\n", static_cast<double>(us) / 1e6, static_cast<int>(line.size()),
                    line.data());
      };
    }
    sim::SimResult r = sim::run_simulation(options);
    std::printf(
        "seed %llu: %s\n  profile: %s\n  %llu steps, %llu ops ok, %llu failed, %llu unknown\n",
        static_cast<unsigned long long>(one), r.passed ? "passed" : "FAILED", r.profile.c_str(),
        static_cast<unsigned long long>(r.stats.steps),
        static_cast<unsigned long long>(r.stats.ops_ok),
        static_cast<unsigned long long>(r.stats.ops_failed),
        static_cast<unsigned long long>(r.stats.ops_unknown));
    if (!r.passed) {
      print_failure(one, r);
      return 1;
    }
    return 0;
  }
  uint64_t steps = 0, ops = 0, failed = 0;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    sim::SimResult r = sim::run_simulation(sim::SimOptions::for_seed(seed));
    steps += r.stats.steps;
    ops += r.stats.ops_ok;
    if (!r.passed) {
      print_failure(seed, r);
      ++failed;
    }
    if ((seed - first + 1) % 1000 == 0) {
      std::fprintf(stderr, "... %llu seeds\n", static_cast<unsigned long long>(seed - first + 1));
    }
  }
  std::printf("simulated %llu seeds (%llu..%llu), %llu steps, %llu acknowledged operations\n",
              static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + seeds - 1),
              static_cast<unsigned long long>(steps), static_cast<unsigned long long>(ops));
  std::printf("%llu passed, %llu failed\n", static_cast<unsigned long long>(seeds - failed),
              static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}
