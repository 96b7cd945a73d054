// gRPC server metrics as go-grpc-prometheus names them (etcd's dashboards read these):
// grpc_server_started_total, grpc_server_handled_total and grpc_server_handling_seconds
// by grpc_type, grpc_service, grpc_method (and grpc_code), messages and bytes. The calls
// themselves tell it (transport/call_observer.h); the cells of every method of the given
// services are made up front, so a call finds its own without a lock. Each
// RESOURCE_EXHAUSTED answer of those methods also gets its retry hint here
// (server/retry_hint.h).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "metrics/registry.h"
#include "transport/call_observer.h"

namespace server {

class GrpcMetrics final : public transport::CallObserver {
 public:
  // `services`: full protobuf service names ("etcdserverpb.KV"); other methods are not
  // observed. `hint`: how long a client refused with RESOURCE_EXHAUSTED should wait.
  GrpcMetrics(metrics::Registry& registry, const std::vector<std::string>& services,
              std::function<std::chrono::milliseconds()> hint);
  ~GrpcMetrics() override;

  const transport::MethodObserver* method(
      const google::protobuf::Descriptor* request,
      const google::protobuf::Descriptor* response) const override;

 private:
  class Method;
  std::function<std::chrono::milliseconds()> hint_;
  std::map<std::pair<const google::protobuf::Descriptor*, const google::protobuf::Descriptor*>,
           std::unique_ptr<Method>>
      methods_;
};

}  // namespace server
