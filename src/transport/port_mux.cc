#include "transport/port_mux.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "log/log.h"
#include "log/thread_name.h"
#include "log/throttle.h"

namespace transport {
namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// How often a connection whose preface came only in part is looked at again.
constexpr Millis kRecheck{5};
// How long accepting pauses when the process is out of descriptors (or memory), so the
// loop does not spin on a listener the kernel keeps reporting ready.
constexpr Millis kAcceptBackoff{100};

raftlog::Throttle& accept_log() {
  static raftlog::Throttle t(std::chrono::seconds(10));
  return t;
}

// The connections handed to gRPC, by descriptor: the address (peer_address()) and the
// role of the port (port_role()).
struct PeerTable {
  struct Connection {
    std::string address;
    std::string_view role;  // "client" or "peer"
  };
  std::mutex mu;
  std::unordered_map<int, Connection> by_fd;  // guarded by mu
};
PeerTable& peers() {
  static PeerTable t;
  return t;
}

// gRPC's form of a peer address: "ipv4:1.2.3.4:5" or "ipv6:[::1]:5".
std::string grpc_peer_name(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string("ipv4:") + host + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (a.ss_family == AF_INET6) {
    const auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    return std::string("ipv6:[") + host + "]:" + std::to_string(ntohs(in->sin6_port));
  }
  return "unknown";
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

Protocol classify(std::string_view first_bytes) {
  // Whether `first_bytes` begin `preface` (kHttp2 / kPeerLane), are a proper prefix of it
  // (kUndecided), or depart from it (kHttp1).
  auto against = [first_bytes](std::string_view preface, Protocol whole) {
    const size_t n = std::min(first_bytes.size(), preface.size());
    if (first_bytes.substr(0, n) != preface.substr(0, n)) return Protocol::kHttp1;
    return n == preface.size() ? whole : Protocol::kUndecided;
  };
  const Protocol http2 = against(kHttp2Preface, Protocol::kHttp2);
  return http2 != Protocol::kHttp1 ? http2 : against(kPeerLanePreface, Protocol::kPeerLane);
}

namespace {

// The descriptor gRPC names a connection it was handed by ("fd:N"), if it names one so.
std::optional<int> handed_fd(std::string_view grpc_peer) {
  constexpr std::string_view kFd = "fd:";
  if (grpc_peer.substr(0, kFd.size()) != kFd) return std::nullopt;
  const std::string_view digits = grpc_peer.substr(kFd.size());
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoi(std::string(digits));
}

}  // namespace

std::string peer_address(std::string_view grpc_peer) {
  const std::optional<int> fd = handed_fd(grpc_peer);
  if (!fd.has_value()) return std::string(grpc_peer);
  PeerTable& t = peers();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.by_fd.find(*fd);
  return it != t.by_fd.end() ? it->second.address : std::string(grpc_peer);
}

std::string_view handed_over_from(std::string_view grpc_peer) {
  const std::optional<int> fd = handed_fd(grpc_peer);
  if (!fd.has_value()) return {};
  PeerTable& t = peers();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.by_fd.find(*fd);
  return it != t.by_fd.end() ? it->second.role : std::string_view();
}

absl::StatusOr<std::unique_ptr<PortMux>> PortMux::bind(const std::string& address,
                                                       PortMuxLimits limits,
                                                       std::string_view role) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(std::string(role) + " address \"" + address + "\" " + why);
  };
  const std::string cannot = "cannot listen for " + std::string(role) + "s on " + address + ": ";
  std::string host, port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find("]:");
    if (close == std::string::npos) return bad("is not [host]:port");
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) return bad("is not host:port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoi(port) > 65535) {
    return bad("has no port number in [0, 65535]");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int e = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      e != 0) {
    return absl::UnavailableError(cannot + ::gai_strerror(e));
  }
  std::unique_ptr<PortMux> m(new PortMux());
  m->limits_ = limits;
  m->role_ = role;
  std::string last_error = "the host resolves to no address";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    sockaddr_storage a{};
    std::memcpy(&a, ai->ai_addr, std::min<size_t>(ai->ai_addrlen, sizeof a));
    // Every address on the one port: the first bound picks it when the flag said 0.
    if (m->port_ != 0) {
      if (a.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&a)->sin_port = htons(static_cast<uint16_t>(m->port_));
      } else if (a.ss_family == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&a)->sin6_port = htons(static_cast<uint16_t>(m->port_));
      }
    }
    const int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = errno_text(errno);
      continue;
    }
    int yes = 1, no = 0;
    // SO_REUSEADDR only, as the other listeners: SO_REUSEPORT would let another process
    // share the port instead of failing. TCP_NODELAY is inherited by accepted sockets.
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    if (a.ss_family == AF_INET6 &&
        IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<sockaddr_in6*>(&a)->sin6_addr)) {
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);  // [::] takes IPv4 too
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), ai->ai_addrlen) != 0 ||
        ::listen(fd, SOMAXCONN) != 0) {
      last_error = errno_text(errno);
      ::close(fd);
      // An address of the host this machine lacks (::1 without IPv6) is skipped; a port
      // another process holds is an error, whichever address found it.
      if (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT) continue;
      ::freeaddrinfo(found);
      close_all(m->listeners_);
      return absl::UnavailableError(cannot + last_error);
    }
    if (m->port_ == 0) {
      sockaddr_storage bound{};
      socklen_t len = sizeof bound;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
      m->port_ =
          ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    }
    m->listeners_.push_back(fd);
  }
  ::freeaddrinfo(found);
  if (m->listeners_.empty()) {
    return absl::UnavailableError(cannot + last_error);
  }
  m->wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m->wake_ < 0) {
    return absl::ResourceExhaustedError(cannot + "eventfd: " + errno_text(errno));
  }
  return m;
}

PortMux::~PortMux() { stop(); }

void PortMux::start(Handoff grpc, Handoff http1, Handoff lane) {
  grpc_ = std::move(grpc);
  http1_ = std::move(http1);
  lane_ = std::move(lane);
  thread_ = std::thread([this] {
    raftlog::name_this_thread("raftkv-portmux");
    loop();
  });
}

void PortMux::stop() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    while (::write(wake_, &one, sizeof one) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  close_all(listeners_);
  for (const Pending& p : pending_) ::close(p.fd);
  pending_.clear();
  if (wake_ >= 0) ::close(wake_);
  wake_ = -1;
}

// The mux thread: sleeps in poll() on the wake descriptor, the listeners (unless paused)
// and the undecided connections, until stop().
void PortMux::loop() {
  std::vector<pollfd> fds;
  std::vector<size_t> which;  // fds[2 + listeners + i] is pending_[which[i]]
  for (;;) {
    Clock::time_point now = Clock::now();
    fds.clear();
    which.clear();
    fds.push_back({.fd = wake_, .events = POLLIN, .revents = 0});
    const bool accepting = pending_.size() < limits_.max_undecided && now >= accept_paused_until_;
    if (accepting) {
      for (int l : listeners_) fds.push_back({.fd = l, .events = POLLIN, .revents = 0});
    }
    const size_t first_pending = fds.size();
    Clock::time_point wake_at = now + Millis(1000);
    if (!accepting && now < accept_paused_until_) wake_at = std::min(wake_at, accept_paused_until_);
    for (size_t i = 0; i < pending_.size(); ++i) {
      wake_at = std::min(wake_at, pending_[i].deadline);
      if (pending_[i].recheck > now) {
        wake_at = std::min(wake_at, pending_[i].recheck);
        continue;
      }
      fds.push_back({.fd = pending_[i].fd, .events = POLLIN, .revents = 0});
      which.push_back(i);
    }
    const auto wait = std::chrono::duration_cast<Millis>(wake_at - now).count();
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(wait, 0)));
    if (n < 0 && errno != EINTR) {
      raftlog::error("server", "the " + role_ + " port's poll failed; it accepts no more",
                     {{"error", errno_text(errno)}});
      return;
    }
    if (fds[0].revents != 0) return;  // stop()
    now = Clock::now();
    std::vector<bool> done(pending_.size(), false);
    for (size_t k = first_pending; n > 0 && k < fds.size(); ++k) {
      if (fds[k].revents != 0)
        done[which[k - first_pending]] = sort(pending_[which[k - first_pending]], now);
    }
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (done[i]) continue;
      // A piece of a preface earlier: look again now that its time came.
      if (pending_[i].recheck != Clock::time_point{} && pending_[i].recheck <= now) {
        done[i] = sort(pending_[i], now);
      }
      if (!done[i] && pending_[i].deadline <= now) {
        ::close(pending_[i].fd);  // said nothing we understand in time
        done[i] = true;
      }
    }
    size_t kept = 0;
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (!done[i]) pending_[kept++] = pending_[i];
    }
    pending_.resize(kept);
    if (accepting && n > 0) {
      for (size_t k = 1; k < first_pending; ++k) {
        if (fds[k].revents != 0) accept_ready(now);
      }
    }
  }
}

void PortMux::accept_ready(Clock::time_point now) {
  for (int l : listeners_) {
    while (pending_.size() < limits_.max_undecided) {
      sockaddr_storage a{};
      socklen_t len = sizeof a;
      const int fd =
          ::accept4(l, reinterpret_cast<sockaddr*>(&a), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        pending_.push_back(Pending{.fd = fd,
                                   .peer = grpc_peer_name(a),
                                   .deadline = now + limits_.first_bytes_timeout,
                                   .recheck = Clock::time_point{}});
        continue;
      }
      const int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
      // Out of descriptors or memory: wait a little rather than spin on a ready listener.
      accept_paused_until_ = now + kAcceptBackoff;
      uint64_t held_back = 0;
      if (accept_log().allow(errno_text(e), &held_back)) {
        raftlog::warn("server", "cannot accept a " + role_ + " connection",
                      {{"error", errno_text(e)}, {"suppressed-since-last", held_back}});
      }
      return;
    }
  }
}

bool PortMux::sort(Pending& p, Clock::time_point now) {
  char buf[std::max(kHttp2Preface.size(), kPeerLanePreface.size())];
  ssize_t n = 0;
  do {
    n = ::recv(p.fd, buf, sizeof buf, MSG_PEEK);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  if (n <= 0) {  // closed before saying anything, or reset
    ::close(p.fd);
    return true;
  }
  Protocol protocol = classify(std::string_view(buf, static_cast<size_t>(n)));
  if (protocol == Protocol::kPeerLane && lane_ == nullptr) protocol = Protocol::kHttp1;
  switch (protocol) {
    case Protocol::kPeerLane:
      lane_(p.fd);
      return true;
    case Protocol::kHttp2: {
      const int yes = 1;
      ::setsockopt(p.fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      {
        PeerTable& t = peers();
        std::lock_guard<std::mutex> lock(t.mu);
        t.by_fd[p.fd] = PeerTable::Connection{p.peer, role_ == "peer" ? "peer" : "client"};
      }
      grpc_(p.fd);
      return true;
    }
    case Protocol::kHttp1: {
      const int flags = ::fcntl(p.fd, F_GETFL);
      if (flags < 0 || ::fcntl(p.fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        ::close(p.fd);
        return true;
      }
      http1_(p.fd);
      return true;
    }
    case Protocol::kUndecided:
      break;
  }
  p.recheck = now + kRecheck;
  return false;
}

}  // namespace transport
