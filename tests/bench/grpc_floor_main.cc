// grpc-floor: etcd's KV service answering at once, with nothing behind it: what one unary
// call costs gRPC's C++ runtime on this machine, the floor under any server built on it.
// bench_compare.py --floor drives it with raftkv-bench as it drives raftkv and etcd, and
// docs/benchmarks.md sets raftkv's CPU per operation beside it (issue 19).
//
// Put and Range are answered on gRPC's callback API as raftkv's KV service is, with the
// same server arguments (keepalive pings every 5 s accepted) and the same allocator. With
// --finish-on-thread the answer is given from one thread of our own, as raftkv answers a
// write from its apply thread and a linearizable read from its core thread: that thread
// takes what has queued since it last woke and finishes each. --delay-us and --tick-us
// hold each answer as replication would (raftkv's load is bound by its latency, so gRPC's
// threads sleep between requests), and --async-threads serves on the completion-queue API
// instead (docs/benchmarks.md, "The seventh cut").
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcd/rpc.grpc.pb.h"

namespace {

namespace pb = etcdserverpb;

void header(pb::ResponseHeader* h) {
  h->set_cluster_id(1);
  h->set_member_id(1);
  h->set_revision(1);
  h->set_raft_term(1);
}

// Finishes what is added from one thread of its own, each no earlier than `delay` after it
// was added (a stand-in for replication's latency: with it, gRPC's threads sleep between
// requests as raftkv's do, instead of running saturated).
class Finisher {
 public:
  Finisher(std::chrono::microseconds delay, std::chrono::microseconds tick)
      : delay_(delay), tick_(tick), thread_([this] { run(); }) {}
  ~Finisher() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void add(std::function<void()> finish) {
    bool wake;
    {
      std::lock_guard<std::mutex> l(mu_);
      wake = queue_.empty();
      queue_.push_back({std::chrono::steady_clock::now() + delay_, std::move(finish)});
    }
    if (wake) cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      if (delay_.count() > 0) {
        auto due = queue_.front().due;
        if (tick_.count() > 0) {  // answer in batches, as an apply thread does once per commit
          auto since = due.time_since_epoch();
          due += (tick_ - since % tick_) % tick_;
        }
        if (cv_.wait_until(l, due, [this] { return stop_; })) return;
      }
      std::deque<Pending> batch;
      auto now = std::chrono::steady_clock::now();
      while (!queue_.empty() && queue_.front().due <= now) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      l.unlock();
      for (Pending& p : batch) p.finish();
      l.lock();
    }
  }
  struct Pending {
    std::chrono::steady_clock::time_point due;
    std::function<void()> finish;
  };
  const std::chrono::microseconds delay_;
  const std::chrono::microseconds tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stop_ = false;
  std::thread thread_;
};

class FloorKv final : public pb::KV::CallbackService {
 public:
  explicit FloorKv(Finisher* finisher) : finisher_(finisher) {}

  grpc::ServerUnaryReactor* Range(grpc::CallbackServerContext* ctx, const pb::RangeRequest*,
                                  pb::RangeResponse* resp) override {
    header(resp->mutable_header());
    return finish(ctx->DefaultReactor());
  }
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* ctx, const pb::PutRequest*,
                                pb::PutResponse* resp) override {
    header(resp->mutable_header());
    return finish(ctx->DefaultReactor());
  }

 private:
  grpc::ServerUnaryReactor* finish(grpc::ServerUnaryReactor* r) {
    if (finisher_ != nullptr) {
      finisher_->add([r] { r->Finish(grpc::Status::OK); });
    } else {
      r->Finish(grpc::Status::OK);
    }
    return r;
  }
  Finisher* finisher_;
};

// The same two methods on gRPC's asynchronous (completion queue) API, with threads of our
// own calling Next() on one queue: the thread that polls the sockets also runs what
// completes, where the callback API hands completions to its own pool of threads.
class AsyncCall {
 public:
  virtual ~AsyncCall() = default;
  // Called on a queue thread with the outcome of the call's next event.
  virtual void proceed(bool ok) = 0;
};

// Whether the queue is shutting down: no call may be asked for after its Shutdown().
std::mutex g_queue_mu;
bool g_queue_closing = false;

template <typename Req, typename Resp>
class AsyncUnary final : public AsyncCall {
 public:
  using Request = void (pb::KV::AsyncService::*)(grpc::ServerContext*, Req*,
                                                 grpc::ServerAsyncResponseWriter<Resp>*,
                                                 grpc::CompletionQueue*,
                                                 grpc::ServerCompletionQueue*, void*);
  AsyncUnary(pb::KV::AsyncService* svc, Request request, grpc::ServerCompletionQueue* cq,
             Finisher* finisher)
      : svc_(svc), request_(request), cq_(cq), finisher_(finisher), responder_(&ctx_) {
    (svc_->*request_)(&ctx_, &req_, &responder_, cq_, cq_, this);
  }
  void proceed(bool ok) override {
    if (answered_ || !ok) {  // the answer went out, or the server is shutting down
      delete this;
      return;
    }
    {
      std::lock_guard<std::mutex> l(g_queue_mu);
      if (!g_queue_closing) new AsyncUnary(svc_, request_, cq_, finisher_);  // the next call
    }
    answered_ = true;
    header(resp_.mutable_header());
    if (finisher_ != nullptr) {
      finisher_->add([this] { responder_.Finish(resp_, grpc::Status::OK, this); });
    } else {
      responder_.Finish(resp_, grpc::Status::OK, this);
    }
  }

 private:
  pb::KV::AsyncService* svc_;
  Request request_;
  grpc::ServerCompletionQueue* cq_;
  Finisher* finisher_;
  grpc::ServerContext ctx_;
  Req req_;
  Resp resp_;
  grpc::ServerAsyncResponseWriter<Resp> responder_;
  bool answered_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grpc-floor: etcd's KV service answering at once (the cost of gRPC alone)"};
  std::string listen;
  bool on_thread = false;
  app.add_option("--listen", listen, "host:port to serve on (127.0.0.1:0 picks a port)")
      ->required();
  int async_threads = 0;
  int delay_us = 0;
  int tick_us = 0;
  bool idle_callback = false;
  CLI::Option* finish_opt =
      app.add_flag("--finish-on-thread", on_thread, "answer from one thread of our own");
  CLI::Option* async_opt =
      app.add_option("--async-threads", async_threads,
                     "serve on gRPC's completion-queue API with this many threads of our own "
                     "(0: the callback API, as raftkv)")
          ->check(CLI::Range(0, 64));
  CLI::Option* delay_opt = app.add_option("--delay-us", delay_us,
                                          "answer each call this long after it arrived "
                                          "(a stand-in for replication)")
                               ->check(CLI::Range(0, 1000000))
                               ->needs(finish_opt);
  app.add_flag("--idle-callback-service", idle_callback,
               "also register a callback-API service no call uses (etcd's Watch), as raftkv "
               "has its streams")
      ->needs(async_opt);
  app.add_option("--tick-us", tick_us,
                 "answer only on multiples of this period, in batches (as raftkv's apply "
                 "thread answers one commit's writes together)")
      ->check(CLI::Range(0, 1000000))
      ->needs(delay_opt);
  CLI11_PARSE(app, argc, argv);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // every thread after this one too

  std::unique_ptr<Finisher> finisher;
  if (on_thread)
    finisher = std::make_unique<Finisher>(std::chrono::microseconds(delay_us),
                                          std::chrono::microseconds(tick_us));
  FloorKv kv(finisher.get());
  pb::KV::AsyncService async_kv;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  pb::Watch::CallbackService watch;
  if (async_threads > 0) {
    if (idle_callback) builder.RegisterService(&watch);
    builder.RegisterService(&async_kv);
    cq = builder.AddCompletionQueue();
  } else {
    builder.RegisterService(&kv);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "grpc-floor: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::vector<std::thread> pollers;
  if (async_threads > 0) {
    for (int i = 0; i < async_threads; ++i) {
      new AsyncUnary<pb::PutRequest, pb::PutResponse>(&async_kv, &pb::KV::AsyncService::RequestPut,
                                                      cq.get(), finisher.get());
      new AsyncUnary<pb::RangeRequest, pb::RangeResponse>(
          &async_kv, &pb::KV::AsyncService::RequestRange, cq.get(), finisher.get());
    }
    for (int i = 0; i < async_threads; ++i) {
      pollers.emplace_back([q = cq.get()] {
        void* tag = nullptr;
        bool ok = false;
        while (q->Next(&tag, &ok)) static_cast<AsyncCall*>(tag)->proceed(ok);
      });
    }
  }
  std::printf("listening on port %d\n", port);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  server->Shutdown();
  if (cq != nullptr) {
    std::lock_guard<std::mutex> l(g_queue_mu);
    g_queue_closing = true;
    cq->Shutdown();
  }
  for (std::thread& t : pollers) t.join();
  return 0;
}
