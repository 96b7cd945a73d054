// etcdctl's TLS flags for raftkvctl and raftkv-bench: --cacert, --cert, --key and
// --insecure-skip-tls-verify. TLS is used when any of them is given or an endpoint is
// https://, as etcdctl does.
#pragma once

#include <grpcpp/security/credentials.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace raftkv::cmd {

struct ClientTlsFlags {
  std::string cacert;     // the CA that signs the servers' certificates (system roots if none)
  std::string cert, key;  // this client's certificate and key (--client-cert-auth servers)
  bool insecure_skip_tls_verify = false;
};

void add_client_tls_flags(CLI::App& app, ClientTlsFlags& f);

// The credentials for `endpoints` (the --endpoints value: host:port or
// http(s)://host:port, comma-separated); an error names the flag and file that could not
// be read, or a --cert without its --key.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel_credentials(
    const ClientTlsFlags& f, const std::string& endpoints);

}  // namespace raftkv::cmd
