#include "transport/grpc_transport.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <variant>

#include "log/log.h"
#include "log/thread_name.h"
#include "log/throttle.h"
#include "raftkv/peer.grpc.pb.h"
#include "transport/completion_queue_loop.h"
#include "transport/message_codec.h"
#include "transport/peer_lanes.h"
#include "transport/port_mux.h"
#include "transport/port_role.h"
#include "transport/server_stream.h"
#include "transport/unary_call.h"
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

// The peer streams' keepalive: a ping every 2 s, and the connection closed when one is
// not acknowledged within 5 s.
constexpr int kPeerKeepaliveMs = 2000;
constexpr int kPeerKeepaliveTimeoutMs = 5000;

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

// Receives peer streams and forwarded requests (the Peer service), on a completion queue
// (completion_queue_loop.h): the transport's own, or the host server's beside its client
// services (then only calls that came in on a peer port are served).
class GrpcTransport::PeerService final : public pb::Peer::AsyncService {
 public:
  explicit PeerService(GrpcTransport& t) : t_(t) {}

  class StreamReader;  // a peer's stream

  // After the server started: waits for the first call of each method.
  void listen(CompletionQueueLoop& loop);

 private:
  using ClusterInfoCall = UnaryCall<pb::ClusterInfoRequest, pb::ClusterInfoResponse>;
  using ForwardCall = UnaryCall<pb::ForwardRequest, pb::ForwardResponse>;
  using Reader = grpc::ServerAsyncReader<pb::StreamAck, pb::PeerFrame>;

  // On a shared server, whether the call came in on a peer port (port_role.h): a client
  // port serves no Peer method, as a server of the transport's own would not.
  grpc::Status admit(const grpc::ServerContext& ctx) const {
    if (!t_.shared_ || port_role(ctx) == PortRole::kPeer) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "the peer service (raftkv.peer.Peer) is served on peer ports only, "
                        "and this call came in on another port");
  }

  void cluster_info(ClusterInfoCall& call) {
    if (t_.options_.cluster_info == nullptr || t_.stopped_) {
      return call.finish(
          grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this member gives no cluster info"));
    }
    call.response()->set_payload(t_.options_.cluster_info());
    call.finish(grpc::Status::OK);
  }

  void forward(ForwardCall& call) {
    const pb::ForwardRequest* req = &call.request();
    if (req->cluster_id() != t_.options_.cluster_id) {
      log_refusal(t_.refusal_log_, "refused forwarded request", req->from(), "cluster-id mismatch",
                  "request for cluster " + std::to_string(req->cluster_id()) +
                      ", this node is in cluster " + std::to_string(t_.options_.cluster_id));
      return call.finish(
          grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "forward from another cluster"));
    }
    if (req->from() == 0 || !t_.handler_->is_member(raft::NodeId(req->from()))) {
      ++t_.refused_;
      const std::string why = "forward from " + raftlog::hex_id(req->from()) +
                              ", which is in no configuration this node knows";
      log_refusal(t_.refusal_log_, "refused forwarded request", req->from(), "not a member", why);
      return call.finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, why));
    }
    if (absl::Status a = authorized(&call.context(), req->from()); !a.ok()) {
      ++t_.refused_;
      const std::string why =
          "forward from " + raftlog::hex_id(req->from()) + ": " + std::string(a.message());
      log_refusal(t_.refusal_log_, "refused forwarded request", req->from(), "certificate", why);
      return call.finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why));
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        call.context().deadline() - std::chrono::system_clock::now());
    left = std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(60'000));
    t_.handler_->on_forward(raft::NodeId(req->from()), req->payload(), left,
                            [&call](absl::StatusOr<std::string> r) {
                              if (r.ok()) {
                                call.response()->set_result(*std::move(r));
                              } else {
                                to_wire(r.status(), call.response()->mutable_status());
                              }
                              call.finish(grpc::Status::OK);
                            });
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
  // `ctx`: the stream's; null for a peer lane (which carries no certificate).
  std::optional<grpc::Status> refusal(const grpc::ServerContextBase* ctx, Incoming& in,
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
  absl::Status authorized(const grpc::ServerContextBase* ctx, uint64_t claimed) const {
    if (!t_.options_.authorize) return absl::OkStatus();
    if (ctx == nullptr) return absl::UnauthenticatedError("a peer lane carries no certificate");
    const std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
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
  friend class GrpcTransport;  // lane_frame
};

// A peer's stream, read on the completion queue's thread: a frame is handed to the node
// where it is read, and the next read starts once it has been, so a slow node slows its
// peers' streams (HTTP/2 flow control) instead of queueing without bound.
class GrpcTransport::PeerService::StreamReader final : public ServerStream<Reader> {
 public:
  explicit StreamReader(PeerService& s) : s_(s) {}

 private:
  void OnStart() override {
    {
      std::lock_guard<std::mutex> lock(s_.t_.mu_);
      s_.t_.incoming_.insert(&context());
    }
    StartRead(&frame_);
  }
  void OnReadDone(bool ok) override {
    GrpcTransport& t = s_.t_;
    if (!ok || t.stopped_) return Finish(ack_, grpc::Status::OK);
    s_.count_received(in_, frame_);
    if (std::optional<grpc::Status> refused = s_.refusal(&context(), in_, frame_)) {
      return Finish(ack_, *std::move(refused));
    }
    if (!frame_.has_chunk() || s_.take_chunk(in_, frame_)) s_.deliver(in_, frame_);
    frame_.Clear();
    StartRead(&frame_);
  }
  // The connection went away under the stream (a peer that stops ends its streams the
  // same way). Fast failover, if the peer is the leader (issue 19).
  void OnCancel() override {
    if (in_.sender != 0 && !s_.t_.stopped_)
      s_.t_.handler_->on_peer_closed(raft::NodeId(in_.sender));
  }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(s_.t_.mu_);
      s_.t_.incoming_.erase(&context());
    }
    delete this;
  }

  PeerService& s_;
  Incoming in_;
  pb::PeerFrame frame_;
  pb::StreamAck ack_;
};

void GrpcTransport::PeerService::listen(CompletionQueueLoop& loop) {
  grpc::ServerCompletionQueue* cq = loop.queue();
  auto admit = [this](const grpc::ServerContext& ctx) { return this->admit(ctx); };
  ClusterInfoCall::listen(unary_method(
      this, &pb::Peer::AsyncService::RequestClusterInfo, cq, loop.calls(),
      [this](ClusterInfoCall& call) { cluster_info(call); }, admit));
  ForwardCall::listen(unary_method(
      this, &pb::Peer::AsyncService::RequestForward, cq, loop.calls(),
      [this](ForwardCall& call) { forward(call); }, admit));
  ServerStream<Reader>::listen(
      std::make_shared<const ServerStream<Reader>::Method>(ServerStream<Reader>::Method{
          .request = [this, cq](ServerStream<Reader>*, grpc::ServerContext* ctx, Reader* reader,
                                void* tag) { RequestStream(ctx, reader, cq, cq, tag); },
          .make = [this] { return new StreamReader(*this); },
          .calls = loop.calls(),
          .admit = admit}));
}

// One peer: a bounded queue drained into a client stream on the completion queue. Whoever
// finds the stream idle when it queues something (the core or storage thread) starts the
// write; each write's completion (on the queue's thread) starts the next with what queued
// meanwhile, as one frame. No thread of its own sits between the core and the socket.
// A stream that breaks is reopened by the transport's retry thread after a backoff
// (50 ms doubling to 1 s, on the steady clock: gRPC's timers follow the wall clock), or at
// once when the peer says it is up (kick).
//
// Life of a stream: its finish is counted from its opening until the sender finishes it:
// after a failed write, or when it is idle and must close (stop, a new address). Only one
// write is in flight (writing_), and the finish is never started under a write. No
// operation is started with mu_ held.
class GrpcTransport::Sender {
 public:
  using Clock = std::chrono::steady_clock;
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
    // The first stream opens at once (once the transport has started), with an empty
    // frame, so that a member that has just (re)started tells its peers so before it has
    // anything to send: the peers' streams to it reconnect at once (kick) instead of
    // after their backoff.
    open();
  }
  // Ends the stream and waits until gRPC is done with it.
  ~Sender() {
    std::shared_ptr<Stream> st;
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      st = stream_;
      release = close_locked();
    }
    if (st != nullptr) st->context.TryCancel();
    if (release) st->finish();
    std::unique_lock<std::mutex> lock(mu_);
    ended_.wait(lock, [&] { return stream_ == nullptr; });
  }

  void set_address(const std::string& address) {
    std::shared_ptr<Stream> st;
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (address == address_) return;
      address_ = address;
      channel_.reset();
      st = stream_;
      release = close_locked();
      retry_at_ = Clock::now();  // the new address is tried at once
    }
    if (st != nullptr) st->context.TryCancel();
    if (release) st->finish();
    t_.wake_retry();
  }

  void push(raft::Message m) {
    const uint64_t bytes = approximate_bytes(m);
    enqueue(Item{std::move(m), nullptr, bytes, {}, {}}, /*bounded=*/true);
  }

  // A forwarded proposal or a refusal, bounded like messages.
  void push_other(Item item) {
    item.bytes = item.proposal.size() + 64;
    enqueue(std::move(item), /*bounded=*/true);
  }

  void push_snapshot(raft::Message m, std::shared_ptr<const SnapshotSource> data) {
    enqueue(Item{std::move(m), std::move(data), 64, {}, {}}, /*bounded=*/false);
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
      if (stream_ != nullptr || stop_) return;
      backoff_ = kFirstBackoff;
      retry_at_ = Clock::now();
    }
    open();
  }

  // The retry thread: reopens the stream if its backoff has passed, and hands over the
  // removal a peer told the last stream of. Returns when to look again (max: nothing to do).
  Clock::time_point retry(Clock::time_point now, std::optional<std::string>* removed) {
    bool due = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      *removed = std::exchange(removed_, std::nullopt);
      if (stream_ != nullptr || stop_) return Clock::time_point::max();
      due = retry_at_ <= now;
      if (!due) return retry_at_;
    }
    open();
    return Clock::time_point::max();
  }

 private:
  static constexpr std::chrono::milliseconds kFirstBackoff{50};
  static constexpr std::chrono::milliseconds kMaxBackoff{1000};

  // One stream to the peer on the completion queue: its start, each write and its finish
  // come back as tags on the queue's thread. It counts itself among the queue's calls
  // under way from its start until the last of its tags is back; then the sender is told
  // (ended).
  class Stream final {
   public:
    Stream(Sender& s, std::shared_ptr<grpc::Channel> channel)
        : stub(pb::Peer::NewStub(std::move(channel))), s_(s) {}
    // Starts the call on `loop`'s queue; the first write follows at once, and carries the
    // call's headers (corked: the start itself is no operation, and returns no tag).
    void start(CompletionQueueLoop& loop) {
      calls_ = loop.calls();
      calls_->started();
      // The finish's tag, counted from the start: the stream lives until the sender has
      // finished it.
      pending_.store(1, std::memory_order_relaxed);
      context.set_initial_metadata_corked(true);
      writer_ = stub->PrepareAsyncStream(&context, &ack_, loop.queue());
      writer_->StartCall(nullptr);
    }
    // Writes `frame`; one write at a time.
    void write() {
      pending_.fetch_add(1, std::memory_order_relaxed);
      writer_->Write(frame, &write_op_);
    }
    // Once, with no write in flight: half-closes and takes the call's status.
    void finish() { writer_->Finish(&status_, &finish_op_); }

    grpc::ClientContext context;
    std::unique_ptr<pb::Peer::Stub> stub;
    pb::PeerFrame frame;  // the write in flight

   private:
    enum class Kind { kWrite, kFinish };
    class Op final : public CompletionTag {
     public:
      Op(Stream* s, Kind k) : s_(s), k_(k) {}
      void proceed(bool ok) override { s_->completed(k_, ok); }

     private:
      Stream* const s_;
      const Kind k_;
    };

    void completed(Kind kind, bool ok) {
      if (kind == Kind::kWrite) s_.written(ok);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        CallsUnderWay* const calls = calls_;
        s_.ended(status_);  // the sender lets go of this stream: it may be freed
        calls->ended();
      }
    }

    Sender& s_;
    pb::StreamAck ack_;
    grpc::Status status_;  // once the finish's tag is back
    std::unique_ptr<grpc::ClientAsyncWriter<pb::PeerFrame>> writer_;
    CallsUnderWay* calls_ = nullptr;
    std::atomic<int> pending_{0};
    Op write_op_{this, Kind::kWrite};
    Op finish_op_{this, Kind::kFinish};
  };

  // What the writer sends next: a batch of items, or one snapshot (chunk by chunk).
  struct Work {
    std::vector<Item> batch;
    std::optional<Item> snapshot;
  };

  void enqueue(Item item, bool bounded) {
    std::shared_ptr<Stream> st;
    Work work;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (bounded) {
        if (queue_.size() >= t_.options_.max_queue_messages ||
            queued_bytes_ + item.bytes > t_.options_.max_queue_bytes) {
          ++t_.dropped_;
          return;
        }
        queued_bytes_ += item.bytes;
      } else {
        // A newer snapshot supersedes any queued one.
        std::erase_if(queue_, [](const Item& i) { return i.snapshot != nullptr; });
      }
      queue_.push_back(std::move(item));
      if (stream_ == nullptr || writing_ || closing_) return;
      take_locked(work);
      writing_ = true;
      st = stream_;
    }
    start_write(*st, std::move(work));
  }

  // Moves the next work out of the queue: a snapshot alone, or messages up to a frame.
  void take_locked(Work& work) {
    if (queue_.empty()) return;
    if (queue_.front().snapshot != nullptr) {
      work.snapshot = std::move(queue_.front());
      queue_.pop_front();
      return;
    }
    uint64_t bytes = 0;
    while (!queue_.empty() && queue_.front().snapshot == nullptr &&
           (work.batch.empty() || bytes + queue_.front().bytes <= t_.options_.max_frame_bytes)) {
      bytes += queue_.front().bytes;
      queued_bytes_ -= queue_.front().bytes;
      work.batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }

  // The writer (whoever set writing_): builds the frame outside mu_ and starts its write.
  // A snapshot whose source cannot be read is given up (the stream is fine; the follower
  // starts over with the next snapshot the core sends) and the next work is taken.
  void start_write(Stream& st, Work work) {
    while (true) {
      st.frame.Clear();
      st.frame.set_cluster_id(t_.options_.cluster_id);
      st.frame.set_from(t_.options_.self.value());
      in_flight_ = 0;
      if (work.snapshot.has_value()) {
        snapshot_ = std::move(work.snapshot);
        snapshot_offset_ = 0;
        snapshot_start_ = Clock::now();
      }
      if (snapshot_.has_value()) {
        if (fill_chunk(st.frame)) break;
        snapshot_.reset();
        std::lock_guard<std::mutex> lock(mu_);
        work = Work{};
        take_locked(work);
        continue;  // an empty batch is a hello, harmless
      }
      for (const Item& i : work.batch) {
        if (!i.proposal.empty()) {
          st.frame.add_proposals(i.proposal);
        } else if (i.refusal.has_value()) {
          *st.frame.add_refusals() = *i.refusal;
        } else {
          encode(i.message, st.frame.add_messages());
        }
      }
      in_flight_ = work.batch.size();
      break;
    }
    in_flight_bytes_ = st.frame.ByteSizeLong();
    st.write();
  }

  // The next chunk of snapshot_ into `frame`; false when its source cannot be read.
  bool fill_chunk(pb::PeerFrame& frame) {
    const SnapshotSource& data = *snapshot_->snapshot;
    const uint64_t total = data.size();
    const auto& meta = std::get<raft::InstallSnapshot>(snapshot_->message.body).meta;
    const uint64_t n =
        std::min<uint64_t>(t_.options_.snapshot_chunk_bytes, total - snapshot_offset_);
    pb::SnapshotChunk* c = frame.mutable_chunk();
    c->set_index(meta.last.index.value());
    c->set_offset(snapshot_offset_);
    c->set_total(total);
    if (absl::Status s = data.read(snapshot_offset_, n, c->mutable_data()); !s.ok()) {
      raftlog::error(kComponent, "cannot read snapshot to send",
                     {{"peer", raftlog::hex_id(peer_.value())},
                      {"index", meta.last.index.value()},
                      {"offset", snapshot_offset_},
                      {"error", std::string(s.message())}});
      return false;
    }
    snapshot_offset_ += n;
    c->set_last(snapshot_offset_ == total);
    if (c->last()) encode(snapshot_->message, frame.add_messages());
    return true;
  }

  // A write finished (a gRPC poller, or the thread that started an operation).
  void written(bool ok) {
    std::shared_ptr<Stream> st;
    Work work;
    bool release = false;
    if (ok) {
      sent_bytes_.inc(static_cast<double>(in_flight_bytes_));
      t_.sent_ += in_flight_;
      if (snapshot_.has_value() && snapshot_offset_ == snapshot_->snapshot->size()) {
        const auto& meta = std::get<raft::InstallSnapshot>(snapshot_->message.body).meta;
        raftlog::info(kComponent, "sent snapshot",
                      {{"peer", raftlog::hex_id(peer_.value())},
                       {"index", meta.last.index.value()},
                       {"bytes", snapshot_offset_},
                       {"took", Clock::now() - snapshot_start_}});
        ++t_.snapshots_sent_;
        ++t_.sent_;
        snapshot_.reset();
      }
    } else {
      sent_failures_.inc();
      t_.dropped_ += in_flight_;
      snapshot_.reset();
    }
    in_flight_ = 0;
    bool established = false;
    bool more = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      st = stream_;
      if (ok) {
        backoff_ = kFirstBackoff;
        established = !carried_;
        carried_ = true;
      }
      if (ok && !closing_ && (snapshot_.has_value() || !queue_.empty())) {
        if (!snapshot_.has_value()) take_locked(work);  // else its next chunk
        more = true;
      } else {
        writing_ = false;
        if (!ok || closing_) {
          closing_ = true;
          hold_released_ = true;
          release = true;
        }
      }
    }
    if (established) {
      raftlog::info(kComponent, "peer stream established",
                    {{"peer", raftlog::hex_id(peer_.value())}});
    }
    if (release) {
      st->finish();
    } else if (more) {
      start_write(*st, std::move(work));
    }
  }

  // The stream is over (its last tag is back): everything it had is gone; the retry thread opens
  // the next after the backoff.
  void ended(const grpc::Status& closed) {
    std::shared_ptr<Stream> st;  // the last reference may be this one: freed on return
    {
      std::lock_guard<std::mutex> lock(mu_);
      st = std::move(stream_);
      const bool carried = carried_;
      if (carried && !stop_) {
        raftlog::warn(
            kComponent, "lost connection to peer",
            {{"peer", raftlog::hex_id(peer_.value())}, {"error", closed.error_message()}});
      }
      if (pb::StreamRefusal why; closed.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
                                 why.ParseFromString(closed.error_details()) &&
                                 why.reason() == pb::StreamRefusal::REMOVED) {
        removed_ = closed.error_message();
      }
      // A stream that could not carry a frame: the next one goes on a fresh channel,
      // which dials at once. The old channel would redial only when gRPC's reconnect
      // timer fires, and that timer can stall for as long as the wall clock was stepped
      // back (grpc_max_reconnect_backoff): a member whose clock jumped never reached its
      // peers again (issue 18's chaos runs).
      if (!carried) channel_.reset();
      // What waited for a dead stream is stale by the time it could go: Raft resends.
      t_.dropped_ += queue_.size();
      queue_.clear();
      queued_bytes_ = 0;
      if (retry_at_ == Clock::time_point::max()) retry_at_ = Clock::now() + backoff_;
      backoff_ = std::min(backoff_ * 2, kMaxBackoff);
      // Both under mu_, the last this does with the sender or the transport: once mu_ is
      // free, a stopping sender (and then its transport) may be gone.
      if (!stop_) t_.wake_retry();
      ended_.notify_all();
    }
  }

  // Under mu_: marks the stream closing; true when the caller must release its hold now
  // (no write in flight; else the write's end releases it).
  bool close_locked() {
    if (stream_ == nullptr || hold_released_) return false;
    closing_ = true;
    if (writing_) return false;
    hold_released_ = true;
    return true;
  }

  // Opens a stream (none is open) and writes the first frame: what is queued, or a hello.
  void open() {
    std::shared_ptr<Stream> st;
    Work work;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Not before the transport serves: the completion queue's thread runs from then on.
      if (stream_ != nullptr || stop_ || !t_.started_) return;
      st = std::make_shared<Stream>(*this, channel_locked());
      stream_ = st;
      writing_ = true;
      closing_ = false;
      hold_released_ = false;
      carried_ = false;
      retry_at_ = Clock::time_point::max();
      take_locked(work);
    }
    ++t_.reconnects_;
    st->start(*t_.loop_);
    start_write(*st, std::move(work));
  }

  std::shared_ptr<grpc::Channel> channel_locked() {
    if (channel_ == nullptr) {
      grpc::ChannelArguments args;
      args.SetMaxSendMessageSize(-1);
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                  static_cast<int>(t_.options_.grpc_initial_reconnect_backoff.count()));
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                  static_cast<int>(t_.options_.grpc_max_reconnect_backoff.count()));
      // A channel of its own, not one shared through gRPC's global pool, so that the
      // fresh channel made after a failed open (ended) dials instead of waiting out the
      // old one's reconnect timer.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      // A peer that acknowledges nothing (a partition) closes the stream after about 7 s,
      // and it is opened again: without it the stream waited out TCP's retransmission
      // backoff once the partition healed (7 s after a 20 s partition, 15 s after 40 s;
      // docs/benchmarks.md, "Partitions"). The peer port accepts a ping a second.
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kPeerKeepaliveMs);
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kPeerKeepaliveTimeoutMs);
      args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
      args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
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

  GrpcTransport& t_;
  const raft::NodeId peer_;
  metrics::Counter& sent_bytes_;
  metrics::Counter& sent_failures_;
  std::mutex mu_;
  std::condition_variable ended_;           // stream_ became null
  std::string address_;                     // guarded by mu_
  std::shared_ptr<grpc::Channel> channel_;  // guarded by mu_
  std::deque<Item> queue_;                  // guarded by mu_
  uint64_t queued_bytes_ = 0;               // guarded by mu_; message items only
  bool stop_ = false;                       // guarded by mu_
  std::shared_ptr<Stream> stream_;          // guarded by mu_: the open stream, if any
  bool writing_ = false;        // guarded by mu_: a write is in flight (or being started)
  bool closing_ = false;        // guarded by mu_: the stream is to end once idle
  bool hold_released_ = false;  // guarded by mu_
  bool carried_ = false;        // guarded by mu_: a write on this stream went through
  Clock::time_point retry_at_ = Clock::time_point::max();  // guarded by mu_
  std::chrono::milliseconds backoff_ = kFirstBackoff;      // guarded by mu_
  std::optional<std::string> removed_;  // guarded by mu_: a peer said this member is removed
  // The writer's own (whoever holds writing_): what the write in flight carries.
  size_t in_flight_ = 0;
  uint64_t in_flight_bytes_ = 0;
  std::optional<Item> snapshot_;  // the snapshot being streamed
  uint64_t snapshot_offset_ = 0;
  Clock::time_point snapshot_start_;
};

// A request forwarded to a peer, on the completion queue: it answers its caller and
// frees itself when its answer (or its failure) is back. Counted among the queue's calls
// under way, and in the transport's (stop() cancels those left).
class GrpcTransport::OutgoingForward final : public CompletionTag {
 public:
  OutgoingForward(GrpcTransport& t, CallsUnderWay* calls) : t_(t), calls_(calls) {
    calls_->started();
  }
  void proceed(bool) override {
    {
      std::lock_guard<std::mutex> lock(t_.mu_);
      t_.forwards_.erase(this);
      if (t_.forwards_.empty()) t_.forwards_done_.notify_all();
    }
    if (!status.ok()) {
      done(from_grpc(status));
    } else if (absl::Status s = from_wire(resp.status()); !s.ok()) {
      done(std::move(s));
    } else {
      done(std::move(*resp.mutable_result()));
    }
    CallsUnderWay* const calls = calls_;
    delete this;
    calls->ended();
  }

  grpc::ClientContext ctx;
  pb::ForwardRequest req;
  pb::ForwardResponse resp;
  grpc::Status status;
  std::unique_ptr<pb::Peer::Stub> stub;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::ForwardResponse>> reader;
  ForwardCallback done;

 private:
  GrpcTransport& t_;
  CallsUnderWay* const calls_;
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
      lane_sent_messages_(registry_of(options_, own_registry_)
                              .counter("raftkv_peer_lane_sent_messages_total",
                                       "Raft messages, forwarded proposals and refusals sent to "
                                       "peers on peer lanes (the rest go on the gRPC streams).")),
      refusal_log_(std::make_unique<raftlog::Throttle>(std::chrono::seconds(10))) {
  if (options_.peer_lanes) {
    PeerLaneHooks hooks;
    hooks.on_frame = [this](pb::PeerFrame& frame, uint64_t* sender) {
      return lane_frame(frame, sender);
    };
    hooks.on_closed = [this](uint64_t sender) {
      if (!stopped_ && handler_ != nullptr) handler_->on_peer_closed(raft::NodeId(sender));
    };
    lanes_ =
        std::make_unique<PeerLanes>(PeerLaneOptions{.cluster_id = options_.cluster_id,
                                                    .self = options_.self,
                                                    .max_buffer_bytes = options_.max_queue_bytes,
                                                    .max_frame_bytes = options_.max_message_bytes},
                                    std::move(hooks));
  }
  retrier_ = std::thread([this] {
    raftlog::name_this_thread("raftkv-redial");
    retry_loop();
  });
}

void GrpcTransport::wake_retry() {
  {
    std::lock_guard<std::mutex> lock(retry_mu_);
    retry_wake_ = true;
  }
  retry_cv_.notify_one();
}

void GrpcTransport::retry_loop() {
  auto next = std::chrono::steady_clock::time_point::max();
  while (true) {
    {
      std::unique_lock<std::mutex> lock(retry_mu_);
      auto woken = [&] { return retry_stop_ || retry_wake_; };
      if (next == std::chrono::steady_clock::time_point::max()) {
        retry_cv_.wait(lock, woken);
      } else {
        retry_cv_.wait_until(lock, next, woken);
      }
      if (retry_stop_) return;
      retry_wake_ = false;
    }
    next = std::chrono::steady_clock::time_point::max();
    std::vector<std::string> removed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto now = std::chrono::steady_clock::now();
      for (const auto& [id, sender] : senders_) {
        std::optional<std::string> why;
        next = std::min(next, sender->retry(now, &why));
        if (why.has_value()) removed.push_back(*std::move(why));
      }
    }
    for (std::string& why : removed) {
      if (handler_ != nullptr && !stopped_) handler_->on_removed(std::move(why));
    }
  }
}

size_t GrpcTransport::queued_messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [id, sender] : senders_) n += sender->queued();
  return n;
}

GrpcTransport::~GrpcTransport() { stop(); }

absl::StatusOr<int> GrpcTransport::start(Handler* handler) {
  grpc::ServerBuilder builder;
  own_loop_ = std::make_unique<CompletionQueueLoop>(builder.AddCompletionQueue(), "raftkv-peer");
  if (absl::Status s = prepare(handler, builder, *own_loop_); !s.ok()) return s;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a taken port is an error
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<uint64_t>(options_.max_message_bytes, static_cast<uint64_t>(INT32_MAX))));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             kPeerMinPingIntervalMs);
  own_server_ = builder.BuildAndStart();
  if (own_server_ == nullptr) {
    if (absl::Status bound = check_bound(); !bound.ok()) return bound;
    return absl::UnavailableError("cannot start the gRPC server of the peer ports");
  }
  own_loop_->start();
  return serve(*own_server_);
}

absl::Status GrpcTransport::prepare(Handler* handler, grpc::ServerBuilder& builder,
                                    CompletionQueueLoop& loop) {
  handler_ = handler;
  loop_ = &loop;
  shared_ = own_loop_ == nullptr;
  service_ = std::make_unique<PeerService>(*this);
  listeners_ = options_.listeners;
  if (listeners_.empty()) {
    listeners_.emplace_back(options_.listen_address, options_.server_credentials != nullptr);
  }
  ports_.assign(listeners_.size(), 0);
  for (size_t i = 0; i < listeners_.size(); ++i) {
    if (listeners_[i].second && options_.server_credentials == nullptr) {
      return absl::InvalidArgumentError("TLS asked for on " + listeners_[i].first +
                                        " without credentials");
    }
    if (!listeners_[i].second) {
      // Plaintext: bound here and sorted (gRPC's streams, or lanes), as the client port
      // sorts gRPC and HTTP/1; the mux also tells a shared server's services which port a
      // connection came in on (port_role.h).
      absl::StatusOr<std::unique_ptr<PortMux>> mux =
          PortMux::bind(listeners_[i].first, PortMuxLimits{}, "peer");
      if (!mux.ok()) return mux.status();
      ports_[i] = (*mux)->port();
      muxes_.push_back(*std::move(mux));
      continue;
    }
    // A shared server's TLS peer port marks its calls as a peer port's.
    if (shared_) mark_role(*options_.server_credentials, PortRole::kPeer);
    builder.AddListeningPort(listeners_[i].first, options_.server_credentials, &ports_[i]);
  }
  builder.RegisterService(service_.get());
  return absl::OkStatus();
}

absl::Status GrpcTransport::check_bound() const {
  for (size_t i = 0; i < listeners_.size(); ++i) {
    if (ports_[i] == 0) {
      return absl::UnavailableError("cannot listen for peers on " + listeners_[i].first);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> GrpcTransport::serve(grpc::Server& server) {
  if (absl::Status bound = check_bound(); !bound.ok()) return bound;
  server_ = &server;
  service_->listen(*loop_);
  if (lanes_ != nullptr) {
    if (absl::Status s = lanes_->start(); !s.ok()) return s;
  }
  for (const std::unique_ptr<PortMux>& m : muxes_) {
    PortMux::Handoff lane = nullptr;
    if (lanes_ != nullptr) lane = [this](int fd) { lanes_->adopt(fd); };
    m->start([this](int fd) { grpc::AddInsecureChannelFromFd(server_, fd); },
             [](int fd) { ::close(fd); },  // the peer port speaks no HTTP/1
             std::move(lane));
  }
  // Now the streams to the peers open (Sender::open says why not before).
  started_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, sender] : senders_) sender->kick();
  }
  return ports_.front();
}

void GrpcTransport::stop() {
  if (stopped_.exchange(true)) return;
  for (const std::unique_ptr<PortMux>& m : muxes_) m->stop();
  if (lanes_ != nullptr) lanes_->stop();
  std::map<raft::NodeId, std::unique_ptr<Sender>> senders;
  {
    std::lock_guard<std::mutex> lock(mu_);
    senders.swap(senders_);
  }
  senders.clear();  // waits for every stream's end
  {
    // The peers' streams to this member end now (a shared server's shutdown would wait
    // for them), and the forwarded requests still out at once (their callers are told).
    std::unique_lock<std::mutex> lock(mu_);
    for (grpc::ServerContextBase* c : incoming_) c->TryCancel();
    for (OutgoingForward* f : forwards_) f->ctx.TryCancel();
    forwards_done_.wait(lock, [&] { return forwards_.empty(); });
  }
  {
    std::lock_guard<std::mutex> lock(retry_mu_);
    retry_stop_ = true;
  }
  retry_cv_.notify_one();
  if (retrier_.joinable()) retrier_.join();
  if (own_server_ != nullptr) {
    own_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    own_server_->Wait();
  }
  if (own_loop_ != nullptr) own_loop_->stop();
}

void GrpcTransport::set_peer(raft::NodeId id, const std::string& address) {
  if (id == options_.self || stopped_) return;
  if (lanes_ != nullptr) {
    // Lanes are plaintext: a peer reached over TLS keeps its gRPC stream alone.
    if (const auto [tls, target] = peer_target(address); tls) {
      lanes_->remove_peer(id);
    } else {
      // The peer's counters, looked up once, not per frame. The references stay good
      // for the transport's life: a family keeps each child it made, at a fixed address,
      // and never drops one (metrics/registry.h).
      metrics::Counter& bytes_to = sent_bytes_.with({hex(id.value())});
      metrics::Counter& failures_to = sent_failures_.with({hex(id.value())});
      lanes_->set_peer(
          id, target,
          [this, &bytes_to](uint64_t bytes, uint64_t messages) {
            bytes_to.inc(static_cast<double>(bytes));
            sent_ += messages;
            lane_sent_ += messages;
            lane_sent_messages_.inc(static_cast<double>(messages));
          },
          [&failures_to] { failures_to.inc(); });
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = senders_.find(id);
  if (it == senders_.end()) {
    senders_.emplace(id, std::make_unique<Sender>(*this, id, address));
  } else {
    it->second->set_address(address);
  }
}

void GrpcTransport::remove_peer(raft::NodeId id) {
  if (lanes_ != nullptr) lanes_->remove_peer(id);
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
  if (lanes_ != nullptr) lanes_->kick(id);
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = senders_.find(id); it != senders_.end()) it->second->kick();
}

void GrpcTransport::send(std::vector<raft::Message> messages) {
  if (lanes_ != nullptr) messages = send_on_lanes(std::move(messages));
  if (messages.empty()) return;
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
  if (lanes_ != nullptr) {
    pb::PeerFrame frame;
    frame.add_proposals(std::move(entry));
    if (lanes_->send(to, frame, 1)) return;
    entry = std::move(*frame.mutable_proposals(0));
  }
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
  pb::Refusal r;
  r.set_request(request);
  to_wire(why, r.mutable_status());
  if (lanes_ != nullptr) {
    pb::PeerFrame frame;
    *frame.add_refusals() = r;
    if (lanes_->send(to, frame, 1)) return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = senders_.find(to);
  if (it == senders_.end()) return;
  Sender::Item item;
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
  if (channel == nullptr || !started_) {
    return done(unreachable_error("no address known for node " + std::to_string(to.value())));
  }
  // A leader we are not connected to never sees the request: say so, so the caller may
  // retry it once a leader is reachable. The peer stream keeps the channel connected
  // while the peer is up. Once sent, a failure is ambiguous and is returned as it is.
  if (channel->GetState(/*try_to_connect=*/true) != GRPC_CHANNEL_READY) {
    return done(unreachable_error("node " + std::to_string(to.value()) + " is not connected"));
  }
  auto* call = new OutgoingForward(*this, loop_->calls());
  call->ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  call->req.set_cluster_id(options_.cluster_id);
  call->req.set_from(options_.self.value());
  call->req.set_payload(std::move(payload));
  call->stub = pb::Peer::NewStub(channel);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopped_) {
      call->done = std::move(done);
      forwards_.insert(call);
    }
  }
  if (done != nullptr) {  // stopping: stop() waits for no call started after it looked
    CallsUnderWay* const calls = loop_->calls();
    delete call;
    calls->ended();
    return done(unreachable_error("the transport is stopping"));
  }
  call->reader = call->stub->PrepareAsyncForward(&call->ctx, call->req, loop_->queue());
  call->reader->StartCall();
  call->reader->Finish(&call->resp, &call->status, call);
}

// Each peer's messages in order, as frames of at most max_frame_bytes, on its lane; what
// finds no lane up is returned for the gRPC streams.
std::vector<raft::Message> GrpcTransport::send_on_lanes(std::vector<raft::Message> messages) {
  std::vector<raft::Message> rest;
  std::vector<bool> taken(messages.size(), false);
  for (size_t first = 0; first < messages.size(); ++first) {
    if (taken[first]) continue;
    const raft::NodeId to = messages[first].to;
    // Every message to `to` from here, in order, frame by frame.
    size_t i = first;
    bool lane_down = false;
    while (i < messages.size()) {
      pb::PeerFrame frame;
      std::vector<size_t> in_frame;
      uint64_t bytes = 0;
      for (; i < messages.size(); ++i) {
        if (taken[i] || messages[i].to != to) continue;
        const uint64_t b = approximate_bytes(messages[i]);
        if (!in_frame.empty() && bytes + b > options_.max_frame_bytes) break;
        bytes += b;
        taken[i] = true;
        in_frame.push_back(i);
        if (!lane_down) encode(messages[i], frame.add_messages());
      }
      if (!lane_down && lanes_->send(to, frame, in_frame.size())) continue;
      lane_down = true;
      for (size_t k : in_frame) rest.push_back(std::move(messages[k]));
    }
  }
  return rest;
}

bool GrpcTransport::lane_frame(pb::PeerFrame& frame, uint64_t* sender) {
  PeerService& s = *service_;
  PeerService::Incoming in;
  in.sender = *sender;
  if (s.refusal(nullptr, in, frame).has_value()) return false;
  *sender = in.sender;
  // Counted once accepted: what a refused connection claims names no counter.
  metrics::Counter*& received = lane_received_[in.sender];
  if (received == nullptr) received = &received_bytes_.with({hex(in.sender)});
  received->inc(static_cast<double>(frame.ByteSizeLong()));
  if (frame.has_chunk()) {
    ++refused_;
    log_refusal(refusal_log_, "refused peer lane", frame.from(), "snapshot chunk",
                "snapshots go on the gRPC stream, not on a lane");
    return false;
  }
  s.deliver(in, frame);
  return true;
}

TransportStats GrpcTransport::stats() const {
  const uint64_t dropped = dropped_ + (lanes_ != nullptr ? lanes_->dropped() : 0);
  return TransportStats{sent_,       dropped,         received_,           refused_,
                        reconnects_, snapshots_sent_, snapshots_received_, lane_sent_};
}

}  // namespace transport
