// raftkv's flags (etcd's names where the meaning is the same): the values they set, and
// their registration with CLI11. The TOML config file (config_file.h) sets the same
// options, so both go through one definition of every flag.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "limits/limits_config.h"
#include "node/node_config.h"
#include "security/member_rules.h"
#include "server/tls.h"

namespace raftkv::cmd {

// The values of raftkv's flags, with their defaults.
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
  uint32_t snapshot_log_percent = 50;
  uint64_t snapshot_catchup_entries = 5000;
  uint32_t max_inflight_appends = node::NodeConfig{}.max_inflight_appends;
  int64_t quota_backend_bytes = int64_t{2} << 30;
  uint64_t max_request_bytes = 1536 * 1024;
  uint32_t max_concurrent_streams = UINT32_MAX;
  std::string auto_compaction_mode = "periodic";
  std::string auto_compaction_retention = "0";  // etcd's default, math.MaxUint32
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
  bool peer_lanes = true;     // --no-peer-lanes clears it
  bool sched_batch = true;    // --no-sched-batch clears it
  std::string cipher_suites;  // Go's names, as etcd's --cipher-suites
  std::string tls_min_version = "TLS1.2", tls_max_version = "TLS1.3";
  // etcd's TLS flags raftkv does not support yet: known, so that an etcd user is told so
  // rather than that the flag does not exist.
  std::map<std::string, std::string> tls_values;
  std::map<std::string, bool> tls_switches;
};

// etcd's TLS flags. These are not supported yet, and each is refused at start, naming it,
// so that nobody believes a listener is protected as they asked when it is not.
inline constexpr const char* kTlsValueFlags[] = {"client-crl-file", "peer-crl-file"};
inline constexpr const char* kTlsSwitches[] = {"auto-tls", "peer-auto-tls"};

// Registers every flag of raftkv with `app`, each writing into `f` (which must outlive
// `app`); every unsigned flag refuses a negative value.
void add_server_flags(CLI::App& app, Flags& f);

}  // namespace raftkv::cmd
