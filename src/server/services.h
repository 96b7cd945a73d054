// The gRPC services of the client listener, one file each: etcd's KV, Watch, Lease,
// Cluster, Maintenance and Auth, and raftkv.Admin, all on gRPC's completion-queue API
// (CompletionQueueMethods). Each takes the shared Context.
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <vector>

#include "server/blocking_pool.h"
#include "server/blocking_stream.h"
#include "server/context.h"
#include "transport/unary_call.h"

namespace grpc {
class Service;
}

namespace server {

// The client listener's methods served on gRPC's completion-queue API: a service adds each
// of its methods when it is made; start() waits for the first call of each, once the
// server has started. Handlers that do not block run on the queue's thread
// (transport/completion_queue_loop.h); those that block (written as gRPC's sync API
// would have them) on `pool`.
class CompletionQueueMethods {
 public:
  // Whether to serve a call at all (the port it came in on); a call refused is answered
  // with the error alone.
  using Admit = std::function<grpc::Status(const grpc::ServerContext&)>;

  // `admit` null: every call. `observer`, when not null, is told of every call of the
  // methods it knows (it must outlive the server).
  CompletionQueueMethods(transport::CompletionQueueLoop* loop, BlockingPool* pool,
                         Admit admit = nullptr, const transport::CallObserver* observer = nullptr)
      : cq_(loop->queue()),
        calls_(loop->calls()),
        pool_(pool),
        admit_(std::move(admit)),
        observer_(observer) {}

  template <class Service, class Req, class Resp>
  using UnaryRequest = void (Service::*)(grpc::ServerContext*, Req*,
                                         grpc::ServerAsyncResponseWriter<Resp>*,
                                         grpc::CompletionQueue*, grpc::ServerCompletionQueue*,
                                         void*);

  // `handler` runs on the queue's thread for each call of the unary method `request` of
  // `service` (&Svc::AsyncService::RequestX), must not block, and answers the call.
  template <class Service, class Req, class Resp>
  void unary(std::type_identity_t<Service>* service, UnaryRequest<Service, Req, Resp> request,
             typename transport::UnaryCall<Req, Resp>::Handler handler) {
    auto method = transport::unary_method<Service, Req, Resp>(
        service, request, cq_, calls_, std::move(handler), admit_, observe<Req, Resp>());
    starts_.push_back([method] { transport::UnaryCall<Req, Resp>::listen(method); });
  }

  // `handler` runs on the pool for each call, and its status answers it.
  template <class Service, class Req, class Resp>
  void blocking(
      std::type_identity_t<Service>* service, UnaryRequest<Service, Req, Resp> request,
      std::type_identity_t<std::function<grpc::Status(grpc::ServerContext*, const Req*, Resp*)>>
          handler) {
    auto h = std::make_shared<const decltype(handler)>(std::move(handler));
    unary<Service, Req, Resp>(
        service, request, [pool = pool_, h](transport::UnaryCall<Req, Resp>& call) {
          pool->run(
              [&call, h] { call.finish((*h)(&call.context(), &call.request(), call.response())); });
        });
  }

  // The same, with `method` of `impl` (which it keeps) as the handler.
  template <class Service, class Req, class Resp, class Impl>
  void blocking(std::type_identity_t<Service>* service, UnaryRequest<Service, Req, Resp> request,
                std::shared_ptr<Impl> impl,
                grpc::Status (Impl::*method)(grpc::ServerContext*, const Req*, Resp*)) {
    blocking<Service, Req, Resp>(
        service, request,
        [impl = std::move(impl), method](grpc::ServerContext* ctx, const Req* req, Resp* resp) {
          return ((*impl).*method)(ctx, req, resp);
        });
  }

  // A stream `request` (&Svc::AsyncService::RequestX, a bidirectional stream's) served by
  // objects `make` returns, on the queue's thread (transport/server_stream.h).
  template <class Service, class Req, class Resp>
  void stream(
      std::type_identity_t<Service>* service,
      void (Service::*request)(grpc::ServerContext*, grpc::ServerAsyncReaderWriter<Resp, Req>*,
                               grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*),
      std::type_identity_t<
          std::function<transport::ServerStream<grpc::ServerAsyncReaderWriter<Resp, Req>>*()>>
          make) {
    using Stream = grpc::ServerAsyncReaderWriter<Resp, Req>;
    add_stream<Stream>(
        [service, request, cq = cq_](transport::ServerStream<Stream>*, grpc::ServerContext* ctx,
                                     Stream* stream,
                                     void* tag) { (service->*request)(ctx, stream, cq, cq, tag); },
        std::move(make), observe<Req, Resp>());
  }

  // A bidirectional stream whose `handler` runs on the pool for each call.
  template <class Service, class Req, class Resp>
  void blocking_bidi(
      std::type_identity_t<Service>* service,
      void (Service::*request)(grpc::ServerContext*, grpc::ServerAsyncReaderWriter<Resp, Req>*,
                               grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*),
      typename BlockingStream<grpc::ServerAsyncReaderWriter<Resp, Req>, Req, Resp>::Handler
          handler) {
    using Call = BlockingStream<grpc::ServerAsyncReaderWriter<Resp, Req>, Req, Resp>;
    auto h = std::make_shared<const typename Call::Handler>(std::move(handler));
    stream<Service, Req, Resp>(service, request, [pool = pool_, h] { return new Call(pool, h); });
  }

  // A server stream whose `handler` runs on the pool for each call.
  template <class Service, class Req, class Resp>
  void blocking_server_stream(
      std::type_identity_t<Service>* service,
      void (Service::*request)(grpc::ServerContext*, Req*, grpc::ServerAsyncWriter<Resp>*,
                               grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*),
      typename BlockingStream<grpc::ServerAsyncWriter<Resp>, Req, Resp>::Handler handler) {
    using Stream = grpc::ServerAsyncWriter<Resp>;
    using Call = BlockingStream<Stream, Req, Resp>;
    auto h = std::make_shared<const typename Call::Handler>(std::move(handler));
    add_stream<Stream>(
        [service, request, cq = cq_](transport::ServerStream<Stream>* self,
                                     grpc::ServerContext* ctx, Stream* stream, void* tag) {
          // The request message is the call object's, read before the call starts.
          (service->*request)(ctx, static_cast<Call*>(self)->request(), stream, cq, cq, tag);
        },
        [pool = pool_, h] { return new Call(pool, h); }, observe<Req, Resp>());
  }

  // After the server started; once.
  void start() {
    for (const std::function<void()>& s : starts_) s();
  }

 private:
  template <class Req, class Resp>
  const transport::MethodObserver* observe() const {
    return observer_ == nullptr ? nullptr
                                : observer_->method(Req::descriptor(), Resp::descriptor());
  }

  template <class Stream>
  void add_stream(typename transport::ServerStream<Stream>::Request request,
                  std::function<transport::ServerStream<Stream>*()> make,
                  const transport::MethodObserver* observer) {
    auto method = std::make_shared<const typename transport::ServerStream<Stream>::Method>(
        typename transport::ServerStream<Stream>::Method{.request = std::move(request),
                                                         .make = std::move(make),
                                                         .calls = calls_,
                                                         .admit = admit_,
                                                         .observer = observer});
    starts_.push_back([method] { transport::ServerStream<Stream>::listen(method); });
  }

  grpc::ServerCompletionQueue* const cq_;
  transport::CallsUnderWay* const calls_;
  BlockingPool* const pool_;
  const Admit admit_;
  const transport::CallObserver* const observer_;
  std::vector<std::function<void()>> starts_;
};

std::unique_ptr<grpc::Service> make_kv_service(Context c, CompletionQueueMethods* methods);
std::unique_ptr<grpc::Service> make_lease_service(Context c, CompletionQueueMethods* methods);
std::unique_ptr<grpc::Service> make_cluster_service(Context c, CompletionQueueMethods* methods);
std::unique_ptr<grpc::Service> make_maintenance_service(Context c, CompletionQueueMethods* methods);
std::unique_ptr<grpc::Service> make_admin_service(Context c, CompletionQueueMethods* methods);
std::unique_ptr<grpc::Service> make_auth_service(Context c, CompletionQueueMethods* methods);

}  // namespace server
