/// @file
/// How a node reaches its peers: Raft messages (fire and forget: Raft retries what is
/// lost), snapshots with their bytes, and client requests a follower forwards to the
/// leader. An interface, so that gRPC, an in-process transport or a simulator plug in.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "raft/message.h"

namespace transport {

/// Forwarded requests are answered through a callback, exactly once, on a transport
/// thread; the callback must not block.
using ForwardCallback = std::function<void(absl::StatusOr<std::string>)>;

/// A request that never reached the peer (no address, no connection): safe to retry.
/// Carried as a typed payload, so callers test is_unreachable(), never the text.
absl::Status unreachable_error(std::string_view detail);
/// Whether `status` is an unreachable_error().
bool is_unreachable(const absl::Status& status);

/// A snapshot's bytes as the transport sends them, read a piece at a time: a snapshot on
/// disk is streamed from its file, never held whole in memory to be sent.
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  /// The snapshot's length in bytes.
  virtual uint64_t size() const = 0;
  /// Reads `n` bytes at `offset` into `*out`. An error stops the transfer (the core
  /// sends the snapshot again later).
  virtual absl::Status read(uint64_t offset, uint64_t n, std::string* out) const = 0;
  /// The bytes it holds in memory (a file holds none).
  virtual uint64_t bytes_in_memory() const = 0;
};

/// Bytes in memory, as a source.
std::shared_ptr<const SnapshotSource> memory_snapshot(std::shared_ptr<const std::string> bytes);
/// All of a source's bytes at once (the in-process transport, tests).
absl::StatusOr<std::string> read_all(const SnapshotSource& source);

/// Where a snapshot's bytes go as they arrive, chunk by chunk (Handler::receive_snapshot):
/// the node writes them to a file, so that no member holds a snapshot whole to receive
/// it. One transport thread at a time; destroyed without finish(), it drops the bytes.
class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  /// The next bytes, in order. An error drops the snapshot (the leader sends it again).
  virtual absl::Status write(std::string_view bytes) = 0;
  /// Every byte is written: the snapshot, to read back. Once.
  virtual absl::StatusOr<std::shared_ptr<const SnapshotSource>> finish() = 0;
};

/// A sink that keeps the bytes in memory (the default for handlers with nowhere else).
std::unique_ptr<SnapshotSink> memory_sink();

/// Whether the calling thread must not block: it polls the network for the whole process
/// (a CompletionQueueLoop's, completion_queue_loop.h), and an fsync there would hold every
/// connection's traffic. A handler that may block on its caller's thread (RaftNode's
/// step_on_receiving_thread) hands its work to a thread of its own instead.
bool must_not_block();
/// Marks the calling thread as one that must not block, for its life.
void mark_must_not_block();

/// The receiving side: the node. Called on transport threads, concurrently.
class Handler {
 public:
  virtual ~Handler() = default;
  /// A snapshot of `index` from `from` starts arriving, `size` bytes as the sender says:
  /// where its bytes go until its InstallSnapshot message arrives. An error drops it.
  /// The default keeps them in memory; RaftNode writes them to its data directory.
  virtual absl::StatusOr<std::unique_ptr<SnapshotSink>> receive_snapshot(raft::NodeId from,
                                                                         uint64_t index,
                                                                         uint64_t size) {
    (void)from;
    (void)index;
    (void)size;
    return memory_sink();
  }
  /// A Raft message from a peer. For InstallSnapshot, `snapshot` holds the snapshot's
  /// bytes, received completely (what receive_snapshot's sink returned); otherwise null.
  virtual void on_message(raft::Message message,
                          std::shared_ptr<const SnapshotSource> snapshot) = 0;
  /// A client write a follower forwarded on its stream (see Transport::propose).
  virtual void on_proposal(raft::NodeId from, std::string entry) = 0;
  /// The leader refused a proposal this node forwarded: `request` is in no log. `why`
  /// is the leader's status, payloads included.
  virtual void on_refusal(uint64_t request, absl::Status why) = 0;
  /// A request member `from` forwarded; `done` answers it, exactly once, within
  /// `timeout`. Must not block.
  virtual void on_forward(raft::NodeId from, std::string payload, std::chrono::milliseconds timeout,
                          ForwardCallback done) = 0;
  /// Whether `peer` was removed from the cluster (this node applied its removal): its
  /// stream is then closed with kRemovedMessage, as etcd's peers answer a removed member.
  virtual bool is_removed(raft::NodeId peer) {
    (void)peer;
    return false;
  }
  /// Whether `peer` is in this node's latest configuration (voter or learner), or this
  /// node knows no configuration yet (it is joining). A stream or a forwarded request
  /// from anyone else is refused: the plaintext peer port cannot tell who is speaking, but
  /// membership alone rules out most forgeries.
  virtual bool is_member(raft::NodeId peer) {
    (void)peer;
    return true;
  }
  /// A peer closed this node's stream because this node was removed from the cluster.
  virtual void on_removed(std::string message) { (void)message; }
  /// `peer`'s stream to this node broke (the connection was reset or closed under it,
  /// not ended by a refusal here): its process has most likely stopped. A hint only.
  virtual void on_peer_closed(raft::NodeId peer) { (void)peer; }
};

/// How a peer's stream refusal says "you were removed" (the gRPC status message starts so).
inline constexpr char kRemovedMessage[] = "raftkv: the member has been permanently removed";

/// The sending side, called by the node's threads; every call returns at once.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Where a peer listens ("host:port", or "https://host:port" where the peer port
  /// speaks TLS); replaces an earlier address. RaftNode never calls it: the embedder
  /// keeps the address of every member current, a new one included (the runtime has no
  /// replicated address book).
  virtual void set_peer(raft::NodeId id, const std::string& address) = 0;
  /// Forgets a peer's address; messages to it are dropped from then on.
  virtual void remove_peer(raft::NodeId id) = 0;
  /// Queues messages for their recipients and returns at once. A peer that is slow or
  /// down never blocks the caller: beyond a bounded queue its messages are dropped.
  virtual void send(std::vector<raft::Message> messages) = 0;
  /// Sends an InstallSnapshot message after streaming `data` to its recipient in chunks.
  virtual void send_snapshot(raft::Message message, std::shared_ptr<const SnapshotSource> data) = 0;
  /// Queues a client write for the leader `to`, on the same stream as Raft messages, and
  /// returns at once. `entry` is the whole entry data, header included.
  virtual void propose(raft::NodeId to, std::string entry) = 0;
  /// Tells follower `to` that its forwarded `request` was refused, and why (the status,
  /// payloads included, reaches its on_refusal).
  virtual void refuse(raft::NodeId to, uint64_t request, const absl::Status& why) = 0;
  /// Hands `payload` to peer `to` (the leader) and returns at once; `done` gets the
  /// peer's answer (its status with payloads) or unreachable_error() when the request
  /// could not be delivered. It runs exactly once, on a transport thread.
  virtual void forward(raft::NodeId to, std::string payload, std::chrono::milliseconds timeout,
                       ForwardCallback done) = 0;
};

}  // namespace transport
