// Built once per planted bug (see src/raft/planted_bugs.h), against a core with that
// bug switched on: the simulator must catch it within a bounded number of seeds.
#include <gtest/gtest.h>

#include <cstdio>

#include "sim/simulator.h"

#ifndef RAFTKV_PLANTED_BUG_NAME
#error "RAFTKV_PLANTED_BUG_NAME must name the bug this test is built against"
#endif

namespace sim {
namespace {

// The deterministic seeds 1..N are tried in order; each bug is caught well within
// this bound today (raftkv-sim over the variant shows where).
constexpr uint64_t kMaxSeeds = 5000;

TEST(PlantedBug, SimulatorCatchesIt) {
  for (uint64_t seed = 1; seed <= kMaxSeeds; ++seed) {
    SimResult r = run_simulation(SimOptions::for_seed(seed));
    if (!r.passed) {
      std::printf("planted bug %s caught at seed %llu: %s\n", RAFTKV_PLANTED_BUG_NAME,
                  static_cast<unsigned long long>(seed), r.failure.c_str());
      return;
    }
  }
  FAIL() << "planted bug " << RAFTKV_PLANTED_BUG_NAME << " was not caught in " << kMaxSeeds
         << " seeds";
}

}  // namespace
}  // namespace sim
