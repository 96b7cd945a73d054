// The raftkv server: a RaftNode replicating the KV state machine, the peer transport,
// and etcd's v3 gRPC services (KV, Watch, Lease, Cluster, Maintenance) on the client
// listener, with the settings etcd's clients need (keepalive ping floor, message sizes).
// Every RPC passes through one entry step (Context::gate, context.h) where authorization
// and limits will go. The services live one per file (services.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "kv/store.h"
#include "limits/limiter.h"
#include "metrics/registry.h"
#include "node/mutex.h"
#include "node/node_config.h"
#include "security/member_rules.h"
#include "security/url.h"
#include "server/auto_compaction.h"
#include "server/grpc_metrics.h"
#include "server/tls.h"
#include "server/tls_files.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace node {
class RaftNode;
}
namespace transport {
class CompletionQueueLoop;
class GrpcTransport;
class PortMux;
}  // namespace transport

namespace security {
class JwtTokens;
}

namespace server {

class BlockingPool;
class KvStateMachine;
class ClusterView;
class HealthMonitor;
class HttpEndpoint;
class WatchService;
struct HttpResponse;
struct HttpCaller;

// One member as --initial-cluster names it.
struct MemberSpec {
  uint64_t id = 0;
  std::string name;
  std::vector<std::string> peer_urls;
};

// One URL of a listen list: where, and whether it speaks TLS.
struct Listener {
  std::string address;  // host:port
  bool tls = false;
};

struct ServerConfig {
  node::NodeConfig node;  // node.id, data_dir, timeouts, client/peer listen addresses
  uint64_t cluster_id = 0;
  std::string cluster_token;
  std::vector<MemberSpec> initial_cluster;  // every member known at start, this one included
  bool join_existing = false;               // --initial-cluster-state existing
  // The validator's membership rules: --max-voters and --max-learners, and the networks
  // peer URLs must lie in (--peer-allowed-networks; empty: any).
  security::ClusterLimits cluster_limits;
  std::vector<security::Network> peer_allowed_networks;
  std::vector<std::string> advertise_client_urls;
  std::vector<std::string> advertise_peer_urls;
  kv::StoreOptions store;
  std::chrono::milliseconds request_timeout{5000};
  // --max-concurrent-streams: HTTP/2 streams one client connection may have open. A client
  // over it waits on its own side (its library queues the call) without the member reading
  // or holding the request.
  uint32_t max_concurrent_streams = UINT32_MAX;
  // --auto-compaction-mode and --auto-compaction-retention (off by default, as etcd's).
  AutoCompaction auto_compaction;
  limits::LimitsConfig limits;          // per-client and member limits (validated at start)
  bool limits_trust_client_id = false;  // key clients by their `client-id` metadata
  // etcd's auth: bcrypt cost of new passwords (--bcrypt-cost) and how long a simple token
  // lives unused (--auth-token-ttl).
  int bcrypt_cost = 10;
  std::chrono::seconds auth_token_ttl{300};
  // --auth-token jwt,...: tokens are JWTs signed and checked with these keys instead of
  // simple tokens.
  std::shared_ptr<const security::JwtTokens> jwt;
  // The authorization policy of --authz-model-file and --authz-policy-file (texts and file
  // names), proposed once at start: it takes effect only if the log never set one.
  struct AuthzFiles {
    std::string model, model_name, policy, policy_name;
  };
  std::optional<AuthzFiles> authz_files;
  // With auth on, /metrics, /v1/status and the status page need view_metrics: HTTP Basic
  // with an etcd user, or a client certificate on an https metrics port.
  bool metrics_require_auth = false;
  // Raft messages to plaintext peers on peer lanes (transport/peer_lanes.h).
  bool peer_lanes = true;
  // TLS on the client port (an https:// --listen-client-urls) and on the peer port (an
  // https:// --listen-peer-urls); checked at start.
  std::optional<TlsFlags> client_tls, peer_tls;
  // Every URL of --listen-client-urls and --listen-peer-urls (etcd serves each, http in
  // plaintext, https with TLS); the first is node.client_address / node.peer_address.
  // Empty: that address alone, with TLS when client_tls / peer_tls is set.
  std::vector<Listener> client_listeners, peer_listeners;
  // The same for --listen-metrics-urls; the first is node.metrics_address. Empty: that
  // address alone, with TLS when metrics_tls is set.
  std::vector<Listener> metrics_listeners;
  // TLS on the metrics port (an https:// --listen-metrics-urls), from the client port's
  // flags as in etcd; and --cipher-suites in OpenSSL's names for it (gRPC's ports take
  // them from the process environment).
  std::optional<TlsFlags> metrics_tls;
  std::string cipher_list;
  // Called once (from a server thread) when this member sees itself removed from the
  // cluster it belonged to; etcd's members stop then. raftkv's binary stops cleanly.
  std::function<void()> on_removed;
};

// etcd's member ID for a peer URL in a cluster: the same on the member that adds it and
// on the new member itself, so neither needs to ask the other.
uint64_t member_id(const std::string& cluster_token, const std::string& peer_url);
uint64_t cluster_id(const std::string& cluster_token, const std::vector<MemberSpec>& members);
// "http://127.0.0.1:2380" -> "127.0.0.1:2380", through the validator's strict parser
// (security::parse_url); an error names what is wrong. https:// only where
// `allow_https`; port 0 only for a listener (UrlUse::kListen).
absl::StatusOr<std::string> url_to_address(const std::string& url, bool allow_https = false,
                                           security::UrlUse use = security::UrlUse::kAdvertise);
bool is_https(const std::string& url);

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> start(ServerConfig config);
  ~Server();
  void stop();
  // Re-reads the TLS files now (SIGHUP); without it they are re-read when they change.
  void reload_tls();
  int client_port() const { return client_port_; }
  // The ids in force, once resolve_identity() decided them.
  uint64_t member_id() const { return config_.node.id.value(); }
  uint64_t cluster_id() const { return config_.cluster_id; }
  int peer_port() const { return peer_port_; }
  // The port of --listen-metrics-urls (0 when there is none).
  int metrics_port() const { return metrics_port_; }

 private:
  Server() = default;
  // The steps of start().
  absl::Status open_node();
  // The client, peer and metrics ports' TLS files, when they speak TLS.
  absl::Status open_tls_files();
  // The metrics port's TLS context, made anew when its files were reloaded.
  std::shared_ptr<ssl_ctx_st> metrics_tls_context();
  // This member's id and its cluster's id: kept in the data directory, or from a peer
  // for a member MemberAdd added, or from the flags (server/member_identity.h).
  absl::Status resolve_identity();
  // After peers sent messages meant for another member: stops this member if the cluster
  // gave its peer URL to a new member (it was removed). The housekeeping thread.
  void check_replaced();
  std::atomic<bool> misaddressed_{false};
  absl::Status listen_clients();
  // Replaces port 0 in the advertised client URLs by the port the listener got.
  void advertise_bound_client_port();
  absl::Status listen_metrics();
  // A thread of its own: every 200 ms, until stop().
  void housekeeping_loop();
  // Writes this member's attributes; true once committed.
  bool publish_attributes();
  // Proposes the --authz-*-file policy (true once it committed, or when there is none).
  bool bootstrap_authz();
  // The metrics port's check (--metrics-require-auth): nullopt lets the caller through.
  std::optional<HttpResponse> guard_metrics(const HttpCaller& caller);
  void check_removed(bool* was_member);
  void revoke_expired_leases();
  // On the leader, the compaction --auto-compaction-* asks for, if one is due.
  void auto_compact();
  // Hands memory the process freed back to the system; every kTrimRounds rounds (5 s).
  static void release_free_memory();
  static constexpr uint64_t kTrimRounds = 25;
  // /health as etcd answers it: healthy when a leader is known, no alarm is raised and
  // a linearizable read completes within a second.
  HttpResponse health();
  // /metrics in Prometheus text format: every metric of the registry.
  HttpResponse metrics();
  // The health score and its reasons as JSON (/health?verbose).
  HttpResponse health_verbose();
  // /version as etcd answers it, {"etcdserver":"3.5.0","etcdcluster":"3.5.0"}, with
  // raftkv's own version and commit beside: "raftkv":"0.9.0","raftkvcommit":"<sha>".
  HttpResponse version();

  ServerConfig config_;
  // First: everything below registers metrics on it and must not outlive it.
  metrics::Registry registry_;
  std::unique_ptr<KvStateMachine> sm_;
  // Before the listeners that use them (destroyed after): the TLS files in force.
  std::unique_ptr<TlsFiles> client_files_, peer_files_, metrics_files_;
  std::unique_ptr<transport::GrpcTransport> transport_;
  std::unique_ptr<node::RaftNode> node_;
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<limits::Limiter> limiter_;
  std::optional<TlsPem> tls_;          // the client port's, when it is https
  std::optional<TlsPem> peer_tls_;     // the peer port's, when it is https
  std::optional<TlsPem> metrics_tls_;  // the metrics port's, when it is https
  std::mutex metrics_ctx_mu_;
  std::shared_ptr<ssl_ctx_st> metrics_ctx_;     // guarded by metrics_ctx_mu_
  uint64_t metrics_ctx_generation_ = 0;         // of metrics_files_; guarded by it too
  metrics::Counter* health_success_ = nullptr;  // /health answers, as etcd counts them
  metrics::Counter* health_failures_ = nullptr;
  // Told of the client services' calls (their gRPC metrics and retry hints); outlives
  // every call (declared before the server, its queue and its pool).
  std::unique_ptr<GrpcMetrics> grpc_metrics_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<WatchService> watch_;  // the Watch streams (its gRPC service is in services_)
  std::unique_ptr<grpc::Server> grpc_;
  // The completion queue of grpc_'s services on gRPC's completion-queue API; stopped
  // after grpc_ has shut down.
  std::unique_ptr<transport::CompletionQueueLoop> cq_loop_;
  // The threads of the handlers that block; stopped after grpc_ too, before cq_loop_.
  std::unique_ptr<BlockingPool> blocking_;
  // The plaintext client ports, each shared by gRPC and HTTP/1.1 (port_mux.h), and what
  // answers their HTTP/1.1 connections (/health, /version).
  std::vector<std::unique_ptr<transport::PortMux>> client_muxes_;
  std::unique_ptr<HttpEndpoint> client_http_;
  std::unique_ptr<ClusterView> cluster_view_;        // answers /v1/status
  std::vector<std::unique_ptr<HttpEndpoint>> http_;  // one per metrics URL
  std::thread housekeeping_;
  std::optional<AutoCompactor> compactor_;  // the housekeeping thread's
  node::Mutex mu_;
  node::CondVar wake_;  // signalled by stop()
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> removed_told_{false};  // on_removed runs once, whoever learns it first
  void removed(const std::string& why);
  int client_port_ = 0;
  int peer_port_ = 0;
  int metrics_port_ = 0;
};

}  // namespace server
