#include "cmd/client_tls.h"

#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace raftkv::cmd {
namespace {

absl::StatusOr<std::string> read(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError("--" + flag + " " + path + ": cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

void add_client_tls_flags(CLI::App& app, ClientTlsFlags& f) {
  app.add_option("--cacert", f.cacert, "Verify servers' certificates with this CA (PEM)");
  app.add_option("--cert", f.cert, "This client's TLS certificate (PEM)");
  app.add_option("--key", f.key, "The private key of --cert (PEM)");
  app.add_flag("--insecure-skip-tls-verify", f.insecure_skip_tls_verify,
               "Do not verify the servers' certificates (testing only)");
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel_credentials(
    const ClientTlsFlags& f, const std::string& endpoints) {
  const bool https = endpoints.find("https://") != std::string::npos;
  if (!https && f.cacert.empty() && f.cert.empty() && f.key.empty() &&
      !f.insecure_skip_tls_verify) {
    return grpc::InsecureChannelCredentials();
  }
  if (f.cert.empty() != f.key.empty()) {
    return absl::InvalidArgumentError("--cert and --key go together: give both or neither");
  }
  std::string ca, cert, key;
  if (!f.cacert.empty()) {
    auto r = read("cacert", f.cacert);
    if (!r.ok()) return r.status();
    ca = *std::move(r);
  }
  if (!f.cert.empty()) {
    auto c = read("cert", f.cert);
    if (!c.ok()) return c.status();
    auto k = read("key", f.key);
    if (!k.ok()) return k.status();
    cert = *std::move(c);
    key = *std::move(k);
  }
  if (f.insecure_skip_tls_verify) {
    namespace ex = grpc::experimental;
    ex::TlsChannelCredentialsOptions opts;
    opts.set_verify_server_certs(false);
    opts.set_check_call_host(false);
    opts.set_certificate_verifier(std::make_shared<ex::NoOpCertificateVerifier>());
    if (!cert.empty()) {
      opts.set_certificate_provider(std::make_shared<ex::StaticDataCertificateProvider>(
          std::vector<ex::IdentityKeyCertPair>{{key, cert}}));
      opts.watch_identity_key_cert_pairs();
    }
    return ex::TlsCredentials(opts);
  }
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = ca;
  opts.pem_private_key = key;
  opts.pem_cert_chain = cert;
  return grpc::SslCredentials(opts);
}

}  // namespace raftkv::cmd
