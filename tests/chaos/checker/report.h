// What the checkers' reports share: times as seconds since the run began, and the
// faults active around an anomaly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "raftkv/chaos_history.pb.h"

namespace chaos {

// `t` (CLOCK_MONOTONIC ns) as seconds since `origin`, to the millisecond: "12.345".
std::string seconds(int64_t t, int64_t origin);

// The faults active at some time in [from, to], one line each after `indent`; a fault
// is active from its start to its heal (paired by id). "(none)" when there are none.
std::string faults_during(const std::vector<raftkv::chaos::NemesisEvent>& faults, int64_t from,
                          int64_t to, int64_t origin, const std::string& indent);

// The anomalies of one workload: "<workload>: ANOMALIES: <rule> <anomaly> xN, ...", then
// up to five of each with the lines that show it (`line` describes one) and the faults
// around it. A violation has rule, anomaly, what, ops, from and to.
template <typename Violation, typename Line>
std::string describe_violations(const std::string& workload, const std::vector<Violation>& found,
                                const std::vector<raftkv::chaos::NemesisEvent>& faults,
                                int64_t origin, Line line) {
  constexpr size_t kShownPerAnomaly = 5;
  std::map<std::string, size_t> counts;
  for (const Violation& v : found) ++counts[v.rule + " " + v.anomaly];
  std::vector<std::string> parts;
  for (const auto& [name, n] : counts) parts.push_back(absl::StrCat(name, " x", n));
  std::string out = absl::StrCat(workload, ": ANOMALIES: ", absl::StrJoin(parts, ", "), "\n");
  std::map<std::string, size_t> shown;
  for (const Violation& v : found) {
    if (shown[v.anomaly]++ == kShownPerAnomaly) {
      absl::StrAppend(&out, v.rule, " ", v.anomaly, ": (the others are not shown)\n");
    }
    if (shown[v.anomaly] > kShownPerAnomaly) continue;
    absl::StrAppend(&out, v.rule, " ", v.anomaly, ": ", v.what, "\n");
    for (const raftkv::chaos::Op& op : v.ops) absl::StrAppend(&out, line(op, origin), "\n");
    absl::StrAppend(&out, "  faults overlapping [", seconds(v.from, origin), ", ",
                    seconds(v.to, origin), "]:\n",
                    faults_during(faults, v.from, v.to, origin, "    "));
  }
  return out;
}

}  // namespace chaos
