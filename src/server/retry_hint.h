// The retry-after-ms trailer of RESOURCE_EXHAUSTED answers. The limiter's refusals give
// their own (set_retry_after); the runtime's overload refusals (the core's queue or log
// budget full, applying lagging) come up through many services' paths as a status alone,
// and get the server's backlog hint as they are sent, in one place (add_retry_hint, from
// the call's observer: server/grpc_metrics.h).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>

namespace server {

// Answers the call of `ctx` with a retry-after-ms trailer of `wait` (with the
// RESOURCE_EXHAUSTED status the caller then finishes it with).
void set_retry_after(grpc::ServerContextBase* ctx, std::chrono::milliseconds wait);

// As the call of `ctx` is finished with `s`: a RESOURCE_EXHAUSTED answer that was not
// given a trailer with set_retry_after gets one of `hint()`; any other answer none.
void add_retry_hint(grpc::ServerContextBase* ctx, const grpc::Status& s,
                    const std::function<std::chrono::milliseconds()>& hint);

}  // namespace server
