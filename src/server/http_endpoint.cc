#include "server/http_endpoint.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "log/log.h"
#include "log/thread_name.h"
#include "log/throttle.h"
#include "server/status_page.h"

namespace server {
namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// Waits up to `timeout` for `events` on `sock`; true when one is ready.
bool wait_for(int sock, short events, Millis timeout) {
  pollfd p{.fd = sock, .events = events, .revents = 0};
  const int ms = static_cast<int>(std::max<int64_t>(0, timeout.count()));
  int n = 0;
  do {
    n = ::poll(&p, 1, ms);
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

std::string address_of(const sockaddr_storage& a, int* port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    *port = ntohs(in->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &in->sin6_addr, buf, sizeof buf);
    *port = ntohs(in->sin6_port);
  }
  return buf;
}

// One connection's socket as cpp-httplib reads requests from it, with a deadline for the
// whole request on top of the per-recv timeout: cpp-httplib's own stream only bounds the
// silence between bytes, so a client sending a header line a second held a worker forever.
// Lives as long as the connection, so bytes read ahead (pipelining) are not lost.
// On an https listener, the bytes go through the connection's SSL object instead.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(int sock, const HttpLimits& limits, SSL* ssl)
      : sock_(sock), limits_(limits), ssl_(ssl) {}

  // The next request must be read in full by `deadline`.
  void set_deadline(Clock::time_point deadline) { deadline_ = deadline; }

  bool is_readable() const override {
    if (begin_ < end_ || pending()) return true;
    const auto left = std::chrono::duration_cast<Millis>(deadline_ - Clock::now());
    if (left <= Millis(0)) return false;
    return wait_for(sock_, POLLIN, std::min(left, limits_.read_timeout));
  }
  bool is_writable() const override { return wait_for(sock_, POLLOUT, limits_.write_timeout); }

  ssize_t read(char* ptr, size_t size) override {
    if (begin_ == end_) {
      if (!is_readable()) return -1;
      const ssize_t n = receive();
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t k = std::min(size, end_ - begin_);
    std::copy(buf_ + begin_, buf_ + begin_ + k, ptr);
    begin_ += k;
    return static_cast<ssize_t>(k);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    if (ssl_ != nullptr) {
      const int n = SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, INT_MAX)));
      if (n <= 0) ERR_clear_error();
      return n > 0 ? n : -1;
    }
    ssize_t n = 0;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      ip = address_of(a, &port);
    }
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      ip = address_of(a, &port);
    }
  }
  socket_t socket() const override { return sock_; }

  // True when a byte is buffered or arrives within `timeout` (or the peer closed, which
  // the next read reports); false on timeout.
  bool wait_request(Millis timeout) const {
    return begin_ < end_ || pending() || wait_for(sock_, POLLIN, timeout);
  }

 private:
  // Bytes TLS has decrypted and not handed out yet: the socket may have nothing more.
  bool pending() const { return ssl_ != nullptr && SSL_pending(ssl_) > 0; }

  // Fills buf_: what arrived, 0 when the peer closed, -1 on an error.
  ssize_t receive() {
    if (ssl_ != nullptr) {
      const int n = SSL_read(ssl_, buf_, sizeof buf_);
      if (n > 0) return n;
      const int e = SSL_get_error(ssl_, n);
      ERR_clear_error();
      return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    ssize_t n = 0;
    do {
      n = ::recv(sock_, buf_, sizeof buf_, 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  const int sock_;
  const HttpLimits& limits_;
  SSL* const ssl_;
  Clock::time_point deadline_ = Clock::now();
  char buf_[4096];
  size_t begin_ = 0;  // buf_[begin_, end_) is read ahead and not yet consumed
  size_t end_ = 0;
};

// cpp-httplib's server with the connection loop replaced by one that bounds each request's
// read time (DeadlineStream) and each wait for the next request; the parsing, routing and
// writing are cpp-httplib's (process_request).
class BoundedServer : public httplib::Server {
 public:
  // `accepted`: connections come through serve_socket(), not from a listening socket.
  BoundedServer(HttpLimits limits, HttpEndpoint::TlsContext tls, bool accepted = false)
      : limits_(limits), tls_(std::move(tls)), accepted_(accepted) {
    const size_t workers = limits_.workers;
    new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
    // The settings of cpp-httplib's own loop, in case a path still uses it.
    set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(limits_.read_timeout));
    set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(limits_.write_timeout));
    set_keep_alive_timeout(std::max<time_t>(
        1, std::chrono::duration_cast<std::chrono::seconds>(limits_.keep_alive_timeout).count()));
    set_keep_alive_max_count(limits_.keep_alive_max_count);
  }

  // Serves one connection accepted elsewhere and closes it; on a worker thread.
  void serve_socket(socket_t sock) { process_and_close_socket(sock); }
  // Connections stop waiting for their next request (stop() for accepted ones).
  void halt() { halted_.store(true); }

 private:
  // Runs on a worker thread, one call per accepted connection.
  bool process_and_close_socket(socket_t sock) override {
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(nullptr, SSL_free);
    bool ok = tls_ == nullptr || (ssl = handshake(sock)) != nullptr;
    if (ok) {
      DeadlineStream strm(sock, limits_, ssl.get());
      for (size_t left = limits_.keep_alive_max_count; left > 0 && wait_request(strm); --left) {
        strm.set_deadline(Clock::now() + limits_.request_read_deadline);
        bool closed = false;
        // The handlers may ask who the peer's certificate names.
        SSL* const peer = ssl.get();
        ok = process_request(strm, left == 1, closed,
                             [peer](httplib::Request& req) { req.ssl = peer; });
        if (!ok || closed) break;
      }
      if (ssl != nullptr) SSL_shutdown(ssl.get());
      ERR_clear_error();
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  // The TLS handshake of an https connection, bounded like a request's read; null (and
  // logged, once per reason and 10 s) when it fails. From then on a blocking TLS read or
  // write is bounded by the socket's own timeouts.
  std::unique_ptr<SSL, decltype(&SSL_free)> handshake(socket_t sock) {
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(nullptr, SSL_free);
    const std::shared_ptr<SSL_CTX> ctx = tls_();
    if (ctx == nullptr) return ssl;
    set_timeouts(sock, limits_.request_read_deadline, limits_.request_read_deadline);
    ssl.reset(SSL_new(ctx.get()));
    if (ssl != nullptr && SSL_set_fd(ssl.get(), sock) == 1 && SSL_accept(ssl.get()) == 1) {
      set_timeouts(sock, limits_.read_timeout, limits_.write_timeout);
      return ssl;
    }
    const unsigned long e = ERR_peek_last_error();
    const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
    const std::string why = reason != nullptr ? reason : "the connection closed";
    ERR_clear_error();
    uint64_t held_back = 0;
    if (handshake_log_.allow(why, &held_back)) {
      raftlog::warn("http", "TLS handshake failed",
                    {{"error", why}, {"suppressed-since-last", held_back}});
    }
    ssl.reset();
    return ssl;
  }

  static void set_timeouts(socket_t sock, Millis read, Millis write) {
    auto tv = [](Millis d) {
      return timeval{.tv_sec = static_cast<time_t>(d.count() / 1000),
                     .tv_usec = static_cast<suseconds_t>(d.count() % 1000 * 1000)};
    };
    const timeval r = tv(read), w = tv(write);
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof r);
    ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &w, sizeof w);
  }

  // Waits for the next request in short slices, so stop() is not held up by idle
  // connections; false when none came within the keep-alive timeout or the server stops.
  bool wait_request(const DeadlineStream& strm) const {
    const auto until = Clock::now() + limits_.keep_alive_timeout;
    auto serving = [this] { return !halted_.load() && (accepted_ || svr_sock_ != INVALID_SOCKET); };
    for (int slice = 0; slice < 100000 && serving(); ++slice) {
      const auto left = std::chrono::duration_cast<Millis>(until - Clock::now());
      if (left <= Millis(0)) return false;
      if (strm.wait_request(std::min(left, Millis(50)))) return true;
    }
    return false;
  }

  const HttpLimits limits_;
  const HttpEndpoint::TlsContext tls_;
  const bool accepted_;
  std::atomic<bool> halted_{false};
  raftlog::Throttle handshake_log_{std::chrono::seconds(10)};
};

void reply(httplib::Response& res, const HttpResponse& r) {
  res.status = r.status;
  if (r.status == 401) res.set_header("WWW-Authenticate", "Basic realm=\"raftkv\"");
  res.set_content(r.body, r.content_type.c_str());
}

// Standard base64 (RFC 4648), or nullopt when `in` is not.
std::optional<std::string> base64_decode(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 4096) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding's bytes too.
  size_t len = static_cast<size_t>(n);
  for (size_t i = in.size(); i > 0 && in[i - 1] == '=' && len > 0; --i) --len;
  out.resize(len);
  return out;
}

// The caller of `req`: Basic credentials (RFC 7617) and a verified certificate's CN.
HttpCaller caller_of(const httplib::Request& req) {
  HttpCaller c;
  const std::string auth = req.get_header_value("Authorization");
  constexpr std::string_view kBasic = "Basic ";
  if (auth.size() > kBasic.size() && auth.compare(0, kBasic.size(), kBasic) == 0) {
    const std::optional<std::string> decoded = base64_decode(auth.substr(kBasic.size()));
    const size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon != std::string::npos) {
      c.has_basic = true;
      c.user = decoded->substr(0, colon);
      c.password = decoded->substr(colon + 1);
    }
  }
  if (req.ssl != nullptr && SSL_get_verify_result(req.ssl) == X509_V_OK) {
    if (X509* cert = SSL_get_peer_certificate(req.ssl)) {
      char cn[256] = {0};
      if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) >
          0) {
        c.certificate_user = cn;
      }
      X509_free(cert);
    }
  }
  return c;
}

// Installs the routes of `handlers` on `http`.
void install_routes(httplib::Server& http, HttpEndpoint::Handlers handlers) {
  auto guard = std::make_shared<std::function<std::optional<HttpResponse>(const HttpCaller&)>>(
      std::move(handlers.guard));
  // Whether the guard turned `req` away (and answered it).
  auto refused = [guard](const httplib::Request& req, httplib::Response& res) {
    if (!*guard) return false;
    std::optional<HttpResponse> no = (*guard)(caller_of(req));
    if (no.has_value()) reply(res, *no);
    return no.has_value();
  };
  auto serve = [refused](std::function<HttpResponse()> f) {
    return [f = std::move(f), refused](const httplib::Request& req, httplib::Response& res) {
      if (!refused(req, res)) reply(res, f());
    };
  };
  // etcd answers its probes to GET alone: any other method is 405, naming GET in Allow.
  auto get_only = [&http](const std::string& path) {
    auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "GET");
      reply(res, {405, "text/plain; charset=utf-8", "Method Not Allowed\n"});
    };
    http.Post(path, not_allowed);
    http.Put(path, not_allowed);
    http.Delete(path, not_allowed);
    http.Patch(path, not_allowed);
  };
  // etcd's /health answers the same body whatever the query; the server's handler decides
  // what `verbose` adds.
  http.Get("/health",
           [f = std::move(handlers.health)](const httplib::Request& req, httplib::Response& res) {
             reply(res, f(req.has_param("verbose")));
           });
  get_only("/health");
  if (handlers.version) {
    http.Get("/version", [f = std::move(handlers.version)](
                             const httplib::Request&, httplib::Response& res) { reply(res, f()); });
    get_only("/version");
  }
  if (handlers.metrics) http.Get("/metrics", serve(std::move(handlers.metrics)));
  if (!handlers.status) return;
  http.Get("/v1/status", serve(std::move(handlers.status)));
  auto page = [refused](const httplib::Request& req, httplib::Response& res) {
    if (refused(req, res)) return;
    std::optional<HttpResponse> r = status_page_file(req.path);
    if (r.has_value()) {
      reply(res, *r);
    } else {
      reply(res, {404, "text/plain", "not found\n"});
    }
  };
  http.Get("/", page);
  http.Get(R"(/assets/[A-Za-z0-9_.-]+)", page);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::start(const std::string& address,
                                                                  Handlers handlers,
                                                                  HttpLimits limits,
                                                                  TlsContext tls) {
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
  e->http_ = std::make_unique<BoundedServer>(limits, std::move(tls));
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, which would let it
  // share a port with another listener instead of failing.
  e->http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  install_routes(*e->http_, std::move(handlers));
  e->port_ = port == 0 ? e->http_->bind_to_any_port(host) : port;
  if (port != 0 && !e->http_->bind_to_port(host, port)) e->port_ = -1;
  if (e->port_ <= 0) {
    return absl::UnavailableError("cannot listen for metrics on " + address);
  }
  e->thread_ = std::thread([h = e->http_.get()] {
    raftlog::name_this_thread("raftkv-http");
    h->listen_after_bind();
  });
  // stop() only reaches a server that is running: wait for it (bounded) before returning.
  for (int i = 0; i < 5000 && !e->http_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return e;
}

std::unique_ptr<HttpEndpoint> HttpEndpoint::for_accepted(Handlers handlers, HttpLimits limits) {
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint());
  e->http_ = std::make_unique<BoundedServer>(limits, nullptr, /*accepted=*/true);
  install_routes(*e->http_, std::move(handlers));
  e->workers_ = std::max<size_t>(limits.workers, 1);
  e->pool_ = std::make_unique<httplib::ThreadPool>(e->workers_);
  return e;
}

void HttpEndpoint::serve(int fd) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (pool_ == nullptr || held_.load() >= workers_ + kMaxWaiting) {
    ::close(fd);
    return;
  }
  held_.fetch_add(1);
  auto* http = static_cast<BoundedServer*>(http_.get());
  pool_->enqueue([this, http, fd] {
    http->serve_socket(fd);
    held_.fetch_sub(1);
  });
}

HttpEndpoint::~HttpEndpoint() { stop(); }

void HttpEndpoint::stop() {
  if (http_ != nullptr) static_cast<BoundedServer*>(http_.get())->halt();
  std::unique_ptr<httplib::TaskQueue> pool;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    pool = std::move(pool_);
  }
  // The workers finish the connections they serve and close the queued ones (a halted
  // server waits for no further request).
  if (pool != nullptr) pool->shutdown();
  if (http_ != nullptr && port_ > 0) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace server
