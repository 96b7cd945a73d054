// raftkv: the server. Takes etcd's flag names where the meaning is the same, so scripts
// written for etcd start raftkv unchanged, plus an optional TOML file with the same keys.
// With no argument: a one-node cluster in ./raftkv-data on 127.0.0.1:2379 (clients) and
// 127.0.0.1:2380 (peers). SIGTERM or SIGINT stops it cleanly; SIGHUP re-reads the TLS files.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "cmd/command_line.h"
#include "limits/limits_config.h"
#include "log/log.h"
#include "security/enforcer.h"
#include "security/jwt_tokens.h"
#include "security/password.h"
#include "security/url.h"
#include "server/server.h"
#include "toml++/toml.h"

namespace {

struct Flags {
  std::string name = "default";
  std::string data_dir = "./raftkv-data";
  std::string listen_client_urls = "http://127.0.0.1:2379";
  std::string listen_metrics_urls;  // empty: no metrics listener
  std::string advertise_client_urls;
  std::string listen_peer_urls = "http://127.0.0.1:2380";
  std::string initial_advertise_peer_urls;
  std::string initial_cluster;
  std::string initial_cluster_state = "new";
  std::string initial_cluster_token = "etcd-cluster";
  uint32_t max_voters = security::ClusterLimits{}.max_voters;
  uint32_t max_learners = security::ClusterLimits{}.max_learners;
  std::string peer_allowed_networks;  // empty: any
  server::TlsFlags client_tls;  // --cert-file, --key-file, --trusted-ca-file, --client-cert-auth
  server::TlsFlags peer_tls;    // the same with --peer-, and --peer-cert-allowed-cn|hostname
  uint32_t heartbeat_interval = 100;
  uint32_t election_timeout = 1000;
  uint32_t election_timeout_min = 0;
  uint32_t election_timeout_max = 0;
  uint32_t tick_ms = 10;
  uint64_t snapshot_count = 10000;
  int64_t quota_backend_bytes = int64_t{2} << 30;
  uint64_t max_request_bytes = 1536 * 1024;
  int64_t max_txn_ops = 128;
  uint32_t request_timeout_ms = 5000;
  std::string config_file;
  std::string log_level = "info";
  std::string log_outputs = "stderr";
  limits::LimitsConfig limits;  // --limits-*: unset, no limit
  std::vector<std::string> limits_clients;
  bool limits_trust_client_id = false;
  std::string auth_token = "simple";  // etcd's --auth-token
  uint32_t auth_token_ttl = 300;      // seconds
  int bcrypt_cost = 10;
  std::string authz_model_file, authz_policy_file;  // the initial authorization policy
  bool metrics_require_auth = false;
  std::string cipher_suites;  // Go's names, as etcd's --cipher-suites
  std::string tls_min_version = "TLS1.2", tls_max_version = "TLS1.3";
  // etcd's TLS flags raftkv does not support yet: known, so that an etcd user is told so
  // rather than that the flag does not exist.
  std::map<std::string, std::string> tls_values;
  std::map<std::string, bool> tls_switches;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// A file's whole text; the error says why it could not be read.
absl::StatusOr<std::string> read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return absl::InvalidArgumentError("is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return absl::InvalidArgumentError(std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(std::strerror(errno));
  return text.str();
}

// A start refused before logging is set up (a usage error): the message on stderr.
int fail(const std::string& message) {
  std::cerr << "raftkv: " << message << std::endl;
  return raftkv::cmd::kUsageError;
}

// A start refused once logging is set up: logged, and on stderr too when the log goes
// elsewhere, so whoever started the process sees why it stopped.
int refuse_start(const std::string& message) {
  raftlog::error("server", "refused to start", {{"error", message}});
  if (!raftlog::writes_to_stderr()) std::cerr << "raftkv: " << message << std::endl;
  return raftkv::cmd::kUsageError;
}

// --log-level and --log-outputs (etcd's flags): where the log goes from now on.
absl::Status init_logging(const Flags& f) {
  absl::StatusOr<raftlog::Level> level = raftlog::parse_level(f.log_level);
  if (!level.ok()) {
    return absl::InvalidArgumentError("--log-level: " + std::string(level.status().message()));
  }
  absl::StatusOr<std::vector<std::string>> outputs = raftlog::parse_outputs(f.log_outputs);
  if (!outputs.ok()) {
    return absl::InvalidArgumentError("--log-outputs: " + std::string(outputs.status().message()));
  }
  absl::Status s = raftlog::init(
      raftlog::Options{.level = *level, .outputs = *std::move(outputs), .member_name = f.name});
  if (!s.ok()) return absl::InvalidArgumentError("--log-outputs: " + std::string(s.message()));
  return absl::OkStatus();
}

// What a TOML value is, in words for errors.
std::string toml_kind(const toml::node& v) {
  if (v.is_string()) return "a string";
  if (v.is_integer()) return "an integer";
  if (v.is_floating_point()) return "a number with a fraction";
  if (v.is_boolean()) return "a boolean";
  if (v.is_array()) return "an array";
  if (v.is_table()) return "a table";
  return "a date or time";
}

// The TOML value as the flag's text, or an error saying what the flag takes: a switch
// takes a boolean, a number flag an integer (or a fraction where it takes one), every
// other flag a string; nothing is converted silently (`name = true` is not "true").
absl::StatusOr<std::string> toml_text(const toml::node& v, const CLI::Option& opt) {
  // CLI11's type names, with its validators' after a ':' ("UINT:NONNEGATIVE").
  const std::string type = opt.get_type_name();
  const bool is_switch = opt.get_expected_min() == 0;
  const bool integer = type.starts_with("UINT") || type.starts_with("INT");
  const bool fraction = type.starts_with("FLOAT");
  if (is_switch) {
    if (auto b = v.value<bool>(); b && v.is_boolean()) return std::string(*b ? "true" : "false");
    return absl::InvalidArgumentError("takes a boolean (true or false), not " + toml_kind(v));
  }
  if (integer || fraction) {
    if (v.is_integer()) return std::to_string(*v.value<int64_t>());
    if (fraction && v.is_floating_point()) return std::to_string(*v.value<double>());
    return absl::InvalidArgumentError(
        std::string("takes ") + (integer ? "an integer" : "a number") + ", not " + toml_kind(v));
  }
  if (v.is_string()) return *v.value<std::string>();
  return absl::InvalidArgumentError("takes a string, not " + toml_kind(v));
}

// Applies a TOML config file: keys are the flag names without dashes' leading "--"
// (e.g. name = "n1", heartbeat-interval = 100). Flags given on the command line win.
// A key that is not a setting (help, version, config-file itself), a value of the wrong
// type and a file that is not a readable TOML file are refused, naming the key.
std::string apply_config_file(const std::string& path, CLI::App& app) {
  absl::StatusOr<std::string> text = read_file(path);
  if (!text.ok()) return "config file " + path + ": " + std::string(text.status().message());
  toml::table t;
  try {
    t = toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    return "config file " + path + ": " + std::string(e.description()) + " at line " +
           std::to_string(e.source().begin.line);
  }
  static const std::set<std::string> kNotSettings = {"help", "help-all", "version", "config-file"};
  for (const auto& [key, value] : t) {
    const std::string k(key.str());
    CLI::Option* opt = nullptr;
    try {
      if (!kNotSettings.contains(k)) opt = app.get_option("--" + k);
    } catch (const CLI::OptionNotFound&) {
    }
    if (opt == nullptr) return "config file " + path + ": unknown key \"" + k + "\"";
    if (opt->count() > 0) continue;  // the command line wins
    // A repeatable flag (--limits-client) takes an array, one element per use.
    std::vector<const toml::node*> items{&value};
    if (const toml::array* a = value.as_array()) {
      if (opt->get_items_expected_max() <= 1) {
        return "config file " + path + ": key \"" + k + "\" takes one value, not an array";
      }
      items.clear();
      for (const toml::node& e : *a) items.push_back(&e);
    }
    std::vector<std::string> texts;
    for (const toml::node* v : items) {
      absl::StatusOr<std::string> item = toml_text(*v, *opt);
      if (!item.ok()) {
        return "config file " + path + ": key \"" + k + "\" " +
               std::string(item.status().message());
      }
      texts.push_back(*std::move(item));
    }
    try {
      for (const std::string& item : texts) opt->add_result(item);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return "config file " + path + ": key \"" + k + "\": " + e.what();
    }
  }
  return "";
}

// Per-client limits (a default for every client, and overrides by client) and the
// member's own; unset flags set no limit. docs/limits.md.
void add_limit_flags(CLI::App& app, Flags& f) {
  limits::ClientLimits& d = f.limits.defaults;
  app.add_option("--limits-requests-per-second", d.requests_per_second,
                 "Requests a second each client may send (token bucket rate)");
  app.add_option("--limits-burst", d.burst,
                 "Requests a client may send at once (bucket size; default: the rate)");
  app.add_option("--limits-write-bytes-per-second", d.write_bytes_per_second,
                 "Bytes of writes a second each client may send");
  app.add_option("--limits-max-concurrent", d.max_concurrent,
                 "Requests each client may have in flight");
  app.add_option("--limits-max-memory-bytes", d.max_memory_bytes,
                 "Bytes of requests each client may have in flight");
  app.add_option("--limits-max-leases", d.max_leases,
                 "Leases each client may hold, granted through this member");
  app.add_option("--limits-max-watchers", d.max_watchers,
                 "Watchers each client may have open, all streams together");
  app.add_option("--limits-max-watchers-per-stream", d.max_watchers_per_stream,
                 "Watchers each client may have open on one stream");
  app.add_option("--limits-member-max-concurrent", f.limits.member.max_concurrent,
                 "Requests this member admits in flight, all clients together");
  app.add_option("--limits-member-max-memory-bytes", f.limits.member.max_memory_bytes,
                 "Bytes of requests this member admits in flight, all clients together");
  app.add_option(
      "--limits-client", f.limits_clients,
      "An override for one client: CLIENT:key=value,... with keys "
      "requests_per_second, burst, write_bytes_per_second, max_concurrent, "
      "max_memory_bytes, max_watchers, max_watchers_per_stream, max_leases (repeatable)");
  app.add_flag("--limits-trust-client-id", f.limits_trust_client_id,
               "Key clients by their client-id request metadata instead of their address");
}

// etcd's TLS flags. These are not supported yet, and each is refused at start, naming it,
// so that nobody believes a listener is protected as they asked when it is not.
constexpr const char* kTlsValueFlags[] = {"client-crl-file", "peer-crl-file"};
constexpr const char* kTlsSwitches[] = {"auto-tls", "peer-auto-tls"};

// --cert-file and its kin for one port: `prefix` is "" (clients) or "peer-".
void add_port_tls_flags(CLI::App& app, const std::string& prefix, const std::string& who,
                        server::TlsFlags& t) {
  app.add_option("--" + prefix + "cert-file", t.cert_file,
                 "The " + who + " port's TLS certificate (PEM; for https:// " + who + " URLs)")
      ->group("TLS");
  app.add_option("--" + prefix + "key-file", t.key_file,
                 "The private key of --" + prefix + "cert-file (PEM)")
      ->group("TLS");
  app.add_option("--" + prefix + "trusted-ca-file", t.trusted_ca_file,
                 "The CA that signs " + who + " certificates (PEM)")
      ->group("TLS");
  app.add_flag("--" + prefix + "client-cert-auth", t.client_cert_auth,
               "Require a " + who + " certificate signed by --" + prefix + "trusted-ca-file")
      ->group("TLS");
}

void add_tls_flags(CLI::App& app, Flags& f) {
  add_port_tls_flags(app, "", "client", f.client_tls);
  add_port_tls_flags(app, "peer-", "peer", f.peer_tls);
  app.add_option("--peer-cert-allowed-cn", f.peer_tls.allowed_cn,
                 "Accept only peer certificates with this common name")
      ->group("TLS");
  app.add_option("--peer-cert-allowed-hostname", f.peer_tls.allowed_hostname,
                 "Accept only peer certificates valid for this host name")
      ->group("TLS");
  app.add_option("--cipher-suites", f.cipher_suites,
                 "TLS 1.2 cipher suites of every TLS port, Go's names comma-separated (empty: "
                 "gRPC's defaults)")
      ->group("TLS");
  app.add_option("--tls-min-version", f.tls_min_version,
                 "Lowest TLS version of every TLS port and connection: TLS1.2 or TLS1.3")
      ->group("TLS");
  app.add_option("--tls-max-version", f.tls_max_version,
                 "Highest TLS version: TLS1.3 (the only one supported)")
      ->group("TLS");
  for (const char* name : kTlsValueFlags) {
    app.add_option(std::string("--") + name, f.tls_values[name],
                   "etcd's TLS flag: not supported yet, refused at start")
        ->group("TLS (not supported yet)");
  }
  for (const char* name : kTlsSwitches) {
    app.add_flag(std::string("--") + name, f.tls_switches[name],
                 "etcd's TLS flag: not supported yet, refused at start")
        ->group("TLS (not supported yet)");
  }
}

// The first unsupported TLS flag given (a switch only when on), as an error naming it;
// else --cipher-suites put in force for every TLS port (gRPC reads it once, from its
// environment variable, before its first TLS connection).
absl::Status apply_tls_options(const Flags& f) {
  auto refused = [](const char* name) {
    return absl::InvalidArgumentError(std::string("--") + name + ": not supported yet");
  };
  if (f.tls_min_version != "TLS1.2" && f.tls_min_version != "TLS1.3") {
    return absl::InvalidArgumentError("--tls-min-version " + f.tls_min_version +
                                      ": must be TLS1.2 or TLS1.3");
  }
  // gRPC 1.51 offers TLS 1.3 and cannot be told not to.
  if (f.tls_max_version != "TLS1.3") {
    return absl::InvalidArgumentError("--tls-max-version " + f.tls_max_version +
                                      ": only TLS1.3 is supported (the highest version)");
  }
  if (f.tls_min_version == "TLS1.3") {
    if (absl::Status s = server::require_tls13(); !s.ok()) return s;
  }
  if (!f.cipher_suites.empty()) {
    absl::StatusOr<std::string> list = server::openssl_cipher_list(f.cipher_suites);
    if (!list.ok()) return list.status();
    setenv("GRPC_SSL_CIPHER_SUITES", list->c_str(), 1);
  }
  for (const char* name : kTlsValueFlags) {
    if (!f.tls_values.at(name).empty()) return refused(name);
  }
  for (const char* name : kTlsSwitches) {
    if (f.tls_switches.at(name)) return refused(name);
  }
  return absl::OkStatus();
}

void add_flags(CLI::App& app, Flags& f) {
  app.option_defaults()->always_capture_default();
  add_tls_flags(app, f);
  app.add_option("--name", f.name, "Human-readable name of this member");
  app.add_option("--data-dir", f.data_dir, "Directory of the log and snapshots");
  app.add_option("--listen-client-urls", f.listen_client_urls, "URL to listen on for clients");
  app.add_option("--listen-metrics-urls", f.listen_metrics_urls,
                 "URL to serve /metrics and /health on (HTTP; empty: none)");
  app.add_option("--advertise-client-urls", f.advertise_client_urls,
                 "Client URL to advertise to the cluster (default: the listen URL)");
  app.add_option("--listen-peer-urls", f.listen_peer_urls, "URL to listen on for peers");
  app.add_option("--initial-advertise-peer-urls", f.initial_advertise_peer_urls,
                 "Peer URL to advertise (default: the listen URL)");
  app.add_option("--initial-cluster", f.initial_cluster,
                 "name=peer-url,... of the initial members (default: this member alone)");
  app.add_option("--initial-cluster-state", f.initial_cluster_state, "new or existing")
      ->check(CLI::IsMember({"new", "existing"}));
  app.add_option("--initial-cluster-token", f.initial_cluster_token, "Cluster token");
  app.add_option("--max-voters", f.max_voters,
                 "Most voting members MemberAdd lets the cluster grow to (1 to 99)");
  app.add_option("--max-learners", f.max_learners,
                 "Most learners MemberAdd lets the cluster have (0 to 99; etcd 3.5's "
                 "--experimental-max-learners)");
  app.add_option("--peer-allowed-networks", f.peer_allowed_networks,
                 "Comma-separated networks (CIDR) every peer URL must lie in; empty: any");
  app.add_option("--heartbeat-interval", f.heartbeat_interval, "Heartbeat interval in ms");
  app.add_option("--election-timeout", f.election_timeout,
                 "Election timeout T in ms: a random timeout in [T, 2T]");
  app.add_option("--election-timeout-min", f.election_timeout_min,
                 "Lower end of the election timeout range in ms (overrides T)");
  app.add_option("--election-timeout-max", f.election_timeout_max,
                 "Upper end of the election timeout range in ms (overrides 2T)");
  app.add_option("--tick-ms", f.tick_ms, "Length of one Raft tick in ms");
  app.add_option("--snapshot-count", f.snapshot_count,
                 "Applied entries between snapshots (0: never)");
  app.add_option("--quota-backend-bytes", f.quota_backend_bytes,
                 "Storage quota in bytes; writes beyond it fail with 'database space exceeded'");
  app.add_option("--max-request-bytes", f.max_request_bytes, "Largest client request in bytes");
  app.add_option("--max-txn-ops", f.max_txn_ops,
                 "Most operations in a transaction's compares and in each of its branches");
  app.add_option("--request-timeout-ms", f.request_timeout_ms,
                 "How long a client request may wait for consensus");
  app.add_option("--config-file", f.config_file, "TOML file with the same keys as the flags");
  app.add_option("--log-level", f.log_level, "Lowest level logged: debug, info, warn or error");
  app.add_option("--log-outputs", f.log_outputs,
                 "Where the log goes: stderr, stdout or file paths, comma-separated");
  add_limit_flags(app, f);
  app.add_option("--auth-token", f.auth_token,
                 "Auth tokens: simple, or jwt,pub-key=PATH,priv-key=PATH,sign-method=RS256|ES256|"
                 "...[,ttl=5m] (etcd's)")
      ->group("Auth");
  app.add_option("--auth-token-ttl", f.auth_token_ttl, "Seconds a simple token lives unused")
      ->group("Auth");
  app.add_option("--bcrypt-cost", f.bcrypt_cost, "bcrypt cost of users' password hashes (4 to 31)")
      ->group("Auth");
  app.add_option("--authz-model-file", f.authz_model_file,
                 "Casbin model.conf of the initial authorization policy over cluster operations "
                 "(with --authz-policy-file; used only if the cluster never set one)")
      ->group("Auth");
  app.add_option("--authz-policy-file", f.authz_policy_file,
                 "Casbin policy.csv of the initial authorization policy")
      ->group("Auth");
  app.add_flag("--metrics-require-auth", f.metrics_require_auth,
               "With auth on, /metrics and the status page need view_metrics (HTTP Basic with "
               "an etcd user, or a client certificate)")
      ->group("Auth");
}

// The one URL a flag names, as a host:port address; the error names the flag.
absl::StatusOr<std::string> one_address(const std::string& flag, const std::string& value,
                                        std::string* url = nullptr, bool allow_https = false) {
  std::vector<std::string> urls = split(value, ',');
  if (urls.size() != 1) {
    return absl::InvalidArgumentError("--" + flag + " must name exactly one URL, got \"" + value +
                                      "\"");
  }
  auto addr = server::url_to_address(urls[0], allow_https);
  if (!addr.ok()) {
    return absl::InvalidArgumentError("--" + flag + ": " + std::string(addr.status().message()));
  }
  if (url != nullptr) *url = urls[0];
  return addr;
}

// --initial-cluster (name=peer-url,...), or this member alone, with etcd's member ids.
absl::StatusOr<std::vector<server::MemberSpec>> initial_cluster(
    const Flags& f, const std::string& adv_peer, const std::vector<security::Network>& allowed) {
  const std::string initial =
      f.initial_cluster.empty() ? f.name + "=" + adv_peer : f.initial_cluster;
  std::vector<server::MemberSpec> members;
  std::set<std::string> names, urls;
  auto bad = [](const std::string& why) {
    return absl::InvalidArgumentError("--initial-cluster: " + why);
  };
  for (const std::string& part : split(initial, ',')) {
    const size_t eq = part.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == part.size()) {
      return bad("\"" + part + "\" is not name=peer-url");
    }
    server::MemberSpec m;
    m.name = part.substr(0, eq);
    const std::string url = part.substr(eq + 1);
    if (auto a = server::url_to_address(url, /*allow_https=*/true); !a.ok()) {
      return bad("member " + m.name + ": " + std::string(a.status().message()));
    }
    if (auto in = security::check_allowed(*security::parse_url(url), allowed, "peer URL");
        !in.ok()) {
      return bad("member " + m.name + ": " + std::string(in.message()));
    }
    if (!urls.insert(url).second) return bad("peer URL " + url + " appears twice");
    if (!names.insert(m.name).second) return bad("name " + m.name + " appears twice");
    m.peer_urls = {url};
    m.id = server::member_id(f.initial_cluster_token, url);
    members.push_back(m);
  }
  if (members.size() > f.max_voters) {
    return bad(std::to_string(members.size()) + " members, more than --max-voters (" +
               std::to_string(f.max_voters) + ")");
  }
  const auto self = std::find_if(members.begin(), members.end(),
                                 [&](const server::MemberSpec& m) { return m.name == f.name; });
  if (self == members.end()) {
    return absl::InvalidArgumentError("--initial-cluster does not name this member (--name " +
                                      f.name + ")");
  }
  if (self->peer_urls[0] != adv_peer) {
    return absl::InvalidArgumentError("--initial-cluster gives " + f.name + " the peer URL " +
                                      self->peer_urls[0] +
                                      " but --initial-advertise-peer-urls is " + adv_peer);
  }
  return members;
}

// The node's timeouts, store limits and request timeout from the flags.
absl::Status apply_limits(const Flags& f, server::ServerConfig* cfg) {
  cfg->node.tick_ms = f.tick_ms;
  cfg->node.timeouts.heartbeat_ms = f.heartbeat_interval;
  cfg->node.timeouts.election_min_ms =
      f.election_timeout_min != 0 ? f.election_timeout_min : f.election_timeout;
  cfg->node.timeouts.election_max_ms =
      f.election_timeout_max != 0 ? f.election_timeout_max : 2 * cfg->node.timeouts.election_min_ms;
  cfg->node.snapshot_entries = f.snapshot_count;
  // gRPC's largest message is 2^31 - 1 bytes, and the client port allows 512 KiB of
  // framing above the largest request; a larger value used to wrap around in an int.
  constexpr uint64_t kMaxRequestBytes = uint64_t{INT32_MAX} - 512 * 1024;
  if (f.max_request_bytes < 1 || f.max_request_bytes > kMaxRequestBytes) {
    return absl::InvalidArgumentError("--max-request-bytes " + std::to_string(f.max_request_bytes) +
                                      " is out of range [1, " + std::to_string(kMaxRequestBytes) +
                                      "] (gRPC's largest message, less 512 KiB of framing)");
  }
  cfg->node.max_request_bytes = f.max_request_bytes;
  if (f.quota_backend_bytes < 0) {
    return absl::InvalidArgumentError("--quota-backend-bytes " +
                                      std::to_string(f.quota_backend_bytes) +
                                      " must be >= 0 (0: the default of 2 GiB)");
  }
  cfg->store.quota_bytes = f.quota_backend_bytes == 0 ? int64_t{2} << 30 : f.quota_backend_bytes;
  if (f.max_txn_ops < 1) {
    return absl::InvalidArgumentError("--max-txn-ops " + std::to_string(f.max_txn_ops) +
                                      " must be at least 1");
  }
  cfg->store.max_txn_ops = f.max_txn_ops;
  cfg->store.min_lease_ttl =
      std::max<int64_t>(1, (cfg->node.timeouts.election_min_ms * 3 / 2 + 999) / 1000);
  if (f.request_timeout_ms == 0) {
    return absl::InvalidArgumentError("--request-timeout-ms must be above 0");
  }
  cfg->request_timeout = std::chrono::milliseconds(f.request_timeout_ms);
  cfg->limits = f.limits;
  for (const std::string& spec : f.limits_clients) {
    absl::StatusOr<std::pair<std::string, limits::ClientLimits>> o = limits::parse_override(spec);
    if (!o.ok())
      return absl::InvalidArgumentError("--limits-client: " + std::string(o.status().message()));
    cfg->limits.overrides[o->first] = o->second;
  }
  cfg->limits_trust_client_id = f.limits_trust_client_id;
  if (f.auth_token.rfind("jwt", 0) == 0) {
    // etcd's JWT tokens: the key files are read and checked now, so a bad one stops the
    // start naming it.
    absl::StatusOr<security::JwtSpec> spec = security::parse_jwt_spec(f.auth_token);
    if (!spec.ok()) {
      return absl::InvalidArgumentError("--auth-token: " + std::string(spec.status().message()));
    }
    security::JwtConfig jwt{.sign_method = spec->sign_method,
                            .public_key_pem = "",
                            .private_key_pem = "",
                            .ttl = spec->ttl};
    for (const auto& [option, path, out] :
         {std::tuple{"pub-key", &spec->public_key_path, &jwt.public_key_pem},
          std::tuple{"priv-key", &spec->private_key_path, &jwt.private_key_pem}}) {
      if (path->empty()) continue;
      absl::StatusOr<std::string> text = read_file(*path);
      if (!text.ok()) {
        return absl::InvalidArgumentError("--auth-token " + std::string(option) + "=" + *path +
                                          ": " + std::string(text.status().message()));
      }
      *out = *std::move(text);
    }
    absl::StatusOr<security::JwtTokens> tokens = security::JwtTokens::create(std::move(jwt));
    if (!tokens.ok()) {
      return absl::InvalidArgumentError("--auth-token: " + std::string(tokens.status().message()));
    }
    cfg->jwt = std::make_shared<const security::JwtTokens>(*std::move(tokens));
  } else if (f.auth_token != "simple") {
    return absl::InvalidArgumentError("--auth-token " + f.auth_token +
                                      ": must be simple or jwt,pub-key=...,priv-key=...,"
                                      "sign-method=...");
  }
  if (f.auth_token_ttl == 0) return absl::InvalidArgumentError("--auth-token-ttl must be above 0");
  cfg->auth_token_ttl = std::chrono::seconds(f.auth_token_ttl);
  if (f.bcrypt_cost < security::kMinBcryptCost || f.bcrypt_cost > security::kMaxBcryptCost) {
    return absl::InvalidArgumentError("--bcrypt-cost " + std::to_string(f.bcrypt_cost) +
                                      " is out of range [" +
                                      std::to_string(security::kMinBcryptCost) + ", " +
                                      std::to_string(security::kMaxBcryptCost) + "]");
  }
  cfg->bcrypt_cost = f.bcrypt_cost;
  cfg->metrics_require_auth = f.metrics_require_auth;
  if (f.authz_model_file.empty() != f.authz_policy_file.empty()) {
    return absl::InvalidArgumentError(
        "--authz-model-file and --authz-policy-file go together: give both or neither");
  }
  if (!f.authz_model_file.empty()) {
    server::ServerConfig::AuthzFiles files{.model = "",
                                           .model_name = f.authz_model_file,
                                           .policy = "",
                                           .policy_name = f.authz_policy_file};
    for (const auto& [flag, path, out] :
         {std::tuple{"--authz-model-file", &f.authz_model_file, &files.model},
          std::tuple{"--authz-policy-file", &f.authz_policy_file, &files.policy}}) {
      absl::StatusOr<std::string> text = read_file(*path);
      if (!text.ok()) {
        return absl::InvalidArgumentError(std::string(flag) + " " + *path + ": " +
                                          std::string(text.status().message()));
      }
      *out = *std::move(text);
    }
    // Checked now, so a bad policy stops the start naming file, line and reason.
    absl::StatusOr<security::Enforcer> e =
        security::Enforcer::create(files.model, files.model_name, files.policy, files.policy_name);
    if (!e.ok()) return absl::InvalidArgumentError(std::string(e.status().message()));
    cfg->authz_files = std::move(files);
  }
  if (absl::Status s = limits::validate(cfg->limits); !s.ok()) {
    return absl::InvalidArgumentError("--limits-*: " + std::string(s.message()));
  }
  return node::validate(cfg->node);
}

// As etcd: TLS on a port whose URL is https://, from its --[peer-]cert-file and
// --[peer-]key-file. An http:// URL is served in plaintext whatever the TLS flags say (as
// etcd does), with a warning.
absl::StatusOr<std::optional<server::TlsFlags>> port_tls(const std::string& flag,
                                                         const std::vector<std::string>& urls,
                                                         const server::TlsFlags& tls,
                                                         const std::string& prefix) {
  for (const std::string& url : urls) {
    if (!server::is_https(url)) continue;
    if (tls.cert_file.empty() || tls.key_file.empty()) {
      return absl::InvalidArgumentError("--" + flag + " " + url + ": https needs --" + prefix +
                                        "cert-file and --" + prefix + "key-file");
    }
    return tls;
  }
  if (tls != server::TlsFlags{}) {
    raftlog::warn("server",
                  "TLS flags are set but the URL is http://: this port is served in plaintext",
                  {{flag, absl::StrJoin(urls, ",")}, {"flags", "--" + prefix + "*"}});
  }
  return std::nullopt;
}

// Every URL of a listen flag, and its host:port. etcd serves each URL of the list: the
// http ones in plaintext, the https ones with TLS; the first is the member's own.
absl::StatusOr<std::vector<server::Listener>> listen_urls(const std::string& flag,
                                                          const std::string& value,
                                                          std::vector<std::string>* urls) {
  std::vector<server::Listener> out;
  *urls = split(value, ',');
  for (const std::string& url : *urls) {
    auto addr = server::url_to_address(url, /*allow_https=*/true, security::UrlUse::kListen);
    if (!addr.ok()) {
      return absl::InvalidArgumentError("--" + flag + ": " + std::string(addr.status().message()));
    }
    out.push_back(server::Listener{.address = *addr, .tls = server::is_https(url)});
  }
  if (out.empty()) return absl::InvalidArgumentError("--" + flag + " names no URL");
  return out;
}

absl::StatusOr<server::ServerConfig> build_config(const Flags& f) {
  server::ServerConfig cfg;
  std::vector<std::string> client_urls, peer_urls;
  auto clients = listen_urls("listen-client-urls", f.listen_client_urls, &client_urls);
  if (!clients.ok()) return clients.status();
  auto peers = listen_urls("listen-peer-urls", f.listen_peer_urls, &peer_urls);
  if (!peers.ok()) return peers.status();
  cfg.client_listeners = *clients;
  cfg.peer_listeners = *peers;
  auto client_tls = port_tls("listen-client-urls", client_urls, f.client_tls, "");
  if (!client_tls.ok()) return client_tls.status();
  cfg.client_tls = *client_tls;
  auto peer_tls = port_tls("listen-peer-urls", peer_urls, f.peer_tls, "peer-");
  if (!peer_tls.ok()) return peer_tls.status();
  cfg.peer_tls = *peer_tls;
  std::string adv_client = client_urls.front(), adv_peer = peer_urls.front();
  if (!f.advertise_client_urls.empty()) {
    auto a = one_address("advertise-client-urls", f.advertise_client_urls, &adv_client, true);
    if (!a.ok()) return a.status();
  }
  if (!f.initial_advertise_peer_urls.empty()) {
    auto a =
        one_address("initial-advertise-peer-urls", f.initial_advertise_peer_urls, &adv_peer, true);
    if (!a.ok()) return a.status();
  } else if (peers->front().address.ends_with(":0")) {
    // The peer URL is the member's identity in --initial-cluster: it must be known
    // before the port is bound.
    return absl::InvalidArgumentError("--listen-peer-urls " + adv_peer +
                                      " asks for any free port: give the URL peers dial in "
                                      "--initial-advertise-peer-urls");
  }
  if (!f.listen_metrics_urls.empty()) {
    std::vector<std::string> metrics_urls;
    auto metrics = listen_urls("listen-metrics-urls", f.listen_metrics_urls, &metrics_urls);
    if (!metrics.ok()) return metrics.status();
    cfg.node.metrics_address = metrics->front().address;
    cfg.metrics_listeners = *metrics;
    // As etcd: an https metrics URL is served with the client port's certificate.
    auto metrics_tls = port_tls("listen-metrics-urls", metrics_urls, f.client_tls, "");
    if (!metrics_tls.ok()) return metrics_tls.status();
    cfg.metrics_tls = *metrics_tls;
  }
  if (!f.cipher_suites.empty()) {
    absl::StatusOr<std::string> list = server::openssl_cipher_list(f.cipher_suites);
    if (!list.ok()) return list.status();
    cfg.cipher_list = *list;
  }
  if (f.max_voters < 1 || f.max_voters > 99) {
    return absl::InvalidArgumentError("--max-voters " + std::to_string(f.max_voters) +
                                      " is out of range [1, 99]");
  }
  if (f.max_learners > 99) {
    return absl::InvalidArgumentError("--max-learners " + std::to_string(f.max_learners) +
                                      " is out of range [0, 99]");
  }
  cfg.cluster_limits = {.max_voters = f.max_voters, .max_learners = f.max_learners};
  absl::StatusOr<std::vector<security::Network>> allowed =
      f.peer_allowed_networks.empty() ? std::vector<security::Network>{}
                                      : security::parse_networks(f.peer_allowed_networks);
  if (!allowed.ok()) {
    return absl::InvalidArgumentError("--peer-allowed-networks: " +
                                      std::string(allowed.status().message()));
  }
  cfg.peer_allowed_networks = *allowed;
  auto members = initial_cluster(f, adv_peer, *allowed);
  if (!members.ok()) return members.status();
  cfg.initial_cluster = *std::move(members);
  for (const server::MemberSpec& m : cfg.initial_cluster) {
    if (m.name == f.name) cfg.node.id = raft::NodeId(m.id);
  }
  cfg.node.name = f.name;
  cfg.node.data_dir = f.data_dir;
  cfg.node.client_address = clients->front().address;
  cfg.node.peer_address = peers->front().address;
  cfg.join_existing = f.initial_cluster_state == "existing";
  if (!cfg.join_existing) {
    for (const auto& m : cfg.initial_cluster) cfg.node.bootstrap.voters.insert(raft::NodeId(m.id));
  }
  cfg.cluster_token = f.initial_cluster_token;
  // etcd's rule: the cluster id is a hash of the founding members' ids (and the token),
  // so two clusters with the default token still differ. A member joining an existing
  // cluster takes the id from a peer instead.
  cfg.cluster_id = server::cluster_id(f.initial_cluster_token, cfg.initial_cluster);
  cfg.advertise_client_urls = {adv_client};
  cfg.advertise_peer_urls = {adv_peer};
  if (absl::Status s = apply_limits(f, &cfg); !s.ok()) return s;
  return cfg;
}

// Starts the server and runs until SIGTERM or SIGINT (or this member's removal).
int run(server::ServerConfig cfg) {
  // Block the stop signals before any thread starts, then wait for one here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);  // not a stop: re-read the TLS files
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  cfg.on_removed = [] { kill(getpid(), SIGTERM); };  // the same clean stop as SIGTERM
  raftlog::info("server", "starting",
                {{"data-dir", cfg.node.data_dir},
                 {"initial-cluster-state", cfg.join_existing ? "existing" : "new"}});
  auto srv = server::Server::start(cfg);
  if (!srv.ok()) return refuse_start(std::string(srv.status().message()));
  raftlog::info("server", "serving client requests",
                {{"address", cfg.node.client_address}, {"port", (*srv)->client_port()}});
  raftlog::info("server", "serving peer traffic",
                {{"address", cfg.node.peer_address}, {"port", (*srv)->peer_port()}});
  if (!cfg.peer_tls.has_value()) {
    raftlog::warn("server",
                  "peer traffic is plaintext and unauthenticated: any process that reaches the "
                  "peer port can speak Raft to this member; keep it on a trusted network",
                  {{"address", cfg.node.peer_address}});
  } else if (!cfg.peer_tls->client_cert_auth) {
    raftlog::warn("server",
                  "peer traffic is encrypted but peers are unauthenticated: without "
                  "--peer-client-cert-auth any process that reaches the peer port can speak "
                  "Raft to this member",
                  {{"address", cfg.node.peer_address}});
  } else {
    raftlog::info("server", "peers authenticate by certificate",
                  {{"address", cfg.node.peer_address}});
  }
  if ((*srv)->metrics_port() > 0) {
    raftlog::info("server", "serving /metrics and /health",
                  {{"address", cfg.node.metrics_address}, {"port", (*srv)->metrics_port()}});
  }
  int sig = 0;
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    raftlog::info("server", "received SIGHUP, re-reading the TLS files");
    (*srv)->reload_tls();
  }
  raftlog::info("server", "received signal, stopping",
                {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*srv)->stop();
  raftlog::info("server", "stopped");
  return 0;
}

}  // namespace

// CLI11 reads "-1" into an unsigned flag as 2^64 - 1 (strtoull's rule): every unsigned
// flag refuses a negative value instead, from the command line and from the TOML file.
void refuse_negative_unsigned(CLI::App& app) {
  const CLI::Validator non_negative(
      [](std::string& value) {
        return value.find('-') != std::string::npos ? "value " + value + " must not be negative"
                                                    : std::string();
      },
      "NONNEGATIVE");
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_type_name().starts_with("UINT")) opt->check(non_negative);
  }
}

int main(int argc, char** argv) {
  // gRPC's absl::Mutex checks lock order on every acquisition unless told not to: a
  // debugging aid that cost several percent of the CPU under load.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Flags f;
  CLI::App app{"raftkv: a replicated key-value server speaking etcd's v3 API"};
  add_flags(app, f);
  refuse_negative_unsigned(app);
  if (std::optional<int> exit = raftkv::cmd::parse_command_line(app, "raftkv", argc, argv)) {
    return *exit;
  }
  if (!f.config_file.empty()) {
    if (std::string err = apply_config_file(f.config_file, app); !err.empty()) return fail(err);
  }
  if (absl::Status s = init_logging(f); !s.ok()) return fail(std::string(s.message()));
  if (absl::Status s = apply_tls_options(f); !s.ok()) {
    return refuse_start(std::string(s.message()));
  }
  absl::StatusOr<server::ServerConfig> cfg = build_config(f);
  if (!cfg.ok()) return refuse_start(std::string(cfg.status().message()));
  return run(*std::move(cfg));
}
