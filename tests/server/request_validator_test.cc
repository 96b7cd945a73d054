// etcd's request rules at the gate, as a table: each malformed request is refused with
// etcd's code and words (or raftkv's, where etcd accepts nonsense), before it could be
// proposed. The cluster test (tests/cluster/validation_test.py) shows the log index does
// not move for each.
#include "server/request_validator.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "etcd/rpc.pb.h"

namespace server {
namespace {

namespace pb = etcdserverpb;

struct Case {
  std::string what;
  std::function<void(pb::TxnRequest&)> build;  // a Txn, the richest request
  grpc::StatusCode code;
  std::string message;  // empty: accepted
};

pb::RequestOp put_op(const std::string& key) {
  pb::RequestOp op;
  op.mutable_request_put()->set_key(key);
  op.mutable_request_put()->set_value("v");
  return op;
}

TEST(RequestValidator, RefusesEachMalformedTxnWithEtcdsWords) {
  const RequestRules rules{.max_txn_ops = 4};
  const Case cases[] = {
      {"a well-formed txn",
       [](pb::TxnRequest& t) {
         auto* c = t.add_compare();
         c->set_key("a");
         c->set_target(pb::Compare::MOD);
         *t.add_success() = put_op("a");
         *t.add_failure() = put_op("a");  // then and else exclude each other
       },
       grpc::StatusCode::OK, ""},
      {"max ops in each part",
       [](pb::TxnRequest& t) {
         for (int i = 0; i < 4; ++i) *t.add_success() = put_op("k" + std::to_string(i));
       },
       grpc::StatusCode::OK, ""},
      {"one op over --max-txn-ops",
       [](pb::TxnRequest& t) {
         for (int i = 0; i < 5; ++i) *t.add_success() = put_op("k" + std::to_string(i));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: too many operations in txn request"},
      {"too many compares",
       [](pb::TxnRequest& t) {
         for (int i = 0; i < 5; ++i) t.add_compare()->set_key("k");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: too many operations in txn request"},
      {"a key put twice",
       [](pb::TxnRequest& t) {
         *t.add_success() = put_op("a");
         *t.add_success() = put_op("a");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request"},
      {"an empty compare key", [](pb::TxnRequest& t) { t.add_compare(); },
       grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: key is not provided"},
      {"an empty put key", [](pb::TxnRequest& t) { *t.add_failure() = put_op(""); },
       grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: key is not provided"},
      {"compare target 99",
       [](pb::TxnRequest& t) {
         auto* c = t.add_compare();
         c->set_key("a");
         c->set_target(static_cast<pb::Compare::CompareTarget>(99));
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "raftkv: compare target 99 is not one of VERSION (0), CREATE (1), MOD (2), VALUE (3), "
       "LEASE (4)"},
      {"compare result -1",
       [](pb::TxnRequest& t) {
         auto* c = t.add_compare();
         c->set_key("a");
         c->set_result(static_cast<pb::Compare::CompareResult>(-1));
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "raftkv: compare result -1 is not one of EQUAL (0), GREATER (1), LESS (2), NOT_EQUAL (3)"},
      {"ignore_value with a value",
       [](pb::TxnRequest& t) {
         pb::RequestOp op = put_op("a");
         op.mutable_request_put()->set_ignore_value(true);
         *t.add_success() = op;
       },
       grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: value is provided"},
  };
  for (const Case& c : cases) {
    pb::TxnRequest txn;
    c.build(txn);
    const grpc::Status s = validate_request(txn, rules);
    EXPECT_EQ(s.error_code(), c.code) << c.what << ": " << s.error_message();
    EXPECT_EQ(s.error_message(), c.message) << c.what;
  }
}

TEST(RequestValidator, RefusesEmptyKeysBadSortOptionsAndHugeLeases) {
  const RequestRules rules;
  pb::RangeRequest range;
  EXPECT_EQ(validate_request(range, rules).error_message(), "etcdserver: key is not provided");
  range.set_key("a");
  EXPECT_TRUE(validate_request(range, rules).ok());
  range.set_sort_order(static_cast<pb::RangeRequest::SortOrder>(7));
  EXPECT_EQ(validate_request(range, rules).error_message(), "etcdserver: invalid sort option");

  pb::PutRequest put;
  EXPECT_EQ(validate_request(put, rules).error_message(), "etcdserver: key is not provided");
  put.set_key("a");
  put.set_lease(5);
  put.set_ignore_lease(true);
  EXPECT_EQ(validate_request(put, rules).error_message(), "etcdserver: lease is provided");

  pb::DeleteRangeRequest del;
  EXPECT_EQ(validate_request(del, rules).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  pb::LeaseGrantRequest grant;
  grant.set_ttl(9'000'000'000);
  EXPECT_TRUE(validate_request(grant, rules).ok());
  grant.set_ttl(9'000'000'001);
  const grpc::Status s = validate_request(grant, rules);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(s.error_message(), "etcdserver: too large lease TTL");

  // Other requests have no rules here.
  EXPECT_TRUE(validate_request(pb::StatusRequest(), rules).ok());
}

}  // namespace
}  // namespace server
