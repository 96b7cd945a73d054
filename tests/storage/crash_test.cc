// Kills a WAL writer with SIGKILL at seeded random points, many times, and checks
// that every acknowledged entry survives intact and that nothing was invented.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "storage/wal.h"

std::string content(uint64_t seed, uint64_t index) {  // as the writer writes it
  std::string s = "seed " + std::to_string(seed) + " index " + std::to_string(index) + " ";
  s.append((index * 7 + seed) % 300, static_cast<char>('a' + index % 26));
  return s;
}

namespace {

// Runs the writer until it has acknowledged at least `acks` batches (or 10 s
// passed), kills it with SIGKILL, and returns the highest index it acknowledged.
uint64_t run_and_kill(const std::string& dir, uint64_t seed, int acks) {
  int out[2];
  EXPECT_EQ(::pipe(out), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execl(WAL_CRASH_WRITER, WAL_CRASH_WRITER, dir.c_str(), std::to_string(seed).c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  uint64_t acked = 0;
  int seen = 0;
  std::string pending;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen < acks && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t eol;
    while ((eol = pending.find('\n')) != std::string::npos) {
      acked = std::stoull(pending.substr(6, eol - 6));  // "acked N"
      pending.erase(0, eol + 1);
      ++seen;
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // Acknowledgements the writer printed before it died also count.
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) pending.append(buf, static_cast<size_t>(n));
  size_t eol;
  while ((eol = pending.find('\n')) != std::string::npos) {
    acked = std::stoull(pending.substr(6, eol - 6));
    pending.erase(0, eol + 1);
  }
  ::close(out[0]);
  return acked;
}

TEST(WalCrash, EveryAcknowledgedEntrySurvivesSigkillAndNothingIsInvented) {
  const char* env = std::getenv("RAFTKV_CRASH_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 25;
  std::mt19937_64 rng(20261122);
  int torn = 0, kills = 0;
  uint64_t entries_checked = 0;
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("raftkv-crash-" + std::to_string(::getpid())))
          .string();
  for (int it = 0; it < iterations; ++it) {
    std::filesystem::remove_all(dir);
    const uint64_t seed = rng() % 1000;
    uint64_t acked = 0;
    // Several lives: the writer restarts on what it left, and is killed again.
    for (int life = 0; life < 3; ++life) {
      acked = std::max(acked, run_and_kill(dir, seed, 1 + static_cast<int>(rng() % 40)));
      storage::Recovered r;
      auto w = storage::Wal::open(storage::posix_file_system(), dir,
                                  storage::WalOptions{4096, true}, &r);
      ASSERT_TRUE(w.is_ok()) << "iteration " << it << ": " << w.status().message();
      ++kills;
      torn += static_cast<int>(r.notes.size());
      entries_checked += r.entries.size();
      ASSERT_GE(r.entries.size(), acked) << "iteration " << it << ": acknowledged entries lost";
      for (const raft::Entry& e : r.entries) {
        ASSERT_EQ(e.data, content(seed, e.index.value()))
            << "iteration " << it << ": entry " << e.index << " is not what was written";
      }
    }
  }
  std::filesystem::remove_all(dir);
  std::printf("%d kills, %d torn tails cut, %llu recovered entries checked\n", kills, torn,
              static_cast<unsigned long long>(entries_checked));
  EXPECT_EQ(kills, iterations * 3);
}

}  // namespace
