// etcd's Cluster service: members through the log, checked as etcd checks them.
#include <grpcpp/grpcpp.h>
#include <xxhash.h>

#include "absl/random/random.h"
#include "absl/time/clock.h"
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

class ClusterService {
 public:
  explicit ClusterService(Context c) : c_(c) {}

  grpc::Status MemberAdd(grpc::ServerContext* ctx, const pb::MemberAddRequest* req,
                         pb::MemberAddResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    const std::vector<std::string> urls(req->peerurls().begin(), req->peerurls().end());
    if (auto no =
            security::check_member_add(urls, req->islearner(), views(), c_.config->cluster_limits,
                                       c_.config->peer_allowed_networks)) {
      return refusal(*no);
    }
    const uint64_t id = fresh_id(req->peerurls(0));
    in::Command c;
    in::MemberAttributes* a = c.mutable_member_attributes();
    a->set_id(id);
    *a->mutable_peer_urls() = req->peerurls();
    in::Result r;
    if (auto s = c_.write(admitted.who, c, &r); !s.ok()) return s;
    if (auto s = c_.node->add_node(raft::NodeId(id), req->islearner(), c_.config->request_timeout,
                                   admitted.who.user);
        !s.ok()) {
      return to_grpc(s);
    }
    resp->mutable_member()->set_id(id);
    *resp->mutable_member()->mutable_peerurls() = req->peerurls();
    resp->mutable_member()->set_islearner(req->islearner());
    read_own_change();
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status MemberRemove(grpc::ServerContext* ctx, const pb::MemberRemoveRequest* req,
                            pb::MemberRemoveResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    if (auto s = check_member(req->id()); !s.ok()) return s;
    if (auto s = c_.node->remove_node(raft::NodeId(req->id()), c_.config->request_timeout,
                                      admitted.who.user);
        !s.ok()) {
      return to_grpc(s);
    }
    // A member that removed itself serves no reads any more.
    if (req->id() != c_.config->node.id.value()) read_own_change();
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status MemberUpdate(grpc::ServerContext* ctx, const pb::MemberUpdateRequest* req,
                            pb::MemberUpdateResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    const std::vector<std::string> urls(req->peerurls().begin(), req->peerurls().end());
    if (auto no = security::check_member_update(req->id(), urls, views(),
                                                c_.config->peer_allowed_networks)) {
      return refusal(*no);
    }
    in::Command c;
    c.mutable_member_attributes()->set_id(req->id());
    *c.mutable_member_attributes()->mutable_peer_urls() = req->peerurls();
    in::Result r;
    if (auto s = c_.write(admitted.who, c, &r); !s.ok()) return s;
    read_own_change();
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status MemberList(grpc::ServerContext* ctx, const pb::MemberListRequest* req,
                          pb::MemberListResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    // A member that joined and has not applied its cluster's configuration yet knows no
    // members: it answers once caught up to the leader (a linearizable list), never with
    // an empty one (etcd's joining member fetched the list from its peers at start).
    if (req->linearizable() || c_.sm->membership().voters.empty()) {
      if (auto s = c_.read_barrier(); !s.ok()) return s;
    }
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

  grpc::Status MemberPromote(grpc::ServerContext* ctx, const pb::MemberPromoteRequest* req,
                             pb::MemberPromoteResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    const raft::Membership m = c_.sm->membership();
    if (!m.contains(raft::NodeId(req->id()))) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "etcdserver: member not found");
    }
    if (!m.learners.contains(raft::NodeId(req->id()))) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "etcdserver: can only promote a learner member");
    }
    if (auto s = c_.node->promote_node(raft::NodeId(req->id()), c_.config->request_timeout,
                                       admitted.who.user);
        !s.ok()) {
      return to_grpc(s);
    }
    read_own_change();
    list(resp->mutable_members());
    c_.header(resp->mutable_header());
    return grpc::Status::OK;
  }

 private:
  // etcd's code and words for each refusal: etcd's exact string where etcd refuses the
  // same thing (clients match some by string), with the detail where its string alone
  // would not say what is wrong.
  static grpc::Status refusal(const security::MemberRefusal& no) {
    using K = security::MemberRefusalKind;
    switch (no.kind) {
      case K::kBadUrl:
      case K::kUrlNotAllowed:
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "etcdserver: given member URLs are invalid: " + no.detail);
      case K::kUrlInUse:
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "etcdserver: Peer URLs already exists");
      case K::kTooManyLearners:
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "etcdserver: too many learner members in cluster");
      case K::kTooManyVoters:
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "etcdserver: too many members in cluster: " + no.detail);
      case K::kUnknownMember:
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "etcdserver: member not found");
    }
    return grpc::Status(grpc::StatusCode::INTERNAL, "raftkv: unknown member refusal");
  }
  // etcd's rule: each addition gets an id of its own (a hash of the URL, the token and
  // the time, here also a random number), so a member removed and added again is a new
  // member, and its old data directory cannot rejoin under the old id (its peers refuse
  // a removed member). Never 0, never one a member has or had.
  uint64_t fresh_id(const std::string& url) const {
    const raft::Membership m = c_.sm->membership();
    absl::BitGen random;  // one per call: gRPC runs calls on several threads
    for (;;) {
      const std::string key = c_.config->cluster_token + "\n" + url + "\n" +
                              std::to_string(absl::ToUnixNanos(absl::Now())) + "\n" +
                              std::to_string(absl::Uniform<uint64_t>(random));
      const uint64_t id = XXH3_64bits(key.data(), key.size());
      if (id != 0 && !m.contains(raft::NodeId(id)) && !c_.node->is_removed(raft::NodeId(id))) {
        return id;
      }
    }
  }
  // A change through a follower commits on the leader first: wait until this member has
  // applied it too, so the answer's member list, and the caller's next membership call
  // on this member, see it (etcd's members answer after applying). If the barrier
  // fails (the leader was lost), the change stands and the list may lag it.
  void read_own_change() const { (void)c_.read_barrier(); }
  std::vector<security::MemberView> views() const {
    std::vector<security::MemberView> out;
    for (const pb::Member& m : c_.sm->members()) {
      out.push_back({.id = m.id(),
                     .peer_urls = {m.peerurls().begin(), m.peerurls().end()},
                     .learner = m.islearner()});
    }
    return out;
  }
  grpc::Status check_member(uint64_t id) const {
    if (c_.sm->membership().contains(raft::NodeId(id))) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "etcdserver: member not found");
  }
  void list(google::protobuf::RepeatedPtrField<pb::Member>* out) {
    for (pb::Member& m : c_.sm->members()) *out->Add() = std::move(m);
  }
  Context c_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_cluster_service(Context c, CompletionQueueMethods* methods) {
  using Service = pb::Cluster::AsyncService;
  auto service = std::make_unique<Service>();
  auto impl = std::make_shared<ClusterService>(c);
  methods->blocking(service.get(), &Service::RequestMemberAdd, impl, &ClusterService::MemberAdd);
  methods->blocking(service.get(), &Service::RequestMemberRemove, impl,
                    &ClusterService::MemberRemove);
  methods->blocking(service.get(), &Service::RequestMemberUpdate, impl,
                    &ClusterService::MemberUpdate);
  methods->blocking(service.get(), &Service::RequestMemberList, impl, &ClusterService::MemberList);
  methods->blocking(service.get(), &Service::RequestMemberPromote, impl,
                    &ClusterService::MemberPromote);
  return service;
}

}  // namespace server
