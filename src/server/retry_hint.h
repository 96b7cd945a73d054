// A gRPC server interceptor that gives every RESOURCE_EXHAUSTED answer a retry-after-ms
// trailer. The limiter's refusals set their own; the runtime's overload refusals (the
// core's queue or log budget full, applying lagging) come up through many services'
// paths as a status alone, and get the hint here, in one place.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <chrono>
#include <functional>
#include <memory>

namespace server {

// `hint` says how long to wait; called only for a refusal without a trailer.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> make_retry_hint(
    std::function<std::chrono::milliseconds()> hint);

}  // namespace server
