#include "server/kv_state_machine.h"

#include <utility>

#include "log/log.h"
#include "raft/byte_codec.h"
#include "security/auth_error.h"
#include "server/auth_check.h"
#include "server/errors.h"
#include "server/kv_convert.h"
#include "server/limits_proto.h"
#include "server/request_validator.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;
using Clock = kv::LeaseClock;

grpc::Status store_status(const kv::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

// ---- etcd protobuf messages to the store's structs, and back ----

void to_pb(const kv::KeyValue& k, mvccpb::KeyValue* out) {
  out->set_key(k.key);
  out->set_create_revision(k.create_revision);
  out->set_mod_revision(k.mod_revision);
  out->set_version(k.version);
  out->set_value(k.value);
  out->set_lease(k.lease);
}

void to_pb(const kv::RangeResponse& r, pb::RangeResponse* out) {
  out->mutable_header()->set_revision(r.revision);
  out->mutable_kvs()->Reserve(static_cast<int>(r.kvs.size()));
  for (const kv::KeyValue& k : r.kvs) to_pb(k, out->add_kvs());
  out->set_more(r.more);
  out->set_count(r.count);
}

void to_pb(const kv::PutResponse& r, pb::PutResponse* out) {
  out->mutable_header()->set_revision(r.revision);
  if (r.prev_kv) to_pb(*r.prev_kv, out->mutable_prev_kv());
}

void to_pb(const kv::DeleteRangeResponse& r, pb::DeleteRangeResponse* out) {
  out->mutable_header()->set_revision(r.revision);
  out->set_deleted(r.deleted);
  for (const kv::KeyValue& k : r.prev_kvs) to_pb(k, out->add_prev_kvs());
}

void to_pb(const kv::TxnResponse& r, pb::TxnResponse* out) {
  out->mutable_header()->set_revision(r.revision);
  out->set_succeeded(r.succeeded);
  for (const kv::ResponseOp& op : r.responses) {
    pb::ResponseOp* o = out->add_responses();
    if (const auto* x = std::get_if<kv::RangeResponse>(&op.response)) {
      to_pb(*x, o->mutable_response_range());
    } else if (const auto* y = std::get_if<kv::PutResponse>(&op.response)) {
      to_pb(*y, o->mutable_response_put());
    } else if (const auto* z = std::get_if<kv::DeleteRangeResponse>(&op.response)) {
      to_pb(*z, o->mutable_response_delete_range());
    } else if (const auto* t = std::get_if<std::shared_ptr<kv::TxnResponse>>(&op.response)) {
      to_pb(**t, o->mutable_response_txn());
    }
  }
}

// A store call's outcome into a Result: its response through `to_result`, or its error.
template <typename T, typename Fill>
void fill(const kv::StatusOr<T>& r, in::Result* out, Fill to_result) {
  if (r.is_ok()) return to_result(r.value());
  out->set_code(static_cast<int32_t>(r.status().code()));
  out->set_message(r.status().message());
}

// ---- the auth state and its snapshot form ----

void to_pb(const security::AuthState& a, in::AuthState* out) {
  out->set_enabled(a.enabled);
  out->set_revision(a.revision);
  for (const auto& [name, u] : a.users) {
    authpb::User* p = out->add_users();
    p->set_name(u.name);
    p->set_password(u.password_hash);
    for (const std::string& r : u.roles) p->add_roles(r);
    if (u.no_password) p->mutable_options()->set_no_password(true);
  }
  for (const auto& [name, r] : a.roles) {
    authpb::Role* p = out->add_roles();
    p->set_name(r.name);
    for (const security::KeyPermission& k : r.permissions) {
      authpb::Permission* q = p->add_keypermission();
      q->set_permtype(static_cast<authpb::Permission::Type>(k.type));
      q->set_key(k.key);
      q->set_range_end(k.range_end);
    }
  }
}

security::AuthState from_pb(const in::AuthState& p) {
  security::AuthState a;
  a.enabled = p.enabled();
  a.revision = p.revision();
  for (const authpb::User& u : p.users()) {
    security::User& x = a.users[u.name()];
    x.name = u.name();
    x.password_hash = u.password();
    x.roles.assign(u.roles().begin(), u.roles().end());
    x.no_password = u.options().no_password();
  }
  for (const authpb::Role& r : p.roles()) {
    security::Role& x = a.roles[r.name()];
    x.name = r.name();
    for (const authpb::Permission& k : r.keypermission()) {
      x.permissions.push_back(
          security::KeyPermission{.type = static_cast<security::PermType>(k.permtype()),
                                  .key = k.key(),
                                  .range_end = k.range_end()});
    }
  }
  return a;
}

void refuse(const absl::Status& s, in::Result* out) {
  const grpc::Status g = to_grpc(s);
  out->set_code(static_cast<int32_t>(g.error_code()));
  out->set_message(g.error_message());
}

// The cluster action a command performs, for the commands the state machine applies
// (membership and timeouts are the core's; their check is the receiving member's).
std::optional<std::string_view> applied_action(const in::Command& c) {
  switch (c.op_case()) {
    case in::Command::kSetLimits:
      return "change_config";
    case in::Command::kSetAuthz:
    case in::Command::kAuthEnable:
    case in::Command::kAuthDisable:
    case in::Command::kUserAdd:
    case in::Command::kUserDelete:
    case in::Command::kUserChangePassword:
    case in::Command::kUserGrantRole:
    case in::Command::kUserRevokeRole:
    case in::Command::kRoleAdd:
    case in::Command::kRoleDelete:
    case in::Command::kRoleGrantPermission:
    case in::Command::kRoleRevokePermission:
      return "manage_auth";
    case in::Command::kCompaction:
      return "compact";
    case in::Command::kAlarm:
      return c.alarm().action() == pb::AlarmRequest::GET ? std::nullopt
                                                         : std::optional<std::string_view>("alarm");
    default:
      return std::nullopt;
  }
}

uint32_t fnv1a(uint32_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

KvStateMachine::KvStateMachine(kv::StoreOptions options)
    : store_(options), tokens_(std::make_unique<security::SimpleTokens>(std::chrono::minutes(5))) {}

void KvStateMachine::set_token_ttl(std::chrono::nanoseconds ttl) {
  tokens_ = std::make_unique<security::SimpleTokens>(ttl);
}

std::string KvStateMachine::apply(raft::LogIndex index, std::string_view command) {
  in::Command c;
  in::Result result;
  if (!c.ParseFromArray(command.data(), static_cast<int>(command.size()))) {
    // Every replica refuses the same bytes the same way; nothing changes.
    result.set_code(static_cast<int32_t>(grpc::StatusCode::INTERNAL));
    result.set_message("raftkv: a log entry is not a command this version understands");
    return result.SerializeAsString();
  }
  if (raftlog::enabled(raftlog::Level::kDebug)) {
    // Who changed what, on every member: an audit trail at debug.
    const google::protobuf::FieldDescriptor* op =
        in::Command::descriptor()->FindFieldByNumber(c.op_case());
    raftlog::debug("kv", "applying command",
                   {{"index", index.value()},
                    {"op", op != nullptr ? op->name() : "none"},
                    {"user", c.user()}});
  }
  std::vector<in::MemberAttributes> changed;
  std::vector<std::function<void()>> ready;
  std::optional<raftkv::admin::Limits> limits;
  {
    std::unique_lock<std::mutex> lock(mu_);
    // A compaction would drop versions a snapshot being written still needs.
    if (c.has_compaction())
      snapshots_done_.wait(lock, [this] { return store_.open_savers() == 0; });
    applying_index_ = index.value();
    result = apply_command(c);
    if (c.has_member_attributes()) changed.push_back(attributes_[c.member_attributes().id()]);
    if (c.has_set_limits() && result.code() == 0) limits = limits_;
    ready = ready_watchers();
  }
  for (const auto& r : ready) r();
  if (member_listener_) {
    for (const auto& m : changed) member_listener_(m);
  }
  if (limits.has_value() && limits_listener_) limits_listener_(*limits);
  return result.SerializeAsString();
}

std::vector<std::function<void()>> KvStateMachine::ready_watchers() {
  std::vector<std::function<void()>> out;
  std::vector<kv::WatchId> ids = store_.take_ready_watchers();
  ids.insert(ids.end(), revoked_ready_.begin(), revoked_ready_.end());
  revoked_ready_.clear();
  for (kv::WatchId id : ids) {
    auto it = watch_ready_.find(id);
    if (it != watch_ready_.end()) out.push_back(it->second);
  }
  return out;
}

in::Result KvStateMachine::apply_command(const in::Command& c) {
  // One handler per kind of command; a kind this table lacks is refused the same way on
  // every replica.
  static const std::map<in::Command::OpCase, Apply> kApply = {
      {in::Command::kPut, &KvStateMachine::apply_put},
      {in::Command::kDeleteRange, &KvStateMachine::apply_delete_range},
      {in::Command::kTxn, &KvStateMachine::apply_txn},
      {in::Command::kCompaction, &KvStateMachine::apply_compaction},
      {in::Command::kLeaseGrant, &KvStateMachine::apply_lease_grant},
      {in::Command::kLeaseRevoke, &KvStateMachine::apply_lease_revoke},
      {in::Command::kMemberAttributes, &KvStateMachine::apply_member_attributes},
      {in::Command::kMemberForget, &KvStateMachine::apply_member_forget},
      {in::Command::kAlarm, &KvStateMachine::apply_alarm},
      {in::Command::kSetLimits, &KvStateMachine::apply_set_limits},
      {in::Command::kAuthEnable, &KvStateMachine::apply_auth},
      {in::Command::kAuthDisable, &KvStateMachine::apply_auth},
      {in::Command::kAuthenticate, &KvStateMachine::apply_authenticate},
      {in::Command::kUserAdd, &KvStateMachine::apply_auth},
      {in::Command::kUserDelete, &KvStateMachine::apply_auth},
      {in::Command::kUserChangePassword, &KvStateMachine::apply_auth},
      {in::Command::kUserGrantRole, &KvStateMachine::apply_auth},
      {in::Command::kUserRevokeRole, &KvStateMachine::apply_auth},
      {in::Command::kRoleAdd, &KvStateMachine::apply_auth},
      {in::Command::kRoleDelete, &KvStateMachine::apply_auth},
      {in::Command::kRoleGrantPermission, &KvStateMachine::apply_auth},
      {in::Command::kRoleRevokePermission, &KvStateMachine::apply_auth},
      {in::Command::kSetAuthz, &KvStateMachine::apply_authz},
      {in::Command::kBootstrapAuthz, &KvStateMachine::apply_authz},
  };
  in::Result out;
  auto handler = kApply.find(c.op_case());
  if (handler == kApply.end()) {
    out.set_code(static_cast<int32_t>(grpc::StatusCode::INVALID_ARGUMENT));
    out.set_message("raftkv: empty command");
    return out;
  }
  // A cluster operation is authorized again as it applies, on every member alike, against
  // the auth state and policy the log has reached: one revoked after the member that
  // received it checked it is refused here (as etcd checks admin calls when applying).
  if (const std::optional<std::string_view> action = applied_action(c);
      action.has_value() && !c.member_write()) {
    if (absl::Status s =
            authorize(Identity{.user = c.user(), .auth_revision = c.auth_revision()}, *action);
        !s.ok()) {
      refuse(s, &out);
      return out;
    }
  }
  // etcd's capped and corrupt appliers: while an alarm is armed the writes it stops are
  // refused, on every replica alike, until someone disarms it.
  if (const std::optional<grpc::Status> capped = refused_by_alarm(c)) {
    out.set_code(static_cast<int32_t>(capped->error_code()));
    out.set_message(capped->error_message());
    return out;
  }
  const bool quota_was_exceeded = store_.space_exceeded();
  (this->*handler->second)(c, &out);
  // A write refused for space raises etcd's NOSPACE alarm, on every replica alike.
  if (!quota_was_exceeded &&
      out.code() == static_cast<int32_t>(grpc::StatusCode::RESOURCE_EXHAUSTED)) {
    raise_nospace_alarm();
  }
  return out;
}

void KvStateMachine::count_ops(const pb::TxnResponse& r) {
  ++ops_.txn;
  for (const pb::ResponseOp& op : r.responses()) {
    switch (op.response_case()) {
      case pb::ResponseOp::kResponseRange:
        ++ops_.range;
        break;
      case pb::ResponseOp::kResponsePut:
        ++ops_.put;
        break;
      case pb::ResponseOp::kResponseDeleteRange:
        ++ops_.delete_range;
        break;
      case pb::ResponseOp::kResponseTxn:
        count_ops(op.response_txn());
        break;
      case pb::ResponseOp::RESPONSE_NOT_SET:
        break;
    }
  }
}

void KvStateMachine::apply_put(const in::Command& c, in::Result* out) {
  if (refused_by_auth(c, c.put(), c.put().lease(), out)) return;
  ++ops_.put;
  fill(store_.put(to_kv(c.put())), out, [&](const auto& r) { to_pb(r, out->mutable_put()); });
}

void KvStateMachine::apply_delete_range(const in::Command& c, in::Result* out) {
  if (refused_by_auth(c, c.delete_range(), 0, out)) return;
  ++ops_.delete_range;
  fill(store_.delete_range(to_kv(c.delete_range())), out,
       [&](const auto& r) { to_pb(r, out->mutable_delete_range()); });
}

void KvStateMachine::apply_txn(const in::Command& c, in::Result* out) {
  if (refused_by_auth(c, c.txn(), 0, out)) return;
  fill(store_.txn(to_kv(c.txn())), out, [&](const auto& r) {
    to_pb(r, out->mutable_txn());
    count_ops(out->txn());
  });
}

void KvStateMachine::apply_compaction(const in::Command& c, in::Result* out) {
  fill(store_.compact(kv::CompactionRequest{c.compaction().revision(), c.compaction().physical()}),
       out, [&](const auto& r) {
         out->mutable_compaction()->mutable_header()->set_revision(r.revision);
       });
}

void KvStateMachine::apply_lease_grant(const in::Command& c, in::Result* out) {
  fill(store_.lease_grant(kv::LeaseGrantRequest{c.lease_grant().ttl(), c.lease_grant().id()},
                          Clock::now()),
       out, [&](const auto& r) {
         pb::LeaseGrantResponse* g = out->mutable_lease_grant();
         g->mutable_header()->set_revision(r.revision);
         g->set_id(r.id);
         g->set_ttl(r.ttl);
       });
}

void KvStateMachine::apply_lease_revoke(const in::Command& c, in::Result* out) {
  if (refused_by_auth(c, c.lease_revoke(), c.lease_revoke().id(), out)) return;
  fill(store_.lease_revoke(kv::LeaseRevokeRequest{c.lease_revoke().id()}), out, [&](const auto& r) {
    out->mutable_lease_revoke()->mutable_header()->set_revision(r.revision);
  });
}

void KvStateMachine::apply_member_attributes(const in::Command& c, in::Result*) {
  const in::MemberAttributes& a = c.member_attributes();
  in::MemberAttributes& m = attributes_[a.id()];
  m.set_id(a.id());
  if (!a.name().empty()) m.set_name(a.name());
  if (a.peer_urls_size() > 0) *m.mutable_peer_urls() = a.peer_urls();
  if (a.client_urls_size() > 0) *m.mutable_client_urls() = a.client_urls();
}

void KvStateMachine::apply_member_forget(const in::Command& c, in::Result*) {
  attributes_.erase(c.member_forget());
}

void KvStateMachine::apply_alarm(const in::Command& c, in::Result* out) {
  const pb::AlarmRequest& a = c.alarm();
  auto matches = [&](const pb::AlarmMember& m) {
    return (a.memberid() == 0 || m.memberid() == a.memberid()) &&
           (a.alarm() == pb::NONE || m.alarm() == a.alarm());
  };
  if (a.action() == pb::AlarmRequest::ACTIVATE && a.alarm() != pb::NONE) {
    bool present = false;
    for (const auto& m : alarms_) present |= m.memberid() == a.memberid() && m.alarm() == a.alarm();
    if (!present) {
      pb::AlarmMember m;
      m.set_memberid(a.memberid());
      m.set_alarm(a.alarm());
      alarms_.push_back(m);
      *out->mutable_alarm()->add_alarms() = m;
    }
  } else if (a.action() == pb::AlarmRequest::DEACTIVATE) {
    for (const auto& m : alarms_) {
      if (matches(m)) *out->mutable_alarm()->add_alarms() = m;
    }
    std::erase_if(alarms_, matches);
  }
  alarms_changed();
  out->mutable_alarm()->mutable_header()->set_revision(store_.revision());
}

void KvStateMachine::apply_set_limits(const in::Command& c, in::Result* out) {
  // Checked again here, the same on every replica: limits no member could have proposed
  // are refused and change nothing.
  if (absl::Status s = limits::validate(from_proto(c.set_limits())); !s.ok()) {
    out->set_code(static_cast<int32_t>(grpc::StatusCode::INVALID_ARGUMENT));
    out->set_message(std::string(s.message()));
    return;
  }
  limits_ = c.set_limits();
  limits_set_ = true;
  *out->mutable_set_limits() = limits_;
}

bool KvStateMachine::refused_by_auth(const in::Command& c, const google::protobuf::Message& req,
                                     int64_t lease, in::Result* out) {
  // The member's own writes (the leader revoking an expired lease) need no user.
  if (!auth_enabled() || c.member_write()) return false;
  std::shared_lock lock(auth_mu_);
  const Identity who{.user = c.user(), .auth_revision = c.auth_revision()};
  absl::Status s = server::check_keys(auth_, who, req);
  if (s.ok() && lease != 0) {
    // etcd: a put attaching a lease, or a lease revoke, writes every key of that lease.
    kv::LeaseTimeToLiveResponse keys =
        store_.lease_time_to_live(kv::LeaseTimeToLiveRequest{lease, true}, Clock::now());
    for (const std::string& k : keys.keys) {
      s = auth_.check_key(who.user, who.auth_revision, k, "", security::PermType::kWrite);
      if (!s.ok()) break;
    }
  }
  if (s.ok()) return false;
  refuse(s, out);
  return true;
}

void KvStateMachine::apply_auth(const in::Command& c, in::Result* out) {
  absl::Status s;
  {
    std::unique_lock lock(auth_mu_);
    switch (c.op_case()) {
      case in::Command::kAuthEnable:
        s = auth_.enable();
        break;
      case in::Command::kAuthDisable:
        s = auth_.disable();
        if (s.ok()) tokens_->clear();
        break;
      case in::Command::kUserAdd: {
        const pb::AuthUserAddRequest& r = c.user_add();
        s = auth_.user_add(r.name(), r.hashedpassword(), r.options().no_password());
        break;
      }
      case in::Command::kUserDelete:
        s = auth_.user_delete(c.user_delete().name());
        if (s.ok()) tokens_->revoke_user(c.user_delete().name());
        break;
      case in::Command::kUserChangePassword: {
        const pb::AuthUserChangePasswordRequest& r = c.user_change_password();
        s = auth_.user_change_password(r.name(), r.hashedpassword());
        if (s.ok()) tokens_->revoke_user(r.name());
        break;
      }
      case in::Command::kUserGrantRole:
        s = auth_.user_grant_role(c.user_grant_role().user(), c.user_grant_role().role());
        break;
      case in::Command::kUserRevokeRole:
        s = auth_.user_revoke_role(c.user_revoke_role().name(), c.user_revoke_role().role());
        break;
      case in::Command::kRoleAdd:
        s = auth_.role_add(c.role_add().name());
        break;
      case in::Command::kRoleDelete:
        s = auth_.role_delete(c.role_delete().role());
        break;
      case in::Command::kRoleGrantPermission: {
        const authpb::Permission& p = c.role_grant_permission().perm();
        s = auth_.role_grant_permission(
            c.role_grant_permission().name(),
            security::KeyPermission{.type = static_cast<security::PermType>(p.permtype()),
                                    .key = p.key(),
                                    .range_end = p.range_end()});
        break;
      }
      case in::Command::kRoleRevokePermission: {
        const pb::AuthRoleRevokePermissionRequest& r = c.role_revoke_permission();
        s = auth_.role_revoke_permission(r.role(), r.key(), r.range_end());
        break;
      }
      default:
        s = absl::InvalidArgumentError("raftkv: not an auth command");
    }
    auth_enabled_.store(auth_.enabled(), std::memory_order_release);
  }
  if (!s.ok()) return refuse(s, out);
  revoke_watches();
}

void KvStateMachine::apply_authenticate(const in::Command& c, in::Result* out) {
  std::shared_lock lock(auth_mu_);
  const in::Authenticate& a = c.authenticate();
  // The password was checked by the member that received the request; the user may have
  // gone, or auth been turned off, since.
  if (!auth_.enabled()) {
    return refuse(
        security::auth_error(security::AuthErrorKind::kAuthNotEnabled, "auth is not enabled"), out);
  }
  const security::User* u = auth_.user(a.name());
  if (u == nullptr || u->no_password) {
    return refuse(security::auth_error(security::AuthErrorKind::kAuthFailed,
                                       "no such user, or it has no password"),
                  out);
  }
  const std::string token = a.token_prefix() + "." + std::to_string(applying_index_);
  tokens_->assign(token, a.name(), security::SimpleTokens::Clock::now());
  out->mutable_authenticate()->set_token(token);
}

void KvStateMachine::apply_authz(const in::Command& c, in::Result* out) {
  const bool bootstrap = c.has_bootstrap_authz();
  const raftkv::admin::Authz& a = bootstrap ? c.bootstrap_authz() : c.set_authz();
  std::unique_lock lock(auth_mu_);
  // A member's --authz-*-file flags count only while the log never set a policy: the
  // first member's to commit wins, and raftkvctl's later changes outlive restarts.
  if (bootstrap && authz_.revision() > 0) {
    *out->mutable_authz() = authz_;
    out->mutable_authz()->clear_model();
    out->mutable_authz()->clear_policy();
    return;
  }
  // Checked again here, the same on every replica: a policy that does not load changes
  // nothing.
  absl::StatusOr<security::Enforcer> e =
      security::Enforcer::create(a.model(), a.model_name(), a.policy(), a.policy_name());
  if (!e.ok()) {
    out->set_code(static_cast<int32_t>(grpc::StatusCode::INVALID_ARGUMENT));
    out->set_message(std::string(e.status().message()));
    return;
  }
  const uint64_t revision = authz_.revision() + 1;
  authz_ = a;
  authz_.set_revision(revision);
  authz_.set_fingerprint(e->fingerprint());
  enforcer_ = std::make_shared<const security::Enforcer>(*std::move(e));
  *out->mutable_authz() = authz_;
  out->mutable_authz()->clear_model();
  out->mutable_authz()->clear_policy();
}

absl::Status KvStateMachine::authorize(const Identity& who, std::string_view action) {
  if (!auth_enabled()) return absl::OkStatus();
  std::shared_lock lock(auth_mu_);
  if (who.user.empty()) {
    return security::auth_error(security::AuthErrorKind::kUserEmpty,
                                "auth is enabled and the request names no user");
  }
  if (auth_.has_root_role(who.user)) return absl::OkStatus();
  // The subjects: the user (an etcd user, or a certificate's name the policy may name
  // directly), then each etcd role it holds.
  std::vector<std::string> subjects{who.user};
  if (const security::User* u = auth_.user(who.user)) {
    subjects.insert(subjects.end(), u->roles.begin(), u->roles.end());
  }
  std::string problem;
  if (enforcer_ != nullptr) {
    for (const std::string& s : subjects) {
      absl::StatusOr<bool> allowed = enforcer_->enforce({s, "cluster", std::string(action)});
      if (allowed.ok() && *allowed) return absl::OkStatus();
      if (!allowed.ok())
        problem = "; the policy could not answer: " + std::string(allowed.status().message());
    }
  }
  std::string roles;
  for (size_t i = 1; i < subjects.size(); ++i) roles += (i > 1 ? ", " : "") + subjects[i];
  return security::auth_error(security::AuthErrorKind::kActionDenied,
                              "user " + who.user + " (roles: " + (roles.empty() ? "none" : roles) +
                                  ") may not " + std::string(action) +
                                  " on cluster (authorization policy revision " +
                                  std::to_string(authz_.revision()) + ")" + problem);
}

raftkv::admin::Authz KvStateMachine::authz() {
  std::shared_lock lock(auth_mu_);
  return authz_;
}

void KvStateMachine::set_default_authz(std::shared_ptr<const security::Enforcer> enforcer,
                                       raftkv::admin::Authz texts) {
  std::unique_lock lock(auth_mu_);
  texts.set_revision(0);
  texts.set_fingerprint(enforcer->fingerprint());
  default_enforcer_ = enforcer;
  default_authz_ = texts;
  if (authz_.revision() == 0) {
    enforcer_ = std::move(enforcer);
    authz_ = std::move(texts);
  }
}

void KvStateMachine::revoke_watches() {
  std::shared_lock lock(auth_mu_);
  if (!auth_.enabled()) return;
  for (const auto& [id, w] : watch_auth_) {
    if (watch_revoked_.contains(id)) continue;
    if (!auth_
             .check_key(w.who.user, auth_.revision(), w.key, w.range_end, security::PermType::kRead)
             .ok()) {
      watch_revoked_.insert(id);
      revoked_ready_.push_back(id);
    }
  }
}

absl::StatusOr<Identity> KvStateMachine::identify_token(std::string_view token) {
  if (jwt_ != nullptr) {
    // A JWT names its user and the auth revision it was issued at; a token older than the
    // auth state is refused by the checks ("revision of auth store is old"), as in etcd.
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    {
      std::shared_lock lock(jwt_cache_mu_);
      auto it = jwt_cache_.find(token);
      if (it != jwt_cache_.end() && it->second.exp > now) {
        return Identity{.user = it->second.user, .auth_revision = it->second.revision};
      }
    }
    absl::StatusOr<security::JwtTokens::Claims> claims = jwt_->verify(token, now);
    if (!claims.ok()) return claims.status();
    {
      std::unique_lock lock(jwt_cache_mu_);
      if (jwt_cache_.size() >= kJwtCacheEntries) jwt_cache_.clear();
      jwt_cache_.insert_or_assign(std::string(token), *claims);
    }
    return Identity{.user = std::move(claims->user), .auth_revision = claims->revision};
  }
  std::optional<std::string> user = tokens_->user_of(token, security::SimpleTokens::Clock::now());
  if (!user) {
    return security::auth_error(security::AuthErrorKind::kInvalidToken,
                                "the token is unknown or expired");
  }
  return Identity{.user = std::move(*user), .auth_revision = auth_revision()};
}

uint64_t KvStateMachine::auth_revision() {
  std::shared_lock lock(auth_mu_);
  return auth_.revision();
}

absl::Status KvStateMachine::check_keys(const Identity& who, const google::protobuf::Message& req) {
  if (!auth_enabled()) return absl::OkStatus();
  std::shared_lock lock(auth_mu_);
  return server::check_keys(auth_, who, req);
}

absl::Status KvStateMachine::check_read(const Identity& who, const std::string& key,
                                        const std::string& range_end) {
  if (!auth_enabled()) return absl::OkStatus();
  std::shared_lock lock(auth_mu_);
  return auth_.check_key(who.user, who.auth_revision, key, range_end, security::PermType::kRead);
}

absl::Status KvStateMachine::check_admin(const std::string& user) {
  if (!auth_enabled()) return absl::OkStatus();
  std::shared_lock lock(auth_mu_);
  return auth_.check_admin(user);
}

void KvStateMachine::read_auth(const std::function<void(const security::AuthStore&)>& f) {
  std::shared_lock lock(auth_mu_);
  f(auth_);
}

std::optional<raftkv::admin::Limits> KvStateMachine::limits() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!limits_set_) return std::nullopt;
  return limits_;
}

void KvStateMachine::raise_nospace_alarm() {
  // Every replica holds the same store, so every member is over its quota: as etcd's
  // members each raise their own, the alarm is raised for each member (not for id 0),
  // deterministically, from the applied membership.
  for (const auto* ids :
       {&membership_.voters, &membership_.voters_outgoing, &membership_.learners}) {
    for (raft::NodeId id : *ids) {
      const bool raised = std::any_of(alarms_.begin(), alarms_.end(), [&](const auto& a) {
        return a.alarm() == pb::NOSPACE && a.memberid() == id.value();
      });
      if (raised) continue;
      pb::AlarmMember m;
      m.set_memberid(id.value());
      m.set_alarm(pb::NOSPACE);
      alarms_.push_back(m);
    }
  }
  alarms_changed();
}

void KvStateMachine::alarms_changed() { armed_ = alarm_set(alarms_); }

std::optional<grpc::Status> KvStateMachine::refused_by_alarm(const in::Command& c) const {
  const AlarmSet armed = armed_.load(std::memory_order_relaxed);
  if (armed == AlarmSet::kNone) return std::nullopt;
  switch (c.op_case()) {
    case in::Command::kPut:
      return refused_by_alarm(c.put());
    case in::Command::kDeleteRange:
      return refused_by_alarm(c.delete_range());
    case in::Command::kTxn:
      return refused_by_alarm(c.txn());
    case in::Command::kCompaction:
      return refused_by_alarm(c.compaction());
    case in::Command::kLeaseGrant:
      return refused_by_alarm(c.lease_grant());
    case in::Command::kLeaseRevoke:
      return refused_by_alarm(c.lease_revoke());
    default:
      return std::nullopt;
  }
}

std::optional<grpc::Status> KvStateMachine::refused_by_alarm(
    const google::protobuf::Message& req) const {
  const AlarmSet armed = armed_.load(std::memory_order_relaxed);
  if (armed == AlarmSet::kNone) return std::nullopt;
  const google::protobuf::Descriptor* d = req.GetDescriptor();
  const bool kv_call =
      d == pb::PutRequest::descriptor() || d == pb::DeleteRangeRequest::descriptor() ||
      d == pb::TxnRequest::descriptor() || d == pb::CompactionRequest::descriptor() ||
      d == pb::LeaseGrantRequest::descriptor() || d == pb::LeaseRevokeRequest::descriptor() ||
      d == pb::RangeRequest::descriptor();
  if (armed == AlarmSet::kCorrupt) {
    if (!kv_call) return std::nullopt;
    return grpc::Status(grpc::StatusCode::DATA_LOSS, "etcdserver: corrupt cluster");
  }
  // NOSPACE: puts, lease grants and transactions that write stop; reads, deletes,
  // compactions and revokes (which free space) go on.
  const bool writes = d == pb::PutRequest::descriptor() ||
                      d == pb::LeaseGrantRequest::descriptor() ||
                      (d == pb::TxnRequest::descriptor() &&
                       !txn_is_read_only(static_cast<const pb::TxnRequest&>(req)));
  if (!writes) return std::nullopt;
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "etcdserver: mvcc: database space exceeded");
}

std::string KvStateMachine::snapshot() {
  int64_t revision = 0;
  return snapshot(&revision);
}

std::string KvStateMachine::snapshot(int64_t* revision) {
  std::string out;
  (void)write_snapshot(
      [&out](std::string_view bytes) {
        out.append(bytes);
        return true;
      },
      revision, &out);
  return out;
}

absl::Status KvStateMachine::snapshot_to(const std::function<bool(std::string_view)>& write) {
  int64_t revision = 0;
  return write_snapshot(write, &revision, nullptr);
}

std::string KvStateMachine::snapshot_head() {
  in::ClusterState cs;
  for (const auto& [id, m] : attributes_) *cs.add_members() = m;
  for (const auto& a : alarms_) *cs.add_alarms() = a;
  if (limits_set_) *cs.mutable_limits() = limits_;
  {
    std::shared_lock auth_lock(auth_mu_);
    if (auth_.state() != security::AuthState{}) to_pb(auth_.state(), cs.mutable_auth());
    if (authz_.revision() > 0) *cs.mutable_authz() = authz_;
  }
  // The snapshot format: u64 length | ClusterState | the store's snapshot.
  const std::string state = cs.SerializeAsString();
  std::string head;
  raft::ByteWriter w(&head);
  w.u64(state.size());
  w.bytes(state);
  return head;
}

absl::Status KvStateMachine::write_snapshot(const std::function<bool(std::string_view)>& write,
                                            int64_t* revision, std::string* reserve) {
  std::lock_guard<std::mutex> lock(mu_);
  *revision = store_.revision();
  const std::string head = snapshot_head();
  if (reserve != nullptr) {
    // The store counts each revision at its key, value and 64 bytes, more than the
    // format spends on it: one allocation, never a copy of a large store.
    reserve->reserve(head.size() + static_cast<size_t>(store_.size_bytes()) + 4096);
  }
  if (!write(head)) return absl::AbortedError("the snapshot's bytes could not be written");
  kv::Status s = store_.save_snapshot([&write](std::string_view chunk) {
    return write(chunk)
               ? kv::Status::ok()
               : kv::Status(kv::Code::kInternal, "the snapshot's bytes could not be written");
  });
  if (!s.is_ok()) return absl::AbortedError(s.message());
  return absl::OkStatus();
}

class KvStateMachine::SnapshotJob final : public node::SnapshotJob {
 public:
  // Under the owner's lock.
  // `since` > 0: only what the store gained after that revision, extending `base`.
  SnapshotJob(KvStateMachine* owner, int64_t since, raft::LogIndex base)
      : owner_(owner), base_(base), pending_(owner->snapshot_head()) {
    saver_ = owner_->store_.begin_snapshot(
        [this](std::string_view chunk) {
          pending_.append(chunk);
          return kv::Status::ok();
        },
        since);
  }
  raft::LogIndex extends() const override { return base_; }
  ~SnapshotJob() override {
    {
      std::lock_guard<std::mutex> lock(owner_->mu_);
      saver_.reset();  // the store's open savers, which compactions wait on, go down
    }
    owner_->snapshots_done_.notify_all();
  }
  SnapshotJob(const SnapshotJob&) = delete;
  SnapshotJob& operator=(const SnapshotJob&) = delete;

  absl::Status write_to(const std::function<bool(std::string_view)>& write) override {
    for (bool more = true; more;) {
      kv::Status status;
      {
        std::lock_guard<std::mutex> lock(owner_->mu_);
        more = saver_->next(kPartBytes);
        status = saver_->status();
      }
      if (!status.is_ok()) return absl::InternalError(status.message());
      // Outside the lock: the file's write, which applies and reads need not wait for.
      if (!pending_.empty() && !write(pending_)) {
        return absl::AbortedError("the snapshot's bytes could not be written");
      }
      pending_.clear();
    }
    return absl::OkStatus();
  }

 private:
  // About 1 MiB encoded per hold of the lock: a few hundred microseconds that an apply or
  // a read may wait behind.
  static constexpr size_t kPartBytes = size_t{1} << 20;

  KvStateMachine* const owner_;
  const raft::LogIndex base_;
  std::string pending_;  // encoded, not yet written (the cluster state first)
  std::unique_ptr<kv::Store::SnapshotSaver> saver_;
};

std::unique_ptr<node::SnapshotJob> KvStateMachine::begin_snapshot(
    const node::SnapshotPlace& place) {
  std::lock_guard<std::mutex> lock(mu_);
  // The store keeps every version until a compaction: the state at `place.latest` plus
  // the versions written since is the state now, unless a compaction or a restore came
  // between (the epoch moved). Anything else is written whole.
  const uint64_t epoch = store_.history_epoch();
  SnapshotMark mark{place.index.value(), store_.revision(), epoch, 0};
  int64_t since = 0;
  raft::LogIndex base;
  for (const SnapshotMark& m : snapshot_marks_) {
    if (place.latest.value() != 0 && m.index == place.latest.value() && m.epoch == epoch &&
        m.chain + 1 < kMaxSnapshotChain) {
      since = m.revision;
      base = place.latest;
      mark.chain = m.chain + 1;
    }
  }
  snapshot_marks_.push_back(mark);
  // A snapshot in flight may not be on disk yet when the next begins: keep a few.
  if (snapshot_marks_.size() > 4) snapshot_marks_.erase(snapshot_marks_.begin());
  return std::make_unique<SnapshotJob>(this, since, base);
}

namespace {

// A snapshot's cluster state (what precedes each of the store's segments) and the
// authorization policy it carries, checked: a policy that no longer loads (another
// version of the reader) refuses the snapshot rather than enforce less.
absl::Status parse_cluster_state(std::string_view head, in::ClusterState* cs,
                                 std::shared_ptr<const security::Enforcer>* enforcer) {
  if (!cs->ParseFromArray(head.data(), static_cast<int>(head.size()))) {
    return absl::DataLossError("KV snapshot: the cluster state does not parse");
  }
  enforcer->reset();
  if (cs->has_authz()) {
    const raftkv::admin::Authz& a = cs->authz();
    absl::StatusOr<security::Enforcer> e =
        security::Enforcer::create(a.model(), a.model_name(), a.policy(), a.policy_name());
    if (!e.ok()) {
      return absl::DataLossError("KV snapshot: its authorization policy does not load: " +
                                 std::string(e.status().message()));
    }
    *enforcer = std::make_shared<const security::Enforcer>(*std::move(e));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status KvStateMachine::restore(std::string_view data) {
  // u64 length | cluster state | the store's whole segment, then, for each snapshot that
  // extended it, u64 length | cluster state | the store's delta segment. The last cluster
  // state is the one at the snapshot's index.
  raft::ByteReader r(data);
  uint64_t n = 0;
  if (!r.u64(&n)) return absl::DataLossError("KV snapshot is shorter than its header");
  std::string_view head;
  if (!r.bytes(n, &head)) return absl::DataLossError("KV snapshot header overruns the data");
  in::ClusterState cs;
  std::shared_ptr<const security::Enforcer> enforcer;
  if (absl::Status s = parse_cluster_state(head, &cs, &enforcer); !s.ok()) return s;
  // Read the store's part in place: no second copy of the snapshot.
  struct ViewBuffer : std::streambuf {
    explicit ViewBuffer(std::string_view v) {
      char* p = const_cast<char*>(v.data());  // only read: a get area needs char*
      setg(p, p, p + v.size());
    }
    std::string_view take(uint64_t k) {  // the next k bytes, or fewer at the end
      const auto left = static_cast<uint64_t>(egptr() - gptr());
      std::string_view out(gptr(), static_cast<size_t>(std::min(k, left)));
      setg(eback(), gptr() + out.size(), egptr());
      return out;
    }
  } view(r.rest());
  std::istream rest(&view);
  // Between two of the store's segments: the next cluster state, which replaces the one
  // before (its policy checked as it is read: nothing is replaced if one fails).
  absl::Status between_error;
  auto between = [&](std::istream&) {
    std::string_view len = view.take(8);
    uint64_t k = 0;
    std::string_view next;
    if (raft::ByteReader lr(len); !lr.u64(&k) || (next = view.take(k)).size() != k) {
      between_error = absl::DataLossError("KV snapshot: a cluster state overruns the data");
    } else {
      between_error = parse_cluster_state(next, &cs, &enforcer);
    }
    return between_error.ok()
               ? kv::Status::ok()
               : kv::Status(kv::Code::kDataLoss, std::string(between_error.message()));
  };
  std::vector<in::MemberAttributes> changed;
  std::vector<std::function<void()>> ready;
  {
    std::unique_lock<std::mutex> lock(mu_);
    snapshots_done_.wait(lock, [this] { return store_.open_savers() == 0; });
    kv::Status s = store_.restore_snapshot(rest, between);
    if (!between_error.ok()) return between_error;
    if (!s.is_ok()) return absl::DataLossError("KV snapshot: " + s.message());
    attributes_.clear();
    for (const auto& m : cs.members()) {
      attributes_[m.id()] = m;
      changed.push_back(m);
    }
    alarms_.assign(cs.alarms().begin(), cs.alarms().end());
    alarms_changed();
    limits_ = cs.limits();
    limits_set_ = cs.has_limits();
    {
      std::unique_lock auth_lock(auth_mu_);
      auth_ = security::AuthStore(cs.has_auth() ? from_pb(cs.auth()) : security::AuthState{});
      if (enforcer != nullptr) {
        enforcer_ = std::move(enforcer);
        authz_ = cs.authz();
      } else {
        enforcer_ = default_enforcer_;
        authz_ = default_authz_;
      }
      auth_enabled_.store(auth_.enabled(), std::memory_order_release);
    }
    revoke_watches();
    ready = ready_watchers();
  }
  for (const auto& r : ready) r();
  if (member_listener_) {
    for (const auto& m : changed) member_listener_(m);
  }
  if (cs.has_limits() && limits_listener_) limits_listener_(cs.limits());
  return absl::OkStatus();
}

void KvStateMachine::on_membership(const raft::Membership& membership) {
  std::lock_guard<std::mutex> lock(mu_);
  membership_ = membership;
  self_learner_ = membership.learners.contains(raft::NodeId(self_.load()));
}

void KvStateMachine::on_leadership(bool leader, raft::Term term) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!leader) {
    leading_term_ = raft::Term();
    return;
  }
  // A new leader gives every lease a full TTL again, as etcd's lessor Promote does.
  store_.promote(Clock::now());
  leading_term_ = term;
}

absl::StatusOr<std::string> KvStateMachine::leader_call(std::string_view payload) {
  in::LeaderCall call;
  if (!call.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError("leader call: not a raftkv.internal.LeaderCall (" +
                                      std::to_string(payload.size()) + " bytes)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  switch (call.call_case()) {
    case in::LeaderCall::kKeepAlive: {
      const int64_t id = call.keep_alive().id();
      pb::LeaseKeepAliveResponse resp;
      auto r = store_.lease_keep_alive(kv::LeaseKeepAliveRequest{id}, Clock::now());
      resp.set_id(id);
      resp.mutable_header()->set_revision(store_.revision());
      resp.set_ttl(r.is_ok() ? r->ttl : 0);
      return resp.SerializeAsString();
    }
    case in::LeaderCall::kTimeToLive: {
      const pb::LeaseTimeToLiveRequest& req = call.time_to_live();
      pb::LeaseTimeToLiveResponse resp;
      kv::LeaseTimeToLiveResponse r =
          store_.lease_time_to_live(kv::LeaseTimeToLiveRequest{req.id(), req.keys()}, Clock::now());
      resp.mutable_header()->set_revision(store_.revision());
      resp.set_id(req.id());
      resp.set_ttl(r.ttl);
      resp.set_grantedttl(r.granted_ttl);
      for (const std::string& k : r.keys) resp.add_keys(k);
      return resp.SerializeAsString();
    }
    case in::LeaderCall::CALL_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("leader call: names no call");
}

grpc::Status KvStateMachine::range_after_barrier(const Identity& who, const pb::RangeRequest& req,
                                                 pb::RangeResponse* resp) {
  if (absl::Status allowed = check_keys(who, req); !allowed.ok()) return to_grpc(allowed);
  return range(req, resp);
}

grpc::Status KvStateMachine::range(const pb::RangeRequest& req, pb::RangeResponse* resp) {
  ++ops_.range;
  std::lock_guard<std::mutex> lock(mu_);
  auto r = store_.range(to_kv(req));
  if (!r.is_ok()) return store_status(r.status());
  to_pb(r.value(), resp);
  return grpc::Status::OK;
}

std::set<int64_t> KvStateMachine::lease_ids() {
  std::lock_guard<std::mutex> lock(mu_);
  const kv::LeaseLeasesResponse r = store_.lease_leases();
  return std::set<int64_t>(r.leases.begin(), r.leases.end());
}

void KvStateMachine::lease_leases(pb::LeaseLeasesResponse* resp) {
  std::lock_guard<std::mutex> lock(mu_);
  kv::LeaseLeasesResponse r = store_.lease_leases();
  resp->mutable_header()->set_revision(store_.revision());
  for (int64_t id : r.leases) resp->add_leases()->set_id(id);
}

std::vector<pb::Member> KvStateMachine::members() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<pb::Member> out;
  auto add = [&](raft::NodeId id, bool learner) {
    pb::Member m;
    m.set_id(id.value());
    m.set_islearner(learner);
    auto it = attributes_.find(id.value());
    if (it != attributes_.end()) {
      m.set_name(it->second.name());
      *m.mutable_peerurls() = it->second.peer_urls();
      *m.mutable_clienturls() = it->second.client_urls();
    }
    out.push_back(std::move(m));
  };
  std::set<raft::NodeId> voters = membership_.voters;
  voters.insert(membership_.voters_outgoing.begin(), membership_.voters_outgoing.end());
  for (raft::NodeId id : voters) add(id, false);
  for (raft::NodeId id : membership_.learners) add(id, true);
  return out;
}

raft::Membership KvStateMachine::membership() {
  std::lock_guard<std::mutex> lock(mu_);
  return membership_;
}

std::vector<pb::AlarmMember> KvStateMachine::alarms() {
  std::lock_guard<std::mutex> lock(mu_);
  return alarms_;
}

int64_t KvStateMachine::revision() {
  std::lock_guard<std::mutex> lock(mu_);
  return store_.revision();
}

int64_t KvStateMachine::size_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return store_.size_bytes();
}

size_t KvStateMachine::key_count() {
  std::lock_guard<std::mutex> lock(mu_);
  return store_.key_count();
}

grpc::Status KvStateMachine::hash_kv(int64_t revision, uint32_t* hash, int64_t* compact) {
  std::lock_guard<std::mutex> lock(mu_);
  kv::RangeRequest all;
  all.key = std::string(1, '\0');
  all.range_end = std::string(1, '\0');
  all.revision = revision;
  auto r = store_.range(all);
  if (!r.is_ok()) return store_status(r.status());
  uint32_t h = 2166136261u;
  for (const kv::KeyValue& k : r->kvs) {
    h = fnv1a(h, k.key);
    h = fnv1a(h, k.value);
    h = fnv1a(h, std::to_string(k.mod_revision));
  }
  *hash = h;
  *compact = store_.compact_revision();
  return grpc::Status::OK;
}

std::vector<int64_t> KvStateMachine::expired_leases(raft::Term term) {
  std::lock_guard<std::mutex> lock(mu_);
  if (term == raft::Term() || term != leading_term_) return {};
  return store_.expired_leases(Clock::now());
}

kv::WatchCreateResponse KvStateMachine::watch_create(const kv::WatchCreateRequest& req,
                                                     std::function<void()> ready,
                                                     const Identity& who) {
  std::lock_guard<std::mutex> lock(mu_);
  kv::WatchCreateResponse r = store_.watch_create(req);
  watch_ready_[r.watch_id] = std::move(ready);
  if (!who.user.empty()) {
    watch_auth_[r.watch_id] = WatchAuth{.who = who, .key = req.key, .range_end = req.range_end};
  }
  return r;
}

kv::WatchResponse KvStateMachine::watch_poll(kv::WatchId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (watch_revoked_.erase(id) > 0) {
    // Its user lost READ on the range: the watch ends as etcd ends a watch it refuses.
    store_.watch_cancel(id);
    watch_ready_.erase(id);
    watch_auth_.erase(id);
    return kv::WatchResponse{.revision = store_.revision(),
                             .watch_id = id,
                             .canceled = true,
                             .compact_revision = 0,
                             .cancel_reason = "etcdserver: permission denied",
                             .events = {}};
  }
  kv::WatchResponse r = store_.watch_poll(id, 1000);
  if (r.canceled) {  // the store dropped it
    watch_ready_.erase(id);
    watch_auth_.erase(id);
  }
  return r;
}

std::optional<int64_t> KvStateMachine::watch_progress(kv::WatchId id) {
  std::lock_guard<std::mutex> lock(mu_);
  return store_.watch_progress(id);
}

void KvStateMachine::watch_cancel(kv::WatchId id) {
  std::lock_guard<std::mutex> lock(mu_);
  store_.watch_cancel(id);
  watch_ready_.erase(id);
  watch_auth_.erase(id);
  watch_revoked_.erase(id);
}

void KvStateMachine::set_limits_listener(std::function<void(const raftkv::admin::Limits&)> f) {
  limits_listener_ = std::move(f);
}

void KvStateMachine::set_member_listener(std::function<void(const in::MemberAttributes&)> f) {
  member_listener_ = std::move(f);
}

std::vector<in::MemberAttributes> KvStateMachine::known_members() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<in::MemberAttributes> out;
  for (const auto& [id, m] : attributes_) out.push_back(m);
  return out;
}

void KvStateMachine::seed_members(const std::vector<in::MemberAttributes>& members) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& m : members) {
    if (!attributes_.contains(m.id())) attributes_[m.id()] = m;
  }
}

}  // namespace server
