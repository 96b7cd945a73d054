#include "security/auth_error.h"

#include <array>
#include <string>

#include "absl/strings/cord.h"

namespace security {
namespace {

// The payload's type URL; its value is the kind's name.
constexpr char kTypeUrl[] = "type.raftkv.io/security.AuthError";

struct KindInfo {
  AuthErrorKind kind;
  std::string_view name;
  absl::StatusCode code;  // the code etcd answers this case with
};

constexpr std::array<KindInfo, 18> kKinds = {{
    {AuthErrorKind::kUserEmpty, "user_empty", absl::StatusCode::kInvalidArgument},
    {AuthErrorKind::kUserAlreadyExists, "user_already_exists",
     absl::StatusCode::kFailedPrecondition},
    {AuthErrorKind::kUserNotFound, "user_not_found", absl::StatusCode::kFailedPrecondition},
    {AuthErrorKind::kRoleEmpty, "role_empty", absl::StatusCode::kInvalidArgument},
    {AuthErrorKind::kRoleAlreadyExists, "role_already_exists",
     absl::StatusCode::kFailedPrecondition},
    {AuthErrorKind::kRoleNotFound, "role_not_found", absl::StatusCode::kFailedPrecondition},
    {AuthErrorKind::kAuthFailed, "auth_failed", absl::StatusCode::kInvalidArgument},
    {AuthErrorKind::kPermissionDenied, "permission_denied", absl::StatusCode::kPermissionDenied},
    {AuthErrorKind::kRoleNotGranted, "role_not_granted", absl::StatusCode::kFailedPrecondition},
    {AuthErrorKind::kPermissionNotGranted, "permission_not_granted",
     absl::StatusCode::kFailedPrecondition},
    {AuthErrorKind::kAuthNotEnabled, "auth_not_enabled", absl::StatusCode::kFailedPrecondition},
    {AuthErrorKind::kInvalidToken, "invalid_token", absl::StatusCode::kUnauthenticated},
    {AuthErrorKind::kInvalidAuthManagement, "invalid_auth_management",
     absl::StatusCode::kInvalidArgument},
    {AuthErrorKind::kRootUserNotExist, "root_user_not_exist",
     absl::StatusCode::kFailedPrecondition},
    {AuthErrorKind::kRootRoleNotGranted, "root_role_not_granted",
     absl::StatusCode::kFailedPrecondition},
    {AuthErrorKind::kOldRevision, "old_revision", absl::StatusCode::kInvalidArgument},
    {AuthErrorKind::kBadPassword, "bad_password", absl::StatusCode::kInvalidArgument},
    {AuthErrorKind::kActionDenied, "action_denied", absl::StatusCode::kPermissionDenied},
}};

const KindInfo* info(AuthErrorKind kind) {
  for (const KindInfo& k : kKinds) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

}  // namespace

absl::Status auth_error(AuthErrorKind kind, std::string_view message) {
  const KindInfo* k = info(kind);
  absl::Status s(k->code, std::string(message));
  s.SetPayload(kTypeUrl, absl::Cord(std::string(k->name)));
  return s;
}

std::optional<AuthErrorKind> auth_error_kind(const absl::Status& status) {
  const auto payload = status.GetPayload(kTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  const std::string name(*payload);
  for (const KindInfo& k : kKinds) {
    if (k.name == name) return k.kind;
  }
  return std::nullopt;
}

bool is_auth_error(const absl::Status& status, AuthErrorKind kind) {
  return auth_error_kind(status) == kind;
}

std::string_view kind_name(AuthErrorKind kind) { return info(kind)->name; }

}  // namespace security
