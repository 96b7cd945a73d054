// What every RPC of the client listener shares: the configuration, the node and the
// state machine, the response header, and the gate every request passes first (size
// and the learner rule today; identity, RBAC and limits plug in here).
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>

#include "etcd/rpc.pb.h"
#include "limits/limiter.h"
#include "raftkv/internal.pb.h"
#include "server/identity.h"
#include "server/server.h"

namespace server {

class KvStateMachine;
class HealthMonitor;

// What the gate let through. Hold it until the request is answered: the permit is the
// request's share of its client's and the member's budgets (limits/limiter.h).
struct Admission {
  grpc::Status status;
  limits::Permit permit;
  Identity who;  // who sent it (identity.h), for the checks after the gate and the log
  bool ok() const { return status.ok(); }
};

struct Context {
  const ServerConfig* config;
  node::RaftNode* node;
  KvStateMachine* sm;
  HealthMonitor* health;
  limits::Limiter* limiter;

  void header(etcdserverpb::ResponseHeader* h) const;
  // Checks a request before it runs: its size, the learner rule, who sent it (an unknown
  // token is refused), what auth requires of it with auth on (key permissions, or the
  // cluster operation's), and its client's and the member's limits. Every RPC calls it
  // first (streams with each message); a refusal changes nothing and is answered at once
  // (RESOURCE_EXHAUSTED with a retry-after-ms trailer when a limit refused it).
  Admission gate(grpc::ServerContextBase* ctx, const google::protobuf::Message& req) const;
  // The learner rule for a stream, checked when it opens (etcd refuses every stream).
  grpc::Status gate_stream() const;
  // Who sent the request on `ctx`: with auth on, the user of its `token` metadata (an
  // unknown or expired token: etcd's "invalid auth token") or else of its verified client
  // certificate, with the auth revision now; with auth off, the certificate's user alone.
  absl::StatusOr<Identity> identify(const grpc::ServerContextBase& ctx) const;
  // client_key() of the client on `ctx`, as identify() knows it.
  std::string client_of(const grpc::ServerContextBase& ctx) const;
  // With auth on, whether `who` may perform the cluster operation `action`
  // (auth_check.h): role root, or the authorization policy in force says so.
  absl::Status authorize(const Identity& who, std::string_view action) const;
  // Replicates `c` and waits for its result, or the error that stopped it.
  // `who` sent it: its user and auth revision go into the entry with `c`.
  grpc::Status write(const Identity& who, const raftkv::internal::Command& c,
                     raftkv::internal::Result* result) const;
  // The same without a waiting thread: once `c` is applied here (or failed), `fill`
  // moves the result into the response (when there is one) and `finish` answers the
  // RPC with the status, on a runtime thread. `permit` is held until then.
  void write_async(const Identity& who, const raftkv::internal::Command& c,
                   std::function<void(const grpc::Status&)> finish, limits::Permit permit,
                   std::function<void(raftkv::internal::Result&)> fill) const;
  // Waits until this member reflects every write completed before the call.
  grpc::Status read_barrier() const;
};

// The user a verified client certificate names (its CN, with --client-cert-auth), or "".
std::string certificate_user(const grpc::ServerContextBase& ctx);

// The log entry of `c` sent by `who`: the command with the client's user in it.
std::string entry_for(const Identity& who, const raftkv::internal::Command& c);

// Who sent a request, for the limits: "user:NAME" for the user of its token or of a client
// certificate the port verified (`user`, from Context::identify), else the `client-id`
// metadata value when the server trusts it (--limits-trust-client-id), else the peer's
// IP address.
std::string client_key(const grpc::ServerContextBase& ctx, bool trust_client_id,
                       const std::string& user);

}  // namespace server
