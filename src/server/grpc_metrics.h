// gRPC server metrics as go-grpc-prometheus names them (etcd's dashboards read these):
// grpc_server_started_total, grpc_server_handled_total and grpc_server_handling_seconds
// by grpc_type, grpc_service, grpc_method (and grpc_code). A server interceptor counts
// every call; the cells of every method of the given services are made up front, so a
// call finds its own without a lock.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "metrics/registry.h"

namespace server {

// `services`: full protobuf service names ("etcdserverpb.KV"). Calls to other methods
// are not counted.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> make_grpc_metrics(
    metrics::Registry& registry, const std::vector<std::string>& services);

}  // namespace server
