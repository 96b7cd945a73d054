// A streaming call whose handler blocks, served on gRPC's completion-queue API: the
// handler runs on the BlockingPool and reads and writes one message at a time, each call
// waiting for gRPC, as gRPC's sync API would have it (transport/server_stream.h).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "node/mutex.h"
#include "server/blocking_pool.h"
#include "transport/server_stream.h"

namespace server {

// `Stream` is grpc::ServerAsyncReaderWriter<Resp, Req> (a bidirectional stream: the
// handler reads its requests) or grpc::ServerAsyncWriter<Resp> (a server stream: the
// handler gets the one request).
template <class Stream, class Req, class Resp>
class BlockingStream final : public transport::ServerStream<Stream> {
  using Base = transport::ServerStream<Stream>;

 public:
  static constexpr bool kBidi = std::is_same_v<Stream, grpc::ServerAsyncReaderWriter<Resp, Req>>;
  // Returns the status the call ends with. `request`: a server stream's request; null
  // for a bidirectional stream.
  using Handler =
      std::function<grpc::Status(grpc::ServerContext*, const Req* request, BlockingStream*)>;

  BlockingStream(BlockingPool* pool, std::shared_ptr<const Handler> handler)
      : pool_(pool), handler_(std::move(handler)) {}

  // The server stream's request, for the method's Request.
  Req* request() { return &request_; }

  // The handler's thread. The next request (bidirectional streams); false once the client
  // has closed its side or the call is over.
  bool Read(Req* req) {
    static_assert(kBidi, "a server stream has no requests to read");
    return wait_for(kRead, [&] { this->StartRead(req); });
  }
  // The handler's thread. Sends `resp`; false when the call is over (the client left).
  bool Write(const Resp& resp) {
    return wait_for(kWrite, [&] { this->StartWrite(&resp); });
  }
  // Any thread. Whether the call was cancelled (the client cancelled or left, its deadline
  // passed, or the server shut down): a handler that still has work to do may stop.
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  enum Which { kRead, kWrite };
  struct Op {
    bool done = false;
    bool ok = false;
  };

  void OnStart() override {
    pool_->run([this] {
      grpc::Status s = (*handler_)(&this->context(), kBidi ? nullptr : &request_, this);
      this->Finish(s);  // the last use of this object on this thread
    });
  }
  void OnReadDone(bool ok) override { completed(kRead, ok); }
  void OnCancel() override { cancelled_.store(true, std::memory_order_release); }
  void OnWriteDone(bool ok) override { completed(kWrite, ok); }
  void OnDone() override { delete this; }
  const google::protobuf::MessageLite* StartMessage() const override {
    return kBidi ? nullptr : &request_;
  }

  template <class Start>
  bool wait_for(Which which, Start start) {
    {
      node::MutexLock lock(&mu_);
      ops_[which].done = false;
    }
    start();
    node::MutexLock lock(&mu_);
    while (!ops_[which].done) done_.wait(&mu_);
    return ops_[which].ok;
  }
  void completed(Which which, bool ok) {
    node::MutexLock lock(&mu_);
    ops_[which] = {.done = true, .ok = ok};
    done_.signal_all();
  }

  BlockingPool* const pool_;
  const std::shared_ptr<const Handler> handler_;
  Req request_;
  std::atomic<bool> cancelled_{false};
  node::Mutex mu_;
  node::CondVar done_;
  Op ops_[2] ABSL_GUARDED_BY(mu_);  // the read and the write in flight, by Which
};

}  // namespace server
