// wal_crash_writer DIR SEED: appends seeded entries to the WAL in DIR in random
// batches, printing "acked N" once entries up to N are durable. The crash test
// kills it with SIGKILL at a random point and checks what survives.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "storage/wal.h"

std::string content(uint64_t seed, uint64_t index) {
  std::string s = "seed " + std::to_string(seed) + " index " + std::to_string(index) + " ";
  s.append((index * 7 + seed) % 300, static_cast<char>('a' + index % 26));
  return s;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: wal_crash_writer DIR SEED\n");
    return 2;
  }
  const uint64_t seed = std::strtoull(argv[2], nullptr, 10);
  storage::Recovered r;
  auto w = storage::Wal::open(storage::posix_file_system(), argv[1],
                              storage::WalOptions{4096, true}, &r);
  if (!w.is_ok()) {
    std::fprintf(stderr, "%s\n", w.status().message().c_str());
    return 1;
  }
  std::mt19937_64 rng(seed);
  uint64_t next = r.entries.empty() ? 1 : r.entries.back().index.value() + 1;
  for (int batch = 0; batch < 100000; ++batch) {
    std::vector<raft::Entry> entries;
    const int n = 1 + static_cast<int>(rng() % 16);
    for (int k = 0; k < n; ++k, ++next) {
      entries.push_back(
          {raft::Term(1), raft::LogIndex(next), raft::EntryType::kNormal, content(seed, next)});
    }
    w.value()->append(entries,
                      raft::HardState{raft::Term(1), raft::NodeId(1), raft::LogIndex(next - 1)});
    if (storage::Status s = w.value()->sync(); !s.is_ok()) {
      std::fprintf(stderr, "%s\n", s.message().c_str());
      return 1;
    }
    std::printf("acked %llu\n", static_cast<unsigned long long>(next - 1));
    std::fflush(stdout);
  }
  return 0;
}
