#include "model/model_checker.h"

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <vector>

#include "raft/raft.h"
#include "sim/safety_checker.h"

namespace model {
namespace {

using raft::Entry;
using raft::LogIndex;
using raft::Message;
using raft::NodeId;

uint64_t mix(uint64_t h, uint64_t v) {
  h = (h ^ v) * 0x100000001b3ull;
  return h ^ (h >> 31);
}

uint64_t digest(const Message& m) {
  uint64_t h =
      mix(mix(mix(mix(0x9e37, m.from.value()), m.to.value()), m.term.value()), m.body.index());
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, raft::RequestVote>) {
          h = mix(mix(mix(mix(h, b.pre_vote), b.last_log.term.value()), b.last_log.index.value()),
                  b.transfer);
        } else if constexpr (std::is_same_v<T, raft::VoteResponse>) {
          h = mix(mix(h, b.pre_vote), b.granted);
        } else if constexpr (std::is_same_v<T, raft::AppendEntries>) {
          h = mix(mix(mix(h, b.prev.term.value()), b.prev.index.value()), b.commit.value());
          for (const Entry& e : b.entries) h = mix(mix(h, e.term.value()), sim::entry_digest(e));
        } else if constexpr (std::is_same_v<T, raft::AppendResponse>) {
          h = mix(mix(mix(mix(mix(h, b.success), b.match.value()), b.rejected.value()),
                      b.hint.term.value()),
                  b.hint.index.value());
        } else if constexpr (std::is_same_v<T, raft::Heartbeat>) {
          h = mix(mix(h, b.commit.value()), b.round.value());
        } else if constexpr (std::is_same_v<T, raft::HeartbeatResponse>) {
          h = mix(h, b.round.value());
        }
      },
      m.body);
  return h;
}

struct Durable {
  raft::HardState hard_state;
  std::vector<Entry> log;  // log[k].index == k + 1 (no compaction in the model)
};

struct World {
  std::vector<raft::Raft> nodes;
  std::vector<Durable> disks;
  std::vector<Message> net;
  int proposals_left = 0;
  int crashes_left = 0;
  int closes_left = 0;
  sim::SafetyChecker checker;
};

class Explorer {
 public:
  explicit Explorer(const ModelOptions& o) : options_(o) {
    for (int i = 1; i <= o.voters; ++i) membership_.voters.insert(NodeId(i));
    if (o.learner) membership_.learners.insert(NodeId(o.voters + 1));
  }

  ModelResult run() {
    World w;
    const int size = options_.voters + (options_.learner ? 1 : 0);
    for (int i = 1; i <= size; ++i) {
      w.nodes.emplace_back(config(i), membership_);
      w.disks.emplace_back();
    }
    w.proposals_left = options_.proposals;
    w.crashes_left = options_.crashes;
    w.closes_left = options_.closes;
    std::vector<std::string> path;
    dfs(w, 0, path);
    result_.states = visited_.size();
    return result_;
  }

 private:
  raft::Config config(int id) const {
    raft::Config c;
    c.id = NodeId(id);
    c.timeouts = {1, 2, 4};  // small, so that elections happen within the bound
    c.seed = static_cast<uint64_t>(id);
    c.max_inflight_msgs = options_.max_inflight_msgs;
    return c;
  }

  uint64_t state_digest(const World& w) const {
    uint64_t h = mix(mix(mix(0x51ed, w.proposals_left), w.crashes_left), w.closes_left);
    for (const raft::Raft& r : w.nodes) h = mix(h, r.fingerprint());
    std::vector<uint64_t> msgs;
    msgs.reserve(w.net.size());
    for (const Message& m : w.net) msgs.push_back(digest(m));
    std::sort(msgs.begin(), msgs.end());  // the network is a multiset
    for (uint64_t m : msgs) h = mix(h, m);
    return h;
  }

  // Runs the node's Ready cycle as a runtime would, persisting before releasing
  // what promises durability. Returns a violation, or empty.
  std::string settle(World& w, int n) {
    raft::Raft& r = w.nodes[n];
    while (r.has_ready()) {
      raft::Ready rd = r.ready();
      for (const Message& m : rd.messages) {
        // Paper Figure 2: nothing that promises durable state leaves before it.
        const auto* vr = std::get_if<raft::VoteResponse>(&m.body);
        const auto* ar = std::get_if<raft::AppendResponse>(&m.body);
        if ((vr && vr->granted && !vr->pre_vote) || (ar && ar->success)) {
          return "Durability: node " + std::to_string(n + 1) + " released a " +
                 std::string(raft::kind_name(m)) + " before persisting what it promises";
        }
        w.net.push_back(m);
      }
      Durable& d = w.disks[n];
      if (!rd.entries.empty()) {
        d.log.resize(rd.entries.front().index.value() - 1);
        d.log.insert(d.log.end(), rd.entries.begin(), rd.entries.end());
      }
      if (rd.hard_state) {
        if (auto v = w.checker.on_durable_hard_state(r.id(), d.hard_state, *rd.hard_state)) {
          return *v;
        }
        d.hard_state = *rd.hard_state;
      }
      for (Message& m : rd.persisted_messages) w.net.push_back(std::move(m));
      for (const Entry& e : rd.committed_entries) {
        if (auto v = w.checker.on_apply(r.id(), e)) return *v;
      }
      r.advance();
    }
    if (auto v = w.checker.observe(sim::view_of(r))) return *v;
    return {};
  }

  void dfs(const World& w, int depth, std::vector<std::string>& path) {
    if (!result_.passed || stopped_) return;
    const uint64_t h = state_digest(w);
    const int remaining = options_.max_depth - depth;
    auto [it, inserted] = visited_.emplace(h, remaining);
    if (!inserted) {
      if (it->second >= remaining) return;  // explored already with at least this budget
      it->second = remaining;
    }
    if (visited_.size() >= options_.max_states) {
      result_.complete = false;
      stopped_ = true;
      return;
    }
    result_.deepest = std::max(result_.deepest, depth);
    if (remaining == 0 || static_cast<int>(w.net.size()) > options_.max_messages) return;

    const int size = static_cast<int>(w.nodes.size());
    auto step = [&](std::string what, const std::function<std::string(World&)>& act) {
      World next = w;
      ++result_.transitions;
      std::string violation = act(next);
      path.push_back(std::move(what));
      if (!violation.empty()) {
        result_.passed = false;
        result_.violation = violation + "\n  path:";
        for (const std::string& p : path) result_.violation += " " + p + ";";
      } else {
        dfs(next, depth + 1, path);
      }
      path.pop_back();
    };

    for (int n = 0; n < size && result_.passed; ++n) {
      step("tick " + std::to_string(n + 1), [n, this](World& x) {
        x.nodes[n].tick();
        return settle(x, n);
      });
    }
    // Deliver or lose each distinct message in flight, in any order.
    std::vector<uint64_t> seen;
    for (size_t i = 0; i < w.net.size() && result_.passed; ++i) {
      const uint64_t d = digest(w.net[i]);
      if (std::find(seen.begin(), seen.end(), d) != seen.end()) continue;
      seen.push_back(d);
      const std::string name = std::string(raft::kind_name(w.net[i])) + " " +
                               std::to_string(w.net[i].from.value()) + "->" +
                               std::to_string(w.net[i].to.value());
      step("deliver " + name, [i, this](World& x) {
        Message m = std::move(x.net[i]);
        x.net.erase(x.net.begin() + static_cast<long>(i));
        const int to = static_cast<int>(m.to.value()) - 1;
        x.nodes[to].step(std::move(m));
        return settle(x, to);
      });
      step("lose " + name, [i](World& x) {
        x.net.erase(x.net.begin() + static_cast<long>(i));
        return std::string();
      });
    }
    for (int n = 0; n < size && result_.passed; ++n) {
      if (w.proposals_left > 0 && w.nodes[n].role() == raft::Role::kLeader) {
        step("propose at " + std::to_string(n + 1), [n, this](World& x) {
          --x.proposals_left;
          x.nodes[n].propose("v" + std::to_string(x.proposals_left));
          return settle(x, n);
        });
      }
      // Only a follower's own leader closing changes anything (and only without lease
      // reads, which this model does not turn on).
      const NodeId leader = w.nodes[n].leader();
      if (w.closes_left > 0 && w.nodes[n].role() == raft::Role::kFollower &&
          leader != raft::kNoNode && leader != NodeId(n + 1)) {
        step("node " + std::to_string(n + 1) + " hears leader " + std::to_string(leader.value()) +
                 " closed",
             [n, leader, this](World& x) {
               --x.closes_left;
               x.nodes[n].peer_closed(leader);
               return settle(x, n);
             });
      }
      if (w.crashes_left > 0) {
        step("crash " + std::to_string(n + 1), [n, this](World& x) {
          --x.crashes_left;
          const Durable& d = x.disks[n];
          x.nodes[n] =
              raft::Raft(config(n + 1), membership_, raft::Restored{d.hard_state, {}, d.log});
          x.checker.on_restart(NodeId(n + 1));
          return settle(x, n);
        });
      }
    }
  }

  ModelOptions options_;
  raft::Membership membership_;
  std::unordered_map<uint64_t, int> visited_;  // state digest -> remaining depth explored
  ModelResult result_;
  bool stopped_ = false;
};

}  // namespace

ModelResult explore(const ModelOptions& options) { return Explorer(options).run(); }

}  // namespace model
