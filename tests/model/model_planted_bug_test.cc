// Built against a core whose votes leave before they are persisted: the
// exhaustive checker must find that within a small bound.
#include <gtest/gtest.h>

#include <cstdio>

#include "model/model_checker.h"

namespace model {
namespace {

TEST(ModelCheckerPlantedBug, FindsAVoteReleasedBeforeItIsPersisted) {
  ModelOptions o;
  o.max_depth = 10;
  ModelResult r = explore(o);
  ASSERT_FALSE(r.passed) << "explored " << r.states << " states without finding the planted bug";
  std::printf("found after %llu states: %s\n", static_cast<unsigned long long>(r.states),
              r.violation.c_str());
  EXPECT_NE(r.violation.find("Durability"), std::string::npos) << r.violation;
}

}  // namespace
}  // namespace model
