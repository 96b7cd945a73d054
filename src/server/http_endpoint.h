// The HTTP listener of --listen-metrics-urls: `/health` and `/version` in etcd's format,
// `/metrics` in Prometheus text format, `/v1/status` (JSON) and the status page at `/` with
// its assets. The same code serves the HTTP/1.x connections of the plaintext client port
// (`/health`, `/version`), which the port's PortMux accepts and hands over (port_mux.h).
// The server supplies the dynamic bodies; this file serves them (cpp-httplib) and bounds
// what one slow or idle connection may hold, so a health probe is always answered.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
class TaskQueue;
}  // namespace httplib
struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace server {

struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;  // a 401 is sent with `WWW-Authenticate: Basic realm="raftkv"`
};

// Who asks, as far as HTTP says: the credentials of an `Authorization: Basic` header, and
// the CN of a client certificate the https port verified.
struct HttpCaller {
  bool has_basic = false;
  std::string user, password;
  std::string certificate_user;
};

// What one connection may hold the listener for. A connection has a worker thread to
// itself while open, so these bound how long a client that sends nothing (idle) or sends
// a byte at a time (slow headers) keeps one; the pool is sized so that a few dozen such
// connections still leave workers free for health probes (etcd answers them under the
// same load).
struct HttpLimits {
  // A request's line, headers and body must all arrive within this time of its first
  // byte; a slower client is disconnected.
  std::chrono::milliseconds request_read_deadline{2000};
  // Longest silence inside one request (one recv).
  std::chrono::milliseconds read_timeout{1000};
  std::chrono::milliseconds write_timeout{2000};
  // How long an open connection may wait for its (next) request.
  std::chrono::milliseconds keep_alive_timeout{2000};
  size_t keep_alive_max_count = 20;
  size_t workers = 32;  // worker threads, one per connection being served
};

class HttpEndpoint {
 public:
  struct Handlers {
    // `/health`; verbose is true for `/health?verbose` (any value of the parameter).
    std::function<HttpResponse(bool verbose)> health;
    // `/version`, unguarded as `/health` is (etcd answers both to anyone). Empty: 404.
    std::function<HttpResponse()> version;
    // `/metrics`. Empty: 404.
    std::function<HttpResponse()> metrics;
    // `/v1/status`: the cluster as this member sees it (cluster_view.h); with it, the
    // status page that shows it. Empty: neither is served (404).
    std::function<HttpResponse()> status;
    // Asked first for every path but `/health` (metrics, status and the status page):
    // nullopt lets the request through, a response (401, 403) answers it instead.
    std::function<std::optional<HttpResponse>(const HttpCaller&)> guard;
  };
  // Where an https listener gets its TLS context, once per connection (so that a
  // reloaded certificate serves the next connection); null means plain HTTP.
  using TlsContext = std::function<std::shared_ptr<ssl_ctx_st>()>;
  // Listens on `address` ("host:port"; port 0 picks a free one) and serves on a thread.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> start(const std::string& address,
                                                             Handlers handlers,
                                                             HttpLimits limits = {},
                                                             TlsContext tls = nullptr);
  // Serves connections accepted elsewhere, handed over with serve(): the same routes,
  // limits and worker pool size, and no listening socket of its own (port() is 0).
  static std::unique_ptr<HttpEndpoint> for_accepted(Handlers handlers, HttpLimits limits = {});
  ~HttpEndpoint();
  // Stops listening (or taking connections) and waits for the connections in progress
  // (each is bounded by the limits above, so this returns within a few seconds).
  void stop();
  int port() const { return port_; }
  // Takes `fd`, a connected socket in blocking mode whose bytes (none consumed yet) are
  // HTTP/1.x, and serves it on a worker, which closes it. Once every worker is busy and
  // kMaxWaiting more wait, or after stop(), it is closed at once instead: a refused probe
  // is better than an unbounded queue of open sockets. Only on an endpoint made by
  // for_accepted(). Any thread.
  void serve(int fd);
  static constexpr size_t kMaxWaiting = 64;

 private:
  HttpEndpoint() = default;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  // for_accepted() only: the workers serve() queues on, and how many connections are
  // queued or being served.
  std::mutex pool_mu_;
  std::unique_ptr<httplib::TaskQueue> pool_;  // guarded by pool_mu_; null once stopped
  std::atomic<size_t> held_{0};
  size_t workers_ = 0;
};

}  // namespace server
