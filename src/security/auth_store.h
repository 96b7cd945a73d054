// etcd's authentication state: users, roles, key-range permissions, whether auth is on,
// and the auth revision every change moves. Replicated: the state machine applies the
// same changes in log order on every member, so this class only decides and records;
// it holds no lock, no clock and no token (the owner synchronises and keeps tokens).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace security {

// etcd's names, reserved: the root user must hold the root role for auth to be on, and
// the root role allows every key and every admin call.
inline constexpr std::string_view kRootUser = "root";
inline constexpr std::string_view kRootRole = "root";

enum class PermType { kRead = 0, kWrite = 1, kReadWrite = 2 };

// Keys as Range names them: [key, range_end); range_end "" is the key alone and "\0"
// every key from `key` on.
struct KeyPermission {
  PermType type = PermType::kRead;
  std::string key;
  std::string range_end;
  bool operator==(const KeyPermission&) const = default;
};

struct Role {
  std::string name;
  std::vector<KeyPermission> permissions;  // sorted by (key, range_end); one per range
  bool operator==(const Role&) const = default;
};

struct User {
  std::string name;
  std::string password_hash;       // bcrypt ($2b$...); "" when no_password
  std::vector<std::string> roles;  // sorted, no duplicates
  bool no_password = false;        // may only authenticate by client certificate
  bool operator==(const User&) const = default;
};

struct AuthState {
  bool enabled = false;
  uint64_t revision = 1;  // moves on every change; a token is valid for one revision
  std::map<std::string, User> users;
  std::map<std::string, Role> roles;
  bool operator==(const AuthState&) const = default;
};

// A set of keys as disjoint intervals, merged from permissions when the auth state
// changes, so that a check is a binary search rather than a merge.
class KeyRanges {
 public:
  KeyRanges() = default;
  explicit KeyRanges(const std::vector<const KeyPermission*>& ranges);
  // Whether [key, range_end) (Range's notation) lies within the set. An empty or inverted
  // range names its key, which must lie within.
  bool contains(std::string_view key, std::string_view range_end) const;

 private:
  struct Interval {
    std::string start;
    std::optional<std::string> end;  // nullopt: every key from start on
  };
  std::vector<Interval> merged_;  // sorted by start; no two overlap or touch
};

class AuthStore {
 public:
  AuthStore() { rebuild(); }
  explicit AuthStore(AuthState state) : state_(std::move(state)) { rebuild(); }

  // Changes, with etcd's rules. Each either changes the state and moves the revision, or
  // returns an auth error (auth_error.h) and changes nothing. The hash is made before the
  // change reaches the log (the log never holds a password).
  absl::Status enable();   // needs user root holding role root; already on: no change
  absl::Status disable();  // already off: no change
  absl::Status user_add(std::string_view name, std::string password_hash, bool no_password);
  absl::Status user_delete(std::string_view name);
  absl::Status user_change_password(std::string_view name, std::string password_hash);
  absl::Status user_grant_role(std::string_view user, std::string_view role);
  absl::Status user_revoke_role(std::string_view user, std::string_view role);
  absl::Status role_add(std::string_view name);
  absl::Status role_delete(std::string_view name);  // also taken from every user holding it
  absl::Status role_grant_permission(std::string_view role, KeyPermission permission);
  absl::Status role_revoke_permission(std::string_view role, std::string_view key,
                                      std::string_view range_end);

  // Reads.
  bool enabled() const { return state_.enabled; }
  uint64_t revision() const { return state_.revision; }
  const User* user(std::string_view name) const;
  const Role* role(std::string_view name) const;
  std::vector<std::string> user_names() const;  // sorted
  std::vector<std::string> role_names() const;  // sorted
  bool has_root_role(std::string_view user) const;
  bool has_role(std::string_view user, std::string_view role) const;
  const AuthState& state() const { return state_; }

  // etcd's permission check for keys: with auth on, `user` (admitted under auth revision
  // `admitted`; 0 is no user) must be allowed `type` on the whole of [key, range_end).
  // kUserEmpty without a user, kOldRevision when the auth state changed since the request
  // was admitted (the client authenticates again), kPermissionDenied otherwise. Auth off:
  // always OK.
  absl::Status check_key(std::string_view user, uint64_t admitted, std::string_view key,
                         std::string_view range_end, PermType type) const;
  // etcd's admin check (member changes, user and role management...): with auth on, the
  // user must hold the root role. kUserEmpty without a user, kUserNotFound for an unknown one.
  absl::Status check_admin(std::string_view user) const;

 private:
  User* find_user(std::string_view name);
  Role* find_role(std::string_view name);
  void changed() {
    ++state_.revision;
    rebuild();
  }
  void rebuild();  // access_ from state_

  AuthState state_;
  // Each user's keys by permission type, from its roles: what check_key searches.
  struct Access {
    KeyRanges read, write, read_write;
  };
  std::map<std::string, Access, std::less<>> access_;
};

std::string_view perm_type_name(PermType type);

}  // namespace security
