#include "security/jwt_tokens.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "security/auth_error.h"
#include "security/text_util.h"

namespace security {
namespace {

static_assert(sizeof(long) == sizeof(int64_t),
              "libjwt's integer claims are longs; raftkv needs 64");

constexpr int64_t kMaxJsonInteger = std::numeric_limits<int64_t>::max();  // jansson's json_int_t
constexpr int kMinRsaBits = 2048;  // RFC 7518 3.3: RS* keys MUST be at least 2048 bits

// ---- the --auth-token value ----

std::string supported_methods() { return join(kJwtSignMethods, ", "); }

// Whole numbers with units h, m, s, one or more of them: "5m", "300s", "1h30m".
absl::StatusOr<std::chrono::seconds> parse_ttl(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        cat("jwt option ttl=", text, " ", why,
            ": expected a positive duration of whole numbers with units h, m, s, such as 5m, "
            "300s or 1h30m, at most ",
            kMaxJwtTtl.count() / 3600, "h"));
  };
  if (text.empty()) return bad("is empty");
  int64_t total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (ec == std::errc::result_out_of_range) return bad("is too long");
    if (ec != std::errc() || rest.front() == '-' || rest.front() == '+') {
      return bad("is not a duration");
    }
    rest.remove_prefix(end - rest.data());
    if (rest.empty()) return bad("has a number without a unit");
    int64_t unit = 0;
    switch (rest.front()) {
      case 'h':
        unit = 3600;
        break;
      case 'm':
        unit = 60;
        break;
      case 's':
        unit = 1;
        break;
      default:
        return bad("has an unknown unit");
    }
    rest.remove_prefix(1);
    if (n > kMaxJwtTtl.count() / unit) return bad("is too long");
    total += n * unit;
    if (total > kMaxJwtTtl.count()) return bad("is too long");
  }
  if (total == 0) return bad("is zero");
  return std::chrono::seconds(total);
}

absl::Status check_sign_method(std::string_view method) {
  for (std::string_view m : kJwtSignMethods) {
    if (m == method) return absl::OkStatus();
  }
  if (method.starts_with("HS")) {
    return absl::InvalidArgumentError(
        cat("jwt sign-method ", method,
            " is symmetric (HMAC); raftkv, like etcd 3.4, signs with an asymmetric key pair read "
            "from pub-key and priv-key: use one of ",
            supported_methods()));
  }
  if (method.starts_with("PS")) {
    return absl::InvalidArgumentError(
        cat("jwt sign-method ", method, " (RSA-PSS) is not implemented by libjwt 1.10: use one of ",
            supported_methods()));
  }
  return absl::InvalidArgumentError(
      cat("jwt sign-method \"", method, "\" is not supported: use one of ", supported_methods()));
}

// ---- OpenSSL keys ----

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

BioPtr read_bio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// OpenSSL's default would prompt on the terminal for an encrypted key's passphrase.
int refuse_passphrase(char*, int, int, void*) { return -1; }

absl::StatusOr<std::string> pem_of(EVP_PKEY* key, bool private_key) {
  BioPtr out(BIO_new(BIO_s_mem()));
  int ok = out == nullptr ? 0
           : private_key
               ? PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
               : PEM_write_bio_PUBKEY(out.get(), key);
  char* data = nullptr;
  long size = ok == 1 ? BIO_get_mem_data(out.get(), &data) : 0;
  if (size <= 0) return absl::InternalError("OpenSSL could not write a key as PEM");
  return std::string(data, static_cast<size_t>(size));
}

// The public key of a PUBLIC KEY (SubjectPublicKeyInfo) or CERTIFICATE PEM, as etcd reads.
absl::StatusOr<PkeyPtr> read_public_key(const std::string& pem) {
  if (pem.size() > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError("the public key is too large");
  }
  BioPtr in = read_bio(pem);
  PkeyPtr key(in ? PEM_read_bio_PUBKEY(in.get(), nullptr, refuse_passphrase, nullptr) : nullptr);
  if (key == nullptr) {
    in = read_bio(pem);
    X509Ptr cert(in ? PEM_read_bio_X509(in.get(), nullptr, refuse_passphrase, nullptr) : nullptr);
    if (cert != nullptr) key.reset(X509_get_pubkey(cert.get()));
  }
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        "the public key is not a PEM \"PUBLIC KEY\" or \"CERTIFICATE\" OpenSSL can read");
  }
  return key;
}

// The key of an unencrypted PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY PEM.
absl::StatusOr<PkeyPtr> read_private_key(const std::string& pem) {
  if (pem.size() > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError("the private key is too large");
  }
  BioPtr in = read_bio(pem);
  PkeyPtr key(in ? PEM_read_bio_PrivateKey(in.get(), nullptr, refuse_passphrase, nullptr)
                 : nullptr);
  ERR_clear_error();
  if (key != nullptr) return key;
  if (pem.find("ENCRYPTED") != std::string::npos) {
    return absl::InvalidArgumentError(
        "the private key is encrypted; raftkv reads it unattended, so it must be unencrypted "
        "(protect the file by its permissions)");
  }
  return absl::InvalidArgumentError("the private key is not a PEM private key OpenSSL can read");
}

// "P-256" for prime256v1, or the group's own name, or "" if it has none.
std::string curve_of(const EVP_PKEY* key) {
  char name[80] = {};
  size_t length = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof name, &length) != 1) return "";
  const char* nist = EC_curve_nid2nist(OBJ_sn2nid(name));
  return nist != nullptr ? nist : name;
}

// Whether `key` is the kind `method` signs with; `which` names the key in the message.
absl::Status check_key_fits(const EVP_PKEY* key, std::string_view method, std::string_view which) {
  const char* type_name = EVP_PKEY_get0_type_name(key);
  std::string_view type = type_name != nullptr ? type_name : "an unknown type";
  if (method.starts_with("RS")) {
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
      return absl::InvalidArgumentError(
          cat(which, ": sign-method ", method, " needs an RSA key, got ", type));
    }
    if (int bits = EVP_PKEY_get_bits(key); bits < kMinRsaBits) {
      return absl::InvalidArgumentError(cat(which, ": sign-method ", method,
                                            " needs an RSA key of at least ", kMinRsaBits,
                                            " bits (RFC 7518 3.3), got ", bits));
    }
    return absl::OkStatus();
  }
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return absl::InvalidArgumentError(
        cat(which, ": sign-method ", method, " needs an EC key, got ", type));
  }
  // RFC 7518 3.4 pairs each ES method with one curve; libjwt would sign on any curve.
  std::string_view want = method == "ES256" ? "P-256" : method == "ES384" ? "P-384" : "P-521";
  if (std::string curve = curve_of(key); curve != want) {
    return absl::InvalidArgumentError(cat(which, ": sign-method ", method,
                                          " needs an EC key on curve ", want, ", got ",
                                          curve.empty() ? "another" : curve));
  }
  return absl::OkStatus();
}

// ---- libjwt ----

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
struct CFree {
  void operator()(char* p) const { std::free(p); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtFree>;
using CString = std::unique_ptr<char, CFree>;

jwt_alg_t alg_of(std::string_view method) { return jwt_str_alg(std::string(method).c_str()); }

const unsigned char* key_bytes(const std::string& pem) {
  return reinterpret_cast<const unsigned char*>(pem.data());
}

absl::Status invalid_token(std::string_view why) {
  return auth_error(AuthErrorKind::kInvalidToken, cat("invalid JWT: ", why));
}

// Base64url without padding, as a JWT part is written (RFC 7515 2).
bool is_base64url(std::string_view part) {
  for (char c : part) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The JSON text of claim `name`, or nullopt if the payload lacks it.
std::optional<std::string> claim_json(jwt_t* jwt, const char* name) {
  CString text(jwt_get_grants_json(jwt, name));
  if (text == nullptr) return std::nullopt;
  return std::string(text.get());
}

// What kind of JSON value `json` is, for messages that must not echo a client's bytes.
std::string_view json_kind(std::string_view json) {
  switch (json.empty() ? ' ' : json.front()) {
    case '"':
      return "a string";
    case '{':
      return "an object";
    case '[':
      return "an array";
    case 't':
    case 'f':
      return "a boolean";
    case 'n':
      return "null";
    default:
      return json.find_first_of(".eE") != std::string_view::npos ? "a fraction" : "a number";
  }
}

// The integer a claim's JSON text holds, or nullopt if it is not a JSON integer.
std::optional<int64_t> json_integer(std::string_view json) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(json.data(), json.data() + json.size(), n);
  if (ec != std::errc() || end != json.data() + json.size()) return std::nullopt;
  return n;
}

// An integer claim of the token, or the reason it has none.
absl::StatusOr<int64_t> integer_claim(jwt_t* jwt, const char* name) {
  std::optional<std::string> json = claim_json(jwt, name);
  if (!json) return invalid_token(cat("the ", name, " claim is missing"));
  std::optional<int64_t> n = json_integer(*json);
  if (!n) {
    return invalid_token(cat("the ", name, " claim is ", json_kind(*json), ", not an integer"));
  }
  return *n;
}

}  // namespace

absl::StatusOr<JwtSpec> parse_jwt_spec(std::string_view value) {
  std::vector<std::string_view> pieces = split(value, ',');
  if (pieces.front() != "jwt") {
    return absl::InvalidArgumentError(
        cat("--auth-token \"", pieces.front(),
            "\" is not a jwt token spec: expected "
            "jwt,pub-key=<path>,priv-key=<path>,sign-method=<method>[,ttl=<duration>]"));
  }
  JwtSpec spec;
  bool seen_pub = false, seen_priv = false, seen_method = false, seen_ttl = false;
  for (size_t i = 1; i < pieces.size(); ++i) {
    std::string_view piece = pieces[i];
    size_t eq = piece.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(
          cat("jwt option \"", piece,
              "\" is not key=value: options are pub-key, priv-key, sign-method and ttl"));
    }
    std::string_view key = piece.substr(0, eq);
    std::string_view val = piece.substr(eq + 1);
    bool* seen = key == "pub-key"       ? &seen_pub
                 : key == "priv-key"    ? &seen_priv
                 : key == "sign-method" ? &seen_method
                 : key == "ttl"         ? &seen_ttl
                                        : nullptr;
    if (seen == nullptr) {
      return absl::InvalidArgumentError(
          cat("jwt option \"", key,
              "\" is unknown: options are pub-key, priv-key, sign-method and ttl"));
    }
    if (*seen) return absl::InvalidArgumentError(cat("jwt option ", key, " is given twice"));
    *seen = true;
    if (val.empty()) {
      return absl::InvalidArgumentError(cat("jwt option ", key, " has an empty value"));
    }
    if (key == "pub-key") {
      spec.public_key_path = std::string(val);
    } else if (key == "priv-key") {
      spec.private_key_path = std::string(val);
    } else if (key == "sign-method") {
      if (absl::Status s = check_sign_method(val); !s.ok()) return s;
      spec.sign_method = std::string(val);
    } else {
      absl::StatusOr<std::chrono::seconds> ttl = parse_ttl(val);
      if (!ttl.ok()) return ttl.status();
      spec.ttl = *ttl;
    }
  }
  if (!seen_pub) {
    return absl::InvalidArgumentError(
        "jwt needs pub-key=<path>: the PEM public key every member verifies tokens with");
  }
  if (!seen_method) {
    return absl::InvalidArgumentError(
        cat("jwt needs sign-method=<method>, one of ", supported_methods()));
  }
  return spec;
}

absl::StatusOr<JwtTokens> JwtTokens::create(JwtConfig config) {
  if (absl::Status s = check_sign_method(config.sign_method); !s.ok()) return s;
  if (config.ttl <= std::chrono::seconds(0) || config.ttl > kMaxJwtTtl) {
    return absl::InvalidArgumentError(
        cat("jwt ttl ", config.ttl.count(), "s is not in [1s, ", kMaxJwtTtl.count(), "s]"));
  }
  absl::StatusOr<PkeyPtr> public_key = read_public_key(config.public_key_pem);
  if (!public_key.ok()) return public_key.status();
  if (absl::Status s = check_key_fits(public_key->get(), config.sign_method, "the public key");
      !s.ok()) {
    return s;
  }
  JwtTokens tokens;
  tokens.sign_method_ = config.sign_method;
  tokens.alg_ = alg_of(config.sign_method);
  tokens.ttl_ = config.ttl;
  absl::StatusOr<std::string> public_pem = pem_of(public_key->get(), /*private_key=*/false);
  if (!public_pem.ok()) return public_pem.status();
  tokens.public_key_pem_ = *std::move(public_pem);
  if (config.private_key_pem.empty()) return tokens;

  absl::StatusOr<PkeyPtr> private_key = read_private_key(config.private_key_pem);
  if (!private_key.ok()) return private_key.status();
  if (absl::Status s = check_key_fits(private_key->get(), config.sign_method, "the private key");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> private_pem = pem_of(private_key->get(), /*private_key=*/true);
  if (!private_pem.ok()) return private_pem.status();
  tokens.private_key_pem_ = *std::move(private_pem);

  // The probe goes through the same libjwt calls as real tokens, so a pair that passes here
  // signs tokens every member holding the public key accepts.
  absl::StatusOr<std::string> probe = tokens.sign("raftkv-key-probe", 0, 0);
  if (!probe.ok()) {
    return absl::InvalidArgumentError(cat("the private key cannot sign with ", config.sign_method,
                                          ": ", probe.status().message()));
  }
  if (!tokens.verify(*probe, 0).ok()) {
    return absl::InvalidArgumentError("the private key does not match the public key");
  }
  return tokens;
}

absl::StatusOr<std::string> JwtTokens::sign(std::string_view user, uint64_t revision,
                                            int64_t now_unix) const {
  if (!can_sign()) {
    return absl::FailedPreconditionError(
        "this member has no jwt priv-key: it verifies tokens but cannot sign them");
  }
  if (user.empty()) return absl::InvalidArgumentError("a JWT names a user; the user name is empty");
  if (user.size() > kMaxJwtUserBytes) {
    return absl::InvalidArgumentError(
        cat("the user name is ", user.size(), " bytes; a JWT takes at most ", kMaxJwtUserBytes));
  }
  // libjwt takes C strings: a NUL would cut the name short and sign a token for another user.
  if (user.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("the user name holds a NUL byte; a JWT cannot carry it");
  }
  if (revision > static_cast<uint64_t>(kMaxJsonInteger)) {
    return absl::InvalidArgumentError(cat(
        "auth revision ", revision, " is beyond 2^63-1, the largest JSON integer libjwt carries"));
  }
  if (now_unix > kMaxJsonInteger - ttl_.count()) {
    return absl::InvalidArgumentError(cat("now ", now_unix, " + ttl is beyond int64"));
  }
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::ResourceExhaustedError("libjwt could not allocate a token");
  JwtPtr jwt(raw);
  std::string user_z(user);
  if (int rc = jwt_add_grant(jwt.get(), "username", user_z.c_str()); rc != 0) {
    return absl::InvalidArgumentError(
        cat("the user name cannot go in a JWT (is it UTF-8?): ", std::strerror(rc)));
  }
  if (jwt_add_grant_int(jwt.get(), "revision", static_cast<long>(revision)) != 0 ||
      jwt_add_grant_int(jwt.get(), "exp", static_cast<long>(now_unix + ttl_.count())) != 0) {
    return absl::ResourceExhaustedError("libjwt could not add the revision and exp claims");
  }
  if (int rc = jwt_set_alg(jwt.get(), static_cast<jwt_alg_t>(alg_), key_bytes(private_key_pem_),
                           static_cast<int>(private_key_pem_.size()));
      rc != 0) {
    return absl::InternalError(
        cat("libjwt refused sign-method ", sign_method_, ": ", std::strerror(rc)));
  }
  CString token(jwt_encode_str(jwt.get()));
  int error = errno;
  ERR_clear_error();
  if (token == nullptr) {
    return absl::InternalError(
        cat("libjwt could not sign with ", sign_method_, ": ", std::strerror(error)));
  }
  return std::string(token.get());
}

absl::StatusOr<JwtTokens::Claims> JwtTokens::verify(std::string_view token,
                                                    int64_t now_unix) const {
  if (token.empty()) return invalid_token("the token is empty");
  // libjwt copies each part onto the stack (alloca): a client must not choose that size.
  if (token.size() > kMaxJwtTokenBytes) {
    return invalid_token(cat("the token is ", token.size(), " bytes, more than the ",
                             kMaxJwtTokenBytes, " allowed"));
  }
  std::vector<std::string_view> parts = split(token, '.');
  if (parts.size() != 3) {
    return invalid_token(cat("malformed: ", parts.size(),
                             " dot-separated parts, expected header.payload.signature"));
  }
  for (std::string_view part : parts) {
    if (!is_base64url(part)) return invalid_token("malformed: a part is not base64url");
  }
  if (parts[0].empty() || parts[1].empty()) return invalid_token("malformed: an empty part");
  if (parts[2].empty()) {
    return invalid_token(cat("the token is unsigned (alg none?); sign-method is ", sign_method_));
  }

  std::string text(token);
  jwt_t* raw = nullptr;
  int rc = jwt_decode(&raw, text.c_str(), key_bytes(public_key_pem_),
                      static_cast<int>(public_key_pem_.size()));
  JwtPtr jwt(raw);
  ERR_clear_error();
  if (rc != 0 || jwt == nullptr) {
    return invalid_token(cat("malformed, or its signature does not verify with the public key (",
                             std::strerror(rc), ")"));
  }
  // libjwt verified with whatever alg the header names, HS256 keyed with the public key
  // PEM included (the alg-confusion attack): only the configured method counts. The header
  // is compared exactly too, since libjwt reads "rs256" as RS256.
  const char* alg = jwt_get_header(jwt.get(), "alg");
  if (jwt_get_alg(jwt.get()) != static_cast<jwt_alg_t>(alg_) || alg == nullptr ||
      sign_method_ != alg) {
    return invalid_token(cat("alg ", alg != nullptr ? alg : "(none)",
                             " differs from the configured sign-method ", sign_method_));
  }

  Claims claims;
  std::optional<std::string> user_json = claim_json(jwt.get(), "username");
  if (!user_json) return invalid_token("the username claim is missing");
  const char* user = jwt_get_grant(jwt.get(), "username");
  if (user == nullptr) {
    return invalid_token(cat("the username claim is ", json_kind(*user_json), ", not a string"));
  }
  // A \u0000 escape would cut the C string short and name another user.
  if (user[0] == '\0' || user_json->find("\\u0000") != std::string::npos) {
    return invalid_token("the username claim is empty or holds a NUL");
  }
  claims.user = user;

  absl::StatusOr<int64_t> revision = integer_claim(jwt.get(), "revision");
  if (!revision.ok()) return revision.status();
  if (*revision < 0) return invalid_token(cat("the revision claim ", *revision, " is negative"));
  claims.revision = static_cast<uint64_t>(*revision);

  absl::StatusOr<int64_t> exp = integer_claim(jwt.get(), "exp");
  if (!exp.ok()) return exp.status();
  if (*exp <= now_unix) {
    return invalid_token(cat("the token expired at ", *exp, " (Unix seconds); now is ", now_unix));
  }
  claims.exp = *exp;
  return claims;
}

}  // namespace security
