#include "metrics/health.h"

#include <gtest/gtest.h>

namespace metrics {
namespace {

HealthInputs healthy_leader() {
  HealthInputs in;
  in.leader_known = true;
  in.is_leader = true;
  in.quorum_active = true;
  in.peers = {{.id = "00000000000000b2", .reachable = true, .behind = 0, .needs_snapshot = false},
              {.id = "00000000000000c3", .reachable = true, .behind = 3, .needs_snapshot = false}};
  in.fsync_p99_seconds = 0.004;
  in.apply_lag = 2;
  in.queues = {{.name = "apply", .depth = 1}};
  return in;
}

std::string inputs_of(const HealthScore& s) {
  std::string out;
  for (const HealthReason& r : s.reasons) out += r.input + ";";
  return out;
}

// One row: how the inputs differ from a healthy leader, and what the score must be.
struct Row {
  const char* name;
  void (*change)(HealthInputs&);
  uint32_t score;
  const char* inputs;  // the reasons' inputs, in order
  const char* detail;  // a piece of the first reason's detail
};

TEST(HealthScore, Table) {
  const Row rows[] = {
      {"healthy", [](HealthInputs&) {}, 100, "", ""},
      {"no leader", [](HealthInputs& in) { in.leader_known = false; }, 50, "leader;", "no leader"},
      {"no quorum", [](HealthInputs& in) { in.quorum_active = false; }, 50, "quorum;", "quorum"},
      {"quorum ignored off the leader",
       [](HealthInputs& in) {
         in.is_leader = false;
         in.quorum_active = false;
       },
       100, "", ""},
      {"nospace", [](HealthInputs& in) { in.nospace_alarm = true; }, 50, "alarm;", "NOSPACE"},
      {"one peer unreachable", [](HealthInputs& in) { in.peers[1].reachable = false; }, 80, "peer;",
       "peer 00000000000000c3 unreachable"},
      {"peer behind beyond the bound", [](HealthInputs& in) { in.peers[0].behind = 1001; }, 90,
       "peer;", "00000000000000b2 is 1001 entries behind"},
      {"peer behind at the bound", [](HealthInputs& in) { in.peers[0].behind = 1000; }, 100, "",
       ""},
      {"peer needs a snapshot", [](HealthInputs& in) { in.peers[0].needs_snapshot = true; }, 90,
       "peer;", "needs a snapshot"},
      {"peers ignored off the leader",
       [](HealthInputs& in) {
         in.is_leader = false;
         in.peers[0].reachable = false;
       },
       100, "", ""},
      {"slow fsync", [](HealthInputs& in) { in.fsync_p99_seconds = 2.048; }, 80, "fsync_p99;",
       "2.048 s"},
      {"apply lag", [](HealthInputs& in) { in.apply_lag = 5000; }, 80, "apply_lag;",
       "5000 entries"},
      {"deep queue", [](HealthInputs& in) { in.queues[0].depth = 10001; }, 90, "queue;",
       "apply queue holds 10001"},
      {"sustained refusals", [](HealthInputs& in) { in.refusals_per_second = 12.5; }, 90, "limits;",
       "refuses 12.500 requests/s"},
      {"refusals within the bound", [](HealthInputs& in) { in.refusals_per_second = 10; }, 100, "",
       ""},
      {"everything wrong clamps at 0",
       [](HealthInputs& in) {
         in.leader_known = false;
         in.quorum_active = false;
         in.nospace_alarm = true;
         in.peers[0].reachable = false;
       },
       0, "leader;quorum;alarm;peer;", "no leader"},
  };
  for (const Row& row : rows) {
    HealthInputs in = healthy_leader();
    row.change(in);
    const HealthScore s = score_health(in);
    EXPECT_EQ(s.score, row.score) << row.name;
    EXPECT_EQ(inputs_of(s), row.inputs) << row.name;
    if (!s.reasons.empty()) {
      EXPECT_NE(s.reasons[0].detail.find(row.detail), std::string::npos)
          << row.name << ": " << s.reasons[0].detail;
      EXPECT_FALSE(s.reasons[0].threshold.empty()) << row.name;
      EXPECT_GT(s.reasons[0].penalty, 0u) << row.name;
    }
  }
}

TEST(HealthScore, ThresholdsAreTheCallers) {
  HealthInputs in = healthy_leader();
  in.apply_lag = 50;
  EXPECT_EQ(score_health(in).score, 100u);
  const HealthScore strict = score_health(in, HealthThresholds{.peer_behind_entries = 1000,
                                                               .fsync_p99_seconds = 1.0,
                                                               .apply_lag_entries = 10,
                                                               .queue_depth = 10000,
                                                               .refusals_per_second = 10});
  EXPECT_EQ(strict.score, 80u);
  EXPECT_EQ(strict.reasons.at(0).threshold, "at most 10 entries");
}

}  // namespace
}  // namespace metrics
