// A replicated counter on the raft core, in one process: three nodes, a queue for
// a network and vectors for disks. It shows the whole embedding contract: tick,
// step, propose, and the Ready loop (persist, send, apply, advance).
#include <cstdio>
#include <deque>
#include <map>
#include <vector>

#include "raft/raft.h"

namespace {

struct Node {
  raft::Raft core;
  std::vector<raft::Entry> disk;  // what a WAL would hold
  raft::HardState hard_state;
  long counter = 0;  // the state machine
};

}  // namespace

int main() {
  raft::Membership cluster;
  for (uint64_t id = 1; id <= 3; ++id) cluster.voters.insert(raft::NodeId(id));

  std::map<raft::NodeId, Node> nodes;
  for (raft::NodeId id : cluster.voters) {
    raft::Config config;
    config.id = id;
    config.seed = id.value();  // the only randomness: election timeouts
    nodes.emplace(id, Node{raft::Raft(config, cluster), {}, {}, 0});
  }
  std::deque<raft::Message> network;

  // The runtime's job, for one node: persist, then send, then apply, then advance.
  auto drive = [&](Node& n) {
    while (n.core.has_ready()) {
      raft::Ready rd = n.core.ready();
      for (auto& m : rd.messages) network.push_back(std::move(m));  // may go before the disk
      if (!rd.entries.empty()) {  // entries[0] may replace a suffix
        n.disk.resize(rd.entries.front().index.value() - 1);
        n.disk.insert(n.disk.end(), rd.entries.begin(), rd.entries.end());
      }
      if (rd.hard_state) n.hard_state = *rd.hard_state;  // (a real runtime fsyncs here)
      for (auto& m : rd.persisted_messages) network.push_back(std::move(m));
      for (const raft::Entry& e : rd.committed_entries) {
        if (e.type == raft::EntryType::kNormal) n.counter += std::stol(e.data);
      }
      n.core.advance();
    }
  };
  auto deliver_all = [&] {
    while (!network.empty()) {
      raft::Message m = std::move(network.front());
      network.pop_front();
      Node& to = nodes.at(m.to);
      to.core.step(std::move(m));
      drive(to);
    }
  };

  // Time passes until someone is elected.
  raft::NodeId leader;
  for (int tick = 0; tick < 100 && leader == raft::kNoNode; ++tick) {
    for (auto& [id, n] : nodes) {
      n.core.tick();
      drive(n);
    }
    deliver_all();
    for (auto& [id, n] : nodes) {
      if (n.core.role() == raft::Role::kLeader) leader = id;
    }
  }
  std::printf("node %llu is the leader\n", static_cast<unsigned long long>(leader.value()));

  // Increments go through the leader; a follower refuses and names the leader.
  raft::NodeId follower = leader == raft::NodeId(1) ? raft::NodeId(2) : raft::NodeId(1);
  raft::ProposeResult refused = nodes.at(follower).core.propose("1");
  std::printf("a follower says: %s\n", refused.error.message().c_str());
  for (int i = 1; i <= 10; ++i) {
    nodes.at(leader).core.propose(std::to_string(i));
    drive(nodes.at(leader));
    deliver_all();
  }
  for (auto& [id, n] : nodes) {  // one more heartbeat carries the last commit index
    n.core.tick();
    drive(n);
  }
  deliver_all();

  bool agree = true;
  for (auto& [id, n] : nodes) {
    std::printf("node %llu: counter = %ld, log of %zu entries\n",
                static_cast<unsigned long long>(id.value()), n.counter, n.disk.size());
    agree = agree && n.counter == 55;
  }
  return agree ? 0 : 1;
}
