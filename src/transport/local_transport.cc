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
    for (raft::Message& m : messages) {
      const raft::NodeId to = m.to;
      net_.deliver(self_, to, std::move(m));
    }
  }
  void send_snapshot(raft::Message message, std::shared_ptr<const SnapshotSource> data) override {
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

bool LocalNetwork::deliver(raft::NodeId from, raft::NodeId to, raft::Message m) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (cut_.contains(from) || cut_.contains(to)) return false;
  auto it = handlers_.find(to);
  if (it == handlers_.end()) return false;
  it->second->on_message(std::move(m), nullptr);
  return true;
}

bool LocalNetwork::deliver_snapshot(raft::NodeId from, raft::NodeId to, raft::Message m,
                                    const SnapshotSource& data) {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (cut_.contains(from) || cut_.contains(to)) return false;
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
