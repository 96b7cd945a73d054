// etcd's protobuf requests as the store's structs (src/kv uses nothing of ours, so the
// server converts): for the state machine when it applies, and for the gate's checks.
#pragma once

#include "etcd/rpc.pb.h"
#include "kv/kv_messages.h"

namespace server {

kv::RangeRequest to_kv(const etcdserverpb::RangeRequest& r);
kv::PutRequest to_kv(const etcdserverpb::PutRequest& r);
kv::DeleteRangeRequest to_kv(const etcdserverpb::DeleteRangeRequest& r);
kv::RequestOp to_kv(const etcdserverpb::RequestOp& op);
kv::TxnRequest to_kv(const etcdserverpb::TxnRequest& r);

}  // namespace server
