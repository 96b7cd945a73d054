// raftkv.Admin: what etcd's API has no call for (timeouts, transfer, status).
#include <grpcpp/grpcpp.h>

#include "etcd/rpc.grpc.pb.h"
#include "node/raft_node.h"
#include "raftkv/admin.grpc.pb.h"
#include "raftkv/internal.pb.h"
#include "security/enforcer.h"
#include "server/context.h"
#include "server/errors.h"
#include "server/health_monitor.h"
#include "server/kv_state_machine.h"
#include "server/limits_proto.h"
#include "server/services.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;

class AdminService {
 public:
  explicit AdminService(Context c) : c_(c) {}

  grpc::Status GetTimeouts(grpc::ServerContext* ctx, const raftkv::admin::GetTimeoutsRequest* req,
                           raftkv::admin::Timeouts* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    to_pb(c_.node->timeouts(), resp);
    return grpc::Status::OK;
  }

  grpc::Status SetTimeouts(grpc::ServerContext* ctx, const raftkv::admin::Timeouts* req,
                           raftkv::admin::Timeouts* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    const node::TimeoutsMs t{req->heartbeat_ms(), req->election_min_ms(), req->election_max_ms()};
    if (auto s = c_.node->update_timeouts(t, c_.config->request_timeout, admitted.who.user);
        !s.ok()) {
      return to_grpc(s);
    }
    // What is in force, whole ticks, not what was asked for (a member applies the
    // rounded values; `timeouts get` then says the same).
    const uint32_t tick = c_.config->node.tick_ms;
    to_pb(node::to_ms(node::to_ticks(t, tick), tick), resp);
    return grpc::Status::OK;
  }

  grpc::Status TransferLeadership(grpc::ServerContext* ctx,
                                  const raftkv::admin::TransferLeadershipRequest* req,
                                  raftkv::admin::TransferLeadershipResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    const raft::NodeId to(req->target_id());
    if (!c_.sm->membership().is_voter(to)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "node " + hex(req->target_id()) + " is not a voting member");
    }
    if (to != c_.node->leader()) {
      if (auto s = c_.node->transfer_leadership(to, c_.config->request_timeout, admitted.who.user);
          !s.ok()) {
        return to_grpc(s);
      }
    }
    // transfer_leadership returns once `to` leads; this member (a follower, or the old
    // leader) may not have heard from the new leader yet, so its own view can still be
    // "no leader" for a moment.
    resp->set_leader(to.value());
    return grpc::Status::OK;
  }

  grpc::Status GetLimits(grpc::ServerContext* ctx, const raftkv::admin::GetLimitsRequest* req,
                         raftkv::admin::GetLimitsResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    *resp->mutable_limits() = to_proto(c_.limiter->config());
    // This call's own permit is not counted.
    const limits::Usage u = c_.limiter->member_usage();
    // (With no limit set the gate holds no permit, and nothing is counted.)
    const bool counted = admitted.permit.held();
    resp->set_in_flight(u.in_flight - (counted ? 1 : 0));
    resp->set_in_flight_bytes(u.bytes -
                              (counted ? std::min<uint64_t>(u.bytes, req->ByteSizeLong()) : 0));
    resp->set_admitted(c_.limiter->admitted());
    for (size_t i = 0; i < limits::kLimitCount; ++i) {
      const auto l = static_cast<limits::Limit>(i);
      (*resp->mutable_refused())[limits::limit_name(l)] = c_.limiter->refused(l);
    }
    return grpc::Status::OK;
  }

  grpc::Status SetLimits(grpc::ServerContext* ctx, const raftkv::admin::Limits* req,
                         raftkv::admin::Limits* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    if (absl::Status s = limits::validate(from_proto(*req)); !s.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message()));
    }
    in::Command c;
    *c.mutable_set_limits() = *req;
    in::Result r;
    if (auto s = c_.write(admitted.who, c, &r); !s.ok()) return s;
    *resp = r.set_limits();
    return grpc::Status::OK;
  }

  grpc::Status GetAuthz(grpc::ServerContext* ctx, const raftkv::admin::GetAuthzRequest* req,
                        raftkv::admin::Authz* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    *resp = c_.sm->authz();
    return grpc::Status::OK;
  }

  grpc::Status SetAuthz(grpc::ServerContext* ctx, const raftkv::admin::Authz* req,
                        raftkv::admin::Authz* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    // Checked here first, so a policy that does not load never reaches the log; every
    // member checks it again when it applies.
    absl::StatusOr<security::Enforcer> e = security::Enforcer::create(
        req->model(), req->model_name().empty() ? "model.conf" : req->model_name(), req->policy(),
        req->policy_name().empty() ? "policy.csv" : req->policy_name());
    if (!e.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(e.status().message()));
    }
    in::Command c;
    raftkv::admin::Authz* a = c.mutable_set_authz();
    *a = *req;
    if (a->model_name().empty()) a->set_model_name("model.conf");
    if (a->policy_name().empty()) a->set_policy_name("policy.csv");
    a->clear_revision();
    a->clear_fingerprint();
    in::Result r;
    if (auto s = c_.write(admitted.who, c, &r); !s.ok()) return s;
    *resp = r.authz();
    return grpc::Status::OK;
  }

  grpc::Status Health(grpc::ServerContext* ctx, const raftkv::admin::HealthRequest* req,
                      raftkv::admin::HealthResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    const metrics::HealthScore h = c_.health->evaluate();
    resp->set_id(c_.config->node.id.value());
    resp->set_name(c_.config->node.name);
    resp->set_score(h.score);
    for (const metrics::HealthReason& r : h.reasons) {
      raftkv::admin::HealthReason* out = resp->add_reasons();
      out->set_input(r.input);
      out->set_detail(r.detail);
      out->set_threshold(r.threshold);
      out->set_penalty(r.penalty);
    }
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext* ctx, const raftkv::admin::StatusRequest* req,
                      raftkv::admin::StatusResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    const node::NodeState st = c_.node->status();
    resp->set_cluster_id(c_.config->cluster_id);
    resp->set_id(c_.config->node.id.value());
    resp->set_name(c_.config->node.name);
    resp->set_role(std::string(raft::role_name(st.core.role)));
    resp->set_term(st.core.term.value());
    resp->set_leader(st.core.leader.value());
    resp->set_commit(st.core.commit.value());
    resp->set_applied(st.applied.value());
    resp->set_last_index(st.core.last_index.value());
    resp->set_snapshot_index(st.snapshot_index.value());
    resp->set_learner(st.membership.learners.contains(c_.config->node.id));
    to_pb(st.timeouts, resp->mutable_timeouts());
    for (const raft::PeerStatus& p : st.core.peers) {
      raftkv::admin::PeerProgress* pp = resp->add_peers();
      pp->set_id(p.id.value());
      pp->set_match(p.match.value());
      pp->set_next(p.next.value());
      pp->set_voter(p.voter);
      pp->set_recent_active(p.recent_active);
    }
    resp->set_revision(c_.sm->revision());
    return grpc::Status::OK;
  }

 private:
  static void to_pb(const node::TimeoutsMs& t, raftkv::admin::Timeouts* out) {
    out->set_heartbeat_ms(t.heartbeat_ms);
    out->set_election_min_ms(t.election_min_ms);
    out->set_election_max_ms(t.election_max_ms);
  }
  static std::string hex(uint64_t id) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
    return buf;
  }
  Context c_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_admin_service(Context c, CompletionQueueMethods* methods) {
  using Service = raftkv::admin::Admin::AsyncService;
  auto service = std::make_unique<Service>();
  auto impl = std::make_shared<AdminService>(c);
  methods->blocking(service.get(), &Service::RequestGetTimeouts, impl, &AdminService::GetTimeouts);
  methods->blocking(service.get(), &Service::RequestSetTimeouts, impl, &AdminService::SetTimeouts);
  methods->blocking(service.get(), &Service::RequestTransferLeadership, impl,
                    &AdminService::TransferLeadership);
  methods->blocking(service.get(), &Service::RequestGetLimits, impl, &AdminService::GetLimits);
  methods->blocking(service.get(), &Service::RequestSetLimits, impl, &AdminService::SetLimits);
  methods->blocking(service.get(), &Service::RequestGetAuthz, impl, &AdminService::GetAuthz);
  methods->blocking(service.get(), &Service::RequestSetAuthz, impl, &AdminService::SetAuthz);
  methods->blocking(service.get(), &Service::RequestHealth, impl, &AdminService::Health);
  methods->blocking(service.get(), &Service::RequestStatus, impl, &AdminService::Status);
  return service;
}

}  // namespace server
