// The append workload's checker (docs/design/chaos.md 4.2): txns that read lists and
// append unique elements to them, checked for strict serializability the way Elle checks
// list-append histories: first what the lists show by themselves (an element nobody wrote,
// two reads that disagree on an order, an acknowledged append that vanished), then cycles
// among the txns' dependencies (ww, wr, rw) and their real-time order.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "raftkv/chaos_history.pb.h"

namespace chaos {

// One anomaly, with the history lines (txns) that show it.
struct AppendAnomaly {
  std::string kind;  // "G1a", "garbage", ..., or a cycle: "G0", ..., "G2-item-realtime"
  std::vector<std::string> because;  // why, one line per fact (a cycle: one per edge)
  std::vector<raftkv::chaos::Op> txns = {};
};

struct AppendReport {
  size_t ok = 0, fail = 0, info = 0;  // txns by outcome, the final reads apart
  size_t multi_key_ok = 0;            // ok txns that touched two keys or more
  size_t finals = 0;                  // final reads, one per key
  size_t keys = 0, elements = 0;      // elements appended by ok or unknown txns
  // The dependency graph: its txns (ok, and unknown ones whose appends were seen), its
  // edges by kind, and how many txns lie on cycles.
  size_t nodes = 0, ww = 0, wr = 0, rw = 0, rt = 0;
  size_t on_cycles = 0;
  std::map<std::string, size_t> found;   // anomalies by kind: how many were found
  std::vector<AppendAnomaly> anomalies;  // at most kExamples of each kind
  // Non-empty when the history proves less than a pass would claim (no final read).
  std::string inconclusive;
  // Non-empty when a cycle search ran out of its budget: shorter cycles may exist.
  std::string search_note;
  double seconds = 0;  // how long the check took
};

inline constexpr size_t kAppendExamples = 3;

// Checks the history's "append" txns; `max_visits` bounds the cycle search (edges
// visited per kind of cycle), the only part that is not near-linear in the history.
AppendReport check_append(const std::vector<raftkv::chaos::Op>& ops, uint64_t max_visits);

// A report for people: the counts, the verdict and, for each anomaly, its txns (times
// are seconds since `origin`) with the faults that overlapped them.
std::string describe(const AppendReport& report,
                     const std::vector<raftkv::chaos::NemesisEvent>& faults, int64_t origin);

}  // namespace chaos
