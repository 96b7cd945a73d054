#include "security/auth_store.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "security/auth_error.h"
#include "security/text_util.h"

namespace security {
namespace {

bool allows(PermType granted, PermType wanted) {
  return granted == PermType::kReadWrite || granted == wanted;
}

}  // namespace

std::string_view perm_type_name(PermType type) {
  switch (type) {
    case PermType::kRead:
      return "READ";
    case PermType::kWrite:
      return "WRITE";
    case PermType::kReadWrite:
      return "READWRITE";
  }
  return "?";
}

KeyRanges::KeyRanges(const std::vector<const KeyPermission*>& ranges) {
  std::vector<Interval> have;
  have.reserve(ranges.size());
  for (const KeyPermission* p : ranges) {
    if (p->range_end.empty()) {
      have.push_back({p->key, p->key + '\0'});
    } else if (p->range_end == std::string_view("\0", 1)) {
      have.push_back({p->key, std::nullopt});
    } else if (p->range_end > p->key) {
      have.push_back({p->key, p->range_end});
    }  // an empty range grants nothing
  }
  std::sort(have.begin(), have.end(),
            [](const Interval& a, const Interval& b) { return a.start < b.start; });
  for (Interval& i : have) {
    if (!merged_.empty()) {
      Interval& last = merged_.back();
      if (!last.end) continue;     // already reaches every key after it
      if (i.start <= *last.end) {  // overlapping or touching: one run
        if (!i.end || *i.end > *last.end) last.end = std::move(i.end);
        continue;
      }
    }
    merged_.push_back(std::move(i));
  }
}

bool KeyRanges::contains(std::string_view key, std::string_view range_end) const {
  std::string want_start(key);
  std::optional<std::string> want_end;
  if (range_end.empty()) {
    want_end = want_start + '\0';
  } else if (range_end != std::string_view("\0", 1)) {
    want_end = std::string(range_end);
    // An empty or inverted range reads nothing, but it names `key`: ask for the key.
    if (*want_end <= want_start) want_end = want_start + '\0';
  }
  // The last run starting at or before the wanted start is the only one that can hold it.
  auto after =
      std::upper_bound(merged_.begin(), merged_.end(), want_start,
                       [](const std::string& k, const Interval& i) { return k < i.start; });
  if (after == merged_.begin()) return false;
  const Interval& run = *std::prev(after);
  if (!run.end) return true;
  return want_end.has_value() && *want_end <= *run.end;
}

void AuthStore::rebuild() {
  access_.clear();
  for (const auto& [name, u] : state_.users) {
    std::vector<const KeyPermission*> read, write, read_write;
    for (const std::string& role_name : u.roles) {
      const Role* r = role(role_name);
      if (r == nullptr) continue;
      for (const KeyPermission& p : r->permissions) {
        if (allows(p.type, PermType::kRead)) read.push_back(&p);
        if (allows(p.type, PermType::kWrite)) write.push_back(&p);
        if (p.type == PermType::kReadWrite) read_write.push_back(&p);
      }
    }
    access_.emplace(name, Access{.read = KeyRanges(read),
                                 .write = KeyRanges(write),
                                 .read_write = KeyRanges(read_write)});
  }
}

User* AuthStore::find_user(std::string_view name) {
  auto it = state_.users.find(std::string(name));
  return it == state_.users.end() ? nullptr : &it->second;
}

Role* AuthStore::find_role(std::string_view name) {
  auto it = state_.roles.find(std::string(name));
  return it == state_.roles.end() ? nullptr : &it->second;
}

const User* AuthStore::user(std::string_view name) const {
  auto it = state_.users.find(std::string(name));
  return it == state_.users.end() ? nullptr : &it->second;
}

const Role* AuthStore::role(std::string_view name) const {
  auto it = state_.roles.find(std::string(name));
  return it == state_.roles.end() ? nullptr : &it->second;
}

std::vector<std::string> AuthStore::user_names() const {
  std::vector<std::string> out;
  for (const auto& [name, u] : state_.users) out.push_back(name);
  return out;
}

std::vector<std::string> AuthStore::role_names() const {
  std::vector<std::string> out;
  for (const auto& [name, r] : state_.roles) out.push_back(name);
  return out;
}

bool AuthStore::has_role(std::string_view user_name, std::string_view role_name) const {
  const User* u = user(user_name);
  return u && std::binary_search(u->roles.begin(), u->roles.end(), std::string(role_name));
}

bool AuthStore::has_root_role(std::string_view user_name) const {
  return has_role(user_name, kRootRole);
}

absl::Status AuthStore::enable() {
  if (state_.enabled) return absl::OkStatus();
  if (!user(kRootUser)) {
    return auth_error(AuthErrorKind::kRootUserNotExist, "auth needs a user named root first");
  }
  if (!has_root_role(kRootUser)) {
    return auth_error(AuthErrorKind::kRootRoleNotGranted,
                      "auth needs user root to hold role root first");
  }
  state_.enabled = true;
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::disable() {
  if (!state_.enabled) return absl::OkStatus();
  state_.enabled = false;
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::user_add(std::string_view name, std::string password_hash,
                                 bool no_password) {
  if (name.empty()) return auth_error(AuthErrorKind::kUserEmpty, "the user name is empty");
  if (user(name)) {
    return auth_error(AuthErrorKind::kUserAlreadyExists, cat("user \"", name, "\" already exists"));
  }
  User u{.name = std::string(name),
         .password_hash = no_password ? std::string() : std::move(password_hash),
         .roles = {},
         .no_password = no_password};
  state_.users.emplace(u.name, std::move(u));
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::user_delete(std::string_view name) {
  if (state_.enabled && name == kRootUser) {
    return auth_error(AuthErrorKind::kInvalidAuthManagement,
                      "user root cannot be deleted while auth is enabled");
  }
  if (!user(name)) {
    return auth_error(AuthErrorKind::kUserNotFound, cat("no user \"", name, "\""));
  }
  state_.users.erase(std::string(name));
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::user_change_password(std::string_view name, std::string password_hash) {
  User* u = find_user(name);
  if (!u) return auth_error(AuthErrorKind::kUserNotFound, cat("no user \"", name, "\""));
  u->password_hash = std::move(password_hash);
  u->no_password = false;
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::user_grant_role(std::string_view user_name, std::string_view role_name) {
  User* u = find_user(user_name);
  if (!u) {
    return auth_error(AuthErrorKind::kUserNotFound, cat("no user \"", user_name, "\""));
  }
  // etcd lets root be granted before a role root exists.
  if (role_name != kRootRole && !role(role_name)) {
    return auth_error(AuthErrorKind::kRoleNotFound, cat("no role \"", role_name, "\""));
  }
  const std::string r(role_name);
  auto at = std::lower_bound(u->roles.begin(), u->roles.end(), r);
  if (at != u->roles.end() && *at == r) return absl::OkStatus();  // already held
  u->roles.insert(at, r);
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::user_revoke_role(std::string_view user_name, std::string_view role_name) {
  if (state_.enabled && user_name == kRootUser && role_name == kRootRole) {
    return auth_error(AuthErrorKind::kInvalidAuthManagement,
                      "role root cannot be revoked from user root while auth is enabled");
  }
  User* u = find_user(user_name);
  if (!u) {
    return auth_error(AuthErrorKind::kUserNotFound, cat("no user \"", user_name, "\""));
  }
  auto at = std::find(u->roles.begin(), u->roles.end(), role_name);
  if (at == u->roles.end()) {
    return auth_error(AuthErrorKind::kRoleNotGranted,
                      cat("user \"", user_name, "\" does not hold role \"", role_name, "\""));
  }
  u->roles.erase(at);
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::role_add(std::string_view name) {
  if (name.empty()) return auth_error(AuthErrorKind::kRoleEmpty, "the role name is empty");
  if (role(name)) {
    return auth_error(AuthErrorKind::kRoleAlreadyExists, cat("role \"", name, "\" already exists"));
  }
  state_.roles.emplace(std::string(name), Role{.name = std::string(name), .permissions = {}});
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::role_delete(std::string_view name) {
  if (state_.enabled && name == kRootRole) {
    return auth_error(AuthErrorKind::kInvalidAuthManagement,
                      "role root cannot be deleted while auth is enabled");
  }
  if (!role(name)) {
    return auth_error(AuthErrorKind::kRoleNotFound, cat("no role \"", name, "\""));
  }
  state_.roles.erase(std::string(name));
  for (auto& [n, u] : state_.users) {
    auto at = std::find(u.roles.begin(), u.roles.end(), name);
    if (at != u.roles.end()) u.roles.erase(at);
  }
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::role_grant_permission(std::string_view role_name,
                                              KeyPermission permission) {
  Role* r = find_role(role_name);
  if (!r) {
    return auth_error(AuthErrorKind::kRoleNotFound, cat("no role \"", role_name, "\""));
  }
  auto key_of = [](const KeyPermission& p) { return std::tie(p.key, p.range_end); };
  auto at = std::lower_bound(
      r->permissions.begin(), r->permissions.end(), permission,
      [&](const KeyPermission& a, const KeyPermission& b) { return key_of(a) < key_of(b); });
  if (at != r->permissions.end() && key_of(*at) == key_of(permission)) {
    at->type = permission.type;  // the same range granted again: the new type replaces it
  } else {
    r->permissions.insert(at, std::move(permission));
  }
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::role_revoke_permission(std::string_view role_name, std::string_view key,
                                               std::string_view range_end) {
  Role* r = find_role(role_name);
  if (!r) {
    return auth_error(AuthErrorKind::kRoleNotFound, cat("no role \"", role_name, "\""));
  }
  auto at = std::find_if(r->permissions.begin(), r->permissions.end(), [&](const KeyPermission& p) {
    return p.key == key && p.range_end == range_end;
  });
  if (at == r->permissions.end()) {
    return auth_error(AuthErrorKind::kPermissionNotGranted,
                      cat("role \"", role_name, "\" holds no permission on that range"));
  }
  r->permissions.erase(at);
  changed();
  return absl::OkStatus();
}

absl::Status AuthStore::check_key(std::string_view user_name, uint64_t admitted,
                                  std::string_view key, std::string_view range_end,
                                  PermType type) const {
  if (!state_.enabled) return absl::OkStatus();
  if (admitted == 0 || user_name.empty()) {
    return auth_error(AuthErrorKind::kUserEmpty, "auth is enabled and the request names no user");
  }
  if (admitted < state_.revision) {
    return auth_error(AuthErrorKind::kOldRevision,
                      cat("admitted under auth revision ", admitted,
                          ", which has changed since (now ", state_.revision, ")"));
  }
  const User* u = user(user_name);
  if (!u) {
    return auth_error(AuthErrorKind::kPermissionDenied, cat("no user \"", user_name, "\""));
  }
  if (has_root_role(user_name)) return absl::OkStatus();
  auto access = access_.find(user_name);
  if (access != access_.end()) {
    const Access& a = access->second;
    const KeyRanges& granted = type == PermType::kRead    ? a.read
                               : type == PermType::kWrite ? a.write
                                                          : a.read_write;
    if (granted.contains(key, range_end)) return absl::OkStatus();
  }
  return auth_error(AuthErrorKind::kPermissionDenied,
                    cat("user \"", user_name, "\" may not ", perm_type_name(type), " that range"));
}

absl::Status AuthStore::check_admin(std::string_view user_name) const {
  if (!state_.enabled) return absl::OkStatus();
  if (user_name.empty()) {
    return auth_error(AuthErrorKind::kUserEmpty, "auth is enabled and the request names no user");
  }
  if (!user(user_name)) {
    return auth_error(AuthErrorKind::kUserNotFound, cat("no user \"", user_name, "\""));
  }
  if (!has_root_role(user_name)) {
    return auth_error(AuthErrorKind::kPermissionDenied,
                      cat("user \"", user_name, "\" does not hold role root"));
  }
  return absl::OkStatus();
}

}  // namespace security
