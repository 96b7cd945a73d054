#include "server/auto_compaction.h"

#include <gtest/gtest.h>

#include <string>

namespace server {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using Mode = AutoCompaction::Mode;
using Clock = AutoCompactor::Clock;

const Clock::time_point t0{hours(1000)};

TEST(AutoCompactionFlags, ReadAsEtcdReadsThem) {
  struct Row {
    std::string mode, retention;
    AutoCompaction want;
  };
  const Row rows[] = {
      {"periodic", "0", {}},
      {"", "", {}},
      {"revision", "0", {}},
      {"periodic", "1", {.mode = Mode::kPeriodic, .retention = hours(1)}},  // a number: hours
      {"", "72", {.mode = Mode::kPeriodic, .retention = hours(72)}},
      {"periodic", "30m", {.mode = Mode::kPeriodic, .retention = minutes(30)}},
      {"periodic", "1h30m", {.mode = Mode::kPeriodic, .retention = minutes(90)}},
      {"periodic", "2.5s", {.mode = Mode::kPeriodic, .retention = milliseconds(2500)}},
      {"periodic", "1m500ms", {.mode = Mode::kPeriodic, .retention = milliseconds(60500)}},
      {"revision", "1000", {.mode = Mode::kRevision, .revisions = 1000}},
  };
  for (const Row& r : rows) {
    absl::StatusOr<AutoCompaction> got = parse_auto_compaction(r.mode, r.retention);
    ASSERT_TRUE(got.ok()) << r.mode << " " << r.retention << ": " << got.status();
    EXPECT_EQ(*got, r.want) << r.mode << " " << r.retention;
  }
}

TEST(AutoCompactionFlags, EveryBadValueIsRefusedNamingTheFlagAndTheValue) {
  struct Row {
    std::string mode, retention, says;
  };
  const Row rows[] = {
      {"hourly", "1", "--auto-compaction-mode \"hourly\" is neither periodic nor revision"},
      {"periodic", "-1h", "--auto-compaction-retention \"-1h\" is neither a number of hours"},
      {"periodic", "1d", "--auto-compaction-retention \"1d\" is neither a number of hours"},
      {"periodic", "h", "--auto-compaction-retention \"h\" is neither"},
      {"periodic", "1.5.h", "--auto-compaction-retention \"1.5.h\" is neither"},
      {"periodic", "1h ", "--auto-compaction-retention \"1h \" is neither"},
      {"periodic", "0.1ms", "--auto-compaction-retention \"0.1ms\" is shorter than 1ms"},
      {"periodic", "0s", "--auto-compaction-retention \"0s\" is shorter than 1ms"},
      {"periodic", "999999999999", "--auto-compaction-retention \"999999999999\" is longer"},
      {"periodic", "1000000000000000000000h", "is neither"},
      {"revision", "1h", "--auto-compaction-retention \"1h\" is not a positive whole number"},
      {"revision", "-5", "--auto-compaction-retention \"-5\" is not a positive whole number"},
      {"revision", "99999999999999999999", "is not a positive whole number"},
  };
  for (const Row& r : rows) {
    absl::StatusOr<AutoCompaction> got = parse_auto_compaction(r.mode, r.retention);
    ASSERT_FALSE(got.ok()) << r.mode << " " << r.retention;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(got.status().message().find(r.says), std::string::npos) << got.status();
  }
}

TEST(AutoCompactor, OffNeverCompacts) {
  AutoCompactor c({}, t0);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(c.due(t0 + hours(i), 1000 + i, true).has_value());
}

// Retention 10 s: revisions noted every second from the first round (t0 + 200 ms); the
// first compaction once 10 s have passed, to the revision noted 10 s before; then every 10 s.
TEST(AutoCompactor, PeriodicKeepsTheRetentionOfHistory) {
  AutoCompactor c({.mode = Mode::kPeriodic, .retention = seconds(10)}, t0);
  int64_t rev = 1;
  std::optional<int64_t> got;
  Clock::time_point now = t0;
  // Ten revisions a second, asked every 200 ms.
  auto run_until = [&](Clock::time_point end) {
    got.reset();
    while (now < end && !got) {
      now += milliseconds(200);
      rev += 2;
      got = c.due(now, rev, true);
    }
  };
  run_until(t0 + seconds(30));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(now, t0 + milliseconds(10200));
  EXPECT_EQ(*got, 3);  // noted at t0 + 200 ms
  // Nothing more is due until it is answered.
  EXPECT_FALSE(c.due(now, rev, true).has_value());
  c.finished(now, *got, true);
  run_until(t0 + seconds(60));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(now, t0 + milliseconds(20200));
  EXPECT_EQ(*got, 1 + 2 * 51);  // noted at t0 + 10.2 s (51 rounds of 2 revisions)
  // A failure is tried again a step (1 s) later, to the revision noted 10 s before then.
  c.finished(now, *got, false);
  run_until(t0 + seconds(60));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(now, t0 + milliseconds(21200));
  EXPECT_EQ(*got, 1 + 2 * 56);  // noted at t0 + 11.2 s
  c.finished(now, *got, true);
  run_until(t0 + seconds(60));
  EXPECT_EQ(now, t0 + milliseconds(31200));
}

TEST(AutoCompactor, OnlyTheLeaderCompactsAndANewLeaderGoesOnAtOnce) {
  AutoCompactor c({.mode = Mode::kPeriodic, .retention = seconds(10)}, t0);
  Clock::time_point now = t0;
  int64_t rev = 1;
  for (int i = 0; i < 100; ++i) {  // 20 s as a follower: revisions noted, nothing compacted
    now += milliseconds(200);
    EXPECT_FALSE(c.due(now, ++rev, false).has_value());
  }
  const std::optional<int64_t> got = c.due(now + milliseconds(200), ++rev, true);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, 1 + 51);  // noted at t0 + 10.2 s, 10 s before
}

TEST(AutoCompactor, NothingWrittenSinceTheLastCompactionIsNothingToDo) {
  AutoCompactor c({.mode = Mode::kPeriodic, .retention = seconds(10)}, t0);
  Clock::time_point now = t0;
  std::optional<int64_t> first;
  while (!first) first = c.due(now += milliseconds(200), 7, true);
  c.finished(now, *first, true);
  for (int i = 0; i < 500; ++i) EXPECT_FALSE(c.due(now += milliseconds(200), 7, true).has_value());
}

TEST(AutoCompactor, RevisionModeKeepsTheLastRevisionsEveryFiveMinutes) {
  AutoCompactor c({.mode = Mode::kRevision, .revisions = 100}, t0);
  EXPECT_FALSE(c.due(t0 + minutes(4), 1000, true).has_value());
  std::optional<int64_t> got = c.due(t0 + minutes(5), 1000, true);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, 900);
  c.finished(t0 + minutes(5), 900, true);
  EXPECT_FALSE(c.due(t0 + minutes(9), 5000, true).has_value());
  EXPECT_FALSE(c.due(t0 + minutes(10), 1000, true).has_value());  // 900 again: nothing to do
  EXPECT_FALSE(c.due(t0 + minutes(15), 50, false).has_value());   // a follower
  got = c.due(t0 + minutes(20), 2000, true);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, 1900);
  EXPECT_FALSE(c.due(t0 + minutes(20), 80, true).has_value());  // below the retention: none
}

}  // namespace
}  // namespace server
