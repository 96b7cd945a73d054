// etcdctl's TLS flags for raftkvctl and raftkv-bench: --cacert, --cert, --key and
// --insecure-skip-tls-verify. TLS is used when any of them is given or an endpoint is
// https://, as etcdctl does.
#pragma once

#include <grpc/grpc.h>
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

// gRPC held initialised for the whole of a client tool's main() (declare it first there)
// and shut down, waiting for its threads, when main returns. Without it, releasing the
// last channel starts gRPC's shutdown on a thread of its own that may still be freeing TLS
// state while the process exits: LeakSanitizer then reports OpenSSL's allocations as
// leaked and an ASan-built raftkvctl exits 1 after a successful call (seen once in
// about 300 TLS calls under load; gRPC's issue #37768 is the same race).
class GrpcLifetime {
 public:
  GrpcLifetime() { grpc_init(); }
  ~GrpcLifetime() { grpc_shutdown_blocking(); }
  GrpcLifetime(const GrpcLifetime&) = delete;
  GrpcLifetime& operator=(const GrpcLifetime&) = delete;
};

}  // namespace raftkv::cmd
