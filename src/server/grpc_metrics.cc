#include "server/grpc_metrics.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message_lite.h>
#include <grpcpp/grpcpp.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string_view>

#include "server/retry_hint.h"

namespace server {
namespace {

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

// The size of a message of a protobuf service.
double message_bytes(const google::protobuf::MessageLite& m) {
  return static_cast<double>(m.ByteSizeLong());
}

}  // namespace

class GrpcMetrics::Method final : public transport::MethodObserver {
 public:
  metrics::Counter* started_total;
  metrics::Histogram* handling;
  std::array<metrics::Counter*, kCodes> handled;
  metrics::Counter* msg_received;
  metrics::Counter* msg_sent;
  metrics::Counter* bytes_received;  // shared by every method, as etcd counts them
  metrics::Counter* bytes_sent;
  const std::function<std::chrono::milliseconds()>* hint;

  void started() const override { started_total->inc(); }
  void received(const google::protobuf::MessageLite& m) const override {
    msg_received->inc();
    bytes_received->inc(message_bytes(m));
  }
  void sent(const google::protobuf::MessageLite& m) const override {
    msg_sent->inc();
    bytes_sent->inc(message_bytes(m));
  }
  void finishing(grpc::ServerContext& ctx, const grpc::Status& s,
                 std::chrono::steady_clock::time_point since) const override {
    const int code = static_cast<int>(s.error_code());
    if (code >= 0 && code < kCodes) handled[code]->inc();
    handling->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
    add_retry_hint(&ctx, s, *hint);
  }
};

GrpcMetrics::GrpcMetrics(metrics::Registry& r, const std::vector<std::string>& services,
                         std::function<std::chrono::milliseconds()> hint)
    : hint_(std::move(hint)) {
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
      auto cells = std::make_unique<Method>();
      cells->started_total = &started.with(labels);
      cells->handling = &handling.with(labels);
      cells->msg_received = &msg_received.with(labels);
      cells->msg_sent = &msg_sent.with(labels);
      cells->bytes_received = &bytes_received;
      cells->bytes_sent = &bytes_sent;
      cells->hint = &hint_;
      for (int code = 0; code < kCodes; ++code) {
        std::vector<std::string> with_code = labels;
        with_code.push_back(code_name(code));
        cells->handled[code] = &handled.with(with_code);
      }
      // A method is known by its request and response types: two methods with the same
      // pair would be counted as one, so the pair must name one method.
      auto [it, added] = methods_.try_emplace({m.input_type(), m.output_type()}, std::move(cells));
      if (!added) {
        std::fprintf(stderr, "grpc metrics: %s and another method take %s and answer %s\n",
                     m.full_name().c_str(), m.input_type()->full_name().c_str(),
                     m.output_type()->full_name().c_str());
        std::abort();
      }
    }
  }
}

GrpcMetrics::~GrpcMetrics() = default;

const transport::MethodObserver* GrpcMetrics::method(
    const google::protobuf::Descriptor* request,
    const google::protobuf::Descriptor* response) const {
  auto it = methods_.find({request, response});
  return it == methods_.end() ? nullptr : it->second.get();
}

}  // namespace server
