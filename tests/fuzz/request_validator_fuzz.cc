// Fuzz target: etcd's request rules at the gate (server/request_validator.h) on requests
// protobuf parses from the fuzzer's bytes. Byte 0 picks the type (Put, Range,
// DeleteRange, Txn, LeaseGrant), byte 1 --max-txn-ops (1 to 256), the rest is the message.
// Properties:
// - validate_request never crashes;
// - a refusal is INVALID_ARGUMENT or OUT_OF_RANGE with a message starting "etcdserver: "
//   or "raftkv: ";
// - the gate and the store agree: a Txn is accepted exactly when kv::validate_txn accepts
//   it as the store will see it (to_kv), and refused with the same code and message; the
//   same for a Put and kv::validate_put;
// - a Txn the gate calls read-only has no put or delete anywhere in it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "etcd/rpc.pb.h"
#include "fuzz/fuzz_util.h"
#include "kv/txn_check.h"
#include "server/kv_convert.h"
#include "server/request_validator.h"

namespace {

namespace pb = etcdserverpb;

std::string text(const grpc::Status& s) {
  return std::to_string(static_cast<int>(s.error_code())) + " " + s.error_message();
}
std::string text(const kv::Status& s) {
  return std::to_string(static_cast<int>(s.code())) + " " + s.message();
}

// The gate's answer and the store's are the same.
void check_agree(const grpc::Status& gate, const kv::Status& store) {
  FUZZ_CHECK(gate.ok() == store.is_ok(), "gate " + text(gate) + ", store " + text(store));
  if (gate.ok()) return;
  FUZZ_CHECK(static_cast<int>(gate.error_code()) == static_cast<int>(store.code()) &&
                 gate.error_message() == store.message(),
             "gate " + text(gate) + ", store " + text(store));
}

bool writes(const kv::TxnRequest& txn) {
  for (const auto* branch : {&txn.success, &txn.failure}) {
    for (const kv::RequestOp& op : *branch) {
      if (std::holds_alternative<kv::PutRequest>(op.request) ||
          std::holds_alternative<kv::DeleteRangeRequest>(op.request)) {
        return true;
      }
      if (const auto* t = std::get_if<std::shared_ptr<kv::TxnRequest>>(&op.request);
          t != nullptr && *t != nullptr && writes(**t)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const server::RequestRules rules{.max_txn_ops = 1 + data[1]};
  const uint8_t* body = data + 2;
  const int n = static_cast<int>(size - 2);
  pb::PutRequest put;
  pb::RangeRequest range;
  pb::DeleteRangeRequest del;
  pb::TxnRequest txn;
  pb::LeaseGrantRequest grant;
  google::protobuf::Message* messages[] = {&put, &range, &del, &txn, &grant};
  google::protobuf::Message* req = messages[data[0] % 5];
  if (!req->ParseFromArray(body, n)) return 0;

  const grpc::Status gate = server::validate_request(*req, rules);
  if (!gate.ok()) {
    FUZZ_CHECK(gate.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                   gate.error_code() == grpc::StatusCode::OUT_OF_RANGE,
               text(gate));
    FUZZ_CHECK(gate.error_message().starts_with("etcdserver: ") ||
                   gate.error_message().starts_with("raftkv: "),
               text(gate));
  }
  if (req == &txn) {
    const kv::TxnRequest converted = server::to_kv(txn);
    check_agree(gate, kv::validate_txn(converted, rules.max_txn_ops));
    if (server::txn_is_read_only(txn)) FUZZ_CHECK(!writes(converted), txn.DebugString());
  } else if (req == &put) {
    check_agree(gate, kv::validate_put(server::to_kv(put)));
  }
  return 0;
}
