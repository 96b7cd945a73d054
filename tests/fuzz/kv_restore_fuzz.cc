// Fuzz target: kv::Store::restore_snapshot over the fuzzer's bytes (src/kv/snapshot.cc,
// format in snapshot_format.h): a whole segment and any delta segments after it, nothing
// between them. With the first byte odd the last 8 bytes are replaced by the right
// checksum, so the fuzzer gets past it to the keys, versions and leases (of the last
// segment; the corpus holds a chain whose first segment's checksum is right).
// Properties:
// - restore never crashes (ASan and UBSan in the fuzz build), and a refusal is an error
//   with a message;
// - a refused restore leaves the store as it was (its snapshot bytes unchanged);
// - a restored store's snapshot, restored into a fresh store and snapshotted again, gives
//   the same bytes (what was accepted is a state the store can write and read back).

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz/checksummed_input.h"
#include "fuzz/fuzz_util.h"
#include "kv/store.h"

namespace {

std::string snapshot_of(const kv::Store& store) {
  std::ostringstream out;
  kv::Status s = store.save_snapshot(out);
  FUZZ_CHECK(s.is_ok(), s.message());
  return out.str();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes = fuzz::checksummed_input(data, size);
  kv::Store store;
  // Something to lose: a refused restore must leave it.
  FUZZ_CHECK(store.put(kv::PutRequest{.key = "k", .value = "v"}).is_ok(), "put");
  const std::string before = snapshot_of(store);
  std::istringstream in(bytes);
  kv::Status s = store.restore_snapshot(in, [](std::istream&) { return kv::Status::ok(); });
  if (!s.is_ok()) {
    FUZZ_CHECK(!s.message().empty(), "a refusal without a message");
    FUZZ_CHECK(snapshot_of(store) == before, "a refused restore changed the store: " + s.message());
    return 0;
  }
  const std::string first = snapshot_of(store);
  kv::Store fresh;
  std::istringstream again(first);
  kv::Status s2 = fresh.restore_snapshot(again);
  FUZZ_CHECK(s2.is_ok(), "the restored store's own snapshot is refused: " + s2.message());
  FUZZ_CHECK(snapshot_of(fresh) == first, "restoring the restored store's snapshot differs");
  return 0;
}
