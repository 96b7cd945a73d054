// Which member a peer certificate may speak for (server::authorize_peer), with
// certificates made by the `openssl` command in a temporary directory: by name (the CN),
// by the host of the member's peer URL when no other named member shares it, never for
// another member's name; --peer-cert-allowed-cn and --peer-cert-allowed-hostname; and
// --peer-* file errors named with their flag.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "server/tls.h"

namespace server {
namespace {

namespace fs = std::filesystem;

class PeerCerts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        new fs::path(fs::temp_directory_path() / ("raftkv-peer-tls-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    std::ofstream(*dir_ / "ext.cnf") << "[ip]\nsubjectAltName = IP:127.0.0.1\n"
                                     << "[dns]\nsubjectAltName = DNS:m2.example\n"
                                     << "[wild]\nsubjectAltName = DNS:*.example\n";
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
        "-out ca.pem -days 2 -subj /CN=ca");
    // name, CN, extension section
    for (const auto& [name, cn, ext] :
         std::vector<std::array<std::string, 3>>{{"n1", "n1", "ip"},
                                                 {"n2", "n2", "ip"},
                                                 {"host2", "some-host", "dns"},
                                                 {"wild", "any", "wild"},
                                                 {"nobody", "nobody", "ip"}}) {
      run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name +
          ".key -out " + name + ".csr -subj /CN=" + cn);
      run("openssl x509 -req -in " + name + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " +
          name + ".pem -days 2 -extfile ext.cnf -extensions " + ext);
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static void run(const std::string& cmd) {
    const std::string full = "cd " + dir_->string() + " && " + cmd + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(full.c_str()), 0) << cmd;
  }
  static std::string pem(const std::string& name) {
    std::ifstream in(*dir_ / (name + ".pem"));
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static std::string path(const std::string& name) { return (*dir_ / name).string(); }

  static fs::path* dir_;
};
fs::path* PeerCerts::dir_ = nullptr;

// Three members on one host (as in tests), with their names published.
const std::vector<PeerRecord> kOneHost = {
    {.id = 1, .name = "n1", .peer_urls = {"https://127.0.0.1:2380"}},
    {.id = 2, .name = "n2", .peer_urls = {"https://127.0.0.1:2381"}},
    {.id = 3, .name = "n3", .peer_urls = {"https://127.0.0.1:2382"}},
};

TEST_F(PeerCerts, AMemberSpeaksForItselfByNameAndNeverForAnother) {
  EXPECT_TRUE(authorize_peer(pem("n2"), 2, kOneHost, TlsPem{}).ok());
  const absl::Status s = authorize_peer(pem("n1"), 2, kOneHost, TlsPem{});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "certificate (CN=n1, IP Address:127.0.0.1) belongs to member n1, not to member "
            "0000000000000002 (n2)");
}

TEST_F(PeerCerts, AHostSharedByNamedMembersIdentifiesNoneOfThem) {
  // "nobody" is valid for 127.0.0.1, the host of all three: it could be any of them.
  const absl::Status s = authorize_peer(pem("nobody"), 3, kOneHost, TlsPem{});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "certificate (CN=nobody, IP Address:127.0.0.1) is valid for the peer host of member "
            "0000000000000003 (n3) and for that of member n1: it identifies neither; give each "
            "member a certificate whose CN is its name");
  // A member that has not published its name yet (it is joining) may be bound by host.
  std::vector<PeerRecord> joining = kOneHost;
  joining[2].name.clear();
  EXPECT_TRUE(authorize_peer(pem("nobody"), 3, joining, TlsPem{}).ok());
  // But a certificate naming another member still never speaks for it.
  EXPECT_FALSE(authorize_peer(pem("n1"), 3, joining, TlsPem{}).ok());
}

TEST_F(PeerCerts, OnItsOwnHostAMemberIsKnownByTheHostOfItsPeerUrl) {
  const std::vector<PeerRecord> hosts = {
      {.id = 1, .name = "n1", .peer_urls = {"https://m1.example:2380"}},
      {.id = 2, .name = "n2", .peer_urls = {"https://m2.example:2380"}},
  };
  EXPECT_TRUE(authorize_peer(pem("host2"), 2, hosts, TlsPem{}).ok());
  const absl::Status s = authorize_peer(pem("host2"), 1, hosts, TlsPem{});
  EXPECT_EQ(s.message(),
            "certificate (CN=some-host, DNS:m2.example) names neither member 0000000000000001 "
            "(n1) nor the host of its peer URLs (https://m1.example:2380)");
  // A wildcard covers every host of the domain: it identifies no one member of two.
  EXPECT_FALSE(authorize_peer(pem("wild"), 1, hosts, TlsPem{}).ok());
}

TEST_F(PeerCerts, AnUnknownMemberOrSomethingThatIsNoCertificateIsRefused) {
  EXPECT_EQ(authorize_peer(pem("n2"), 9, kOneHost, TlsPem{}).message(),
            "certificate (CN=n2, IP Address:127.0.0.1) speaks for member 0000000000000009, whose "
            "peer URLs are unknown");
  EXPECT_EQ(authorize_peer("not a certificate", 2, kOneHost, TlsPem{}).code(),
            absl::StatusCode::kUnauthenticated);
}

enum Allowed { cn, host };
TlsPem allowed(Allowed what, const std::string& value) {
  TlsPem p;
  (what == cn ? p.allowed_cn : p.allowed_hostname) = value;
  return p;
}

TEST_F(PeerCerts, AllowedCommonNameAndHostNameMustHoldAsWell) {
  EXPECT_TRUE(authorize_peer(pem("n2"), 2, kOneHost, allowed(cn, "n2")).ok());
  EXPECT_EQ(authorize_peer(pem("n2"), 2, kOneHost, allowed(cn, "etcd-peer")).message(),
            "certificate (CN=n2, IP Address:127.0.0.1) does not carry --peer-cert-allowed-cn "
            "etcd-peer");
  EXPECT_TRUE(authorize_peer(pem("n2"), 2, kOneHost, allowed(host, "127.0.0.1")).ok());
  EXPECT_EQ(
      authorize_peer(pem("n2"), 2, kOneHost, allowed(host, "m2.example")).message(),
      "certificate (CN=n2, IP Address:127.0.0.1) is not valid for --peer-cert-allowed-hostname "
      "m2.example");
}

TEST_F(PeerCerts, PeerFileErrorsNameThePeerFlags) {
  TlsFlags flags;
  flags.cert_file = path("n1.pem");
  flags.key_file = path("n2.key");
  absl::StatusOr<TlsPem> p = load_tls(flags, TlsPort::kPeer);
  EXPECT_EQ(p.status().message(), "--peer-key-file " + path("n2.key") +
                                      ": does not match the certificate in --peer-cert-file " +
                                      path("n1.pem"));
  flags.key_file = path("n1.key");
  flags.client_cert_auth = true;
  p = load_tls(flags, TlsPort::kPeer);
  EXPECT_EQ(p.status().message(),
            "--peer-client-cert-auth needs --peer-trusted-ca-file, the CA that signs the peers' "
            "certificates");
  flags.trusted_ca_file = path("ca.pem");
  p = load_tls(flags, TlsPort::kPeer);
  EXPECT_TRUE(p.ok()) << p.status();
}

}  // namespace
}  // namespace server
