#include "transport/peer_lanes.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "log/log.h"
#include "log/thread_name.h"
#include "transport/port_mux.h"

namespace transport {
namespace {

namespace pb = raftkv::peer;
using Millis = std::chrono::milliseconds;

constexpr std::string_view kLanes = "transport";
constexpr Millis kFirstBackoff{50};
constexpr Millis kMaxBackoff{1000};
// A lane that fails within this of coming up keeps its backoff growing (a peer that
// accepts and then refuses is not dialled every 50 ms).
constexpr Millis kSteady{1000};
constexpr uint64_t kWakeToken = 0;
constexpr size_t kReadChunk = 256 * 1024;

void put_length(std::string& out, uint32_t n) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
}

uint32_t get_length(const char* p) {
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i)
    n |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return n;
}

std::string lane_errno_text(int e) { return std::strerror(e); }

}  // namespace

// A lane to a peer. Its fields are guarded by mu, but `token` (fixed).
struct PeerLanes::Out {
  // kHello: connected, the preface and hello written (or being written), waiting for the
  // peer's acceptance. Only kUp takes frames.
  enum class State { kDown, kConnecting, kHello, kUp };
  explicit Out(raft::NodeId p, uint64_t t) : peer(p), token(t) {}
  const raft::NodeId peer;
  const uint64_t token;
  std::mutex mu;
  std::string address;  // host:port; empty once removed
  PeerLaneSent sent;
  PeerLaneFailed failed;
  State state = State::kDown;
  int fd = -1;
  std::string buffer;     // bytes the socket has not taken yet, in order
  bool want_out = false;  // EPOLLOUT is in the epoll set
  Clock::time_point retry_at{};
  Clock::time_point give_up_at{};  // kConnecting and kHello: not accepted by then, dial again
  Clock::time_point up_since{};
  Millis backoff = kFirstBackoff;
  size_t attempt = 0;  // dials that failed before a lane came up: which address is next
};

// A lane from a peer: the lanes' thread's alone.
struct PeerLanes::In {
  explicit In(int f, uint64_t t) : fd(f), token(t) {}
  const int fd;
  const uint64_t token;
  std::string buffer;    // bytes read, not yet a whole frame
  bool preface = false;  // kPeerLanePreface was read
  uint64_t sender = 0;   // the member it speaks for, once a frame was accepted
};

PeerLanes::PeerLanes(PeerLaneOptions options, PeerLaneHooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {}

PeerLanes::~PeerLanes() {
  stop();
  // Only now: a call racing stop() may still wake the thread or drop a lane from the set.
  if (wake_ >= 0) ::close(wake_);
  if (epoll_ >= 0) ::close(epoll_);
}

absl::Status PeerLanes::start() {
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0)
    return absl::ResourceExhaustedError("peer lanes: epoll: " + lane_errno_text(errno));
  wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_ < 0)
    return absl::ResourceExhaustedError("peer lanes: eventfd: " + lane_errno_text(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
  thread_ = std::thread([this] {
    raftlog::name_this_thread("raftkv-lanes");
    loop();
  });
  return absl::OkStatus();
}

void PeerLanes::stop() {
  if (stopped_.exchange(true)) return;
  if (thread_.joinable()) {
    wake();
    thread_.join();
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [token, out] : out_tokens_) {
    std::lock_guard<std::mutex> l(out->mu);
    if (out->fd >= 0) ::close(out->fd);
    out->fd = -1;
    out->state = Out::State::kDown;
  }
  for (auto& [token, in] : ins_) ::close(in->fd);
  ins_.clear();
}

void PeerLanes::wake() {
  const uint64_t one = 1;
  while (::write(wake_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void PeerLanes::adopt(int fd) {
  if (stopped_) {
    ::close(fd);
    return;
  }
  set_timeouts(fd);
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t token = next_token_++;
  ins_.emplace(token, std::make_shared<In>(fd, token));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = token;
  if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ins_.erase(token);
    ::close(fd);
  }
}

std::shared_ptr<PeerLanes::Out> PeerLanes::find(raft::NodeId peer) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = outs_.find(peer);
  return it != outs_.end() ? it->second : nullptr;
}

void PeerLanes::set_timeouts(int fd) const {
  const int yes = 1, idle_s = 2, interval_s = 1, probes = 3;
  const auto user_ms = static_cast<unsigned>(options_.user_timeout.count());
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &yes, sizeof yes);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof user_ms);
}

void PeerLanes::set_peer(raft::NodeId peer, const std::string& host_port, PeerLaneSent sent,
                         PeerLaneFailed failed) {
  std::shared_ptr<Out> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = outs_.find(peer);
    if (it == outs_.end()) {
      const uint64_t token = next_token_++;
      it = outs_.emplace(peer, std::make_shared<Out>(peer, token)).first;
      out_tokens_.emplace(token, it->second);
    }
    out = it->second;
  }
  {
    std::lock_guard<std::mutex> lock(out->mu);
    out->sent = std::move(sent);
    out->failed = std::move(failed);
    if (out->address == host_port) return;
    if (out->state != Out::State::kDown) fail_locked(*out, "its address changed");
    out->address = host_port;
    out->retry_at = Clock::now();  // a new address is dialled at once
    out->backoff = kFirstBackoff;
  }
  wake();
}

void PeerLanes::remove_peer(raft::NodeId peer) {
  std::shared_ptr<Out> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = outs_.find(peer);
    if (it == outs_.end()) return;
    out = it->second;
    outs_.erase(it);
    out_tokens_.erase(out->token);
  }
  std::lock_guard<std::mutex> lock(out->mu);
  if (out->state != Out::State::kDown) fail_locked(*out, "the peer was removed");
  out->address.clear();
}

void PeerLanes::kick(raft::NodeId peer) {
  const std::shared_ptr<Out> out = find(peer);
  if (out == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(out->mu);
    if (out->state != Out::State::kDown) return;
    out->retry_at = Clock::now();
    out->backoff = kFirstBackoff;
  }
  wake();
}

bool PeerLanes::send(raft::NodeId peer, pb::PeerFrame& frame, uint64_t messages) {
  const std::shared_ptr<Out> out = find(peer);
  if (out == nullptr) return false;
  frame.set_cluster_id(options_.cluster_id);
  frame.set_from(options_.self.value());
  // Encoded outside the lock: only the socket's order needs it.
  std::string bytes;
  bytes.reserve(frame.ByteSizeLong() + 4);
  put_length(bytes, static_cast<uint32_t>(frame.ByteSizeLong()));
  frame.AppendToString(&bytes);
  const uint64_t size = bytes.size();
  std::lock_guard<std::mutex> lock(out->mu);
  if (out->state != Out::State::kUp) return false;
  if (out->buffer.size() + size > options_.max_buffer_bytes) {
    dropped_.fetch_add(messages, std::memory_order_relaxed);
    if (out->failed) out->failed();
    return true;
  }
  if (out->buffer.empty()) {
    out->buffer.swap(bytes);  // the common case: written from here, not copied
    // The connection failed: the peer takes no part of this frame (a part written is
    // discarded with the connection), so it goes another way, and is not lost.
    if (!flush_locked(*out, /*lost=*/false)) return false;
  } else {
    out->buffer.append(bytes);  // behind what waits for the socket
  }
  if (out->sent) out->sent(size, messages);
  return true;
}

// Under out.mu: writes the buffer; keeps EPOLLOUT in the set while some is left.
bool PeerLanes::flush_locked(Out& out, bool lost) {
  size_t off = 0;
  while (off < out.buffer.size()) {
    const ssize_t n = ::send(out.fd, out.buffer.data() + off, out.buffer.size() - off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    fail_locked(out, n < 0 ? "a write failed: " + lane_errno_text(errno) : "the connection closed",
                lost);
    return false;
  }
  out.buffer.erase(0, off);
  const bool want_out = !out.buffer.empty();
  if (want_out != out.want_out) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0u);
    ev.data.u64 = out.token;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, out.fd, &ev);
    out.want_out = want_out;
  }
  return true;
}

void PeerLanes::fail_locked(Out& out, const std::string& why, bool lost) {
  const bool was_up = out.state == Out::State::kUp;
  const auto now = Clock::now();
  // Frames taken and not written are lost with the connection (Raft sends them again).
  if (was_up && lost && !out.buffer.empty() && out.failed) out.failed();
  if (out.fd >= 0) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, out.fd, nullptr);
    ::close(out.fd);
  }
  out.fd = -1;
  out.state = Out::State::kDown;
  out.buffer.clear();
  out.want_out = false;
  if (was_up && now - out.up_since >= kSteady) out.backoff = kFirstBackoff;
  out.retry_at = now + out.backoff;
  out.backoff = std::min(out.backoff * 2, kMaxBackoff);
  // A lane that was up a while is worth a line; one refused on its hello (every backoff)
  // is not.
  if (was_up && now - out.up_since >= kSteady) {
    raftlog::info(kLanes, "peer lane closed",
                  {{"peer", raftlog::hex_id(out.peer.value())}, {"reason", why}});
  } else {
    raftlog::debug(kLanes, "peer lane closed",
                   {{"peer", raftlog::hex_id(out.peer.value())}, {"reason", why}});
  }
  if (!was_up) ++out.attempt;  // the next dial tries the host's next address
}

// The lanes' thread: opens a lane to a peer whose backoff has passed.
void PeerLanes::dial(Out& out, Clock::time_point now) {
  std::string a;
  size_t attempt = 0;
  {
    std::lock_guard<std::mutex> lock(out.mu);
    if (out.state != Out::State::kDown || out.address.empty() || out.retry_at > now) return;
    a = out.address;
    attempt = out.attempt;
  }
  // Resolved without the lane's lock: a sender never waits for a name lookup.
  const size_t colon = a.rfind(':');
  std::string host = a.substr(0, colon == std::string::npos ? 0 : colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const bool resolved = colon != std::string::npos &&
                        ::getaddrinfo(host.c_str(), a.c_str() + colon + 1, &hints, &found) == 0 &&
                        found != nullptr;
  std::lock_guard<std::mutex> lock(out.mu);
  if (out.state != Out::State::kDown || out.address != a) {  // changed meanwhile
    if (found != nullptr) ::freeaddrinfo(found);
    return;
  }
  if (!resolved) {
    out.retry_at = now + out.backoff;
    out.backoff = std::min(out.backoff * 2, kMaxBackoff);
    return;
  }
  // A host with several addresses (localhost: ::1 and 127.0.0.1) is tried address by
  // address, one per dial.
  size_t count = 0;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) ++count;
  addrinfo* pick = found;
  for (size_t i = attempt % count; i > 0; --i) pick = pick->ai_next;
  const int fd = ::socket(pick->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc = -1, err = errno;
  if (fd >= 0) {
    const int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    set_timeouts(fd);
    rc = ::connect(fd, pick->ai_addr, pick->ai_addrlen);
    err = errno;
  }
  ::freeaddrinfo(found);
  if (fd < 0 || (rc != 0 && err != EINPROGRESS)) {
    if (fd >= 0) ::close(fd);
    ++out.attempt;
    out.retry_at = now + out.backoff;
    out.backoff = std::min(out.backoff * 2, kMaxBackoff);
    return;
  }
  out.fd = fd;
  out.state = Out::State::kConnecting;
  out.give_up_at = now + options_.connect_timeout;
  // The preface and a hello go first: the peer accepts the lane or closes it on them.
  pb::PeerFrame hello;
  hello.set_cluster_id(options_.cluster_id);
  hello.set_from(options_.self.value());
  out.buffer.assign(kPeerLanePreface);
  put_length(out.buffer, static_cast<uint32_t>(hello.ByteSizeLong()));
  hello.AppendToString(&out.buffer);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.u64 = out.token;
  out.want_out = true;
  if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) fail_locked(out, "epoll");
}

void PeerLanes::on_out_event(Out& out, uint32_t events) {
  std::lock_guard<std::mutex> lock(out.mu);
  if (out.fd < 0) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    // A peer writes on our lane only its acceptance (kPeerLaneAccepted, once); else
    // readable means closed (refused, or gone).
    char scratch[256];
    const ssize_t n = ::recv(out.fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
        (events & (EPOLLHUP | EPOLLERR))) {
      return fail_locked(
          out, out.state == Out::State::kUp ? "the peer closed it" : "the peer refused it");
    }
    if (n > 0 && out.state == Out::State::kHello) {
      if (std::string_view(scratch, static_cast<size_t>(n)) != kPeerLaneAccepted) {
        return fail_locked(out, "the peer answered the hello with something else");
      }
      out.state = Out::State::kUp;
      out.up_since = Clock::now();
      raftlog::debug(kLanes, "peer lane established",
                     {{"peer", raftlog::hex_id(out.peer.value())}});
    }
  }
  if (!(events & EPOLLOUT)) return;
  if (out.state == Out::State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(out.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail_locked(out, "the connection failed: " + lane_errno_text(err));
    out.state = Out::State::kHello;
  }
  flush_locked(out);
}

void PeerLanes::close_in(In& in, bool refused) {
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, in.fd, nullptr);
  ::close(in.fd);
  if (!refused && in.sender != 0 && !stopped_ && hooks_.on_closed) hooks_.on_closed(in.sender);
  std::lock_guard<std::mutex> lock(mu_);
  ins_.erase(in.token);  // `in` is gone after this (the caller holds a reference)
}

void PeerLanes::on_in_event(In& in, uint32_t events) {
  char chunk[kReadChunk];
  const ssize_t n = ::recv(in.fd, chunk, sizeof chunk, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    if (events & (EPOLLHUP | EPOLLERR)) close_in(in, false);
    return;
  }
  if (n <= 0) return close_in(in, false);
  in.buffer.append(chunk, static_cast<size_t>(n));
  size_t off = 0;
  if (!in.preface) {
    if (in.buffer.size() < kPeerLanePreface.size()) return;
    if (std::string_view(in.buffer).substr(0, kPeerLanePreface.size()) != kPeerLanePreface) {
      return close_in(in, true);
    }
    in.preface = true;
    off = kPeerLanePreface.size();
  }
  while (in.buffer.size() - off >= 4) {
    const uint64_t len = get_length(in.buffer.data() + off);
    const uint64_t limit = in.sender == 0 ? options_.max_hello_bytes : options_.max_frame_bytes;
    if (len > limit) {
      raftlog::warn(kLanes, "refused peer lane",
                    {{"peer", raftlog::hex_id(in.sender)},
                     {"reason", "frame too large"},
                     {"detail", "a frame of " + std::to_string(len) + " bytes, at most " +
                                    std::to_string(limit) + " taken"}});
      return close_in(in, true);
    }
    if (in.buffer.size() - off - 4 < len) break;
    pb::PeerFrame frame;
    if (!frame.ParseFromArray(in.buffer.data() + off + 4, static_cast<int>(len))) {
      raftlog::warn(kLanes, "refused peer lane",
                    {{"peer", raftlog::hex_id(in.sender)},
                     {"reason", "malformed"},
                     {"detail", "a frame of " + std::to_string(len) + " bytes does not parse"}});
      return close_in(in, true);
    }
    off += 4 + len;
    const bool accepted_before = in.sender != 0;
    if (!hooks_.on_frame(frame, &in.sender)) return close_in(in, true);
    if (!accepted_before && in.sender != 0) {
      // The sender takes the lane as up once it reads this (a few bytes on a fresh
      // connection: the socket takes them at once).
      if (::send(in.fd, kPeerLaneAccepted.data(), kPeerLaneAccepted.size(),
                 MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(kPeerLaneAccepted.size())) {
        return close_in(in, false);
      }
    }
  }
  in.buffer.erase(0, off);
}

void PeerLanes::loop() {
  std::vector<epoll_event> events(64);
  while (!stopped_) {
    // Dial what is due; sleep until the next is due (at most a second).
    auto now = Clock::now();
    auto next = now + kMaxBackoff;
    std::vector<std::shared_ptr<Out>> outs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [peer, out] : outs_) outs.push_back(out);
    }
    for (const std::shared_ptr<Out>& out : outs) {
      dial(*out, now);
      std::lock_guard<std::mutex> lock(out->mu);
      if (out->state == Out::State::kDown && !out->address.empty()) {
        next = std::min(next, out->retry_at);
      }
      if (out->state == Out::State::kConnecting || out->state == Out::State::kHello) {
        if (out->give_up_at <= now) {
          // A peer that neither completes the connection nor answers the hello (a
          // partition drops our packets; a stopped process accepts nothing).
          fail_locked(*out, "not accepted within " +
                                std::to_string(options_.connect_timeout.count()) + " ms");
          next = std::min(next, out->retry_at);
        } else {
          next = std::min(next, out->give_up_at);
        }
      }
    }
    const auto wait = std::chrono::duration_cast<Millis>(next - now).count();
    const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                               static_cast<int>(std::clamp<int64_t>(wait, 0, 1000)));
    if (n < 0 && errno != EINTR) {
      raftlog::error(kLanes, "peer lanes' epoll failed; lanes stop",
                     {{"error", lane_errno_text(errno)}});
      return;
    }
    for (int i = 0; i < n && !stopped_; ++i) {
      const uint64_t token = events[i].data.u64;
      if (token == kWakeToken) {
        uint64_t v;
        while (::read(wake_, &v, sizeof v) > 0) {
        }
        continue;
      }
      std::shared_ptr<Out> out;
      std::shared_ptr<In> in;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = out_tokens_.find(token); it != out_tokens_.end()) out = it->second;
        if (auto it = ins_.find(token); it != ins_.end()) in = it->second;
      }
      if (out != nullptr) on_out_event(*out, events[i].events);
      if (in != nullptr) on_in_event(*in, events[i].events);
    }
  }
}

}  // namespace transport
