#include "server/auth_check.h"

#include "raftkv/admin.pb.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
using security::PermType;

absl::Status check(const security::AuthStore& auth, const Identity& who, const std::string& key,
                   const std::string& range_end, PermType type) {
  return auth.check_key(who.user, who.auth_revision, key, range_end, type);
}

absl::Status check_op(const security::AuthStore& auth, const Identity& who,
                      const pb::RequestOp& op) {
  switch (op.request_case()) {
    case pb::RequestOp::kRequestRange:
      return check_keys(auth, who, op.request_range());
    case pb::RequestOp::kRequestPut:
      return check_keys(auth, who, op.request_put());
    case pb::RequestOp::kRequestDeleteRange:
      return check_keys(auth, who, op.request_delete_range());
    case pb::RequestOp::kRequestTxn:
      return check_txn(auth, who, op.request_txn());
    case pb::RequestOp::REQUEST_NOT_SET:
      break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status check_txn(const security::AuthStore& auth, const Identity& who,
                       const pb::TxnRequest& txn) {
  for (const pb::Compare& c : txn.compare()) {
    if (absl::Status s = check(auth, who, c.key(), c.range_end(), PermType::kRead); !s.ok()) {
      return s;
    }
  }
  for (const auto* ops : {&txn.success(), &txn.failure()}) {
    for (const pb::RequestOp& op : *ops) {
      if (absl::Status s = check_op(auth, who, op); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status check_keys(const security::AuthStore& auth, const Identity& who,
                        const google::protobuf::Message& req) {
  if (!auth.enabled()) return absl::OkStatus();
  const auto* d = req.GetDescriptor();
  if (d == pb::RangeRequest::descriptor()) {
    const auto& r = static_cast<const pb::RangeRequest&>(req);
    return check(auth, who, r.key(), r.range_end(), PermType::kRead);
  }
  if (d == pb::PutRequest::descriptor()) {
    const auto& r = static_cast<const pb::PutRequest&>(req);
    absl::Status s = check(auth, who, r.key(), "", PermType::kWrite);
    if (s.ok() && r.prev_kv()) s = check(auth, who, r.key(), "", PermType::kRead);
    return s;
  }
  if (d == pb::DeleteRangeRequest::descriptor()) {
    const auto& r = static_cast<const pb::DeleteRangeRequest&>(req);
    absl::Status s = check(auth, who, r.key(), r.range_end(), PermType::kWrite);
    if (s.ok() && r.prev_kv()) s = check(auth, who, r.key(), r.range_end(), PermType::kRead);
    return s;
  }
  if (d == pb::TxnRequest::descriptor()) {
    return check_txn(auth, who, static_cast<const pb::TxnRequest&>(req));
  }
  return absl::OkStatus();
}

std::optional<std::string_view> cluster_action(const google::protobuf::Message& req) {
  const auto* d = req.GetDescriptor();
  if (d == pb::MemberAddRequest::descriptor()) return "add_node";
  if (d == pb::MemberRemoveRequest::descriptor()) return "remove_node";
  if (d == pb::MemberPromoteRequest::descriptor()) return "promote_node";
  if (d == pb::MemberUpdateRequest::descriptor()) return "update_node";
  if (d == pb::MoveLeaderRequest::descriptor() ||
      d == raftkv::admin::TransferLeadershipRequest::descriptor()) {
    return "transfer_leader";
  }
  // SetTimeouts and SetLimits take these messages; GetTimeouts and GetLimits other ones.
  if (d == raftkv::admin::Timeouts::descriptor() || d == raftkv::admin::Limits::descriptor()) {
    return "change_config";
  }
  if (d == raftkv::admin::Authz::descriptor()) return "manage_auth";  // SetAuthz
  // raftkv's own looks at the cluster's settings. etcd's Status and MemberList stay
  // open, as etcd's tools expect, and so do raftkv's Status and Health, which every
  // member's status page asks the others for (open, as etcd's /metrics is).
  if (d == raftkv::admin::GetTimeoutsRequest::descriptor() ||
      d == raftkv::admin::GetLimitsRequest::descriptor() ||
      d == raftkv::admin::GetAuthzRequest::descriptor()) {
    return "view_status";
  }
  if (d == pb::CompactionRequest::descriptor()) return "compact";
  if (d == pb::DefragmentRequest::descriptor()) return "defragment";
  if (d == pb::SnapshotRequest::descriptor()) return "snapshot";
  if (d == pb::HashRequest::descriptor() || d == pb::HashKVRequest::descriptor()) {
    return "view_status";  // etcd lets only root read the store's hash
  }
  if (d == pb::AlarmRequest::descriptor() &&
      static_cast<const pb::AlarmRequest&>(req).action() != pb::AlarmRequest::GET) {
    return "alarm";
  }
  return std::nullopt;
}

}  // namespace server
