// A replicated lock service on the raftkv runtime: each member process embeds a
// node::RaftNode with a LockTable (lock_table.h) and talks to its peers over a
// transport::GrpcTransport; clients speak plain HTTP to any member. Run as
//   lock_service serve --id 1 --data DIR --http 127.0.0.1:8001
//                      --peers 1=127.0.0.1:9001,2=127.0.0.1:9002,3=127.0.0.1:9003
//                      [--voters 1,2,3]        (the first cluster; a joining member omits it)
//   lock_service client --members 127.0.0.1:8001,127.0.0.1:8002 <request>
// where <request> is one of
//   acquire <name> <owner> <ttl_ms> | renew <name> <owner> <token> | release <name> <owner> <token>
//   show <name> | status | add-learner <id> | promote <id> | remove <id>
//
// The peer directory (--peers) is static to keep the example short: every member knows
// every address that may ever join. A real service replicates addresses through its log,
// as the KV server does with its member list.
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "lock_service/lock_table.h"
#include "node/node_error.h"
#include "node/raft_node.h"
#include "transport/grpc_transport.h"

namespace lock_service {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kRequestTimeout{3000};

// "--key value" pairs after the mode; the words after them are the request.
struct Args {
  std::map<std::string, std::string> flags;
  std::vector<std::string> words;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("--") && i + 1 < argc) {
      a.flags[arg.substr(2)] = argv[++i];
    } else {
      a.words.push_back(arg);
    }
  }
  return a;
}

// "a,b,c" -> {a, b, c}
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  for (size_t start = 0; start <= text.size();) {
    const size_t end = std::min(text.find(',', start), text.size());
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// host:port -> {host, port}
std::pair<std::string, int> host_port(const std::string& address) {
  const size_t colon = address.rfind(':');
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

// Leases end on the leader alone. Each leader times every lock from the moment it first
// sees the lock's current renewal (its stamp), on its own steady clock, and when the TTL
// has passed it proposes `expire <name> <token> <stamp>` with leader_write: the command
// enters the log only in the term this node leads, so a deposed leader waking from a
// pause cannot expire a lease its successor has seen renewed. Replicas never read a
// clock; they apply the expire like any command (and ignore it if a renew came first).
class LeaseKeeper {
 public:
  // On the lease thread, every few milliseconds.
  void tick(node::RaftNode& node, const LockTable& table) {
    const raft::Term term = node.term();
    // The table is complete for this term only once the applier reached the leadership
    // (LockTable::leading_term); until then, and on followers, nothing is timed. A new
    // leader restarts every clock: it gives every lease a full TTL.
    if (!node.is_leader() || table.leading_term() != term) {
      seen_.clear();
      return;
    }
    if (term != seen_term_) {
      seen_.clear();
      seen_term_ = term;
    }
    const Clock::time_point now = Clock::now();
    std::map<std::string, Seen> next;
    for (const auto& [name, lock] : table.locks()) {
      auto it = seen_.find(name);
      Seen s = it != seen_.end() && it->second.token == lock.token && it->second.stamp == lock.stamp
                   ? it->second
                   : Seen{.token = lock.token, .stamp = lock.stamp, .since = now};
      if (now - s.since >= milliseconds(lock.ttl_ms)) {
        const std::string expire =
            "expire " + name + " " + std::to_string(s.token) + " " + std::to_string(s.stamp);
        (void)node.leader_write(expire, term, kRequestTimeout);  // the next tick sees the result
      }
      next[name] = s;
    }
    seen_ = std::move(next);
  }

 private:
  struct Seen {
    uint64_t token;
    uint64_t stamp;
    Clock::time_point since;  // when this leader first saw this renewal
  };
  std::map<std::string, Seen> seen_;
  raft::Term seen_term_;
};

// One line describing this member: what the test and people read to find the leader.
std::string status_line(node::RaftNode& node) {
  const node::NodeState s = node.status();
  auto ids = [](const std::set<raft::NodeId>& set) {
    std::string out;
    for (raft::NodeId id : set) out += (out.empty() ? "" : ",") + std::to_string(id.value());
    return out;
  };
  return "id=" + std::to_string(node.id().value()) +
         " leader=" + std::to_string(node.leader().value()) +
         " term=" + std::to_string(node.term().value()) + " voters=" + ids(s.membership.voters) +
         " learners=" + ids(s.membership.learners) +
         " applied=" + std::to_string(s.applied.value()) +
         " snapshot=" + std::to_string(s.snapshot_index.value());
}

// An error as the client sees it: 503 when retrying on another member cannot apply the
// request twice (it is in no log), 500 otherwise.
void answer_error(httplib::Response& res, const absl::Status& s) {
  res.status =
      node::retryable(s) || node::is_node_error(s, node::NodeErrorKind::kNoLeader) ? 503 : 500;
  res.set_content("error: " + std::string(s.message()) + "\n", "text/plain");
}

int serve(const Args& args) {
  // SIGINT and SIGTERM are taken by sigwait below, so block them before any thread starts
  // (threads inherit the mask).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  node::NodeConfig config;
  config.id = raft::NodeId(std::stoull(args.flags.at("id")));
  config.name = "lock-" + args.flags.at("id");
  config.data_dir = args.flags.at("data");
  config.tick_ms = 10;
  config.timeouts =
      node::TimeoutsMs{.heartbeat_ms = 50, .election_min_ms = 400, .election_max_ms = 800};
  // Small, so that the example takes snapshots and sends them: the log keeps nothing
  // behind a snapshot, so a member that joins late is sent the lock table's snapshot.
  config.snapshot_entries = 20;
  config.snapshot_catch_up_entries = 0;
  if (args.flags.contains("voters")) {
    for (const std::string& v : split_list(args.flags.at("voters"))) {
      config.bootstrap.voters.insert(raft::NodeId(std::stoull(v)));
    }
  }
  std::map<raft::NodeId, std::string> peers;
  for (const std::string& p : split_list(args.flags.at("peers"))) {
    peers[raft::NodeId(std::stoull(p.substr(0, p.find('='))))] = p.substr(p.find('=') + 1);
  }

  transport::GrpcTransport transport(
      transport::GrpcTransportOptions{.self = config.id, .listen_address = peers.at(config.id)});
  for (const auto& [id, address] : peers) {
    if (id != config.id) transport.set_peer(id, address);
  }
  LockTable table;
  // open() restores the latest snapshot into `table`; the log after it is applied on the
  // apply thread once the node starts.
  absl::StatusOr<std::unique_ptr<node::RaftNode>> opened =
      node::RaftNode::open(config, &table, &transport);
  if (!opened.ok()) {
    std::fprintf(stderr, "cannot open node: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  node::RaftNode& node = **opened;
  // A removed member has nothing left to serve: it stops as if told to.
  node.set_removed_handler([](const std::string& why) {
    std::fprintf(stderr, "removed from the cluster: %s\n", why.c_str());
    kill(getpid(), SIGTERM);
  });
  if (absl::StatusOr<int> port = transport.start(&node); !port.ok()) {
    std::fprintf(stderr, "%s\n", port.status().ToString().c_str());
    return 1;
  }
  node.start();

  // The client interface. Every request may reach any member: client_write forwards to
  // the leader, linearizable_read asks it whether this member is up to date.
  httplib::Server http;
  http.Post("/command", [&](const httplib::Request& req, httplib::Response& res) {
    const std::vector<std::string_view> w = split_words(req.body);
    if (w.empty() || (w[0] != "acquire" && w[0] != "renew" && w[0] != "release")) {
      res.status = 400;  // `expire` is the leader's alone
      return res.set_content("error: expected acquire, renew or release\n", "text/plain");
    }
    absl::StatusOr<std::string> answer = node.client_write(req.body, kRequestTimeout);
    if (!answer.ok()) return answer_error(res, answer.status());
    res.set_content(*answer + "\n", "text/plain");
  });
  http.Get("/show", [&](const httplib::Request& req, httplib::Response& res) {
    if (absl::Status s = node.linearizable_read(kRequestTimeout); !s.ok()) {
      return answer_error(res, s);
    }
    const std::optional<Lock> l = table.find(req.get_param_value("name"));
    res.set_content(l ? "held " + l->owner + " " + std::to_string(l->token) + "\n" : "free\n",
                    "text/plain");
  });
  http.Get("/status", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(status_line(node) + "\n", "text/plain");
  });
  // Membership through the library: each call is forwarded to the leader and returns once
  // the change is applied there. A new member joins as a learner (it receives the log or a
  // snapshot without voting), and is promoted once it has caught up.
  http.Post("/admin", [&](const httplib::Request& req, httplib::Response& res) {
    const std::vector<std::string_view> w = split_words(req.body);
    const raft::NodeId id(w.size() == 2 ? parse_number(w[1]).value_or(0) : 0);  // 0: none
    absl::Status s = absl::InvalidArgumentError("expected add-learner|promote|remove <id>");
    if (id != raft::kNoNode && w[0] == "add-learner") s = node.add_node(id, true, kRequestTimeout);
    if (id != raft::kNoNode && w[0] == "promote") s = node.promote_node(id, kRequestTimeout);
    if (id != raft::kNoNode && w[0] == "remove") s = node.remove_node(id, kRequestTimeout);
    if (!s.ok()) return answer_error(res, s);
    res.set_content("ok\n", "text/plain");
  });
  const auto [host, port] = host_port(args.flags.at("http"));
  if (!http.bind_to_port(host, port)) {
    std::fprintf(stderr, "cannot listen for clients on %s\n", args.flags.at("http").c_str());
    return 1;
  }
  std::thread http_thread([&] { http.listen_after_bind(); });

  // The lease thread: the leader's clock for leases, checked every 20 ms.
  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::thread lease_thread([&] {
    LeaseKeeper keeper;
    std::unique_lock<std::mutex> lock(mu);
    while (!wake.wait_for(lock, milliseconds(20), [&] { return stopping; })) {
      lock.unlock();
      keeper.tick(node, table);
      lock.lock();
    }
  });
  std::printf("member %s serving clients on %s\n", args.flags.at("id").c_str(),
              args.flags.at("http").c_str());
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  // Clients first, then the lease thread, then the node (waiting requests fail with
  // kStopped), then the peers.
  http.stop();
  http_thread.join();
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  wake.notify_all();
  lease_thread.join();
  node.stop();
  transport.stop();
  return 0;
}

// Sends the request to the members in turn until one answers it: any member serves any
// request (it forwards to the leader), so the client only moves on when a member is down
// or answers 503 (no leader yet, or the leader unreachable: the request is in no log).
int client(const Args& args) {
  const std::vector<std::string> members = split_list(args.flags.at("members"));
  const std::vector<std::string>& w = args.words;
  if (w.empty()) return std::fprintf(stderr, "no request given\n"), 2;
  std::string body;
  for (const std::string& word : w) body += (body.empty() ? "" : " ") + word;
  for (int round = 0; round < 20; ++round) {
    for (const std::string& member : members) {
      const auto [host, port] = host_port(member);
      httplib::Client c(host, port);
      c.set_connection_timeout(0, 300'000);  // 300 ms: a dead member refuses at once anyway
      c.set_read_timeout(std::chrono::seconds(10));
      httplib::Result r =
          w[0] == "show" ? c.Get("/show", {{"name", w.size() > 1 ? w[1] : ""}}, httplib::Headers{})
          : w[0] == "status" ? c.Get("/status")
          : w[0] == "add-learner" || w[0] == "promote" || w[0] == "remove"
              ? c.Post("/admin", body, "text/plain")
              : c.Post("/command", body, "text/plain");
      if (!r || r->status == 503) continue;
      std::printf("%s", r->body.c_str());
      return r->status == 200 ? 0 : 1;
    }
    std::this_thread::sleep_for(milliseconds(250));  // every member down or leaderless
  }
  std::fprintf(stderr, "no member answered %s\n", body.c_str());
  return 3;
}

}  // namespace
}  // namespace lock_service

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const lock_service::Args args = lock_service::parse_args(argc, argv);
  try {
    if (mode == "serve") return lock_service::serve(args);
    if (mode == "client") return lock_service::client(args);
  } catch (const std::exception& e) {  // a missing flag (map::at) or a bad number (stoull)
    std::fprintf(stderr, "bad arguments: %s\n", e.what());
    return 2;
  }
  std::fprintf(stderr, "usage: lock_service serve|client --flag value ... [request]\n");
  return 2;
}
