#include "server/errors.h"

#include <string>

#include "node/node_error.h"

namespace server {
namespace {

using node::NodeErrorKind;

// etcd's words for the runtime's kinds (reference/etcd-api.md, "Errors").
std::string etcd_message(NodeErrorKind kind, const absl::Status& s) {
  switch (kind) {
    case NodeErrorKind::kNotLeader:
      return "etcdserver: not leader";
    case NodeErrorKind::kNoLeader:
      return "etcdserver: no leader";
    case NodeErrorKind::kLeaderUnreachable:
      return "etcdserver: leader unreachable";
    case NodeErrorKind::kLeaderChanged:
      return "etcdserver: leader changed";
    case NodeErrorKind::kTimedOut:
    case NodeErrorKind::kChangePending:
      return "etcdserver: request timed out";
    case NodeErrorKind::kStopped:
      return "etcdserver: server stopped";
    case NodeErrorKind::kProposalDropped:
      return "etcdserver: " + std::string(s.message());
    case NodeErrorKind::kOverloaded:
      return "etcdserver: too many requests";  // etcd's ErrTooManyRequests
    case NodeErrorKind::kMalformed:
      break;
  }
  return std::string(s.message());
}

}  // namespace

grpc::Status to_grpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(s.code());
  if (const std::optional<NodeErrorKind> kind = node::node_error_kind(s)) {
    return grpc::Status(code, etcd_message(*kind, s));
  }
  return grpc::Status(code, std::string(s.message()));
}

grpc::Status too_large() {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: request is too large");
}

}  // namespace server
