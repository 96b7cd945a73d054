// Typed authentication and authorization errors. The kind travels in the absl::Status's
// payload so callers decide by kind, never by message text; the server gives each kind
// etcd's exact wording at its edge (server/errors.cc), since etcd's clients match strings.
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace security {

enum class AuthErrorKind {
  kUserEmpty,              // auth is on and the request names no user (no token)
  kUserAlreadyExists,      // UserAdd of a name in use
  kUserNotFound,           // the named user does not exist
  kRoleEmpty,              // RoleAdd with an empty name
  kRoleAlreadyExists,      // RoleAdd of a name in use
  kRoleNotFound,           // the named role does not exist
  kAuthFailed,             // wrong user or password (never says which)
  kPermissionDenied,       // the user's roles do not allow it
  kRoleNotGranted,         // UserRevokeRole of a role the user lacks
  kPermissionNotGranted,   // RoleRevokePermission of a range the role lacks
  kAuthNotEnabled,         // Authenticate while auth is off
  kInvalidToken,           // the token is unknown or expired
  kInvalidAuthManagement,  // would leave auth on without root (delete root, revoke its role)
  kRootUserNotExist,       // AuthEnable without a user named root
  kRootRoleNotGranted,     // AuthEnable while root lacks the root role
  kOldRevision,            // admitted under an auth revision that has changed since
  kBadPassword,            // a password bcrypt cannot take (too long, NUL byte)
  kActionDenied,           // the authorization policy does not allow a cluster operation
};

// A status of `kind`'s gRPC-compatible code carrying the kind; `message` is for people.
absl::Status auth_error(AuthErrorKind kind, std::string_view message);
// The kind `status` carries, if it is an auth error.
std::optional<AuthErrorKind> auth_error_kind(const absl::Status& status);
bool is_auth_error(const absl::Status& status, AuthErrorKind kind);
std::string_view kind_name(AuthErrorKind kind);

}  // namespace security
