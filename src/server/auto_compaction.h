// etcd's --auto-compaction-mode and --auto-compaction-retention: the leader compacts the
// MVCC history itself, through the log, so a store that nobody compacts by hand does not
// grow with every revision ever written (and the member's memory with it).
//
// periodic (etcd's default mode): keep `retention` of history. The member notes the
// revision every tenth of min(retention, 1 h); once `retention` has passed since it
// started, and then every min(retention, 1 h), it compacts to the revision it noted
// `retention` ago. A compaction that fails is tried again a tenth of the interval later.
// revision: keep the last `revisions` revisions; every 5 minutes the member compacts to
// the revision `revisions` below the current one, unless that is where it compacted last.
// Only the leader compacts; every member keeps noting revisions, so a new leader goes on
// where the old one stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace server {

struct AutoCompaction {
  enum class Mode { kOff, kPeriodic, kRevision };
  Mode mode = Mode::kOff;
  std::chrono::milliseconds retention{0};  // kPeriodic
  int64_t revisions = 0;                   // kRevision
  bool operator==(const AutoCompaction&) const = default;
};

// etcd's rules: mode "periodic" (or empty) or "revision"; retention "0" (or empty) is off;
// periodic takes a bare number as hours or a duration of ms, s, m and h parts ("1h30m",
// "2.5s"); revision takes a positive whole number. Errors name the flag and the value.
absl::StatusOr<AutoCompaction> parse_auto_compaction(std::string_view mode,
                                                     std::string_view retention);

// The schedule alone: no clock, no thread, no store. The caller asks due() on every round
// of its loop and reports what became of each compaction it was told to make.
class AutoCompactor {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kRevisionInterval = std::chrono::minutes(5);

  AutoCompactor(AutoCompaction policy, Clock::time_point now);

  // The revision to compact to now, if a compaction is due: only when `leader`, and never
  // at or below the last revision compacted. `revision` is the store's current one.
  std::optional<int64_t> due(Clock::time_point now, int64_t revision, bool leader);
  // What became of the compaction due() asked for (a revision already compacted is ok).
  void finished(Clock::time_point now, int64_t revision, bool ok);

  const AutoCompaction& policy() const { return policy_; }

 private:
  Clock::duration interval() const;  // between compactions
  Clock::duration step() const;      // between noted revisions, and between tries

  AutoCompaction policy_;
  std::deque<std::pair<Clock::time_point, int64_t>> noted_;  // periodic: oldest first
  Clock::time_point last_success_;
  std::optional<Clock::time_point> last_try_;
  Clock::duration wait_;    // since last_success_ before the next compaction
  int64_t compacted_ = 0;   // the last revision compacted to
  bool in_flight_ = false;  // due() answered; finished() not yet called
};

}  // namespace server
