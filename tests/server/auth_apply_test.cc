// etcd's auth in the replicated state machine, entry by entry: every member applies the
// same auth changes, snapshots carry them, tokens handed out through the log work on
// every member, and a write is checked again when applied, against the auth revision it
// was admitted under (a permission revoked in between is honoured).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>

#include "raftkv/internal.pb.h"
#include "security/password.h"
#include "server/kv_state_machine.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;

class AuthApply : public ::testing::Test {
 protected:
  // Applies `c` as entry `index_ + 1` on `sm` (default: sm_), with `who` in the entry.
  in::Result apply(in::Command c, const Identity& who = {}, KvStateMachine* sm = nullptr) {
    c.set_user(who.user);
    c.set_auth_revision(who.auth_revision);
    in::Result r;
    EXPECT_TRUE(r.ParseFromString(
        (sm ? sm : &sm_)->apply(raft::LogIndex(++index_), c.SerializeAsString())));
    return r;
  }
  // Applies `c` as root (auth changes need it once auth is on); it must succeed.
  void ok(in::Command c) {
    const in::Result r = apply(std::move(c), root());
    ASSERT_EQ(r.code(), 0) << r.message();
  }
  void ok(in::Command c, const Identity& who) {
    const in::Result r = apply(std::move(c), who);
    ASSERT_EQ(r.code(), 0) << r.message();
  }
  Identity root() { return Identity{.user = "root", .auth_revision = sm_.auth_revision()}; }

  static in::Command user_add(const std::string& name) {
    in::Command c;
    c.mutable_user_add()->set_name(name);
    c.mutable_user_add()->set_hashedpassword(*security::hash_password("pw", 4));
    return c;
  }
  static in::Command grant_role(const std::string& user, const std::string& role) {
    in::Command c;
    c.mutable_user_grant_role()->set_user(user);
    c.mutable_user_grant_role()->set_role(role);
    return c;
  }
  static in::Command put(const std::string& key, int64_t lease = 0) {
    in::Command c;
    c.mutable_put()->set_key(key);
    c.mutable_put()->set_value("v");
    c.mutable_put()->set_lease(lease);
    return c;
  }

  // root, and alice with role app (READWRITE on prefix app/), auth on.
  void SetUp() override {
    ok(user_add("root"));
    ok(grant_role("root", "root"));
    ok(user_add("alice"));
    in::Command role;
    role.mutable_role_add()->set_name("app");
    ok(role);
    in::Command perm;
    perm.mutable_role_grant_permission()->set_name("app");
    perm.mutable_role_grant_permission()->mutable_perm()->set_permtype(
        authpb::Permission::READWRITE);
    perm.mutable_role_grant_permission()->mutable_perm()->set_key("app/");
    perm.mutable_role_grant_permission()->mutable_perm()->set_range_end("app0");
    ok(perm);
    ok(grant_role("alice", "app"));
    in::Command enable;
    enable.mutable_auth_enable();
    ok(enable);
    ASSERT_TRUE(sm_.auth_enabled());
  }

  Identity alice() { return Identity{.user = "alice", .auth_revision = sm_.auth_revision()}; }

  KvStateMachine sm_{kv::StoreOptions{}};
  uint64_t index_ = 0;
};

TEST_F(AuthApply, AWriteAdmittedBeforeItsPermissionWasRevokedIsRefusedWhenApplied) {
  const Identity admitted = alice();
  ASSERT_EQ(apply(put("app/a"), admitted).code(), 0);
  const int64_t rev = sm_.revision();
  // Revoked after the next write was admitted, before it applied.
  in::Command revoke;
  revoke.mutable_user_revoke_role()->set_name("alice");
  revoke.mutable_user_revoke_role()->set_role("app");
  ok(revoke);
  in::Result r = apply(put("app/b"), admitted);
  EXPECT_EQ(r.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(r.message(), "etcdserver: revision of auth store is old");
  // Sent again under the new revision: refused for what it is.
  r = apply(put("app/b"), alice());
  EXPECT_EQ(r.code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(r.message(), "etcdserver: permission denied");
  EXPECT_EQ(sm_.revision(), rev);  // neither reached the store
}

// A linearizable read is checked again once its barrier has passed, as etcd checks after
// linearizableReadNotify (doSerialize): on a follower, the gate may have run before the
// follower applied a revoke or an `auth enable` that the leader had already acknowledged.
TEST_F(AuthApply, ALinearizableReadIsCheckedAgainAfterItsBarrier) {
  ok(put("app/a"), alice());
  pb::RangeRequest get;
  get.set_key("app/a");
  pb::RangeResponse resp;
  const Identity admitted = alice();
  ASSERT_TRUE(sm_.range_after_barrier(admitted, get, &resp).ok());
  ASSERT_EQ(resp.kvs_size(), 1);
  // Revoked while the read waited for its barrier.
  in::Command revoke;
  revoke.mutable_user_revoke_role()->set_name("alice");
  revoke.mutable_user_revoke_role()->set_role("app");
  ok(revoke);
  resp.Clear();
  grpc::Status s = sm_.range_after_barrier(admitted, get, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "etcdserver: revision of auth store is old");
  EXPECT_EQ(resp.kvs_size(), 0);
  s = sm_.range_after_barrier(alice(), get, &resp);  // asked again under the new revision
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(resp.kvs_size(), 0);
  // Admitted with auth off, which a member then turned on before the read was served.
  in::Command disable;
  disable.mutable_auth_disable();
  ok(disable);
  const Identity anonymous{};
  ASSERT_TRUE(sm_.range_after_barrier(anonymous, get, &resp).ok());
  in::Command enable;
  enable.mutable_auth_enable();
  ok(enable);
  resp.Clear();
  s = sm_.range_after_barrier(anonymous, get, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "etcdserver: user name is empty");
  EXPECT_EQ(resp.kvs_size(), 0);
}

TEST_F(AuthApply, AWriteWithoutUserIsRefusedButTheMembersOwnLeaseRevokePasses) {
  in::Result r = apply(put("app/a"));
  EXPECT_EQ(r.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(r.message(), "etcdserver: user name is empty");
  in::Command grant;
  grant.mutable_lease_grant()->set_id(7);
  grant.mutable_lease_grant()->set_ttl(60);
  ok(grant, alice());
  ok(put("app/leased", 7), alice());
  // A lease holding a key alice may not write: she may neither attach to nor revoke it.
  ok(put("root-only", 7), root());
  EXPECT_EQ(apply(put("app/more", 7), alice()).code(),
            static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  in::Command revoke;
  revoke.mutable_lease_revoke()->set_id(7);
  EXPECT_EQ(apply(revoke, alice()).code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  revoke.set_member_write(true);  // the leader expiring it
  EXPECT_EQ(apply(revoke).code(), 0);
  EXPECT_TRUE(sm_.lease_ids().empty());
}

TEST_F(AuthApply, ATokenHandedOutThroughTheLogWorksOnEveryMemberUntilItsUserGoes) {
  KvStateMachine other{kv::StoreOptions{}};
  ASSERT_TRUE(other.restore(sm_.snapshot()).ok());
  in::Command auth;
  auth.mutable_authenticate()->set_name("alice");
  auth.mutable_authenticate()->set_token_prefix("abcdefghijklmnop");
  const uint64_t at = index_;
  const in::Result mine = apply(auth);
  index_ = at;  // the same entry on the other member
  const in::Result theirs = apply(auth, {}, &other);
  ASSERT_EQ(mine.code(), 0) << mine.message();
  EXPECT_EQ(mine.authenticate().token(), "abcdefghijklmnop." + std::to_string(at + 1));
  EXPECT_EQ(theirs.authenticate().token(), mine.authenticate().token());
  for (KvStateMachine* sm : {&sm_, &other}) {
    absl::StatusOr<Identity> who = sm->identify_token(mine.authenticate().token());
    ASSERT_TRUE(who.ok()) << who.status();
    EXPECT_EQ(who->user, "alice");
    EXPECT_FALSE(sm->identify_token("abcdefghijklmnop.999").ok());
  }
  in::Command del;
  del.mutable_user_delete()->set_name("alice");
  ok(del);
  EXPECT_FALSE(sm_.identify_token(mine.authenticate().token()).ok());
  // Authenticating a user that is gone fails on every member alike.
  EXPECT_EQ(apply(auth).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
}

// The snapshot the node writes to its file comes in pieces (the store's chunks), the
// same bytes as snapshot(); a write that fails stops it with an error.
TEST_F(AuthApply, ASnapshotInPiecesIsTheWholeSnapshot) {
  for (int i = 0; i < 40; ++i) ok(put("k" + std::to_string(i)));
  std::vector<std::string> pieces;
  ASSERT_TRUE(sm_.snapshot_to([&](std::string_view p) {
                   pieces.emplace_back(p);
                   return true;
                 })
                  .ok());
  std::string joined;
  for (const std::string& p : pieces) joined += p;
  EXPECT_EQ(joined, sm_.snapshot());
  EXPECT_GE(pieces.size(), 2u);  // the cluster state, then the store
  KvStateMachine copy{kv::StoreOptions{}};
  EXPECT_TRUE(copy.restore(joined).ok());
  int calls = 0;
  const absl::Status failed = sm_.snapshot_to([&](std::string_view) { return ++calls < 2; });
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 2);  // nothing more was written after the failure
}

// /health asks whether an alarm is raised while a snapshot may hold the state machine's
// lock for seconds (a large store written to its file): the answer must not wait.
TEST_F(AuthApply, WhetherAnAlarmIsRaisedIsAnsweredWhileASnapshotHoldsTheLock) {
  std::promise<void> inside, release;
  std::shared_future<void> released = release.get_future().share();
  std::thread snapshot([&] {
    bool first = true;
    (void)sm_.snapshot_to([&](std::string_view) {
      if (first) {
        first = false;
        inside.set_value();
        released.wait();
      }
      return true;
    });
  });
  inside.get_future().wait();  // the snapshot holds the lock now
  std::future<bool> asked = std::async(std::launch::async, [&] { return sm_.alarmed(); });
  const bool answered = asked.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  release.set_value();
  snapshot.join();
  ASSERT_TRUE(answered) << "alarmed() waited for the snapshot's lock";
  EXPECT_FALSE(asked.get());
  in::Command raise;
  raise.mutable_alarm()->set_action(pb::AlarmRequest::ACTIVATE);
  raise.mutable_alarm()->set_memberid(1);
  raise.mutable_alarm()->set_alarm(pb::NOSPACE);
  apply(raise, root());
  EXPECT_TRUE(sm_.alarmed());
}

TEST_F(AuthApply, ASnapshotCarriesTheAuthStateAndARefusedChangeChangesNothing) {
  in::Command bad;
  bad.mutable_user_delete()->set_name("root");  // not while auth is on
  const uint64_t rev = sm_.auth_revision();
  const in::Result r = apply(bad, root());
  EXPECT_EQ(r.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(r.message(), "etcdserver: invalid auth management");
  EXPECT_EQ(sm_.auth_revision(), rev);

  KvStateMachine copy{kv::StoreOptions{}};
  ASSERT_TRUE(copy.restore(sm_.snapshot()).ok());
  EXPECT_TRUE(copy.auth_enabled());
  EXPECT_EQ(copy.auth_revision(), rev);
  pb::PutRequest in_app, outside;
  in_app.set_key("app/x");
  outside.set_key("x");
  EXPECT_TRUE(copy.check_keys(alice(), in_app).ok());
  EXPECT_FALSE(copy.check_keys(alice(), outside).ok());
  EXPECT_TRUE(copy.check_admin("root").ok());
  EXPECT_FALSE(copy.check_admin("alice").ok());
  // A snapshot from before auth existed turns it off again.
  KvStateMachine fresh{kv::StoreOptions{}};
  ASSERT_TRUE(copy.restore(fresh.snapshot()).ok());
  EXPECT_FALSE(copy.auth_enabled());
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(AuthApply, AClusterOperationIsAuthorizedAgainWhenApplied) {
  // The default policy: cluster_operator may change_config, not manage_auth.
  raftkv::admin::Authz texts;
  texts.set_model(read(RAFTKV_AUTHZ_DIR "/model.conf"));
  texts.set_policy(read(RAFTKV_AUTHZ_DIR "/policy.csv"));
  auto e = security::Enforcer::create(texts.model(), "model.conf", texts.policy(), "policy.csv");
  ASSERT_TRUE(e.ok()) << e.status();
  sm_.set_default_authz(std::make_shared<const security::Enforcer>(*std::move(e)), texts);
  in::Command role;
  role.mutable_role_add()->set_name("cluster_operator");
  ok(role);
  ok(grant_role("alice", "cluster_operator"));
  in::Command limits;
  limits.mutable_set_limits()->mutable_member()->set_max_concurrent(100);
  EXPECT_EQ(apply(limits, alice()).code(), 0);
  // Admitted while alice was an operator; her role is revoked before it applies.
  const Identity admitted = alice();
  in::Command revoke;
  revoke.mutable_user_revoke_role()->set_name("alice");
  revoke.mutable_user_revoke_role()->set_role("cluster_operator");
  ok(revoke);
  limits.mutable_set_limits()->mutable_member()->set_max_concurrent(5);
  const in::Result r = apply(limits, admitted);
  EXPECT_EQ(r.code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_NE(r.message().find("user alice (roles: app) may not change_config on cluster"),
            std::string::npos)
      << r.message();
  EXPECT_EQ(sm_.limits()->member().max_concurrent(), 100u);  // unchanged
  // Without a user at all, and auth management by a non-root user: refused alike.
  EXPECT_EQ(apply(limits).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  in::Command add = user_add("mallory");
  EXPECT_EQ(apply(add, alice()).code(), static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(apply(add, root()).code(), 0);
}

// What applying produced travels back to a follower as bytes: a message that is not UTF-8
// (a key, a user name from a certificate) must parse there too.
TEST(ApplyResult, AMessageThatIsNotUtf8SurvivesTheTripToTheFollower) {
  in::Result result;
  result.set_code(5);
  result.set_message(std::string("no key '\xc3\x28'"));
  in::Result parsed;
  ASSERT_TRUE(parsed.ParseFromString(result.SerializeAsString()));
  EXPECT_EQ(parsed.message(), result.message());
}

}  // namespace
}  // namespace server
