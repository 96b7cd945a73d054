#include "transport/grpc_transport.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <variant>

#include "log/log.h"
#include "log/thread_name.h"
#include "log/throttle.h"
#include "raftkv/peer.grpc.pb.h"
#include "transport/message_codec.h"
#include "transport/wire_status.h"

namespace transport {
namespace {

namespace pb = raftkv::peer;

uint64_t approximate_bytes(const raft::Message& m) {
  uint64_t bytes = 64;
  if (const auto* ae = std::get_if<raft::AppendEntries>(&m.body)) {
    for (const raft::Entry& e : ae->entries) bytes += e.data.size() + 24;
  }
  return bytes;
}

std::string hex(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

metrics::Registry& registry_of(GrpcTransportOptions& o, std::unique_ptr<metrics::Registry>& own) {
  if (o.registry == nullptr) {
    own = std::make_unique<metrics::Registry>();
    o.registry = own.get();
  }
  return *o.registry;
}

absl::Status from_grpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

constexpr std::string_view kComponent = "transport";

constexpr std::string_view kHttps = "https://";

// Whether the peer at `address` (set_peer's form) speaks TLS, and its gRPC target.
std::pair<bool, std::string> peer_target(const std::string& address) {
  if (address.rfind(kHttps, 0) == 0) return {true, address.substr(kHttps.size())};
  return {false, address};
}

// Logs what was refused from `peer`, at most once per peer, reason and period.
void log_refusal(const std::unique_ptr<raftlog::Throttle>& throttle, std::string_view msg,
                 uint64_t peer, std::string_view reason, const std::string& detail) {
  uint64_t held_back = 0;
  const std::string peer_id = raftlog::hex_id(peer);
  if (!throttle->allow(peer_id + " " + std::string(reason), &held_back)) return;
  raftlog::warn(kComponent, msg,
                {{"peer", peer_id},
                 {"reason", reason},
                 {"detail", detail},
                 {"suppressed-since-last", held_back}});
}

}  // namespace

// Receives peer streams and forwarded requests (the Peer service).
class GrpcTransport::PeerService final
    : public pb::Peer::WithCallbackMethod_Forward<pb::Peer::Service> {
 public:
  explicit PeerService(GrpcTransport& t) : t_(t) {}

  grpc::Status Stream(grpc::ServerContext* ctx, grpc::ServerReader<pb::PeerFrame>* reader,
                      pb::StreamAck*) override {
    Incoming in;
    pb::PeerFrame frame;
    while (reader->Read(&frame)) {
      if (t_.stopped_) break;
      count_received(in, frame);
      if (std::optional<grpc::Status> refused = refusal(*ctx, in, frame)) return *refused;
      if (frame.has_chunk() && !take_chunk(in, frame)) continue;
      deliver(in, frame);
    }
    // Cancelled: the connection went away under the stream (a peer that stops ends its
    // streams the same way). Fast failover, if the peer is the leader (issue 19).
    if (in.sender != 0 && !t_.stopped_ && ctx->IsCancelled()) {
      t_.handler_->on_peer_closed(raft::NodeId(in.sender));
    }
    return grpc::Status::OK;
  }

  grpc::Status ClusterInfo(grpc::ServerContext*, const pb::ClusterInfoRequest*,
                           pb::ClusterInfoResponse* resp) override {
    if (t_.options_.cluster_info == nullptr || t_.stopped_) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this member gives no cluster info");
    }
    resp->set_payload(t_.options_.cluster_info());
    return grpc::Status::OK;
  }

  grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* ctx, const pb::ForwardRequest* req,
                                    pb::ForwardResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (req->cluster_id() != t_.options_.cluster_id) {
      log_refusal(t_.refusal_log_, "refused forwarded request", req->from(), "cluster-id mismatch",
                  "request for cluster " + std::to_string(req->cluster_id()) +
                      ", this node is in cluster " + std::to_string(t_.options_.cluster_id));
      reactor->Finish(
          grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "forward from another cluster"));
      return reactor;
    }
    if (req->from() == 0 || !t_.handler_->is_member(raft::NodeId(req->from()))) {
      ++t_.refused_;
      const std::string why = "forward from " + raftlog::hex_id(req->from()) +
                              ", which is in no configuration this node knows";
      log_refusal(t_.refusal_log_, "refused forwarded request", req->from(), "not a member", why);
      reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why));
      return reactor;
    }
    if (absl::Status a = authorized(*ctx, req->from()); !a.ok()) {
      ++t_.refused_;
      const std::string why =
          "forward from " + raftlog::hex_id(req->from()) + ": " + std::string(a.message());
      log_refusal(t_.refusal_log_, "refused forwarded request", req->from(), "certificate", why);
      reactor->Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why));
      return reactor;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        ctx->deadline() - std::chrono::system_clock::now());
    left = std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(60'000));
    t_.handler_->on_forward(raft::NodeId(req->from()), req->payload(), left,
                            [reactor, resp](absl::StatusOr<std::string> r) {
                              if (r.ok()) {
                                resp->set_result(*std::move(r));
                              } else {
                                to_wire(r.status(), resp->mutable_status());
                              }
                              reactor->Finish(grpc::Status::OK);
                            });
    return reactor;
  }

 private:
  // What one stream has received so far: the snapshot whose chunks are arriving, and the
  // sending peer's byte counter (looked up once per sender).
  struct Incoming {
    // The snapshot arriving: where its bytes go (the node's sink), how many came, and
    // once the last chunk did, the bytes to read back.
    std::unique_ptr<SnapshotSink> sink;
    uint64_t snapshot_index = 0;
    uint64_t snapshot_bytes = 0;
    std::shared_ptr<const SnapshotSource> snapshot;
    metrics::Counter* received = nullptr;
    uint64_t received_from = 0;
    uint64_t sender = 0;  // the member the stream speaks for, from its first frame

    void drop_snapshot() {
      sink.reset();  // a file sink removes its file
      snapshot.reset();
      snapshot_index = 0;
      snapshot_bytes = 0;
    }
  };

  void count_received(Incoming& in, const pb::PeerFrame& frame) {
    if (in.received == nullptr || frame.from() != in.received_from) {
      in.received_from = frame.from();
      in.received = &t_.received_bytes_.with({hex(in.received_from)});
    }
    in.received->inc(static_cast<double>(frame.ByteSizeLong()));
  }

  // The stream's end when the frame comes from another cluster, a removed member, a
  // sender in no configuration this node knows, or claims another sender than the
  // stream's first frame did (a stream speaks for one member), or whose certificate may not
  // speak for the sender it claims.
  std::optional<grpc::Status> refusal(const grpc::ServerContextBase& ctx, Incoming& in,
                                      const pb::PeerFrame& frame) {
    if (frame.cluster_id() != t_.options_.cluster_id) {
      ++t_.refused_;
      std::string why = "peer frame for cluster " + std::to_string(frame.cluster_id()) +
                        ", this node is in cluster " + std::to_string(t_.options_.cluster_id);
      log_refusal(t_.refusal_log_, "refused peer stream", frame.from(), "cluster-id mismatch", why);
      return refuse_stream(pb::StreamRefusal::OTHER_CLUSTER, std::move(why));
    }
    if (t_.handler_->is_removed(raft::NodeId(frame.from()))) {
      ++t_.refused_;
      std::string why = std::string(kRemovedMessage) + " from the cluster (member " +
                        raftlog::hex_id(frame.from()) + ")";
      log_refusal(t_.refusal_log_, "refused peer stream", frame.from(), "removed member", why);
      return refuse_stream(pb::StreamRefusal::REMOVED, std::move(why));
    }
    if (in.sender == 0) {
      if (frame.from() == 0 || !t_.handler_->is_member(raft::NodeId(frame.from()))) {
        ++t_.refused_;
        std::string why = "peer stream from " + raftlog::hex_id(frame.from()) +
                          ", which is in no configuration this node knows";
        log_refusal(t_.refusal_log_, "refused peer stream", frame.from(), "not a member", why);
        return refuse_stream(pb::StreamRefusal::NOT_A_MEMBER, std::move(why));
      }
      if (absl::Status a = authorized(ctx, frame.from()); !a.ok()) {
        ++t_.refused_;
        std::string why =
            "peer stream for " + raftlog::hex_id(frame.from()) + ": " + std::string(a.message());
        log_refusal(t_.refusal_log_, "refused peer stream", frame.from(), "certificate", why);
        return refuse_stream(pb::StreamRefusal::WRONG_CERTIFICATE, std::move(why));
      }
      in.sender = frame.from();
      // The peer is up (it may just have restarted): our stream to it need not wait
      // out its reconnect backoff.
      t_.peer_is_up(raft::NodeId(in.sender));
    } else if (frame.from() != in.sender) {
      ++t_.refused_;
      std::string why = "a frame on the stream of member " + raftlog::hex_id(in.sender) +
                        " claimed to come from " + raftlog::hex_id(frame.from());
      log_refusal(t_.refusal_log_, "refused peer stream", in.sender, "two senders", why);
      return refuse_stream(pb::StreamRefusal::TWO_SENDERS, std::move(why));
    }
    return std::nullopt;
  }

  // Whether the certificate the peer presented on this connection may speak for `claimed`
  // (always, where no certificate is required).
  absl::Status authorized(const grpc::ServerContextBase& ctx, uint64_t claimed) const {
    if (!t_.options_.authorize) return absl::OkStatus();
    const std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
    const std::vector<grpc::string_ref> pem =
        auth == nullptr ? std::vector<grpc::string_ref>{}
                        : auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (pem.empty()) return absl::UnauthenticatedError("the peer presented no certificate");
    return t_.options_.authorize(raft::NodeId(claimed),
                                 std::string_view(pem.front().data(), pem.front().size()));
  }

  // Writes a snapshot chunk to the node's sink for it; false (the frame is dropped) when
  // it is out of order or the node cannot keep it: the leader sends the snapshot again.
  bool take_chunk(Incoming& in, const pb::PeerFrame& frame) {
    const pb::SnapshotChunk& c = frame.chunk();
    auto drop = [&](const char* reason, std::string detail) {
      ++t_.refused_;
      log_refusal(t_.refusal_log_, "dropped peer frame", frame.from(), reason, std::move(detail));
      in.drop_snapshot();
      return false;
    };
    if (c.offset() == 0) {
      in.drop_snapshot();
      absl::StatusOr<std::unique_ptr<SnapshotSink>> sink =
          t_.handler_->receive_snapshot(raft::NodeId(frame.from()), c.index(), c.total());
      if (!sink.ok()) {
        return drop("snapshot not received", "snapshot " + std::to_string(c.index()) + ": " +
                                                 std::string(sink.status().message()));
      }
      in.sink = *std::move(sink);
      in.snapshot_index = c.index();
    }
    if (in.sink == nullptr || c.index() != in.snapshot_index || c.offset() != in.snapshot_bytes) {
      // Out of order: wait for the next snapshot to start over.
      return drop("snapshot chunk out of order", "chunk of snapshot " + std::to_string(c.index()) +
                                                     " at offset " + std::to_string(c.offset()) +
                                                     ", expected offset " +
                                                     std::to_string(in.snapshot_bytes));
    }
    if (absl::Status s = in.sink->write(c.data()); !s.ok()) {
      return drop("snapshot not received",
                  "snapshot " + std::to_string(c.index()) + ": " + std::string(s.message()));
    }
    in.snapshot_bytes += c.data().size();
    if (c.last()) {
      absl::StatusOr<std::shared_ptr<const SnapshotSource>> done = in.sink->finish();
      in.sink.reset();
      if (!done.ok()) {
        return drop("snapshot not received", "snapshot " + std::to_string(c.index()) + ": " +
                                                 std::string(done.status().message()));
      }
      in.snapshot = *std::move(done);
    }
    return true;
  }

  // Why a decoded message is not for the node (a reason and its detail), if it is not:
  // it does not parse, is addressed to another member, or claims another sender than
  // the stream it came on.
  std::optional<std::pair<const char*, std::string>> unusable(
      const absl::StatusOr<raft::Message>& m, uint64_t stream_from) const {
    if (!m.ok()) return std::pair("malformed", std::string(m.status().message()));
    if (m->to != t_.options_.self) {
      return std::pair("wrong recipient", "addressed to " + raftlog::hex_id(m->to.value()));
    }
    if (m->from.value() != stream_from) {
      return std::pair("another sender", "a message from " + raftlog::hex_id(m->from.value()) +
                                             " on the stream of " + raftlog::hex_id(stream_from));
    }
    return std::nullopt;
  }

  // Hands the frame's proposals, refusals and messages to the node.
  void deliver(Incoming& in, pb::PeerFrame& frame) {
    for (std::string& entry : *frame.mutable_proposals()) {
      t_.handler_->on_proposal(raft::NodeId(frame.from()), std::move(entry));
    }
    for (const pb::Refusal& r : frame.refusals()) {
      t_.handler_->on_refusal(r.request(), from_wire(r.status()));
    }
    for (const pb::Message& pm : frame.messages()) {
      absl::StatusOr<raft::Message> m = decode(pm);
      if (std::optional<std::pair<const char*, std::string>> why = unusable(m, frame.from())) {
        ++t_.refused_;
        log_refusal(t_.refusal_log_, "dropped peer message", frame.from(), why->first, why->second);
        if (m.ok() && m->to != t_.options_.self && t_.options_.on_misaddressed != nullptr) {
          t_.options_.on_misaddressed(raft::NodeId(frame.from()));
        }
        continue;
      }
      std::shared_ptr<const SnapshotSource> data;
      if (const auto* is = std::get_if<raft::InstallSnapshot>(&m->body)) {
        if (in.snapshot == nullptr || in.snapshot_index != is->meta.last.index.value()) {
          ++t_.refused_;  // its bytes did not all arrive
          log_refusal(
              t_.refusal_log_, "dropped peer message", frame.from(), "incomplete snapshot",
              "snapshot " + std::to_string(is->meta.last.index.value()) + " without all its bytes");
          continue;
        }
        raftlog::info(kComponent, "received snapshot",
                      {{"peer", raftlog::hex_id(frame.from())},
                       {"index", is->meta.last.index.value()},
                       {"bytes", in.snapshot->size()}});
        data = std::move(in.snapshot);
        in.drop_snapshot();
        ++t_.snapshots_received_;
      }
      ++t_.received_;
      t_.handler_->on_message(*std::move(m), std::move(data));
    }
  }

  // Closes a peer stream, saying why in the status details (a StreamRefusal).
  static grpc::Status refuse_stream(pb::StreamRefusal::Reason reason, std::string message) {
    pb::StreamRefusal details;
    details.set_reason(reason);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::move(message),
                        details.SerializeAsString());
  }

  GrpcTransport& t_;
};

// One peer: a bounded queue and the thread that drains it into a stream.
class GrpcTransport::Sender {
 public:
  struct Item {
    raft::Message message;
    std::shared_ptr<const SnapshotSource> snapshot;  // set for InstallSnapshot
    uint64_t bytes = 0;
    std::string proposal;  // a forwarded client write (message unused)
    std::optional<pb::Refusal> refusal;
  };

  Sender(GrpcTransport& t, raft::NodeId peer, std::string address)
      : t_(t),
        peer_(peer),
        sent_bytes_(t.sent_bytes_.with({hex(peer.value())})),
        sent_failures_(t.sent_failures_.with({hex(peer.value())})),
        address_(std::move(address)) {
    thread_ = std::thread([this] {
      raftlog::name_this_thread("raftkv-send");
      run();
    });
  }
  ~Sender() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      if (context_ != nullptr) context_->TryCancel();
    }
    cv_.notify_all();
    thread_.join();
  }

  void set_address(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    if (address == address_) return;
    address_ = address;
    channel_.reset();
    if (context_ != nullptr) context_->TryCancel();
  }

  void push(raft::Message m) {
    const uint64_t bytes = approximate_bytes(m);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.size() >= t_.options_.max_queue_messages ||
          queued_bytes_ + bytes > t_.options_.max_queue_bytes) {
        ++t_.dropped_;
        return;
      }
      queued_bytes_ += bytes;
      queue_.push_back(Item{std::move(m), nullptr, bytes, {}, {}});
    }
    cv_.notify_one();
  }

  // A forwarded proposal or a refusal, bounded like messages.
  void push_other(Item item) {
    item.bytes = item.proposal.size() + 64;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.size() >= t_.options_.max_queue_messages ||
          queued_bytes_ + item.bytes > t_.options_.max_queue_bytes) {
        ++t_.dropped_;
        return;
      }
      queued_bytes_ += item.bytes;
      queue_.push_back(std::move(item));
    }
    cv_.notify_one();
  }

  void push_snapshot(raft::Message m, std::shared_ptr<const SnapshotSource> data) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // A newer snapshot supersedes any queued one.
      std::erase_if(queue_, [](const Item& i) { return i.snapshot != nullptr; });
      queue_.push_back(Item{std::move(m), std::move(data), 64, {}, {}});
    }
    cv_.notify_one();
  }

  std::shared_ptr<grpc::Channel> channel() {
    std::lock_guard<std::mutex> lock(mu_);
    return channel_locked();
  }

  size_t queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }

  // The peer opened a stream to us: if ours to it is down, try again now.
  void kick() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      kicked_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_locked() {
    if (channel_ == nullptr) {
      grpc::ChannelArguments args;
      args.SetMaxSendMessageSize(-1);
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                  static_cast<int>(t_.options_.grpc_initial_reconnect_backoff.count()));
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                  static_cast<int>(t_.options_.grpc_max_reconnect_backoff.count()));
      // A channel of its own, not one shared through gRPC's global pool, so that the
      // fresh channel made after a failed open (run) dials instead of waiting out the
      // old one's reconnect timer.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      const auto [tls, target] = peer_target(address_);
      std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
      if (tls) {
        creds = t_.options_.channel_credentials != nullptr
                    ? t_.options_.channel_credentials
                    : grpc::SslCredentials(grpc::SslCredentialsOptions{});
      }
      channel_ = grpc::CreateCustomChannel(target, creds, args);
    }
    return channel_;
  }

  void run() {
    auto backoff = std::chrono::milliseconds(50);
    // The first stream opens at once, with an empty frame, so that a member that has
    // just (re)started tells its peers so before it has anything to send: the peers'
    // streams to it reconnect at once (kick) instead of after their backoff.
    bool hello = true;
    while (true) {
      std::vector<Item> batch;
      std::shared_ptr<grpc::Channel> channel;
      bool open = false;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || hello || !queue_.empty(); });
        if (stop_) return;
        if (queue_.empty()) {
          // the hello: an empty batch
        } else if (queue_.front().snapshot != nullptr) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        } else {
          uint64_t bytes = 0;
          while (!queue_.empty() && queue_.front().snapshot == nullptr &&
                 (batch.empty() || bytes + queue_.front().bytes <= t_.options_.max_frame_bytes)) {
            bytes += queue_.front().bytes;
            queued_bytes_ -= queue_.front().bytes;
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
        }
        channel = channel_locked();
        if (writer_ == nullptr) {
          kicked_ = false;
          auto ctx = std::make_unique<grpc::ClientContext>();
          context_ = ctx.get();  // from here on, cancellable by set_address and stop
          owned_context_ = std::move(ctx);
          open = true;
        }
      }
      if (open) {
        // Opening the stream waits for the peer to answer, which a stopped (SIGSTOP) or
        // hung peer never does; mu_ is not held, or every push to this peer (from the
        // thread that makes entries durable) would wait too, and the member could not
        // vote or answer anyone until that peer came back.
        stub_ = pb::Peer::NewStub(channel);
        writer_ = stub_->Stream(context_, &ack_);
        ++t_.reconnects_;
      }
      hello = false;
      bool ok = !batch.empty() && batch.front().snapshot != nullptr ? write_snapshot(batch.front())
                                                                    : write_messages(batch);
      if (ok) {
        backoff = std::chrono::milliseconds(50);
        if (!active_) {
          active_ = true;
          raftlog::info(kComponent, "peer stream established",
                        {{"peer", raftlog::hex_id(peer_.value())}});
        }
        continue;
      }
      t_.dropped_ += batch.size();
      const bool carried = active_;  // whether this stream carried a frame
      const grpc::Status closed = writer_->Finish();
      if (active_ && !stopping()) {
        raftlog::warn(
            kComponent, "lost connection to peer",
            {{"peer", raftlog::hex_id(peer_.value())}, {"error", closed.error_message()}});
      }
      active_ = false;
      if (pb::StreamRefusal why; closed.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
                                 why.ParseFromString(closed.error_details()) &&
                                 why.reason() == pb::StreamRefusal::REMOVED) {
        t_.handler_->on_removed(closed.error_message());
      }
      std::unique_lock<std::mutex> lock(mu_);
      writer_.reset();
      context_ = nullptr;
      owned_context_.reset();
      // A stream that could not carry a frame: the next one goes on a fresh channel, which
      // dials at once. The old channel would redial only when gRPC's reconnect timer
      // fires, and that timer can stall for as long as the wall clock was stepped back
      // (grpc_max_reconnect_backoff): a member whose clock jumped never reached its peers
      // again (issue 18's chaos runs).
      if (!carried) {
        stub_.reset();
        channel_.reset();
      }
      // What waited for a dead stream is stale by the time it could go: Raft resends.
      t_.dropped_ += queue_.size();
      queue_.clear();
      queued_bytes_ = 0;
      // A kick since this stream was opened ends the wait: the peer is back.
      cv_.wait_for(lock, backoff, [&] { return stop_ || kicked_; });
      if (stop_) return;
      backoff = kicked_ ? std::chrono::milliseconds(50)
                        : std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
  }

  bool write_messages(const std::vector<Item>& batch) {
    pb::PeerFrame frame;
    frame.set_cluster_id(t_.options_.cluster_id);
    frame.set_from(t_.options_.self.value());
    for (const Item& i : batch) {
      if (!i.proposal.empty()) {
        frame.add_proposals(i.proposal);
      } else if (i.refusal.has_value()) {
        *frame.add_refusals() = *i.refusal;
      } else {
        encode(i.message, frame.add_messages());
      }
    }
    if (!write(frame)) return false;
    t_.sent_ += batch.size();
    return true;
  }

  bool stopping() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

  // Streams the snapshot from its source a chunk at a time. False: the stream broke.
  // A source that cannot be read ends the transfer (the stream is fine; the follower
  // starts over with the next snapshot the core sends).
  bool write_snapshot(const Item& item) {
    const auto start = std::chrono::steady_clock::now();
    const SnapshotSource& data = *item.snapshot;
    const uint64_t total = data.size();
    const auto& meta = std::get<raft::InstallSnapshot>(item.message.body).meta;
    uint64_t offset = 0;
    do {
      const uint64_t n = std::min<uint64_t>(t_.options_.snapshot_chunk_bytes, total - offset);
      pb::PeerFrame frame;
      frame.set_cluster_id(t_.options_.cluster_id);
      frame.set_from(t_.options_.self.value());
      pb::SnapshotChunk* c = frame.mutable_chunk();
      c->set_index(meta.last.index.value());
      c->set_offset(offset);
      c->set_total(total);
      if (absl::Status s = data.read(offset, n, c->mutable_data()); !s.ok()) {
        raftlog::error(kComponent, "cannot read snapshot to send",
                       {{"peer", raftlog::hex_id(peer_.value())},
                        {"index", meta.last.index.value()},
                        {"offset", offset},
                        {"error", std::string(s.message())}});
        return true;
      }
      offset += n;
      c->set_last(offset == total);
      if (c->last()) encode(item.message, frame.add_messages());
      if (!write(frame)) return false;
    } while (offset < total);
    raftlog::info(kComponent, "sent snapshot",
                  {{"peer", raftlog::hex_id(peer_.value())},
                   {"index", meta.last.index.value()},
                   {"bytes", total},
                   {"took", std::chrono::steady_clock::now() - start}});
    ++t_.snapshots_sent_;
    ++t_.sent_;
    return true;
  }

  // One frame onto the stream, counted as etcd counts peer traffic.
  bool write(const pb::PeerFrame& frame) {
    if (!writer_->Write(frame)) {
      sent_failures_.inc();
      return false;
    }
    sent_bytes_.inc(static_cast<double>(frame.ByteSizeLong()));
    return true;
  }

  GrpcTransport& t_;
  const raft::NodeId peer_;
  metrics::Counter& sent_bytes_;
  metrics::Counter& sent_failures_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string address_;                     // guarded by mu_
  std::shared_ptr<grpc::Channel> channel_;  // guarded by mu_
  std::deque<Item> queue_;                  // guarded by mu_
  uint64_t queued_bytes_ = 0;               // guarded by mu_; message items only
  bool stop_ = false;                       // guarded by mu_
  bool kicked_ = false;                     // guarded by mu_: the peer said it is up
  grpc::ClientContext* context_ = nullptr;  // the open stream's, for cancellation
  std::unique_ptr<grpc::ClientContext> owned_context_;
  std::unique_ptr<pb::Peer::Stub> stub_;
  std::unique_ptr<grpc::ClientWriter<pb::PeerFrame>> writer_;  // sender thread only
  pb::StreamAck ack_;
  bool active_ = false;  // sender thread only: the last write on a stream went through
  std::thread thread_;
};

GrpcTransport::GrpcTransport(GrpcTransportOptions options)
    : options_(std::move(options)),
      sent_bytes_(registry_of(options_, own_registry_)
                      .counter_family("etcd_network_peer_sent_bytes_total",
                                      "The total number of bytes sent to peers.", {"To"})),
      received_bytes_(registry_of(options_, own_registry_)
                          .counter_family("etcd_network_peer_received_bytes_total",
                                          "The total number of bytes received from peers.",
                                          {"From"})),
      sent_failures_(registry_of(options_, own_registry_)
                         .counter_family("etcd_network_peer_sent_failures_total",
                                         "The total number of send failures from peers.", {"To"})),
      refusal_log_(std::make_unique<raftlog::Throttle>(std::chrono::seconds(10))) {}

size_t GrpcTransport::queued_messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [id, sender] : senders_) n += sender->queued();
  return n;
}

GrpcTransport::~GrpcTransport() { stop(); }

absl::StatusOr<int> GrpcTransport::start(Handler* handler) {
  handler_ = handler;
  service_ = std::make_unique<PeerService>(*this);
  grpc::ServerBuilder builder;
  std::vector<std::pair<std::string, bool>> listeners = options_.listeners;
  if (listeners.empty()) {
    listeners.emplace_back(options_.listen_address, options_.server_credentials != nullptr);
  }
  std::vector<int> ports(listeners.size(), 0);
  for (size_t i = 0; i < listeners.size(); ++i) {
    if (listeners[i].second && options_.server_credentials == nullptr) {
      return absl::InvalidArgumentError("TLS asked for on " + listeners[i].first +
                                        " without credentials");
    }
    builder.AddListeningPort(
        listeners[i].first,
        listeners[i].second ? options_.server_credentials : grpc::InsecureServerCredentials(),
        &ports[i]);
  }
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a taken port is an error
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<uint64_t>(options_.max_message_bytes, static_cast<uint64_t>(INT32_MAX))));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  for (size_t i = 0; i < listeners.size(); ++i) {
    if (server_ == nullptr || ports[i] == 0) {
      return absl::UnavailableError("cannot listen for peers on " + listeners[i].first);
    }
  }
  return ports.front();
}

void GrpcTransport::stop() {
  if (stopped_.exchange(true)) return;
  std::map<raft::NodeId, std::unique_ptr<Sender>> senders;
  {
    std::lock_guard<std::mutex> lock(mu_);
    senders.swap(senders_);
  }
  senders.clear();  // joins every sender thread
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    server_->Wait();
  }
}

void GrpcTransport::set_peer(raft::NodeId id, const std::string& address) {
  if (id == options_.self || stopped_) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = senders_.find(id);
  if (it == senders_.end()) {
    senders_.emplace(id, std::make_unique<Sender>(*this, id, address));
  } else {
    it->second->set_address(address);
  }
}

void GrpcTransport::remove_peer(raft::NodeId id) {
  std::unique_ptr<Sender> gone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = senders_.find(id);
    if (it == senders_.end()) return;
    gone = std::move(it->second);
    senders_.erase(it);
  }
}

void GrpcTransport::peer_is_up(raft::NodeId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = senders_.find(id); it != senders_.end()) it->second->kick();
}

void GrpcTransport::send(std::vector<raft::Message> messages) {
  std::lock_guard<std::mutex> lock(mu_);
  for (raft::Message& m : messages) {
    auto it = senders_.find(m.to);
    if (it == senders_.end()) {
      ++dropped_;
      continue;
    }
    it->second->push(std::move(m));
  }
}

void GrpcTransport::send_snapshot(raft::Message message,
                                  std::shared_ptr<const SnapshotSource> data) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = senders_.find(message.to);
  if (it == senders_.end()) {
    ++dropped_;
    return;
  }
  it->second->push_snapshot(std::move(message), std::move(data));
}

void GrpcTransport::propose(raft::NodeId to, std::string entry) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = senders_.find(to);
  if (it == senders_.end()) {
    ++dropped_;
    return;
  }
  Sender::Item item;
  item.proposal = std::move(entry);
  it->second->push_other(std::move(item));
}

void GrpcTransport::refuse(raft::NodeId to, uint64_t request, const absl::Status& why) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = senders_.find(to);
  if (it == senders_.end()) return;
  Sender::Item item;
  pb::Refusal r;
  r.set_request(request);
  to_wire(why, r.mutable_status());
  item.refusal = std::move(r);
  it->second->push_other(std::move(item));
}

void GrpcTransport::forward(raft::NodeId to, std::string payload, std::chrono::milliseconds timeout,
                            ForwardCallback done) {
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = senders_.find(to);
    if (it != senders_.end()) channel = it->second->channel();
  }
  if (channel == nullptr) {
    return done(unreachable_error("no address known for node " + std::to_string(to.value())));
  }
  // A leader we are not connected to never sees the request: say so, so the caller may
  // retry it once a leader is reachable. The peer stream keeps the channel connected
  // while the peer is up. Once sent, a failure is ambiguous and is returned as it is.
  if (channel->GetState(/*try_to_connect=*/true) != GRPC_CHANNEL_READY) {
    return done(unreachable_error("node " + std::to_string(to.value()) + " is not connected"));
  }
  // One call: its context, messages and stub live until the callback has run.
  struct Call {
    grpc::ClientContext ctx;
    pb::ForwardRequest req;
    pb::ForwardResponse resp;
    std::unique_ptr<pb::Peer::Stub> stub;
    ForwardCallback done;
  };
  auto call = std::make_shared<Call>();
  call->ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  call->req.set_cluster_id(options_.cluster_id);
  call->req.set_from(options_.self.value());
  call->req.set_payload(std::move(payload));
  call->stub = pb::Peer::NewStub(channel);
  call->done = std::move(done);
  call->stub->async()->Forward(&call->ctx, &call->req, &call->resp, [call](grpc::Status s) mutable {
    if (!s.ok()) return call->done(from_grpc(s));
    absl::Status status = from_wire(call->resp.status());
    if (!status.ok()) return call->done(std::move(status));
    call->done(std::move(*call->resp.mutable_result()));
  });
}

TransportStats GrpcTransport::stats() const {
  return TransportStats{sent_,       dropped_,        received_,          refused_,
                        reconnects_, snapshots_sent_, snapshots_received_};
}

}  // namespace transport
