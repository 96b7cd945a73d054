// raftkv-model: runs the exhaustive checker with a chosen bound (make check-model).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "model/model_checker.h"

int main(int argc, char** argv) {
  model::ModelOptions o;
  o.max_depth = 16;
  o.max_states = 20'000'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    long v = std::strtol(argv[i + 1], nullptr, 10);
    if (flag == "--depth") {
      o.max_depth = static_cast<int>(v);
    } else if (flag == "--messages") {
      o.max_messages = static_cast<int>(v);
    } else if (flag == "--learner") {
      o.learner = v != 0;
    } else if (flag == "--inflight" && v >= 1) {
      o.max_inflight_msgs = static_cast<uint32_t>(v);
    } else if (flag == "--max-states") {
      o.max_states = static_cast<uint64_t>(v);
    } else {
      std::fprintf(stderr,
                   "usage: raftkv-model [--depth N] [--messages N] [--learner 0|1] "
                   "[--inflight N>=1] [--max-states N]\n");
      return 2;
    }
  }
  model::ModelResult r = model::explore(o);
  std::printf(
      "explored %llu distinct states (%llu transitions) of %d voters%s, depth <= %d, "
      "<= %d messages in flight, %u appends out per follower, %d proposal, %d crash, %d leader "
      "close: %s%s\n",
      static_cast<unsigned long long>(r.states), static_cast<unsigned long long>(r.transitions),
      o.voters, o.learner ? " and a learner" : "", o.max_depth, o.max_messages, o.max_inflight_msgs,
      o.proposals, o.crashes, o.closes, r.passed ? "no violation" : "VIOLATION",
      r.complete ? "" : " (stopped at the state limit)");
  if (!r.passed) std::printf("%s\n", r.violation.c_str());
  return r.passed ? 0 : 1;
}
