#include "lease_check.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "checkers.h"

namespace chaos {
namespace {

using raftkv::chaos::NemesisEvent;
using raftkv::chaos::Op;
using raftkv::chaos::WatchEvent;

constexpr int64_t kS = 1'000'000'000;  // times below are in seconds

int64_t at(double seconds) { return static_cast<int64_t>(seconds * kS); }

// A lease history in the order the client writes it.
class History {
 public:
  Op& grant(int64_t lease, int64_t ttl, double t0, double t1) {
    Op& op = add("grant", lease, t0, t1);
    op.set_asked_ttl(ttl);
    op.set_ttl(ttl);
    return op;
  }
  Op& put(int64_t lease, const std::string& key, int64_t rev, double t0, double t1,
          const std::string& res = "ok") {
    Op& op = add("put", lease, t0, t1);
    op.set_key(key);
    op.set_res(res);
    if (res == "ok") op.set_rev(rev);
    if (res == "fail") op.set_err("etcdserver: requested lease not found");
    return op;
  }
  Op& keepalive(int64_t lease, int64_t ttl, double t0, double t1) {
    Op& op = add("keepalive", lease, t0, t1);
    op.set_ttl(ttl);
    return op;
  }
  Op& revoke(int64_t lease, double t0, double t1) { return add("revoke", lease, t0, t1); }
  Op& read(int64_t lease, std::vector<std::string> keys, double t0, double t1) {
    Op& op = add("read", lease, t0, t1);
    op.set_key("lease/" + std::to_string(lease) + "/");
    for (const auto& k : keys) op.add_keys(k);
    return op;
  }
  Op& heal(double t) {
    Op& op = add("heal", 0, t, t);
    op.set_final(true);
    return op;
  }
  Op& deleted(std::vector<std::pair<int64_t, std::string>> events, double t) {
    Op& op = add("watch-events", 0, t, t);
    op.set_watcher(0);
    for (const auto& [rev, key] : events) {
      WatchEvent* e = op.add_events();
      e->set_type("delete");
      e->set_key(key);
      e->set_mod_rev(rev);
    }
    return op;
  }
  std::vector<Op>& ops() { return ops_; }
  Op& op(int64_t id) { return ops_.at(id - 1); }

 private:
  Op& add(const std::string& f, int64_t lease, double t0, double t1) {
    Op op;
    op.set_op(static_cast<int64_t>(ops_.size()) + 1);
    op.set_wl("lease");
    op.set_w(1);
    op.set_ep("m2");
    op.set_f(f);
    op.set_lease(lease);
    op.set_t0(at(t0));
    op.set_t1(at(t1));
    op.set_res("ok");
    ops_.push_back(op);
    return ops_.back();
  }
  std::vector<Op> ops_;
};

// Lease 1 (TTL 5 s) is revoked; lease 2 (TTL 5 s, promised until 7.6 s by a keepalive
// sent at 2.6 s) expires; after the heal at 20 s the final read finds neither.
struct Valid {
  History h;
  int64_t late_put, read_before_promise, read_after_revoke, final_read_2, deletion_k1;
  Valid() {
    h.grant(1, 5, 0, 0.01);
    h.put(1, "lease/1/k0", 2, 0.02, 0.03);
    h.put(1, "lease/1/k1", 3, 0.04, 0.05);
    h.grant(2, 5, 1, 1.01);
    h.put(2, "lease/2/k0", 5, 1.02, 1.03);
    h.keepalive(1, 5, 1.6, 1.61);
    h.read(1, {"lease/1/k0", "lease/1/k1"}, 2, 2.01);
    h.keepalive(2, 5, 2.6, 2.61);
    h.revoke(1, 3, 3.01).set_rev(6);
    deletion_k1 = h.deleted({{6, "lease/1/k0"}, {6, "lease/1/k1"}}, 3.02).op();
    late_put = h.put(1, "lease/1/late", 0, 3.02, 3.03, "fail").op();
    read_after_revoke = h.read(1, {}, 3.1, 3.11).op();
    read_before_promise = h.read(2, {"lease/2/k0"}, 7.0, 7.01).op();
    h.read(2, {}, 8.0, 8.01);
    h.deleted({{7, "lease/2/k0"}}, 8.1);
    h.heal(20);
    // Due at max(latest, heal + TTL) + 2 election timeouts + 3 s = 30 s.
    h.read(1, {}, 30.2, 30.21).set_final(true);
    Op& final_read = h.read(2, {}, 30.2, 30.21);
    final_read.set_final(true);
    final_read_2 = final_read.op();
  }
};

bool caught(const LeaseReport& r, const std::string& rule, const std::string& anomaly) {
  return std::any_of(r.violations.begin(), r.violations.end(), [&](const LeaseViolation& v) {
    return v.rule == rule && v.anomaly == anomaly;
  });
}

// Checks that exactly the named rule broke, and that the report says so.
void expect_only(const LeaseReport& r, const std::string& rule, const std::string& anomaly) {
  EXPECT_TRUE(caught(r, rule, anomaly)) << describe(r, {}, 0);
  for (const LeaseViolation& v : r.violations) EXPECT_EQ(v.anomaly, anomaly) << v.what;
  EXPECT_NE(describe(r, {}, 0).find(rule + " " + anomaly), std::string::npos);
}

TEST(LeaseCheck, ARevokedAndAnExpiredLeasePass) {
  Valid v;
  LeaseReport r = check_lease(v.h.ops());
  EXPECT_TRUE(r.violations.empty()) << describe(r, {}, 0);
  EXPECT_EQ(r.granted, 2u);
  EXPECT_EQ(r.revoked, 1u);
  EXPECT_EQ(r.expired, 1u);
  EXPECT_EQ(r.keepalives, 2u);
  EXPECT_EQ(r.deletions_seen, 3u);
  EXPECT_EQ(r.expiry_checked, 2u);
  EXPECT_NE(describe(r, {}, 0).find("L1-L5 hold"), std::string::npos);
  const Verdict verdict =
      check_lease_workload({.ops = v.h.ops(), .faults = {}, .origin = 0}).verdict;
  EXPECT_EQ(verdict, Verdict::kPass);
}

TEST(LeaseCheck, L1AKeyMissingBeforeThePromiseRanOutExpiredEarly) {
  Valid v;
  v.h.op(v.read_before_promise).clear_keys();  // at 7.01 s; promised until 7.6 s
  NemesisEvent pause;
  pause.set_id(1);
  pause.set_nemesis("pause-leader");
  pause.set_phase("start");
  pause.set_t0(at(4));
  pause.set_t1(at(4.01));
  pause.add_targets("m1");
  LeaseReport r = check_lease(v.h.ops());
  expect_only(r, "L1", "lease-expired-early");
  const std::string text = describe(r, {pause}, 0);
  EXPECT_NE(text.find("keepalive 2 -> ttl 5 s [2.600"), std::string::npos) << text;
  EXPECT_NE(text.find("pause-leader m1 [4.000, never healed]"), std::string::npos) << text;
}

TEST(LeaseCheck, L1HoldsOnlyWhileThePromiseDoesAndNoRevokeWasSent) {
  {
    Valid v;  // the same read just after the promise: the lease may have expired
    v.h.op(v.read_before_promise).clear_keys();
    v.h.op(v.read_before_promise).set_t1(at(7.61));
    EXPECT_TRUE(check_lease(v.h.ops()).violations.empty());
  }
  {
    Valid v;  // a revoke with an unknown outcome was sent before the read returned
    v.h.op(v.read_before_promise).clear_keys();
    v.h.revoke(2, 6.9, 9.9).set_res("info");
    EXPECT_TRUE(check_lease(v.h.ops()).violations.empty());
  }
}

TEST(LeaseCheck, L2AKeyReadAfterTheRevokeReturnedSurvivedIt) {
  Valid v;
  v.h.op(v.read_after_revoke).add_keys("lease/1/k1");
  expect_only(check_lease(v.h.ops()), "L2", "key-survived-revoke");
}

TEST(LeaseCheck, L3KeysStillThereWhenDueAfterTheHealNeverExpired) {
  Valid v;
  v.h.op(v.final_read_2).add_keys("lease/2/k0");
  LeaseReport r = check_lease(v.h.ops());
  expect_only(r, "L3", "lease-never-expired");
  // Read before they were due, the same keys prove nothing.
  v.h.op(v.final_read_2).set_t0(at(29.9));
  r = check_lease(v.h.ops());
  EXPECT_TRUE(r.violations.empty()) << describe(r, {}, 0);
  EXPECT_EQ(r.expiry_checked, 1u);
}

TEST(LeaseCheck, L4TheKeysOfALeaseGoAtOneRevision) {
  {
    Valid v;  // k1 goes a revision after k0
    v.h.op(v.deletion_k1).mutable_events(1)->set_mod_rev(8);
    expect_only(check_lease(v.h.ops()), "L4", "lease-revoke-not-atomic");
  }
  {
    Valid v;  // k1 does not go with k0
    v.h.op(v.deletion_k1).mutable_events()->RemoveLast();
    LeaseReport r = check_lease(v.h.ops());
    expect_only(r, "L4", "lease-revoke-not-atomic");
    EXPECT_NE(describe(r, {}, 0).find("lease/1/k1 (put at rev 3) was not deleted"),
              std::string::npos);
  }
}

TEST(LeaseCheck, L5APutWithARevokedLeaseMustNotSucceed) {
  {
    Valid v;  // after the revoke returned
    Op& late = v.h.op(v.late_put);
    late.set_res("ok");
    late.clear_err();
    late.set_rev(9);
    expect_only(check_lease(v.h.ops()), "L5", "put-on-revoked-lease");
  }
  {
    Valid v;  // at a revision after the lease's keys were deleted (lease 2 expired at 7)
    v.h.put(2, "lease/2/k9", 9, 8.5, 8.51);
    LeaseReport r = check_lease(v.h.ops());
    expect_only(r, "L5", "put-on-revoked-lease");
    EXPECT_NE(describe(r, {}, 0).find("deleted at rev 7"), std::string::npos);
  }
}

TEST(LeaseCheck, AKeepaliveAnsweredNotFoundEarlyIsNotedNotCounted) {
  Valid v;
  v.h.keepalive(2, 0, 5, 5.01).set_res("fail");
  v.h.ops().back().set_err("etcdserver: requested lease not found");
  LeaseReport r = check_lease(v.h.ops());
  EXPECT_TRUE(r.violations.empty());
  EXPECT_EQ(r.keepalive_not_found_early, 1u);
}

TEST(LeaseCheck, WithoutAFinalReadTheRunIsInconclusive) {
  Valid v;
  std::erase_if(v.h.ops(), [](const Op& op) { return op.final() && op.f() == "read"; });
  CheckResult r = check_lease_workload({.ops = v.h.ops(), .faults = {}, .origin = 0});
  EXPECT_EQ(r.verdict, Verdict::kInconclusive) << r.text;
}

}  // namespace
}  // namespace chaos
