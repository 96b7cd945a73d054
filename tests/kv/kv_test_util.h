// Small builders shared by the kv tests, so each test reads as the etcd call it makes.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kv/errors.h"
#include "kv/store.h"

namespace kv::test {

inline PutResponse must_put(Store& s, const std::string& k, const std::string& v,
                            int64_t lease = 0) {
  PutRequest r;
  r.key = k;
  r.value = v;
  r.lease = lease;
  auto res = s.put(r);
  EXPECT_TRUE(res.is_ok()) << res.status().message();
  return res.is_ok() ? res.value() : PutResponse{};
}

inline DeleteRangeResponse must_delete(Store& s, const std::string& k,
                                       const std::string& end = "") {
  DeleteRangeRequest r;
  r.key = k;
  r.range_end = end;
  auto res = s.delete_range(r);
  EXPECT_TRUE(res.is_ok()) << res.status().message();
  return res.is_ok() ? res.value() : DeleteRangeResponse{};
}

inline RangeResponse must_range(const Store& s, RangeRequest r) {
  auto res = s.range(r);
  EXPECT_TRUE(res.is_ok()) << res.status().message();
  return res.is_ok() ? res.value() : RangeResponse{};
}

inline RangeRequest range_req(const std::string& k, int64_t rev) {
  RangeRequest r;
  r.key = k;
  r.revision = rev;
  return r;
}

inline PutRequest put_req(const std::string& k, const std::string& v, int64_t lease = 0) {
  PutRequest r;
  r.key = k;
  r.value = v;
  r.lease = lease;
  return r;
}

inline RangeResponse get(const Store& s, const std::string& k, const std::string& end = "",
                         int64_t rev = 0) {
  RangeRequest r;
  r.key = k;
  r.range_end = end;
  r.revision = rev;
  return must_range(s, r);
}

inline std::vector<std::string> keys_of(const RangeResponse& r) {
  std::vector<std::string> out;
  for (const auto& kv : r.kvs) out.push_back(kv.key);
  return out;
}

inline RequestOp put_op(const std::string& k, const std::string& v) {
  PutRequest p;
  p.key = k;
  p.value = v;
  return RequestOp{p};
}

inline RequestOp del_op(const std::string& k, const std::string& end = "") {
  DeleteRangeRequest d;
  d.key = k;
  d.range_end = end;
  return RequestOp{d};
}

inline RequestOp range_op(const std::string& k, const std::string& end = "") {
  RangeRequest r;
  r.key = k;
  r.range_end = end;
  return RequestOp{r};
}

inline RequestOp txn_op(TxnRequest t) {
  return RequestOp{std::make_shared<TxnRequest>(std::move(t))};
}

inline Compare cmp_version(const std::string& k, Compare::Result r, int64_t v) {
  Compare c;
  c.key = k;
  c.target = Compare::Target::kVersion;
  c.result = r;
  c.version = v;
  return c;
}

inline Compare cmp_value(const std::string& k, Compare::Result r, const std::string& v) {
  Compare c;
  c.key = k;
  c.target = Compare::Target::kValue;
  c.result = r;
  c.value = v;
  return c;
}

inline TimePoint at(int64_t seconds) { return TimePoint{} + std::chrono::seconds(seconds); }

}  // namespace kv::test
