#include "server/server.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdio>

#include "log/log.h"
#include "log/thread_name.h"
#include "metrics/process_metrics.h"
#include "node/raft_node.h"
#include "raftkv/internal.pb.h"
#include "raftkv_version.h"
#include "security/enforcer.h"
#include "security/password.h"
#include "server/cluster_view.h"
#include "server/default_authz_files.h"
#include "server/errors.h"
#include "server/etcd_version.h"
#include "server/grpc_log.h"
#include "server/grpc_metrics.h"
#include "server/health_monitor.h"
#include "server/http_endpoint.h"
#include "server/kv_state_machine.h"
#include "server/limits_proto.h"
#include "server/member_identity.h"
#include "server/server_metrics.h"
#include "server/services.h"
#include "server/watch_service.h"
#include "transport/grpc_transport.h"
#include "transport/port_mux.h"
#include "transport/port_role.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;
using Millis = std::chrono::milliseconds;

}  // namespace

uint64_t member_id(const std::string& cluster_token, const std::string& peer_url) {
  const std::string key = cluster_token + "\n" + peer_url;
  uint64_t id = XXH3_64bits(key.data(), key.size());
  return id == 0 ? 1 : id;
}

uint64_t cluster_id(const std::string& cluster_token, const std::vector<MemberSpec>& members) {
  std::vector<uint64_t> ids;
  for (const MemberSpec& m : members) ids.push_back(m.id);
  std::sort(ids.begin(), ids.end());
  std::string key = cluster_token;
  for (uint64_t id : ids) key += "\n" + std::to_string(id);
  uint64_t id = XXH3_64bits(key.data(), key.size());
  return id == 0 ? 1 : id;
}

bool is_https(const std::string& url) { return url.rfind("https://", 0) == 0; }

absl::StatusOr<std::string> url_to_address(const std::string& url, bool allow_https,
                                           security::UrlUse use) {
  absl::StatusOr<security::Url> parsed = security::parse_url(url, use);
  if (!parsed.ok()) return parsed.status();
  if (parsed->scheme == "https" && !allow_https) {
    return absl::InvalidArgumentError("URL " + url +
                                      ": TLS is not supported yet on this listener; use http://");
  }
  return parsed->host_port();
}

namespace {

// gRPC's receive limit on the member's server (client and peer ports alike): a client's
// request up to max-request-bytes, plus framing, as etcd sets it.
uint64_t client_message_limit(const ServerConfig& cfg) {
  return cfg.node.max_request_bytes + 512 * 1024;
}

// The most entry or snapshot bytes a peer puts in one message, frame or chunk: with the
// 512 KiB of framing above, each fits that limit (a single entry larger than this still
// goes alone, and is at most max-request-bytes).
uint64_t peer_piece_bytes(const ServerConfig& cfg) {
  return std::min<uint64_t>(1ull << 20, cfg.node.max_request_bytes);
}

// Points the transport at a member's first peer URL (the others are for clients of etcd
// that try several); this member itself and unusable URLs are skipped.
template <typename Urls>
void point_peer(transport::GrpcTransport* t, raft::NodeId self, uint64_t id, const Urls& urls) {
  if (raft::NodeId(id) == self || urls.empty()) return;
  const std::string& url = *urls.begin();
  if (auto addr = url_to_address(url, /*allow_https=*/true); addr.ok()) {
    t->set_peer(raft::NodeId(id), is_https(url) ? "https://" + *addr : *addr);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::start(ServerConfig config) {
  route_grpc_log();
  std::unique_ptr<Server> s(new Server());
  s->config_ = std::move(config);
  if (s->config_.client_tls.has_value()) {
    absl::StatusOr<TlsPem> pem = load_tls(*s->config_.client_tls, TlsPort::kClient);
    if (!pem.ok()) return pem.status();
    s->tls_ = *std::move(pem);
  }
  if (s->config_.peer_tls.has_value()) {
    absl::StatusOr<TlsPem> pem = load_tls(*s->config_.peer_tls, TlsPort::kPeer);
    if (!pem.ok()) return pem.status();
    s->peer_tls_ = *std::move(pem);
  }
  if (s->config_.metrics_tls.has_value()) {
    absl::StatusOr<TlsPem> pem = load_tls(*s->config_.metrics_tls, TlsPort::kClient);
    if (!pem.ok()) return pem.status();
    s->metrics_tls_ = *std::move(pem);
  }
  if (absl::Status st = s->open_tls_files(); !st.ok()) return st;
  if (absl::Status st = s->resolve_identity(); !st.ok()) return st;
  raftlog::info("server", "member identity",
                {{"member-id", raftlog::hex_id(s->config_.node.id.value())},
                 {"cluster-id", raftlog::hex_id(s->config_.cluster_id)}});
  if (absl::Status st = s->open_node(); !st.ok()) return st;
  if (absl::Status st = s->listen_clients(); !st.ok()) return st;
  s->advertise_bound_client_port();
  s->node_->start();
  if (absl::Status st = s->listen_metrics(); !st.ok()) return st;  // ~Server stops the rest
  s->compactor_.emplace(s->config_.auto_compaction, AutoCompactor::Clock::now());
  s->housekeeping_ = std::thread([p = s.get()] {
    raftlog::name_this_thread("raftkv-housekp");
    p->housekeeping_loop();
  });
  return s;
}

absl::Status Server::open_node() {
  if (absl::Status s = limits::validate(config_.limits); !s.ok()) return s;
  limiter_ = std::make_unique<limits::Limiter>(config_.limits, limits::Clock::now());
  config_.node.registry = &registry_;
  // The leader checks a cluster operation again with the user the request carries.
  config_.node.authorize = [this](const std::string& user, std::string_view action) {
    return sm_->authorize(Identity{.user = user, .auth_revision = 0}, action);
  };
  const ServerConfig& cfg = config_;
  sm_ = std::make_unique<KvStateMachine>(cfg.store);
  sm_->set_token_ttl(cfg.auth_token_ttl);
  sm_->set_jwt(cfg.jwt);
  {
    // The built-in policy (config/authz), in force until the log sets one.
    raftkv::admin::Authz texts;
    for (const default_authz::EmbeddedFile& f : default_authz::kEmbeddedFiles) {
      const std::string text(reinterpret_cast<const char*>(f.data), f.size);
      if (std::string_view(f.name) == "model.conf") {
        texts.set_model(text);
        texts.set_model_name("built-in model.conf");
      } else {
        texts.set_policy(text);
        texts.set_policy_name("built-in policy.csv");
      }
    }
    absl::StatusOr<security::Enforcer> e = security::Enforcer::create(
        texts.model(), texts.model_name(), texts.policy(), texts.policy_name());
    if (!e.ok())
      return absl::InternalError("the built-in authorization policy does not load: " +
                                 std::string(e.status().message()));
    sm_->set_default_authz(std::make_shared<const security::Enforcer>(*std::move(e)), texts);
  }
  transport::GrpcTransportOptions topts;
  topts.registry = &registry_;
  topts.self = cfg.node.id;
  topts.cluster_id = cfg.cluster_id;
  topts.listen_address = cfg.node.peer_address;
  topts.peer_lanes = cfg.peer_lanes;
  // The peer ports share the client ports' gRPC server, and so its receive limit
  // (client_message_limit): every peer frame, snapshot chunk and Raft message fits it.
  topts.max_message_bytes = client_message_limit(cfg);
  topts.max_frame_bytes = peer_piece_bytes(cfg);
  topts.snapshot_chunk_bytes = peer_piece_bytes(cfg);
  for (const Listener& l : cfg.peer_listeners) topts.listeners.emplace_back(l.address, l.tls);
  topts.cluster_info = [this] {
    pb::MemberListResponse r;
    r.mutable_header()->set_cluster_id(config_.cluster_id);
    r.mutable_header()->set_member_id(config_.node.id.value());
    for (pb::Member& m : sm_->members()) *r.add_members() = std::move(m);
    return r.SerializeAsString();
  };
  topts.on_misaddressed = [this](raft::NodeId) { misaddressed_.store(true); };
  if (peer_tls_.has_value()) {
    topts.server_credentials = peer_files_->server_credentials();
    topts.channel_credentials = peer_files_->channel_credentials();
    if (peer_tls_->client_cert_auth) {
      topts.authorize = [this](raft::NodeId claimed, std::string_view cert_pem) {
        std::vector<PeerRecord> members;
        for (const in::MemberAttributes& m : sm_->known_members()) {
          members.push_back(PeerRecord{.id = m.id(),
                                       .name = m.name(),
                                       .peer_urls = {m.peer_urls().begin(), m.peer_urls().end()}});
        }
        return authorize_peer(cert_pem, claimed.value(), members, *peer_tls_);
      };
    }
  }
  transport_ = std::make_unique<transport::GrpcTransport>(topts);
  transport::GrpcTransport* t = transport_.get();
  const raft::NodeId self = cfg.node.id;

  std::vector<in::MemberAttributes> seeds;
  for (const MemberSpec& m : cfg.initial_cluster) {
    in::MemberAttributes a;
    a.set_id(m.id);
    a.set_name(m.name);
    for (const std::string& u : m.peer_urls) a.add_peer_urls(u);
    seeds.push_back(a);
  }
  sm_->set_self(self);
  // Limits set through the log (or a snapshot) replace the flags' on every member.
  sm_->set_limits_listener([l = limiter_.get()](const raftkv::admin::Limits& p) {
    l->configure(from_proto(p), limits::Clock::now());
  });
  sm_->set_member_listener(
      [t, self](const in::MemberAttributes& m) { point_peer(t, self, m.id(), m.peer_urls()); });
  // The gRPC transport delivers on its callback threads, holding none of its locks: a
  // peer's message is stepped there when the core thread is idle, and what it commits
  // applied there when the apply thread is idle (issue 19).
  node::NodeConfig node_config = cfg.node;
  node_config.max_append_bytes = peer_piece_bytes(cfg);
  node_config.step_on_receiving_thread = true;
  node_config.apply_on_calling_thread = true;
  auto node = node::RaftNode::open(node_config, sm_.get(), t);
  if (!node.ok()) return node.status();
  node_ = *std::move(node);
  node_->set_removed_handler([this](const std::string& why) { removed(why); });
  health_ = std::make_unique<HealthMonitor>(node_.get(), sm_.get(), t, limiter_.get());
  health_success_ = &registry_.counter("etcd_server_health_success",
                                       "The total number of successful health checks");
  health_failures_ =
      &registry_.counter("etcd_server_health_failures", "The total number of failed health checks");
  metrics::register_process_metrics(registry_);
  register_server_metrics(registry_, MetricSources{.node = node_.get(),
                                                   .sm = sm_.get(),
                                                   .health = health_.get(),
                                                   .quota_backend_bytes = cfg.store.quota_bytes,
                                                   .limiter = limiter_.get()});
  // Attributes from the flags fill in what the log has not said yet (after a restore,
  // the log's attributes win).
  sm_->seed_members(seeds);
  for (const in::MemberAttributes& m : seeds) point_peer(t, self, m.id(), m.peer_urls());
  for (const pb::Member& m : sm_->members()) point_peer(t, self, m.id(), m.peerurls());
  // The transport serves its peer ports once the client ports' server is built
  // (listen_clients).
  return absl::OkStatus();
}

absl::Status Server::resolve_identity() {
  const std::string& dir = config_.node.data_dir;
  absl::StatusOr<std::optional<MemberIdentity>> kept = read_identity(dir);
  if (!kept.ok()) return kept.status();
  if (kept->has_value()) {
    // Kept from the first start: the flags said who this member was then.
    config_.node.id = raft::NodeId((*kept)->member_id);
    config_.cluster_id = (*kept)->cluster_id;
    return absl::OkStatus();
  }
  if (config_.join_existing && is_new_data_dir(dir)) {
    // Added by MemberAdd: the cluster knows this member's id; ask a peer for it.
    const std::string self_url =
        config_.advertise_peer_urls.empty() ? "" : config_.advertise_peer_urls.front();
    std::vector<std::string> peers;
    for (const MemberSpec& m : config_.initial_cluster) {
      for (const std::string& u : m.peer_urls) {
        if (u != self_url) peers.push_back(u);
      }
    }
    absl::StatusOr<ClusterInfo> info = fetch_cluster_info(
        peers, self_url, peer_files_ != nullptr ? peer_files_->channel_credentials() : nullptr,
        std::chrono::seconds(5));
    if (!info.ok()) return info.status();
    config_.node.id = raft::NodeId(info->identity.member_id);
    config_.cluster_id = info->identity.cluster_id;
    config_.initial_cluster.clear();
    for (const PeerMember& m : info->members) {
      config_.initial_cluster.push_back(
          MemberSpec{.id = m.id, .name = m.name, .peer_urls = m.peer_urls});
    }
  }
  if (!is_new_data_dir(dir)) {
    // A data directory from before the identity file: its cluster id was the token's
    // hash alone, on every member of its cluster; keep it, or its peers would refuse it.
    config_.cluster_id = server::cluster_id(config_.cluster_token, {});
  }
  // A new founding member, or a data directory from before this file: the flags' ids.
  return write_identity(dir,
                        {.member_id = config_.node.id.value(), .cluster_id = config_.cluster_id});
}

absl::Status Server::open_tls_files() {
  // Beside the log, in a directory of their own that each start empties.
  const std::string dir = config_.node.data_dir + "/tls";
  if (tls_.has_value()) {
    auto files = TlsFiles::create(*config_.client_tls, TlsPort::kClient, *tls_, dir + "/client");
    if (!files.ok()) return files.status();
    client_files_ = *std::move(files);
  }
  if (peer_tls_.has_value()) {
    auto files = TlsFiles::create(*config_.peer_tls, TlsPort::kPeer, *peer_tls_, dir + "/peer");
    if (!files.ok()) return files.status();
    peer_files_ = *std::move(files);
  }
  if (metrics_tls_.has_value()) {
    auto files =
        TlsFiles::create(*config_.metrics_tls, TlsPort::kClient, *metrics_tls_, dir + "/metrics");
    if (!files.ok()) return files.status();
    metrics_files_ = *std::move(files);
  }
  return absl::OkStatus();
}

std::shared_ptr<ssl_ctx_st> Server::metrics_tls_context() {
  std::lock_guard<std::mutex> lock(metrics_ctx_mu_);
  const uint64_t generation = metrics_files_->generation();
  if (metrics_ctx_ == nullptr || generation != metrics_ctx_generation_) {
    auto ctx = server_ssl_context(*metrics_files_->in_force(), config_.cipher_list);
    if (!ctx.ok()) {
      raftlog::error("server", "cannot make the metrics port's TLS context",
                     {{"error", std::string(ctx.status().message())}});
    } else {
      metrics_ctx_ = *std::move(ctx);
      metrics_ctx_generation_ = generation;
    }
  }
  return metrics_ctx_;
}

void Server::reload_tls() {
  if (client_files_ != nullptr) client_files_->check(/*force=*/true);
  if (peer_files_ != nullptr) peer_files_->check(/*force=*/true);
  if (metrics_files_ != nullptr) metrics_files_->check(/*force=*/true);
}

absl::Status Server::listen_clients() {
  const ServerConfig& cfg = config_;
  Context ctx{&config_, node_.get(), sm_.get(), health_.get(), limiter_.get()};
  grpc::ServerBuilder builder;
  // One gRPC server for the client and the peer ports, and one thread of ours that takes
  // its queue's completions and polls every connection (transport/completion_queue_loop.h):
  // gRPC 1.51 polls with every thread that waits on any queue of the process, handing
  // what one polled to the thread whose it is (docs/benchmarks.md, "The eleventh cut").
  cq_loop_ =
      std::make_unique<transport::CompletionQueueLoop>(builder.AddCompletionQueue(), "raftkv-grpc");
  blocking_ = std::make_unique<BlockingPool>();
  if (absl::Status s = transport_->prepare(node_.get(), builder, *cq_loop_); !s.ok()) {
    transport_->stop();
    return s;
  }
  // What the services' calls count (no gRPC interceptor: see transport/call_observer.h).
  grpc_metrics_ = std::make_unique<GrpcMetrics>(
      registry_,
      std::vector<std::string>{"etcdserverpb.KV", "etcdserverpb.Watch", "etcdserverpb.Lease",
                               "etcdserverpb.Cluster", "etcdserverpb.Maintenance",
                               "etcdserverpb.Auth", "raftkv.admin.Admin"},
      [l = limiter_.get()] { return l->backlog_hint(limits::Clock::now()); });
  // Each service serves the calls that came in on its own ports (transport/port_role.h).
  CompletionQueueMethods methods(
      cq_loop_.get(), blocking_.get(),
      [](const grpc::ServerContext& c) {
        if (transport::port_role(c) == transport::PortRole::kClient) return grpc::Status::OK;
        return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                            "the client services are served on client ports only, and this call "
                            "came in on another port");
      },
      grpc_metrics_.get());
  watch_ = std::make_unique<WatchService>(ctx);
  services_.push_back(make_kv_service(ctx, &methods));
  services_.push_back(watch_->make_service(&methods));
  services_.push_back(make_lease_service(ctx, &methods));
  services_.push_back(make_cluster_service(ctx, &methods));
  services_.push_back(make_maintenance_service(ctx, &methods));
  services_.push_back(make_admin_service(ctx, &methods));
  services_.push_back(make_auth_service(ctx, &methods));
  std::vector<Listener> listeners = cfg.client_listeners;
  if (listeners.empty()) listeners.push_back({cfg.node.client_address, client_files_ != nullptr});
  std::vector<int> ports(listeners.size(), 0);
  for (size_t i = 0; i < listeners.size(); ++i) {
    if (listeners[i].tls) {
      // gRPC 1.51 cannot take over a TLS connection raftkv accepted: a TLS port is gRPC's
      // own listener and speaks gRPC alone (port_mux.h).
      std::shared_ptr<grpc::ServerCredentials> creds = client_files_->server_credentials();
      transport::mark_role(*creds, transport::PortRole::kClient);
      builder.AddListeningPort(listeners[i].address, creds, &ports[i]);
      continue;
    }
    // A plaintext port is raftkv's: gRPC gets its HTTP/2 connections, the HTTP endpoint
    // below the others, as etcd serves both on one port.
    absl::StatusOr<std::unique_ptr<transport::PortMux>> mux =
        transport::PortMux::bind(listeners[i].address);
    if (!mux.ok()) {
      transport_->stop();
      return mux.status();
    }
    ports[i] = (*mux)->port();
    client_muxes_.push_back(*std::move(mux));
  }
  // A port another process (or our own metrics listener) holds is an error, as in etcd:
  // with SO_REUSEPORT the kernel would silently split connections between the two.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // etcd's client-facing settings (reference/etcd-api.md 1.7): clients ping every 10 s
  // or so and must not be sent GOAWAY for it (etcd's floor is 5 s; the peers beside them
  // ping every 2 s, so the floor here is theirs); requests up to max-request-bytes plus
  // framing; any response size.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             transport::GrpcTransport::kPeerMinPingIntervalMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 2 * 60 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.SetMaxReceiveMessageSize(static_cast<int>(client_message_limit(cfg)));
  // gRPC's argument is an int; above INT32_MAX is no limit, as etcd's math.MaxUint32.
  if (cfg.max_concurrent_streams < static_cast<uint32_t>(INT32_MAX)) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               static_cast<int>(cfg.max_concurrent_streams));
  }
  builder.SetMaxSendMessageSize(INT32_MAX);
  for (auto& svc : services_) builder.RegisterService(svc.get());
  grpc_ = builder.BuildAndStart();
  // gRPC binds the ports it listens on itself (TLS) in the order they were added, the
  // peers' first, and stops at the first it cannot bind; that one is still port 0.
  if (absl::Status bound = transport_->check_bound(); !bound.ok()) {
    transport_->stop();
    return bound;
  }
  for (size_t i = 0; i < listeners.size(); ++i) {
    if (ports[i] == 0) {
      transport_->stop();
      return absl::UnavailableError("cannot listen for clients on " + listeners[i].address);
    }
  }
  if (grpc_ == nullptr) {
    transport_->stop();
    return absl::UnavailableError("cannot start the gRPC server of the client and peer ports");
  }
  methods.start();
  cq_loop_->start();
  client_port_ = ports.front();
  absl::StatusOr<int> peer_port = transport_->serve(*grpc_);
  if (!peer_port.ok()) return peer_port.status();  // ~Server stops the rest
  peer_port_ = *peer_port;
  if (!client_muxes_.empty()) {
    // The same answers as the metrics port's (guarded by nothing there either).
    client_http_ = HttpEndpoint::for_accepted(
        {.health = [this](bool verbose) { return verbose ? health_verbose() : health(); },
         .version = [this] { return version(); }});
    for (const std::unique_ptr<transport::PortMux>& m : client_muxes_) {
      // gRPC owns the socket from here, under the builder's channel arguments (keepalive,
      // ping floor, message sizes), as if its own listener had accepted it.
      m->start([g = grpc_.get()](int fd) { grpc::AddInsecureChannelFromFd(g, fd); },
               [h = client_http_.get()](int fd) { h->serve(fd); });
    }
  }
  return absl::OkStatus();
}

void Server::advertise_bound_client_port() {
  // A listener given port 0 got a free port from the kernel: an advertised URL derived
  // from it names that port, never 0 (which no client can dial).
  for (std::string& url : config_.advertise_client_urls) {
    absl::StatusOr<security::Url> parsed = security::parse_url(url, security::UrlUse::kListen);
    if (parsed.ok() && parsed->port == 0) {
      parsed->port = static_cast<uint16_t>(client_port_);
      url = parsed->text();
    }
  }
}

absl::Status Server::listen_metrics() {
  if (config_.node.metrics_address.empty()) return absl::OkStatus();
  cluster_view_ = std::make_unique<ClusterView>(
      config_.node.id.value(), [this] { return sm_->members(); }, std::chrono::milliseconds(1000),
      client_files_ != nullptr ? client_files_->channel_credentials() : nullptr);
  std::vector<Listener> listeners = config_.metrics_listeners;
  if (listeners.empty()) {
    listeners.push_back({config_.node.metrics_address, metrics_files_ != nullptr});
  }
  for (const Listener& l : listeners) {
    auto http = HttpEndpoint::start(
        l.address,
        {.health = [this](bool verbose) { return verbose ? health_verbose() : health(); },
         .version = [this] { return version(); },
         .metrics = [this] { return metrics(); },
         .status =
             [this] {
               return HttpResponse{.status = 200,
                                   .content_type = "application/json",
                                   .body = cluster_view_->status_json()};
             },
         .guard = [this](const HttpCaller& c) { return guard_metrics(c); }},
        HttpLimits{},
        l.tls ? HttpEndpoint::TlsContext([this] { return metrics_tls_context(); }) : nullptr);
    if (!http.ok()) return http.status();
    http_.push_back(*std::move(http));
  }
  metrics_port_ = http_.front()->port();
  return absl::OkStatus();
}

Server::~Server() { stop(); }

void Server::stop() {
  {
    node::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    wake_.signal();
  }
  // No new client connection; those not yet handed over are closed. (gRPC's shutdown
  // below closes the ones it took.)
  for (const std::unique_ptr<transport::PortMux>& m : client_muxes_) m->stop();
  if (client_http_ != nullptr) client_http_->stop();
  for (const std::unique_ptr<HttpEndpoint>& h : http_) h->stop();
  // The node first: requests waiting on it (the calls the completion queue serves among
  // them) fail at once with "server stopped"; then the watch streams end, so the gRPC
  // shutdown has nothing left to wait for, and the queue none left under way.
  if (node_ != nullptr) node_->stop();
  if (watch_ != nullptr) watch_->close_all();
  // The transport before the server's shutdown: it ends the peers' streams to this
  // member, which would otherwise hold the shutdown until its deadline, and its own
  // streams to the peers end through the queue, which still runs.
  if (transport_ != nullptr) transport_->stop();
  if (grpc_ != nullptr) {
    grpc_->Shutdown(std::chrono::system_clock::now() + Millis(1000));
  }
  if (housekeeping_.joinable()) housekeeping_.join();
  if (grpc_ != nullptr) grpc_->Wait();
  // Every call is answered by now (the node failed what waited on it): what is left on
  // the queue is gRPC's last word on each.
  if (blocking_ != nullptr) blocking_->stop();
  if (cq_loop_ != nullptr) cq_loop_->stop();
}

void Server::housekeeping_loop() {
  // etcd's lessor checks for expired leases every 500 ms; this loop every 200 ms.
  const auto period = std::chrono::milliseconds(200);
  bool published = false;
  bool authz_proposed = false;
  bool was_member = false;
  uint64_t rounds = 0, next_replaced_check = 0;
  node::MutexLock lock(&mu_);
  while (!stopping_) {
    wake_.wait_until(&mu_, std::chrono::steady_clock::now() + period);
    if (stopping_) return;
    mu_.unlock();
    if (!published) published = publish_attributes();
    if (!authz_proposed) authz_proposed = bootstrap_authz();
    check_removed(&was_member);
    // At most every 10 s: misaddressed messages keep coming while it lasts.
    if (misaddressed_.exchange(false) && rounds >= next_replaced_check) {
      next_replaced_check = rounds + 50;
      check_replaced();
    }
    if (client_files_ != nullptr) client_files_->check(/*force=*/false);
    if (peer_files_ != nullptr) peer_files_->check(/*force=*/false);
    if (metrics_files_ != nullptr) metrics_files_->check(/*force=*/false);
    revoke_expired_leases();
    auto_compact();
    if (++rounds % kTrimRounds == 0) release_free_memory();
    mu_.lock();
  }
}

// gperftools' C interface, present when the server is linked with tcmalloc_minimal
// (src/cmd/CMakeLists.txt) and null otherwise (tests, the library's users).
extern "C" void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));

void Server::release_free_memory() {
  if (MallocExtension_ReleaseFreeMemory != nullptr) {
    // tcmalloc returns free spans to the system a little at a time on its own; this gives
    // back the rest of what a burst left, as malloc_trim does below for glibc.
    MallocExtension_ReleaseFreeMemory();
    return;
  }
#ifdef __GLIBC__
  // glibc keeps what the process freed in its arenas (a burst of large requests, the
  // buffers of a snapshot) and gives it back only from the top of each heap; without
  // this, RSS stays at its peak long after a load has passed.
  malloc_trim(0);
#endif
}

bool Server::publish_attributes() {
  // Tell the cluster this member's name and client URLs (etcd publishes them the same
  // way); tried on every round until the write commits.
  in::Command c;
  in::MemberAttributes* a = c.mutable_member_attributes();
  a->set_id(config_.node.id.value());
  a->set_name(config_.node.name);
  for (const std::string& u : config_.advertise_client_urls) a->add_client_urls(u);
  for (const std::string& u : config_.advertise_peer_urls) a->add_peer_urls(u);
  return node_->client_write(c.SerializeAsString(), Millis(2000)).ok();
}

std::optional<HttpResponse> Server::guard_metrics(const HttpCaller& caller) {
  if (!config_.metrics_require_auth || !sm_->auth_enabled()) return std::nullopt;
  auto answer = [](int status, const std::string& why) {
    return HttpResponse{.status = status, .content_type = "text/plain", .body = why + "\n"};
  };
  Identity who;
  if (caller.has_basic) {
    std::string hash;
    bool known = false;
    sm_->read_auth([&](const security::AuthStore& a) {
      const security::User* u = a.user(caller.user);
      known = u != nullptr && !u->no_password;
      if (known) hash = u->password_hash;
    });
    // bcrypt outside the auth lock, as Authenticate does.
    if (!known || !security::check_password(caller.password, hash)) {
      return answer(401, "etcdserver: authentication failed, invalid user ID or password");
    }
    who = Identity{.user = caller.user, .auth_revision = sm_->auth_revision()};
  } else if (!caller.certificate_user.empty()) {
    who = Identity{.user = caller.certificate_user, .auth_revision = sm_->auth_revision()};
  } else {
    return answer(401,
                  "etcdserver: user name is empty (--metrics-require-auth: send HTTP Basic "
                  "credentials or a client certificate)");
  }
  if (absl::Status s = sm_->authorize(who, "view_metrics"); !s.ok()) {
    return answer(403, to_grpc(s).error_message());
  }
  return std::nullopt;
}

bool Server::bootstrap_authz() {
  if (!config_.authz_files.has_value()) return true;
  const ServerConfig::AuthzFiles& f = *config_.authz_files;
  in::Command c;
  raftkv::admin::Authz* a = c.mutable_bootstrap_authz();
  a->set_model(f.model);
  a->set_model_name(f.model_name);
  a->set_policy(f.policy);
  a->set_policy_name(f.policy_name);
  c.set_member_write(true);
  return node_->client_write(c.SerializeAsString(), Millis(2000)).ok();
}

void Server::check_removed(bool* was_member) {
  // A member that the applied configuration no longer names was removed: it must stop
  // serving (etcd's removed members exit). A joining node is not a member yet.
  const raft::Membership m = sm_->membership();
  if (m.contains(config_.node.id)) {
    *was_member = true;
  } else if (*was_member && !m.voters.empty()) {
    removed("this member is not in the applied configuration");
  }
}

void Server::check_replaced() {
  // Peers sent this member messages for another id. If the cluster lists another member
  // at this member's peer URL and not this one, this data directory belongs to a member
  // that was removed (its URL given to a new member by MemberAdd): stop, as a removed
  // member does, instead of idling beside the cluster. Anything less certain (no peer
  // answers, this member still listed) changes nothing.
  if (config_.advertise_peer_urls.empty()) return;
  const std::string& self_url = config_.advertise_peer_urls.front();
  std::vector<std::string> peers;
  for (const in::MemberAttributes& m : sm_->known_members()) {
    if (m.id() == config_.node.id.value()) continue;
    for (const std::string& u : m.peer_urls()) {
      if (u != self_url) peers.push_back(u);
    }
  }
  absl::StatusOr<ClusterInfo> info = fetch_cluster_info(
      peers, self_url, peer_files_ != nullptr ? peer_files_->channel_credentials() : nullptr,
      std::chrono::seconds(1));
  if (!info.ok() || info->identity.cluster_id != config_.cluster_id) return;
  const bool listed =
      std::any_of(info->members.begin(), info->members.end(),
                  [&](const PeerMember& m) { return m.id == config_.node.id.value(); });
  if (listed || info->identity.member_id == config_.node.id.value()) return;
  removed("the cluster gave this member's peer URL " + self_url + " to member " +
          raftlog::hex_id(info->identity.member_id) + "; this data directory's member " +
          raftlog::hex_id(config_.node.id.value()) + " was removed");
}

void Server::revoke_expired_leases() {
  // Only the leader expires leases, and it does so through the log (a revoke), so every
  // replica deletes the same keys at the same revision.
  // The revoke goes into this member's log in the term the expiry was decided in, or
  // nowhere: a leader paused past its leases' deadlines wakes up believing it leads, and
  // its revoke, forwarded to the leader that has renewed them since, would delete keys
  // whose lease is alive (etcd 3.4's bug #15247).
  const raft::Term term = node_->term();
  if (!node_->is_leader()) return;
  for (int64_t id : sm_->expired_leases(term)) {
    in::Command c;
    c.mutable_lease_revoke()->set_id(id);
    c.set_member_write(true);
    if (!node_->leader_write(c.SerializeAsString(), term, config_.request_timeout).ok()) return;
  }
}

void Server::auto_compact() {
  const std::optional<int64_t> target =
      compactor_->due(AutoCompactor::Clock::now(), sm_->revision(), node_->is_leader());
  if (!target.has_value()) return;
  // Through the log as a client's Compact, but the member's own (no user, no limiter).
  in::Command c;
  c.mutable_compaction()->set_revision(*target);
  c.set_member_write(true);
  const absl::StatusOr<std::string> r =
      node_->client_write(c.SerializeAsString(), config_.request_timeout);
  in::Result result;
  std::string why;
  if (!r.ok()) {
    why = std::string(r.status().message());
  } else if (!result.ParseFromString(*r)) {
    why = "unreadable apply result";
  } else if (result.code() != 0 &&
             result.code() != static_cast<int>(grpc::StatusCode::OUT_OF_RANGE)) {
    why = result.message();  // OUT_OF_RANGE: already compacted there, which is as good
  }
  const bool ok = why.empty();
  compactor_->finished(AutoCompactor::Clock::now(), *target, ok);
  if (ok) {
    raftlog::info("server", "auto compaction", {{"revision", std::to_string(*target)}});
  } else {
    raftlog::warn("server", "auto compaction failed; will try again",
                  {{"revision", std::to_string(*target)}, {"error", why}});
  }
}

HttpResponse Server::health() {
  std::string reason;
  if (node_->leader() == raft::NodeId()) {
    reason = "RAFT NO LEADER";
  } else if (sm_->alarmed()) {
    reason = "ALARM NOSPACE";
  } else if (absl::Status s = node_->linearizable_read(Millis(1000)); !s.ok()) {
    reason = std::string(s.message());
  }
  const bool ok = reason.empty();
  (ok ? health_success_ : health_failures_)->inc();
  return {ok ? 200 : 503, "application/json",
          std::string("{\"health\":\"") + (ok ? "true" : "false") + "\",\"reason\":\"" + reason +
              "\"}"};
}

HttpResponse Server::version() {
  return {200, "application/json",
          "{\"etcdserver\":\"" + std::string(kEtcdServerVersion) + "\",\"etcdcluster\":\"" +
              std::string(kEtcdClusterVersion) + "\",\"raftkv\":\"" +
              std::string(raftkv::kVersion) + "\",\"raftkvcommit\":\"" +
              std::string(raftkv::git_commit()) + "\"}"};
}

HttpResponse Server::metrics() {
  return {200, "text/plain; version=0.0.4; charset=utf-8", registry_.render()};
}

HttpResponse Server::health_verbose() {
  const metrics::HealthScore h = health_->evaluate();
  std::string reasons;
  for (const metrics::HealthReason& r : h.reasons) {
    if (!reasons.empty()) reasons += ",";
    reasons += "{\"input\":" + raftlog::json_string(r.input) +
               ",\"detail\":" + raftlog::json_string(r.detail) +
               ",\"threshold\":" + raftlog::json_string(r.threshold) +
               ",\"penalty\":" + std::to_string(r.penalty) + "}";
  }
  const HttpResponse plain = health();
  // etcd's two fields first, so a client that reads only those still can.
  std::string body = plain.body;
  body.pop_back();  // the closing brace
  body += ",\"id\":\"" + hex16(config_.node.id.value()) +
          "\",\"name\":" + raftlog::json_string(config_.node.name) +
          ",\"score\":" + std::to_string(h.score) + ",\"reasons\":[" + reasons + "]}";
  return {plain.status, "application/json", body};
}

void Server::removed(const std::string& why) {
  if (removed_told_.exchange(true)) return;
  raftlog::warn("server", "this member was removed from the cluster; stopping", {{"reason", why}});
  if (config_.on_removed) config_.on_removed();
}

}  // namespace server
