#include "server/tls.h"

#include <openssl/bio.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "log/log.h"

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

// The host of "https://host:port" ("[::1]" loses its brackets).
std::string url_host(std::string_view url) {
  if (const size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
  }
  if (!url.empty() && url.front() == '[') {
    const size_t close = url.find(']');
    return std::string(url.substr(1, close == std::string_view::npos ? close : close - 1));
  }
  return std::string(url.substr(0, url.rfind(':')));
}

std::string common_name(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  const int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (i < 0) return "";
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

// Whether the certificate is valid for `host` (a DNS name, wildcards as in HTTPS, or an
// IP address against its IP SANs).
bool valid_for_host(X509* cert, const std::string& host) {
  if (host.empty()) return false;
  const int ip = X509_check_ip_asc(cert, host.c_str(), 0);
  if (ip >= 0) return ip == 1;  // host is an IP address
  return X509_check_host(cert, host.c_str(), host.size(), 0, nullptr) == 1;
}

// "CN=n1, DNS:m1.example, IP Address:127.0.0.1": the names a refusal quotes.
std::string names_of(X509* cert) {
  std::vector<std::string> names{"CN=" + common_name(cert)};
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    Bio out(BIO_new(BIO_s_mem()));
    GENERAL_NAME_print(out.get(), sk_GENERAL_NAME_value(sans, i));
    char* data = nullptr;
    const long n = BIO_get_mem_data(out.get(), &data);
    names.emplace_back(data, static_cast<size_t>(n));
  }
  GENERAL_NAMES_free(sans);
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<TlsPem> load_tls(const TlsFlags& tls, TlsPort port) {
  const std::string p = port == TlsPort::kPeer ? "peer-" : "";
  const std::string cert_flag = p + "cert-file", key_flag = p + "key-file",
                    ca_flag = p + "trusted-ca-file";
  if (tls.cert_file.empty() || tls.key_file.empty()) {
    return absl::InvalidArgumentError("TLS on the " +
                                      std::string(port == TlsPort::kPeer ? "peer" : "client") +
                                      " port needs both --" + cert_flag + " and --" + key_flag);
  }
  if (tls.client_cert_auth && tls.trusted_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "--" + p + "client-cert-auth needs --" + ca_flag + ", the CA that signs the " +
        (port == TlsPort::kPeer ? "peers'" : "clients'") + " certificates");
  }
  TlsPem pem;
  pem.client_cert_auth = tls.client_cert_auth;
  pem.allowed_cn = tls.allowed_cn;
  pem.allowed_hostname = tls.allowed_hostname;
  auto cert_pem = read_file(cert_flag, tls.cert_file);
  if (!cert_pem.ok()) return cert_pem.status();
  auto key_pem = read_file(key_flag, tls.key_file);
  if (!key_pem.ok()) return key_pem.status();
  std::vector<X509Ptr> chain = read_certs(*cert_pem);
  if (chain.empty()) return bad(cert_flag, tls.cert_file, "holds no PEM certificate");
  X509* cert = chain.front().get();
  Bio key_bio = memory_bio(*key_pem);
  Key key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) return bad(key_flag, tls.key_file, "holds no PEM private key");
  if (X509_check_private_key(cert, key.get()) != 1) {
    ERR_clear_error();
    return bad(key_flag, tls.key_file,
               "does not match the certificate in --" + cert_flag + " " + tls.cert_file);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return bad(cert_flag, tls.cert_file,
               "the certificate expired on " + time_text(X509_get0_notAfter(cert)));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return bad(cert_flag, tls.cert_file,
               "the certificate is not valid before " + time_text(X509_get0_notBefore(cert)));
  }
  if (!tls.trusted_ca_file.empty()) {
    auto ca_pem = read_file(ca_flag, tls.trusted_ca_file);
    if (!ca_pem.ok()) return ca_pem.status();
    std::vector<X509Ptr> cas = read_certs(*ca_pem);
    if (cas.empty()) return bad(ca_flag, tls.trusted_ca_file, "holds no PEM certificate");
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
      return bad(cert_flag, tls.cert_file,
                 "is not signed by --" + ca_flag + " " + tls.trusted_ca_file + " (" + why + ")");
    }
    pem.ca = *std::move(ca_pem);
  }
  pem.cert = *std::move(cert_pem);
  pem.key = *std::move(key_pem);
  return pem;
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> server_ssl_context(const TlsPem& pem,
                                                            const std::string& cipher_list) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  auto failed = [](const std::string& what) {
    const unsigned long e = ERR_peek_last_error();
    const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
    ERR_clear_error();
    return absl::InternalError("TLS context: " + what + ": " +
                               (reason != nullptr ? reason : "unknown error"));
  };
  if (ctx == nullptr) return failed("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (!cipher_list.empty() && SSL_CTX_set_cipher_list(ctx.get(), cipher_list.c_str()) != 1) {
    return failed("cipher list " + cipher_list);
  }
  std::vector<X509Ptr> chain = read_certs(pem.cert);
  if (chain.empty() || SSL_CTX_use_certificate(ctx.get(), chain.front().get()) != 1) {
    return failed("certificate");
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx.get(), chain[i].get()) != 1) return failed("chain");
  }
  Bio key_bio = memory_bio(pem.key);
  Key key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr || SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1) {
    return failed("private key");
  }
  if (pem.client_cert_auth) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    for (const X509Ptr& ca : read_certs(pem.ca)) X509_STORE_add_cert(store, ca.get());
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  ERR_clear_error();
  return ctx;
}

absl::Status require_tls13() {
  static constexpr char kConfig[] =
      "openssl_conf = raftkv_init\n"
      "[raftkv_init]\n"
      "ssl_conf = raftkv_ssl\n"
      "[raftkv_ssl]\n"
      "system_default = raftkv_tls13\n"
      "[raftkv_tls13]\n"
      "MinProtocol = TLSv1.3\n"
      "Protocol = -TLSv1.2\n";  // gRPC sets TLS 1.2 as its floor; this option outlasts it
  char path[] = "/tmp/raftkv-openssl-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return absl::InternalError("--tls-min-version: cannot write a temporary file");
  const bool written =
      ::write(fd, kConfig, sizeof kConfig - 1) == static_cast<ssize_t>(sizeof kConfig - 1);
  ::close(fd);
  // OpenSSL is initialized already (cpp-httplib does it before main), so the file is
  // applied as a module configuration rather than as the start-up one.
  const bool loaded = written && OPENSSL_init_ssl(0, nullptr) == 1 &&
                      CONF_modules_load_file(path, nullptr, 0) == 1 && ERR_peek_error() == 0;
  ::unlink(path);
  ERR_clear_error();
  if (!loaded) return absl::InternalError("--tls-min-version TLS1.3: OpenSSL refused the setting");
  return absl::OkStatus();
}

absl::StatusOr<std::string> openssl_cipher_list(const std::string& etcd_names) {
  // Go's crypto/tls names that OpenSSL 3 still offers for TLS 1.2.
  static const std::map<std::string, std::string> kSuites = {
      {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
      {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
      {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
      {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
  };
  std::vector<std::string> out;
  for (absl::string_view name : absl::StrSplit(etcd_names, ',', absl::SkipWhitespace())) {
    name = absl::StripAsciiWhitespace(name);
    const auto it = kSuites.find(std::string(name));
    if (it == kSuites.end()) {
      return absl::InvalidArgumentError(
          "--cipher-suites: unknown or unsupported cipher suite \"" + std::string(name) +
          "\" (Go's names for TLS 1.2, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)");
    }
    out.push_back(it->second);
  }
  if (out.empty()) return absl::InvalidArgumentError("--cipher-suites names no cipher suite");
  return absl::StrJoin(out, ":");
}

absl::Status authorize_peer(std::string_view cert_pem, uint64_t claimed,
                            const std::vector<PeerRecord>& members, const TlsPem& peer_tls) {
  std::vector<X509Ptr> certs = read_certs(std::string(cert_pem));
  if (certs.empty()) return absl::UnauthenticatedError("the peer presented no certificate");
  X509* cert = certs.front().get();
  const std::string cn = common_name(cert);
  auto refuse = [&](const std::string& why) {
    return absl::PermissionDeniedError("certificate (" + names_of(cert) + ") " + why);
  };
  if (!peer_tls.allowed_cn.empty() && cn != peer_tls.allowed_cn) {
    return refuse("does not carry --peer-cert-allowed-cn " + peer_tls.allowed_cn);
  }
  if (!peer_tls.allowed_hostname.empty() && !valid_for_host(cert, peer_tls.allowed_hostname)) {
    return refuse("is not valid for --peer-cert-allowed-hostname " + peer_tls.allowed_hostname);
  }
  const auto self = std::find_if(members.begin(), members.end(),
                                 [&](const PeerRecord& m) { return m.id == claimed; });
  const std::string who = "member " + raftlog::hex_id(claimed);
  if (self == members.end()) return refuse("speaks for " + who + ", whose peer URLs are unknown");
  if (!cn.empty() && cn == self->name) return absl::OkStatus();
  for (const PeerRecord& m : members) {
    if (m.id != claimed && !cn.empty() && m.name == cn) {
      return refuse("belongs to member " + m.name + ", not to " + who + " (" + self->name + ")");
    }
  }
  auto valid_for_url_of = [&](const PeerRecord& m) {
    return std::any_of(m.peer_urls.begin(), m.peer_urls.end(),
                       [&](const std::string& u) { return valid_for_host(cert, url_host(u)); });
  };
  if (valid_for_url_of(*self)) {
    // A host tells members apart only when the certificate is valid for no other named
    // member's host (several members on one machine; a wildcard certificate).
    for (const PeerRecord& m : members) {
      if (m.id != claimed && !self->name.empty() && valid_for_url_of(m)) {
        return refuse("is valid for the peer host of " + who + " (" + self->name +
                      ") and for that of member " + (m.name.empty() ? "?" : m.name) +
                      ": it identifies neither; give each member a certificate whose CN is its "
                      "name");
      }
    }
    return absl::OkStatus();
  }
  return refuse("names neither " + who + " (" + self->name + ") nor the host of its peer URLs (" +
                absl::StrJoin(self->peer_urls, ", ") + ")");
}

}  // namespace server
