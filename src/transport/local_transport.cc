#include "transport/local_transport.h"

#include <algorithm>

namespace transport {
namespace {
// The pieces a snapshot crosses in, as the gRPC transport's chunks do.
constexpr uint64_t kChunkBytes = 64 * 1024;
}  // namespace

class LocalTransport : public Transport {
 public:
  LocalTransport(LocalNetwork& net, raft::NodeId self) : net_(net), self_(self) {}
  void set_peer(raft::NodeId, const std::string&) override {}
  void remove_peer(raft::NodeId) override {}
  void send(std::vector<raft::Message> messages) override {
    net_.wait_while_paused(self_);
    for (raft::Message& m : messages) {
      const raft::NodeId to = m.to;
      net_.deliver(self_, to, std::move(m));
    }
  }
  void send_snapshot(raft::Message message, std::shared_ptr<const SnapshotSource> data) override {
    net_.wait_while_paused(self_);
    const raft::NodeId to = message.to;
    net_.deliver_snapshot(self_, to, std::move(message), *data);
  }
  void propose(raft::NodeId to, std::string entry) override {
    if (Handler* h = net_.route(self_, to)) h->on_proposal(self_, std::move(entry));
  }
  void refuse(raft::NodeId to, uint64_t request, const absl::Status& why) override {
    if (Handler* h = net_.route(self_, to)) h->on_refusal(request, why);
  }
  void forward(raft::NodeId to, std::string payload, std::chrono::milliseconds timeout,
               ForwardCallback done) override {
    Handler* h = net_.route(self_, to);
    if (h == nullptr) return done(unreachable_error("node is cut off"));
    h->on_forward(self_, std::move(payload), timeout, std::move(done));
  }

 private:
  LocalNetwork& net_;
  const raft::NodeId self_;
};

std::unique_ptr<Transport> LocalNetwork::join(raft::NodeId id) {
  return std::make_unique<LocalTransport>(*this, id);
}

void LocalNetwork::attach(raft::NodeId id, Handler* handler) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  handlers_[id] = handler;
}

void LocalNetwork::detach(raft::NodeId id) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  handlers_.erase(id);
}

void LocalNetwork::set_cut_off(raft::NodeId id, bool cut) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (cut) {
    cut_.insert(id);
  } else {
    cut_.erase(id);
  }
}

void LocalNetwork::set_paused(raft::NodeId id, bool paused) {
  std::lock_guard<std::mutex> lock(pause_mu_);
  if (paused) {
    paused_.insert(id);
  } else {
    paused_.erase(id);
    resumed_.notify_all();
  }
}

bool LocalNetwork::send_blocked(raft::NodeId id) {
  std::lock_guard<std::mutex> lock(pause_mu_);
  return blocked_.contains(id);
}

void LocalNetwork::wait_while_paused(raft::NodeId id) {
  std::unique_lock<std::mutex> lock(pause_mu_);
  if (!paused_.contains(id)) return;
  blocked_.insert(id);
  resumed_.wait(lock, [&] { return !paused_.contains(id); });
  blocked_.erase(id);
}

void LocalNetwork::set_tap(Tap tap) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  tap_ = std::move(tap);
}

bool LocalNetwork::deliver(raft::NodeId from, raft::NodeId to, raft::Message m) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (cut_.contains(from) || cut_.contains(to)) return false;
  if (tap_ && !tap_(from, to, m)) return false;
  auto it = handlers_.find(to);
  if (it == handlers_.end()) return false;
  it->second->on_message(std::move(m), nullptr);
  return true;
}

bool LocalNetwork::deliver_snapshot(raft::NodeId from, raft::NodeId to, raft::Message m,
                                    const SnapshotSource& data) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (cut_.contains(from) || cut_.contains(to)) return false;
  if (tap_ && !tap_(from, to, m)) return false;
  auto it = handlers_.find(to);
  const auto* is = std::get_if<raft::InstallSnapshot>(&m.body);
  if (it == handlers_.end() || is == nullptr) return false;
  absl::StatusOr<std::unique_ptr<SnapshotSink>> sink =
      it->second->receive_snapshot(from, is->meta.last.index.value(), data.size());
  if (!sink.ok()) return false;
  std::string piece;
  for (uint64_t at = 0; at < data.size(); at += piece.size()) {
    if (!data.read(at, std::min(kChunkBytes, data.size() - at), &piece).ok()) return false;
    if (!(*sink)->write(piece).ok()) return false;
  }
  absl::StatusOr<std::shared_ptr<const SnapshotSource>> received = (*sink)->finish();
  if (!received.ok()) return false;
  it->second->on_message(std::move(m), *std::move(received));
  return true;
}

Handler* LocalNetwork::route(raft::NodeId from, raft::NodeId to) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (cut_.contains(from) || cut_.contains(to)) return nullptr;
  auto it = handlers_.find(to);
  return it == handlers_.end() ? nullptr : it->second;
}

}  // namespace transport
