// WAL append throughput against the disk's limit: batches of 1, 16 and 256 entries
// of 256 bytes, one fdatasync per batch, next to a plain write + fdatasync loop on the
// same file system. Also the CPU side, on a file system in memory: encoding appends,
// and replaying a log on open. Run with: build/bin/wal_bench (see docs/benchmarks.md).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "storage/mem_file_system.h"
#include "storage/wal.h"

namespace {

std::string temp_dir() {
  std::string tmpl = "./raftkv-bench-XXXXXX";  // the working directory's disk, not tmpfs
  return ::mkdtemp(tmpl.data());
}

void BM_WalAppendSync(benchmark::State& state) {
  const std::string dir = temp_dir();
  storage::Recovered r;
  auto wal = storage::Wal::open(storage::posix_file_system(), dir, storage::WalOptions{}, &r);
  const int batch = static_cast<int>(state.range(0));
  uint64_t next = 1;
  for (auto _ : state) {
    std::vector<raft::Entry> entries;
    for (int k = 0; k < batch; ++k, ++next) {
      entries.push_back(
          {raft::Term(1), raft::LogIndex(next), raft::EntryType::kNormal, std::string(256, 'v')});
    }
    wal.value()->append(entries, {});
    if (!wal.value()->sync().is_ok()) state.SkipWithError("sync failed");
  }
  state.SetItemsProcessed(state.iterations() * batch);
  wal.value().reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_WalAppendSync)->Arg(1)->Arg(16)->Arg(256)->UseRealTime();

// The physical limit: append 256 * batch bytes with write(2), then fdatasync.
void BM_PlainWriteFdatasync(benchmark::State& state) {
  const std::string dir = temp_dir();
  const int fd = ::open((dir + "/plain").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const std::string block(static_cast<size_t>(256 + 13) * state.range(0), 'v');
  for (auto _ : state) {
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("write failed");
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  ::close(fd);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_PlainWriteFdatasync)->Arg(1)->Arg(16)->Arg(256)->UseRealTime();

std::vector<raft::Entry> batch_of(int n, uint64_t* next) {
  std::vector<raft::Entry> entries;
  for (int k = 0; k < n; ++k, ++*next) {
    entries.push_back(
        {raft::Term(1), raft::LogIndex(*next), raft::EntryType::kNormal, std::string(256, 'v')});
  }
  return entries;
}

// The CPU cost of encoding and buffering records (no disk): batches of 16 entries
// appended and flushed to a file system in memory, one segment of 1 GiB.
void BM_WalAppendInMemory(benchmark::State& state) {
  storage::MemFileSystem fs;
  storage::Recovered r;
  auto wal = storage::Wal::open(fs, "/wal", storage::WalOptions{1ull << 30, false}, &r);
  uint64_t next = 1;
  for (auto _ : state) {
    wal.value()->append(batch_of(16, &next),
                        raft::HardState{raft::Term(1), raft::NodeId(1), raft::LogIndex(next - 1)});
    if (!wal.value()->flush().is_ok()) state.SkipWithError("flush failed");
    if (next > 100'000) {  // keep memory bounded: start over in a fresh log
      state.PauseTiming();
      wal.value().reset();
      fs = storage::MemFileSystem();
      wal = storage::Wal::open(fs, "/wal", storage::WalOptions{1ull << 30, false}, &r);
      next = 1;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(BM_WalAppendInMemory);

// Replay on open: a log of `range(0)` entries of 256 bytes (a hard state every 16),
// in 4 MiB segments on a file system in memory, read and folded into its state.
void BM_WalReplay(benchmark::State& state) {
  storage::MemFileSystem fs;
  const storage::WalOptions options{4ull << 20, false};
  {
    storage::Recovered r;
    auto wal = storage::Wal::open(fs, "/wal", options, &r);
    for (uint64_t next = 1; next <= static_cast<uint64_t>(state.range(0));) {
      wal.value()->append(batch_of(16, &next), raft::HardState{raft::Term(1), raft::NodeId(1),
                                                               raft::LogIndex(next - 1)});
      if (!wal.value()->sync().is_ok()) state.SkipWithError("sync failed");
    }
  }
  for (auto _ : state) {
    storage::Recovered r;
    auto wal = storage::Wal::open(fs, "/wal", options, &r);
    if (!wal.is_ok() || r.entries.size() < static_cast<size_t>(state.range(0))) {
      state.SkipWithError("replay failed");
    }
    benchmark::DoNotOptimize(r.entries.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_WalReplay)->Arg(100'000);

}  // namespace

BENCHMARK_MAIN();
