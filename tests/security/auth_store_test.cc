// etcd's auth rules on the state alone: what each change allows and refuses, which
// changes move the revision, and the key-range check (union of roles, prefix, from-key).
#include "security/auth_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "security/auth_error.h"
#include "security/password.h"
#include "security/simple_tokens.h"

namespace security {
namespace {

using namespace std::literals;

const std::string kFromKey("\0", 1);

KeyPermission perm(PermType t, std::string key, std::string end = "") {
  return KeyPermission{.type = t, .key = std::move(key), .range_end = std::move(end)};
}

// root (with role root), and alice holding `reader` (READ on [a, c)) and `writer`
// (WRITE on key "w" and READWRITE on prefix "p/"), auth on.
AuthStore populated() {
  AuthStore s;
  EXPECT_TRUE(s.user_add("root", "h", false).ok());
  EXPECT_TRUE(s.user_grant_role("root", "root").ok());
  EXPECT_TRUE(s.user_add("alice", "h", false).ok());
  EXPECT_TRUE(s.role_add("reader").ok());
  EXPECT_TRUE(s.role_grant_permission("reader", perm(PermType::kRead, "a", "c")).ok());
  EXPECT_TRUE(s.role_add("writer").ok());
  EXPECT_TRUE(s.role_grant_permission("writer", perm(PermType::kWrite, "w")).ok());
  EXPECT_TRUE(s.role_grant_permission("writer", perm(PermType::kReadWrite, "p/", "p0")).ok());
  EXPECT_TRUE(s.user_grant_role("alice", "reader").ok());
  EXPECT_TRUE(s.user_grant_role("alice", "writer").ok());
  EXPECT_TRUE(s.enable().ok());
  return s;
}

TEST(AuthStore, EnablingNeedsUserRootHoldingRoleRoot) {
  AuthStore s;
  EXPECT_TRUE(is_auth_error(s.enable(), AuthErrorKind::kRootUserNotExist));
  ASSERT_TRUE(s.user_add("root", "h", false).ok());
  EXPECT_TRUE(is_auth_error(s.enable(), AuthErrorKind::kRootRoleNotGranted));
  EXPECT_FALSE(s.enabled());
  // etcd grants role root before any role of that name exists.
  ASSERT_TRUE(s.user_grant_role("root", "root").ok());
  ASSERT_TRUE(s.enable().ok());
  EXPECT_TRUE(s.enabled());
}

TEST(AuthStore, EveryChangeMovesTheRevisionAndEveryRefusalChangesNothing) {
  AuthStore s = populated();
  const AuthState before = s.state();
  EXPECT_TRUE(is_auth_error(s.user_add("alice", "x", false), AuthErrorKind::kUserAlreadyExists));
  EXPECT_TRUE(is_auth_error(s.user_add("", "x", false), AuthErrorKind::kUserEmpty));
  EXPECT_TRUE(is_auth_error(s.role_add(""), AuthErrorKind::kRoleEmpty));
  EXPECT_TRUE(is_auth_error(s.role_add("reader"), AuthErrorKind::kRoleAlreadyExists));
  EXPECT_TRUE(is_auth_error(s.user_grant_role("bob", "reader"), AuthErrorKind::kUserNotFound));
  EXPECT_TRUE(is_auth_error(s.user_grant_role("alice", "nope"), AuthErrorKind::kRoleNotFound));
  EXPECT_TRUE(is_auth_error(s.user_revoke_role("alice", "nope"), AuthErrorKind::kRoleNotGranted));
  EXPECT_TRUE(is_auth_error(s.role_revoke_permission("reader", "a", "b"),
                            AuthErrorKind::kPermissionNotGranted));
  EXPECT_TRUE(is_auth_error(s.role_delete("nope"), AuthErrorKind::kRoleNotFound));
  EXPECT_TRUE(is_auth_error(s.user_delete("nope"), AuthErrorKind::kUserNotFound));
  EXPECT_TRUE(is_auth_error(s.user_change_password("nope", "h"), AuthErrorKind::kUserNotFound));
  // Granting a role already held changes nothing either; enabling twice neither.
  EXPECT_TRUE(s.user_grant_role("alice", "reader").ok());
  EXPECT_TRUE(s.enable().ok());
  EXPECT_EQ(s.state(), before);

  uint64_t rev = s.revision();
  ASSERT_TRUE(s.role_add("extra").ok());
  EXPECT_EQ(s.revision(), ++rev);
  ASSERT_TRUE(s.user_change_password("alice", "h2").ok());
  EXPECT_EQ(s.revision(), ++rev);
  ASSERT_TRUE(s.disable().ok());
  EXPECT_EQ(s.revision(), ++rev);
}

TEST(AuthStore, RootKeepsItsUserAndRoleWhileAuthIsOn) {
  AuthStore s = populated();
  EXPECT_TRUE(is_auth_error(s.user_delete("root"), AuthErrorKind::kInvalidAuthManagement));
  EXPECT_TRUE(
      is_auth_error(s.user_revoke_role("root", "root"), AuthErrorKind::kInvalidAuthManagement));
  ASSERT_TRUE(s.role_add("root").ok());
  EXPECT_TRUE(is_auth_error(s.role_delete("root"), AuthErrorKind::kInvalidAuthManagement));
  ASSERT_TRUE(s.disable().ok());
  EXPECT_TRUE(s.user_revoke_role("root", "root").ok());
  EXPECT_TRUE(s.user_delete("root").ok());
}

TEST(AuthStore, DeletingARoleTakesItFromEveryUserHoldingIt) {
  AuthStore s = populated();
  ASSERT_TRUE(s.has_role("alice", "reader"));
  ASSERT_TRUE(s.role_delete("reader").ok());
  EXPECT_FALSE(s.has_role("alice", "reader"));
  EXPECT_TRUE(s.has_role("alice", "writer"));
}

TEST(AuthStore, GrantingTheSameRangeAgainReplacesItsType) {
  AuthStore s = populated();
  ASSERT_TRUE(s.role_grant_permission("reader", perm(PermType::kWrite, "a", "c")).ok());
  ASSERT_EQ(s.role("reader")->permissions.size(), 1u);
  EXPECT_EQ(s.role("reader")->permissions[0].type, PermType::kWrite);
}

TEST(AuthStore, KeyChecksAskForTheWholeRangeWithinTheUnionOfTheUsersRoles) {
  AuthStore s = populated();
  const uint64_t rev = s.revision();
  struct Case {
    std::string key, end;
    PermType type;
    bool allowed;
  };
  const Case cases[] = {
      {"a", "", PermType::kRead, true},          // a key inside [a, c)
      {"b", "", PermType::kRead, true},          //
      {"bzz", "", PermType::kRead, true},        //
      {"c", "", PermType::kRead, false},         // the end is excluded
      {"a", "c", PermType::kRead, true},         // the whole granted range
      {"a", "d", PermType::kRead, false},        // one key past it
      {"a", "", PermType::kWrite, false},        // READ grants no WRITE
      {"w", "", PermType::kWrite, true},         // the single key
      {"w", "", PermType::kRead, false},         //
      {"wx", "", PermType::kWrite, false},       // only that key
      {"p/x", "", PermType::kRead, true},        // READWRITE on the prefix
      {"p/x", "", PermType::kWrite, true},       //
      {"p/", "p0", PermType::kWrite, true},      // the prefix itself
      {"p/", kFromKey, PermType::kRead, false},  // from-key reaches past the prefix
      {"a", "\0"s, PermType::kRead, false},      //
      {"b", "b", PermType::kRead, true},         // an empty range asks for its key
  };
  for (const Case& c : cases) {
    const absl::Status st = s.check_key("alice", rev, c.key, c.end, c.type);
    EXPECT_EQ(st.ok(), c.allowed) << "key " << c.key << " end " << c.end << " "
                                  << perm_type_name(c.type) << ": " << st;
    if (!c.allowed) {
      EXPECT_TRUE(is_auth_error(st, AuthErrorKind::kPermissionDenied)) << st;
    }
  }
  // Two roles whose ranges touch cover the range across them.
  ASSERT_TRUE(s.role_add("more").ok());
  ASSERT_TRUE(s.role_grant_permission("more", perm(PermType::kRead, "c", "e")).ok());
  ASSERT_TRUE(s.user_grant_role("alice", "more").ok());
  EXPECT_TRUE(s.check_key("alice", s.revision(), "a", "e", PermType::kRead).ok());
  EXPECT_FALSE(s.check_key("alice", s.revision(), "a", "f", PermType::kRead).ok());
  // From-key grants cover everything after their key.
  ASSERT_TRUE(s.role_grant_permission("more", perm(PermType::kRead, "x", kFromKey)).ok());
  EXPECT_TRUE(s.check_key("alice", s.revision(), "xyz", kFromKey, PermType::kRead).ok());
  EXPECT_TRUE(s.check_key("alice", s.revision(), "zzz", "", PermType::kRead).ok());
  // Root reads and writes everything.
  EXPECT_TRUE(s.check_key("root", s.revision(), "\0"s, kFromKey, PermType::kWrite).ok());
}

TEST(AuthStore, ARequestAdmittedUnderAnOlderRevisionOrWithoutUserIsRefused) {
  AuthStore s = populated();
  const uint64_t admitted = s.revision();
  EXPECT_TRUE(s.check_key("alice", admitted, "w", "", PermType::kWrite).ok());
  ASSERT_TRUE(s.role_revoke_permission("writer", "w", "").ok());
  EXPECT_TRUE(is_auth_error(s.check_key("alice", admitted, "w", "", PermType::kWrite),
                            AuthErrorKind::kOldRevision));
  EXPECT_TRUE(is_auth_error(s.check_key("alice", s.revision(), "w", "", PermType::kWrite),
                            AuthErrorKind::kPermissionDenied));
  EXPECT_TRUE(
      is_auth_error(s.check_key("", 0, "w", "", PermType::kWrite), AuthErrorKind::kUserEmpty));
  EXPECT_TRUE(is_auth_error(s.check_key("ghost", s.revision(), "w", "", PermType::kWrite),
                            AuthErrorKind::kPermissionDenied));
}

TEST(AuthStore, AdminCallsNeedRoleRootAndAuthOffAllowsEverything) {
  AuthStore s = populated();
  EXPECT_TRUE(s.check_admin("root").ok());
  EXPECT_TRUE(is_auth_error(s.check_admin("alice"), AuthErrorKind::kPermissionDenied));
  EXPECT_TRUE(is_auth_error(s.check_admin(""), AuthErrorKind::kUserEmpty));
  EXPECT_TRUE(is_auth_error(s.check_admin("ghost"), AuthErrorKind::kUserNotFound));
  ASSERT_TRUE(s.disable().ok());
  EXPECT_TRUE(s.check_admin("").ok());
  EXPECT_TRUE(s.check_key("", 0, "zz", "", PermType::kWrite).ok());
}

TEST(Password, AHashChecksItsPasswordOnlyAndIsSaltedEachTime) {
  const absl::StatusOr<std::string> h1 = hash_password("s3cret", kMinBcryptCost);
  const absl::StatusOr<std::string> h2 = hash_password("s3cret", kMinBcryptCost);
  ASSERT_TRUE(h1.ok() && h2.ok());
  EXPECT_EQ(h1->rfind("$2b$04$", 0), 0u) << *h1;
  EXPECT_NE(*h1, *h2);
  EXPECT_TRUE(check_password("s3cret", *h1));
  EXPECT_TRUE(check_password("s3cret", *h2));
  EXPECT_FALSE(check_password("s3creT", *h1));
  EXPECT_FALSE(check_password("", *h1));
  EXPECT_FALSE(check_password("s3cret", "not a hash"));
  EXPECT_FALSE(check_password("s3cret", ""));
}

TEST(Password, WhatBcryptCannotTakeWholeIsRefusedNamingWhy) {
  const absl::StatusOr<std::string> long_pw = hash_password(std::string(73, 'x'), 4);
  ASSERT_FALSE(long_pw.ok());
  EXPECT_TRUE(is_auth_error(long_pw.status(), AuthErrorKind::kBadPassword));
  EXPECT_NE(long_pw.status().message().find("73 bytes"), std::string::npos);
  EXPECT_TRUE(hash_password(std::string(72, 'x'), 4).ok());
  EXPECT_FALSE(hash_password("a\0b"s, 4).ok());
  const absl::StatusOr<std::string> cost = hash_password("x", 3);
  ASSERT_FALSE(cost.ok());
  EXPECT_NE(cost.status().message().find("bcrypt cost 3"), std::string::npos);
}

TEST(SimpleTokens, ATokenLivesWhileUsedWithinItsTtlAndGoesWithItsUser) {
  SimpleTokens t(10s);
  const SimpleTokens::Clock::time_point t0{};
  t.assign("tok1", "alice", t0);
  t.assign("tok2", "bob", t0);
  EXPECT_EQ(t.user_of("tok1", t0 + 9s), "alice");
  EXPECT_EQ(t.user_of("tok1", t0 + 18s), "alice");       // the use at 9 s restarted its TTL
  EXPECT_EQ(t.user_of("tok2", t0 + 18s), std::nullopt);  // unused for 18 s: expired
  EXPECT_EQ(t.user_of("nope", t0), std::nullopt);
  t.assign("tok3", "alice", t0 + 18s);
  t.revoke_user("alice");
  EXPECT_EQ(t.user_of("tok1", t0 + 19s), std::nullopt);
  EXPECT_EQ(t.user_of("tok3", t0 + 19s), std::nullopt);
  // Tokens nobody presents again are swept.
  t.assign("a", "x", t0 + 20s);
  t.assign("b", "x", t0 + 100s);
  EXPECT_EQ(t.size(), 1u);
}

}  // namespace
}  // namespace security
