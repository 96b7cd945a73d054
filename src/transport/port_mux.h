// A plaintext port shared by several protocols, as etcd's cmux shares its ports: raftkv
// binds and accepts itself, looks at each connection's first bytes without consuming them
// (MSG_PEEK), and hands the socket over whole. HTTP/2's client preface goes to gRPC
// (grpc::AddInsecureChannelFromFd: gRPC reads the preface again and owns the connection
// from then on, under the server's channel arguments; no byte passes through raftkv).
// On the client port anything else is HTTP/1.x, for the HttpEndpoint that answers /health
// and /version; on the peer port a peer lane's preface goes to the transport's lanes
// (grpc_transport.h) and anything else is closed.
//
// gRPC 1.51 (Debian bookworm) takes an accepted socket only without TLS
// (grpc_server_add_channel_from_fd refuses other credentials), so a TLS port stays
// gRPC's own listener and speaks gRPC alone.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace transport {

// What a connection speaks, as far as its first bytes tell.
enum class Protocol {
  kUndecided,  // a proper prefix of HTTP/2's client preface so far: wait for more
  kHttp2,      // HTTP/2's whole client preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
  kHttp1,      // anything departing from both prefaces (an HTTP/1.x request line)
  kPeerLane,   // kPeerLanePreface whole (where no lane is taken: kHttp1)
};
Protocol classify(std::string_view first_bytes);
inline constexpr std::string_view kHttp2Preface{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"};
/// How a peer lane opens (grpc_transport.h): Raft messages from a peer, length-prefixed
/// frames on a TCP connection of their own.
inline constexpr std::string_view kPeerLanePreface{"RAFTKV-PEER-LANE/1\r\n"};

struct PortMuxLimits {
  // A connection that has not told what it speaks within this is closed (gRPC clients send
  // the preface at once; an HTTP client its request line).
  std::chrono::milliseconds first_bytes_timeout{10000};
  // Connections waiting for their first bytes; at the bound, accepting pauses (the kernel's
  // backlog holds the rest) until one is decided or dropped.
  size_t max_undecided = 1024;
};

class PortMux {
 public:
  // Takes ownership of a connected socket: the gRPC one non-blocking, the HTTP/1 one
  // blocking; neither has had a byte consumed.
  using Handoff = std::function<void(int fd)>;

  // Binds and listens on `address` ("host:port", "[v6]:port"; port 0 picks a free one;
  // every address the host resolves to, on one port). An error names the address, what
  // it is for (`role`: "client" or "peer") and why (taken, unresolvable). Accepts nothing
  // until start().
  static absl::StatusOr<std::unique_ptr<PortMux>> bind(const std::string& address,
                                                       PortMuxLimits limits = {},
                                                       std::string_view role = "client");
  ~PortMux();
  // Starts the thread that accepts and sorts the connections. Once. Without `lane`, a
  // lane's preface is HTTP/1's like any other bytes; `lane` gets its socket non-blocking.
  void start(Handoff grpc, Handoff http1, Handoff lane = nullptr);
  // Stops accepting, closes the listening sockets and every connection not handed over
  // yet, and joins the thread. Connections handed over are their new owner's to close.
  // Idempotent; any thread but the mux's own.
  void stop();
  int port() const { return port_; }

 private:
  struct Pending {
    int fd;
    std::string peer;  // "ipv4:1.2.3.4:5" as gRPC names peers
    std::chrono::steady_clock::time_point deadline;
    // A preface that arrives in pieces leaves bytes unread, which poll() reports at once:
    // such a connection is looked at again at this time, not polled (no busy loop).
    std::chrono::steady_clock::time_point recheck;
  };
  PortMux() = default;
  void loop();
  void accept_ready(std::chrono::steady_clock::time_point now);
  // Peeks at `p`; true when it was handed over or closed (so it leaves the pending list).
  bool sort(Pending& p, std::chrono::steady_clock::time_point now);

  PortMuxLimits limits_;
  std::vector<int> listeners_;  // non-blocking listening sockets
  int wake_ = -1;               // an eventfd stop() writes
  int port_ = 0;
  Handoff grpc_, http1_, lane_;
  std::string role_;              // "client" or "peer", for messages
  std::vector<Pending> pending_;  // the mux thread's alone
  std::chrono::steady_clock::time_point accept_paused_until_{};
  std::thread thread_;
};

// gRPC names a connection it was handed as a descriptor "fd:N", not by its address. This
// gives back the address the PortMux accepted descriptor N from (in gRPC's own form,
// "ipv4:127.0.0.1:5000"), so that limits and logs still key clients by address; other
// peer strings come back unchanged. Valid while the connection is open (a later
// connection may reuse the descriptor, and then its address replaces the old one).
std::string peer_address(std::string_view grpc_peer);

// The role ("client" or "peer") of the port a PortMux accepted the connection gRPC names
// `grpc_peer` ("fd:N") from; empty for a connection no PortMux handed over (gRPC's own
// listeners name theirs by address). Valid while the connection is open, as above.
std::string_view handed_over_from(std::string_view grpc_peer);

}  // namespace transport
