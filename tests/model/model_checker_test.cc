// The exhaustive checker explores the real core and finds no violation within a
// small bound; built against a core with a planted bug it finds one.
#include "model/model_checker.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>

namespace model {
namespace {

// The bound under the sanitizers is smaller (~10x slower there); the release build of
// make test explores the full one, and `make check-model` a deeper one.
#ifdef RAFTKV_SANITIZED
constexpr int kDepth = 9, kLearnerDepth = 8;
constexpr uint64_t kMinStates = 1'000, kMinLearnerStates = 300;
#else
constexpr int kDepth = 11, kLearnerDepth = 9;
constexpr uint64_t kMinStates = 10'000, kMinLearnerStates = 1'000;
#endif

TEST(ModelChecker, ExploresEveryInterleavingWithinTheBoundWithoutViolation) {
  ModelOptions o;
  o.max_depth = kDepth;
  ModelResult r = explore(o);
  std::printf("explored %llu distinct states, %llu transitions, deepest path %d\n",
              static_cast<unsigned long long>(r.states),
              static_cast<unsigned long long>(r.transitions), r.deepest);
  EXPECT_TRUE(r.passed) << r.violation;
  EXPECT_TRUE(r.complete);
  EXPECT_GT(r.states, kMinStates);  // it really explored
  EXPECT_EQ(r.deepest, o.max_depth);
}

TEST(ModelChecker, WithALearner) {
  ModelOptions o;
  o.learner = true;
  o.max_depth = kLearnerDepth;
  ModelResult r = explore(o);
  std::printf("with a learner: %llu distinct states\n", static_cast<unsigned long long>(r.states));
  EXPECT_TRUE(r.passed) << r.violation;
  EXPECT_GT(r.states, kMinLearnerStates);
}

}  // namespace
}  // namespace model
