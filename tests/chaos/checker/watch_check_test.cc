#include "watch_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

#include "checkers.h"

namespace chaos {
namespace {

using raftkv::chaos::NemesisEvent;
using raftkv::chaos::Op;
using raftkv::chaos::WatchEvent;

WatchEvent put(int64_t rev, const std::string& key, const std::string& value) {
  WatchEvent e;
  e.set_type("put");
  e.set_key(key);
  e.set_value(value);
  e.set_mod_rev(rev);
  e.set_create_rev(rev);
  e.set_version(1);
  return e;
}

WatchEvent del(int64_t rev, const std::string& key) {
  WatchEvent e;
  e.set_type("delete");
  e.set_key(key);
  e.set_mod_rev(rev);
  return e;
}

// A watch history in the order the client writes it; times are plain numbers (ns).
class History {
 public:
  Op& write(const std::string& f, const std::string& key, const std::string& value, int64_t rev,
            int64_t t0, int64_t t1, const std::string& res = "ok") {
    Op& op = add(f, "m1", t0, t1);
    op.set_w(0);
    op.set_key(key);
    op.set_value(value);
    op.set_res(res);
    if (res == "ok") op.set_rev(rev);
    if (f == "delete" && res == "ok") op.set_deleted(1);
    return op;
  }
  Op& compact(int64_t target, const std::string& ep, int64_t t0, int64_t t1) {
    Op& op = add("compact", ep, t0, t1);
    op.set_compact_rev(target);
    return op;
  }
  Op& open(int64_t watcher, const std::string& ep, int64_t start, int64_t t) {
    Op& op = add("watch-open", ep, t, t);
    op.set_watcher(watcher);
    op.set_start(start);
    return op;
  }
  Op& events(int64_t watcher, const std::string& ep, std::vector<WatchEvent> events, int64_t t) {
    Op& op = add("watch-events", ep, t, t);
    op.set_watcher(watcher);
    for (auto& e : events) *op.add_events() = e;
    op.set_rev(events.empty() ? 0 : events.back().mod_rev());
    return op;
  }
  Op& close(int64_t watcher, const std::string& ep, int64_t t, int64_t compact_rev = 0) {
    Op& op = add("watch-close", ep, t, t);
    op.set_watcher(watcher);
    op.set_err(compact_rev != 0 ? "etcdserver: mvcc: required revision has been compacted"
                                : "reopening elsewhere");
    op.set_compact_rev(compact_rev);
    return op;
  }
  std::vector<Op>& ops() { return ops_; }

 private:
  Op& add(const std::string& f, const std::string& ep, int64_t t0, int64_t t1) {
    Op op;
    op.set_op(static_cast<int64_t>(ops_.size()) + 1);
    op.set_wl("watch");
    op.set_f(f);
    op.set_ep(ep);
    op.set_t0(t0);
    op.set_t1(t1);
    op.set_res("ok");
    ops_.push_back(op);
    return ops_.back();
  }
  std::vector<Op> ops_;
};

// Two watchers; watcher 2 loses revisions 3-4 to a compaction (excused), a put with an
// unknown outcome is delivered by both, and both deliver the final put (watcher 1 even
// before the put returned).
struct Valid {
  History h;
  Valid() {
    h.write("put", "w/1", "a", 2, 10, 20);
    h.open(1, "m1", 1, 5);
    h.open(2, "m2", 1, 5);
    h.events(1, "m1", {put(2, "w/1", "a")}, 21);
    h.events(2, "m2", {put(2, "w/1", "a")}, 21);
    h.close(2, "m2", 25);
    h.write("put", "w/2", "b", 3, 22, 30);
    h.write("delete", "w/1", "", 4, 31, 32);
    h.events(1, "m1", {put(3, "w/2", "b"), del(4, "w/1")}, 33);
    h.close(1, "m1", 40);
    h.open(1, "m2", 5, 41);
    h.write("put", "w/1", "c", 0, 42, 0, "info").set_err("context deadline exceeded");
    h.events(1, "m2", {put(5, "w/1", "c")}, 51);
    h.write("put", "w/final", "final-0", 6, 55, 60).set_final(true);
    h.events(1, "m2", {put(6, "w/final", "final-0")}, 58);  // before the put returned
    h.compact(5, "m1", 80, 90);
    h.open(2, "m3", 3, 100);
    h.close(2, "m3", 101, 5);
    h.open(2, "m1", 5, 102);
    h.events(2, "m1", {put(5, "w/1", "c"), put(6, "w/final", "final-0")}, 103);
    h.close(1, "m2", 110);
    h.close(2, "m1", 110);
  }
  // The n-th line of watcher w with function f (0-based).
  Op& line(int64_t w, const std::string& f, int n = 0) {
    for (Op& op : h.ops()) {
      if (op.watcher() == w && op.f() == f && n-- == 0) return op;
    }
    throw std::logic_error("no such line");
  }
  void erase(int64_t op) {
    std::erase_if(h.ops(), [&](const Op& o) { return o.op() == op; });
  }
};

bool caught(const WatchReport& r, const std::string& rule, const std::string& anomaly) {
  return std::any_of(r.violations.begin(), r.violations.end(), [&](const WatchViolation& v) {
    return v.rule == rule && v.anomaly == anomaly;
  });
}

// Checks that exactly the named rule broke, and that the report says so.
void expect_only(const WatchReport& r, const std::string& rule, const std::string& anomaly) {
  EXPECT_TRUE(caught(r, rule, anomaly)) << describe(r, {}, 0);
  for (const WatchViolation& v : r.violations) {
    EXPECT_EQ(v.anomaly, anomaly) << v.what;
  }
  EXPECT_NE(describe(r, {}, 0).find(rule + " " + anomaly), std::string::npos);
}

TEST(WatchCheck, ReopensCompactionGapsAndUnknownWritesPass) {
  Valid v;
  WatchReport r = check_watch(v.h.ops());
  EXPECT_TRUE(r.violations.empty()) << describe(r, {}, 0);
  EXPECT_EQ(r.writes_ok, 4u);
  EXPECT_EQ(r.writes_info, 1u);
  EXPECT_EQ(r.final_rev, 6);
  ASSERT_EQ(r.watchers.size(), 2u);
  EXPECT_EQ(r.watchers[0].events, 5u);
  EXPECT_EQ(r.watchers[1].events, 3u);
  EXPECT_EQ(r.watchers[1].compacted, 1u);
  EXPECT_EQ(r.watchers[1].gap_revisions, 2);
  EXPECT_EQ(r.watchers[1].final_delay, 43);
  EXPECT_EQ(r.watchers[0].final_delay, -2);
  EXPECT_EQ(describe(r, {}, 0).find("not delivered"), std::string::npos);
  EXPECT_NE(describe(r, {}, 0).find("W1-W7 hold"), std::string::npos);
  const Verdict verdict =
      check_watch_workload({.ops = v.h.ops(), .faults = {}, .origin = 0}).verdict;
  EXPECT_EQ(verdict, Verdict::kPass);
}

TEST(WatchCheck, W1AnEventBelowAnEarlierOneWentBack) {
  Valid v;
  Op& first = v.line(1, "watch-events");  // rev 3, then rev 2
  first.clear_events();
  *first.add_events() = put(3, "w/2", "b");
  *first.add_events() = put(2, "w/1", "a");
  Op& second = v.line(1, "watch-events", 1);
  second.clear_events();
  *second.add_events() = del(4, "w/1");
  expect_only(check_watch(v.h.ops()), "W1", "watch-went-back");
}

TEST(WatchCheck, W1AnEventDeliveredTwiceIsADuplicate) {
  Valid v;
  *v.line(1, "watch-events", 2).mutable_events(0) = del(4, "w/1");  // rev 4 again after a reopen
  v.line(1, "watch-open", 1).set_start(4);
  WatchReport r = check_watch(v.h.ops());
  EXPECT_TRUE(caught(r, "W1", "watch-duplicate")) << describe(r, {}, 0);
}

TEST(WatchCheck, W2AReopenedWatchStartsWhereItWasAsked) {
  Valid v;
  v.line(1, "watch-open").set_start(2);
  Op& first = v.line(1, "watch-events");
  first.clear_events();
  *first.add_events() = put(1, "w/0", "z");  // below the start asked for
  v.h.write("put", "w/0", "z", 0, 1, 0, "info");
  v.line(1, "watch-events", 1).clear_events();  // the response now holds 2, 3 and 4
  *v.line(1, "watch-events", 1).add_events() = put(2, "w/1", "a");
  *v.line(1, "watch-events", 1).add_events() = put(3, "w/2", "b");
  *v.line(1, "watch-events", 1).add_events() = del(4, "w/1");
  expect_only(check_watch(v.h.ops()), "W2", "watch-resumed-early");
}

TEST(WatchCheck, W3AnAcknowledgedWriteInTheCoveredRangeIsDelivered) {
  Valid v;
  Op& second = v.line(1, "watch-events", 1);
  second.clear_events();
  *second.add_events() = del(4, "w/1");  // rev 3 (put w/2=b, acknowledged) missing
  NemesisEvent start, heal;
  start.set_id(1);
  start.set_nemesis("partition-one");
  start.set_phase("start");
  start.set_t0(23);
  start.set_t1(24);
  start.add_targets("m1");
  heal = start;
  heal.set_phase("heal");
  heal.set_t0(36);
  heal.set_t1(37);
  WatchReport r = check_watch(v.h.ops());
  expect_only(r, "W3", "watch-missed-event");
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].watcher, 1);
  EXPECT_EQ(r.violations[0].rev, 3);
  const std::string text = describe(r, {start, heal}, 0);
  EXPECT_NE(text.find("put w/2 = b"), std::string::npos) << text;  // the write
  EXPECT_NE(text.find("partition-one m1"), std::string::npos) << text;
}

TEST(WatchCheck, W4WatchersCoveringARevisionDeliverTheSameEvents) {
  Valid v;
  v.erase(v.line(1, "watch-events", 2).op());  // watcher 1 skips the unknown put at rev 5
  WatchReport r = check_watch(v.h.ops());
  expect_only(r, "W4", "watch-divergent");
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].rev, 5);
}

TEST(WatchCheck, W5AValueNobodyWroteIsAPhantom) {
  Valid v;
  *v.line(1, "watch-events", 2).mutable_events(0) = put(5, "w/1", "never written");
  *v.line(2, "watch-events", 1).mutable_events(0) = put(5, "w/1", "never written");
  expect_only(check_watch(v.h.ops()), "W5", "watch-phantom");
}

TEST(WatchCheck, W5AnEventAtAnAcknowledgedWritesRevisionIsThatWrite) {
  Valid v;
  *v.line(1, "watch-events", 1).mutable_events(0) = put(3, "w/2", "a");  // written, not at 3
  v.h.write("put", "w/2", "a", 0, 1, 0, "info");
  expect_only(check_watch(v.h.ops()), "W5", "watch-phantom");
}

TEST(WatchCheck, W6ErrCompactedAtOrBelowTheStartOrToAnUnaskedRevisionIsFalse) {
  {
    Valid v;
    v.line(2, "watch-open", 1).set_start(5);  // a watch from 5 keeps 5
    WatchReport r = check_watch(v.h.ops());
    EXPECT_TRUE(caught(r, "W6", "watch-false-compaction")) << describe(r, {}, 0);
  }
  {
    Valid v;
    v.line(2, "watch-close", 1).set_compact_rev(4);  // nobody compacted to 4
    v.line(2, "watch-open", 2).set_start(4);
    WatchReport r = check_watch(v.h.ops());
    EXPECT_TRUE(caught(r, "W6", "watch-false-compaction")) << describe(r, {}, 0);
    EXPECT_NE(describe(r, {}, 0).find("nobody compacted to"), std::string::npos);
  }
}

TEST(WatchCheck, W6RevisionsBelowACompactionTheMemberAcknowledgedAreNotServed) {
  for (const char* compacted_on : {"m1", "m3"}) {
    Valid v;
    // Watcher 2 reopens on m1 from rev 3 after m1 (or m3) acknowledged a compaction to
    // 5, and m1 serves 3 and 4 instead of ErrCompacted.
    v.line(2, "watch-open", 1).set_ep("m1");
    v.erase(v.line(2, "watch-close", 1).op());
    v.erase(v.line(2, "watch-open", 2).op());
    Op& events = v.line(2, "watch-events", 1);
    events.clear_events();
    for (auto e :
         {put(3, "w/2", "b"), del(4, "w/1"), put(5, "w/1", "c"), put(6, "w/final", "final-0")}) {
      *events.add_events() = e;
    }
    for (Op& op : v.h.ops()) {
      if (op.f() == "compact") op.set_ep(compacted_on);
    }
    WatchReport r = check_watch(v.h.ops());
    if (std::string(compacted_on) == "m1") {
      expect_only(r, "W6", "watch-compacted-revision-served");
    } else {  // m1 may not have applied m3's compaction yet: allowed, noted
      EXPECT_TRUE(r.violations.empty()) << describe(r, {}, 0);
      EXPECT_EQ(r.served_below_remote_compaction, 1u);
    }
  }
}

TEST(WatchCheck, W7EveryWatcherDeliversTheFinalPutWithin30Seconds) {
  {
    Valid v;  // never
    Op& last = v.line(2, "watch-events", 1);
    last.mutable_events()->RemoveLast();
    WatchReport r = check_watch(v.h.ops());
    expect_only(r, "W7", "watch-stuck");
    ASSERT_EQ(r.violations.size(), 1u);
    EXPECT_EQ(r.violations[0].watcher, 2);
    EXPECT_FALSE(r.watchers[1].final_delay.has_value());
    EXPECT_NE(describe(r, {}, 0).find("final put not delivered"), std::string::npos);
  }
  {
    Valid v;  // late
    v.line(2, "watch-events", 1).set_t0(60 + 31'000'000'000);
    v.line(2, "watch-close", 2).set_t0(60 + 32'000'000'000);
    expect_only(check_watch(v.h.ops()), "W7", "watch-stuck");
  }
}

TEST(WatchCheck, WithoutAnAcknowledgedFinalPutTheRunIsInconclusive) {
  Valid v;
  for (Op& op : v.h.ops()) {
    if (op.key() == "w/final") op.set_res("info");
  }
  CheckResult r = check_watch_workload({.ops = v.h.ops(), .faults = {}, .origin = 0});
  EXPECT_EQ(r.verdict, Verdict::kInconclusive) << r.text;
  EXPECT_NE(r.text.find("INCONCLUSIVE"), std::string::npos);
}

}  // namespace
}  // namespace chaos
