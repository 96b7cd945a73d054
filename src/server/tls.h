// TLS on the client port (etcd's --cert-file, --key-file, --trusted-ca-file and
// --client-cert-auth): the files read and checked once at start, so that a bad one stops
// the start with one line naming the flag, the file and the reason, and the gRPC
// credentials made from them. Peer TLS is not supported yet (issue 15).
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace server {

struct ClientTls {
  std::string cert_file, key_file;  // the member's certificate and its private key
  std::string trusted_ca_file;      // the CA that signs clients' certificates; may be empty
  bool client_cert_auth = false;    // require a client certificate signed by that CA
  bool operator==(const ClientTls&) const = default;
};

// The files' contents, checked.
struct TlsPem {
  std::string cert, key, ca;
  bool client_cert_auth = false;
};

// Reads the files and checks that each parses, that the key matches the certificate,
// that the certificate is valid now and, with a CA, that the CA signs it.
absl::StatusOr<TlsPem> load_client_tls(const ClientTls& tls);

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsPem& pem);
// For this member's own calls to other members' client ports (the status page): their
// certificates checked against the CA (the system's roots without one), this member's
// certificate presented as its own.
std::shared_ptr<grpc::ChannelCredentials> member_channel_credentials(const TlsPem& pem);

}  // namespace server
