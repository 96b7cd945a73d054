// The HTTP listener of --listen-metrics-urls: `/health` in etcd's format and `/metrics`
// in Prometheus text format. The server supplies both bodies; this file only serves
// them (cpp-httplib), so the metrics layer can replace what /metrics says later.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace server {

struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

class HttpEndpoint {
 public:
  struct Handlers {
    std::function<HttpResponse()> health;
    std::function<HttpResponse()> metrics;
  };
  // Listens on `address` ("host:port"; port 0 picks a free one) and serves on a thread.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> start(const std::string& address,
                                                             Handlers handlers);
  ~HttpEndpoint();
  void stop();
  int port() const { return port_; }

 private:
  HttpEndpoint() = default;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace server
