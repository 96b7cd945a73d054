// etcd's JWT tokens through libjwt: the --auth-token spec, round trips for each method, and
// every forgery a member must refuse (another key, tampering, alg none, HS256 keyed with the
// public key, another method, expiry, missing or mistyped claims). Keys are made in-process.
#include "security/jwt_tokens.h"

#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "security/auth_error.h"
#include "security/text_util.h"

namespace security {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kNow = 1'700'000'000;

// ---- keys ----

struct KeyPair {
  std::string public_pem;
  std::string private_pem;
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(size));
  BIO_free(bio);
  return text;
}

KeyPair pem_pair(EVP_PKEY* key) {
  EXPECT_NE(key, nullptr);
  BIO* pub = BIO_new(BIO_s_mem());
  BIO* priv = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PUBKEY(pub, key), 1);
  EXPECT_EQ(PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  EVP_PKEY_free(key);
  return KeyPair{.public_pem = bio_text(pub), .private_pem = bio_text(priv)};
}

KeyPair rsa_key(size_t bits) { return pem_pair(EVP_RSA_gen(bits)); }
KeyPair ec_key(const char* curve) { return pem_pair(EVP_EC_gen(curve)); }

// Generated once per process: RSA keygen takes a noticeable fraction of a second.
const KeyPair& rsa_a() {
  static const KeyPair k = rsa_key(2048);
  return k;
}
const KeyPair& rsa_b() {
  static const KeyPair k = rsa_key(2048);
  return k;
}
const KeyPair& ec_a() {
  static const KeyPair k = ec_key("P-256");
  return k;
}
const KeyPair& ec_b() {
  static const KeyPair k = ec_key("P-256");
  return k;
}
const KeyPair& ec_p384() {
  static const KeyPair k = ec_key("P-384");
  return k;
}
const KeyPair& ec_p521() {
  static const KeyPair k = ec_key("P-521");
  return k;
}

JwtConfig config(std::string method, const KeyPair& keys) {
  return JwtConfig{.sign_method = std::move(method),
                   .public_key_pem = keys.public_pem,
                   .private_key_pem = keys.private_pem,
                   .ttl = 300s};
}

JwtTokens make(std::string method, const KeyPair& keys) {
  absl::StatusOr<JwtTokens> tokens = JwtTokens::create(config(std::move(method), keys));
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return *std::move(tokens);
}

// ---- tokens made by hand with libjwt, as an attacker or another implementation would ----

// A token libjwt signs under `alg` with `key` (empty for alg none), holding `claims_json`.
std::string craft(jwt_alg_t alg, const std::string& key, const std::string& claims_json) {
  jwt_t* jwt = nullptr;
  EXPECT_EQ(jwt_new(&jwt), 0);
  EXPECT_EQ(jwt_add_grants_json(jwt, claims_json.c_str()), 0) << claims_json;
  const auto* bytes = key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data());
  EXPECT_EQ(jwt_set_alg(jwt, alg, bytes, static_cast<int>(key.size())), 0);
  char* text = jwt_encode_str(jwt);
  EXPECT_NE(text, nullptr);
  std::string token = text != nullptr ? text : "";
  std::free(text);
  jwt_free(jwt);
  return token;
}

std::string claims(std::string_view user, int64_t revision, int64_t exp) {
  return cat("{\"username\":\"", user, "\",\"revision\":", revision, ",\"exp\":", exp, "}");
}

std::string base64url(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// header.payload.signature with the JSON texts as given, RS256-signed by OpenSSL alone:
// for payloads libjwt would refuse to build.
std::string sign_by_hand(const std::string& private_pem, std::string_view header_json,
                         std::string_view payload_json) {
  std::string input = cat(base64url(header_json), ".", base64url(payload_json));
  BIO* in = BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  EXPECT_NE(key, nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(1024, '\0');
  size_t sig_len = sig.size();
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()),
            1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  sig.resize(sig_len);
  return cat(input, ".", base64url(sig));
}

// The status's message as a std::string_view (this absl's string_view is its own type).
std::string_view message(const absl::Status& s) { return {s.message().data(), s.message().size()}; }

void expect_invalid(const absl::StatusOr<JwtTokens::Claims>& got, std::string_view reason) {
  ASSERT_FALSE(got.ok()) << "accepted, user " << got->user;
  EXPECT_TRUE(is_auth_error(got.status(), AuthErrorKind::kInvalidToken)) << got.status();
  EXPECT_NE(message(got.status()).find(reason), std::string_view::npos)
      << "want \"" << reason << "\" in: " << message(got.status());
}

void expect_create_fails(const JwtConfig& c, std::string_view reason) {
  absl::StatusOr<JwtTokens> got = JwtTokens::create(c);
  ASSERT_FALSE(got.ok()) << "created with " << c.sign_method;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(message(got.status()).find(reason), std::string_view::npos)
      << "want \"" << reason << "\" in: " << message(got.status());
}

// ---- the --auth-token spec ----

TEST(ParseJwtSpec, AcceptsEtcdForms) {
  struct Case {
    std::string value;
    JwtSpec want;
  };
  const Case cases[] = {
      {"jwt,pub-key=a.pem,priv-key=b.pem,sign-method=RS256,ttl=10m",
       {.public_key_path = "a.pem",
        .private_key_path = "b.pem",
        .sign_method = "RS256",
        .ttl = 600s}},
      {"jwt,sign-method=ES256,pub-key=/k/p.pem",
       {.public_key_path = "/k/p.pem",
        .private_key_path = "",
        .sign_method = "ES256",
        .ttl = 300s}},
      {"jwt,pub-key=p,sign-method=RS512,ttl=300s",
       {.public_key_path = "p", .private_key_path = "", .sign_method = "RS512", .ttl = 300s}},
      {"jwt,pub-key=p,sign-method=ES384,ttl=1h",
       {.public_key_path = "p", .private_key_path = "", .sign_method = "ES384", .ttl = 3600s}},
      {"jwt,pub-key=p,sign-method=ES512,ttl=1h30m5s",
       {.public_key_path = "p", .private_key_path = "", .sign_method = "ES512", .ttl = 5405s}},
      {"jwt,pub-key=dir/with=sign.pem,sign-method=RS384",
       {.public_key_path = "dir/with=sign.pem",
        .private_key_path = "",
        .sign_method = "RS384",
        .ttl = 300s}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<JwtSpec> got = parse_jwt_spec(c.value);
    ASSERT_TRUE(got.ok()) << c.value << ": " << got.status();
    EXPECT_EQ(got->public_key_path, c.want.public_key_path) << c.value;
    EXPECT_EQ(got->private_key_path, c.want.private_key_path) << c.value;
    EXPECT_EQ(got->sign_method, c.want.sign_method) << c.value;
    EXPECT_EQ(got->ttl, c.want.ttl) << c.value;
  }
}

TEST(ParseJwtSpec, NamesWhatIsWrong) {
  struct Case {
    std::string value;
    std::string reason;
  };
  const Case cases[] = {
      {"simple", "is not a jwt token spec"},
      {"jwt,pub-key=p", "jwt needs sign-method=<method>, one of RS256, RS384"},
      {"jwt,sign-method=RS256", "jwt needs pub-key=<path>"},
      {"jwt,priv-key=k,sign-method=RS256", "jwt needs pub-key=<path>"},
      {"jwt,pub-key=p,sign-method=RS256,color=blue", "\"color\" is unknown"},
      {"jwt,pub-key=p,sign-method=RS256,verbose", "\"verbose\" is not key=value"},
      {"jwt,pub-key=p,pub-key=q,sign-method=RS256", "pub-key is given twice"},
      {"jwt,pub-key=p,sign-method=RS256,ttl=1m,ttl=2m", "ttl is given twice"},
      {"jwt,pub-key=,sign-method=RS256", "pub-key has an empty value"},
      {"jwt,pub-key=p,sign-method=HS256", "HS256 is symmetric (HMAC)"},
      {"jwt,pub-key=p,sign-method=PS256", "PS256 (RSA-PSS) is not implemented by libjwt 1.10"},
      {"jwt,pub-key=p,sign-method=rs256", "\"rs256\" is not supported: use one of RS256"},
      {"jwt,pub-key=p,sign-method=none", "\"none\" is not supported"},
      {"jwt,pub-key=p,sign-method=RS256,ttl=5", "ttl=5 has a number without a unit"},
      {"jwt,pub-key=p,sign-method=RS256,ttl=5d", "ttl=5d has an unknown unit"},
      {"jwt,pub-key=p,sign-method=RS256,ttl=1.5h", "ttl=1.5h has an unknown unit"},
      {"jwt,pub-key=p,sign-method=RS256,ttl=0s", "ttl=0s is zero"},
      {"jwt,pub-key=p,sign-method=RS256,ttl=-5m", "ttl=-5m is not a duration"},
      {"jwt,pub-key=p,sign-method=RS256,ttl=m", "ttl=m is not a duration"},
      {"jwt,pub-key=p,sign-method=RS256,ttl=8761h", "ttl=8761h is too long"},
      {"jwt,pub-key=p,sign-method=RS256,ttl=99999999999999999999s", "is too long"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<JwtSpec> got = parse_jwt_spec(c.value);
    ASSERT_FALSE(got.ok()) << c.value;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << c.value;
    EXPECT_NE(message(got.status()).find(c.reason), std::string_view::npos)
        << c.value << ": want \"" << c.reason << "\" in: " << message(got.status());
  }
}

// ---- round trips ----

TEST(JwtTokens, RoundTripRs256) {
  JwtTokens tokens = make("RS256", rsa_a());
  absl::StatusOr<std::string> token = tokens.sign("alice", 42, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<JwtTokens::Claims> got = tokens.verify(*token, kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->user, "alice");
  EXPECT_EQ(got->revision, 42u);
}

TEST(JwtTokens, RoundTripEs256) {
  JwtTokens tokens = make("ES256", ec_a());
  absl::StatusOr<std::string> token = tokens.sign("bob", 7, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<JwtTokens::Claims> got = tokens.verify(*token, kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->user, "bob");
  EXPECT_EQ(got->revision, 7u);
}

TEST(JwtTokens, RoundTripEveryOtherMethod) {
  const std::pair<std::string, const KeyPair*> cases[] = {
      {"RS384", &rsa_a()}, {"RS512", &rsa_a()}, {"ES384", &ec_p384()}, {"ES512", &ec_p521()}};
  for (const auto& [method, keys] : cases) {
    JwtTokens tokens = make(method, *keys);
    absl::StatusOr<std::string> token = tokens.sign("carol", 3, kNow);
    ASSERT_TRUE(token.ok()) << method << ": " << token.status();
    absl::StatusOr<JwtTokens::Claims> got = tokens.verify(*token, kNow);
    ASSERT_TRUE(got.ok()) << method << ": " << got.status();
    EXPECT_EQ(got->user, "carol") << method;
    EXPECT_EQ(got->revision, 3u) << method;
  }
}

// etcd's members read {"exp", "revision", "username"} with integer exp and revision; a
// raftkv token must carry exactly those, under the configured alg.
TEST(JwtTokens, TokensCarryEtcdClaims) {
  JwtTokens tokens = make("RS256", rsa_a());
  absl::StatusOr<std::string> token = tokens.sign("alice", 42, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  jwt_t* jwt = nullptr;
  ASSERT_EQ(jwt_decode(&jwt, token->c_str(),
                       reinterpret_cast<const unsigned char*>(rsa_a().public_pem.data()),
                       static_cast<int>(rsa_a().public_pem.size())),
            0);
  EXPECT_STREQ(jwt_get_header(jwt, "alg"), "RS256");
  char* grants = jwt_get_grants_json(jwt, nullptr);
  EXPECT_EQ(std::string(grants),
            cat("{\"exp\":", kNow + 300, ",\"revision\":42,\"username\":\"alice\"}"));
  std::free(grants);
  jwt_free(jwt);
}

// ---- forgeries ----

TEST(JwtTokens, RefusesTokenSignedByAnotherKey) {
  JwtTokens ours = make("RS256", rsa_a());
  JwtTokens theirs = make("RS256", rsa_b());
  absl::StatusOr<std::string> token = theirs.sign("root", 1, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  expect_invalid(ours.verify(*token, kNow), "signature does not verify");

  JwtTokens ours_ec = make("ES256", ec_a());
  JwtTokens theirs_ec = make("ES256", ec_b());
  token = theirs_ec.sign("root", 1, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  expect_invalid(ours_ec.verify(*token, kNow), "signature does not verify");
}

TEST(JwtTokens, RefusesTamperedPayload) {
  JwtTokens tokens = make("ES256", ec_a());
  absl::StatusOr<std::string> token = tokens.sign("alice", 5, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  std::vector<std::string_view> parts = split(*token, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string forged = cat(parts[0], ".", base64url(claims("root", 5, kNow + 300)), ".", parts[2]);
  ASSERT_NE(forged, *token);
  expect_invalid(tokens.verify(forged, kNow), "signature does not verify");

  // One flipped signature character, away from the last one's unused low bits.
  std::string flipped = *token;
  char& c = flipped[flipped.size() - 10];
  c = c == 'A' ? 'B' : 'A';
  expect_invalid(tokens.verify(flipped, kNow), "signature does not verify");
}

TEST(JwtTokens, RefusesAlgNone) {
  JwtTokens tokens = make("RS256", rsa_a());
  std::string unsigned_token = craft(JWT_ALG_NONE, "", claims("root", 1, kNow + 300));
  ASSERT_EQ(unsigned_token.back(), '.');  // header.payload. with no signature
  expect_invalid(tokens.verify(unsigned_token, kNow), "unsigned");
  // The same with some signature bytes appended.
  expect_invalid(tokens.verify(unsigned_token + "c2ln", kNow), "");
}

// The alg-confusion attack: the public key is public, so HS256 keyed with its PEM text
// verifies under a library that picks the alg from the header. libjwt does; we must not.
TEST(JwtTokens, RefusesHs256KeyedWithPublicKey) {
  JwtTokens tokens = make("RS256", rsa_a());
  std::string forged = craft(JWT_ALG_HS256, rsa_a().public_pem, claims("root", 1, kNow + 300));
  jwt_t* jwt = nullptr;
  ASSERT_EQ(jwt_decode(&jwt, forged.c_str(),
                       reinterpret_cast<const unsigned char*>(rsa_a().public_pem.data()),
                       static_cast<int>(rsa_a().public_pem.size())),
            0)
      << "libjwt alone should accept the forgery, or this test proves nothing";
  jwt_free(jwt);
  expect_invalid(tokens.verify(forged, kNow),
                 "alg HS256 differs from the configured sign-method RS256");
}

TEST(JwtTokens, RefusesTokenOfAnotherSignMethod) {
  JwtTokens rs256 = make("RS256", rsa_a());
  // Signed by the right private key, but under RS384.
  std::string token = craft(JWT_ALG_RS384, rsa_a().private_pem, claims("alice", 1, kNow + 300));
  expect_invalid(rs256.verify(token, kNow), "alg RS384 differs");
  // And an ES256 verifier shown an RS256 token.
  JwtTokens es256 = make("ES256", ec_a());
  absl::StatusOr<std::string> rs_token = rs256.sign("alice", 1, kNow);
  ASSERT_TRUE(rs_token.ok()) << rs_token.status();
  expect_invalid(es256.verify(*rs_token, kNow), "");
}

TEST(JwtTokens, ExpiresAtExp) {
  JwtTokens tokens = make("RS256", rsa_a());
  absl::StatusOr<std::string> token = tokens.sign("alice", 1, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(tokens.verify(*token, kNow + 299).ok());
  expect_invalid(tokens.verify(*token, kNow + 300), "expired at 1700000300");
  expect_invalid(tokens.verify(*token, kNow + 3600), "expired");
}

TEST(JwtTokens, RefusesMissingClaims) {
  JwtTokens tokens = make("RS256", rsa_a());
  const std::string& key = rsa_a().private_pem;
  const std::pair<std::string, std::string> cases[] = {
      {"{\"revision\":1,\"exp\":1700000300}", "username claim is missing"},
      {"{\"username\":\"alice\",\"exp\":1700000300}", "revision claim is missing"},
      {"{\"username\":\"alice\",\"revision\":1}", "exp claim is missing"},
      {"{}", "username claim is missing"},
  };
  for (const auto& [json, reason] : cases) {
    SCOPED_TRACE(json);
    expect_invalid(tokens.verify(craft(JWT_ALG_RS256, key, json), kNow), reason);
  }
}

TEST(JwtTokens, RefusesMistypedClaims) {
  JwtTokens tokens = make("RS256", rsa_a());
  const std::string& key = rsa_a().private_pem;
  const std::pair<std::string, std::string> cases[] = {
      {"{\"username\":7,\"revision\":1,\"exp\":1700000300}", "username claim is a number"},
      {"{\"username\":[\"a\"],\"revision\":1,\"exp\":1700000300}", "username claim is an array"},
      {"{\"username\":\"\",\"revision\":1,\"exp\":1700000300}", "username claim is empty"},
      {"{\"username\":\"a\",\"revision\":\"1\",\"exp\":1700000300}", "revision claim is a string"},
      {"{\"username\":\"a\",\"revision\":1.5,\"exp\":1700000300}", "revision claim is a fraction"},
      {"{\"username\":\"a\",\"revision\":-1,\"exp\":1700000300}", "revision claim -1 is negative"},
      {"{\"username\":\"a\",\"revision\":1,\"exp\":\"1700000300\"}", "exp claim is a string"},
      {"{\"username\":\"a\",\"revision\":1,\"exp\":true}", "exp claim is a boolean"},
      {"{\"username\":\"a\",\"revision\":1,\"exp\":null}", "exp claim is null"},
  };
  for (const auto& [json, reason] : cases) {
    SCOPED_TRACE(json);
    expect_invalid(tokens.verify(craft(JWT_ALG_RS256, key, json), kNow), reason);
  }
}

// Payloads libjwt will not build, signed by hand with the right key: a NUL inside the user
// name would name "root" to code reading C strings.
TEST(JwtTokens, RefusesHandSignedOddities) {
  JwtTokens tokens = make("RS256", rsa_a());
  const std::string header = R"({"alg":"RS256","typ":"JWT"})";
  // The hand signer itself is sound: a plain payload passes.
  absl::StatusOr<JwtTokens::Claims> plain = tokens.verify(
      sign_by_hand(rsa_a().private_pem, header, claims("alice", 1, kNow + 300)), kNow);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->user, "alice");
  const std::pair<std::string, std::string> cases[] = {
      {R"({"username":"root\u0000x","revision":1,"exp":1700000300})", "malformed"},
      {R"({"username":"alice","revision":1,"exp":1700000300)", "malformed"},  // cut short
      {R"(["username","alice"])", "username claim is missing"},               // not an object
      {R"({"username":"a","revision":99999999999999999999,"exp":1700000300})", "malformed"},
  };
  for (const auto& [json, reason] : cases) {
    SCOPED_TRACE(json);
    expect_invalid(tokens.verify(sign_by_hand(rsa_a().private_pem, header, json), kNow), reason);
  }
  // The header is compared exactly: libjwt alone reads "rs256" as RS256.
  expect_invalid(tokens.verify(sign_by_hand(rsa_a().private_pem, R"({"alg":"rs256"})",
                                            claims("alice", 1, kNow + 300)),
                               kNow),
                 "alg rs256 differs");
}

TEST(JwtTokens, RefusesMalformedTokens) {
  JwtTokens tokens = make("RS256", rsa_a());
  absl::StatusOr<std::string> good = tokens.sign("alice", 1, kNow);
  ASSERT_TRUE(good.ok()) << good.status();
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty"},
      {"not-a-token", "1 dot-separated parts"},
      {"a.b", "2 dot-separated parts"},
      {"a.b.c.d", "4 dot-separated parts"},
      {"a+b.c.d", "not base64url"},
      {".payload.sig", "an empty part"},
      {"e30.e30.c2ln", "malformed, or its signature"},  // {} header: no alg
      {std::string(kMaxJwtTokenBytes + 1, 'a'), "bytes, more than"},
      {*good + std::string(1, '\0') + "x", "not base64url"},
  };
  for (const auto& [token, reason] : cases) {
    SCOPED_TRACE(token.substr(0, 40));
    expect_invalid(tokens.verify(token, kNow), reason);
  }
}

// ---- configuration ----

TEST(JwtTokens, CreateRefusesMismatchedKeys) {
  JwtConfig rsa = config("RS256", rsa_a());
  rsa.private_key_pem = rsa_b().private_pem;
  expect_create_fails(rsa, "the private key does not match the public key");
  JwtConfig ec = config("ES256", ec_a());
  ec.private_key_pem = ec_b().private_pem;
  expect_create_fails(ec, "the private key does not match the public key");
}

TEST(JwtTokens, CreateRefusesWrongKeyTypes) {
  expect_create_fails(config("ES256", rsa_a()),
                      "the public key: sign-method ES256 needs an EC key, got RSA");
  expect_create_fails(config("RS256", ec_a()),
                      "the public key: sign-method RS256 needs an RSA key, got EC");
  expect_create_fails(config("ES256", ec_p384()), "needs an EC key on curve P-256, got P-384");
  expect_create_fails(config("ES384", ec_a()), "needs an EC key on curve P-384, got P-256");
  expect_create_fails(config("RS256", rsa_key(1024)), "at least 2048 bits");
  JwtConfig mixed = config("RS256", rsa_a());
  mixed.private_key_pem = ec_a().private_pem;
  expect_create_fails(mixed, "the private key: sign-method RS256 needs an RSA key, got EC");
}

TEST(JwtTokens, CreateRefusesUnreadableConfig) {
  JwtConfig c = config("RS256", rsa_a());
  c.public_key_pem = "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n";
  expect_create_fails(c, "the public key is not a PEM");
  c = config("RS256", rsa_a());
  c.public_key_pem = rsa_a().private_pem;  // a private key where the public one goes
  expect_create_fails(c, "the public key is not a PEM");
  c = config("RS256", rsa_a());
  c.private_key_pem = "garbage";
  expect_create_fails(c, "the private key is not a PEM private key");
  // An encrypted key must fail at once, not wait on a passphrase prompt.
  EVP_PKEY* key = nullptr;
  {
    BIO* in =
        BIO_new_mem_buf(rsa_a().private_pem.data(), static_cast<int>(rsa_a().private_pem.size()));
    key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
    BIO_free(in);
  }
  ASSERT_NE(key, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  char passphrase[] = "secret";
  ASSERT_EQ(PEM_write_bio_PrivateKey(out, key, EVP_aes_256_cbc(), nullptr, 0, nullptr, passphrase),
            1);
  EVP_PKEY_free(key);
  c = config("RS256", rsa_a());
  c.private_key_pem = bio_text(out);
  expect_create_fails(c, "the private key is encrypted");
  c = config("HS256", rsa_a());
  expect_create_fails(c, "HS256 is symmetric");
  c = config("PS256", rsa_a());
  expect_create_fails(c, "not implemented by libjwt 1.10");
  c = config("RS256", rsa_a());
  c.ttl = 0s;
  expect_create_fails(c, "jwt ttl 0s is not in");
}

// etcd reads pub-key as a public key or a certificate; so does raftkv.
TEST(JwtTokens, AcceptsCertificateAsPublicKey) {
  BIO* in = BIO_new_mem_buf(ec_a().private_pem.data(), static_cast<int>(ec_a().private_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASSERT_EQ(X509_set_version(cert, 2), 1);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  BIO* out = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_X509(out, cert), 1);
  X509_free(cert);
  EVP_PKEY_free(key);

  JwtConfig c = config("ES256", ec_a());
  c.public_key_pem = bio_text(out);
  absl::StatusOr<JwtTokens> tokens = JwtTokens::create(c);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  absl::StatusOr<std::string> token = tokens->sign("alice", 9, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<JwtTokens::Claims> got = make("ES256", ec_a()).verify(*token, kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->revision, 9u);
}

TEST(JwtTokens, VerifyOnlyInstanceVerifiesAndCannotSign) {
  JwtTokens signer = make("ES256", ec_a());
  JwtConfig c = config("ES256", ec_a());
  c.private_key_pem.clear();
  absl::StatusOr<JwtTokens> verifier = JwtTokens::create(c);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_FALSE(verifier->can_sign());
  absl::StatusOr<std::string> token = signer.sign("alice", 11, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<JwtTokens::Claims> got = verifier->verify(*token, kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->user, "alice");
  EXPECT_EQ(got->revision, 11u);
  absl::StatusOr<std::string> refused = verifier->sign("alice", 11, kNow);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(JwtTokens, SignRefusesWhatATokenCannotCarry) {
  JwtTokens tokens = make("RS256", rsa_a());
  const uint64_t too_big = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1;
  const std::pair<absl::StatusOr<std::string>, std::string> cases[] = {
      {tokens.sign("", 1, kNow), "user name is empty"},
      {tokens.sign(std::string_view("root\0x", 6), 1, kNow), "NUL byte"},
      {tokens.sign(std::string(kMaxJwtUserBytes + 1, 'u'), 1, kNow), "at most 4096"},
      {tokens.sign("\xff\xfe", 1, kNow), "is it UTF-8"},
      {tokens.sign("alice", too_big, kNow), "beyond 2^63-1"},
      {tokens.sign("alice", 1, std::numeric_limits<int64_t>::max()), "beyond int64"},
  };
  for (const auto& [got, reason] : cases) {
    ASSERT_FALSE(got.ok()) << reason;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
    EXPECT_NE(message(got.status()).find(reason), std::string_view::npos) << got.status();
  }
  // The largest revision a token carries comes back whole.
  const uint64_t largest = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  absl::StatusOr<std::string> token = tokens.sign("alice", largest, kNow);
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<JwtTokens::Claims> got = tokens.verify(*token, kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->revision, largest);
}

// ---- threads ----

// Const methods are called from every gRPC thread at once: 4 threads signing and verifying
// together must give what one thread gives (RS256 signatures are deterministic).
TEST(JwtTokens, ConcurrentSignAndVerifyAgreeWithOneThread) {
  JwtTokens rs = make("RS256", rsa_a());
  JwtTokens es = make("ES256", ec_a());
  constexpr int kUsers = 24;
  std::vector<std::string> rs_tokens, es_tokens;
  for (int i = 0; i < kUsers; ++i) {
    rs_tokens.push_back(*rs.sign(cat("user", i), static_cast<uint64_t>(i), kNow));
    es_tokens.push_back(*es.sign(cat("user", i), static_cast<uint64_t>(i), kNow));
  }
  std::string forged = craft(JWT_ALG_HS256, rsa_a().public_pem, claims("root", 1, kNow + 300));

  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < kUsers; ++i) {
          int k = (i + t * 7) % kUsers;  // threads walk the users in different orders
          std::string user = cat("user", k);
          auto uk = static_cast<uint64_t>(k);
          absl::StatusOr<std::string> rs_token = rs.sign(user, uk, kNow);
          if (!rs_token.ok() || *rs_token != rs_tokens[k]) ++mismatches[t];
          absl::StatusOr<std::string> es_token = es.sign(user, uk, kNow);
          absl::StatusOr<JwtTokens::Claims> es_own =
              es_token.ok() ? es.verify(*es_token, kNow) : es_token.status();
          if (!es_own.ok() || es_own->user != user || es_own->revision != uk) ++mismatches[t];
          for (const auto* token : {&rs_tokens[k], &es_tokens[k]}) {
            const JwtTokens& v = token == &rs_tokens[k] ? rs : es;
            absl::StatusOr<JwtTokens::Claims> got = v.verify(*token, kNow);
            if (!got.ok() || got->user != user || got->revision != uk) ++mismatches[t];
          }
          if (rs.verify(forged, kNow).ok()) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace security
