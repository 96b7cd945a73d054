// etcd's JWT auth tokens (--auth-token jwt,...): signed claims {username, revision, exp}
// that any member holding the public key verifies alone, with no token state in the log.
// Signing and verifying go through Debian's libjwt 1.10; keys arrive as PEM text.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace security {

// The sign-methods raftkv takes: the asymmetric ones libjwt 1.10 implements.
inline constexpr std::string_view kJwtSignMethods[] = {"RS256", "RS384", "RS512",
                                                       "ES256", "ES384", "ES512"};
inline constexpr std::chrono::seconds kDefaultJwtTtl{300};      // etcd's default, 5m
inline constexpr std::chrono::seconds kMaxJwtTtl{8760 * 3600};  // one year; bounds now + ttl
inline constexpr size_t kMaxJwtTokenBytes = 64 * 1024;          // verify() refuses longer tokens
inline constexpr size_t kMaxJwtUserBytes = 4096;                // sign() refuses longer user names

// The --auth-token value of a jwt member, as etcd spells it.
struct JwtSpec {
  std::string public_key_path;               // pub-key=, required
  std::string private_key_path;              // priv-key=, empty on a verify-only member
  std::string sign_method;                   // sign-method=, one of kJwtSignMethods
  std::chrono::seconds ttl{kDefaultJwtTtl};  // ttl=, in (0, kMaxJwtTtl]
};

// Parses a whole --auth-token value that starts with "jwt", e.g.
// "jwt,pub-key=a.pem,priv-key=b.pem,sign-method=RS256,ttl=10m". Options are comma
// separated key=value pairs (pub-key, priv-key, sign-method, ttl), each at most once; ttl
// is whole numbers with units h, m, s ("5m", "300s", "1h30m"). InvalidArgument naming the
// option and what is allowed otherwise. Reads no file.
absl::StatusOr<JwtSpec> parse_jwt_spec(std::string_view value);

// The keys themselves, read by the caller from the spec's paths.
struct JwtConfig {
  std::string sign_method;                   // one of kJwtSignMethods
  std::string public_key_pem;                // PUBLIC KEY (SubjectPublicKeyInfo) or CERTIFICATE PEM
  std::string private_key_pem;               // unencrypted private key PEM; empty: verify only
  std::chrono::seconds ttl{kDefaultJwtTtl};  // in (0, kMaxJwtTtl]
};

// Signs and verifies tokens for one configuration. Immutable once created; every const
// method may be called from many threads at once (each call builds its own libjwt and
// OpenSSL objects and shares nothing mutable).
class JwtTokens {
 public:
  // What a valid token says.
  struct Claims {
    std::string user;
    uint64_t revision = 0;  // the auth revision when the token was issued
    int64_t exp = 0;        // when it expires, Unix seconds
  };

  // Checks `config` and keeps normalized copies of its keys: the method is supported, the
  // keys parse, their type fits the method (RSA of at least 2048 bits for RS*, EC on the
  // method's curve for ES*: P-256, P-384, P-521), and a private key, when given, signs a
  // probe token the public key verifies. InvalidArgument naming the problem otherwise.
  static absl::StatusOr<JwtTokens> create(JwtConfig config);

  // A token naming `user` at auth `revision`, expiring at now_unix + ttl (Unix seconds).
  // FailedPrecondition on a verify-only instance; InvalidArgument for an empty user, one
  // longer than kMaxJwtUserBytes, or a revision or expiry beyond int64.
  absl::StatusOr<std::string> sign(std::string_view user, uint64_t revision,
                                   int64_t now_unix) const;

  // The claims of `token` if its signature checks with the public key under exactly the
  // configured method, and it holds a non-empty string username, a non-negative integer
  // revision and an integer exp > now_unix. Any failure is kInvalidToken (auth_error.h)
  // with the reason: malformed, bad signature, another alg (none, HS256 keyed with the
  // public key, ...), expired, or a missing or mistyped claim.
  absl::StatusOr<Claims> verify(std::string_view token, int64_t now_unix) const;

  bool can_sign() const { return !private_key_pem_.empty(); }
  const std::string& sign_method() const { return sign_method_; }
  std::chrono::seconds ttl() const { return ttl_; }

 private:
  JwtTokens() = default;

  std::string sign_method_;      // one of kJwtSignMethods
  int alg_ = 0;                  // sign_method_ as libjwt's jwt_alg_t (kept out of this header)
  std::string public_key_pem_;   // SubjectPublicKeyInfo PEM, the form libjwt reads
  std::string private_key_pem_;  // unencrypted PKCS#8 PEM, or empty: verify only
  std::chrono::seconds ttl_{kDefaultJwtTtl};
};

}  // namespace security
