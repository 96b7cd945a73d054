// One call of a unary method on gRPC's completion-queue API, served on a
// CompletionQueueLoop's thread (completion_queue_loop.h).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <type_traits>

#include "transport/call_observer.h"
#include "transport/completion_queue_loop.h"

namespace transport {

// One call of a unary method served on the completion-queue API. listen() waits for the
// method's first call; each call, when it arrives, waits for the next one and then runs
// the method's handler on the loop's thread. The handler (or whoever it hands the call
// to) answers with finish(), exactly once, from any thread; the call deletes itself once
// gRPC is done with the answer.
template <class Req, class Resp>
class UnaryCall final : public CompletionTag {
 public:
  using Handler = std::function<void(UnaryCall&)>;
  struct Method {
    // Asks gRPC for the next call of the method (the generated RequestX, bound to its
    // service, which the server keeps for as long as any call lives, and to the queue).
    std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                       void* tag)>
        request;
    Handler handler;       // must not block: it runs on the loop's thread
    CallsUnderWay* calls;  // the loop's (CompletionQueueLoop::calls)
    // Whether to serve a call at all; a call refused is answered with the error, without
    // the handler. Null: every call.
    std::function<grpc::Status(const grpc::ServerContext&)> admit = nullptr;
    // Told of every call, when not null.
    const MethodObserver* observer = nullptr;
  };

  // After the server started.
  static void listen(std::shared_ptr<const Method> method) { new UnaryCall(std::move(method)); }

  grpc::ServerContext& context() { return ctx_; }
  const Req& request() const { return req_; }
  Req* mutable_request() { return &req_; }
  Resp* response() { return &resp_; }

  // The answer: the response with `s` when `s` is OK, else the error alone (a response
  // filled before an error is not sent).
  void finish(const grpc::Status& s) {
    if (const MethodObserver* o = method_->observer) {
      o->finishing(ctx_, s, arrived_);
      if (s.ok()) o->sent(resp_);
    }
    finishing_.store(true, std::memory_order_release);
    if (s.ok()) {
      responder_.Finish(resp_, s, this);
    } else {
      responder_.FinishWithError(s, this);
    }
  }

  void proceed(bool ok) override {
    if (finishing_.load(std::memory_order_acquire) || !ok) {
      // The answer went out (or could not: the client left), or the server shuts down
      // before a call arrived.
      CallsUnderWay* const calls = method_->calls;
      const bool started = started_;
      delete this;
      if (started) calls->ended();
      return;
    }
    started_ = true;
    method_->calls->started();
    listen(method_);  // the next call of this method
    if (const MethodObserver* o = method_->observer) {
      arrived_ = std::chrono::steady_clock::now();
      o->started();
      o->received(req_);
    }
    if (method_->admit != nullptr) {
      if (grpc::Status s = method_->admit(ctx_); !s.ok()) return finish(s);
    }
    method_->handler(*this);
  }

 private:
  explicit UnaryCall(std::shared_ptr<const Method> method)
      : method_(std::move(method)), responder_(&ctx_) {
    method_->request(&ctx_, &req_, &responder_, this);
  }

  const std::shared_ptr<const Method> method_;
  grpc::ServerContext ctx_;
  Req req_;
  Resp resp_;
  grpc::ServerAsyncResponseWriter<Resp> responder_;
  std::atomic<bool> finishing_{false};             // set by finish(), before the tag can come back
  bool started_ = false;                           // the call arrived (the loop's thread alone)
  std::chrono::steady_clock::time_point arrived_;  // when, if the method is observed
};

// The Method of a generated service's unary method `request` (&Svc::AsyncService::RequestX
// or a WithAsyncMethod_X's) on `cq`, whose calls count themselves in `calls`.
template <class Service, class Req, class Resp>
std::shared_ptr<const typename UnaryCall<Req, Resp>::Method> unary_method(
    std::type_identity_t<Service>* service,
    void (Service::*request)(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*,
                             grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*),
    grpc::ServerCompletionQueue* cq, CallsUnderWay* calls,
    typename UnaryCall<Req, Resp>::Handler handler,
    std::function<grpc::Status(const grpc::ServerContext&)> admit = nullptr,
    const MethodObserver* observer = nullptr) {
  using Call = UnaryCall<Req, Resp>;
  return std::make_shared<const typename Call::Method>(typename Call::Method{
      .request = [service, request, cq](
                     grpc::ServerContext* ctx, Req* req,
                     grpc::ServerAsyncResponseWriter<Resp>* responder,
                     void* tag) { (service->*request)(ctx, req, responder, cq, cq, tag); },
      .handler = std::move(handler),
      .calls = calls,
      .admit = std::move(admit),
      .observer = observer});
}

}  // namespace transport
