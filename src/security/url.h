// The validator's rules for the URLs a member is given: listen and advertise flags,
// --initial-cluster, MemberAdd and MemberUpdate. One strict parser, so `http://a b:1`,
// an unbracketed IPv6 address or port 0 is refused the same way at every entry point,
// and an optional allow-list of networks (--peer-allowed-networks) for peer URLs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace security {

enum class HostKind { kIPv4, kIPv6, kName };

// A parsed URL: scheme://host:port and nothing else (no user info, path, query or
// fragment; like etcd, not even a trailing '/').
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // an IPv6 address without its brackets
  HostKind host_kind = HostKind::kName;
  uint16_t port = 0;  // 1-65535, or 0 where a listener may pick its own (ListenUrl)

  // "host:port", an IPv6 host in brackets: what gRPC and sockets take.
  std::string host_port() const;
  // scheme://host_port()
  std::string text() const;
};

// Where a URL is used: only a listener may be given port 0 (the kernel picks a free
// port, and the member advertises the one it got).
enum class UrlUse { kListen, kAdvertise };

// `text` parsed and checked; the error names the URL and what is wrong with it:
// the scheme (http or https), the host (IPv4, [IPv6] or a DNS name of letters, digits,
// '-' and '.', labels of 1-63 characters), the port (1-65535; 0 too for kListen), and
// anything after the port.
absl::StatusOr<Url> parse_url(std::string_view text, UrlUse use = UrlUse::kAdvertise);

// A comma-separated list of URLs, each parsed as parse_url does; an empty list, an
// empty item and the same URL twice are refused.
absl::StatusOr<std::vector<Url>> parse_url_list(std::string_view text,
                                                UrlUse use = UrlUse::kAdvertise);

// An IP network in CIDR notation: 10.0.0.0/8, 127.0.0.1 (a /32), fd00::/8.
struct Network {
  bool ipv6 = false;
  std::array<uint8_t, 16> address{};  // the first 4 bytes for IPv4
  int prefix_bits = 0;                // 0-32 or 0-128

  bool contains(const Url& url) const;
  std::string text() const;
};

// A comma-separated list of networks (--peer-allowed-networks). Host bits set below the
// prefix (10.0.0.1/8) are refused, since they usually mean a typo.
absl::StatusOr<std::vector<Network>> parse_networks(std::string_view text);

// OK when `allowed` is empty (no allow-list) or a network in it holds the URL's host;
// a DNS name cannot be placed in a network and is refused while a list is set.
// `what` names the URL's role in the error ("peer URL").
absl::Status check_allowed(const Url& url, const std::vector<Network>& allowed,
                           std::string_view what);

}  // namespace security
