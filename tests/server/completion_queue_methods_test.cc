// The client listener's completion-queue machinery alone (server/services.h,
// server/blocking_stream.h, transport/unary_call.h, transport/server_stream.h): a gRPC
// server on 127.0.0.1 whose etcd services are the test's, served by one thread of the
// queue and the blocking pool, through a real gRPC client.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "etcd/rpc.grpc.pb.h"
#include "metrics/registry.h"
#include "node/eventually.h"
#include "node/node_error.h"
#include "server/blocking_pool.h"
#include "server/errors.h"
#include "server/grpc_metrics.h"
#include "server/retry_hint.h"
#include "server/services.h"
#include "transport/completion_queue_loop.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
using namespace std::chrono_literals;
using node::eventually;

// A latch the test opens.
class Gate {
 public:
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // False if it was not opened within ten seconds.
  bool wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Echoes each WatchRequest's create key back as a WatchResponse's cancel_reason; counts
// what happened to it.
struct EchoCounts {
  std::atomic<int> started{0}, cancelled{0}, done{0};
};
class EchoStream final : public transport::ServerStream<
                             grpc::ServerAsyncReaderWriter<pb::WatchResponse, pb::WatchRequest>> {
 public:
  explicit EchoStream(EchoCounts* counts) : counts_(counts) {}

 private:
  void OnStart() override {
    counts_->started++;
    StartRead(&req_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return finish(grpc::Status::OK);
    resp_.set_cancel_reason(req_.create_request().key());
    StartWrite(&resp_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return finish(grpc::Status::OK);
    StartRead(&req_);
  }
  void OnCancel() override {
    counts_->cancelled++;
    finish(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    counts_->done++;
    delete this;
  }
  void finish(const grpc::Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }

  EchoCounts* const counts_;
  pb::WatchRequest req_;
  pb::WatchResponse resp_;
  std::mutex mu_;
  bool finished_ = false;
};

class CompletionQueueMethodsTest : public ::testing::Test {
 protected:
  // A service of type S, kept for the server's life (registered by start()).
  template <class S>
  S* add_service() {
    services_.push_back(std::make_unique<S>());
    return static_cast<S*>(services_.back().get());
  }
  // Starts the server with what `add` registers on `methods` (the services made with
  // add_service()).
  void start(const std::function<void(CompletionQueueMethods*)>& add) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    loop_ =
        std::make_unique<transport::CompletionQueueLoop>(builder.AddCompletionQueue(), "test-cq");
    CompletionQueueMethods methods(loop_.get(), &pool_, nullptr, observer_);
    add(&methods);
    for (auto& s : services_) builder.RegisterService(s.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    methods.start();
    loop_->start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                   grpc::InsecureChannelCredentials());
  }
  // Watch streams served by EchoStreams counting into `counts`.
  void start_echo(EchoCounts* counts) {
    auto* svc = add_service<pb::Watch::AsyncService>();
    start([&](CompletionQueueMethods* m) {
      m->stream(svc, &pb::Watch::AsyncService::RequestWatch,
                [counts] { return new EchoStream(counts); });
    });
  }
  // The order Server::stop() keeps: the server, the pool, then the queue.
  void stop() {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    server_->Wait();
    pool_.stop();
    loop_->stop();
    server_.reset();
  }
  void TearDown() override { stop(); }

  const transport::CallObserver* observer_ = nullptr;  // set before start(), if any
  int port_ = 0;
  BlockingPool pool_;
  std::unique_ptr<transport::CompletionQueueLoop> loop_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(CompletionQueueMethodsTest, UnaryCallsAnsweredFromAnotherThreadAllGetTheirOwnAnswer) {
  // Each Put is answered by a thread of its own, as the core answers a write.
  std::vector<std::thread> answerers;
  std::mutex mu;
  auto* svc = add_service<pb::KV::AsyncService>();
  start([&](CompletionQueueMethods* m) {
    m->unary(svc, &pb::KV::AsyncService::RequestPut,
             [&](transport::UnaryCall<pb::PutRequest, pb::PutResponse>& call) {
               std::lock_guard<std::mutex> lock(mu);
               answerers.emplace_back([&call] {
                 call.response()->mutable_prev_kv()->set_value(call.request().value());
                 call.finish(grpc::Status::OK);
               });
             });
  });
  auto stub = pb::KV::NewStub(channel_);
  constexpr int kCalls = 64;
  std::vector<std::thread> clients;
  std::atomic<int> right{0};
  for (int i = 0; i < kCalls; ++i) {
    clients.emplace_back([&, i] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 10s);
      pb::PutRequest req;
      req.set_key("k");
      req.set_value("v" + std::to_string(i));
      pb::PutResponse resp;
      grpc::Status s = stub->Put(&ctx, req, &resp);
      if (s.ok() && resp.prev_kv().value() == req.value()) right++;
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(right.load(), kCalls);
  std::lock_guard<std::mutex> lock(mu);
  for (auto& a : answerers) a.join();
}

TEST_F(CompletionQueueMethodsTest, AnErrorIsSentWithoutTheResponse) {
  auto* svc = add_service<pb::KV::AsyncService>();
  start([&](CompletionQueueMethods* m) {
    m->blocking(svc, &pb::KV::AsyncService::RequestRange,
                [](grpc::ServerContext*, const pb::RangeRequest* req, pb::RangeResponse* resp) {
                  resp->set_count(7);
                  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                      "no range for " + req->key());
                });
  });
  auto stub = pb::KV::NewStub(channel_);
  grpc::ClientContext ctx;
  pb::RangeRequest req;
  req.set_key("k");
  pb::RangeResponse resp;
  grpc::Status s = stub->Range(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "no range for k");
  EXPECT_EQ(resp.count(), 0);
}

TEST_F(CompletionQueueMethodsTest, AStreamEchoesThenEndsOnceWhenTheClientCancels) {
  EchoCounts counts;
  start_echo(&counts);
  auto stub = pb::Watch::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = stub->Watch(&ctx);
  for (const char* key : {"a", "b", "c"}) {
    pb::WatchRequest req;
    req.mutable_create_request()->set_key(key);
    ASSERT_TRUE(stream->Write(req));
    pb::WatchResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.cancel_reason(), key);
  }
  ctx.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(eventually([&] { return counts.done.load() == 1; }));
  EXPECT_EQ(counts.started.load(), 1);
  EXPECT_EQ(counts.cancelled.load(), 1);
}

TEST_F(CompletionQueueMethodsTest, AStreamOpenAtShutdownIsEnded) {
  EchoCounts counts;
  start_echo(&counts);
  auto stub = pb::Watch::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = stub->Watch(&ctx);
  pb::WatchRequest req;
  req.mutable_create_request()->set_key("a");
  ASSERT_TRUE(stream->Write(req));
  pb::WatchResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  stop();  // the server's shutdown cancels the stream; the queue then drains
  EXPECT_EQ(counts.done.load(), 1);
  EXPECT_FALSE(stream->Read(&resp));
}

// A blocking stream whose client leaves while its handler still runs: the call must live
// until the handler has finished it (the object was once freed when the done tag and the
// last write came back first: a use after free that AddressSanitizer reports).
TEST_F(CompletionQueueMethodsTest, ABlockingStreamOutlivesItsClientUntilItsHandlerEnds) {
  Gate client_gone;
  std::atomic<bool> read_first{false}, write_after{true}, handler_ended{false};
  auto* svc = add_service<pb::Lease::AsyncService>();
  using Stream =
      grpc::ServerAsyncReaderWriter<pb::LeaseKeepAliveResponse, pb::LeaseKeepAliveRequest>;
  start([&](CompletionQueueMethods* m) {
    m->blocking_bidi(
        svc, &pb::Lease::AsyncService::RequestLeaseKeepAlive,
        [&](grpc::ServerContext*, const pb::LeaseKeepAliveRequest*,
            BlockingStream<Stream, pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>* s) {
          pb::LeaseKeepAliveRequest req;
          read_first = s->Read(&req);
          pb::LeaseKeepAliveResponse resp;
          resp.set_id(req.id());
          EXPECT_TRUE(s->Write(resp));
          EXPECT_TRUE(client_gone.wait());
          // The client's cancel has reached the server (the done tag is back, and with it
          // the last operation the call had in flight): the call must still be here, and a
          // write now fails.
          EXPECT_TRUE(eventually([&] { return s->cancelled(); }));
          write_after = s->Write(resp);
          handler_ended = true;
          return grpc::Status::OK;
        });
  });
  auto stub = pb::Lease::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    auto stream = stub->LeaseKeepAlive(&ctx);
    pb::LeaseKeepAliveRequest req;
    req.set_id(42);
    ASSERT_TRUE(stream->Write(req));
    pb::LeaseKeepAliveResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.id(), 42);
    ctx.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  client_gone.open();
  EXPECT_TRUE(eventually([&] { return handler_ended.load(); }));
  EXPECT_TRUE(read_first.load());
  EXPECT_FALSE(write_after.load());
}

TEST_F(CompletionQueueMethodsTest, AServerStreamWritesEachMessageItsHandlerSends) {
  auto* svc = add_service<pb::Maintenance::AsyncService>();
  start([&](CompletionQueueMethods* m) {
    m->blocking_server_stream(svc, &pb::Maintenance::AsyncService::RequestSnapshot,
                              [](grpc::ServerContext*, const pb::SnapshotRequest*,
                                 BlockingStream<grpc::ServerAsyncWriter<pb::SnapshotResponse>,
                                                pb::SnapshotRequest, pb::SnapshotResponse>* s) {
                                for (int i = 3; i >= 0; --i) {
                                  pb::SnapshotResponse r;
                                  r.set_remaining_bytes(i);
                                  if (!s->Write(r))
                                    return grpc::Status(grpc::StatusCode::CANCELLED, "left");
                                }
                                return grpc::Status::OK;
                              });
  });
  auto stub = pb::Maintenance::NewStub(channel_);
  grpc::ClientContext ctx;
  auto reader = stub->Snapshot(&ctx, pb::SnapshotRequest());
  std::vector<uint64_t> got;
  pb::SnapshotResponse r;
  while (reader->Read(&r)) got.push_back(r.remaining_bytes());
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, (std::vector<uint64_t>{3, 2, 1, 0}));
}

// The value of the sample of `name` whose line holds every one of `labels` in
// `registry`'s exposition, or -1 if there is none.
double sample(const metrics::Registry& registry, const std::string& name,
              const std::vector<std::string>& labels) {
  std::istringstream in(registry.render());
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) != 0) continue;
    bool all = true;
    for (const std::string& l : labels) all = all && line.find(l) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

// go-grpc-prometheus's counts, told by the calls themselves (GrpcMetrics as the observer):
// each call started, handled by code, timed, and its messages and their bytes, for unary
// calls answered from another thread, errors, bidirectional and server streams.
TEST_F(CompletionQueueMethodsTest, EachCallIsCountedAsGoGrpcPrometheusCountsIt) {
  metrics::Registry registry;
  GrpcMetrics counted(registry,
                      {"etcdserverpb.KV", "etcdserverpb.Watch", "etcdserverpb.Maintenance"},
                      [] { return std::chrono::milliseconds(5); });
  observer_ = &counted;
  std::vector<std::thread> answerers;
  std::mutex mu;
  auto* kv = add_service<pb::KV::AsyncService>();
  auto* watch = add_service<pb::Watch::AsyncService>();
  auto* maintenance = add_service<pb::Maintenance::AsyncService>();
  EchoCounts counts;
  start([&](CompletionQueueMethods* m) {
    m->blocking_server_stream(maintenance, &pb::Maintenance::AsyncService::RequestSnapshot,
                              [](grpc::ServerContext*, const pb::SnapshotRequest*,
                                 BlockingStream<grpc::ServerAsyncWriter<pb::SnapshotResponse>,
                                                pb::SnapshotRequest, pb::SnapshotResponse>* s) {
                                for (int i = 0; i < 4; ++i) s->Write(pb::SnapshotResponse());
                                return grpc::Status::OK;
                              });
    m->unary(kv, &pb::KV::AsyncService::RequestPut,
             [&](transport::UnaryCall<pb::PutRequest, pb::PutResponse>& call) {
               std::lock_guard<std::mutex> lock(mu);
               answerers.emplace_back([&call] {
                 call.response()->mutable_prev_kv()->set_value(call.request().value());
                 call.finish(grpc::Status::OK);
               });
             });
    m->blocking(kv, &pb::KV::AsyncService::RequestRange,
                [](grpc::ServerContext*, const pb::RangeRequest*, pb::RangeResponse*) {
                  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no");
                });
    m->stream(watch, &pb::Watch::AsyncService::RequestWatch,
              [&counts] { return new EchoStream(&counts); });
  });
  auto kv_stub = pb::KV::NewStub(channel_);
  pb::PutRequest put;
  put.set_key("k");
  put.set_value(std::string(100, 'v'));
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    pb::PutResponse resp;
    ASSERT_TRUE(kv_stub->Put(&ctx, put, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    pb::RangeResponse resp;
    EXPECT_EQ(kv_stub->Range(&ctx, pb::RangeRequest(), &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    auto stream = pb::Watch::NewStub(channel_)->Watch(&ctx);
    for (const char* key : {"a", "b"}) {
      pb::WatchRequest req;
      req.mutable_create_request()->set_key(key);
      ASSERT_TRUE(stream->Write(req));
      pb::WatchResponse resp;
      ASSERT_TRUE(stream->Read(&resp));
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
  {
    grpc::ClientContext ctx;
    auto reader = pb::Maintenance::NewStub(channel_)->Snapshot(&ctx, pb::SnapshotRequest());
    pb::SnapshotResponse r;
    while (reader->Read(&r)) {
    }
    EXPECT_TRUE(reader->Finish().ok());
  }
  EXPECT_TRUE(eventually([&] { return counts.done.load() == 1; }));
  const std::string snapshot = "grpc_method=\"Snapshot\"";
  EXPECT_EQ(sample(registry, "grpc_server_started_total", {snapshot, "server_stream"}), 1);
  EXPECT_EQ(sample(registry, "grpc_server_msg_received_total", {snapshot}), 1);  // the request
  EXPECT_EQ(sample(registry, "grpc_server_msg_sent_total", {snapshot}), 4);
  const std::string unary_put = "grpc_method=\"Put\"";
  EXPECT_EQ(sample(registry, "grpc_server_started_total", {unary_put}), 3);
  EXPECT_EQ(sample(registry, "grpc_server_handled_total", {unary_put, "grpc_code=\"OK\""}), 3);
  EXPECT_EQ(sample(registry, "grpc_server_handling_seconds_count", {unary_put}), 3);
  EXPECT_EQ(sample(registry, "grpc_server_msg_received_total", {unary_put}), 3);
  EXPECT_EQ(sample(registry, "grpc_server_msg_sent_total", {unary_put}), 3);
  const std::string range = "grpc_method=\"Range\"";
  EXPECT_EQ(sample(registry, "grpc_server_handled_total", {range, "grpc_code=\"InvalidArgument\""}),
            1);
  EXPECT_EQ(sample(registry, "grpc_server_msg_sent_total", {range}), 0);  // no response sent
  const std::string watch_m = "grpc_method=\"Watch\"";
  EXPECT_EQ(sample(registry, "grpc_server_started_total", {watch_m, "bidi_stream"}), 1);
  EXPECT_EQ(sample(registry, "grpc_server_msg_received_total", {watch_m}), 2);
  EXPECT_EQ(sample(registry, "grpc_server_msg_sent_total", {watch_m}), 2);
  EXPECT_EQ(sample(registry, "grpc_server_handled_total", {watch_m, "grpc_code=\"OK\""}), 1);
  // Bytes: each message's encoded size, as etcd counts them (puts and their answers,
  // the range request, the watch requests and answers).
  pb::PutResponse answer;
  answer.mutable_prev_kv()->set_value(put.value());
  pb::WatchRequest wreq;
  wreq.mutable_create_request()->set_key("a");
  pb::WatchResponse wresp;
  wresp.set_cancel_reason("a");
  EXPECT_EQ(sample(registry, "etcd_network_client_grpc_received_bytes_total", {}),
            -1);  // not a labelled family
  const double received = 3.0 * put.ByteSizeLong() + 2.0 * wreq.ByteSizeLong();
  const double sent = 3.0 * answer.ByteSizeLong() + 2.0 * wresp.ByteSizeLong();
  std::istringstream text(registry.render());
  double got_received = -1, got_sent = -1;
  for (std::string line; std::getline(text, line);) {
    if (line.rfind("etcd_network_client_grpc_received_bytes_total ", 0) == 0)
      got_received = std::stod(line.substr(line.rfind(' ') + 1));
    if (line.rfind("etcd_network_client_grpc_sent_bytes_total ", 0) == 0)
      got_sent = std::stod(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_EQ(got_received, received);
  EXPECT_EQ(got_sent, sent);
  std::lock_guard<std::mutex> lock(mu);
  for (auto& a : answerers) a.join();
}

// The runtime's overload refusals reach the client as a bare status from many paths;
// every RESOURCE_EXHAUSTED answer gets a retry-after-ms trailer as it is sent, the
// limiter's own (set_retry_after) is kept alone, and other answers get none.
TEST_F(CompletionQueueMethodsTest, EveryResourceExhaustedAnswerCarriesARetryHint) {
  metrics::Registry registry;
  GrpcMetrics counted(registry, {"etcdserverpb.KV"},
                      [] { return std::chrono::milliseconds(1234); });
  observer_ = &counted;
  auto* kv = add_service<pb::KV::AsyncService>();
  start([&](CompletionQueueMethods* m) {
    m->blocking(kv, &pb::KV::AsyncService::RequestRange,
                [](grpc::ServerContext*, const pb::RangeRequest*, pb::RangeResponse*) {
                  return to_grpc(node::node_error(node::NodeErrorKind::kOverloaded, "queue full"));
                });
    m->unary(kv, &pb::KV::AsyncService::RequestPut,
             [](transport::UnaryCall<pb::PutRequest, pb::PutResponse>& call) {
               set_retry_after(&call.context(), std::chrono::milliseconds(7));
               call.finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "limiter"));
             });
    m->blocking(kv, &pb::KV::AsyncService::RequestDeleteRange,
                [](grpc::ServerContext*, const pb::DeleteRangeRequest*, pb::DeleteRangeResponse*) {
                  return grpc::Status(grpc::StatusCode::NOT_FOUND, "no");
                });
  });
  auto stub = pb::KV::NewStub(channel_);
  auto hints = [](const grpc::ClientContext& ctx) {
    std::vector<std::string> out;
    auto [from, to] = ctx.GetServerTrailingMetadata().equal_range("retry-after-ms");
    for (auto it = from; it != to; ++it) out.emplace_back(it->second.data(), it->second.size());
    return out;
  };
  for (int round = 0; round < 2; ++round) {  // the second: nothing left over from the first
    {
      grpc::ClientContext ctx;
      pb::RangeResponse resp;
      const grpc::Status s = stub->Range(&ctx, pb::RangeRequest(), &resp);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_EQ(s.error_message(), "etcdserver: too many requests");
      EXPECT_EQ(hints(ctx), std::vector<std::string>{"1234"});
    }
    {
      grpc::ClientContext ctx;
      pb::PutResponse resp;
      EXPECT_EQ(stub->Put(&ctx, pb::PutRequest(), &resp).error_code(),
                grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_EQ(hints(ctx), std::vector<std::string>{"7"});
    }
    {
      grpc::ClientContext ctx;
      pb::DeleteRangeResponse resp;
      EXPECT_EQ(stub->DeleteRange(&ctx, pb::DeleteRangeRequest(), &resp).error_code(),
                grpc::StatusCode::NOT_FOUND);
      EXPECT_TRUE(hints(ctx).empty());
    }
  }
}

TEST(BlockingPool, RunsAsManyPiecesAtOnceAsAreHanded) {
  // Each piece waits for the next to start: one thread alone would never get past the
  // first.
  BlockingPool pool;
  constexpr int kPieces = 8;
  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  std::atomic<int> ended{0};
  for (int i = 0; i < kPieces; ++i) {
    pool.run([&] {
      std::unique_lock<std::mutex> lock(mu);
      ++started;
      cv.notify_all();
      if (cv.wait_for(lock, 10s, [&] { return started == kPieces; })) ended++;
    });
  }
  EXPECT_TRUE(eventually([&] { return ended.load() == kPieces; }));
  pool.stop();
  bool after_stop = false;
  pool.run([&] { after_stop = true; });  // runs here once stopped
  EXPECT_TRUE(after_stop);
}

}  // namespace
}  // namespace server
