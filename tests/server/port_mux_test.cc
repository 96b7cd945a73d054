// The plaintext client port's sorting of connections (server/port_mux.h): HTTP/2's preface
// to gRPC, anything else to HTTP/1, whole sockets with no byte consumed; silent
// connections closed after the timeout; stop() closes what was not handed over.
#include "transport/port_mux.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace transport {
namespace {

using Millis = std::chrono::milliseconds;

TEST(PortMuxClassify, ThePrefaceIsHttp2APrefixWaitsAndAnyDepartureIsHttp1) {
  EXPECT_EQ(classify(kHttp2Preface), Protocol::kHttp2);
  EXPECT_EQ(classify(std::string(kHttp2Preface) + "\x00\x00\x12\x04"), Protocol::kHttp2);
  EXPECT_EQ(classify(""), Protocol::kUndecided);
  EXPECT_EQ(classify("PRI * HTTP/2"), Protocol::kUndecided);
  EXPECT_EQ(classify("GET /health HTTP/1.1\r\n"), Protocol::kHttp1);
  EXPECT_EQ(classify("POST /v3/kv/range HTTP/1.1\r\n"), Protocol::kHttp1);  // departs at 'O'
  EXPECT_EQ(classify("PRI * HTTP/1.1\r\n"), Protocol::kHttp1);
  EXPECT_EQ(classify("\x16\x03\x01"), Protocol::kHttp1);  // a TLS hello: not gRPC's here
}

TEST(PortMuxClassify, APeerLanesPrefaceIsALaneAPrefixWaitsAndAnyDepartureIsHttp1) {
  EXPECT_EQ(classify(kPeerLanePreface), Protocol::kPeerLane);
  EXPECT_EQ(classify(std::string(kPeerLanePreface) + "\x05\x00\x00\x00"), Protocol::kPeerLane);
  EXPECT_EQ(classify("R"), Protocol::kUndecided);
  EXPECT_EQ(classify("RAFTKV-PEER-LANE/"), Protocol::kUndecided);
  EXPECT_EQ(classify("RAFTKV-PEER-LANE/2\r\n"), Protocol::kHttp1);
  EXPECT_EQ(classify("RAFT"), Protocol::kUndecided);
  EXPECT_EQ(classify("RAFTS"), Protocol::kHttp1);
}

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
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

// True when the other end closed `fd` within `timeout` (an orderly close, or a reset: a
// connection still in the listener's backlog when it closes is reset).
bool closed_within(int fd, Millis timeout) {
  timeval tv{.tv_sec = timeout.count() / 1000,
             .tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  const ssize_t n = ::recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// Records what the mux hands over.
struct Handed {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> grpc, http1;
  // Waits (bounded) until `which` holds n descriptors.
  bool wait(std::vector<int> Handed::*which, size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return (this->*which).size() >= n; });
  }
};

class PortMuxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = PortMux::bind("127.0.0.1:0", PortMuxLimits{.first_bytes_timeout = Millis(300)});
    ASSERT_TRUE(m.ok()) << m.status();
    mux_ = *std::move(m);
    mux_->start(
        [this](int fd) {
          std::lock_guard<std::mutex> lock(handed_.mu);
          handed_.grpc.push_back(fd);
          handed_.cv.notify_all();
        },
        [this](int fd) {
          std::lock_guard<std::mutex> lock(handed_.mu);
          handed_.http1.push_back(fd);
          handed_.cv.notify_all();
        });
  }
  void TearDown() override {
    mux_->stop();
    for (int fd : handed_.grpc) ::close(fd);
    for (int fd : handed_.http1) ::close(fd);
    for (int fd : clients_) ::close(fd);
  }
  int client() {
    const int fd = connect_to(mux_->port());
    clients_.push_back(fd);
    return fd;
  }
  std::string read_all(int fd, size_t n) {
    std::string s(n, '\0');
    size_t got = 0;
    while (got < n) {
      const ssize_t k = ::recv(fd, s.data() + got, n - got, 0);
      if (k <= 0) break;
      got += static_cast<size_t>(k);
    }
    s.resize(got);
    return s;
  }

  std::unique_ptr<PortMux> mux_;
  Handed handed_;
  std::vector<int> clients_;
};

TEST_F(PortMuxTest, HandsThePrefaceToGrpcAndARequestToHttp1WithNoByteConsumed) {
  const int g = client();
  const std::string preface = std::string(kHttp2Preface) + "settings";
  ASSERT_EQ(::send(g, preface.data(), preface.size(), 0), static_cast<ssize_t>(preface.size()));
  const int h = client();
  const std::string get = "GET /health HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::send(h, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  ASSERT_TRUE(handed_.wait(&Handed::grpc, 1));
  ASSERT_TRUE(handed_.wait(&Handed::http1, 1));
  EXPECT_EQ(read_all(handed_.grpc[0], preface.size()), preface);
  EXPECT_EQ(read_all(handed_.http1[0], get.size()), get);
  // gRPC's socket stays non-blocking (gRPC's event loop wants it so); HTTP/1's blocks.
  EXPECT_NE(::fcntl(handed_.grpc[0], F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(::fcntl(handed_.http1[0], F_GETFL) & O_NONBLOCK, 0);
  // gRPC will call the connection "fd:N"; limits still see the client's address.
  const std::string peer = peer_address("fd:" + std::to_string(handed_.grpc[0]));
  EXPECT_EQ(peer.rfind("ipv4:127.0.0.1:", 0), 0u) << peer;
  EXPECT_EQ(peer_address("ipv4:10.0.0.1:5"), "ipv4:10.0.0.1:5");
  EXPECT_EQ(peer_address("fd:x"), "fd:x");
  // And the services of a server shared by both ports see which port it came in on.
  EXPECT_EQ(handed_over_from("fd:" + std::to_string(handed_.grpc[0])), "client");
  EXPECT_EQ(handed_over_from("ipv4:127.0.0.1:5"), "");
  EXPECT_EQ(handed_over_from("fd:x"), "");
}

TEST(PortMuxRole, AConnectionHandedOverFromAPeerPortIsAPeerPortsConnection) {
  auto m = PortMux::bind("127.0.0.1:0", PortMuxLimits{}, "peer");
  ASSERT_TRUE(m.ok()) << m.status();
  Handed handed;
  (*m)->start(
      [&](int fd) {
        std::lock_guard<std::mutex> lock(handed.mu);
        handed.grpc.push_back(fd);
        handed.cv.notify_all();
      },
      [](int fd) { ::close(fd); });
  const int c = connect_to((*m)->port());
  ASSERT_EQ(::send(c, kHttp2Preface.data(), kHttp2Preface.size(), 0),
            static_cast<ssize_t>(kHttp2Preface.size()));
  ASSERT_TRUE(handed.wait(&Handed::grpc, 1));
  EXPECT_EQ(handed_over_from("fd:" + std::to_string(handed.grpc[0])), "peer");
  (*m)->stop();
  ::close(handed.grpc[0]);
  ::close(c);
}

TEST_F(PortMuxTest, WithoutALaneHandoffALanesPrefaceGoesToHttp1) {
  const int l = client();
  const std::string lane = std::string(kPeerLanePreface) + "frames";
  ASSERT_EQ(::send(l, lane.data(), lane.size(), 0), static_cast<ssize_t>(lane.size()));
  ASSERT_TRUE(handed_.wait(&Handed::http1, 1));
  EXPECT_EQ(read_all(handed_.http1[0], lane.size()), lane);
}

TEST_F(PortMuxTest, APrefaceArrivingInPiecesIsWaitedFor) {
  const int g = client();
  const std::string preface(kHttp2Preface);
  ASSERT_EQ(::send(g, preface.data(), 5, 0), 5);
  // Five bytes decide nothing: the connection stays undecided (neither handed over nor
  // closed) until the rest comes, then goes to gRPC whole.
  ASSERT_EQ(::send(g, preface.data() + 5, preface.size() - 5, 0),
            static_cast<ssize_t>(preface.size() - 5));
  ASSERT_TRUE(handed_.wait(&Handed::grpc, 1));
  EXPECT_EQ(read_all(handed_.grpc[0], preface.size()), preface);
  EXPECT_TRUE(handed_.http1.empty());
}

TEST_F(PortMuxTest, ASilentConnectionIsClosedAfterTheTimeoutAndNothingIsHandedOver) {
  const int silent = client();
  EXPECT_TRUE(closed_within(silent, Millis(5000)));
  std::lock_guard<std::mutex> lock(handed_.mu);
  EXPECT_TRUE(handed_.grpc.empty());
  EXPECT_TRUE(handed_.http1.empty());
}

TEST_F(PortMuxTest, StopClosesUndecidedConnectionsAndTheListener) {
  const int undecided = client();
  ASSERT_EQ(::send(undecided, "PRI", 3, 0), 3);
  mux_->stop();
  EXPECT_TRUE(closed_within(undecided, Millis(2000)));
  EXPECT_EQ(connect_to(mux_->port()), -1);  // nobody listens any more
}

TEST(PortMuxBind, ATakenPortOrABadAddressIsRefusedNamingIt) {
  auto first = PortMux::bind("127.0.0.1:0");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = PortMux::bind(taken);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(),
            "cannot listen for clients on " + taken + ": Address already in use");
  EXPECT_EQ(PortMux::bind("127.0.0.1").status().message(),
            "client address \"127.0.0.1\" is not host:port");
  EXPECT_EQ(PortMux::bind("127.0.0.1:70000").status().message(),
            "client address \"127.0.0.1:70000\" has no port number in [0, 65535]");
}

}  // namespace
}  // namespace transport
