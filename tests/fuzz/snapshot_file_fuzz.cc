// Fuzz target: snapshot files (storage::SnapshotStore::load_latest) over the fuzzer's bytes
// stored as the newest snapshot file in a MemFileSystem. With the first byte odd the last
// 8 bytes are replaced by the right checksum, so the fuzzer gets past it to the header,
// the membership and the timeouts. Properties:
// - load never crashes;
// - a refusal is kCorruption and starts "snapshot <the file's path>: ";
// - a loaded snapshot has what the core needs: at least one voter, learners apart from the
//   voters, timeouts that validate (raft::validate);
// - saving what was loaded and loading it again gives the same snapshot;
// - the reader that sends a snapshot in pieces (SnapshotStore::open) never crashes, and
//   on a file that loads it gives the same metadata and bytes (it checks no checksum,
//   so it is compared only there);
// - open_latest (the reader, its checksum verified in pieces: what a node restores from)
//   accepts exactly the files load_latest accepts, with the same metadata and size.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz/checksummed_input.h"
#include "fuzz/fuzz_util.h"
#include "raft/config.h"
#include "storage/mem_file_system.h"
#include "storage/snapshot_file.h"

namespace {

const std::string kDir = "/snap";
const std::string kFile = kDir + "/0000000000000005.snap";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes = fuzz::checksummed_input(data, size);
  storage::MemFileSystem fs;
  FUZZ_CHECK(fs.create_dir(kDir).is_ok(), "create_dir");
  {
    auto f = fs.open_for_append(kFile, 0, 0);
    FUZZ_CHECK(f.is_ok(), f.status().message());
    FUZZ_CHECK(f.value()->append(bytes).is_ok(), "append");
  }
  // An older snapshot beside it must not be used in its place.
  {
    auto f = fs.open_for_append(kDir + "/0000000000000001.snap", 0, 0);
    FUZZ_CHECK(f.is_ok(), f.status().message());
  }
  storage::SnapshotStore store(fs, kDir);
  storage::StatusOr<std::unique_ptr<storage::SnapshotReader>> reader = store.open(5);
  if (!reader.is_ok()) {
    const std::string& m = reader.status().message();
    FUZZ_CHECK(m.starts_with("snapshot " + kFile + ": "), m);
  }
  storage::StatusOr<storage::StoredSnapshot> loaded = store.load_latest();
  // What a node opens with (recovery.cc): the same file, verified a piece at a time; it
  // accepts exactly what load_latest() accepts, with the same metadata.
  storage::StatusOr<std::unique_ptr<storage::SnapshotReader>> latest = store.open_latest();
  FUZZ_CHECK(latest.is_ok() == loaded.is_ok(),
             "open_latest and load_latest disagree: " +
                 (latest.is_ok() ? loaded.status().message() : latest.status().message()));
  if (!latest.is_ok()) {
    FUZZ_CHECK(latest.status().code() == storage::Code::kCorruption, latest.status().message());
    FUZZ_CHECK(latest.status().message().starts_with("snapshot " + kFile + ": "),
               latest.status().message());
  } else {
    FUZZ_CHECK(latest.value()->meta() == loaded.value().meta, "open_latest reads other metadata");
    FUZZ_CHECK(latest.value()->size() == loaded.value().data.size(), "open_latest: another size");
  }
  if (!loaded.is_ok()) {
    const std::string& m = loaded.status().message();
    FUZZ_CHECK(loaded.status().code() == storage::Code::kCorruption, m);
    FUZZ_CHECK(m.starts_with("snapshot " + kFile + ": ") && m.size() > kFile.size() + 11, m);
    return 0;
  }
  const storage::StoredSnapshot& s = loaded.value();
  const raft::Membership& ms = s.meta.membership;
  FUZZ_CHECK(!ms.voters.empty(), "a snapshot without voters loads");
  for (raft::NodeId id : ms.learners) {
    FUZZ_CHECK(!ms.is_voter(id), "learner " + std::to_string(id.value()) + " is also a voter");
  }
  FUZZ_CHECK(raft::validate(s.meta.timeouts).is_ok(), raft::validate(s.meta.timeouts).message());
  FUZZ_CHECK(reader.is_ok(), "loads whole but does not open: " + reader.status().message());
  FUZZ_CHECK(reader.value()->meta() == s.meta, "the reader reads other metadata");
  std::string piece, pieces;
  for (uint64_t at = 0; at < reader.value()->size(); at += 7) {
    const uint64_t n = std::min<uint64_t>(7, reader.value()->size() - at);
    FUZZ_CHECK(reader.value()->read(at, n, &piece).is_ok(), "a piece does not read");
    pieces += piece;
  }
  FUZZ_CHECK(pieces == s.data, "the reader's pieces differ from the loaded bytes");

  storage::MemFileSystem fs2;
  storage::SnapshotStore store2(fs2, kDir);
  FUZZ_CHECK(store2.save(s).is_ok(), "save");
  storage::StatusOr<storage::StoredSnapshot> again = store2.load_latest();
  FUZZ_CHECK(again.is_ok(), again.status().message());
  FUZZ_CHECK(again.value().meta == s.meta && again.value().data == s.data,
             "saved and loaded again, the snapshot differs");
  return 0;
}
