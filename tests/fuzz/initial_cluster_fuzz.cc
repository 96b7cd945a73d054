// Fuzz target: --initial-cluster (cmd/initial_cluster.h) as raftkv checks it against its own
// flags. Byte 0: --max-voters (0 to 15) in the low bits, and with bit 4 set
// --peer-allowed-networks is "127.0.0.0/8,::1/128". The rest: --name, a newline,
// --initial-advertise-peer-urls, a newline, the --initial-cluster text. Properties:
// - a refusal is InvalidArgument and starts "--initial-cluster";
// - accepted members: at least one, at most --max-voters, names non-empty and distinct,
//   URLs distinct, each parses (security::parse_url) and lies in the allowed networks;
//   this member is among them with its advertised URL; an empty text means this member
//   alone;
// - the accepted list written back as name=url,... parses to the same members.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "cmd/initial_cluster.h"
#include "fuzz/fuzz_util.h"
#include "security/url.h"

namespace {

using raftkv::cmd::InitialMember;

bool same(const std::vector<InitialMember>& a, const std::vector<InitialMember>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].peer_url != b[i].peer_url) return false;
  }
  return true;
}

// The next line of `rest` (without its newline), removed from it.
std::string next_line(std::string_view* rest) {
  const size_t nl = rest->find('\n');
  const std::string line(rest->substr(0, nl));
  rest->remove_prefix(nl == std::string_view::npos ? rest->size() : nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  raftkv::cmd::InitialClusterFlags f;
  f.max_voters = data[0] & 15;
  if ((data[0] & 16) != 0) f.allowed = *security::parse_networks("127.0.0.0/8,::1/128");
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  f.name = next_line(&rest);
  f.adv_peer = next_line(&rest);
  const std::string text(rest);

  absl::StatusOr<std::vector<InitialMember>> members = raftkv::cmd::parse_initial_cluster(text, f);
  if (!members.ok()) {
    FUZZ_CHECK(members.status().code() == absl::StatusCode::kInvalidArgument,
               members.status().ToString());
    FUZZ_CHECK(fuzz::message_of(members.status()).starts_with("--initial-cluster"),
               members.status().ToString());
    return 0;
  }
  FUZZ_CHECK(!members->empty() && members->size() <= f.max_voters, text);
  std::set<std::string> names, urls;
  bool self = false;
  std::string written;
  for (const InitialMember& m : *members) {
    FUZZ_CHECK(!m.name.empty() && names.insert(m.name).second, "name " + m.name);
    FUZZ_CHECK(urls.insert(m.peer_url).second, "URL " + m.peer_url);
    absl::StatusOr<security::Url> url = security::parse_url(m.peer_url);
    FUZZ_CHECK(url.ok(), url.status().ToString());
    FUZZ_CHECK(security::check_allowed(*url, f.allowed, "peer URL").ok(), m.peer_url);
    if (m.name == f.name) self = m.peer_url == f.adv_peer;
    written += (written.empty() ? "" : ",") + m.name + "=" + m.peer_url;
  }
  FUZZ_CHECK(self, "this member is missing or has another URL");
  if (text.empty()) FUZZ_CHECK(members->size() == 1, "an empty list is not this member alone");
  absl::StatusOr<std::vector<InitialMember>> again = raftkv::cmd::parse_initial_cluster(written, f);
  FUZZ_CHECK(again.ok() && same(*members, *again), written);
  return 0;
}
