#include "server/kv_convert.h"

#include <memory>

namespace server {

namespace pb = etcdserverpb;

kv::RangeRequest to_kv(const pb::RangeRequest& r) {
  kv::RangeRequest k;
  k.key = r.key();
  k.range_end = r.range_end();
  k.limit = r.limit();
  k.revision = r.revision();
  k.sort_order = static_cast<kv::RangeRequest::SortOrder>(r.sort_order());
  k.sort_target = static_cast<kv::RangeRequest::SortTarget>(r.sort_target());
  k.serializable = r.serializable();
  k.keys_only = r.keys_only();
  k.count_only = r.count_only();
  k.min_mod_revision = r.min_mod_revision();
  k.max_mod_revision = r.max_mod_revision();
  k.min_create_revision = r.min_create_revision();
  k.max_create_revision = r.max_create_revision();
  return k;
}

kv::PutRequest to_kv(const pb::PutRequest& r) {
  return kv::PutRequest{r.key(),     r.value(),        r.lease(),
                        r.prev_kv(), r.ignore_value(), r.ignore_lease()};
}

kv::DeleteRangeRequest to_kv(const pb::DeleteRangeRequest& r) {
  return kv::DeleteRangeRequest{r.key(), r.range_end(), r.prev_kv()};
}

kv::RequestOp to_kv(const pb::RequestOp& op) {
  kv::RequestOp k;
  switch (op.request_case()) {
    case pb::RequestOp::kRequestRange:
      k.request = to_kv(op.request_range());
      break;
    case pb::RequestOp::kRequestPut:
      k.request = to_kv(op.request_put());
      break;
    case pb::RequestOp::kRequestDeleteRange:
      k.request = to_kv(op.request_delete_range());
      break;
    case pb::RequestOp::kRequestTxn:
      k.request = std::make_shared<kv::TxnRequest>(to_kv(op.request_txn()));
      break;
    case pb::RequestOp::REQUEST_NOT_SET:
      // etcd treats an empty op as an empty range; an empty key is refused by the store.
      k.request = kv::RangeRequest{};
      break;
  }
  return k;
}

kv::TxnRequest to_kv(const pb::TxnRequest& r) {
  kv::TxnRequest t;
  for (const pb::Compare& c : r.compare()) {
    kv::Compare k;
    k.result = static_cast<kv::Compare::Result>(c.result());
    k.target = static_cast<kv::Compare::Target>(c.target());
    k.key = c.key();
    k.range_end = c.range_end();
    k.version = c.version();
    k.create_revision = c.create_revision();
    k.mod_revision = c.mod_revision();
    k.value = c.value();
    k.lease = c.lease();
    t.compare.push_back(std::move(k));
  }
  for (const pb::RequestOp& op : r.success()) t.success.push_back(to_kv(op));
  for (const pb::RequestOp& op : r.failure()) t.failure.push_back(to_kv(op));
  return t;
}

}  // namespace server
