#include "server/errors.h"

#include <string>

#include "node/node_error.h"
#include "security/auth_error.h"

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

// etcd's words for the auth kinds (etcd's rpctypes; clients compare them verbatim).
std::string etcd_message(security::AuthErrorKind kind, const absl::Status& s) {
  using K = security::AuthErrorKind;
  switch (kind) {
    case K::kUserEmpty:
      return "etcdserver: user name is empty";
    case K::kUserAlreadyExists:
      return "etcdserver: user name already exists";
    case K::kUserNotFound:
      return "etcdserver: user name not found";
    case K::kRoleEmpty:
      return "etcdserver: role name is empty";
    case K::kRoleAlreadyExists:
      return "etcdserver: role name already exists";
    case K::kRoleNotFound:
      return "etcdserver: role name not found";
    case K::kAuthFailed:
      return "etcdserver: authentication failed, invalid user ID or password";
    case K::kPermissionDenied:
      return "etcdserver: permission denied";
    case K::kRoleNotGranted:
      return "etcdserver: role is not granted to the user";
    case K::kPermissionNotGranted:
      return "etcdserver: permission is not granted to the role";
    case K::kAuthNotEnabled:
      return "etcdserver: authentication is not enabled";
    case K::kInvalidToken:
      return "etcdserver: invalid auth token";
    case K::kInvalidAuthManagement:
      return "etcdserver: invalid auth management";
    case K::kRootUserNotExist:
      return "etcdserver: root user does not exist";
    case K::kRootRoleNotGranted:
      return "etcdserver: root user does not have root role";
    case K::kOldRevision:
      return "etcdserver: revision of auth store is old";
    case K::kBadPassword:
      return "etcdserver: " + std::string(s.message());
    case K::kActionDenied:  // etcd's words, then who was refused what
      return "etcdserver: permission denied: " + std::string(s.message());
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
  if (const std::optional<security::AuthErrorKind> kind = security::auth_error_kind(s)) {
    return grpc::Status(code, etcd_message(*kind, s));
  }
  return grpc::Status(code, std::string(s.message()));
}

grpc::Status too_large() {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: request is too large");
}

}  // namespace server
