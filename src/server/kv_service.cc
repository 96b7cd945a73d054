// etcd's KV service (Range, Put, DeleteRange, Txn, Compact) on gRPC's completion-queue API.
#include <grpcpp/grpcpp.h>

#include "etcd/rpc.grpc.pb.h"
#include "node/raft_node.h"
#include "raftkv/internal.pb.h"
#include "server/context.h"
#include "server/errors.h"
#include "server/kv_state_machine.h"
#include "server/services.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;

template <class Req, class Resp>
using Call = transport::UnaryCall<Req, Resp>;

// The KV service: no thread waits for a write or a ReadIndex round; the runtime answers
// the call when the entry is applied or the read is safe. A call arrives on the
// completion queue's thread, which runs the handlers below (they do not block).
class KvService {
 public:
  explicit KvService(Context c) : c_(c) {}

  void range(Call<pb::RangeRequest, pb::RangeResponse>& call) {
    Admission admitted = c_.gate(&call.context(), call.request());
    if (!admitted.ok()) return call.finish(admitted.status);
    auto held = std::make_shared<limits::Permit>(std::move(admitted.permit));
    auto serve = [c = c_, &call, held, who = admitted.who](absl::Status barrier) {
      held->release();  // the range itself runs now; the budget is for waiting requests
      if (!barrier.ok()) return call.finish(to_grpc(barrier));
      const pb::RangeRequest& req = call.request();
      pb::RangeResponse* resp = call.response();
      grpc::Status s =
          req.serializable() ? c.sm->range(req, resp) : c.sm->range_after_barrier(who, req, resp);
      if (s.ok()) c.header(resp->mutable_header());
      call.finish(s);
    };
    if (call.request().serializable()) {
      serve(absl::OkStatus());
    } else {
      c_.node->linearizable_read_async(c_.config->request_timeout, std::move(serve));
    }
  }

  void put(Call<pb::PutRequest, pb::PutResponse>& call) {
    write(call, &in::Command::mutable_put, &in::Result::mutable_put);
  }

  void delete_range(Call<pb::DeleteRangeRequest, pb::DeleteRangeResponse>& call) {
    write(call, &in::Command::mutable_delete_range, &in::Result::mutable_delete_range);
  }

  void txn(Call<pb::TxnRequest, pb::TxnResponse>& call) {
    write(call, &in::Command::mutable_txn, &in::Result::mutable_txn);
  }

  void compact(Call<pb::CompactionRequest, pb::CompactionResponse>& call) {
    write(call, &in::Command::mutable_compaction, &in::Result::mutable_compaction);
  }

 private:
  // Gates the call's request, moves it into the command's field `field` names (not a
  // copy: a put's value may be large; the call's request is empty after), replicates the
  // command, and answers with the part of the result `pick` names, moved into the response.
  template <class Req, class Resp>
  void write(Call<Req, Resp>& call, Req* (in::Command::*field)(), Resp* (in::Result::*pick)()) {
    Admission admitted = c_.gate(&call.context(), call.request());
    if (!admitted.ok()) return call.finish(admitted.status);
    in::Command c;
    (c.*field)()->Swap(call.mutable_request());
    c_.write_async(
        admitted.who, c, [&call](const grpc::Status& s) { call.finish(s); },
        std::move(admitted.permit),
        [c = c_, resp = call.response(), pick](in::Result& r) {
          resp->Swap((r.*pick)());
          c.header(resp->mutable_header());
        });
  }

  Context c_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_kv_service(Context c, CompletionQueueMethods* methods) {
  using Service = pb::KV::AsyncService;
  auto service = std::make_unique<Service>();
  auto kv = std::make_shared<KvService>(c);
  methods->unary(service.get(), &Service::RequestRange, [kv](auto& call) { kv->range(call); });
  methods->unary(service.get(), &Service::RequestPut, [kv](auto& call) { kv->put(call); });
  methods->unary(service.get(), &Service::RequestDeleteRange,
                 [kv](auto& call) { kv->delete_range(call); });
  methods->unary(service.get(), &Service::RequestTxn, [kv](auto& call) { kv->txn(call); });
  methods->unary(service.get(), &Service::RequestCompact, [kv](auto& call) { kv->compact(call); });
  return service;
}

}  // namespace server
