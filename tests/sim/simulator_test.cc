// The simulator's verdicts: many seeds of the real core under faults pass every
// safety check, linearizability and liveness, and the same seed replays exactly.
#include "sim/simulator.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <set>

namespace sim {
namespace {

#ifdef RAFTKV_SANITIZED
constexpr uint64_t kSeedsPerShard = 25;  // sanitizers are ~10x slower: 150 seeds here
#else
constexpr uint64_t kSeedsPerShard = 250;  // 1500 seeds in the release build
#endif
constexpr uint64_t kShards = 6;

void expect_pass(uint64_t seed, const SimResult& r) {
  if (r.passed) {
    return;
  }
  std::string events;
  for (const std::string& line : r.last_events) {
    events += "    " + line + "\n";
  }
  ADD_FAILURE() << "seed " << seed << ": " << r.failure << "\n  profile: " << r.profile
                << "\n  replay: " << replay_command(seed) << "\n  last events:\n"
                << events;
}

class SimulatorSeeds : public ::testing::TestWithParam<uint64_t> {};

TEST_P(SimulatorSeeds, EverySeedKeepsSafetyLinearizabilityAndLiveness) {
  const uint64_t first = 1 + GetParam() * kSeedsPerShard;
  uint64_t steps = 0, ops = 0, elections = 0, crashes = 0, partitions = 0;
  uint64_t changes = 0, transfers = 0, index_reads = 0, snapshots_sent = 0, timeouts = 0;
  for (uint64_t seed = first; seed < first + kSeedsPerShard; ++seed) {
    SimResult r = run_simulation(SimOptions::for_seed(seed));
    expect_pass(seed, r);
    steps += r.stats.steps;
    ops += r.stats.ops_ok;
    elections += r.stats.leaders_elected;
    crashes += r.stats.crashes;
    partitions += r.stats.partitions;
    changes += r.stats.membership_changes;
    transfers += r.stats.transfers;
    index_reads += r.stats.index_reads;
    snapshots_sent += r.stats.snapshots_sent;
    timeouts += r.stats.timeout_changes;
  }
  std::printf(
      "seeds %llu..%llu: %llu steps checked, %llu acknowledged operations, %llu leaders "
      "elected, %llu crashes, %llu partitions\n",
      static_cast<unsigned long long>(first),
      static_cast<unsigned long long>(first + kSeedsPerShard - 1),
      static_cast<unsigned long long>(steps), static_cast<unsigned long long>(ops),
      static_cast<unsigned long long>(elections), static_cast<unsigned long long>(crashes),
      static_cast<unsigned long long>(partitions));
  std::printf(
      "  %llu membership changes, %llu transfers, %llu ReadIndex reads, %llu snapshots "
      "sent, %llu timeout changes\n",
      static_cast<unsigned long long>(changes), static_cast<unsigned long long>(transfers),
      static_cast<unsigned long long>(index_reads), static_cast<unsigned long long>(snapshots_sent),
      static_cast<unsigned long long>(timeouts));
  // The runs did real work: a simulator that elects nobody and commits nothing
  // would pass every safety check vacuously.
  EXPECT_GT(ops, kSeedsPerShard * 10);
  EXPECT_GE(elections, kSeedsPerShard);
  // Every capability is exercised under faults, not only present.
  EXPECT_GT(changes, 0u);
  EXPECT_GT(transfers, 0u);
  EXPECT_GT(index_reads, 0u);
  EXPECT_GT(snapshots_sent, 0u);
  EXPECT_GT(timeouts, 0u);
}

INSTANTIATE_TEST_SUITE_P(Shards, SimulatorSeeds, ::testing::Range<uint64_t>(0, kShards));

TEST(Simulator, SameSeedReplaysTheIdenticalTrace) {
  for (uint64_t seed = 1000; seed < 1010; ++seed) {
    SimResult a = run_simulation(SimOptions::for_seed(seed));
    SimResult b = run_simulation(SimOptions::for_seed(seed));
    EXPECT_EQ(a.trace_hash, b.trace_hash) << "seed " << seed;
    EXPECT_EQ(a.stats.steps, b.stats.steps) << "seed " << seed;
    EXPECT_EQ(a.stats.ops_ok, b.stats.ops_ok) << "seed " << seed;
  }
}

TEST(Simulator, DifferentSeedsExploreDifferentRuns) {
  SimResult a = run_simulation(SimOptions::for_seed(1));
  SimResult b = run_simulation(SimOptions::for_seed(2));
  EXPECT_NE(a.trace_hash, b.trace_hash);
}

TEST(Simulator, SeedsDrawDifferentFaultProfiles) {
  // Some seeds are calm, some violent: the profiles must actually differ.
  std::set<std::string> profiles;
  uint64_t crashes = 0, partitions = 0, lost = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SimResult r = run_simulation(SimOptions::for_seed(seed));
    profiles.insert(r.profile);
    crashes += r.stats.crashes;
    partitions += r.stats.partitions;
    lost += r.stats.messages_lost;
  }
  EXPECT_GT(profiles.size(), 15u);
  EXPECT_GT(crashes, 0u);
  EXPECT_GT(partitions, 0u);
  EXPECT_GT(lost, 0u);
}

}  // namespace
}  // namespace sim
