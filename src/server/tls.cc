#include "server/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace server {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

absl::Status bad(const std::string& flag, const std::string& file, const std::string& why) {
  return absl::InvalidArgumentError("--" + flag + " " + file + ": " + why);
}

absl::StatusOr<std::string> read_file(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return bad(flag, path, "cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  if (!in.good() && !in.eof()) return bad(flag, path, "cannot be read");
  return s.str();
}

Bio memory_bio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::string time_text(const ASN1_TIME* t) {
  Bio out(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(out.get(), t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::vector<X509Ptr> read_certs(const std::string& pem) {
  std::vector<X509Ptr> certs;
  Bio bio = memory_bio(pem);
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(c);
  ERR_clear_error();  // the end of the file reads as an error
  return certs;
}

}  // namespace

absl::StatusOr<TlsPem> load_client_tls(const ClientTls& tls) {
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS on the client port needs both --cert-file and --key-file");
  }
  if (tls.client_cert_auth && tls.trusted_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "--client-cert-auth needs --trusted-ca-file, the CA that signs the clients' certificates");
  }
  TlsPem pem;
  pem.client_cert_auth = tls.client_cert_auth;
  auto cert_pem = read_file("cert-file", tls.cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = read_file("key-file", tls.key_file);
  if (!key_pem.ok()) return key_pem.status();
  std::vector<X509Ptr> chain = read_certs(*cert_pem);
  if (chain.empty()) return bad("cert-file", tls.cert_file, "holds no PEM certificate");
  X509* cert = chain.front().get();
  Bio key_bio = memory_bio(*key_pem);
  Key key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) return bad("key-file", tls.key_file, "holds no PEM private key");
  if (X509_check_private_key(cert, key.get()) != 1) {
    ERR_clear_error();
    return bad("key-file", tls.key_file,
               "does not match the certificate in --cert-file " + tls.cert_file);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return bad("cert-file", tls.cert_file,
               "the certificate expired on " + time_text(X509_get0_notAfter(cert)));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return bad("cert-file", tls.cert_file,
               "the certificate is not valid before " + time_text(X509_get0_notBefore(cert)));
  }
  if (!tls.trusted_ca_file.empty()) {
    auto ca_pem = read_file("trusted-ca-file", tls.trusted_ca_file);
    if (!ca_pem.ok()) return ca_pem.status();
    std::vector<X509Ptr> cas = read_certs(*ca_pem);
    if (cas.empty()) return bad("trusted-ca-file", tls.trusted_ca_file, "holds no PEM certificate");
    Store store(X509_STORE_new());
    for (const X509Ptr& ca : cas) X509_STORE_add_cert(store.get(), ca.get());
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
    StoreCtx ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), cert, untrusted);
    const bool signed_by_ca = X509_verify_cert(ctx.get()) == 1;
    const std::string why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    sk_X509_free(untrusted);
    ERR_clear_error();
    if (!signed_by_ca) {
      return bad("cert-file", tls.cert_file,
                 "is not signed by --trusted-ca-file " + tls.trusted_ca_file + " (" + why + ")");
    }
    pem.ca = *std::move(ca_pem);
  }
  pem.cert = *std::move(cert_pem);
  pem.key = *std::move(key_pem);
  return pem;
}

std::shared_ptr<grpc::ServerCredentials> server_credentials(const TlsPem& pem) {
  grpc::SslServerCredentialsOptions opts(
      pem.client_cert_auth ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  opts.pem_root_certs = pem.ca;
  opts.pem_key_cert_pairs.push_back({pem.key, pem.cert});
  return grpc::SslServerCredentials(opts);
}

std::shared_ptr<grpc::ChannelCredentials> member_channel_credentials(const TlsPem& pem) {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = pem.ca;
  opts.pem_private_key = pem.key;
  opts.pem_cert_chain = pem.cert;
  return grpc::SslCredentials(opts);
}

}  // namespace server
