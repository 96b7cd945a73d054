#include "register_check.h"

#include <gtest/gtest.h>

#include "history.h"

namespace chaos {
namespace {

using raftkv::chaos::NemesisEvent;
using raftkv::chaos::Op;

class History {
 public:
  // The reference is good until the next add.
  Op& add(const std::string& f, const std::string& key, const std::string& value, int64_t t0,
          int64_t t1, const std::string& res = "ok") {
    Op op;
    op.set_op(static_cast<int64_t>(ops_.size()) + 1);
    op.set_wl("register");
    op.set_w(static_cast<int>(ops_.size()) % 3);
    op.set_ep("m1");
    op.set_f(f);
    op.set_key(key);
    op.set_value(value);
    op.set_found(!value.empty());
    op.set_t0(t0);
    op.set_t1(t1);
    op.set_res(res);
    ops_.push_back(op);
    return ops_.back();
  }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

TEST(RegisterCheck, ASequentialHistoryWithSwapsIsLinearizable) {
  History h;
  h.add("read", "a", "", 0, 10);
  h.add("write", "a", "1", 20, 30);
  h.add("cas", "a", "2", 40, 50).set_expect("1");
  h.add("cas", "a", "3", 60, 70).set_expect("1");  // compare fails: a is 2
  h.add("read", "a", "2", 80, 90);
  h.add("write", "b", "x", 0, 100);
  h.add("read", "b", "x", 110, 120);
  std::vector<Op> ops = h.ops();
  ops[2].set_succeeded(true);
  ops[3].set_succeeded(false);
  RegisterReport r = check_register(ops, 1'000'000);
  EXPECT_EQ(r.verdict, lincheck::Verdict::kLinearizable);
  EXPECT_EQ(r.ok, 7u);
  EXPECT_EQ(r.keys, 2u);
  EXPECT_NE(describe(r, {}, 0).find("linearizable"), std::string::npos);
}

TEST(RegisterCheck, AStaleReadIsCaughtWithItsWindowAndTheFaultAroundIt) {
  History h;
  h.add("write", "k", "1", 0, 10);
  h.add("read", "k", "1", 20, 30);
  h.add("write", "k", "2", 40, 50);
  h.add("read", "k", "2", 60, 70);
  h.add("read", "k", "1", 80, 90);  // stale: 2 was written and read before it began
  h.add("write", "k", "3", 100, 110);
  h.add("read", "k", "3", 120, 130);
  NemesisEvent start, heal;
  start.set_id(1);
  start.set_nemesis("partition-one");
  start.set_phase("start");
  start.set_t0(55);
  start.set_t1(56);
  start.add_targets("m2");
  heal = start;
  heal.set_phase("heal");
  heal.set_t0(95);
  heal.set_t1(96);
  NemesisEvent later = start;  // starts after the window: not shown
  later.set_id(2);
  later.set_nemesis("kill");
  later.set_t0(200);
  later.set_t1(201);
  RegisterReport r = check_register(h.ops(), 1'000'000);
  ASSERT_EQ(r.verdict, lincheck::Verdict::kNotLinearizable);
  EXPECT_EQ(r.key, "k");
  // The anomaly is visible once the stale read has returned, not before.
  EXPECT_EQ(r.window_end, 90);
  ASSERT_FALSE(r.window.empty());
  EXPECT_EQ(r.window.back().op(), 5);
  const std::string text = describe(r, {start, heal, later}, 0);
  EXPECT_NE(text.find("NOT LINEARIZABLE at key k"), std::string::npos) << text;
  EXPECT_NE(text.find("partition-one m2"), std::string::npos) << text;
  EXPECT_EQ(text.find("kill"), std::string::npos) << text;
}

TEST(RegisterCheck, AnAcknowledgedWriteTheFinalReadMissesIsLost) {
  History h;
  h.add("write", "k", "1", 0, 10);
  h.add("write", "k", "2", 20, 30);
  h.add("read", "k", "1", 40, 50).set_final(true);
  EXPECT_EQ(check_register(h.ops(), 1'000'000).verdict, lincheck::Verdict::kNotLinearizable);
}

TEST(RegisterCheck, AnUnknownWriteMayHaveHappenedOrNot) {
  for (const char* seen : {"1", "2"}) {
    History h;
    h.add("write", "k", "1", 0, 10);
    h.add("write", "k", "2", 20, 0, "info").set_err("context deadline exceeded");
    h.add("read", "k", seen, 1000, 1010);
    RegisterReport r = check_register(h.ops(), 1'000'000);
    EXPECT_EQ(r.verdict, lincheck::Verdict::kLinearizable) << seen;
    EXPECT_EQ(r.info, 1u);
  }
}

TEST(RegisterCheck, AFailedWriteHadNoEffectSoReadingItsValueIsAnAnomaly) {
  History h;
  h.add("write", "k", "1", 0, 10);
  h.add("write", "k", "2", 20, 30, "fail").set_err("etcdserver: too many requests");
  h.add("read", "k", "2", 40, 50);
  RegisterReport r = check_register(h.ops(), 1'000'000);
  EXPECT_EQ(r.verdict, lincheck::Verdict::kNotLinearizable);
  EXPECT_EQ(r.fail, 1u);
}

TEST(RegisterCheck, OtherWorkloadsAreLeftToTheirOwnCheckers) {
  History h;
  h.add("read", "k", "never written", 0, 10).set_wl("append");
  RegisterReport r = check_register(h.ops(), 1'000'000);
  EXPECT_EQ(r.verdict, lincheck::Verdict::kLinearizable);
  EXPECT_EQ(r.ok, 0u);
}

TEST(RegisterCheck, ARanOutBudgetIsInconclusiveNeverAPass) {
  History h;
  // Many concurrent unknown writes and a failed compare: a large search.
  for (int i = 0; i < 12; ++i) h.add("write", "k", std::to_string(i), i, 0, "info");
  h.add("cas", "k", "x", 0, 1000).set_expect("nothing");
  h.add("read", "k", "5", 1001, 1002);
  RegisterReport r = check_register(h.ops(), 3);
  EXPECT_EQ(r.verdict, lincheck::Verdict::kGaveUp);
  EXPECT_NE(describe(r, {}, 0).find("INCONCLUSIVE"), std::string::npos);
}

TEST(History, LinesParseAndABadLineIsNamed) {
  auto ops = parse_ops(
      "{\"op\":1,\"wl\":\"register\",\"f\":\"read\",\"key\":\"k\",\"t0\":5,\"t1\":9,"
      "\"res\":\"ok\",\"found\":false,\"unknownField\":1}\n\n"
      "{\"op\":2,\"wl\":\"register\",\"f\":\"write\",\"key\":\"k\",\"value\":\"v\",\"t0\":\"6\","
      "\"t1\":7,\"res\":\"info\"}\n{\"done\":true}\n");
  ASSERT_TRUE(ops.ok()) << ops.status();
  ASSERT_EQ(ops->size(), 2u);
  EXPECT_EQ((*ops)[1].t0(), 6);
  auto unfinished = parse_ops("{\"op\":1,\"res\":\"ok\"}\n");
  ASSERT_FALSE(unfinished.ok());
  EXPECT_NE(unfinished.status().message().find("done"), std::string::npos);
  auto bad = parse_ops("{\"op\":1,\"res\":\"ok\"}\n{\"op\":2,\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos) << bad.status();
  auto outcome = parse_ops("{\"op\":3,\"res\":\"maybe\"}\n");
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.status().message().find("\"maybe\""), std::string::npos);
  auto backwards = parse_ops("{\"op\":4,\"res\":\"ok\",\"t0\":10,\"t1\":9}\n");
  ASSERT_FALSE(backwards.ok());
  EXPECT_NE(backwards.status().message().find("operation 4"), std::string::npos);
  EXPECT_TRUE(parse_nemesis("{\"id\":1,\"phase\":\"start\",\"targets\":[\"m1\"]}\n").ok());
}

}  // namespace
}  // namespace chaos
