// The watch workload's checker (docs/design/chaos.md 4.3): each watcher's events, across
// its reopens on different members, must be one ordered stream without gaps of the
// writes the writers made, the same at each revision as every other watcher's, and must
// include the final put once every fault is healed (rules W1-W7).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raftkv/chaos_history.pb.h"

namespace chaos {

// One broken rule and the history lines that show it.
struct WatchViolation {
  std::string rule;     // "W1" .. "W7"
  std::string anomaly;  // e.g. "watch-missed-event"
  int64_t watcher = 0;
  int64_t rev = 0;                     // the revision it is about (0: none in particular)
  std::string what;                    // one sentence for people
  std::vector<raftkv::chaos::Op> ops;  // the lines that show it, in history order
  int64_t from = 0, to = 0;            // when it happened: faults overlapping this matter
};

struct WatcherSummary {
  int64_t id = 0;
  size_t opens = 0, responses = 0, events = 0;
  size_t compacted = 0;  // opens the server ended with ErrCompacted
  // The revisions it covered: [first_start, last_rev] minus the revisions a compaction
  // took from it (excused gaps, gap_revisions of them).
  int64_t first_start = 0, last_rev = 0, gap_revisions = 0;
  // ns from the final put's return to its delivery (negative: delivered before the put
  // returned); none: never delivered.
  std::optional<int64_t> final_delay;
};

struct WatchReport {
  size_t writes_ok = 0, writes_fail = 0, writes_info = 0;
  size_t compactions_ok = 0, compactions_info = 0;
  // The acknowledged put of w/final (W7); 0 when none was: W7 cannot be checked.
  int64_t final_rev = 0;
  std::vector<WatcherSummary> watchers;
  std::vector<WatchViolation> violations;
  // Events below a compaction that only another member had acknowledged when the watch
  // was opened: allowed (a member serves watches from what it has applied), counted.
  size_t served_below_remote_compaction = 0;
};

// Checks the watch workload's lines of `ops`, which are in history order (a watcher's
// lines follow its life: open, responses, close, open, ...).
WatchReport check_watch(const std::vector<raftkv::chaos::Op>& ops);

// A report for people: counts per watcher and, for each broken rule, its first
// violations with their lines and the faults around them. Times are seconds since
// `origin`.
std::string describe(const WatchReport& report,
                     const std::vector<raftkv::chaos::NemesisEvent>& faults, int64_t origin);

}  // namespace chaos
