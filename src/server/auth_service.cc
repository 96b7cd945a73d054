// etcd's Auth service: users, roles and key permissions through the log, tokens from
// Authenticate. Management calls need role root with auth on, as in etcd (UserGet of
// oneself and RoleGet of one's own role excepted); reads are served from the local state.
#include <grpcpp/grpcpp.h>
#include <openssl/rand.h>

#include "etcd/rpc.grpc.pb.h"
#include "raftkv/internal.pb.h"
#include "security/auth_error.h"
#include "security/jwt_tokens.h"
#include "security/password.h"
#include "server/context.h"
#include "server/errors.h"
#include "server/kv_state_machine.h"
#include "server/services.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;
using security::auth_error;
using security::AuthErrorKind;

// 16 random letters, as etcd's simple tokens begin.
std::string token_prefix() {
  constexpr std::string_view kLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string out;
  // 256 is not a multiple of 52: bytes from 208 up are drawn again, so every letter is
  // equally likely.
  while (out.size() < 16) {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return "";
    for (unsigned char b : bytes) {
      if (b < 208 && out.size() < 16) out += kLetters[b % 52];
    }
  }
  return out;
}

class AuthService {
 public:
  explicit AuthService(Context c) : c_(c) {}

  grpc::Status AuthEnable(grpc::ServerContext* ctx, const pb::AuthEnableRequest* req,
                          pb::AuthEnableResponse* resp) {
    in::Command c;
    *c.mutable_auth_enable() = *req;
    return change(ctx, *req, c, resp);
  }

  grpc::Status AuthDisable(grpc::ServerContext* ctx, const pb::AuthDisableRequest* req,
                           pb::AuthDisableResponse* resp) {
    in::Command c;
    *c.mutable_auth_disable() = *req;
    return change(ctx, *req, c, resp);
  }

  grpc::Status AuthStatus(grpc::ServerContext* ctx, const pb::AuthStatusRequest* req,
                          pb::AuthStatusResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    c_.sm->read_auth([&](const security::AuthStore& a) {
      resp->set_enabled(a.enabled());
      resp->set_authrevision(a.revision());
    });
    return answered(resp);
  }

  grpc::Status Authenticate(grpc::ServerContext* ctx, const pb::AuthenticateRequest* req,
                            pb::AuthenticateResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    std::string hash;
    absl::Status found;
    c_.sm->read_auth([&](const security::AuthStore& a) {
      const security::User* u = a.user(req->name());
      if (!a.enabled()) {
        found = auth_error(AuthErrorKind::kAuthNotEnabled, "auth is not enabled");
      } else if (u == nullptr || u->no_password) {
        found = auth_error(AuthErrorKind::kAuthFailed, "no such user, or it has no password");
      } else {
        hash = u->password_hash;
      }
    });
    if (!found.ok()) return to_grpc(found);
    // bcrypt is slow on purpose: outside every lock.
    if (!security::check_password(req->password(), hash)) {
      return to_grpc(auth_error(AuthErrorKind::kAuthFailed, "wrong password"));
    }
    if (const std::shared_ptr<const security::JwtTokens>& jwt = c_.config->jwt) {
      // A JWT carries the auth revision: this member catches up with the log first, so
      // the token is not born old.
      if (grpc::Status s = c_.read_barrier(); !s.ok()) return s;
      if (!jwt->can_sign()) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "etcdserver: this member has no priv-key in --auth-token and "
                            "cannot sign tokens; authenticate on another member");
      }
      const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      absl::StatusOr<std::string> token = jwt->sign(req->name(), c_.sm->auth_revision(), now);
      if (!token.ok()) return to_grpc(token.status());
      resp->set_token(*token);
      return answered(resp);
    }
    const std::string prefix = token_prefix();
    if (prefix.empty()) return grpc::Status(grpc::StatusCode::INTERNAL, "raftkv: no randomness");
    in::Command c;
    c.mutable_authenticate()->set_name(req->name());
    c.mutable_authenticate()->set_token_prefix(prefix);
    in::Result r;
    if (auto s = c_.write(admitted.who, c, &r); !s.ok()) return s;
    resp->set_token(r.authenticate().token());
    return answered(resp);
  }

  grpc::Status UserAdd(grpc::ServerContext* ctx, const pb::AuthUserAddRequest* req,
                       pb::AuthUserAddResponse* resp) {
    if (req->name().empty()) {
      return to_grpc(auth_error(AuthErrorKind::kUserEmpty, "the user name is empty"));
    }
    in::Command c;
    pb::AuthUserAddRequest* add = c.mutable_user_add();
    add->set_name(req->name());
    *add->mutable_options() = req->options();
    if (!req->options().no_password()) {
      absl::StatusOr<std::string> hash = hashed(req->password(), req->hashedpassword());
      if (!hash.ok()) return to_grpc(hash.status());
      add->set_hashedpassword(*hash);
    }
    return change(ctx, *req, c, resp);
  }

  grpc::Status UserGet(grpc::ServerContext* ctx, const pb::AuthUserGetRequest* req,
                       pb::AuthUserGetResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    if (grpc::Status s = c_.read_barrier(); !s.ok()) return s;  // see admin_read
    // etcd lets a user read its own roles.
    if (admitted.who.user != req->name()) {
      if (absl::Status s = c_.authorize(admitted.who, "manage_auth"); !s.ok()) return to_grpc(s);
    }
    absl::Status s;
    c_.sm->read_auth([&](const security::AuthStore& a) {
      const security::User* u = a.user(req->name());
      if (u == nullptr) {
        s = auth_error(AuthErrorKind::kUserNotFound, "no such user");
        return;
      }
      for (const std::string& r : u->roles) resp->add_roles(r);
    });
    if (!s.ok()) return to_grpc(s);
    return answered(resp);
  }

  grpc::Status UserList(grpc::ServerContext* ctx, const pb::AuthUserListRequest* req,
                        pb::AuthUserListResponse* resp) {
    if (grpc::Status s = admin_read(ctx, *req); !s.ok()) return s;
    c_.sm->read_auth([&](const security::AuthStore& a) {
      for (const std::string& n : a.user_names()) resp->add_users(n);
    });
    return answered(resp);
  }

  grpc::Status UserDelete(grpc::ServerContext* ctx, const pb::AuthUserDeleteRequest* req,
                          pb::AuthUserDeleteResponse* resp) {
    in::Command c;
    *c.mutable_user_delete() = *req;
    return change(ctx, *req, c, resp);
  }

  grpc::Status UserChangePassword(grpc::ServerContext* ctx,
                                  const pb::AuthUserChangePasswordRequest* req,
                                  pb::AuthUserChangePasswordResponse* resp) {
    in::Command c;
    c.mutable_user_change_password()->set_name(req->name());
    absl::StatusOr<std::string> hash = hashed(req->password(), req->hashedpassword());
    if (!hash.ok()) return to_grpc(hash.status());
    c.mutable_user_change_password()->set_hashedpassword(*hash);
    return change(ctx, *req, c, resp);
  }

  grpc::Status UserGrantRole(grpc::ServerContext* ctx, const pb::AuthUserGrantRoleRequest* req,
                             pb::AuthUserGrantRoleResponse* resp) {
    in::Command c;
    *c.mutable_user_grant_role() = *req;
    return change(ctx, *req, c, resp);
  }

  grpc::Status UserRevokeRole(grpc::ServerContext* ctx, const pb::AuthUserRevokeRoleRequest* req,
                              pb::AuthUserRevokeRoleResponse* resp) {
    in::Command c;
    *c.mutable_user_revoke_role() = *req;
    return change(ctx, *req, c, resp);
  }

  grpc::Status RoleAdd(grpc::ServerContext* ctx, const pb::AuthRoleAddRequest* req,
                       pb::AuthRoleAddResponse* resp) {
    if (req->name().empty()) {
      return to_grpc(auth_error(AuthErrorKind::kRoleEmpty, "the role name is empty"));
    }
    in::Command c;
    *c.mutable_role_add() = *req;
    return change(ctx, *req, c, resp);
  }

  grpc::Status RoleGet(grpc::ServerContext* ctx, const pb::AuthRoleGetRequest* req,
                       pb::AuthRoleGetResponse* resp) {
    Admission admitted = c_.gate(ctx, *req);
    if (!admitted.ok()) return admitted.status;
    if (grpc::Status s = c_.read_barrier(); !s.ok()) return s;  // see admin_read
    bool own = false;
    c_.sm->read_auth(
        [&](const security::AuthStore& a) { own = a.has_role(admitted.who.user, req->role()); });
    // etcd lets a user read the roles it holds.
    if (!own) {
      if (absl::Status s = c_.authorize(admitted.who, "manage_auth"); !s.ok()) return to_grpc(s);
    }
    absl::Status s;
    c_.sm->read_auth([&](const security::AuthStore& a) {
      const security::Role* r = a.role(req->role());
      if (r == nullptr) {
        s = auth_error(AuthErrorKind::kRoleNotFound, "no such role");
        return;
      }
      for (const security::KeyPermission& k : r->permissions) {
        authpb::Permission* p = resp->add_perm();
        p->set_permtype(static_cast<authpb::Permission::Type>(k.type));
        p->set_key(k.key);
        p->set_range_end(k.range_end);
      }
    });
    if (!s.ok()) return to_grpc(s);
    return answered(resp);
  }

  grpc::Status RoleList(grpc::ServerContext* ctx, const pb::AuthRoleListRequest* req,
                        pb::AuthRoleListResponse* resp) {
    if (grpc::Status s = admin_read(ctx, *req); !s.ok()) return s;
    c_.sm->read_auth([&](const security::AuthStore& a) {
      for (const std::string& n : a.role_names()) resp->add_roles(n);
    });
    return answered(resp);
  }

  grpc::Status RoleDelete(grpc::ServerContext* ctx, const pb::AuthRoleDeleteRequest* req,
                          pb::AuthRoleDeleteResponse* resp) {
    in::Command c;
    *c.mutable_role_delete() = *req;
    return change(ctx, *req, c, resp);
  }

  grpc::Status RoleGrantPermission(grpc::ServerContext* ctx,
                                   const pb::AuthRoleGrantPermissionRequest* req,
                                   pb::AuthRoleGrantPermissionResponse* resp) {
    if (!req->has_perm()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: permission not given");
    }
    if (req->perm().permtype() < authpb::Permission::READ ||
        req->perm().permtype() > authpb::Permission::READWRITE) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "etcdserver: permission type " + std::to_string(req->perm().permtype()) +
                              " is none of READ (0), WRITE (1), READWRITE (2)");
    }
    in::Command c;
    *c.mutable_role_grant_permission() = *req;
    return change(ctx, *req, c, resp);
  }

  grpc::Status RoleRevokePermission(grpc::ServerContext* ctx,
                                    const pb::AuthRoleRevokePermissionRequest* req,
                                    pb::AuthRoleRevokePermissionResponse* resp) {
    in::Command c;
    *c.mutable_role_revoke_permission() = *req;
    return change(ctx, *req, c, resp);
  }

 private:
  // The hash a user's new password is kept as: bcrypt at --bcrypt-cost, or the bcrypt
  // hash an etcd 3.5 client made itself (hashedPassword).
  absl::StatusOr<std::string> hashed(const std::string& password, const std::string& given) {
    if (!given.empty()) {
      if (given.size() != 60 || given[0] != '$' || given[1] != '2') {
        return absl::InvalidArgumentError(
            "etcdserver: hashedPassword is not a bcrypt hash ($2a$, $2b$ or $2y$, 60 bytes)");
      }
      return given;
    }
    return security::hash_password(password, c_.config->bcrypt_cost);
  }

  // An admin read (UserList, RoleList): the gate, a read barrier, then role root with auth
  // on. etcd answers these through the log, so a member behind the leader must catch up
  // before it answers from its own auth state (and before it checks the caller's role).
  grpc::Status admin_read(grpc::ServerContext* ctx, const google::protobuf::Message& req) {
    Admission admitted = c_.gate(ctx, req);
    if (!admitted.ok()) return admitted.status;
    if (grpc::Status s = c_.read_barrier(); !s.ok()) return s;
    return to_grpc(c_.authorize(admitted.who, "manage_auth"));
  }

  // An auth change: the gate, role root with auth on, then the log.
  template <typename Resp>
  grpc::Status change(grpc::ServerContext* ctx, const google::protobuf::Message& req,
                      const in::Command& c, Resp* resp) {
    Admission admitted = c_.gate(ctx, req);
    if (!admitted.ok()) return admitted.status;
    if (absl::Status s = c_.authorize(admitted.who, "manage_auth"); !s.ok()) return to_grpc(s);
    in::Result r;
    if (auto s = c_.write(admitted.who, c, &r); !s.ok()) return s;
    return answered(resp);
  }

  template <typename Resp>
  grpc::Status answered(Resp* resp) {
    c_.header(resp->mutable_header());
    resp->mutable_header()->set_revision(c_.sm->revision());
    return grpc::Status::OK;
  }

  Context c_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_auth_service(Context c, CompletionQueueMethods* methods) {
  using Service = pb::Auth::AsyncService;
  auto service = std::make_unique<Service>();
  auto impl = std::make_shared<AuthService>(c);
  methods->blocking(service.get(), &Service::RequestAuthEnable, impl, &AuthService::AuthEnable);
  methods->blocking(service.get(), &Service::RequestAuthDisable, impl, &AuthService::AuthDisable);
  methods->blocking(service.get(), &Service::RequestAuthStatus, impl, &AuthService::AuthStatus);
  methods->blocking(service.get(), &Service::RequestAuthenticate, impl, &AuthService::Authenticate);
  methods->blocking(service.get(), &Service::RequestUserAdd, impl, &AuthService::UserAdd);
  methods->blocking(service.get(), &Service::RequestUserGet, impl, &AuthService::UserGet);
  methods->blocking(service.get(), &Service::RequestUserList, impl, &AuthService::UserList);
  methods->blocking(service.get(), &Service::RequestUserDelete, impl, &AuthService::UserDelete);
  methods->blocking(service.get(), &Service::RequestUserChangePassword, impl,
                    &AuthService::UserChangePassword);
  methods->blocking(service.get(), &Service::RequestUserGrantRole, impl,
                    &AuthService::UserGrantRole);
  methods->blocking(service.get(), &Service::RequestUserRevokeRole, impl,
                    &AuthService::UserRevokeRole);
  methods->blocking(service.get(), &Service::RequestRoleAdd, impl, &AuthService::RoleAdd);
  methods->blocking(service.get(), &Service::RequestRoleGet, impl, &AuthService::RoleGet);
  methods->blocking(service.get(), &Service::RequestRoleList, impl, &AuthService::RoleList);
  methods->blocking(service.get(), &Service::RequestRoleDelete, impl, &AuthService::RoleDelete);
  methods->blocking(service.get(), &Service::RequestRoleGrantPermission, impl,
                    &AuthService::RoleGrantPermission);
  methods->blocking(service.get(), &Service::RequestRoleRevokePermission, impl,
                    &AuthService::RoleRevokePermission);
  return service;
}

}  // namespace server
