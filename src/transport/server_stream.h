// A streaming call on gRPC's completion-queue API, in the shape of gRPC's callback
// reactors: a subclass starts reads and writes and is called back when each is done, on
// a CompletionQueueLoop's thread (completion_queue_loop.h). Serves bidirectional streams
// (ServerAsyncReaderWriter) and server streams (ServerAsyncWriter).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

#include "transport/call_observer.h"
#include "transport/completion_queue_loop.h"

namespace transport {

// `Stream` is grpc::ServerAsyncReaderWriter<Resp, Req>, grpc::ServerAsyncWriter<Resp> or
// grpc::ServerAsyncReader<Resp, Req> (a client stream, finished with its response).
// Life of a call: listen() makes the object that waits for the method's next call (with
// Method::make); when one arrives, another object waits for the one after, and OnStart()
// runs. A subclass then starts reads (bidirectional streams) and writes, one of each at a
// time, and calls Finish() once; OnDone() runs when gRPC has nothing more of the call
// (the finish and every operation returned), and must delete the object.
template <class Stream>
class ServerStream {
 public:
  // Asks gRPC for the next call of the method on the object's context, stream and tag
  // (the generated RequestX bound to its service and queue; a server stream's request
  // message is the subclass's to keep).
  using Request = std::function<void(ServerStream* self, grpc::ServerContext*, Stream*, void* tag)>;
  struct Method {
    Request request;
    std::function<ServerStream*()> make;  // a new subclass object, waiting for nothing yet
    CallsUnderWay* calls;                 // the loop's (CompletionQueueLoop::calls)
    // Whether to serve a call at all; a call refused is finished with the error, and the
    // object deleted, without OnStart(), OnCancel() or OnDone(). Null: every call.
    std::function<grpc::Status(const grpc::ServerContext&)> admit = nullptr;
    // Told of every call, when not null.
    const MethodObserver* observer = nullptr;
  };

  // After the server started.
  static void listen(std::shared_ptr<const Method> method) {
    ServerStream* s = method->make();
    s->method_ = std::move(method);
    // Registered before the call is asked for: it comes back once the call is over
    // (finished, or cancelled by the client or the server's shutdown).
    s->ctx_.AsyncNotifyWhenDone(&s->done_op_);
    s->method_->request(s, &s->ctx_, &s->stream_, &s->start_op_);
  }

  virtual ~ServerStream() = default;
  ServerStream(const ServerStream&) = delete;
  ServerStream& operator=(const ServerStream&) = delete;

 protected:
  ServerStream() : stream_(&ctx_) {}

  // On the loop's thread, one at a time.
  virtual void OnStart() = 0;
  virtual void OnReadDone(bool /*ok*/) {}
  virtual void OnWriteDone(bool /*ok*/) {}
  // The call was cancelled (the client cancelled or left, its deadline passed, or the
  // server shut down), before or after Finish(). The subclass still calls Finish() if it
  // has not.
  virtual void OnCancel() {}
  virtual void OnDone() = 0;
  // A server stream's request, read with the call (for the method's observer); null for
  // a stream whose messages the subclass reads.
  virtual const google::protobuf::MessageLite* StartMessage() const { return nullptr; }

  // Any thread; at most one read and one write in flight; none after Finish().
  template <class Req>
  void StartRead(Req* req) {
    pending_.fetch_add(1, std::memory_order_relaxed);
    reading_ = req;
    stream_.Read(req, &read_op_);
  }
  template <class Resp>
  void StartWrite(const Resp* resp) {
    if (const MethodObserver* o = method_->observer) o->sent(*resp);
    pending_.fetch_add(1, std::memory_order_relaxed);
    stream_.Write(*resp, &write_op_);
  }
  void Finish(const grpc::Status& status) {
    if (const MethodObserver* o = method_->observer) o->finishing(ctx_, status, arrived_);
    stream_.Finish(status, &finish_op_);  // counted in pending_ since the call started
  }
  // A client stream's end: `resp` with an OK status, else the error alone.
  template <class Resp>
  void Finish(const Resp& resp, const grpc::Status& status) {
    if (const MethodObserver* o = method_->observer) {
      o->finishing(ctx_, status, arrived_);
      if (status.ok()) o->sent(resp);
    }
    if (status.ok()) {
      stream_.Finish(resp, status, &finish_op_);
    } else {
      stream_.FinishWithError(status, &finish_op_);
    }
  }

  grpc::ServerContext& context() { return ctx_; }

 private:
  enum class Kind { kStart, kRead, kWrite, kFinish, kDone };
  class Op final : public CompletionTag {
   public:
    Op(ServerStream* s, Kind k) : s_(s), k_(k) {}
    void proceed(bool ok) override { s_->completed(k_, ok); }

   private:
    ServerStream* const s_;
    const Kind k_;
  };

  void completed(Kind kind, bool ok) {
    switch (kind) {
      case Kind::kStart:
        if (!ok) {
          // Never matched to a call (the server shuts down): neither the done tag nor
          // anything else will come back.
          delete this;
          return;
        }
        method_->calls->started();
        listen(method_);
        if (const MethodObserver* o = method_->observer) {
          arrived_ = std::chrono::steady_clock::now();
          o->started();
          if (const google::protobuf::MessageLite* m = StartMessage()) o->received(*m);
        }
        // The done tag and the finish's, both still to come: the object lives until the
        // subclass has finished the call, even when the client leaves first.
        pending_.fetch_add(2, std::memory_order_relaxed);
        if (method_->admit != nullptr) {
          if (grpc::Status s = method_->admit(ctx_); !s.ok()) {
            refused_ = true;
            if (const MethodObserver* o = method_->observer) o->finishing(ctx_, s, arrived_);
            if constexpr (requires { stream_.FinishWithError(s, &finish_op_); }) {
              stream_.FinishWithError(s, &finish_op_);
            } else {
              stream_.Finish(s, &finish_op_);
            }
            return;
          }
        }
        OnStart();
        return;  // not an operation of its own
      case Kind::kRead:
        if (const MethodObserver* o = method_->observer; o != nullptr && ok) o->received(*reading_);
        OnReadDone(ok);
        break;
      case Kind::kWrite:
        OnWriteDone(ok);
        break;
      case Kind::kFinish:
        break;
      case Kind::kDone:
        // Known once the done tag is back: the client cancelled or left, its deadline
        // passed, or the server shut down.
        if (!refused_ && ctx_.IsCancelled()) OnCancel();
        break;
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      CallsUnderWay* const calls = method_->calls;
      if (refused_) {
        delete this;
      } else {
        OnDone();  // deletes this
      }
      calls->ended();
    }
  }

  std::shared_ptr<const Method> method_;
  grpc::ServerContext ctx_;
  Stream stream_;
  Op start_op_{this, Kind::kStart};
  Op read_op_{this, Kind::kRead};
  Op write_op_{this, Kind::kWrite};
  Op finish_op_{this, Kind::kFinish};
  Op done_op_{this, Kind::kDone};
  // Tags still to come back once the call started: the done tag, the finish's (counted
  // from the start, so that it cannot fall to zero before the subclass has finished, even
  // when the done tag comes first) and each read and write in flight. OnDone() when it
  // falls to zero.
  std::atomic<int> pending_{0};
  bool refused_ = false;  // by Method::admit (the loop's thread alone)
  // The message the read in flight fills (one read at a time), and when the call arrived:
  // for the method's observer.
  const google::protobuf::MessageLite* reading_ = nullptr;
  std::chrono::steady_clock::time_point arrived_;
};

}  // namespace transport
