#include "server/context.h"

#include "node/node_error.h"
#include "node/raft_node.h"
#include "server/auth_check.h"
#include "server/errors.h"
#include "server/kv_state_machine.h"
#include "server/request_validator.h"
#include "server/retry_hint.h"
#include "transport/port_mux.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;

grpc::Status not_for_learner() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "etcdserver: rpc not supported for learner");
}

// Status and a serializable Range: answered from the member's own state, without Raft.
// etcd 3.4 (v3rpc interceptor) lets a learner serve these alone; clients move on to
// another endpoint on Unavailable. They wait behind no queue (limits::Request::queued).
bool answered_locally(const google::protobuf::Message& req) {
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

// Requests that change the store count against the write byte rate.
bool is_write(const google::protobuf::Message& req) {
  const auto* d = req.GetDescriptor();
  return d == pb::PutRequest::descriptor() || d == pb::DeleteRangeRequest::descriptor() ||
         d == pb::TxnRequest::descriptor() || d == pb::CompactionRequest::descriptor() ||
         d == pb::LeaseGrantRequest::descriptor() || d == pb::LeaseRevokeRequest::descriptor();
}

std::string certificate_user(const grpc::ServerContextBase& ctx) {
  // A certificate the port verified (--client-cert-auth): its CN is the user, as in etcd.
  const std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return "";
  const std::vector<grpc::string_ref> cn = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (cn.empty()) return "";
  return std::string(cn.front().data(), std::min<size_t>(cn.front().size(), 128));
}

std::string entry_for(const Identity& who, const in::Command& c) {
  std::string entry = c.SerializeAsString();
  // Serialized messages concatenate as a merge: the user is appended, not copied in
  // with the command (a put's value may be large).
  if (!who.user.empty()) {
    in::Command u;
    u.set_user(who.user);
    u.set_auth_revision(who.auth_revision);
    entry += u.SerializeAsString();
  }
  return entry;
}

std::string client_key(const grpc::ServerContextBase& ctx, bool trust_client_id,
                       const std::string& user) {
  if (!user.empty()) return "user:" + user;
  if (trust_client_id) {
    const auto& md = ctx.client_metadata();
    if (auto it = md.find("client-id"); it != md.end() && !it->second.empty()) {
      return "id:" + std::string(it->second.data(), std::min<size_t>(it->second.size(), 128));
    }
  }
  // "ipv4:127.0.0.1:5000" or "ipv6:[::1]:5000": the address without the port. A
  // connection the client port handed to gRPC is "fd:N" to gRPC (port_mux.h).
  std::string peer = transport::peer_address(ctx.peer());
  const size_t scheme = peer.find(':');
  const size_t port = peer.rfind(':');
  if (scheme != std::string::npos && port != std::string::npos && port > scheme) {
    peer = peer.substr(scheme + 1, port - scheme - 1);
    if (peer.size() >= 2 && peer.front() == '[' && peer.back() == ']') {
      peer = peer.substr(1, peer.size() - 2);
    }
  }
  return peer;
}

absl::StatusOr<Identity> Context::identify(const grpc::ServerContextBase& ctx) const {
  if (!sm->auth_enabled()) return Identity{.user = certificate_user(ctx), .auth_revision = 0};
  const auto& md = ctx.client_metadata();
  if (auto it = md.find("token"); it != md.end()) {
    return sm->identify_token(std::string_view(it->second.data(), it->second.size()));
  }
  std::string user = certificate_user(ctx);
  if (user.empty()) return Identity{};
  return Identity{.user = std::move(user), .auth_revision = sm->auth_revision()};
}

std::string Context::client_of(const grpc::ServerContextBase& ctx) const {
  absl::StatusOr<Identity> who = identify(ctx);
  return client_key(ctx, config->limits_trust_client_id, who.ok() ? who->user : std::string());
}

absl::Status Context::authorize(const Identity& who, std::string_view action) const {
  return sm->authorize(who, action);
}

Admission Context::gate(grpc::ServerContextBase* ctx, const google::protobuf::Message& req) const {
  const size_t bytes = req.ByteSizeLong();
  if (bytes > config->node.max_request_bytes) return {too_large(), {}, {}};
  // etcd's request rules, before anything else: a malformed request is refused whoever
  // sends it, and never becomes a log entry.
  if (grpc::Status s = validate_request(req, {.max_txn_ops = config->store.max_txn_ops}); !s.ok()) {
    return {s, {}, {}};
  }
  if (sm->self_is_learner() && !answered_locally(req)) return {not_for_learner(), {}, {}};
  // An armed alarm stops the writes it caps before they are proposed (etcd's quota and
  // capped applier); apply refuses them again, so a proposal already under way changes
  // nothing either.
  if (std::optional<grpc::Status> capped = sm->refused_by_alarm(req)) return {*capped, {}, {}};
  // Authenticate is how a client replaces an expired token: one it still sends does not
  // stand in its way.
  absl::StatusOr<Identity> who = req.GetDescriptor() == pb::AuthenticateRequest::descriptor()
                                     ? absl::StatusOr<Identity>(Identity{})
                                     : identify(*ctx);
  if (!who.ok()) return {to_grpc(who.status()), {}, {}};
  if (sm->auth_enabled()) {
    const std::optional<std::string_view> action = cluster_action(req);
    absl::Status allowed = action ? authorize(*who, *action) : sm->check_keys(*who, req);
    if (!allowed.ok()) return {to_grpc(allowed), {}, {}};
  }
  // etcd's overload rule (no new proposal while applying trails committing too far) is
  // the core's, on the leader, for every proposal: node::OverloadBounds.
  // With no limit set the limiter only counts: no lock, no client key.
  if (!limiter->active()) {
    return {grpc::Status::OK, std::get<limits::Permit>(limiter->admit({}, {}, {})),
            *std::move(who)};
  }
  const std::string client = client_key(*ctx, config->limits_trust_client_id, who->user);
  const limits::Clock::time_point now = limits::Clock::now();
  limits::Request r{.bytes = bytes, .write = is_write(req), .queued = !answered_locally(req)};
  // gRPC gives the client's deadline on the system clock; the limiter keeps time on
  // the steady one.
  if (const auto deadline = ctx->deadline();
      deadline != std::chrono::system_clock::time_point::max()) {
    r.deadline = now + std::chrono::duration_cast<limits::Clock::duration>(
                           deadline - std::chrono::system_clock::now());
  }
  auto admitted = limiter->admit(client, r, now);
  if (auto* no = std::get_if<limits::Refusal>(&admitted)) {
    set_retry_after(ctx, no->retry_after);
    return {grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                         "etcdserver: too many requests: " + no->message),
            {},
            {}};
  }
  return {grpc::Status::OK, std::get<limits::Permit>(std::move(admitted)), *std::move(who)};
}

grpc::Status Context::gate_stream() const {
  return sm->self_is_learner() ? not_for_learner() : grpc::Status::OK;
}

grpc::Status Context::write(const Identity& who, const in::Command& c, in::Result* result) const {
  return parse(node->client_write(entry_for(who, c), config->request_timeout), result);
}

void Context::write_async(const Identity& who, const in::Command& c,
                          std::function<void(const grpc::Status&)> finish, limits::Permit permit,
                          std::function<void(in::Result&)> fill) const {
  // std::function needs a copyable callable: the permit rides in a shared_ptr, released
  // when the runtime drops the callback after running it (or on stop, without running).
  auto held = std::make_shared<limits::Permit>(std::move(permit));
  node->client_write_async(
      entry_for(who, c), config->request_timeout,
      [finish = std::move(finish), fill = std::move(fill), held](absl::StatusOr<std::string> r) {
        const bool refused =
            !r.ok() && node::is_node_error(r.status(), node::NodeErrorKind::kOverloaded);
        in::Result result;
        grpc::Status s = parse(r, &result);
        if (s.ok()) fill(result);
        // Answered: the budget is free again. The runtime's own
        // overload refusals were not served (Permit::release_unserved).
        refused ? held->release_unserved() : held->release();
        finish(s);
      });
}

grpc::Status Context::read_barrier() const {
  return to_grpc(node->linearizable_read(config->request_timeout));
}

}  // namespace server
