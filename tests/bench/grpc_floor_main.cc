// grpc-floor: etcd's KV service answering at once, with nothing behind it: what one unary
// call costs gRPC's C++ runtime on this machine, the floor under any server built on it.
// bench_compare.py --floor drives it with raftkv-bench as it drives raftkv and etcd, and
// docs/benchmarks.md sets raftkv's CPU per operation beside it (issue 19).
//
// Put and Range are answered on gRPC's callback API as raftkv's KV service is, with the
// same server arguments (keepalive pings every 5 s accepted) and the same allocator. With
// --finish-on-thread the answer is given from one thread of our own, as raftkv answers a
// write from its apply thread and a linearizable read from its core thread: that thread
// takes what has queued since it last woke and finishes each.
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "etcd/rpc.grpc.pb.h"

namespace {

namespace pb = etcdserverpb;

class Finisher {
 public:
  Finisher() : thread_([this] { run(); }) {}
  ~Finisher() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void add(grpc::ServerUnaryReactor* r) {
    bool wake;
    {
      std::lock_guard<std::mutex> l(mu_);
      wake = queue_.empty();
      queue_.push_back(r);
    }
    if (wake) cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      std::deque<grpc::ServerUnaryReactor*> batch;
      batch.swap(queue_);
      l.unlock();
      for (grpc::ServerUnaryReactor* r : batch) r->Finish(grpc::Status::OK);
      l.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<grpc::ServerUnaryReactor*> queue_;
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
  static void header(pb::ResponseHeader* h) {
    h->set_cluster_id(1);
    h->set_member_id(1);
    h->set_revision(1);
    h->set_raft_term(1);
  }
  grpc::ServerUnaryReactor* finish(grpc::ServerUnaryReactor* r) {
    if (finisher_ != nullptr) {
      finisher_->add(r);
    } else {
      r->Finish(grpc::Status::OK);
    }
    return r;
  }
  Finisher* finisher_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grpc-floor: etcd's KV service answering at once (the cost of gRPC alone)"};
  std::string listen;
  bool on_thread = false;
  app.add_option("--listen", listen, "host:port to serve on (127.0.0.1:0 picks a port)")
      ->required();
  app.add_flag("--finish-on-thread", on_thread, "answer from one thread of our own");
  CLI11_PARSE(app, argc, argv);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // every thread after this one too

  std::unique_ptr<Finisher> finisher;
  if (on_thread) finisher = std::make_unique<Finisher>();
  FloorKv kv(finisher.get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.RegisterService(&kv);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "grpc-floor: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::printf("listening on port %d\n", port);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  server->Shutdown();
  return 0;
}
