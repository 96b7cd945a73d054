// etcd's KV service (Range, Put, DeleteRange, Txn, Compact) on gRPC's callback API.
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

// The KV service on gRPC's callback API: no thread waits for a write or a ReadIndex
// round; the runtime finishes the RPC when the entry is applied or the read is safe.
class KvService final : public pb::KV::CallbackService {
 public:
  explicit KvService(Context c) : c_(c) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx, const pb::RangeRequest* req,
                                  pb::RangeResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) {
      reactor->Finish(admitted.status);
      return reactor;
    }
    auto held = std::make_shared<limits::Permit>(std::move(admitted.permit));
    auto serve = [c = c_, req, resp, reactor, held, who = admitted.who](absl::Status barrier) {
      held->release();  // the range itself runs now; the budget is for waiting requests
      if (!barrier.ok()) return reactor->Finish(to_grpc(barrier));
      grpc::Status s = req->serializable() ? c.sm->range(*req, resp)
                                           : c.sm->range_after_barrier(who, *req, resp);
      if (s.ok()) c.header(resp->mutable_header());
      reactor->Finish(s);
    };
    if (req->serializable()) {
      serve(absl::OkStatus());
    } else {
      c_.node->linearizable_read_async(c_.config->request_timeout, std::move(serve));
    }
    return reactor;
  }

  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const pb::PutRequest* req,
                                pb::PutResponse* resp) override {
    in::Command c;
    *c.mutable_put() = *req;
    return write(ctx, *req, c, resp, &in::Result::put);
  }

  grpc::ServerUnaryReactor* DeleteRange(grpc::CallbackServerContext* ctx,
                                        const pb::DeleteRangeRequest* req,
                                        pb::DeleteRangeResponse* resp) override {
    in::Command c;
    *c.mutable_delete_range() = *req;
    return write(ctx, *req, c, resp, &in::Result::delete_range);
  }

  grpc::ServerUnaryReactor* Txn(grpc::CallbackServerContext* ctx, const pb::TxnRequest* req,
                                pb::TxnResponse* resp) override {
    in::Command c;
    *c.mutable_txn() = *req;
    return write(ctx, *req, c, resp, &in::Result::txn);
  }

  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const pb::CompactionRequest* req,
                                    pb::CompactionResponse* resp) override {
    in::Command c;
    *c.mutable_compaction() = *req;
    return write(ctx, *req, c, resp, &in::Result::compaction);
  }

 private:
  // Gates `req`, replicates `c`, and answers with the part of the result `pick` names.
  template <typename Resp>
  grpc::ServerUnaryReactor* write(grpc::CallbackServerContext* ctx,
                                  const google::protobuf::Message& req, const in::Command& c,
                                  Resp* resp, const Resp& (in::Result::*pick)() const) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    Admission admitted = c_.gate(ctx, req);
    if (!admitted.ok()) {
      reactor->Finish(admitted.status);
      return reactor;
    }
    c_.write_async(admitted.who, c, reactor, std::move(admitted.permit),
                   [c = c_, resp, pick](const in::Result& r) {
                     *resp = (r.*pick)();
                     c.header(resp->mutable_header());
                   });
    return reactor;
  }

  Context c_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_kv_service(Context c) { return std::make_unique<KvService>(c); }

}  // namespace server
