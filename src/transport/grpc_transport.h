/// @file
/// The gRPC transport: one long-lived client stream per peer (batched frames, a bounded
/// queue, reconnection with backoff), a Peer service that receives them, snapshot bytes
/// in chunks before their InstallSnapshot message, and unary forwarding to the leader.
/// Everything runs on gRPC's completion-queue API, on one thread that takes the queue's
/// completions and polls the connections (completion_queue_loop.h): the transport's own,
/// or a host's whose server serves the peer ports beside its client ports (prepare()).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "metrics/registry.h"
#include "transport/transport.h"

namespace grpc {
class Server;
class ServerBuilder;
class ServerCredentials;
class ChannelCredentials;
class ServerContextBase;
}  // namespace grpc

namespace raftlog {
class Throttle;  // log/throttle.h (internal)
}  // namespace raftlog

namespace raftkv::peer {
class PeerFrame;
}  // namespace raftkv::peer

namespace transport {

class CompletionQueueLoop;  // completion_queue_loop.h
class PeerLanes;            // peer_lanes.h (internal)
class PortMux;              // port_mux.h

/// How a GrpcTransport listens and dials. Only `self` and `listen_address` are needed;
/// the rest have working defaults (plaintext, no peer authorization).
struct GrpcTransportOptions {
  raft::NodeId self;           ///< this node
  uint64_t cluster_id = 0;     ///< frames from another cluster are refused
  std::string listen_address;  ///< host:port of the peer listener
  /// Every address to listen on, with whether it speaks TLS (server_credentials); the
  /// first is this node's own. Empty: listen_address alone, with TLS when
  /// server_credentials is set.
  std::vector<std::pair<std::string, bool>> listeners = {};
  size_t max_queue_messages = 4096;            ///< per peer; beyond it messages are dropped
  uint64_t max_queue_bytes = 64ull << 20;      ///< per peer
  uint64_t max_frame_bytes = 4ull << 20;       ///< messages per frame stop at this size
  uint64_t snapshot_chunk_bytes = 1ull << 20;  ///< a snapshot is streamed in pieces this big
  uint64_t max_message_bytes = 64ull << 20;    ///< gRPC receive limit on the peer listener
  /// Raft messages to and from plaintext peers on peer lanes (peer_lanes.h), TCP
  /// connections of their own, instead of the gRPC streams: no hand-off to gRPC's threads
  /// on either side. The plaintext peer listeners then accept both (a PortMux sorts the
  /// connections). Peers reached over TLS, and every other frame, keep the gRPC streams.
  bool peer_lanes = true;
  /// TLS on the peer port: the listener's credentials (null: plaintext), and those this
  /// node dials https:// peers with (null: the system's roots, no certificate of its own).
  ///@{
  std::shared_ptr<grpc::ServerCredentials> server_credentials = nullptr;
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials = nullptr;
  ///@}
  /// Set where peers must present a certificate: whether the one a peer presented (PEM)
  /// may speak for member `claimed`; an error says why not. Checked on a stream's first
  /// frame and on every forwarded request. Null: a sender is taken at its word.
  std::function<absl::Status(raft::NodeId claimed, std::string_view cert_pem)> authorize = nullptr;
  /// The answer to a ClusterInfo call (the cluster's id and members, serialized by the
  /// server); null: such calls are answered UNIMPLEMENTED. Any thread.
  std::function<std::string()> cluster_info = nullptr;
  /// Called (from a receiving thread; it must not block) when a peer sends this node
  /// messages addressed to another member id: the cluster may have given this node's URL
  /// to a new member, which happens when this node was removed. Null: only logged.
  std::function<void(raft::NodeId sender)> on_misaddressed = nullptr;
  /// gRPC's own pauses before it redials a peer it could not reach (its reconnect backoff:
  /// the first, and the most it grows to). The sender does not depend on it: a stream that never
  /// carried a frame gets a fresh channel, which dials at once, paced by the sender's own backoff
  /// (50 ms doubling to 1 s). gRPC's retry timer can stall: Debian's abseil (20220623)
  /// times gRPC's waits by the wall clock, so a wall clock stepped back holds every gRPC
  /// timer back by the step (docs/verification.md, section 7).
  ///@{
  std::chrono::milliseconds grpc_initial_reconnect_backoff{100};
  std::chrono::milliseconds grpc_max_reconnect_backoff{1000};
  ///@}
  /// Where the per-peer byte and failure counters go (etcd's etcd_network_peer_*); null:
  /// a registry of the transport's own.
  metrics::Registry* registry = nullptr;
};

/// Counters for metrics and tests.
struct TransportStats {
  uint64_t sent = 0;                ///< messages written to a stream
  uint64_t dropped = 0;             ///< messages dropped: queue full, or no stream
  uint64_t received = 0;            ///< messages delivered to the handler
  uint64_t refused = 0;             ///< frames or messages refused (wrong cluster, bad form)
  uint64_t reconnects = 0;          ///< streams (re)opened
  uint64_t snapshots_sent = 0;      ///< snapshots streamed to followers in full
  uint64_t snapshots_received = 0;  ///< snapshots received in full
  uint64_t lane_sent = 0;           ///< of `sent`, the messages written on peer lanes
};

/// The peer transport over gRPC. Construct it, set_peer() every other member, start() it
/// with the node as handler (after RaftNode::open(), before RaftNode::start()); stop it
/// after RaftNode::stop(). Nothing is sent before start(): what is sent meanwhile waits
/// in the peers' queues.
class GrpcTransport : public Transport {
 public:
  /// Nothing listens until start().
  explicit GrpcTransport(GrpcTransportOptions options);
  ~GrpcTransport() override;

  /// Starts the peer listeners on a gRPC server and a completion-queue thread of the
  /// transport's own; `handler` receives what arrives. Fails (naming the address) when an
  /// address cannot be bound. Returns the first listener's port.
  absl::StatusOr<int> start(Handler* handler);
  /// Or serves the peer listeners on a host's gRPC server, whose completion queue `loop`
  /// takes (one polling thread for the whole process: docs/benchmarks.md, "The eleventh
  /// cut"). prepare() before the host builds its server: binds the plaintext listeners,
  /// adds the TLS ones to `builder` (marking options.server_credentials as a peer port's,
  /// port_role.h) and registers the Peer service, which answers calls that came in on no
  /// peer port UNIMPLEMENTED. The host's builder must accept messages of
  /// options.max_message_bytes and pings every kPeerMinPingIntervalMs. The host stops the
  /// transport, then shuts its server down, then stops the loop, and only then destroys
  /// the transport.
  absl::Status prepare(Handler* handler, grpc::ServerBuilder& builder, CompletionQueueLoop& loop);
  /// After prepare(), once the host has built its server (whether or not it started): an
  /// error naming the first peer listener that is not bound, if any.
  absl::Status check_bound() const;
  /// After prepare(), once the host's server has started and its loop runs: listens.
  /// Returns the first listener's port.
  absl::StatusOr<int> serve(grpc::Server& server);
  /// Stops the listeners and every sender; queued messages are dropped.
  void stop();

  /// Peers ping their streams every 2 s: a server serving peer ports accepts pings this
  /// often.
  static constexpr int kPeerMinPingIntervalMs = 1000;

  void set_peer(raft::NodeId id, const std::string& address) override;
  void remove_peer(raft::NodeId id) override;
  void send(std::vector<raft::Message> messages) override;
  void send_snapshot(raft::Message message, std::shared_ptr<const SnapshotSource> data) override;
  void propose(raft::NodeId to, std::string entry) override;
  void refuse(raft::NodeId to, uint64_t request, const absl::Status& why) override;
  void forward(raft::NodeId to, std::string payload, std::chrono::milliseconds timeout,
               ForwardCallback done) override;

  /// The counters so far. Any thread.
  TransportStats stats() const;
  /// Messages waiting in the per-peer send queues, summed. Any thread.
  size_t queued_messages() const;

 private:
  class PeerService;
  class Sender;
  class OutgoingForward;
  // What arrives on a peer lane: checked and delivered as a stream's frames are.
  bool lane_frame(raftkv::peer::PeerFrame& frame, uint64_t* sender);
  // Sends what it can on peer lanes; returns the rest (no lane up to their peer).
  std::vector<raft::Message> send_on_lanes(std::vector<raft::Message> messages);

  GrpcTransportOptions options_;
  std::unique_ptr<metrics::Registry> own_registry_;
  metrics::Family<metrics::Counter>& sent_bytes_;      // {To}
  metrics::Family<metrics::Counter>& received_bytes_;  // {From}
  metrics::Family<metrics::Counter>& sent_failures_;   // {To}
  metrics::Counter& lane_sent_messages_;
  Handler* handler_ = nullptr;
  std::unique_ptr<PeerService> service_;
  std::unique_ptr<CompletionQueueLoop> own_loop_;        // start()'s
  std::unique_ptr<grpc::Server> own_server_;             // start()'s
  CompletionQueueLoop* loop_ = nullptr;                  // the one calls go on (own or the host's)
  grpc::Server* server_ = nullptr;                       // the one serving (own or the host's)
  bool shared_ = false;                                  // the host's server (prepare() alone)
  std::vector<std::pair<std::string, bool>> listeners_;  // address, TLS
  std::vector<int> ports_;                               // theirs, once bound
  std::unique_ptr<PeerLanes> lanes_;                     // null without options_.peer_lanes
  std::vector<std::unique_ptr<PortMux>> muxes_;          // the plaintext listeners, with lanes
  std::map<uint64_t, metrics::Counter*> lane_received_;  // the lanes' thread's: by sender
  mutable std::mutex mu_;
  std::map<raft::NodeId, std::unique_ptr<Sender>> senders_;  // guarded by mu_
  std::set<OutgoingForward*> forwards_;                      // guarded by mu_
  std::condition_variable forwards_done_;                    // forwards_ emptied
  std::set<grpc::ServerContextBase*> incoming_;              // peers' streams; guarded by mu_
  std::atomic<bool> started_{false};  // streams to peers open only once the server runs
  std::atomic<bool> stopped_{false};
  // Refused peers are logged once per peer, reason and 10 s: a misconfigured or removed
  // member retries many times a second.
  const std::unique_ptr<raftlog::Throttle> refusal_log_;  // never null

  // A stream from `id` opened: our stream to it retries now if it is down.
  void peer_is_up(raft::NodeId id);
  // The redial thread: reopens the streams whose backoff has passed (on the steady clock,
  // not gRPC's timers), and tells the node of a removal a peer reported.
  void retry_loop();
  void wake_retry();  // a stream ended or its address changed
  std::mutex retry_mu_;
  std::condition_variable retry_cv_;
  bool retry_wake_ = false;  // guarded by retry_mu_
  bool retry_stop_ = false;  // guarded by retry_mu_
  std::thread retrier_;

  friend class PeerService;
  friend class Sender;
  std::atomic<uint64_t> sent_{0}, dropped_{0}, received_{0}, refused_{0}, reconnects_{0},
      snapshots_sent_{0}, snapshots_received_{0}, lane_sent_{0};
};

}  // namespace transport
