#include "cmd/client_auth.h"

#include <chrono>

#include "etcd/rpc.grpc.pb.h"

namespace raftkv::cmd {

void add_client_auth_flags(CLI::App& app, ClientAuthFlags& f) {
  app.add_option("--user", f.user, "The user to act as: name[:password], as etcdctl's")
      ->group("Auth");
  app.add_option("--password", f.password, "The password of --user (when it holds a colon)")
      ->group("Auth");
}

absl::StatusOr<std::string> authenticate(const ClientAuthFlags& f,
                                         const std::shared_ptr<grpc::Channel>& channel,
                                         int timeout_ms) {
  if (f.user.empty()) return std::string();
  const size_t colon = f.user.find(':');
  if (colon == std::string::npos && f.password.empty()) {
    return absl::InvalidArgumentError("--user " + f.user +
                                      " needs a password: --user name:password or --password");
  }
  etcdserverpb::AuthenticateRequest req;
  req.set_name(f.user.substr(0, colon));
  req.set_password(colon == std::string::npos ? f.password : f.user.substr(colon + 1));
  etcdserverpb::AuthenticateResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  grpc::Status s = etcdserverpb::Auth::NewStub(channel)->Authenticate(&ctx, req, &resp);
  if (!s.ok()) return absl::UnauthenticatedError(s.error_message());
  return resp.token();
}

}  // namespace raftkv::cmd
