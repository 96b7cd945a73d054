#include "append_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "checkers.h"

namespace chaos {
namespace {

using raftkv::chaos::MicroOp;
using raftkv::chaos::NemesisEvent;
using raftkv::chaos::Op;

MicroOp r(const std::string& key, std::vector<int64_t> list) {
  MicroOp m;
  m.set_f("r");
  m.set_key(key);
  for (int64_t e : list) m.add_list(e);
  return m;
}

MicroOp app(const std::string& key, int64_t elem) {
  MicroOp m;
  m.set_f("append");
  m.set_key(key);
  m.set_elem(elem);
  return m;
}

class History {
 public:
  // Adds a txn T<n> (n: its position, from 1); the reference is good until the next add.
  Op& add(std::vector<MicroOp> mops, int64_t t0, int64_t t1, const std::string& res = "ok",
          int64_t rev = 0) {
    Op op;
    op.set_op(static_cast<int64_t>(ops_.size()) + 1);
    op.set_wl("append");
    op.set_w(static_cast<int>(ops_.size()) % 3);
    op.set_ep("m1");
    op.set_f("txn");
    op.set_t0(t0);
    op.set_t1(t1);
    op.set_res(res);
    op.set_rev(rev);
    for (MicroOp& m : mops) *op.add_mops() = std::move(m);
    ops_.push_back(std::move(op));
    return ops_.back();
  }
  // The client's final reads: one read-only txn per key, all at once.
  void final(const std::map<std::string, std::vector<int64_t>>& lists, int64_t t0, int64_t t1) {
    for (const auto& [key, list] : lists) add({r(key, list)}, t0, t1).set_final(true);
  }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

AppendReport check(const History& h) { return check_append(h.ops(), 1'000'000); }

// How many anomalies of `kind` the report found.
size_t found(const AppendReport& r, const std::string& kind) {
  auto it = r.found.find(kind);
  return it == r.found.end() ? 0 : it->second;
}

std::string kinds(const AppendReport& r) {
  std::string out;
  for (const auto& [kind, n] : r.found) out += kind + " ";
  return out;
}

TEST(AppendCheck, AValidConcurrentHistoryWithUnknownTxnsIsStrictlySerializable) {
  History h;
  h.add({r("x", {}), app("x", 1)}, 0, 10, "ok", 2);
  h.add({r("x", {1}), r("y", {}), app("y", 2)}, 5, 20, "ok", 3);  // concurrent with T1
  h.add({r("x", {1}), app("x", 3)}, 25, 30, "info").set_err("context deadline exceeded");
  h.add({r("y", {2}), app("y", 4)}, 26, 40, "info");  // never seen: dropped
  h.add({r("x", {1, 3}), r("y", {2})}, 50, 60, "ok", 6);
  h.add({r("x", {1, 3}), app("x", 5)}, 55, 70, "fail", 7);  // its compare failed
  h.add({r("x", {1, 3}), app("x", 7), r("y", {2}), app("y", 8)}, 80, 90, "ok", 8);
  // An unknown txn may take effect after the client gave up on it: T9 misses its 9.
  h.add({r("y", {2, 8}), app("y", 9)}, 91, 92, "info");
  h.add({r("y", {2, 8})}, 93, 94, "ok", 9);
  h.final({{"x", {1, 3, 7}}, {"y", {2, 8, 9}}}, 100, 110);
  AppendReport report = check(h);
  EXPECT_TRUE(report.anomalies.empty()) << describe(report, {}, 0);
  EXPECT_TRUE(report.inconclusive.empty()) << report.inconclusive;
  EXPECT_EQ(report.ok, 5u);
  EXPECT_EQ(report.multi_key_ok, 3u);
  EXPECT_EQ(report.fail, 1u);
  EXPECT_EQ(report.info, 3u);
  EXPECT_EQ(report.finals, 2u);
  EXPECT_EQ(report.nodes, 9u);  // the ok txns, the final reads, T3 and T8, not T4
  EXPECT_EQ(report.on_cycles, 0u);
  EXPECT_GT(report.rt, 0u);
  EXPECT_NE(describe(report, {}, 0).find("strictly serializable"), std::string::npos);
}

TEST(AppendCheck, TwoTxnsAppendingInOppositeOrdersOnTwoKeysAreG0) {
  History h;
  h.add({app("x", 1), app("y", 2)}, 0, 10);
  h.add({app("x", 3), app("y", 4)}, 20, 30);  // T1 -> T2 is both ww and real time
  h.final({{"x", {1, 3}}, {"y", {4, 2}}}, 40, 50);
  AppendReport report = check(h);
  ASSERT_EQ(found(report, "G0"), 1u) << kinds(report);
  EXPECT_EQ(found(report, "G0-realtime"), 0u) << kinds(report);  // the same cycle
  const std::string text = describe(report, {}, 0);
  EXPECT_NE(text.find("G0:"), std::string::npos) << text;
  EXPECT_NE(text.find("T1 appended 1 to x and T2 appended 3 after it => T1 ww-> T2"),
            std::string::npos)
      << text;
  EXPECT_EQ(report.on_cycles, 2u);
}

TEST(AppendCheck, ReadingAFailedTxnsElementIsG1a) {
  History h;
  h.add({r("x", {}), app("x", 5)}, 0, 10, "fail");
  h.add({r("x", {5})}, 20, 30);
  h.final({{"x", {5}}}, 40, 50);
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "G1a"), 1u) << kinds(report);  // once, though read twice
  EXPECT_NE(describe(report, {}, 0).find("T1 meant to append but that txn failed"),
            std::string::npos);
}

TEST(AppendCheck, TwoTxnsReadingEachOthersAppendsAreG1c) {
  History h;
  h.add({r("y", {2}), app("x", 1)}, 0, 10);
  h.add({r("x", {1}), app("y", 2)}, 0, 10);
  h.final({{"x", {1}}, {"y", {2}}}, 20, 30);
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "G1c"), 1u) << kinds(report);
  EXPECT_EQ(found(report, "G0"), 0u);
  EXPECT_NE(describe(report, {}, 0).find("wr-> T1"), std::string::npos);
}

TEST(AppendCheck, ReadingHalfOfAnotherTxnsAppendsIsGSingle) {
  History h;
  h.add({r("x", {}), r("y", {2})}, 0, 10);  // sees T2's 2 but not its 1
  h.add({app("x", 1), app("y", 2)}, 0, 10);
  h.final({{"x", {1}}, {"y", {2}}}, 20, 30);
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "G-single"), 1u) << kinds(report);
  EXPECT_EQ(found(report, "G2-item"), 0u) << kinds(report);
  EXPECT_NE(describe(report, {}, 0).find("T1 read x = [], without T2's 1, which comes first"),
            std::string::npos)
      << describe(report, {}, 0);
}

TEST(AppendCheck, WriteSkewIsG2Item) {
  History h;
  h.add({r("x", {}), app("y", 2)}, 0, 10);
  h.add({r("y", {}), app("x", 1)}, 0, 10);
  h.final({{"x", {1}}, {"y", {2}}}, 20, 30);
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "G2-item"), 1u) << kinds(report);
  EXPECT_EQ(found(report, "G-single"), 0u) << kinds(report);
}

TEST(AppendCheck, AStaleReadIsACycleOnlyWithRealTimeAndItsReportNamesTheFault) {
  constexpr int64_t kMs = 1'000'000;
  History h;
  h.add({r("x", {}), app("x", 1)}, 0, 100 * kMs, "ok", 2);
  h.add({r("z", {})}, 120 * kMs, 140 * kMs, "ok", 2);               // real time runs T1 -> T2 -> T3
  h.add({r("x", {})}, 200 * kMs, 300 * kMs, "ok", 1).set_ep("m3");  // misses T1's 1
  h.final({{"x", {1}}, {"z", {}}}, 400 * kMs, 500 * kMs);
  NemesisEvent start, heal, later;
  start.set_id(1);
  start.set_nemesis("partition-one");
  start.set_phase("start");
  start.set_t0(150 * kMs);
  start.set_t1(160 * kMs);
  start.add_targets("m3");
  heal = start;
  heal.set_phase("heal");
  heal.set_t0(350 * kMs);
  heal.set_t1(360 * kMs);
  later = start;
  later.set_id(2);
  later.set_nemesis("kill");
  later.set_t0(2000 * kMs);
  later.set_t1(2001 * kMs);
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "G-single-realtime"), 1u) << kinds(report);
  EXPECT_EQ(found(report, "G-single"), 0u) << kinds(report);
  const std::string text = describe(report, {start, heal, later}, 0);
  EXPECT_NE(text.find("NOT STRICTLY SERIALIZABLE"), std::string::npos) << text;
  // The shortest cycle is through T2 (real-time edges are a transitive reduction); the
  // report shows the direct one.
  EXPECT_NE(text.find("T1 rt-> T3 rw-> T1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("T1 returned 0.100 s before T3 was called => T1 rt-> T3"), std::string::npos)
      << text;
  EXPECT_NE(text.find("T3 read x = [], without T1's 1, which comes first => T3 rw-> T1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("T3 worker 2 at m3 [0.200, 0.300] ok rev 1: r x []"), std::string::npos)
      << text;
  EXPECT_NE(text.find("faults overlapping [0.000, 0.300]:\n      partition-one m3 [0.150, 0.360]"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("kill"), std::string::npos) << text;
}

TEST(AppendCheck, AReportedCycleTakesARealTimeShortcutOnlyIfItStaysOfItsKind) {
  History h;
  h.add({r("x", {}), r("y", {3})}, 0, 10);    // returned before T3 began, yet read its 3
  h.add({app("x", 1), app("z", 2)}, 0, 40);   // T1 rw-> T2
  h.add({app("z", 4), app("y", 3)}, 20, 30);  // T2 ww-> T3 wr-> T1
  h.final({{"x", {1}}, {"y", {3}}, {"z", {2, 4}}}, 50, 60);
  AppendReport report = check(h);
  // T1 rt-> T3 would shorten the G-single into a G1c-realtime: a cycle too, another kind.
  EXPECT_EQ(found(report, "G-single"), 1u) << kinds(report);
  EXPECT_NE(describe(report, {}, 0).find("T1 rw-> T2 ww-> T3 wr-> T1"), std::string::npos)
      << describe(report, {}, 0);
}

TEST(AppendCheck, NoRealTimeShortcutStartsAtAnUnknownTxn) {
  History h;
  h.add({r("x", {}), r("y", {5})}, 100, 110);        // T1 rw-> T2; T4 wr-> T1
  h.add({app("x", 1), app("z", 2)}, 0, 10, "info");  // gave up at 10: may commit later
  h.add({app("z", 3)}, 20, 30);                      // T2 ww-> T3
  h.add({app("y", 5)}, 40, 50);                      // T3 rt-> T4
  h.final({{"x", {1}}, {"y", {5}}, {"z", {2, 3}}}, 200, 210);
  AppendReport report = check(h);
  const std::string text = describe(report, {}, 0);
  EXPECT_EQ(found(report, "G-single-realtime"), 1u) << kinds(report);
  EXPECT_NE(text.find("T1 rw-> T2 ww-> T3 rt-> T1"), std::string::npos) << text;
  EXPECT_EQ(text.find("T2 returned"), std::string::npos) << text;
}

TEST(AppendCheck, ACycleIsReportedEvenWhenTheSearchBudgetRunsOut) {
  History h;
  h.add({r("x", {}), r("y", {2})}, 0, 10);
  h.add({app("x", 1), app("y", 2)}, 0, 10);
  h.final({{"x", {1}}, {"y", {2}}}, 20, 30);
  AppendReport report = check_append(h.ops(), 0);
  EXPECT_EQ(found(report, "G-single"), 1u) << kinds(report);
  EXPECT_NE(report.search_note.find("ran out of its budget"), std::string::npos);
}

TEST(AppendCheck, ReadsWhereNeitherIsAPrefixOfTheOtherAreIncompatible) {
  History h;
  h.add({app("x", 1)}, 0, 10);
  h.add({app("x", 2)}, 0, 10);
  h.add({app("x", 3)}, 0, 10);
  h.add({r("x", {1, 2})}, 20, 30);
  h.add({r("x", {1, 3})}, 20, 30);
  h.final({{"x", {1, 2, 3}}}, 40, 50);
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "incompatible-order"), 1u) << kinds(report);
  EXPECT_NE(describe(report, {}, 0).find("agree on the first 1 elements, then 3 vs 2"),
            std::string::npos)
      << describe(report, {}, 0);
}

TEST(AppendCheck, AnAcknowledgedAppendMissingFromTheFinalReadIsLost) {
  History h;
  h.add({r("x", {}), app("x", 1)}, 0, 10);
  h.add({r("x", {1}), app("x", 2)}, 20, 30);
  h.add({r("x", {1}), app("x", 3)}, 20, 30, "info");  // unknown: may be missing
  h.final({{"x", {1}}}, 40, 50);
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "lost-append"), 1u) << kinds(report);
  EXPECT_NE(describe(report, {}, 0).find("T2 appended 2 to x and was acknowledged"),
            std::string::npos);
}

TEST(AppendCheck, AnElementTwiceInAListIsADuplicate) {
  History h;
  h.add({r("x", {}), app("x", 1)}, 0, 10);
  h.add({r("x", {1}), app("x", 2)}, 20, 30);
  h.final({{"x", {1, 2, 1}}}, 40, 50);
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "duplicate"), 1u) << kinds(report);
  EXPECT_EQ(report.on_cycles, 0u);  // the second 1 is no second place in the order
}

TEST(AppendCheck, AnElementNobodyAppendedToTheKeyIsGarbage) {
  History h;
  h.add({r("x", {}), app("x", 1)}, 0, 10);
  h.final({{"x", {1, 99}}, {"y", {1}}}, 40, 50);  // 99: nobody; 1 in y: appended to x
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "garbage"), 2u) << kinds(report);
  EXPECT_NE(describe(report, {}, 0).find("T1 appended it elsewhere"), std::string::npos);
}

TEST(AppendCheck, CommitRevisionsMustIncreaseAlongAList) {
  History h;
  h.add({r("x", {}), app("x", 1)}, 0, 10, "ok", 5);
  h.add({r("x", {1}), app("x", 2)}, 0, 10, "ok", 4);
  h.final({{"x", {1, 2}}}, 40, 50);
  AppendReport report = check(h);
  EXPECT_EQ(found(report, "revision-order"), 1u) << kinds(report);
  EXPECT_NE(describe(report, {}, 0).find("committed at revisions 5 and 4"), std::string::npos);
}

TEST(AppendCheck, AFailedFinalReadIsInconclusiveNeverAPass) {
  History h;
  h.add({r("x", {}), app("x", 1)}, 0, 10);
  h.add({}, 0, 0, "fail").set_final(true);
  AppendReport report = check(h);
  EXPECT_TRUE(report.anomalies.empty());
  EXPECT_FALSE(report.inconclusive.empty());
  EXPECT_NE(describe(report, {}, 0).find("INCONCLUSIVE"), std::string::npos);
  std::vector<NemesisEvent> faults;
  const CheckInput in{.ops = h.ops(), .faults = faults};
  EXPECT_EQ(check_append_workload(in).verdict, Verdict::kInconclusive);
}

TEST(AppendCheck, OtherWorkloadsAreLeftToTheirOwnCheckers) {
  History h;
  h.add({r("x", {42})}, 0, 10).set_wl("register");
  AppendReport report = check(h);
  EXPECT_TRUE(report.anomalies.empty());
  EXPECT_EQ(report.ok, 0u);
}

// A store that runs each txn atomically at a random moment of its interval, for workers
// that overlap, as the client shapes them (reads of 1-4 keys, then appends to some):
// whatever it produces is strictly serializable. With `stale`, one read-only txn is
// answered from an old state: it misses an append acknowledged before it began.
std::vector<Op> simulated(uint32_t seed, bool stale) {
  std::mt19937 rng(seed);
  struct Planned {
    Op op;
    int64_t at = 0;  // when it takes effect
    bool applies = true;
  };
  std::vector<Planned> planned;
  const int kWorkers = 5, kTxns = 400, kKeys = 6;
  std::vector<int64_t> now(kWorkers, 0);
  int64_t elem = 0;
  for (int i = 0; i < kTxns; ++i) {
    const int w = static_cast<int>(rng() % kWorkers);
    Planned p;
    p.op.set_wl("append");
    p.op.set_w(w);
    p.op.set_t0(now[w] + static_cast<int64_t>(rng() % 50));
    p.op.set_t1(p.op.t0() + 1 + static_cast<int64_t>(rng() % 100));
    now[w] = p.op.t1();
    p.at = p.op.t0() + static_cast<int64_t>(rng() % (p.op.t1() - p.op.t0() + 1));
    const int outcome = static_cast<int>(rng() % 10);
    p.op.set_res(outcome == 0 ? "info" : outcome == 1 ? "fail" : "ok");
    p.applies = p.op.res() == "ok" || (p.op.res() == "info" && rng() % 2 == 0);
    std::vector<std::string> keys;
    for (size_t n = 1 + rng() % 4; keys.size() < n;) {
      const std::string key = "k" + std::to_string(rng() % kKeys);
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
    for (const std::string& key : keys) *p.op.add_mops() = r(key, {});
    const bool appends = rng() % 4 != 0;
    for (const std::string& key : keys) {
      if (appends && rng() % 2 == 0) *p.op.add_mops() = app(key, ++elem);
    }
    planned.push_back(std::move(p));
  }
  std::sort(planned.begin(), planned.end(),
            [](const Planned& a, const Planned& b) { return a.at < b.at; });
  std::map<std::string, std::vector<int64_t>> state, old_state;
  std::map<int64_t, int64_t> acked;  // element -> when its ok writer returned
  std::vector<Op> out;
  int64_t rev = 1;
  bool planted = !stale;
  for (Planned& p : planned) {
    if (p.op.t0() > 400 && old_state.empty()) old_state = state;
    bool read_only = true;
    for (MicroOp& m : *p.op.mutable_mops()) {
      if (m.f() == "append") {
        read_only = false;
        if (p.applies) state[m.key()].push_back(m.elem());
        if (p.op.res() == "ok") acked[m.elem()] = p.op.t1();
      } else {
        for (int64_t e : state[m.key()]) m.add_list(e);
      }
    }
    if (!planted && read_only && p.op.res() == "ok" && p.op.t0() > 2000) {
      for (MicroOp& m : *p.op.mutable_mops()) {
        for (int64_t e : m.list()) {
          const std::vector<int64_t>& old = old_state[m.key()];
          auto a = acked.find(e);
          planted |= std::find(old.begin(), old.end(), e) == old.end() && a != acked.end() &&
                     a->second < p.op.t0();
        }
        m.clear_list();
        for (int64_t e : old_state[m.key()]) m.add_list(e);
      }
    }
    if (p.applies) p.op.set_rev(++rev);
    out.push_back(std::move(p.op));
  }
  EXPECT_TRUE(planted) << "seed " << seed << ": no read-only txn to make stale";
  std::shuffle(out.begin(), out.end(), rng);
  int64_t end = 0;
  for (const Op& op : out) end = std::max(end, op.t1());
  for (const auto& [key, list] : state) {
    Op op;
    op.set_wl("append");
    op.set_w(-1);
    op.set_t0(end + 1);
    op.set_t1(end + 2);
    op.set_res("ok");
    op.set_final(true);
    *op.add_mops() = r(key, list);
    out.push_back(std::move(op));
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].set_op(static_cast<int64_t>(i) + 1);
  return out;
}

TEST(AppendCheck, SimulatedStrictlySerializableHistoriesPassAndAStaleReadInThemIsCaught) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    AppendReport ok = check_append(simulated(seed, false), 10'000'000);
    EXPECT_TRUE(ok.anomalies.empty()) << "seed " << seed << "\n" << describe(ok, {}, 0);
    EXPECT_GT(ok.multi_key_ok, 50u);
    AppendReport stale = check_append(simulated(seed, true), 10'000'000);
    EXPECT_FALSE(stale.anomalies.empty()) << "seed " << seed;
    EXPECT_GT(stale.on_cycles, 0u) << "seed " << seed << "\n" << describe(stale, {}, 0);
  }
}

}  // namespace
}  // namespace chaos
