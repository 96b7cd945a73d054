// The metrics listener on its own (no server behind it): its routes, and that /health
// keeps answering while slow and idle connections are held open (issue 13: eight clients
// sending a header line a second made every probe fail, ten idle ones delayed it 5 s).
#include "server/http_endpoint.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace server {
namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// A TCP connection to 127.0.0.1:port, or -1.
int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& s) {
  return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
}

// True when the server has closed `fd` (end of stream or an error is readable).
bool closed_by_peer(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

class HttpEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = HttpEndpoint::start(
        "127.0.0.1:0",
        {.health =
             [](bool verbose) {
               return HttpResponse{
                   .status = 200,
                   .content_type = "application/json",
                   .body = verbose ? R"({"verbose":true})" : R"({"health":"true","reason":""})"};
             },
         .version = [] { return HttpResponse{.content_type = "application/json", .body = "{}"}; },
         .metrics = [] { return HttpResponse{.content_type = "text/plain", .body = "m 1\n"}; },
         .status = [] { return HttpResponse{.content_type = "application/json", .body = "{}"}; },
         // Lets through alice:secret only, on every guarded path.
         .guard = [](const HttpCaller& c) -> std::optional<HttpResponse> {
           if (c.has_basic && c.user == "alice" && c.password == "sec:ret") return std::nullopt;
           return HttpResponse{.status = 401, .content_type = "text/plain", .body = "who?\n"};
         }});
    ASSERT_TRUE(e.ok()) << e.status();
    http_ = *std::move(e);
  }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    if (http_ != nullptr) http_->stop();
  }
  // A connection that the fixture closes at the end.
  int open() {
    const int fd = connect_to(http_->port());
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  void reopen(int* fd) {
    ::close(*fd);
    std::erase(fds_, *fd);
    *fd = open();
  }

  std::unique_ptr<HttpEndpoint> http_;
  std::vector<int> fds_;
};

TEST_F(HttpEndpointTest, TheGuardAnswersEveryPathButHealthAndSeesBasicCredentials) {
  httplib::Client anonymous("127.0.0.1", http_->port());
  for (const char* path : {"/metrics", "/v1/status", "/", "/assets/status.js"}) {
    auto r = anonymous.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Basic realm=\"raftkv\"") << path;
    EXPECT_EQ(r->body, "who?\n") << path;
  }
  auto health = anonymous.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  httplib::Client wrong("127.0.0.1", http_->port());
  wrong.set_basic_auth("alice", "wrong");
  auto refused = wrong.Get("/metrics");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  httplib::Client alice("127.0.0.1", http_->port());
  alice.set_basic_auth("alice", "sec:ret");  // the password may hold a colon
  auto metrics = alice.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "m 1\n");
}

TEST_F(HttpEndpointTest, RoutesHealthMetricsStatusAndThePage) {
  httplib::Client c("127.0.0.1", http_->port());
  c.set_basic_auth("alice", "sec:ret");
  auto health = c.Get("/health");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, R"({"health":"true","reason":""})");
  auto verbose = c.Get("/health?verbose");
  ASSERT_TRUE(verbose);
  EXPECT_EQ(verbose->body, R"({"verbose":true})");
  auto verbose1 = c.Get("/health?verbose=1");
  ASSERT_TRUE(verbose1);
  EXPECT_EQ(verbose1->body, R"({"verbose":true})");
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->body, "m 1\n");
  auto status = c.Get("/v1/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->get_header_value("Content-Type"), "application/json");

  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("/assets/status.js"), std::string::npos);
  auto script = c.Get("/assets/status.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(script->body.find("/v1/status"), std::string::npos);
  auto missing = c.Get("/assets/no-such-file.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto outside = c.Get("/assets/../server.h");
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->status, 404);
}

TEST_F(HttpEndpointTest, HealthAnswersWhileSlowAndIdleConnectionsAreHeld) {
  // Ten connections that send nothing and eight that send a request a header line per
  // second; whichever the server drops is opened again, so all eighteen stay held.
  constexpr int kIdle = 10, kSlow = 8, kRounds = 8;
  std::vector<int> idle, slow;
  for (int i = 0; i < kIdle; ++i) idle.push_back(open());
  for (int i = 0; i < kSlow; ++i) slow.push_back(open());
  for (int fd : idle) ASSERT_GE(fd, 0);
  for (int fd : slow) ASSERT_GE(fd, 0);
  const std::string request_line = "GET /health HTTP/1.1\r\n";
  for (int fd : slow) ASSERT_TRUE(send_all(fd, request_line));

  httplib::Client probe("127.0.0.1", http_->port());
  // The bound each probe must meet: generous (etcd answers in milliseconds), and far below
  // what the unbounded listener gave (a probe queued behind the held connections).
  const auto bound = Millis(2000);
  probe.set_connection_timeout(bound);
  probe.set_read_timeout(bound);
  probe.set_write_timeout(bound);
  probe.set_keep_alive(false);
  for (int round = 0; round < kRounds; ++round) {
    const auto round_start = Clock::now();
    for (int& fd : idle) {
      if (closed_by_peer(fd)) reopen(&fd);
    }
    for (int& fd : slow) {
      const std::string line = "X-Slow-" + std::to_string(round) + ": 1\r\n";
      if (closed_by_peer(fd) || !send_all(fd, line)) {
        reopen(&fd);
        ASSERT_GE(fd, 0);
        send_all(fd, request_line);
      }
    }
    const auto t0 = Clock::now();
    auto r = probe.Get("/health");
    const auto took = std::chrono::duration_cast<Millis>(Clock::now() - t0);
    ASSERT_TRUE(r) << "probe " << round << " got no answer (" << httplib::to_string(r.error())
                   << ") after " << took.count() << " ms";
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"health":"true","reason":""})");
    EXPECT_LT(took, bound) << "probe " << round;
    // The slow clients' pace: one line a second.
    std::this_thread::sleep_until(round_start + Millis(1000));
  }
}

}  // namespace
}  // namespace server
