// Peer lanes: Raft messages between plaintext peers on TCP connections of their own, beside
// the gRPC streams (grpc_transport.h), which keep everything else (snapshots, forwarded
// proposals and requests, refusals, hellos). A lane is a connection from a member to a
// peer's peer port that opens with kPeerLanePreface (the port's PortMux hands it here) and
// carries length-prefixed PeerFrames: a little-endian uint32 length, then the frame. Its
// first frame is a hello (cluster id and sender, no messages), which the peer checks as it
// checks a stream's first frame: it answers kPeerLaneAccepted, or closes the connection.
// Only an accepted lane carries anything, so nothing is lost on a lane refused (a member
// not yet in the peer's configuration, say), and forwarded proposals and refusals go on
// lanes too.
//
// Why: on gRPC a message costs a hand-off to gRPC's threads on each side and its own
// writes and wake-ups; on a lane the thread that makes a message (the core thread; a
// follower's receiving thread for its acknowledgement) writes it to the socket itself, and
// one thread of the receiver reads, steps and (on a follower) persists and acknowledges
// it, with no hand-off (docs/benchmarks.md, "The fifth cut").
//
// One thread ("raftkv-lanes") owns an epoll set of every lane, both ways: it dials (with
// a backoff of 50 ms doubling to 1 s; a lane not accepted within connect_timeout is given
// up and dialled again), finishes what a sender could not write at once, and reads and
// hands over what arrives. Every lane's socket gives up on a peer that acknowledges
// nothing for user_timeout (TCP_USER_TIMEOUT, with keepalive probes after 2 s idle), so a
// lane into a partition closes and is dialled again, rather than waiting for TCP's own
// retransmissions (minutes) once the partition heals. A sender writes on its own thread, without
// blocking: what the socket does not take waits in the lane's buffer (bounded: beyond it
// messages are dropped, and Raft sends them again). Until a lane is up, and whenever it
// is not, its messages go on the gRPC stream.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "raft/types.h"
#include "raftkv/peer.pb.h"

namespace transport {

/// What a peer writes on a lane it accepts, once; it writes nothing else.
inline constexpr std::string_view kPeerLaneAccepted{"OK\n"};

struct PeerLaneOptions {
  uint64_t cluster_id = 0;
  raft::NodeId self;
  uint64_t max_buffer_bytes = 64ull << 20;  // per lane, unwritten; beyond it frames are dropped
  uint64_t max_frame_bytes = 64ull << 20;   // a longer frame received closes its lane
  uint64_t max_hello_bytes = 64ull << 10;   // the first frame of a lane, before it is accepted
  // From a dial to the peer's acceptance, at most (etcd's peer dial timeout is 1 s plus an
  // election timeout).
  std::chrono::milliseconds connect_timeout{2000};
  // Data unacknowledged this long closes a lane (etcd's peer write timeout is 5 s).
  std::chrono::milliseconds user_timeout{5000};
};

// What the transport does with a lane's traffic.
struct PeerLaneHooks {
  // A frame on an accepted connection. `*sender` is 0 until a frame was accepted (then
  // the hook sets it); false refuses the frame and closes the lane (the hook has said why).
  std::function<bool(raftkv::peer::PeerFrame& frame, uint64_t* sender)> on_frame;
  // An accepted lane from `sender` broke or was closed by its sender (not refused here).
  // On the lanes' thread.
  std::function<void(uint64_t sender)> on_closed;
};

// `bytes` of a frame carrying `messages` messages were taken for one peer (set_peer). On
// the sender's thread, under the lane's lock: it must not call PeerLanes.
using PeerLaneSent = std::function<void(uint64_t bytes, uint64_t messages)>;
// Frames taken for one peer were lost: dropped at the buffer's bound (once per frame), or
// left unwritten when the lane broke (once per break). Under the lane's lock, on any
// thread: it must not call PeerLanes.
using PeerLaneFailed = std::function<void()>;

class PeerLanes {
 public:
  PeerLanes(PeerLaneOptions options, PeerLaneHooks hooks);
  ~PeerLanes();  // stop(), then the descriptors go

  // Starts the lanes' thread. An error says why (no epoll or eventfd).
  absl::Status start();
  // Stops the thread and closes every lane, both ways. Idempotent. Calls after it do
  // nothing (send() returns false).
  void stop();

  // A connection the peer port sorted as a lane (its preface unread), non-blocking: ours.
  // Any thread.
  void adopt(int fd);
  // Where `peer`'s peer port is ("host:port"); dialled from now on. `sent` counts what is
  // taken for it, `failed` what of it was lost. Any thread.
  void set_peer(raft::NodeId peer, const std::string& host_port, PeerLaneSent sent,
                PeerLaneFailed failed = nullptr);
  // No lane to `peer` any more (removed, or its address needs TLS). Any thread.
  void remove_peer(raft::NodeId peer);
  // `peer` is up (it opened a stream or lane to us): a lane down is dialled at once.
  void kick(raft::NodeId peer);

  // Writes `frame` (to `peer`, carrying `messages` messages; cluster id and sender set
  // here) on the lane to `peer` if it is up, without blocking: true. False when no lane
  // is up: the caller sends them another way. A frame the lane's buffer cannot take is
  // dropped (true, and counted in dropped()).
  bool send(raft::NodeId peer, raftkv::peer::PeerFrame& frame, uint64_t messages);

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Out;
  struct In;
  using Clock = std::chrono::steady_clock;

  // The lane to `peer`, or null.
  std::shared_ptr<Out> find(raft::NodeId peer) const;
  void loop();
  void wake();
  // Dials `out` if it is down and due (takes its lock; resolves the name without it).
  void dial(Out& out, Clock::time_point now);
  void on_out_event(Out& out, uint32_t events);
  void on_in_event(In& in, uint32_t events);
  // Under out.mu: closes the lane (it is dialled again after the backoff). With `lost`,
  // frames left in an up lane's buffer count as failed.
  void fail_locked(Out& out, const std::string& why, bool lost = true);
  // Under out.mu: writes what the buffer holds; false when the connection failed. `lost`
  // as fail_locked's.
  bool flush_locked(Out& out, bool lost = true);
  // TCP keepalive and user timeout on a lane's socket.
  void set_timeouts(int fd) const;
  void close_in(In& in, bool refused);

  const PeerLaneOptions options_;
  const PeerLaneHooks hooks_;
  int epoll_ = -1;
  int wake_ = -1;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
  std::atomic<uint64_t> dropped_{0};

  mutable std::mutex mu_;
  // Every lane by its epoll token; lanes to peers also by peer. Guarded by mu_.
  std::map<raft::NodeId, std::shared_ptr<Out>> outs_;
  std::map<uint64_t, std::shared_ptr<Out>> out_tokens_;
  std::map<uint64_t, std::shared_ptr<In>> ins_;
  uint64_t next_token_ = 1;
};

}  // namespace transport
