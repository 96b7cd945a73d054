// Every workload's checker behind one signature, so chaos-check runs them alike.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "raftkv/chaos_history.pb.h"

namespace chaos {

enum class Verdict { kPass = 0, kAnomaly = 1, kInconclusive = 2 };

struct CheckInput {
  const std::vector<raftkv::chaos::Op>& ops;  // every workload's: a checker picks its own
  const std::vector<raftkv::chaos::NemesisEvent>& faults;
  int64_t origin = 0;                // times in reports are seconds since this
  uint64_t max_states = 50'000'000;  // search budgets, where a checker searches
};

struct CheckResult {
  Verdict verdict = Verdict::kPass;
  std::string text;  // for people: counts, the verdict, each anomaly's window
};

CheckResult check_register_workload(const CheckInput& in);
CheckResult check_watch_workload(const CheckInput& in);
CheckResult check_lease_workload(const CheckInput& in);
CheckResult check_append_workload(const CheckInput& in);

// The checkers by the workload name the client writes in each operation's "wl".
struct Checker {
  const char* workload;
  CheckResult (*check)(const CheckInput&);
};
inline constexpr Checker kCheckers[] = {
    {"register", check_register_workload},
    {"watch", check_watch_workload},
    {"lease", check_lease_workload},
    {"append", check_append_workload},
};

}  // namespace chaos
