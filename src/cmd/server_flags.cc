#include "cmd/server_flags.h"

#include <string>

namespace raftkv::cmd {
namespace {

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
  app.add_option("--snapshot-log-percent", f.snapshot_log_percent,
                 "And only once the entries since the last snapshot hold this percent of its "
                 "bytes (0 to 1000; 0: --snapshot-count alone, etcd's rule): a snapshot rewrites "
                 "the whole store, so a large one is not rewritten every --snapshot-count entries");
  app.add_option("--experimental-snapshot-catchup-entries", f.snapshot_catchup_entries,
                 "Entries the log keeps behind a snapshot, so that a follower a little behind "
                 "catches up from the log instead of a whole snapshot (etcd 3.5's; at most "
                 "64 MiB of them)");
  app.add_option("--max-inflight-appends", f.max_inflight_appends,
                 "AppendEntries the leader has out to one follower, unacknowledged, at a time "
                 "(1 to 4096; more pays only where a round trip is long against a follower's "
                 "fsync)");
  app.add_flag("!--no-peer-lanes", f.peer_lanes,
               "Send Raft messages to plaintext peers on the gRPC streams, not on TCP "
               "connections of their own (peer lanes, the default: faster)");
  app.add_flag("!--no-sched-batch", f.sched_batch,
               "Leave the server's threads under the kernel's default CPU policy instead of "
               "SCHED_BATCH (the default: a thread woken by another does not preempt it, "
               "which saves a context switch per hand-off)");
  app.add_option("--quota-backend-bytes", f.quota_backend_bytes,
                 "Storage quota in bytes; writes beyond it fail with 'database space exceeded'");
  app.add_option("--max-request-bytes", f.max_request_bytes, "Largest client request in bytes");
  app.add_option("--max-concurrent-streams", f.max_concurrent_streams,
                 "Most concurrent gRPC streams one client connection may open (etcd's; "
                 "4294967295: no limit)");
  app.add_option("--auto-compaction-mode", f.auto_compaction_mode,
                 "periodic or revision: how --auto-compaction-retention is read (etcd's)");
  app.add_option("--auto-compaction-retention", f.auto_compaction_retention,
                 "History the leader keeps when it compacts on its own: periodic, hours or a "
                 "duration (30m, 1h30m); revision, a number of revisions; 0: never (etcd's)");
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

}  // namespace

void add_server_flags(CLI::App& app, Flags& f) {
  add_flags(app, f);
  refuse_negative_unsigned(app);
}

}  // namespace raftkv::cmd
