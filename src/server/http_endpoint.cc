#include "server/http_endpoint.h"

#include <httplib.h>

#include <chrono>

namespace server {

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::start(const std::string& address,
                                                                  Handlers handlers) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError("metrics address \"" + address + "\" is not host:port");
  }
  const std::string host = address.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (const std::exception&) {
    return absl::InvalidArgumentError("metrics address \"" + address + "\" has no port number");
  }
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint());
  e->http_ = std::make_unique<httplib::Server>();
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, which would let it
  // share a port with another listener instead of failing.
  e->http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  auto serve = [](std::function<HttpResponse()> f) {
    return [f = std::move(f)](const httplib::Request&, httplib::Response& res) {
      HttpResponse r = f();
      res.status = r.status;
      res.set_content(r.body, r.content_type.c_str());
    };
  };
  e->http_->Get("/health", serve(std::move(handlers.health)));
  e->http_->Get("/metrics", serve(std::move(handlers.metrics)));
  e->port_ = port == 0 ? e->http_->bind_to_any_port(host) : port;
  if (port != 0 && !e->http_->bind_to_port(host, port)) e->port_ = -1;
  if (e->port_ <= 0) {
    return absl::UnavailableError("cannot listen for metrics on " + address);
  }
  e->thread_ = std::thread([h = e->http_.get()] { h->listen_after_bind(); });
  // stop() only reaches a server that is running: wait for it (bounded) before returning.
  for (int i = 0; i < 5000 && !e->http_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return e;
}

HttpEndpoint::~HttpEndpoint() { stop(); }

void HttpEndpoint::stop() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace server
