// Peer lanes (transport/peer_lanes.h): Raft messages between plaintext peers on TCP
// connections of their own. Once a lane is up, messages go on it, once each and in order;
// without lanes the gRPC streams carry them, and a peer without lanes is sent everything
// on its stream (its listener refuses the lane, which is never used); a lane is checked as a stream
// is (cluster, membership, the frame's size and form) and a refused one delivers nothing; a lane
// that breaks tells the node its peer closed; a peer that stops reading never blocks a sender. Real
// sockets on 127.0.0.1.
#include "transport/peer_lanes.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "metrics/registry.h"
#include "node/null_handler.h"
#include "node/peer_test_helpers.h"
#include "raftkv/peer.pb.h"
#include "transport/grpc_transport.h"
#include "transport/port_mux.h"

namespace transport {
namespace {

// Keeps the commit index of every heartbeat that reaches it, and who closed on it.
class RecordingHandler : public NullHandler {
 public:
  void on_message(raft::Message m, std::shared_ptr<const SnapshotSource>) override {
    if (const auto* hb = std::get_if<raft::Heartbeat>(&m.body)) {
      std::unique_lock<std::mutex> lock(mu_);
      commits_.push_back(hb->commit.value());
      // A stalled node: the lanes' thread waits here, reading nothing more.
      cv_.wait(lock, [&] { return !stalled_; });
    }
  }
  bool is_member(raft::NodeId peer) override { return peer.value() < 100; }
  void on_peer_closed(raft::NodeId peer) override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_.push_back(peer.value());
  }
  std::vector<uint64_t> commits() {
    std::lock_guard<std::mutex> lock(mu_);
    return commits_;
  }
  std::vector<uint64_t> closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  void stall(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    stalled_ = on;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stalled_ = false;
  std::vector<uint64_t> commits_;
  std::vector<uint64_t> closed_;
};

GrpcTransportOptions options(uint64_t self, bool lanes = true) {
  return GrpcTransportOptions{.self = raft::NodeId(self),
                              .cluster_id = 7,
                              .listen_address = "127.0.0.1:0",
                              .max_queue_messages = 1 << 20,
                              .max_frame_bytes = 4096,
                              .peer_lanes = lanes};
}

// Two transports, 2 sending to 1.
struct Pair {
  explicit Pair(bool lanes = true, GrpcTransportOptions sender_options = options(2)) {
    receiver = std::make_unique<GrpcTransport>(options(1, lanes));
    absl::StatusOr<int> p = receiver->start(&receiver_handler);
    EXPECT_TRUE(p.ok()) << p.status();
    port = p.value_or(0);
    sender_options.peer_lanes = lanes;
    sender = std::make_unique<GrpcTransport>(std::move(sender_options));
    EXPECT_TRUE(sender->start(&sender_handler).ok());
    sender->set_peer(raft::NodeId(1), "127.0.0.1:" + std::to_string(port));
  }
  ~Pair() {
    receiver_handler.stall(false);
    sender->stop();
    receiver->stop();
  }
  // Sends heartbeats of commit 0 until one goes on the lane.
  bool lane_up() {
    return eventually([&] {
      sender->send({heartbeat(raft::NodeId(1), 0)});
      return sender->stats().lane_sent > 0;
    });
  }
  RecordingHandler receiver_handler, sender_handler;
  std::unique_ptr<GrpcTransport> receiver, sender;
  int port = 0;
};

TEST(PeerLanes, OnceALaneIsUpMessagesGoOnItOnceEachInOrder) {
  Pair p;
  ASSERT_TRUE(p.lane_up());
  // Two threads send in turns, in frames of at most 4 KiB.
  constexpr uint64_t kMessages = 20'000;
  send_in_turns(*p.sender, raft::NodeId(1), kMessages);
  // The heartbeats of commit 0 that went on the gRPC stream before the lane was up may
  // arrive any time (even after these, so they are not counted); the rest arrive once
  // each, in order.
  auto numbered = [&] {
    std::vector<uint64_t> got = p.receiver_handler.commits();
    std::erase(got, 0);
    return got;
  };
  ASSERT_TRUE(eventually([&] { return numbered().size() >= kMessages; }));
  std::vector<uint64_t> got = numbered();
  ASSERT_EQ(got.size(), kMessages);
  for (uint64_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], i + 1) << "at " << i;
  EXPECT_GE(p.sender->stats().lane_sent, kMessages);
  EXPECT_EQ(p.sender->stats().dropped, 0u);
}

TEST(PeerLanes, WithoutLanesTheStreamsCarryEverything) {
  Pair p(/*lanes=*/false);
  for (uint64_t i = 1; i <= 100; ++i) p.sender->send({heartbeat(raft::NodeId(1), i)});
  ASSERT_TRUE(eventually([&] { return p.receiver_handler.commits().size() == 100; }));
  EXPECT_EQ(p.sender->stats().lane_sent, 0u);
  EXPECT_EQ(p.sender->stats().sent, 100u);
}

TEST(PeerLanes, APeerWithoutLanesRefusesOneAndIsSentEverythingOnItsStream) {
  RecordingHandler receiver_handler, sender_handler;
  GrpcTransport receiver(options(1, /*lanes=*/false));  // gRPC's own listener
  absl::StatusOr<int> port = receiver.start(&receiver_handler);
  ASSERT_TRUE(port.ok()) << port.status();
  GrpcTransport sender(options(2, /*lanes=*/true));
  ASSERT_TRUE(sender.start(&sender_handler).ok());
  sender.set_peer(raft::NodeId(1), "127.0.0.1:" + std::to_string(*port));
  // Long enough for the lane to be dialled and refused several times over.
  for (uint64_t i = 1; i <= 200; ++i) {
    sender.send({heartbeat(raft::NodeId(1), i)});
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(eventually([&] { return receiver_handler.commits().size() == 200; }));
  EXPECT_EQ(sender.stats().lane_sent, 0u);
  sender.stop();
  receiver.stop();
}

TEST(PeerLanes, ALaneThatBreaksTellsTheNodeItsPeerClosed) {
  Pair p;
  ASSERT_TRUE(p.lane_up());
  ASSERT_TRUE(p.receiver_handler.closed().empty());
  p.sender->stop();  // its lane and its stream close
  ASSERT_TRUE(eventually([&] { return !p.receiver_handler.closed().empty(); }));
  for (uint64_t peer : p.receiver_handler.closed()) EXPECT_EQ(peer, 2u);
}

// The value of `series` (name and labels, as rendered) in `registry`, or -1.
double series_value(const metrics::Registry& registry, const std::string& series) {
  const std::string text = registry.render();
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(PeerLanes, APeerThatStopsReadingNeverBlocksTheSenderItsMessagesAreDropped) {
  GrpcTransportOptions o = options(2);
  o.max_queue_bytes = 256 * 1024;  // the lane's buffer
  metrics::Registry registry;
  o.registry = &registry;
  const std::string failures = R"(etcd_network_peer_sent_failures_total{To="0000000000000001"})";
  Pair p(/*lanes=*/true, o);
  ASSERT_TRUE(p.lane_up());
  p.receiver_handler.stall(true);
  p.sender->send({heartbeat(raft::NodeId(1), 1)});
  // The receiver's lanes thread now waits in on_message (the heartbeat above): the
  // sockets' buffers fill, then the lane's own, then what is sent is dropped. Each send
  // returns (or the test would hang).
  const std::string padding(1000, 'x');
  uint64_t sent = 1;
  ASSERT_TRUE(eventually([&] {
    std::vector<raft::Message> batch;
    for (int k = 0; k < 100; ++k) {
      raft::Message m = heartbeat(raft::NodeId(1), ++sent);
      m.body = raft::AppendEntries{.prev = {raft::Term(1), raft::LogIndex(1)},
                                   .entries = {raft::Entry{.term = raft::Term(1),
                                                           .index = raft::LogIndex(2),
                                                           .type = raft::EntryType::kNormal,
                                                           .data = padding}},
                                   .commit = raft::LogIndex(1)};
      batch.push_back(std::move(m));
    }
    p.sender->send(std::move(batch));
    return p.sender->stats().dropped > 0;
  }));
  // Each frame dropped at the lane's bound counts as a failed send to that peer, as etcd
  // counts a message its peer stream could not take.
  EXPECT_GE(series_value(registry, failures), 1.0);
  p.receiver_handler.stall(false);
  // The lane still works once the receiver reads again.
  const size_t seen = p.receiver_handler.commits().size();
  ASSERT_TRUE(eventually([&] {
    p.sender->send({heartbeat(raft::NodeId(1), 1'000'000)});
    return p.receiver_handler.commits().size() > seen;
  }));
}

// A raw connection to the peer port.
int dial(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  timeval tv{.tv_sec = 10, .tv_usec = 0};  // a bound on every read below
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string frame_bytes(const raftkv::peer::PeerFrame& f, int64_t claimed_length = -1) {
  std::string body = f.SerializeAsString();
  const uint32_t n = claimed_length >= 0 ? static_cast<uint32_t>(claimed_length)
                                         : static_cast<uint32_t>(body.size());
  std::string out;
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + body;
}

raftkv::peer::PeerFrame lane_frame(uint64_t cluster, uint64_t from, uint64_t commit) {
  raftkv::peer::PeerFrame f;
  f.set_cluster_id(cluster);
  f.set_from(from);
  if (commit > 0) {
    raftkv::peer::Message* m = f.add_messages();
    m->set_from(from);
    m->set_to(1);
    m->set_term(1);
    m->mutable_heartbeat()->set_commit(commit);
  }
  return f;
}

// What the peer wrote on `fd` before it closed it, or "(open)" if it did not within the
// socket's timeout. A close with bytes unread is a reset.
std::string until_closed(int fd) {
  std::string got;
  for (int i = 0; i < 100; ++i) {
    char buf[64];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return got;
    if (n < 0) return "(open)";
    got.append(buf, static_cast<size_t>(n));
  }
  return "(open)";
}

TEST(PeerLanes, ARefusedLaneIsClosedAndDeliversNothing) {
  Pair p;
  const std::string preface(kPeerLanePreface);
  struct Case {
    const char* what;
    std::string bytes;
    std::string answer;  // before the close: the acceptance of a good hello, else nothing
  };
  const std::string ok(kPeerLaneAccepted);
  const std::vector<Case> cases = {
      {"another cluster", preface + frame_bytes(lane_frame(8, 2, 11)), ""},
      {"not a member", preface + frame_bytes(lane_frame(7, 100, 12)), ""},
      {"a first frame over 64 KiB", preface + frame_bytes(lane_frame(7, 2, 13), 65 * 1024), ""},
      {"a frame that does not parse", preface + std::string("\x03\x00\x00\x00\xff\xff\xff", 7), ""},
      {"another preface", std::string("RAFTKV-PEER-LANE/9\r\n") + frame_bytes(lane_frame(7, 2, 14)),
       ""},
      {"another sender later",
       preface + frame_bytes(lane_frame(7, 2, 0)) + frame_bytes(lane_frame(7, 3, 15)), ok},
  };
  for (const Case& c : cases) {
    const int fd = dial(p.port);
    ASSERT_EQ(::send(fd, c.bytes.data(), c.bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(c.bytes.size()))
        << c.what;
    EXPECT_EQ(until_closed(fd), c.answer) << c.what;
    ::close(fd);
  }
  // A good lane, after them: its message arrives, and none of theirs did.
  const int fd = dial(p.port);
  const std::string good =
      preface + frame_bytes(lane_frame(7, 2, 0)) + frame_bytes(lane_frame(7, 2, 16));
  ASSERT_EQ(::send(fd, good.data(), good.size(), MSG_NOSIGNAL), static_cast<ssize_t>(good.size()));
  ASSERT_TRUE(eventually([&] { return !p.receiver_handler.commits().empty(); }));
  EXPECT_EQ(p.receiver_handler.commits(), std::vector<uint64_t>{16});
  ::close(fd);
}

// A listener on 127.0.0.1 that takes connections and never answers (as the kernel of a
// stopped peer does). `accept_one` waits for the next connection, at most `within`.
struct SilentPeer {
  SilentPeer() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentPeer() {
    for (int c : accepted) ::close(c);
    ::close(fd);
  }
  bool accept_one(std::chrono::milliseconds within) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, static_cast<int>(within.count())) != 1) return false;
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return false;
    accepted.push_back(c);
    return true;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  int fd = -1;
  int port = 0;
  std::vector<int> accepted;
};

// Lanes of member 2 in cluster 7 that refuse every frame, with `adjust`'s options, started
// and dialling `peer` as member 1; null if they could not start.
std::unique_ptr<PeerLanes> lanes_dialling(const SilentPeer& peer,
                                          const std::function<void(PeerLaneOptions&)>& adjust) {
  PeerLaneOptions options{.cluster_id = 7, .self = raft::NodeId(2)};
  adjust(options);
  auto lanes = std::make_unique<PeerLanes>(
      std::move(options),
      PeerLaneHooks{.on_frame = [](raftkv::peer::PeerFrame&, uint64_t*) { return false; },
                    .on_closed = [](uint64_t) {}});
  if (!lanes->start().ok()) return nullptr;
  lanes->set_peer(raft::NodeId(1), peer.address(), nullptr);
  return lanes;
}

TEST(PeerLanes, ALaneNotAcceptedInTimeIsGivenUpAndDialledAgain) {
  SilentPeer peer;
  auto lanes = lanes_dialling(
      peer, [](PeerLaneOptions& o) { o.connect_timeout = std::chrono::milliseconds(200); });
  ASSERT_NE(lanes, nullptr);
  // The lane connects, writes its hello and hears nothing: after 200 ms it is given up
  // and dialled again (the backoff grows from 50 ms), where it used to wait for ever.
  // Bounded: three dials within 10 s each.
  for (int dials = 0; dials < 3; ++dials) {
    ASSERT_TRUE(peer.accept_one(std::chrono::seconds(10))) << "dial " << dials + 1;
  }
  raftkv::peer::PeerFrame frame;
  EXPECT_FALSE(lanes->send(raft::NodeId(1), frame, 1));  // never up: the caller goes another way
  lanes->stop();
}

// Our own socket whose peer is 127.0.0.1:`port` (the lane dialled from this process), or -1.
int socket_to(int port) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  while (dirent* e = ::readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    sockaddr_in a{};
    socklen_t len = sizeof a;
    if (fd <= 2 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) continue;
    if (a.sin_family == AF_INET && ntohs(a.sin_port) == port) found = fd;
  }
  ::closedir(dir);
  return found;
}

// SO_KEEPALIVE and TCP_USER_TIMEOUT (ms) of `fd`.
std::pair<int, unsigned> timeouts_of(int fd) {
  int keepalive = 0;
  unsigned user_timeout = 0;
  socklen_t len = sizeof keepalive;
  ::getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive, &len);
  len = sizeof user_timeout;
  ::getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, &len);
  return {keepalive, user_timeout};
}

TEST(PeerLanes, EveryLaneGivesUpOnAPeerThatAcknowledgesNothing) {
  // A lane into a partition (the peer's kernel acknowledges nothing) closes after the user
  // timeout and is dialled again, instead of waiting on TCP's retransmissions for minutes
  // after the partition heals; keepalive probes find it when nothing is being sent. Both
  // ends: the lanes we dial and the ones we adopt.
  SilentPeer peer;
  auto lanes = lanes_dialling(
      peer, [](PeerLaneOptions& o) { o.user_timeout = std::chrono::milliseconds(3000); });
  ASSERT_NE(lanes, nullptr);
  ASSERT_TRUE(peer.accept_one(std::chrono::seconds(10)));
  const int dialled = socket_to(peer.port);
  ASSERT_GE(dialled, 0);
  EXPECT_EQ(timeouts_of(dialled), std::make_pair(1, 3000u));

  // An incoming lane: a connection made here, its accepted end handed to the lanes.
  const int ours = dial(peer.port);
  ASSERT_TRUE(peer.accept_one(std::chrono::seconds(10)));
  const int adopted = peer.accepted.back();
  peer.accepted.pop_back();  // the lanes' now (they close it)
  EXPECT_EQ(timeouts_of(adopted), std::make_pair(0, 0u));
  lanes->adopt(adopted);
  EXPECT_EQ(timeouts_of(adopted), std::make_pair(1, 3000u));
  lanes->stop();
  ::close(ours);
}

}  // namespace
}  // namespace transport
