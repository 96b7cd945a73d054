// etcd's Lease service: grants and revokes through the log, keep-alives on the leader.
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

grpc::Status unreadable_answer() {
  return grpc::Status(grpc::StatusCode::INTERNAL,
                      "raftkv: the leader's lease answer is unreadable");
}

class LeaseService final : public pb::Lease::Service {
 public:
  explicit LeaseService(Context c) : c_(c) {}

  grpc::Status LeaseGrant(grpc::ServerContext* ctx, const pb::LeaseGrantRequest* req,
                          pb::LeaseGrantResponse* resp) override {
    in::Command c;
    *c.mutable_lease_grant() = *req;
    return replicate(ctx, *req, c, resp, &in::Result::lease_grant);
  }

  grpc::Status LeaseRevoke(grpc::ServerContext* ctx, const pb::LeaseRevokeRequest* req,
                           pb::LeaseRevokeResponse* resp) override {
    in::Command c;
    *c.mutable_lease_revoke() = *req;
    return replicate(ctx, *req, c, resp, &in::Result::lease_revoke);
  }

  grpc::Status LeaseKeepAlive(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<pb::LeaseKeepAliveResponse, pb::LeaseKeepAliveRequest>* stream)
      override {
    if (auto s = c_.gate_stream(); !s.ok()) return s;
    pb::LeaseKeepAliveRequest req;
    while (stream->Read(&req)) {
      Admission admitted = c_.gate(ctx, req);  // per message, held until it is answered
      if (!admitted.ok()) return admitted.status;
      in::LeaderCall call;
      *call.mutable_keep_alive() = req;
      absl::StatusOr<std::string> r =
          c_.node->leader_call(call.SerializeAsString(), c_.config->request_timeout);
      if (!r.ok()) return to_grpc(r.status());
      pb::LeaseKeepAliveResponse resp;
      if (!resp.ParseFromString(*r)) return unreadable_answer();
      c_.header(resp.mutable_header());
      if (!stream->Write(resp)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status LeaseTimeToLive(grpc::ServerContext* ctx, const pb::LeaseTimeToLiveRequest* req,
                               pb::LeaseTimeToLiveResponse* resp) override {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    in::LeaderCall call;
    *call.mutable_time_to_live() = *req;
    absl::StatusOr<std::string> r =
        c_.node->leader_call(call.SerializeAsString(), c_.config->request_timeout);
    if (!r.ok()) return to_grpc(r.status());
    if (!resp->ParseFromString(*r)) return unreadable_answer();
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status LeaseLeases(grpc::ServerContext* ctx, const pb::LeaseLeasesRequest* req,
                           pb::LeaseLeasesResponse* resp) override {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    if (auto s = c_.read_barrier(); !s.ok()) return s;
    c_.sm->lease_leases(resp);
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

 private:
  // Gates `req`, replicates `c` and answers with the part of the result `pick` names.
  template <typename Resp>
  grpc::Status replicate(grpc::ServerContext* ctx, const google::protobuf::Message& req,
                         const in::Command& c, Resp* resp,
                         const Resp& (in::Result::*pick)() const) {
    Admission admitted = c_.gate(ctx, req);
    if (!admitted.ok()) return admitted.status;
    in::Result r;
    if (auto s = c_.write(c, &r); !s.ok()) return s;
    *resp = (r.*pick)();
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  Context c_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_lease_service(Context c) {
  return std::make_unique<LeaseService>(c);
}

}  // namespace server
