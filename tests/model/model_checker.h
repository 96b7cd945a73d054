// An exhaustive checker over the real core: from a fresh cluster, it explores every
// interleaving of ticks, message deliveries, message losses, crashes (restart from
// what is durable), a follower hearing that its leader's connection closed, and client
// proposals up to a depth bound, recognises states it
// has seen (by each core's fingerprint and the multiset of messages in flight), and
// runs the simulator's safety checker on every path.
#pragma once

#include <cstdint>
#include <string>

namespace model {

struct ModelOptions {
  int voters = 3;
  bool learner = false;  // a fourth node, a learner from the start
  int max_depth = 10;    // actions along one path
  int max_messages = 6;  // a path that would put more in flight is cut there
  int proposals = 1;     // client proposals allowed along a path
  int crashes = 1;       // crashes allowed along a path
  int closes = 1;        // a follower told its leader's connection closed (Raft::peer_closed)
  uint32_t max_inflight_msgs = 256;  // raft::Config's; 1 holds a follower's appends back
  uint64_t max_states = 5'000'000;
};

struct ModelResult {
  bool passed = true;
  bool complete = true;   // false when max_states stopped the search
  std::string violation;  // the first safety violation, and the path to it
  uint64_t states = 0;    // distinct states explored
  uint64_t transitions = 0;
  int deepest = 0;
};

ModelResult explore(const ModelOptions& options);

}  // namespace model
