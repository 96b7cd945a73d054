#include "server/request_validator.h"

#include <algorithm>

#include "etcd/rpc.pb.h"
#include "kv/errors.h"
#include "kv/store.h"
#include "kv/txn_check.h"
#include "server/kv_convert.h"

namespace server {
namespace {

namespace pb = etcdserverpb;

grpc::Status to_grpc(const kv::Status& s) {
  return s.is_ok() ? grpc::Status::OK
                   : grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

grpc::Status check(const pb::RangeRequest& r) {
  if (r.key().empty()) return to_grpc(kv::errors::empty_key());
  if (!pb::RangeRequest_SortOrder_IsValid(r.sort_order()) ||
      !pb::RangeRequest_SortTarget_IsValid(r.sort_target())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: invalid sort option");
  }
  return grpc::Status::OK;
}

// The checks of kv::validate_put, on the message itself: no copy of a large value.
grpc::Status check(const pb::PutRequest& r) {
  if (r.key().empty()) return to_grpc(kv::errors::empty_key());
  if (r.ignore_value() && !r.value().empty()) return to_grpc(kv::errors::value_provided());
  if (r.ignore_lease() && r.lease() != 0) return to_grpc(kv::errors::lease_provided());
  return grpc::Status::OK;
}

grpc::Status check(const pb::DeleteRangeRequest& r) {
  if (r.key().empty()) return to_grpc(kv::errors::empty_key());
  return grpc::Status::OK;
}

grpc::Status check(const pb::TxnRequest& r, const RequestRules& rules) {
  // The count first, before converting anything: a Txn of a million ops is refused cheaply.
  const int max = static_cast<int>(std::min<int64_t>(rules.max_txn_ops, INT32_MAX));
  if (r.compare_size() > max || r.success_size() > max || r.failure_size() > max) {
    return to_grpc(kv::errors::too_many_ops());
  }
  return to_grpc(kv::validate_txn(to_kv(r), rules.max_txn_ops));
}

grpc::Status check(const pb::LeaseGrantRequest& r) {
  if (r.ttl() > kv::kMaxLeaseTtl) return to_grpc(kv::errors::lease_ttl_too_large());
  return grpc::Status::OK;
}

}  // namespace

bool txn_is_read_only(const pb::TxnRequest& txn) {
  for (const auto* branch : {&txn.success(), &txn.failure()}) {
    for (const pb::RequestOp& op : *branch) {
      if (op.has_request_put() || op.has_request_delete_range()) return false;
      if (op.has_request_txn() && !txn_is_read_only(op.request_txn())) return false;
    }
  }
  return true;
}

grpc::Status validate_request(const google::protobuf::Message& req, const RequestRules& rules) {
  const google::protobuf::Descriptor* d = req.GetDescriptor();
  if (d == pb::PutRequest::descriptor()) return check(static_cast<const pb::PutRequest&>(req));
  if (d == pb::RangeRequest::descriptor()) return check(static_cast<const pb::RangeRequest&>(req));
  if (d == pb::DeleteRangeRequest::descriptor()) {
    return check(static_cast<const pb::DeleteRangeRequest&>(req));
  }
  if (d == pb::TxnRequest::descriptor()) {
    return check(static_cast<const pb::TxnRequest&>(req), rules);
  }
  if (d == pb::LeaseGrantRequest::descriptor()) {
    return check(static_cast<const pb::LeaseGrantRequest&>(req));
  }
  return grpc::Status::OK;
}

}  // namespace server
