// raftkv: the server. Takes etcd's flag names where the meaning is the same, so scripts
// written for etcd start raftkv unchanged, plus an optional TOML file with the same keys.
// With no argument: a one-node cluster in ./raftkv-data on 127.0.0.1:2379 (clients) and
// 127.0.0.1:2380 (peers). SIGTERM or SIGINT stops it cleanly; SIGHUP re-reads the TLS files.
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "cmd/command_line.h"
#include "cmd/config_file.h"
#include "cmd/initial_cluster.h"
#include "cmd/server_flags.h"
#include "limits/limits_config.h"
#include "log/log.h"
#include "security/enforcer.h"
#include "security/jwt_tokens.h"
#include "security/password.h"
#include "security/url.h"
#include "server/server.h"

namespace {

// glibc gives each thread that allocates concurrently an arena of its own, up to eight per
// core, and each keeps what its threads freed: under a burst of 100 KiB writes the
// freed values of one thread are not reused by another. Two arenas per two cores took
// the overload benchmark's peak RSS from ~960 to ~810 MiB at the same goodput
// (docs/benchmarks.md). MALLOC_ARENA_MAX, when set, decides instead. A server linked with
// tcmalloc (the default build) has no arenas, and its mallopt ignores this.
void limit_malloc_arenas() {
#ifdef __GLIBC__
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) return;
  const unsigned cores = std::thread::hardware_concurrency();
  mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, cores / 2)));
#endif
}

// Runs the server's threads as SCHED_BATCH (docs/benchmarks.md, "Batch scheduling"): a
// thread another wakes does not preempt it; it runs on an idle core, or when the waker
// blocks or its time slice ends. The server's threads are the stages of one pipeline (a
// client's call, the core, the peers, the apply), each handing work to the next and then
// going on or blocking: woken with preemption, each hand-off cost a second switch back.
// A thread takes the policy of the one that creates it, so this runs before any other
// thread is created. A policy the operator chose (chrt) is kept. Returns why the policy
// could not be set, if it could not, for a warning once logging is up.
std::string use_batch_scheduling() {
  if (sched_getscheduler(0) != SCHED_OTHER) return "";
  sched_param param{};
  param.sched_priority = 0;
  if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) return std::strerror(errno);
  return "";
}

using raftkv::cmd::Flags;
using raftkv::cmd::kTlsSwitches;
using raftkv::cmd::kTlsValueFlags;

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

// The node's timeouts, store limits and request timeout from the flags.
absl::Status apply_limits(const Flags& f, server::ServerConfig* cfg) {
  cfg->node.tick_ms = f.tick_ms;
  cfg->node.timeouts.heartbeat_ms = f.heartbeat_interval;
  cfg->node.timeouts.election_min_ms =
      f.election_timeout_min != 0 ? f.election_timeout_min : f.election_timeout;
  cfg->node.timeouts.election_max_ms =
      f.election_timeout_max != 0 ? f.election_timeout_max : 2 * cfg->node.timeouts.election_min_ms;
  cfg->node.snapshot_entries = f.snapshot_count;
  cfg->node.snapshot_catch_up_entries = f.snapshot_catchup_entries;
  if (f.snapshot_log_percent > node::kMaxSnapshotLogPercent) {
    return absl::InvalidArgumentError(
        "--snapshot-log-percent " + std::to_string(f.snapshot_log_percent) +
        " is out of range [0, " + std::to_string(node::kMaxSnapshotLogPercent) + "]");
  }
  cfg->node.snapshot_log_percent = f.snapshot_log_percent;
  if (f.max_inflight_appends < 1 || f.max_inflight_appends > node::kMaxInflightAppends) {
    return absl::InvalidArgumentError(
        "--max-inflight-appends " + std::to_string(f.max_inflight_appends) +
        " is out of range [1, " + std::to_string(node::kMaxInflightAppends) + "]");
  }
  cfg->node.max_inflight_appends = f.max_inflight_appends;
  // gRPC's largest message is 2^31 - 1 bytes, and the client port allows 512 KiB of
  // framing above the largest request; a larger value used to wrap around in an int.
  constexpr uint64_t kMaxRequestBytes = uint64_t{INT32_MAX} - 512 * 1024;
  if (f.max_request_bytes < 1 || f.max_request_bytes > kMaxRequestBytes) {
    return absl::InvalidArgumentError("--max-request-bytes " + std::to_string(f.max_request_bytes) +
                                      " is out of range [1, " + std::to_string(kMaxRequestBytes) +
                                      "] (gRPC's largest message, less 512 KiB of framing)");
  }
  cfg->node.max_request_bytes = f.max_request_bytes;
  if (f.max_concurrent_streams < 1) {
    return absl::InvalidArgumentError("--max-concurrent-streams must be at least 1");
  }
  cfg->max_concurrent_streams = f.max_concurrent_streams;
  absl::StatusOr<server::AutoCompaction> compaction =
      server::parse_auto_compaction(f.auto_compaction_mode, f.auto_compaction_retention);
  if (!compaction.ok()) return compaction.status();
  cfg->auto_compaction = *compaction;
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
      absl::StatusOr<std::string> text = raftkv::cmd::read_text_file(*path);
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
  cfg->peer_lanes = f.peer_lanes;
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
      absl::StatusOr<std::string> text = raftkv::cmd::read_text_file(*path);
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
  absl::StatusOr<std::vector<raftkv::cmd::InitialMember>> members =
      raftkv::cmd::parse_initial_cluster(
          f.initial_cluster,
          {.name = f.name, .adv_peer = adv_peer, .allowed = *allowed, .max_voters = f.max_voters});
  if (!members.ok()) return members.status();
  for (const raftkv::cmd::InitialMember& m : *members) {
    cfg.initial_cluster.push_back(server::MemberSpec{
        .id = server::member_id(f.initial_cluster_token, m.peer_url),
        .name = m.name,
        .peer_urls = {m.peer_url},
    });
  }
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
  // systemd (Type=notify, the Debian package's unit): the member serves. Without
  // $NOTIFY_SOCKET this does nothing.
  sd_notifyf(0, "READY=1\nSTATUS=serving clients on port %d", (*srv)->client_port());
  int sig = 0;
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    raftlog::info("server", "received SIGHUP, re-reading the TLS files");
    (*srv)->reload_tls();
  }
  raftlog::info("server", "received signal, stopping",
                {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  sd_notify(0, "STOPPING=1");
  (*srv)->stop();
  raftlog::info("server", "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  limit_malloc_arenas();
  // gRPC's absl::Mutex checks lock order on every acquisition unless told not to: a
  // debugging aid that cost several percent of the CPU under load.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  Flags f;
  CLI::App app{"raftkv: a replicated key-value server speaking etcd's v3 API"};
  raftkv::cmd::add_server_flags(app, f);
  if (std::optional<int> exit = raftkv::cmd::parse_command_line(app, "raftkv", argc, argv)) {
    return *exit;
  }
  if (!f.config_file.empty()) {
    if (std::string err = raftkv::cmd::apply_config_file(f.config_file, app); !err.empty())
      return fail(err);
  }
  const std::string batch_error = f.sched_batch ? use_batch_scheduling() : "";
  if (absl::Status s = init_logging(f); !s.ok()) return fail(std::string(s.message()));
  if (!batch_error.empty()) {
    raftlog::warn("server", "threads run under the default CPU policy, not SCHED_BATCH",
                  {{"error", batch_error}});
  }
  if (absl::Status s = apply_tls_options(f); !s.ok()) {
    return refuse_start(std::string(s.message()));
  }
  absl::StatusOr<server::ServerConfig> cfg = build_config(f);
  if (!cfg.ok()) return refuse_start(std::string(cfg.status().message()));
  return run(*std::move(cfg));
}
