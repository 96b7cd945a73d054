// The validator's URL rules as tables: every URL a member is given (listen and advertise
// flags, --initial-cluster, MemberAdd/MemberUpdate) is parsed by parse_url, so each row
// here is a refusal (or acceptance) at every entry point. The careless-user cases
// (`http://my host:5555`, `http://::1:5555`, port 0, user info, `bad_host`) are rows.
#include "security/url.h"

#include <gtest/gtest.h>

#include <string>

namespace security {
namespace {

struct Good {
  std::string text;
  std::string host;
  HostKind kind;
  uint16_t port;
  std::string host_port;
};

TEST(ParseUrl, AcceptsIPv4BracketedIPv6AndDnsNames) {
  const Good cases[] = {
      {"http://127.0.0.1:2380", "127.0.0.1", HostKind::kIPv4, 2380, "127.0.0.1:2380"},
      {"https://10.0.0.1:1", "10.0.0.1", HostKind::kIPv4, 1, "10.0.0.1:1"},
      {"http://[::1]:2379", "::1", HostKind::kIPv6, 2379, "[::1]:2379"},
      {"http://[fd00::1:2]:65535", "fd00::1:2", HostKind::kIPv6, 65535, "[fd00::1:2]:65535"},
      {"http://localhost:2379", "localhost", HostKind::kName, 2379, "localhost:2379"},
      {"http://etcd-0.etcd.svc.cluster.local:2380", "etcd-0.etcd.svc.cluster.local",
       HostKind::kName, 2380, "etcd-0.etcd.svc.cluster.local:2380"},
      {"http://node1.:2380", "node1.", HostKind::kName, 2380, "node1.:2380"},
  };
  for (const Good& c : cases) {
    absl::StatusOr<Url> url = parse_url(c.text);
    ASSERT_TRUE(url.ok()) << c.text << ": " << url.status();
    EXPECT_EQ(url->host, c.host) << c.text;
    EXPECT_EQ(url->host_kind, c.kind) << c.text;
    EXPECT_EQ(url->port, c.port) << c.text;
    EXPECT_EQ(url->host_port(), c.host_port) << c.text;
    EXPECT_EQ(url->text(), c.text) << c.text;
  }
}

struct Bad {
  std::string text;
  std::string why;  // a piece of the error
};

TEST(ParseUrl, RefusesEachMalformedUrlNamingWhatIsWrong) {
  const Bad cases[] = {
      {"http://my host:5555", "host \"my host\" is not an IPv4 address"},
      {"http://::1:5555", "an IPv6 host must be in brackets"},
      {"http://127.0.0.1:0", "port \"0\" is not a number in [1, 65535]"},
      {"http://user:pw@127.0.0.1:2380", "user info is not allowed"},
      {"http://bad_host:2380", "host \"bad_host\" is not an IPv4 address"},
      {"http://-lead.example:2380", "host \"-lead.example\""},
      {"http://a..b:2380", "host \"a..b\""},
      {"http://" + std::string(64, 'a') + ":2380", "is not an IPv4 address"},
      {"http://256.1.1.1:2380", "host \"256.1.1.1\""},
      {"http://1.2.3:2380", "host \"1.2.3\""},
      {"ftp://127.0.0.1:2380", "the scheme must be http:// or https://"},
      {"127.0.0.1:2380", "the scheme must be http:// or https://"},
      {"http://127.0.0.1", "a port must follow the host"},
      {"http://127.0.0.1:", "port \"\" is not a number"},
      {"http://127.0.0.1:65536", "port \"65536\" is not a number in [1, 65535]"},
      {"http://127.0.0.1:99999999999999999999", "port \"99999999999999999999\""},
      {"http://127.0.0.1:-1", "port \"-1\""},
      {"http://127.0.0.1:2380/", "nothing may follow host:port"},
      {"http://127.0.0.1:2380/path", "nothing may follow host:port"},
      {"http://127.0.0.1:2380?x=1", "nothing may follow host:port"},
      {"http://127.0.0.1:2380#f", "nothing may follow host:port"},
      {"http://:2380", "host \"\""},
      {"http://[::1:2380", "'[' is not closed"},
      {"http://[::1]2380", "a port must follow the host"},
      {"http://[zz::1]:2380", "host [zz::1] is not an IPv6 address"},
      {"http://[127.0.0.1]:2380", "is not an IPv6 address"},
      {"", "the scheme must be"},
  };
  for (const Bad& c : cases) {
    absl::StatusOr<Url> url = parse_url(c.text);
    ASSERT_FALSE(url.ok()) << c.text << " was accepted";
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    const std::string message(url.status().message());
    EXPECT_NE(message.find(c.why), std::string::npos) << c.text << ": " << message;
    EXPECT_NE(message.find("URL \"" + c.text + "\""), std::string::npos) << message;
  }
}

// Found by the url fuzz target: inet_pton stopped at the NUL and accepted "::", so the
// host kept the bytes after it (a comma among them).
TEST(ParseUrl, RefusesAnIpAddressWithANulInIt) {
  using namespace std::string_literals;
  EXPECT_FALSE(parse_url("https://[::\0,x]:2379"s).ok());
  EXPECT_FALSE(parse_url("http://127.0.0.1\0:2379"s).ok());
  EXPECT_FALSE(parse_networks("10.0.0.0\0/8"s).ok());
}

TEST(ParseUrl, OnlyAListenerMayAskForPortZero) {
  absl::StatusOr<Url> listen = parse_url("http://127.0.0.1:0", UrlUse::kListen);
  ASSERT_TRUE(listen.ok()) << listen.status();
  EXPECT_EQ(listen->port, 0);
  EXPECT_FALSE(parse_url("http://127.0.0.1:0", UrlUse::kAdvertise).ok());
}

TEST(ParseUrlList, RefusesEmptyItemsAndTheSameUrlTwice) {
  absl::StatusOr<std::vector<Url>> two = parse_url_list("http://a:1, http://[::1]:2");
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].host_port(), "[::1]:2");
  EXPECT_NE(parse_url_list("http://a:1,,http://b:1").status().message().find("empty item"),
            std::string::npos);
  EXPECT_NE(parse_url_list("http://a:1,http://a:1").status().message().find("listed twice"),
            std::string::npos);
  EXPECT_NE(parse_url_list(" ").status().message().find("empty"), std::string::npos);
}

TEST(Networks, ContainAddressesByPrefix) {
  absl::StatusOr<std::vector<Network>> nets = parse_networks("10.0.0.0/8, 127.0.0.1, fd00::/8");
  ASSERT_TRUE(nets.ok()) << nets.status();
  ASSERT_EQ(nets->size(), 3u);
  EXPECT_EQ((*nets)[0].text(), "10.0.0.0/8");
  EXPECT_EQ((*nets)[1].text(), "127.0.0.1/32");
  EXPECT_EQ((*nets)[2].text(), "fd00::/8");
  auto allowed = [&](const std::string& u) {
    return check_allowed(*parse_url(u), *nets, "peer URL").ok();
  };
  EXPECT_TRUE(allowed("http://10.200.3.4:2380"));
  EXPECT_FALSE(allowed("http://11.0.0.1:2380"));
  EXPECT_TRUE(allowed("http://127.0.0.1:2380"));
  EXPECT_FALSE(allowed("http://127.0.0.2:2380"));
  EXPECT_TRUE(allowed("http://[fd12::1]:2380"));
  EXPECT_FALSE(allowed("http://[fe80::1]:2380"));
  const absl::Status name = check_allowed(*parse_url("http://db.example:2380"), *nets, "peer URL");
  EXPECT_NE(name.message().find("a DNS name cannot be checked"), std::string::npos) << name;
  const absl::Status outside = check_allowed(*parse_url("http://11.0.0.1:2380"), *nets, "peer URL");
  EXPECT_EQ(outside.message(),
            "peer URL http://11.0.0.1:2380 is outside the allowed networks (10.0.0.0/8, "
            "127.0.0.1/32, fd00::/8)");
  // No list: everything is allowed, names too.
  EXPECT_TRUE(check_allowed(*parse_url("http://db.example:2380"), {}, "peer URL").ok());
}

TEST(Networks, RefuseMalformedPrefixesAndHostBits) {
  const Bad cases[] = {
      {"10.0.0.0/33", "prefix length \"33\" is not a number in [0, 32]"},
      {"10.0.0.1/8", "host bits set"},
      {"fd00::/129", "[0, 128]"},
      {"10.0.0/8", "is not an IPv4 or IPv6 address"},
      {"10.0.0.0/x", "prefix length \"x\""},
      {"10.0.0.0/8,", "empty item"},
  };
  for (const Bad& c : cases) {
    absl::StatusOr<std::vector<Network>> n = parse_networks(c.text);
    ASSERT_FALSE(n.ok()) << c.text;
    EXPECT_NE(n.status().message().find(c.why), std::string::npos) << n.status();
  }
}

}  // namespace
}  // namespace security
