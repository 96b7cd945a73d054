#include "security/url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "security/text_util.h"

namespace security {
namespace {

bool is_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// A DNS name as RFC 1123 allows it: labels of letters, digits and '-', not starting or
// ending with '-', 1-63 characters each, 253 in all; a trailing '.' is the root.
bool is_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  for (std::string_view label : split(name, '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (unsigned char c : label) {
      if (!std::isalnum(c) && c != '-') return false;
    }
  }
  // All digits and dots would be a malformed IPv4 address, not a name.
  return !std::all_of(name.begin(), name.end(),
                      [](unsigned char c) { return std::isdigit(c) || c == '.'; });
}

// Strict dotted-quad IPv4: four decimal octets 0-255, no leading zeros (inet_pton's rule).
bool parse_ipv4(std::string_view s, uint8_t out[4]) {
  // inet_pton reads a C string: a NUL would end the address early and hide what follows.
  if (s.find('\0') != std::string_view::npos) return false;
  return inet_pton(AF_INET, std::string(s).c_str(), out) == 1;
}

bool parse_ipv6(std::string_view s, uint8_t out[16]) {
  if (s.find('\0') != std::string_view::npos) return false;  // as parse_ipv4
  return inet_pton(AF_INET6, std::string(s).c_str(), out) == 1;
}

absl::Status bad(std::string_view url, std::string_view why) {
  return absl::InvalidArgumentError(cat("URL \"", url, "\": ", why));
}

}  // namespace

std::string Url::host_port() const {
  return host_kind == HostKind::kIPv6 ? cat("[", host, "]:", port) : cat(host, ":", port);
}

std::string Url::text() const { return cat(scheme, "://", host_port()); }

absl::StatusOr<Url> parse_url(std::string_view text, UrlUse use) {
  Url url;
  std::string_view rest = text;
  if (rest.starts_with("http://")) {
    url.scheme = "http";
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    url.scheme = "https";
    rest.remove_prefix(8);
  } else {
    return bad(text, "the scheme must be http:// or https://");
  }
  if (rest.find('@') != std::string_view::npos) return bad(text, "user info is not allowed");
  if (size_t end = rest.find_first_of("/?#"); end != std::string_view::npos) {
    return bad(text, "nothing may follow host:port (no path, query or fragment)");
  }
  std::string_view host, port;
  if (rest.starts_with("[")) {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad(text, "an IPv6 host's '[' is not closed");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.starts_with(":")) return bad(text, "a port must follow the host, as [host]:port");
    port = after.substr(1);
    uint8_t bytes[16];
    if (!parse_ipv6(host, bytes)) {
      return bad(text, cat("host [", host, "] is not an IPv6 address"));
    }
    url.host_kind = HostKind::kIPv6;
  } else {
    const size_t colon = rest.find(':');
    if (colon == std::string_view::npos)
      return bad(text, "a port must follow the host, as host:port");
    if (rest.find(':', colon + 1) != std::string_view::npos) {
      return bad(text, "too many ':' (an IPv6 host must be in brackets: http://[::1]:2380)");
    }
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    uint8_t bytes[4];
    if (parse_ipv4(host, bytes)) {
      url.host_kind = HostKind::kIPv4;
    } else if (is_dns_name(host)) {
      url.host_kind = HostKind::kName;
    } else {
      return bad(text, cat("host \"", host,
                           "\" is not an IPv4 address, a bracketed IPv6 address or a DNS name "
                           "(letters, digits, '-' and '.')"));
    }
  }
  if (host.empty()) return bad(text, "the host is empty");
  url.host = std::string(host);
  const uint32_t min_port = use == UrlUse::kListen ? 0 : 1;
  if (!is_digits(port) || port.size() > 5 || std::stoul(std::string(port)) > 65535 ||
      std::stoul(std::string(port)) < min_port) {
    return bad(text, cat("port \"", port, "\" is not a number in [", min_port, ", 65535]"));
  }
  url.port = static_cast<uint16_t>(std::stoul(std::string(port)));
  return url;
}

absl::StatusOr<std::vector<Url>> parse_url_list(std::string_view text, UrlUse use) {
  std::vector<Url> urls;
  if (trim(text).empty()) return absl::InvalidArgumentError("the URL list is empty");
  for (std::string_view item : split(text, ',')) {
    item = trim(item);
    if (item.empty()) {
      return absl::InvalidArgumentError(cat("URL list \"", text, "\" has an empty item"));
    }
    absl::StatusOr<Url> url = parse_url(item, use);
    if (!url.ok()) return url.status();
    for (const Url& seen : urls) {
      if (seen.text() == url->text()) {
        return absl::InvalidArgumentError(cat("URL \"", item, "\" is listed twice"));
      }
    }
    urls.push_back(*std::move(url));
  }
  return urls;
}

bool Network::contains(const Url& url) const {
  uint8_t bytes[16] = {};
  if (url.host_kind == HostKind::kIPv4) {
    if (ipv6 || !parse_ipv4(url.host, bytes)) return false;
  } else if (url.host_kind == HostKind::kIPv6) {
    if (!ipv6 || !parse_ipv6(url.host, bytes)) return false;
  } else {
    return false;
  }
  for (int bit = 0; bit < prefix_bits; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((bytes[bit / 8] & mask) != (address[bit / 8] & mask)) return false;
  }
  return true;
}

std::string Network::text() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(ipv6 ? AF_INET6 : AF_INET, address.data(), buffer, sizeof buffer);
  return cat(buffer, "/", prefix_bits);
}

absl::StatusOr<std::vector<Network>> parse_networks(std::string_view text) {
  std::vector<Network> networks;
  for (std::string_view item : split(text, ',')) {
    item = trim(item);
    if (item.empty()) {
      return absl::InvalidArgumentError(cat("network list \"", text, "\" has an empty item"));
    }
    Network n;
    std::string_view address = item.substr(0, item.find('/'));
    if (parse_ipv4(address, n.address.data())) {
      n.prefix_bits = 32;
    } else if (parse_ipv6(address, n.address.data())) {
      n.ipv6 = true;
      n.prefix_bits = 128;
    } else {
      return absl::InvalidArgumentError(
          cat("network \"", item, "\": \"", address, "\" is not an IPv4 or IPv6 address"));
    }
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      std::string_view bits = item.substr(slash + 1);
      if (!is_digits(bits) || bits.size() > 3 || std::stoi(std::string(bits)) > n.prefix_bits) {
        return absl::InvalidArgumentError(cat("network \"", item, "\": the prefix length \"", bits,
                                              "\" is not a number in [0, ", n.prefix_bits, "]"));
      }
      n.prefix_bits = std::stoi(std::string(bits));
    }
    for (int bit = n.prefix_bits; bit < (n.ipv6 ? 128 : 32); ++bit) {
      if (n.address[bit / 8] & (0x80 >> (bit % 8))) {
        return absl::InvalidArgumentError(cat("network \"", item,
                                              "\" has host bits set below its prefix (write the "
                                              "network's first address, e.g. 10.0.0.0/8)"));
      }
    }
    networks.push_back(n);
  }
  return networks;
}

absl::Status check_allowed(const Url& url, const std::vector<Network>& allowed,
                           std::string_view what) {
  if (allowed.empty()) return absl::OkStatus();
  for (const Network& n : allowed) {
    if (n.contains(url)) return absl::OkStatus();
  }
  std::vector<std::string> names;
  for (const Network& n : allowed) names.push_back(n.text());
  const std::string list = join(names, ", ");
  if (url.host_kind == HostKind::kName) {
    return absl::InvalidArgumentError(
        cat(what, " ", url.text(), ": a DNS name cannot be checked against the allowed networks (",
            list, "); give an IP address"));
  }
  return absl::InvalidArgumentError(
      cat(what, " ", url.text(), " is outside the allowed networks (", list, ")"));
}

}  // namespace security
