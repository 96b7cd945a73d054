/// @file
/// An in-process transport: the nodes of one process talk through a LocalNetwork, which
/// can cut a node off. For tests and examples of the runtime without sockets.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>

#include "transport/transport.h"

namespace transport {

/// The network of one process's nodes: no addresses, no sockets, no set_peer() needed
/// (every joined node is reachable). Outlives every node on it.
class LocalNetwork {
 public:
  /// A transport for node `id`. Nothing reaches the node until attach().
  std::unique_ptr<Transport> join(raft::NodeId id);
  /// From now on `handler` (the node) receives what is sent to `id`.
  void attach(raft::NodeId id, Handler* handler);
  /// After detach() returns no message reaches the node's handler. A forward already
  /// under way is not waited for: stop the callers first.
  void detach(raft::NodeId id);
  /// A cut-off node sends and receives nothing, and forwards fail as unreachable.
  void set_cut_off(raft::NodeId id, bool cut);
  /// While paused, node `id`'s next send blocks in the transport until it is resumed: its
  /// sending thread (the core thread) stops, as in a stopped process, while what the others
  /// send it queues up at the node. Resume every paused node before detaching it.
  void set_paused(raft::NodeId id, bool paused);
  /// True once a send of paused node `id` is blocked.
  bool send_blocked(raft::NodeId id);
  /// Sees a Raft message before it is delivered; false drops it.
  using Tap = std::function<bool(raft::NodeId from, raft::NodeId to, const raft::Message& m)>;
  /// Every Raft message passes `tap` first (none by default; null removes it).
  void set_tap(Tap tap);

 private:
  friend class LocalTransport;
  // Delivers under a shared lock, so that detach() waits for deliveries in progress.
  bool deliver(raft::NodeId from, raft::NodeId to, raft::Message m);
  // An InstallSnapshot: its bytes into the recipient's sink a chunk at a time, as over
  // gRPC, then the message; false when any step fails (the core sends it again).
  bool deliver_snapshot(raft::NodeId from, raft::NodeId to, raft::Message m,
                        const SnapshotSource& data);
  Handler* route(raft::NodeId from, raft::NodeId to);
  // Blocks while `id` is paused.
  void wait_while_paused(raft::NodeId id);

  std::shared_mutex mu_;
  std::map<raft::NodeId, Handler*> handlers_;
  std::set<raft::NodeId> cut_;
  Tap tap_;

  std::mutex pause_mu_;  // not mu_: a paused sender must not hold up the others
  std::condition_variable resumed_;
  std::set<raft::NodeId> paused_;
  std::set<raft::NodeId> blocked_;
};

}  // namespace transport
