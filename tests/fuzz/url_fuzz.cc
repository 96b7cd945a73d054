// Fuzz target: the strict URL and network parsers (security/url.h) every flag,
// --initial-cluster and MemberAdd/MemberUpdate go through. The fuzzer's bytes are parsed
// as one URL (for a listener and for advertising), as a URL list, and as a network list.
// Properties:
// - an accepted URL has scheme http or https, a host, a port in [1, 65535] ([0, 65535] for
//   a listener); its text() and scheme://host_port() parse again to the same Url;
//   a URL accepted for advertising is accepted for a listener, the same;
// - a URL refusal is InvalidArgument and starts `URL "`;
// - a URL list's items are accepted URLs, none twice; a refusal is InvalidArgument and
//   names the URL or the list;
// - an accepted network's text() parses again to the same network, and it holds the first
//   address it names; a network refusal is InvalidArgument and names the network (list);
// - an accepted IP URL lies in its own /32 (/128) network and in 0.0.0.0/0 (::/0).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "security/url.h"

namespace {

using security::Url;
using security::UrlUse;

bool same(const Url& a, const Url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.host_kind == b.host_kind && a.port == b.port;
}

void check_refusal(const absl::Status& s, std::string_view prefix) {
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument, s.ToString());
  FUZZ_CHECK(fuzz::message_of(s).starts_with(prefix), s.ToString());
}

void check_url(const Url& u, UrlUse use) {
  FUZZ_CHECK(u.scheme == "http" || u.scheme == "https", u.text());
  FUZZ_CHECK(!u.host.empty(), u.text());
  FUZZ_CHECK(u.port >= (use == UrlUse::kListen ? 0 : 1), u.text());
  absl::StatusOr<Url> again = security::parse_url(u.text(), use);
  FUZZ_CHECK(again.ok(), u.text() + ": " + again.status().ToString());
  FUZZ_CHECK(same(u, *again), u.text() + " parses to " + again->text());
  absl::StatusOr<Url> hp = security::parse_url(u.scheme + "://" + u.host_port(), use);
  FUZZ_CHECK(hp.ok() && same(u, *hp), u.host_port());
  if (u.host_kind != security::HostKind::kName) {
    const bool v6 = u.host_kind == security::HostKind::kIPv6;
    auto own = security::parse_networks(v6 ? u.host + "/128" : u.host + "/32");
    FUZZ_CHECK(own.ok() && own->size() == 1 && (*own)[0].contains(u),
               u.text() + " is not in its own network");
    auto all = security::parse_networks(v6 ? "::/0" : "0.0.0.0/0");
    FUZZ_CHECK(all.ok() && (*all)[0].contains(u), u.text() + " is not in the /0 network");
    FUZZ_CHECK(security::check_allowed(u, *own, "peer URL").ok(), u.text());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<Url> advertise = security::parse_url(text, UrlUse::kAdvertise);
  absl::StatusOr<Url> listen = security::parse_url(text, UrlUse::kListen);
  if (advertise.ok()) {
    check_url(*advertise, UrlUse::kAdvertise);
    FUZZ_CHECK(listen.ok() && same(*advertise, *listen), std::string(text));
  } else {
    check_refusal(advertise.status(), "URL \"");
  }
  if (listen.ok()) {
    check_url(*listen, UrlUse::kListen);
  } else {
    check_refusal(listen.status(), "URL \"");
  }

  for (UrlUse use : {UrlUse::kAdvertise, UrlUse::kListen}) {
    absl::StatusOr<std::vector<Url>> list = security::parse_url_list(text, use);
    if (!list.ok()) {
      const std::string_view m = fuzz::message_of(list.status());
      FUZZ_CHECK(list.status().code() == absl::StatusCode::kInvalidArgument, std::string(m));
      FUZZ_CHECK(
          m.starts_with("URL \"") || m.starts_with("URL list \"") || m == "the URL list is empty",
          std::string(m));
      continue;
    }
    FUZZ_CHECK(!list->empty(), std::string(text));
    for (size_t i = 0; i < list->size(); ++i) {
      check_url((*list)[i], use);
      for (size_t j = 0; j < i; ++j) {
        FUZZ_CHECK((*list)[i].text() != (*list)[j].text(), (*list)[i].text() + " twice");
      }
    }
  }

  absl::StatusOr<std::vector<security::Network>> networks = security::parse_networks(text);
  if (!networks.ok()) {
    const std::string_view m = fuzz::message_of(networks.status());
    FUZZ_CHECK(networks.status().code() == absl::StatusCode::kInvalidArgument, std::string(m));
    FUZZ_CHECK(m.starts_with("network \"") || m.starts_with("network list \""), std::string(m));
    return 0;
  }
  for (const security::Network& n : *networks) {
    FUZZ_CHECK(n.prefix_bits >= 0 && n.prefix_bits <= (n.ipv6 ? 128 : 32), n.text());
    absl::StatusOr<std::vector<security::Network>> again = security::parse_networks(n.text());
    FUZZ_CHECK(again.ok() && again->size() == 1, n.text() + ": " + again.status().ToString());
    const security::Network& m = (*again)[0];
    FUZZ_CHECK(m.ipv6 == n.ipv6 && m.address == n.address && m.prefix_bits == n.prefix_bits,
               n.text() + " parses to " + m.text());
    // The network's first address, as a URL, lies in it.
    std::string host = n.text().substr(0, n.text().find('/'));
    absl::StatusOr<Url> first =
        security::parse_url("http://" + (n.ipv6 ? "[" + host + "]" : host) + ":1");
    FUZZ_CHECK(first.ok() && n.contains(*first), n.text());
  }
  return 0;
}
