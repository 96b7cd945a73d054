#include "server/context.h"

#include "node/raft_node.h"
#include "server/errors.h"
#include "server/kv_state_machine.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;

grpc::Status not_for_learner() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "etcdserver: rpc not supported for learner");
}

// etcd 3.4 (v3rpc interceptor): a learner serves only Status and serializable Range;
// clients move on to another endpoint on Unavailable.
bool learner_may_serve(const google::protobuf::Message& req) {
  if (req.GetDescriptor() == pb::StatusRequest::descriptor()) return true;
  if (req.GetDescriptor() == pb::RangeRequest::descriptor()) {
    return static_cast<const pb::RangeRequest&>(req).serializable();
  }
  return false;
}

grpc::Status parse(const absl::StatusOr<std::string>& r, in::Result* result) {
  if (!r.ok()) return to_grpc(r.status());
  if (!result->ParseFromString(*r)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "raftkv: unreadable apply result");
  }
  if (result->code() != 0) {
    return grpc::Status(static_cast<grpc::StatusCode>(result->code()), result->message());
  }
  return grpc::Status::OK;
}

}  // namespace

void Context::header(pb::ResponseHeader* h) const {
  h->set_cluster_id(config->cluster_id);
  h->set_member_id(config->node.id.value());
  h->set_raft_term(node->term().value());
}

grpc::Status Context::gate(const google::protobuf::Message& req) const {
  if (req.ByteSizeLong() > config->node.max_request_bytes) return too_large();
  if (sm->self_is_learner() && !learner_may_serve(req)) return not_for_learner();
  return grpc::Status::OK;
}

grpc::Status Context::gate_stream() const {
  return sm->self_is_learner() ? not_for_learner() : grpc::Status::OK;
}

grpc::Status Context::write(const in::Command& c, in::Result* result) const {
  return parse(node->client_write(c.SerializeAsString(), config->request_timeout), result);
}

void Context::write_async(const in::Command& c, grpc::ServerUnaryReactor* reactor,
                          std::function<void(const in::Result&)> fill) const {
  node->client_write_async(c.SerializeAsString(), config->request_timeout,
                           [reactor, fill = std::move(fill)](absl::StatusOr<std::string> r) {
                             in::Result result;
                             grpc::Status s = parse(r, &result);
                             if (s.ok()) fill(result);
                             reactor->Finish(s);
                           });
}

grpc::Status Context::read_barrier() const {
  return to_grpc(node->linearizable_read(config->request_timeout));
}

}  // namespace server
