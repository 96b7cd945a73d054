// WAL append throughput against the disk's limit: batches of 1, 16 and 256 entries
// of 256 bytes, one fdatasync per batch, next to a plain write + fdatasync loop on the
// same file system. Run with: build/bin/wal_bench (see docs/benchmarks.md).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

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

}  // namespace

BENCHMARK_MAIN();
