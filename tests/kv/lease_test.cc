// Leases: grant with a given or generated id, revoke deleting the attached keys in one
// revision, keep-alive, time-to-live, list, expiry decided by the caller's clock, and
// deadlines refreshed on promotion.
#include <gtest/gtest.h>

#include "kv/store.h"
#include "kv_test_util.h"

namespace kv {
namespace {

using test::at;
using test::get;
using test::must_put;

TEST(KvLease, GrantWithGivenIdRaisesTheTtlToTheMinimum) {
  StoreOptions o;
  o.min_lease_ttl = 5;
  Store s(o);
  auto g = s.lease_grant({1, 42}, at(0));
  ASSERT_TRUE(g.is_ok());
  EXPECT_EQ(g->id, 42);
  EXPECT_EQ(g->ttl, 5);
  EXPECT_EQ(g->revision, 1);  // granting is not a key-space write
  EXPECT_EQ(s.revision(), 1);
  EXPECT_EQ(s.lease_grant({10, 42}, at(0)).status(), errors::lease_exists());
  EXPECT_EQ(s.lease_grant({10, 42}, at(0)).status().message(), "etcdserver: lease already exists");
  EXPECT_EQ(s.lease_grant({kMaxLeaseTtl + 1, 43}, at(0)).status(), errors::lease_ttl_too_large());
  EXPECT_TRUE(s.lease_grant({kMaxLeaseTtl, 43}, at(0)).is_ok());
}

TEST(KvLease, GeneratedIdsAreDeterministicPositiveAndUnique) {
  Store a, b;
  std::vector<int64_t> ids;
  for (int i = 0; i < 50; ++i) {
    auto ga = a.lease_grant({10, 0}, at(i));
    auto gb = b.lease_grant({10, 0}, at(1000 + i));  // a replica's clock does not matter
    ASSERT_TRUE(ga.is_ok() && gb.is_ok());
    EXPECT_EQ(ga->id, gb->id);
    EXPECT_GT(ga->id, 0);
    ids.push_back(ga->id);
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
}

TEST(KvLease, RevokeDeletesAttachedKeysInOneRevision) {
  Store s;
  ASSERT_TRUE(s.lease_grant({10, 1}, at(0)).is_ok());
  must_put(s, "a", "1", 1);
  must_put(s, "b", "1", 1);
  must_put(s, "c", "1");
  must_put(s, "d", "1", 1);
  must_put(s, "d", "2");  // moved off the lease
  const int64_t rev = s.revision();
  auto r = s.lease_revoke({1});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->revision, rev + 1);
  EXPECT_EQ(test::keys_of(get(s, "a", "z")), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(s.revision(), rev + 1);
  EXPECT_TRUE(s.lease_leases().leases.empty());
  EXPECT_EQ(s.lease_revoke({1}).status(), errors::lease_not_found());
  EXPECT_EQ(s.lease_revoke({1}).status().code(), Code::kNotFound);
  // A lease with no keys revokes without a new revision.
  ASSERT_TRUE(s.lease_grant({10, 2}, at(0)).is_ok());
  EXPECT_EQ(s.lease_revoke({2})->revision, rev + 1);
}

TEST(KvLease, KeepAliveTimeToLiveAndExpiry) {
  Store s;
  ASSERT_TRUE(s.lease_grant({10, 1}, at(100)).is_ok());
  ASSERT_TRUE(s.lease_grant({30, 2}, at(100)).is_ok());
  must_put(s, "k", "v", 1);
  auto ttl = s.lease_time_to_live({1, true}, at(103));
  EXPECT_EQ(ttl.ttl, 7);
  EXPECT_EQ(ttl.granted_ttl, 10);
  EXPECT_EQ(ttl.keys, std::vector<std::string>{"k"});
  // Truncated, as etcd reports it: 6.5 s left reads as 6.
  EXPECT_EQ(s.lease_time_to_live({1, false}, at(103) + std::chrono::milliseconds(500)).ttl, 6);
  EXPECT_TRUE(s.lease_time_to_live({1, false}, at(103)).keys.empty());
  EXPECT_EQ(s.lease_time_to_live({99, true}, at(103)).ttl, -1);

  EXPECT_TRUE(s.expired_leases(at(109)).empty());
  EXPECT_EQ(s.expired_leases(at(110)), std::vector<int64_t>{1});
  auto ka = s.lease_keep_alive({2}, at(120));
  ASSERT_TRUE(ka.is_ok());
  EXPECT_EQ(ka->ttl, 30);
  EXPECT_EQ(s.lease_time_to_live({2, false}, at(125)).ttl, 25);
  // Expired on this replica: keep-alive refuses, the caller revokes.
  EXPECT_EQ(s.lease_keep_alive({1}, at(111)).status(), errors::lease_not_found());
  EXPECT_EQ(s.lease_keep_alive({7}, at(111)).status(), errors::lease_not_found());
  EXPECT_EQ(s.expired_leases(at(150)), (std::vector<int64_t>{1, 2}));
  ASSERT_TRUE(s.lease_revoke({1}).is_ok());
  EXPECT_TRUE(get(s, "k").kvs.empty());
}

TEST(KvLease, TimeToLiveTruncatesTheRemainingSecondsAsEtcdDoes) {
  Store s;
  ASSERT_TRUE(s.lease_grant({300, 1}, at(0)).is_ok());
  // A moment after the grant etcd reports 299, not 300 (it drops the fraction).
  EXPECT_EQ(s.lease_time_to_live({1, false}, at(0) + std::chrono::microseconds(1)).ttl, 299);
  EXPECT_EQ(s.lease_time_to_live({1, false}, at(0)).ttl, 300);
  EXPECT_EQ(s.lease_time_to_live({1, false}, at(299) + std::chrono::milliseconds(999)).ttl, 0);
  EXPECT_EQ(s.lease_time_to_live({1, false}, at(300)).ttl, 0);
  EXPECT_EQ(s.lease_time_to_live({1, false}, at(400)).ttl, 0);  // expired, not yet revoked
}

TEST(KvLease, PromoteRefreshesEveryDeadline) {
  Store s;
  ASSERT_TRUE(s.lease_grant({10, 1}, at(0)).is_ok());
  EXPECT_EQ(s.expired_leases(at(50)), std::vector<int64_t>{1});
  s.promote(at(50), std::chrono::seconds(3));
  EXPECT_TRUE(s.expired_leases(at(62)).empty());
  EXPECT_EQ(s.expired_leases(at(63)), std::vector<int64_t>{1});
  EXPECT_EQ(s.lease_time_to_live({1, false}, at(60)).ttl, 3);
}

TEST(KvLease, LeasesListsIdsAscending) {
  Store s;
  for (int64_t id : {5, 3, 9}) ASSERT_TRUE(s.lease_grant({10, id}, at(0)).is_ok());
  EXPECT_EQ(s.lease_leases().leases, (std::vector<int64_t>{3, 5, 9}));
}

TEST(KvLease, HugeTtlDoesNotOverflowTheClock) {
  Store s;
  ASSERT_TRUE(s.lease_grant({kMaxLeaseTtl, 1}, at(1'000'000)).is_ok());
  EXPECT_TRUE(s.expired_leases(at(2'000'000)).empty());
  s.promote(at(3'000'000), std::chrono::seconds(10));
  EXPECT_TRUE(s.expired_leases(at(4'000'000)).empty());
}

}  // namespace
}  // namespace kv
