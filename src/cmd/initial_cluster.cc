#include "cmd/initial_cluster.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_split.h"

namespace raftkv::cmd {

absl::StatusOr<std::vector<InitialMember>> parse_initial_cluster(const std::string& text,
                                                                 const InitialClusterFlags& f) {
  const std::string initial = text.empty() ? f.name + "=" + f.adv_peer : text;
  std::vector<InitialMember> members;
  std::set<std::string> names, urls;
  auto bad = [](const std::string& why) {
    return absl::InvalidArgumentError("--initial-cluster: " + why);
  };
  const std::vector<std::string> parts = absl::StrSplit(initial, ',', absl::SkipEmpty());
  for (const std::string& part : parts) {
    const size_t eq = part.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == part.size()) {
      return bad("\"" + part + "\" is not name=peer-url");
    }
    InitialMember m{.name = part.substr(0, eq), .peer_url = part.substr(eq + 1)};
    // https is allowed: peers may speak TLS (--peer-cert-file).
    absl::StatusOr<security::Url> url = security::parse_url(m.peer_url);
    if (!url.ok()) return bad("member " + m.name + ": " + std::string(url.status().message()));
    if (auto in = security::check_allowed(*url, f.allowed, "peer URL"); !in.ok()) {
      return bad("member " + m.name + ": " + std::string(in.message()));
    }
    if (!urls.insert(m.peer_url).second) return bad("peer URL " + m.peer_url + " appears twice");
    if (!names.insert(m.name).second) return bad("name " + m.name + " appears twice");
    members.push_back(std::move(m));
  }
  if (members.size() > f.max_voters) {
    return bad(std::to_string(members.size()) + " members, more than --max-voters (" +
               std::to_string(f.max_voters) + ")");
  }
  const auto self = std::find_if(members.begin(), members.end(),
                                 [&](const InitialMember& m) { return m.name == f.name; });
  if (self == members.end()) {
    return absl::InvalidArgumentError("--initial-cluster does not name this member (--name " +
                                      f.name + ")");
  }
  if (self->peer_url != f.adv_peer) {
    return absl::InvalidArgumentError("--initial-cluster gives " + f.name + " the peer URL " +
                                      self->peer_url + " but --initial-advertise-peer-urls is " +
                                      f.adv_peer);
  }
  return members;
}

}  // namespace raftkv::cmd
