#include "server/retry_hint.h"

#include <grpcpp/grpcpp.h>

#include <string>
#include <utility>

namespace server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RetryHint final : public grpc::experimental::Interceptor {
 public:
  explicit RetryHint(const std::function<std::chrono::milliseconds()>* hint) : hint_(hint) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        methods->GetSendStatus().error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      std::multimap<std::string, std::string>* trailers = methods->GetSendTrailingMetadata();
      if (trailers != nullptr && !trailers->contains("retry-after-ms")) {
        trailers->emplace("retry-after-ms", std::to_string((*hint_)().count()));
      }
    }
    methods->Proceed();
  }

 private:
  const std::function<std::chrono::milliseconds()>* const hint_;
};

class RetryHintFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RetryHintFactory(std::function<std::chrono::milliseconds()> hint)
      : hint_(std::move(hint)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new RetryHint(&hint_);
  }

 private:
  const std::function<std::chrono::milliseconds()> hint_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> make_retry_hint(
    std::function<std::chrono::milliseconds()> hint) {
  return std::make_unique<RetryHintFactory>(std::move(hint));
}

}  // namespace server
