// Fuzzes security::AuthStore with sequences of changes and checks over a few short names:
// each input byte picks an operation and its arguments. Properties from auth_store.h/.cc:
// a refused change changes nothing; a change moves the revision by exactly one except the
// documented no-ops; the state's invariants hold; check_key and check_admin follow etcd's rules.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "security/auth_error.h"
#include "security/auth_store.h"

namespace {

using security::AuthState;
using security::AuthStore;
using security::KeyPermission;
using security::PermType;

constexpr std::array<std::string_view, 4> kUsers = {"", "root", "u", "v"};
constexpr std::array<std::string_view, 4> kRoles = {"", "root", "r", "s"};
// Keys in ascending order; "a\0" is the key right after "a" (the end of the range {"a"}).
constexpr std::array<std::string_view, 6> kKeys = {"",   "a", std::string_view("a\0", 2),
                                                   "ab", "b", "c"};
constexpr std::array<PermType, 3> kTypes = {PermType::kRead, PermType::kWrite,
                                            PermType::kReadWrite};
const std::string_view kToTheEnd("\0", 1);  // range_end: every key from `key` on

// A range_end: the key alone, every key on, or any of the keys (possibly an inverted range).
std::string_view pick_range_end(fuzz::ByteSource& in) {
  const size_t i = in.pick(kKeys.size() + 2);
  if (i == kKeys.size()) return "";
  if (i == kKeys.size() + 1) return kToTheEnd;
  return kKeys[i];
}

// Whether key `k` lies in [key, range_end) as etcd reads it (an empty or inverted range is
// the key alone, as check_key treats it).
bool in_range(std::string_view k, std::string_view key, std::string_view range_end) {
  if (range_end == kToTheEnd) return k >= key;
  if (range_end.empty() || range_end <= key) return k == key;
  return k >= key && k < range_end;
}

void check_invariants(const AuthStore& store) {
  const AuthState& s = store.state();
  for (const auto& [name, user] : s.users) {
    FUZZ_CHECK(name == user.name && !name.empty(), name);
    FUZZ_CHECK(!user.no_password || user.password_hash.empty(), name);
    for (size_t i = 0; i < user.roles.size(); ++i) {
      FUZZ_CHECK(i == 0 || user.roles[i - 1] < user.roles[i], "roles not sorted/unique: " + name);
      // A role is granted only if it exists (root excepted) and deleting it takes it back.
      FUZZ_CHECK(user.roles[i] == security::kRootRole || s.roles.contains(user.roles[i]),
                 name + " holds missing role " + user.roles[i]);
    }
  }
  for (const auto& [name, role] : s.roles) {
    FUZZ_CHECK(name == role.name && !name.empty(), name);
    for (size_t i = 1; i < role.permissions.size(); ++i) {
      const KeyPermission& a = role.permissions[i - 1];
      const KeyPermission& b = role.permissions[i];
      FUZZ_CHECK(a.key < b.key || (a.key == b.key && a.range_end < b.range_end),
                 "permissions not sorted/unique: " + name);
    }
  }
  // Auth can only be on with root holding root, and nothing may take that away meanwhile.
  FUZZ_CHECK(!s.enabled || store.has_root_role(security::kRootUser), "auth on without root");
}

// Applies a change and checks what it did to the state and the revision.
template <class Change>
void change(AuthStore& store, bool no_op_if_accepted, Change&& apply, const char* what) {
  const AuthState before = store.state();
  const absl::Status status = apply();
  if (!status.ok()) {
    FUZZ_CHECK(security::auth_error_kind(status).has_value(),
               std::string(what) + ": not an auth error: " + status.ToString());
    FUZZ_CHECK(store.state() == before, std::string(what) + " refused but changed the state");
  } else if (no_op_if_accepted) {
    FUZZ_CHECK(store.state() == before, std::string(what) + ": a no-op changed the state");
  } else {
    FUZZ_CHECK(store.revision() == before.revision + 1,
               std::string(what) + " moved the revision by " +
                   std::to_string(store.revision() - before.revision));
  }
  check_invariants(store);
}

bool key_ok(const AuthStore& store, std::string_view user, std::string_view key,
            std::string_view range_end, PermType type) {
  return store.check_key(user, store.revision(), key, range_end, type).ok();
}

// check_key's rules for one request, and its consistency with narrower requests.
void check_key_rules(const AuthStore& store, fuzz::ByteSource& in) {
  using security::AuthErrorKind;
  const std::string_view user = in.pick_from(kUsers);
  const std::string_view key = in.pick_from(kKeys);
  const std::string_view range_end = pick_range_end(in);
  const PermType type = in.pick_from(kTypes);
  const uint64_t rev = store.revision();
  const std::array<uint64_t, 4> admitted_choices = {rev, rev + 1, rev - 1, 0};
  const uint64_t admitted = in.pick_from(admitted_choices);
  const absl::Status status = store.check_key(user, admitted, key, range_end, type);
  if (!store.enabled()) {
    FUZZ_CHECK(status.ok(), "auth off but " + status.ToString());
  } else if (admitted == 0 || user.empty()) {
    FUZZ_CHECK(security::is_auth_error(status, AuthErrorKind::kUserEmpty), status.ToString());
  } else if (admitted < rev) {
    FUZZ_CHECK(security::is_auth_error(status, AuthErrorKind::kOldRevision), status.ToString());
  } else if (store.has_root_role(user)) {
    FUZZ_CHECK(status.ok(), "a root-role holder was refused: " + status.ToString());
  } else if (!status.ok()) {
    FUZZ_CHECK(security::is_auth_error(status, AuthErrorKind::kPermissionDenied),
               status.ToString());
  }
  FUZZ_CHECK(store.check_admin(user).ok() == (!store.enabled() || store.has_root_role(user)),
             "check_admin of " + std::string(user));
  if (!key_ok(store, user, key, range_end, type)) return;
  // READWRITE is granted only by READWRITE permissions, which count for READ and WRITE too.
  if (type == PermType::kReadWrite) {
    FUZZ_CHECK(key_ok(store, user, key, range_end, PermType::kRead) &&
                   key_ok(store, user, key, range_end, PermType::kWrite),
               "READWRITE allowed but READ or WRITE not");
  }
  // A range allowed allows every key in it.
  for (std::string_view k : kKeys) {
    if (!in_range(k, key, range_end)) continue;
    FUZZ_CHECK(key_ok(store, user, k, "", type),
               "range allowed but key \"" + std::string(k) + "\" in it refused");
  }
}

// [a, c) is allowed exactly when [a, b) and [b, c) are, for a < b < c (c may be "to the end").
void check_range_split(const AuthStore& store, fuzz::ByteSource& in) {
  const std::string_view user = in.pick_from(kUsers);
  const PermType type = in.pick_from(kTypes);
  const size_t a = in.pick(kKeys.size());
  const size_t b = in.pick(kKeys.size());
  const size_t c = in.pick(kKeys.size() + 1);  // kKeys.size(): to the end
  if (!(a < b && b < c)) return;
  const std::string_view end = c == kKeys.size() ? kToTheEnd : kKeys[c];
  const bool whole = key_ok(store, user, kKeys[a], end, type);
  const bool parts =
      key_ok(store, user, kKeys[a], kKeys[b], type) && key_ok(store, user, kKeys[b], end, type);
  FUZZ_CHECK(whole == parts, "range [" + std::string(kKeys[a]) + ", " + std::string(end) +
                                 ") split at \"" + std::string(kKeys[b]) + "\": whole " +
                                 std::to_string(whole) + ", parts " + std::to_string(parts));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::ByteSource in(data, size);
  AuthStore store;
  check_invariants(store);
  for (int step = 0; step < 1024 && !in.empty(); ++step) {
    switch (in.pick(13)) {
      case 0:
        change(
            store, store.enabled(), [&] { return store.enable(); }, "enable");
        break;
      case 1:
        change(
            store, !store.enabled(), [&] { return store.disable(); }, "disable");
        break;
      case 2: {
        const std::string_view user = in.pick_from(kUsers);
        const bool no_password = in.pick(2) == 1;
        change(
            store, false, [&] { return store.user_add(user, "$2b$hash", no_password); },
            "user_add");
        if (!user.empty()) FUZZ_CHECK(store.user(user) != nullptr, "user_add");
        break;
      }
      case 3: {
        const std::string_view user = in.pick_from(kUsers);
        change(
            store, false, [&] { return store.user_delete(user); }, "user_delete");
        FUZZ_CHECK(store.user(user) == nullptr || (store.enabled() && user == "root"),
                   "user_delete");
        break;
      }
      case 4: {
        const std::string_view user = in.pick_from(kUsers);
        change(
            store, false, [&] { return store.user_change_password(user, "$2b$new"); },
            "user_change_password");
        break;
      }
      case 5: {
        const std::string_view user = in.pick_from(kUsers);
        const std::string_view role = in.pick_from(kRoles);
        const bool held = store.has_role(user, role);  // granting it again changes nothing
        change(
            store, held, [&] { return store.user_grant_role(user, role); }, "user_grant_role");
        break;
      }
      case 6: {
        const std::string_view user = in.pick_from(kUsers);
        const std::string_view role = in.pick_from(kRoles);
        change(
            store, false, [&] { return store.user_revoke_role(user, role); }, "user_revoke_role");
        break;
      }
      case 7: {
        const std::string_view role = in.pick_from(kRoles);
        change(
            store, false, [&] { return store.role_add(role); }, "role_add");
        break;
      }
      case 8: {
        const std::string_view role = in.pick_from(kRoles);
        change(
            store, false, [&] { return store.role_delete(role); }, "role_delete");
        break;
      }
      case 9: {
        const std::string_view role = in.pick_from(kRoles);
        KeyPermission permission{.type = in.pick_from(kTypes),
                                 .key = std::string(in.pick_from(kKeys)),
                                 .range_end = std::string(pick_range_end(in))};
        change(
            store, false, [&] { return store.role_grant_permission(role, permission); },
            "role_grant_permission");
        break;
      }
      case 10: {
        const std::string_view role = in.pick_from(kRoles);
        const std::string_view key = in.pick_from(kKeys);
        const std::string_view range_end = pick_range_end(in);
        change(
            store, false, [&] { return store.role_revoke_permission(role, key, range_end); },
            "role_revoke_permission");
        break;
      }
      case 11:
        check_key_rules(store, in);
        break;
      case 12:
        check_range_split(store, in);
        break;
    }
  }
  return 0;
}
