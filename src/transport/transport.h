// How a node reaches its peers: Raft messages (fire and forget: Raft retries what is
// lost), snapshots with their bytes, and client requests a follower forwards to the
// leader. An interface, so that gRPC, an in-process transport or a simulator plug in.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/message.h"

namespace transport {

// What a forwarded request asks the leader to do.
enum class ForwardKind : uint32_t {
  kWrite = 0,       // propose the payload through the log; answer with the apply result
  kLeaderCall = 1,  // a leader-only operation outside the log (e.g. a lease keep-alive)
};

// The message of forward()'s error when the peer could not be reached: the request was
// not delivered, so it is safe to retry.
inline constexpr char kPeerUnreachable[] = "etcdserver: leader unreachable";

// The receiving side: the node. Called on transport threads, concurrently.
class Handler {
 public:
  virtual ~Handler() = default;
  // A Raft message from a peer. For InstallSnapshot, `snapshot` holds the snapshot's
  // bytes, received completely; otherwise it is empty.
  virtual void on_message(raft::Message message, std::string snapshot) = 0;
  // A client write a follower forwarded on its stream (see Transport::propose).
  virtual void on_proposal(raft::NodeId from, std::string entry) = 0;
  // The leader refused a proposal this node forwarded: `request` is in no log.
  virtual void on_refusal(uint64_t request, std::string message) = 0;
  // A request a follower forwarded; blocks until it is answered or `timeout` passes.
  virtual absl::StatusOr<std::string> on_forward(ForwardKind kind, std::string payload,
                                                 std::chrono::milliseconds timeout) = 0;
  // Whether `peer` was removed from the cluster (this node applied its removal): its
  // stream is then closed with kRemovedMessage, as etcd's peers answer a removed member.
  virtual bool is_removed(raft::NodeId peer) {
    (void)peer;
    return false;
  }
  // A peer closed this node's stream because this node was removed from the cluster.
  virtual void on_removed(std::string message) { (void)message; }
};

// How a peer's stream refusal says "you were removed" (the gRPC status message starts so).
inline constexpr char kRemovedMessage[] = "raftkv: the member has been permanently removed";

class Transport {
 public:
  virtual ~Transport() = default;
  // Where a peer listens ("host:port"); replaces an earlier address.
  virtual void set_peer(raft::NodeId id, const std::string& address) = 0;
  virtual void remove_peer(raft::NodeId id) = 0;
  // Queues messages for their recipients and returns at once. A peer that is slow or
  // down never blocks the caller: beyond a bounded queue its messages are dropped.
  virtual void send(std::vector<raft::Message> messages) = 0;
  // Sends an InstallSnapshot message after streaming `data` to its recipient in chunks.
  virtual void send_snapshot(raft::Message message, std::shared_ptr<const std::string> data) = 0;
  // Queues a client write for the leader `to`, on the same stream as Raft messages, and
  // returns at once. `entry` is the whole entry data, header included.
  virtual void propose(raft::NodeId to, std::string entry) = 0;
  // Tells follower `to` that its forwarded `request` was refused.
  virtual void refuse(raft::NodeId to, uint64_t request, std::string message) = 0;
  // Hands a request to peer `to` (the leader) and waits for its answer.
  virtual absl::StatusOr<std::string> forward(raft::NodeId to, ForwardKind kind,
                                              std::string payload,
                                              std::chrono::milliseconds timeout) = 0;
};

}  // namespace transport
