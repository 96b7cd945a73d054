// The register workload's checker: reads, writes and compare-and-swaps on a few keys,
// checked key by key for linearizability (tests/lincheck). Operations with an unknown
// outcome ("info") may have taken effect at any time after their call, or never; those
// that failed ("fail") had no effect and are left out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lincheck/linearizability.h"
#include "raftkv/chaos_history.pb.h"

namespace chaos {

struct RegisterReport {
  lincheck::Verdict verdict = lincheck::Verdict::kLinearizable;
  size_t ok = 0, fail = 0, info = 0;  // register operations by outcome
  size_t keys = 0;
  uint64_t states_explored = 0;
  // kNotLinearizable / kGaveUp: the key and lincheck's explanation.
  std::string key;
  std::string explanation;
  // kNotLinearizable: the shortest prefix of the key's history that is already not
  // linearizable: the operations called by `window_end` (those still running then count
  // as unknown), the last of them kept in `window`.
  int64_t window_end = 0;
  std::vector<raftkv::chaos::Op> window;
  std::string window_explanation;
};

RegisterReport check_register(const std::vector<raftkv::chaos::Op>& ops, uint64_t max_states);

// A report for people: the verdict, the counts and, for an anomaly, the window of
// operations with the faults that overlapped it. Times are seconds since `origin`.
std::string describe(const RegisterReport& report,
                     const std::vector<raftkv::chaos::NemesisEvent>& faults, int64_t origin);

}  // namespace chaos
