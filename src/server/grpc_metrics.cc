#include "server/grpc_metrics.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message_lite.h>
#include <grpcpp/grpcpp.h>

#include <array>
#include <chrono>
#include <map>
#include <string_view>

namespace server {
namespace {

using grpc::experimental::InterceptionHookPoints;

constexpr int kCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED

// go-grpc-prometheus labels codes by Go's codes.Code.String().
const char* code_name(int code) {
  static const char* const kNames[kCodes] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  return kNames[code];
}

const char* type_name(const google::protobuf::MethodDescriptor& m) {
  if (m.client_streaming() && m.server_streaming()) return "bidi_stream";
  if (m.client_streaming()) return "client_stream";
  if (m.server_streaming()) return "server_stream";
  return "unary";
}

struct MethodCells {
  metrics::Counter* started;
  metrics::Histogram* handling;
  std::array<metrics::Counter*, kCodes> handled;
  metrics::Counter* msg_received;
  metrics::Counter* msg_sent;
  metrics::Counter* bytes_received;  // shared by every method, as etcd counts them
  metrics::Counter* bytes_sent;
};

// The size of a message of a protobuf service (every service here is one: gRPC hands
// over a pointer to the generated message, whose MessageLite base sits at its start);
// 0 when gRPC holds it serialized already.
double message_bytes(const void* m) {
  return m == nullptr ? 0
                      : static_cast<double>(
                            static_cast<const google::protobuf::MessageLite*>(m)->ByteSizeLong());
}

class Interceptor final : public grpc::experimental::Interceptor {
 public:
  explicit Interceptor(const MethodCells* cells)
      : cells_(cells), start_(std::chrono::steady_clock::now()) {
    cells_->started->inc();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      cells_->msg_received->inc();
      cells_->bytes_received->inc(message_bytes(methods->GetRecvMessage()));
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      cells_->msg_sent->inc();
      cells_->bytes_sent->inc(message_bytes(methods->GetSendMessage()));
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const int code = static_cast<int>(methods->GetSendStatus().error_code());
      if (code >= 0 && code < kCodes) cells_->handled[code]->inc();
      cells_->handling->observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  const MethodCells* const cells_;
  const std::chrono::steady_clock::time_point start_;
};

class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  Factory(metrics::Registry& r, const std::vector<std::string>& services) {
    auto& started =
        r.counter_family("grpc_server_started_total", "Total number of RPCs started on the server.",
                         {"grpc_type", "grpc_service", "grpc_method"});
    auto& handled = r.counter_family(
        "grpc_server_handled_total",
        "Total number of RPCs completed on the server, regardless of success or failure.",
        {"grpc_type", "grpc_service", "grpc_method", "grpc_code"});
    auto& handling = r.histogram_family(
        "grpc_server_handling_seconds",
        "Histogram of response latency (seconds) of gRPC that had been application-level "
        "handled by the server.",
        {"grpc_type", "grpc_service", "grpc_method"}, metrics::default_buckets());
    auto& msg_received =
        r.counter_family("grpc_server_msg_received_total",
                         "Total number of RPC stream messages received on the server.",
                         {"grpc_type", "grpc_service", "grpc_method"});
    auto& msg_sent = r.counter_family("grpc_server_msg_sent_total",
                                      "Total number of gRPC stream messages sent by the server.",
                                      {"grpc_type", "grpc_service", "grpc_method"});
    metrics::Counter& bytes_received =
        r.counter("etcd_network_client_grpc_received_bytes_total",
                  "The total number of bytes received from grpc clients.");
    metrics::Counter& bytes_sent = r.counter("etcd_network_client_grpc_sent_bytes_total",
                                             "The total number of bytes sent to grpc clients.");
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    for (const std::string& name : services) {
      const google::protobuf::ServiceDescriptor* svc = pool->FindServiceByName(name);
      if (svc == nullptr) continue;
      for (int i = 0; i < svc->method_count(); ++i) {
        const google::protobuf::MethodDescriptor& m = *svc->method(i);
        const std::vector<std::string> labels = {type_name(m), name, m.name()};
        MethodCells& cells = cells_["/" + name + "/" + m.name()];
        cells.started = &started.with(labels);
        cells.handling = &handling.with(labels);
        cells.msg_received = &msg_received.with(labels);
        cells.msg_sent = &msg_sent.with(labels);
        cells.bytes_received = &bytes_received;
        cells.bytes_sent = &bytes_sent;
        for (int code = 0; code < kCodes; ++code) {
          std::vector<std::string> with_code = labels;
          with_code.push_back(code_name(code));
          cells.handled[code] = &handled.with(with_code);
        }
      }
    }
  }

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Read-only after construction: no lock, and no string built to look it up.
    auto it = cells_.find(std::string_view(info->method()));
    return it == cells_.end() ? nullptr : new Interceptor(&it->second);
  }

 private:
  std::map<std::string, MethodCells, std::less<>> cells_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> make_grpc_metrics(
    metrics::Registry& registry, const std::vector<std::string>& services) {
  return std::make_unique<Factory>(registry, services);
}

}  // namespace server
