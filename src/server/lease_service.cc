// etcd's Lease service: grants and revokes through the log, keep-alives on the leader.
#include <grpcpp/grpcpp.h>

#include <map>
#include <optional>
#include <set>

#include "etcd/rpc.grpc.pb.h"
#include "node/mutex.h"
#include "node/raft_node.h"
#include "raftkv/internal.pb.h"
#include "server/context.h"
#include "server/errors.h"
#include "server/kv_state_machine.h"
#include "server/retry_hint.h"
#include "server/services.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;

grpc::Status unreadable_answer() {
  return grpc::Status(grpc::StatusCode::INTERNAL,
                      "raftkv: the leader's lease answer is unreadable");
}

class LeaseService {
 public:
  explicit LeaseService(Context c) : c_(c) {}

  grpc::Status LeaseGrant(grpc::ServerContext* ctx, const pb::LeaseGrantRequest* req,
                          pb::LeaseGrantResponse* resp) {
    const std::string client = c_.client_of(*ctx);
    const std::optional<uint32_t> max = c_.limiter->config().for_client(client).max_leases;
    if (max.has_value() && !reserve_lease(client, *max)) {
      c_.limiter->count_refusal(limits::Limit::kLeases);
      set_retry_after(ctx, std::chrono::milliseconds(1000));
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "etcdserver: too many requests: client " + client +
                              " is over its limit of " + std::to_string(*max) + " leases");
    }
    in::Command c;
    *c.mutable_lease_grant() = *req;
    grpc::Status s = replicate(ctx, *req, c, resp, &in::Result::lease_grant);
    if (max.has_value()) settle_lease(client, s.ok() ? std::optional(resp->id()) : std::nullopt);
    return s;
  }

  grpc::Status LeaseRevoke(grpc::ServerContext* ctx, const pb::LeaseRevokeRequest* req,
                           pb::LeaseRevokeResponse* resp) {
    in::Command c;
    *c.mutable_lease_revoke() = *req;
    return replicate(ctx, *req, c, resp, &in::Result::lease_revoke);
  }

  grpc::Status LeaseKeepAlive(
      grpc::ServerContext* ctx,
      BlockingStream<
          grpc::ServerAsyncReaderWriter<pb::LeaseKeepAliveResponse, pb::LeaseKeepAliveRequest>,
          pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>* stream) {
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
                               pb::LeaseTimeToLiveResponse* resp) {
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
                           pb::LeaseLeasesResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    if (auto s = c_.read_barrier(); !s.ok()) return s;
    c_.sm->lease_leases(resp);
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

 private:
  // Leases per client: the leases each client was granted through this member, pruned of
  // those that no longer exist each time it asks for another, plus grants in flight.
  struct Owned {
    std::set<int64_t> leases;
    uint32_t pending = 0;
  };
  bool reserve_lease(const std::string& client, uint32_t max) {
    const std::set<int64_t> alive = c_.sm->lease_ids();
    node::MutexLock lock(&mu_);
    Owned& o = owned_[client];
    std::erase_if(o.leases, [&](int64_t id) { return !alive.contains(id); });
    if (o.leases.size() + o.pending >= max) return false;
    ++o.pending;
    return true;
  }
  void settle_lease(const std::string& client, std::optional<int64_t> granted) {
    node::MutexLock lock(&mu_);
    Owned& o = owned_[client];
    --o.pending;
    if (granted.has_value()) o.leases.insert(*granted);
  }

  node::Mutex mu_;
  std::map<std::string, Owned> owned_ ABSL_GUARDED_BY(mu_);

  // Gates `req`, replicates `c` and answers with the part of the result `pick` names.
  template <typename Resp>
  grpc::Status replicate(grpc::ServerContext* ctx, const google::protobuf::Message& req,
                         const in::Command& c, Resp* resp,
                         const Resp& (in::Result::*pick)() const) {
    Admission admitted = c_.gate(ctx, req);
    if (!admitted.ok()) return admitted.status;
    in::Result r;
    if (auto s = c_.write(admitted.who, c, &r); !s.ok()) return s;
    *resp = (r.*pick)();
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  Context c_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_lease_service(Context c, CompletionQueueMethods* methods) {
  using Service = pb::Lease::AsyncService;
  auto service = std::make_unique<Service>();
  auto impl = std::make_shared<LeaseService>(c);
  methods->blocking(service.get(), &Service::RequestLeaseGrant, impl, &LeaseService::LeaseGrant);
  methods->blocking(service.get(), &Service::RequestLeaseRevoke, impl, &LeaseService::LeaseRevoke);
  methods->blocking_bidi(
      service.get(), &Service::RequestLeaseKeepAlive,
      [impl](auto* ctx, auto*, auto* stream) { return impl->LeaseKeepAlive(ctx, stream); });
  methods->blocking(service.get(), &Service::RequestLeaseTimeToLive, impl,
                    &LeaseService::LeaseTimeToLive);
  methods->blocking(service.get(), &Service::RequestLeaseLeases, impl, &LeaseService::LeaseLeases);
  return service;
}

}  // namespace server
