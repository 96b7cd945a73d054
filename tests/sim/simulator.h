// A deterministic simulation of a Raft cluster: N cores, a simulated clock, a
// seeded network that delays, drops, duplicates and reorders, partitions, crashes
// that lose unsynced writes, and clients whose histories are checked for
// linearizability. The same seed always replays the same run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sim {

// How hostile one run is. Every seed draws its own, from calm to violent, so that
// rare combinations get explored.
struct FaultProfile {
  double drop = 0;       // probability that a message is lost
  double duplicate = 0;  // probability that a message is delivered twice
  int64_t min_delay_us = 100;
  int64_t max_delay_us = 2000;
  int64_t max_fsync_us = 1000;
  int64_t nemesis_every_ms = 0;  // mean time between faults; 0: none
  int crash_weight = 0;
  int partition_weight = 0;
  int membership_weight = 0;  // membership changes: add, remove, replace several voters
  int transfer_weight = 0;    // leadership transfers
  int timeouts_weight = 0;    // run-time timeout changes, some of them invalid
  double leader_crash = 0;    // probability that a newly elected leader crashes soon after
  double write_crash = 0;     // probability that a node crashes while a write is in flight
  double commit_crash = 0;    // probability that a leader crashes as soon as its commit advances
  double fresh_leader_crash = 0;  // probability that a new leader crashes before it sends anything
  int64_t max_restart_ms = 1500;
  std::string describe() const;
};

struct SimOptions {
  uint64_t seed = 1;
  int64_t fault_ms = 6000;     // how long faults are injected
  int64_t liveness_ms = 6000;  // after healing, the cluster must commit within this
  bool demo = false;           // a calm, scripted 3-node run for `make run`
  // Receives readable lines about elections, faults and commits as they happen.
  std::function<void(int64_t sim_us, std::string_view line)> narrate;

  static SimOptions for_seed(uint64_t seed) {
    SimOptions o;
    o.seed = seed;
    return o;
  }
};

struct SimStats {
  int nodes = 0;
  uint64_t steps = 0;
  uint64_t messages_delivered = 0;
  uint64_t messages_lost = 0;
  uint64_t leaders_elected = 0;
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  uint64_t committed = 0;
  uint64_t ops_ok = 0;
  uint64_t ops_failed = 0;
  uint64_t ops_unknown = 0;
  uint64_t membership_changes = 0;  // accepted by a leader
  uint64_t transfers = 0;
  uint64_t timeout_changes = 0;
  uint64_t index_reads = 0;  // reads served through ReadIndex
  uint64_t snapshots_taken = 0;
  uint64_t snapshots_sent = 0;
};

struct SimResult {
  bool passed = false;
  std::string failure;                   // empty when passed
  std::vector<std::string> last_events;  // the last events before the end, oldest first
  uint64_t trace_hash = 0;               // identical for identical runs
  std::string profile;                   // the seed's configuration and fault rates
  SimStats stats;
};

SimResult run_simulation(const SimOptions& options);

// The command that replays `seed` with every event printed.
std::string replay_command(uint64_t seed);

}  // namespace sim
