#include "server/auto_compaction.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "absl/status/status.h"

namespace server {
namespace {

constexpr std::chrono::hours kLongestRetention{24 * 365 * 10};  // ten years

absl::Status bad_retention(std::string_view retention, const std::string& why) {
  return absl::InvalidArgumentError("--auto-compaction-retention \"" + std::string(retention) +
                                    "\" " + why);
}

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// A whole number of at most 18 digits (so it fits an int64 with room to multiply).
std::optional<int64_t> whole_number(std::string_view s) {
  if (!all_digits(s) || s.size() > 18) return std::nullopt;
  int64_t n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

// Go's time.ParseDuration for the units a retention needs: one or more <number><unit>
// parts, the number with an optional fraction, the unit ms, s, m or h.
std::optional<double> duration_ms(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    size_t digits = i - start;
    if (i < s.size() && s[i] == '.') {
      ++i;
      const size_t frac = i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
      digits += i - frac;
    }
    if (digits == 0 || i - start > 20) return std::nullopt;
    const double number = std::stod(std::string(s.substr(start, i - start)));
    double unit = 0;
    if (s.substr(i, 2) == "ms") {
      unit = 1, i += 2;
    } else if (i < s.size() && s[i] == 's') {
      unit = 1000, i += 1;
    } else if (i < s.size() && s[i] == 'm') {
      unit = 60'000, i += 1;
    } else if (i < s.size() && s[i] == 'h') {
      unit = 3'600'000, i += 1;
    } else {
      return std::nullopt;
    }
    total += number * unit;
  }
  return total;
}

}  // namespace

absl::StatusOr<AutoCompaction> parse_auto_compaction(std::string_view mode,
                                                     std::string_view retention) {
  AutoCompaction p;
  if (mode.empty() || mode == "periodic") {
    p.mode = AutoCompaction::Mode::kPeriodic;
  } else if (mode == "revision") {
    p.mode = AutoCompaction::Mode::kRevision;
  } else {
    return absl::InvalidArgumentError("--auto-compaction-mode \"" + std::string(mode) +
                                      "\" is neither periodic nor revision");
  }
  if (retention.empty() || retention == "0") return AutoCompaction{};  // off, as etcd's 0
  if (p.mode == AutoCompaction::Mode::kRevision) {
    const std::optional<int64_t> n = whole_number(retention);
    if (!n || *n <= 0) {
      return bad_retention(retention,
                           "is not a positive whole number of revisions (revision mode)");
    }
    p.revisions = *n;
    return p;
  }
  // periodic: a bare number is hours (etcd's rule), anything else a duration.
  double ms = 0;
  if (const std::optional<int64_t> hours = whole_number(retention)) {
    ms = static_cast<double>(*hours) * 3'600'000;
  } else if (const std::optional<double> d = duration_ms(retention)) {
    ms = *d;
  } else {
    return bad_retention(retention,
                         "is neither a number of hours nor a duration such as 30m, 1h30m or 2.5s "
                         "(units ms, s, m, h)");
  }
  if (ms < 1) return bad_retention(retention, "is shorter than 1ms");
  if (ms > std::chrono::duration<double, std::milli>(kLongestRetention).count()) {
    return bad_retention(retention, "is longer than ten years");
  }
  p.retention = std::chrono::milliseconds(static_cast<int64_t>(ms));
  return p;
}

AutoCompactor::AutoCompactor(AutoCompaction policy, Clock::time_point now)
    : policy_(policy), last_success_(now), wait_(policy.retention) {
  // etcd's revision compactor looks first one interval after it starts.
  if (policy_.mode == AutoCompaction::Mode::kRevision) last_try_ = now;
}

AutoCompactor::Clock::duration AutoCompactor::interval() const {
  return std::min<Clock::duration>(policy_.retention, std::chrono::hours(1));
}

AutoCompactor::Clock::duration AutoCompactor::step() const {
  return std::max<Clock::duration>(interval() / 10, std::chrono::milliseconds(1));
}

std::optional<int64_t> AutoCompactor::due(Clock::time_point now, int64_t revision, bool leader) {
  switch (policy_.mode) {
    case AutoCompaction::Mode::kOff:
      return std::nullopt;
    case AutoCompaction::Mode::kRevision: {
      if (in_flight_ || !leader || (last_try_ && now - *last_try_ < kRevisionInterval)) {
        return std::nullopt;
      }
      last_try_ = now;
      const int64_t target = revision - policy_.revisions;
      if (target <= 0 || target <= compacted_) return std::nullopt;
      in_flight_ = true;
      return target;
    }
    case AutoCompaction::Mode::kPeriodic:
      break;
  }
  // Note the revision every step, leader or not; keep the newest one noted at least
  // `retention` ago at the front (and everything after it).
  if (noted_.empty() || now - noted_.back().first >= step()) noted_.emplace_back(now, revision);
  while (noted_.size() > 1 && noted_[1].first <= now - policy_.retention) noted_.pop_front();
  if (in_flight_ || !leader || now - last_success_ < wait_) return std::nullopt;
  if (last_try_ && now - *last_try_ < step()) return std::nullopt;  // a failed try: wait a step
  const auto [noted_at, target] = noted_.front();
  if (noted_at > now - policy_.retention) return std::nullopt;  // not `retention` ago yet
  if (target <= compacted_) {
    // Nothing was written since the last compaction: nothing to do for an interval.
    last_success_ = now;
    wait_ = interval();
    return std::nullopt;
  }
  last_try_ = now;
  in_flight_ = true;
  return target;
}

void AutoCompactor::finished(Clock::time_point now, int64_t revision, bool ok) {
  in_flight_ = false;
  if (!ok) return;
  compacted_ = std::max(compacted_, revision);
  last_success_ = now;
  wait_ = interval();
  last_try_.reset();
  if (policy_.mode == AutoCompaction::Mode::kRevision) last_try_ = now;
}

}  // namespace server
