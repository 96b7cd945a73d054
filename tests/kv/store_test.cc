// Range, Put, DeleteRange and Compact: revisions, per-key metadata, every option and every
// error, checked against what etcd 3.4 answers (../shared/reference/etcd-api.md section 4).
#include "kv/store.h"

#include <gtest/gtest.h>

#include "kv_test_util.h"

namespace kv {
namespace {

using namespace std::string_literals;
using test::get;
using test::keys_of;
using test::must_delete;
using test::must_put;
using test::must_range;

TEST(KvStore, FreshStoreIsAtRevisionOneAndFirstWriteMakesTwo) {
  Store s;
  EXPECT_EQ(s.revision(), 1);
  EXPECT_EQ(must_put(s, "a", "1").revision, 2);
  EXPECT_EQ(s.revision(), 2);
  EXPECT_EQ(get(s, "a").revision, 2);
}

TEST(KvStore, PutSetsCreateModAndVersion) {
  Store s;
  must_put(s, "k", "v1");  // rev 2
  must_put(s, "x", "x");   // rev 3
  must_put(s, "k", "v2");  // rev 4
  auto r = get(s, "k");
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].create_revision, 2);
  EXPECT_EQ(r.kvs[0].mod_revision, 4);
  EXPECT_EQ(r.kvs[0].version, 2);
  EXPECT_EQ(r.kvs[0].value, "v2");
  EXPECT_EQ(r.count, 1);
}

TEST(KvStore, DeleteThenRecreateStartsANewGeneration) {
  Store s;
  must_put(s, "k", "a");                      // 2
  must_put(s, "k", "b");                      // 3
  EXPECT_EQ(must_delete(s, "k").deleted, 1);  // 4
  EXPECT_TRUE(get(s, "k").kvs.empty());
  must_put(s, "k", "c");  // 5
  auto r = get(s, "k");
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].create_revision, 5);
  EXPECT_EQ(r.kvs[0].mod_revision, 5);
  EXPECT_EQ(r.kvs[0].version, 1);
}

TEST(KvStore, DeleteOfNothingKeepsTheRevision) {
  Store s;
  must_put(s, "a", "1");
  auto d = must_delete(s, "zzz");
  EXPECT_EQ(d.deleted, 0);
  EXPECT_EQ(d.revision, 2);
  EXPECT_EQ(s.revision(), 2);
}

TEST(KvStore, DeleteRangeReturnsPrevKvsAndCount) {
  Store s;
  must_put(s, "a", "1");
  must_put(s, "b", "2");
  must_put(s, "c", "3");
  DeleteRangeRequest d;
  d.key = "a";
  d.range_end = "c";
  d.prev_kv = true;
  auto r = s.delete_range(d);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->deleted, 2);
  EXPECT_EQ(r->revision, 5);
  ASSERT_EQ(r->prev_kvs.size(), 2u);
  EXPECT_EQ(r->prev_kvs[0].key, "a");
  EXPECT_EQ(r->prev_kvs[1].value, "2");
  EXPECT_EQ(keys_of(get(s, "a", "\0"s)), std::vector<std::string>{"c"});
  // Both deletions share one revision.
  EXPECT_EQ(s.revision(), 5);
}

TEST(KvStore, RangeEndVariants) {
  Store s;
  for (const char* k : {"a", "ab", "abc", "b", "c"}) must_put(s, k, k);
  EXPECT_EQ(keys_of(get(s, "ab")), std::vector<std::string>{"ab"});
  // Prefix "ab": range_end "ac".
  EXPECT_EQ(keys_of(get(s, "ab", "ac")), (std::vector<std::string>{"ab", "abc"}));
  // "\0" as range_end: every key >= key.
  EXPECT_EQ(keys_of(get(s, "b", std::string(1, '\0'))), (std::vector<std::string>{"b", "c"}));
  // key "\0" and range_end "\0": all keys.
  EXPECT_EQ(get(s, std::string(1, '\0'), std::string(1, '\0')).kvs.size(), 5u);
  // An end before the key: nothing.
  EXPECT_TRUE(get(s, "c", "a").kvs.empty());
}

TEST(KvStore, LimitSetsMoreAndCountIsTheWholeRange) {
  Store s;
  for (const char* k : {"a", "b", "c", "d", "e", "f"}) must_put(s, k, k);
  RangeRequest r;
  r.key = "a";
  r.range_end = "z";
  r.limit = 2;
  auto resp = must_range(s, r);
  EXPECT_EQ(keys_of(resp), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(resp.more);
  EXPECT_EQ(resp.count, 6);
  r.limit = 6;
  resp = must_range(s, r);
  EXPECT_FALSE(resp.more);
  EXPECT_EQ(resp.kvs.size(), 6u);
}

TEST(KvStore, CountOnlyAndKeysOnly) {
  Store s;
  must_put(s, "a", "1");
  must_put(s, "b", "2");
  RangeRequest r;
  r.key = "a";
  r.range_end = "z";
  r.count_only = true;
  auto resp = must_range(s, r);
  EXPECT_TRUE(resp.kvs.empty());
  EXPECT_EQ(resp.count, 2);
  EXPECT_FALSE(resp.more);
  r.count_only = false;
  r.keys_only = true;
  resp = must_range(s, r);
  ASSERT_EQ(resp.kvs.size(), 2u);
  EXPECT_EQ(resp.kvs[0].value, "");
  EXPECT_EQ(resp.kvs[0].version, 1);
}

TEST(KvStore, SortOrdersAndTargets) {
  Store s;
  must_put(s, "a", "z");  // 2
  must_put(s, "b", "y");  // 3
  must_put(s, "c", "x");  // 4
  must_put(s, "a", "w");  // 5: a is now the newest mod, version 2
  RangeRequest r;
  r.key = "a";
  r.range_end = "z";
  r.sort_order = RangeRequest::SortOrder::kDescend;
  EXPECT_EQ(keys_of(must_range(s, r)), (std::vector<std::string>{"c", "b", "a"}));
  r.sort_target = RangeRequest::SortTarget::kValue;
  r.sort_order = RangeRequest::SortOrder::kAscend;
  EXPECT_EQ(keys_of(must_range(s, r)), (std::vector<std::string>{"a", "c", "b"}));
  r.sort_target = RangeRequest::SortTarget::kMod;
  r.sort_order = RangeRequest::SortOrder::kDescend;
  EXPECT_EQ(keys_of(must_range(s, r)), (std::vector<std::string>{"a", "c", "b"}));
  r.sort_target = RangeRequest::SortTarget::kCreate;
  r.sort_order = RangeRequest::SortOrder::kNone;  // a non-key target defaults to ascending
  EXPECT_EQ(keys_of(must_range(s, r)), (std::vector<std::string>{"a", "b", "c"}));
  r.sort_target = RangeRequest::SortTarget::kVersion;
  r.sort_order = RangeRequest::SortOrder::kDescend;
  r.limit = 1;  // the sort happens before the limit
  auto resp = must_range(s, r);
  EXPECT_EQ(keys_of(resp), std::vector<std::string>{"a"});
  EXPECT_TRUE(resp.more);
  EXPECT_EQ(resp.count, 3);
}

TEST(KvStore, RevisionFiltersPruneKvsButNotCount) {
  Store s;
  must_put(s, "a", "1");  // 2
  must_put(s, "b", "1");  // 3
  must_put(s, "c", "1");  // 4
  must_put(s, "a", "2");  // 5
  RangeRequest r;
  r.key = "a";
  r.range_end = "z";
  r.min_mod_revision = 4;
  auto resp = must_range(s, r);
  EXPECT_EQ(keys_of(resp), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(resp.count, 3);
  r = {};
  r.key = "a";
  r.range_end = "z";
  r.max_create_revision = 3;
  EXPECT_EQ(keys_of(must_range(s, r)), (std::vector<std::string>{"a", "b"}));
  r.max_create_revision = 0;
  r.min_create_revision = 3;
  r.max_mod_revision = 3;
  EXPECT_EQ(keys_of(must_range(s, r)), std::vector<std::string>{"b"});
  // With a limit, `more` counts the keys that passed the filters.
  r = {};
  r.key = "a";
  r.range_end = "z";
  r.max_mod_revision = 4;
  r.limit = 1;
  resp = must_range(s, r);
  EXPECT_EQ(keys_of(resp), std::vector<std::string>{"b"});
  EXPECT_TRUE(resp.more);
  r.limit = 2;
  EXPECT_FALSE(must_range(s, r).more);
}

TEST(KvStore, RangeAtPastRevisionSeesHistoryWithCurrentHeader) {
  Store s;
  must_put(s, "k", "v1");  // 2
  must_put(s, "k", "v2");  // 3
  must_delete(s, "k");     // 4
  auto r = get(s, "k", "", 2);
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].value, "v1");
  EXPECT_EQ(r.revision, 4);
  EXPECT_EQ(get(s, "k", "", 3).kvs[0].value, "v2");
  EXPECT_TRUE(get(s, "k", "", 4).kvs.empty());
  EXPECT_TRUE(get(s, "k", "", 1).kvs.empty());
}

TEST(KvStore, RangeErrors) {
  Store s;
  must_put(s, "k", "v");
  RangeRequest r;
  EXPECT_EQ(s.range(r).status(), errors::empty_key());
  r.key = "k";
  r.revision = 3;
  EXPECT_EQ(s.range(r).status(), errors::future_revision());
  EXPECT_EQ(s.range(r).status().code(), Code::kOutOfRange);
  EXPECT_EQ(s.range(r).status().message(),
            "etcdserver: mvcc: required revision is a future revision");
}

TEST(KvStore, PutPrevKvIgnoreValueIgnoreLease) {
  Store s;
  auto lease = s.lease_grant({60, 7}, test::at(0));
  ASSERT_TRUE(lease.is_ok());
  must_put(s, "k", "v1", 7);
  PutRequest p;
  p.key = "k";
  p.ignore_value = true;
  p.ignore_lease = true;
  p.prev_kv = true;
  auto r = s.put(p);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_TRUE(r->prev_kv.has_value());
  EXPECT_EQ(r->prev_kv->value, "v1");
  auto kv = get(s, "k").kvs.at(0);
  EXPECT_EQ(kv.value, "v1");
  EXPECT_EQ(kv.lease, 7);
  EXPECT_EQ(kv.version, 2);
  // Without ignore_lease, lease 0 detaches.
  must_put(s, "k", "v3");
  EXPECT_EQ(get(s, "k").kvs.at(0).lease, 0);
  // No prev_kv unless asked; none for a new key.
  EXPECT_FALSE(must_put(s, "k", "v4").prev_kv.has_value());
  p = {};
  p.key = "new";
  p.prev_kv = true;
  EXPECT_FALSE(s.put(p)->prev_kv.has_value());
}

TEST(KvStore, PutErrorsChangeNothing) {
  Store s;
  must_put(s, "k", "v");
  PutRequest p;
  EXPECT_EQ(s.put(p).status(), errors::empty_key());
  p.key = "k";
  p.ignore_value = true;
  p.value = "x";
  EXPECT_EQ(s.put(p).status(), errors::value_provided());
  p = {};
  p.key = "k";
  p.ignore_lease = true;
  p.lease = 5;
  EXPECT_EQ(s.put(p).status(), errors::lease_provided());
  p = {};
  p.key = "missing";
  p.ignore_value = true;
  EXPECT_EQ(s.put(p).status(), errors::key_not_found());
  EXPECT_EQ(s.put(p).status().message(), "etcdserver: key not found");
  p = {};
  p.key = "k";
  p.lease = 12345;
  EXPECT_EQ(s.put(p).status(), errors::lease_not_found());
  EXPECT_EQ(s.put(p).status().code(), Code::kNotFound);
  EXPECT_EQ(s.revision(), 2);
  EXPECT_EQ(get(s, "k").kvs.at(0).value, "v");
  DeleteRangeRequest d;
  EXPECT_EQ(s.delete_range(d).status(), errors::empty_key());
}

TEST(KvStore, CompactDropsHistoryAndRefusesOldReads) {
  Store s;
  must_put(s, "k", "v1");  // 2
  must_put(s, "k", "v2");  // 3
  must_put(s, "x", "x");   // 4
  must_put(s, "k", "v3");  // 5
  auto c = s.compact({4, false});
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->revision, 5);
  EXPECT_EQ(s.compact_revision(), 4);
  EXPECT_EQ(s.revision(), 5);  // compaction is not a write
  EXPECT_EQ(s.range(test::range_req("k", 3)).status(), errors::compacted());
  EXPECT_EQ(s.range(test::range_req("k", 3)).status().message(),
            "etcdserver: mvcc: required revision has been compacted");
  // The compact revision itself still reads.
  EXPECT_EQ(get(s, "k", "", 4).kvs.at(0).value, "v2");
  EXPECT_EQ(get(s, "k", "", 5).kvs.at(0).value, "v3");
  EXPECT_EQ(s.compact({4, false}).status(), errors::compacted());
  EXPECT_EQ(s.compact({3, false}).status(), errors::compacted());
  EXPECT_EQ(s.compact({6, true}).status(), errors::future_revision());
  EXPECT_TRUE(s.compact({5, true}).is_ok());
}

TEST(KvStore, CompactRemovesDeletedKeysEntirely) {
  Store s;
  must_put(s, "gone", "v");  // 2
  must_delete(s, "gone");    // 3
  must_put(s, "stay", "v");  // 4
  EXPECT_EQ(s.key_count(), 2u);
  const int64_t before = s.size_bytes();
  ASSERT_TRUE(s.compact({4, false}).is_ok());
  EXPECT_EQ(s.key_count(), 1u);
  EXPECT_LT(s.size_bytes(), before);
  EXPECT_TRUE(get(s, "gone", "", 4).kvs.empty());
  // A tombstone exactly at the compact revision stays until a later compaction.
  must_delete(s, "stay");  // 5
  ASSERT_TRUE(s.compact({5, false}).is_ok());
  EXPECT_EQ(s.key_count(), 1u);
  must_put(s, "other", "v");  // 6
  ASSERT_TRUE(s.compact({6, false}).is_ok());
  EXPECT_EQ(s.key_count(), 1u);
  EXPECT_EQ(keys_of(get(s, "a", "z")), std::vector<std::string>{"other"});
}

TEST(KvStore, QuotaRefusesPutsButAllowsReadsDeletesAndCompaction) {
  StoreOptions o;
  o.quota_bytes = 1000;
  Store s(o);
  int i = 0;
  Status last;
  while (true) {
    PutRequest p;
    p.key = "key" + std::to_string(i++);
    p.value = std::string(100, 'v');
    auto r = s.put(p);
    if (!r.is_ok()) {
      last = r.status();
      break;
    }
  }
  EXPECT_EQ(last, errors::no_space());
  EXPECT_EQ(last.code(), Code::kResourceExhausted);
  EXPECT_EQ(last.message(), "etcdserver: mvcc: database space exceeded");
  EXPECT_LE(s.size_bytes(), 1000);
  const int64_t rev = s.revision();
  // Txn with a put refused; read-only txn and lease grant behave as etcd's capped applier.
  TxnRequest t;
  t.success.push_back(test::put_op("k", std::string(500, 'x')));
  EXPECT_EQ(s.txn(t).status(), errors::no_space());
  TxnRequest ro;
  ro.success.push_back(test::range_op("key0"));
  EXPECT_TRUE(s.txn(ro).is_ok());
  EXPECT_EQ(s.revision(), rev);
  // Reads work.
  EXPECT_EQ(get(s, "key0").kvs.size(), 1u);
  // Deletes work, and compaction frees the space so puts work again.
  EXPECT_GT(must_delete(s, "key", "kez").deleted, 0);
  ASSERT_TRUE(s.compact({s.revision(), false}).is_ok());
  EXPECT_FALSE(s.space_exceeded());
  EXPECT_TRUE(s.put(test::put_req("again", "v")).is_ok());
}

TEST(KvStore, QuotaRefusesLeaseGrantAndReportsSpaceExceeded) {
  StoreOptions o;
  o.quota_bytes = 200;
  Store s(o);
  EXPECT_TRUE(s.lease_grant({10, 1}, test::at(0)).is_ok());
  EXPECT_TRUE(s.put(test::put_req("k", std::string(200 - 64 - 64 - 1, 'v'))).is_ok());
  EXPECT_EQ(s.size_bytes(), 200);
  EXPECT_TRUE(s.space_exceeded());
  EXPECT_EQ(s.lease_grant({10, 2}, test::at(0)).status(), errors::no_space());
  EXPECT_EQ(s.put(test::put_req("k", "")).status(), errors::no_space());
}

}  // namespace
}  // namespace kv
