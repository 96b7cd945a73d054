#include "report.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace chaos {

std::string seconds(int64_t t, int64_t origin) {
  return absl::StrFormat("%.3f", static_cast<double>(t - origin) / 1e9);
}

std::string faults_during(const std::vector<raftkv::chaos::NemesisEvent>& faults, int64_t from,
                          int64_t to, int64_t origin, const std::string& indent) {
  std::map<int64_t, std::pair<const raftkv::chaos::NemesisEvent*, int64_t>> active;
  for (const auto& e : faults) {
    if (e.phase() == "start") active[e.id()] = {&e, INT64_MAX};
  }
  for (const auto& e : faults) {
    auto it = active.find(e.id());
    if (e.phase() == "heal" && it != active.end()) it->second.second = e.t1();
  }
  std::string out;
  for (const auto& [id, a] : active) {
    const auto& [start, healed] = a;
    if (start->t0() > to || healed < from) continue;
    absl::StrAppend(&out, indent, start->nemesis(), " ", absl::StrJoin(start->targets(), ","), " [",
                    seconds(start->t0(), origin), ", ",
                    healed == INT64_MAX ? "never healed" : seconds(healed, origin), "] ",
                    start->detail(), "\n");
  }
  return out.empty() ? indent + "(none)\n" : out;
}

}  // namespace chaos
