// etcdctl's --user and --password for raftkvctl and raftkv-bench: the tool authenticates
// once (etcd's Authenticate) and sends the token as `token` metadata with every call.
#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace raftkv::cmd {

struct ClientAuthFlags {
  std::string user;      // name[:password]
  std::string password;  // for a password holding a colon, as etcdctl's --password
};

void add_client_auth_flags(CLI::App& app, ClientAuthFlags& f);

// The token for --user through `channel` ("" without --user). InvalidArgument names a
// --user without a password; another error is the server's refusal, in its own words.
absl::StatusOr<std::string> authenticate(const ClientAuthFlags& f,
                                         const std::shared_ptr<grpc::Channel>& channel,
                                         int timeout_ms);

}  // namespace raftkv::cmd
