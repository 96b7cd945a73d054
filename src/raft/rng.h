// The core's only source of randomness: a small seeded generator (SplitMix64), so
// that the same seed gives the same election timeouts and the same simulation.
#pragma once

#include <cstdint>

namespace raft {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi); lo when hi <= lo.
  uint64_t uniform(uint64_t lo, uint64_t hi) { return hi <= lo ? lo : lo + next() % (hi - lo); }
  uint64_t state() const { return state_; }

 private:
  uint64_t state_;
};

}  // namespace raft
