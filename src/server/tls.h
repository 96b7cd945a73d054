// TLS on the client and peer ports, with etcd's flags (--cert-file, --key-file,
// --trusted-ca-file, --client-cert-auth and their --peer- twins): the files read and
// checked (at start, so that a bad one stops the start with one line naming the flag, the
// file and the reason, and on every reload: tls_files.h). On the peer port, a
// certificate also decides which member a peer may speak for (authorize_peer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace server {

struct TlsFlags {
  std::string cert_file, key_file;  // the member's certificate and its private key
  std::string trusted_ca_file;      // the CA that signs the other side's; may be empty
  bool client_cert_auth = false;    // require a certificate of the other side, signed by it
  // Peer port only (--peer-cert-allowed-cn, --peer-cert-allowed-hostname): a peer's
  // certificate must carry this common name, or be valid for this host name.
  std::string allowed_cn, allowed_hostname;
  bool operator==(const TlsFlags&) const = default;
};

// Which port's flags: errors name --cert-file or --peer-cert-file.
enum class TlsPort { kClient, kPeer };

// The files' contents, checked.
struct TlsPem {
  std::string cert, key, ca;
  bool client_cert_auth = false;
  std::string allowed_cn, allowed_hostname;
};

// Reads the files and checks that each parses, that the key matches the certificate,
// that the certificate is valid now and, with a CA, that the CA signs it.
absl::StatusOr<TlsPem> load_tls(const TlsFlags& tls, TlsPort port);

// An OpenSSL server context for a listener that is not gRPC's (the metrics port): the
// set's certificate and key, TLS 1.2 and up (with `cipher_list`, OpenSSL's names, for
// TLS 1.2 when not empty), and with client_cert_auth a client certificate required and
// verified against the set's CA.
absl::StatusOr<std::shared_ptr<ssl_ctx_st>> server_ssl_context(const TlsPem& pem,
                                                               const std::string& cipher_list);

// etcd's --cipher-suites (Go's names, comma-separated) as OpenSSL's cipher list for
// TLS 1.2; an unknown name is an error naming it. (TLS 1.3's suites are not
// configurable, in etcd either.)
absl::StatusOr<std::string> openssl_cipher_list(const std::string& etcd_names);

// --tls-min-version TLS1.3 for the whole process: gRPC 1.51 has no setting for it, but
// OpenSSL applies its configuration's system_default section to every TLS context made
// afterwards (gRPC's and the metrics port's); one that turns TLS 1.2 off is loaded here.
// Must run before the first TLS context is made.
absl::Status require_tls13();

// A member as the peer port knows it: who may present which certificate.
struct PeerRecord {
  uint64_t id = 0;
  std::string name;  // empty until the member has published it
  std::vector<std::string> peer_urls;
};

// Whether a peer that presented `cert_pem` (verified by the TLS handshake against the
// peer CA) may speak for member `claimed`. Its certificate must carry the claimed
// member's name as common name, or be valid for the host of one of its peer URLs and for
// no other named member's (members sharing a machine tell each other apart by name
// only). It never speaks for a member when it carries another member's name.
// --peer-cert-allowed-cn and --peer-cert-allowed-hostname, when set, must hold as well.
// The error says which rule failed, quoting the certificate's names.
absl::Status authorize_peer(std::string_view cert_pem, uint64_t claimed,
                            const std::vector<PeerRecord>& members, const TlsPem& peer_tls);

}  // namespace server
