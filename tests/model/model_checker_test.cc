// The exhaustive checker explores the real core and finds no violation within a
// small bound; built against a core with a planted bug it finds one.
#include "model/model_checker.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace model {
namespace {

TEST(ModelChecker, ExploresEveryInterleavingWithinTheBoundWithoutViolation) {
  ModelOptions o;
  o.max_depth = 11;
  ModelResult r = explore(o);
  std::printf("explored %llu distinct states, %llu transitions, deepest path %d\n",
              static_cast<unsigned long long>(r.states),
              static_cast<unsigned long long>(r.transitions), r.deepest);
  EXPECT_TRUE(r.passed) << r.violation;
  EXPECT_TRUE(r.complete);
  EXPECT_GT(r.states, 10'000u);  // it really explored
  EXPECT_EQ(r.deepest, o.max_depth);
}

TEST(ModelChecker, WithALearner) {
  ModelOptions o;
  o.learner = true;
  o.max_depth = 9;
  ModelResult r = explore(o);
  std::printf("with a learner: %llu distinct states\n", static_cast<unsigned long long>(r.states));
  EXPECT_TRUE(r.passed) << r.violation;
  EXPECT_GT(r.states, 1'000u);
}

}  // namespace
}  // namespace model
