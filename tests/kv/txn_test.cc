// Txn: compares on every target and result, branches, nested transactions, one revision
// per transaction, reads of the transaction's own writes, and etcd's duplicate-key rule.
#include <gtest/gtest.h>

#include "kv/store.h"
#include "kv_test_util.h"

namespace kv {
namespace {

using test::cmp_value;
using test::cmp_version;
using test::del_op;
using test::get;
using test::must_put;
using test::put_op;
using test::range_op;
using test::txn_op;
using R = Compare::Result;
using T = Compare::Target;

TxnResponse must_txn(Store& s, const TxnRequest& t) {
  auto r = s.txn(t);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? r.value() : TxnResponse{};
}

Compare cmp(const std::string& k, T target, R result, int64_t n) {
  Compare c;
  c.key = k;
  c.target = target;
  c.result = result;
  c.version = c.create_revision = c.mod_revision = c.lease = n;
  return c;
}

TEST(KvTxn, WritesShareOneRevision) {
  Store s;
  TxnRequest t;
  t.success = {put_op("a", "1"), put_op("b", "2"), del_op("zzz")};
  auto r = must_txn(s, t);
  EXPECT_TRUE(r.succeeded);
  EXPECT_EQ(r.revision, 2);
  EXPECT_EQ(s.revision(), 2);
  EXPECT_EQ(get(s, "a").kvs.at(0).mod_revision, 2);
  EXPECT_EQ(get(s, "b").kvs.at(0).mod_revision, 2);
  ASSERT_EQ(r.responses.size(), 3u);
  EXPECT_EQ(std::get<PutResponse>(r.responses[0].response).revision, 2);
  EXPECT_EQ(std::get<DeleteRangeResponse>(r.responses[2].response).deleted, 0);
}

TEST(KvTxn, ReadOnlyOrNoOpTxnKeepsTheRevision) {
  Store s;
  must_put(s, "a", "1");
  TxnRequest t;
  t.success = {range_op("a"), del_op("missing")};
  auto r = must_txn(s, t);
  EXPECT_EQ(r.revision, 2);
  EXPECT_EQ(s.revision(), 2);
  EXPECT_EQ(std::get<RangeResponse>(r.responses[0].response).kvs.at(0).value, "1");
}

TEST(KvTxn, LaterOpsSeeEarlierWrites) {
  Store s;
  must_put(s, "k", "old");
  TxnRequest t;
  t.success = {range_op("k"), put_op("k", "new"), range_op("k")};
  auto r = must_txn(s, t);
  auto& before = std::get<RangeResponse>(r.responses[0].response);
  auto& after = std::get<RangeResponse>(r.responses[2].response);
  EXPECT_EQ(before.kvs.at(0).value, "old");
  EXPECT_EQ(before.revision, 2);
  EXPECT_EQ(after.kvs.at(0).value, "new");
  EXPECT_EQ(after.kvs.at(0).version, 2);
  EXPECT_EQ(after.revision, 3);
}

TEST(KvTxn, RangeAtAPastRevisionInsideATxn) {
  Store s;
  must_put(s, "k", "v1");  // 2
  must_put(s, "k", "v2");  // 3
  RangeRequest past;
  past.key = "k";
  past.revision = 2;
  TxnRequest t;
  t.success = {put_op("k", "v3"), RequestOp{past}};
  auto r = must_txn(s, t);
  EXPECT_EQ(std::get<RangeResponse>(r.responses[1].response).kvs.at(0).value, "v1");
  ASSERT_TRUE(s.compact({3, false}).is_ok());
  EXPECT_EQ(s.txn(t).status(), errors::compacted());
}

TEST(KvTxn, CompareTargetsAndResults) {
  Store s;
  ASSERT_TRUE(s.lease_grant({100, 9}, test::at(0)).is_ok());
  must_put(s, "k", "b", 9);  // create 2, mod 2, version 1
  must_put(s, "k", "b", 9);  // mod 3, version 2
  struct Case {
    Compare c;
    bool want;
  };
  const std::vector<Case> cases = {
      {cmp("k", T::kVersion, R::kEqual, 2), true},
      {cmp("k", T::kVersion, R::kGreater, 1), true},
      {cmp("k", T::kVersion, R::kLess, 2), false},
      {cmp("k", T::kVersion, R::kNotEqual, 2), false},
      {cmp("k", T::kCreate, R::kEqual, 2), true},
      {cmp("k", T::kCreate, R::kGreater, 2), false},
      {cmp("k", T::kMod, R::kEqual, 3), true},
      {cmp("k", T::kMod, R::kLess, 4), true},
      {cmp("k", T::kLease, R::kEqual, 9), true},
      {cmp("k", T::kLease, R::kNotEqual, 9), false},
      {cmp_value("k", R::kEqual, "b"), true},
      {cmp_value("k", R::kGreater, "a"), true},
      {cmp_value("k", R::kLess, "c"), true},
      {cmp_value("k", R::kLess, "b"), false},
      {cmp_value("k", R::kNotEqual, "x"), true},
      // A missing key compares as zeros; a value compare on it always fails.
      {cmp("nokey", T::kVersion, R::kEqual, 0), true},
      {cmp("nokey", T::kCreate, R::kEqual, 0), true},
      {cmp("nokey", T::kMod, R::kGreater, 0), false},
      {cmp_value("nokey", R::kEqual, ""), false},
      {cmp_value("nokey", R::kNotEqual, "x"), false},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    TxnRequest t;
    t.compare = {cases[i].c};
    EXPECT_EQ(must_txn(s, t).succeeded, cases[i].want) << "case " << i;
  }
}

TEST(KvTxn, RangeCompareNeedsEveryKey) {
  Store s;
  must_put(s, "p/a", "1");
  must_put(s, "p/b", "1");
  must_put(s, "p/c", "2");
  TxnRequest t;
  Compare c = cmp_value("p/", R::kEqual, "1");
  c.range_end = "p0";
  t.compare = {c};
  EXPECT_FALSE(must_txn(s, t).succeeded);
  t.compare[0].range_end = "p/c";
  EXPECT_TRUE(must_txn(s, t).succeeded);
  // An empty range compares as zeros.
  t.compare = {cmp("q/", T::kVersion, R::kEqual, 0)};
  t.compare[0].range_end = "q0";
  EXPECT_TRUE(must_txn(s, t).succeeded);
}

TEST(KvTxn, CompareListIsAConjunctionAndPicksTheBranch) {
  Store s;
  must_put(s, "k", "v");
  TxnRequest t;
  t.compare = {cmp_version("k", R::kEqual, 1), cmp_value("k", R::kEqual, "other")};
  t.success = {put_op("s", "1")};
  t.failure = {put_op("f", "1"), range_op("k")};
  auto r = must_txn(s, t);
  EXPECT_FALSE(r.succeeded);
  ASSERT_EQ(r.responses.size(), 2u);
  EXPECT_TRUE(get(s, "s").kvs.empty());
  EXPECT_EQ(get(s, "f").kvs.size(), 1u);
}

TEST(KvTxn, NestedTxnsRunWithTheOuterRevisionAndDecideUpFront) {
  Store s;
  must_put(s, "k", "v");  // 2
  TxnRequest inner;
  // Evaluated against the state before the outer txn (etcd 3.4): "n" does not exist yet
  // even though the outer txn puts it first.
  inner.compare = {cmp_version("n", R::kEqual, 0)};
  inner.success = {put_op("inner-then", "1")};
  inner.failure = {put_op("inner-else", "1")};
  TxnRequest outer;
  outer.success = {put_op("n", "1"), txn_op(inner)};
  auto r = must_txn(s, outer);
  EXPECT_EQ(r.revision, 3);
  ASSERT_EQ(r.responses.size(), 2u);
  auto nested = std::get<std::shared_ptr<TxnResponse>>(r.responses[1].response);
  EXPECT_TRUE(nested->succeeded);
  EXPECT_EQ(get(s, "inner-then").kvs.at(0).mod_revision, 3);
  EXPECT_TRUE(get(s, "inner-else").kvs.empty());
}

TEST(KvTxn, DuplicateKeysAreRefusedAsEtcdDoes) {
  Store s;
  must_put(s, "a", "1");
  const Status dup = errors::duplicate_key();
  auto check = [&](std::vector<RequestOp> ops, bool refused) {
    TxnRequest t;
    t.success = std::move(ops);
    auto r = s.txn(t);
    if (refused) {
      EXPECT_EQ(r.status(), dup);
    } else {
      EXPECT_TRUE(r.is_ok()) << r.status().message();
    }
  };
  check({put_op("x", "1"), put_op("x", "2")}, true);
  check({put_op("x", "1"), del_op("x")}, true);
  check({del_op("a", "z"), put_op("b", "2")}, true);
  check({del_op("a", "c"), del_op("b", "d")}, false);  // overlapping deletes are allowed
  check({put_op("x", "1"), put_op("y", "1")}, false);
  // Across nesting.
  TxnRequest n1;
  n1.success = {put_op("x", "1")};
  check({put_op("x", "2"), txn_op(n1)}, true);
  TxnRequest n2;
  n2.success = {put_op("y", "1")};
  n2.failure = {put_op("y", "2")};  // then/else exclude each other
  check({txn_op(n2)}, false);
  TxnRequest n3;
  n3.failure = {del_op("x")};
  check({put_op("x", "1"), txn_op(n3)}, true);
  // Each branch is checked on its own: the same key in success and failure is fine.
  TxnRequest t;
  t.success = {put_op("x", "1")};
  t.failure = {put_op("x", "2")};
  EXPECT_TRUE(s.txn(t).is_ok());
  EXPECT_EQ(dup.message(), "etcdserver: duplicate key given in txn request");
  EXPECT_EQ(dup.code(), Code::kInvalidArgument);
}

TEST(KvTxn, ErrorsChangeNothing) {
  StoreOptions o;
  o.max_txn_ops = 3;
  Store s(o);
  must_put(s, "k", "v");
  const int64_t rev = s.revision();
  TxnRequest t;
  t.success = {put_op("a", "1"), put_op("b", "1"), put_op("c", "1"), put_op("d", "1")};
  EXPECT_EQ(s.txn(t).status(), errors::too_many_ops());
  // An op's own error (an unknown lease on the second put) fails the whole txn up front.
  t.success = {put_op("a", "1"), RequestOp{test::put_req("b", "1", 77)}};
  EXPECT_EQ(s.txn(t).status(), errors::lease_not_found());
  // A range at a future revision, and an empty compare key.
  RangeRequest future;
  future.key = "k";
  future.revision = 100;
  t.success = {put_op("a", "1"), RequestOp{future}};
  EXPECT_EQ(s.txn(t).status(), errors::future_revision());
  t.success = {};
  t.compare = {cmp_version("", R::kEqual, 0)};
  EXPECT_EQ(s.txn(t).status(), errors::empty_key());
  EXPECT_EQ(s.revision(), rev);
  EXPECT_TRUE(get(s, "a").kvs.empty());
  // An error on the branch that does not run does not matter.
  TxnRequest ok;
  ok.compare = {cmp_version("k", R::kEqual, 1)};
  ok.success = {put_op("a", "1")};
  ok.failure = {RequestOp{test::put_req("b", "1", 77)}};
  EXPECT_TRUE(s.txn(ok).is_ok());
}

}  // namespace
}  // namespace kv
