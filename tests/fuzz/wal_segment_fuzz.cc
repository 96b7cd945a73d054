// Fuzz target: WAL recovery (storage::Wal::open) over segment files made from the fuzzer's
// bytes, in a MemFileSystem. The first byte picks the form of the rest:
// - even: raw bytes, the concatenation of the segment files (a new segment starts at each
//   "RAFTKVWL" magic after the first byte), so the fixtures are seeds as they are;
// - odd: a program of records written with the WAL's own framing (wal_format.h), so
//   checksums hold and replay's rules (supersede, gaps, markers) are what is fuzzed:
//   each op byte adds an entry, a hard state, a snapshot marker or an installed snapshot
//   (terms and indexes from small ranges), starts a new segment, or damages a byte.
// Properties:
// - open never crashes (ASan and UBSan in the fuzz build);
// - a refusal is kCorruption and names the log's directory; one about a record names its
//   segment file and an offset within that file;
// - an opened log is consistent: entry indexes contiguous, terms never decreasing, the
//   first entry right after the snapshot marker (when there is one) and not below its term;
// - Wal::read of the recovered range gives the recovered entries again (from the files);
// - opening again recovers the same thing (recovery is idempotent), and an entry appended
//   after the last one is recovered by the next open.
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "storage/mem_file_system.h"
#include "storage/wal.h"
#include "storage/wal_format.h"

namespace {

const std::string kDir = "/wal";

std::string segment_path(uint64_t seq) {
  char name[40];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".wal", seq);
  return kDir + "/" + name;
}

// Raw form: the segment files, each starting at a magic (or at the start of the input).
std::vector<std::string> raw_segments(std::string_view bytes) {
  const std::string_view magic(storage::kWalMagic, sizeof storage::kWalMagic);
  std::vector<std::string> out;
  size_t start = 0;
  while (out.size() < 8) {
    const size_t next = bytes.find(magic, start + 1);
    if (next == std::string_view::npos) break;
    out.emplace_back(bytes.substr(start, next - start));
    start = next;
  }
  out.emplace_back(bytes.substr(start));
  return out;
}

// Program form: records framed by the WAL's own writer code.
std::vector<std::string> program_segments(fuzz::ByteSource& in) {
  std::vector<std::string> out{storage::segment_header()};
  while (!in.empty()) {
    const uint8_t op = in.byte();
    std::string& seg = out.back();
    switch (op % 8) {
      case 0:
      case 1:
      case 2: {  // an entry: term 0-7, index 0-15, a type byte (maybe unknown), data
        const raft::Term term(in.pick(8));
        const raft::LogIndex index(in.pick(16));
        const auto type = static_cast<raft::EntryType>(in.pick(5));
        std::string data(in.pick(4), 'x');
        storage::append_record(raft::Entry{term, index, type, data}, &seg);
        break;
      }
      case 3:
        storage::append_record(raft::HardState{raft::Term(in.pick(8)), raft::NodeId(in.pick(4)),
                                               raft::LogIndex(in.pick(16))},
                               &seg);
        break;
      case 4:
        storage::append_record(
            storage::SnapshotMarker{{raft::Term(in.pick(8)), raft::LogIndex(in.pick(16))}}, &seg);
        break;
      case 5:
        storage::append_record(
            storage::SnapshotInstalled{{raft::Term(in.pick(8)), raft::LogIndex(in.pick(16))}},
            &seg);
        break;
      case 6:
        if (out.size() < 6) out.push_back(storage::segment_header());
        break;
      case 7: {  // damage: flip a byte, or cut the segment short, or pad it with zeros
        const uint8_t how = in.byte();
        const size_t at = (static_cast<size_t>(in.byte()) << 8 | in.byte()) % (seg.size() + 1);
        if (how % 3 == 0 && at < seg.size()) {
          seg[at] = static_cast<char>(seg[at] ^ (in.byte() | 1));
        } else if (how % 3 == 1) {
          seg.resize(at);
        } else {
          seg.append(at % 64, '\0');
        }
        break;
      }
    }
  }
  return out;
}

void write_segments(storage::MemFileSystem& fs, const std::vector<std::string>& segments) {
  FUZZ_CHECK(fs.create_dir(kDir).is_ok(), "create_dir");
  for (size_t k = 0; k < segments.size(); ++k) {
    auto f = fs.open_for_append(segment_path(k), 0, 0);
    FUZZ_CHECK(f.is_ok(), f.status().message());
    FUZZ_CHECK(f.value()->append(segments[k]).is_ok(), "append");
    FUZZ_CHECK(f.value()->sync().is_ok(), "sync");
  }
}

// A refusal names the directory; one that names a segment gives an offset inside it.
void check_refusal(const storage::Status& s, const std::vector<std::string>& segments) {
  const std::string& m = s.message();
  FUZZ_CHECK(s.code() == storage::Code::kCorruption, m);
  FUZZ_CHECK(m.find(kDir) != std::string::npos, m);
  const size_t at = m.find(" at offset ");
  if (at == std::string::npos) return;
  // "<dir>/<16 hex>.wal at offset <n>"
  FUZZ_CHECK(at >= kDir.size() + 21, m);
  const std::string file = m.substr(at - (kDir.size() + 21), kDir.size() + 21);
  uint64_t offset = 0;
  FUZZ_CHECK(std::sscanf(m.c_str() + at, " at offset %" SCNu64, &offset) == 1, m);
  bool named = false;
  for (size_t k = 0; k < segments.size(); ++k) {
    if (segment_path(k) == file) {
      named = true;
      FUZZ_CHECK(offset <= segments[k].size(), m);
    }
  }
  FUZZ_CHECK(named, m);
}

void check_consistent(const storage::Recovered& r) {
  const auto& es = r.entries;
  for (size_t i = 0; i < es.size(); ++i) {
    if (i > 0) {
      FUZZ_CHECK(es[i].index == es[i - 1].index.next(),
                 "entry " + std::to_string(es[i].index.value()) + " follows " +
                     std::to_string(es[i - 1].index.value()));
      FUZZ_CHECK(es[i].term >= es[i - 1].term, "entry " + std::to_string(es[i].index.value()) +
                                                   " has term " +
                                                   std::to_string(es[i].term.value()) + " below " +
                                                   std::to_string(es[i - 1].term.value()));
    }
  }
  if (!es.empty() && r.snapshot.index.value() != 0) {
    FUZZ_CHECK(es.front().index == r.snapshot.index.next(), "log does not start at the snapshot");
    FUZZ_CHECK(es.front().term >= r.snapshot.term,
               "entry " + std::to_string(es.front().index.value()) + " has term " +
                   std::to_string(es.front().term.value()) + " below the snapshot's " +
                   std::to_string(r.snapshot.term.value()));
  }
}

bool same(const storage::Recovered& a, const storage::Recovered& b) {
  return a.hard_state == b.hard_state && a.snapshot == b.snapshot && a.entries == b.entries;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  fuzz::ByteSource in(data + 1, size - 1);
  const std::vector<std::string> segments =
      (data[0] & 1) == 0
          ? raw_segments(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1))
          : program_segments(in);
  storage::MemFileSystem fs;
  write_segments(fs, segments);

  const storage::WalOptions options{
      .segment_bytes = 1 << 20, .preallocate = false, .tail_cache_bytes = 0};
  storage::Recovered first;
  auto wal = storage::Wal::open(fs, kDir, options, &first);
  if (!wal.is_ok()) {
    check_refusal(wal.status(), segments);
    return 0;
  }
  check_consistent(first);
  if (!first.entries.empty()) {
    auto read = wal.value()->read(first.entries.front().index, first.entries.back().index);
    FUZZ_CHECK(read.is_ok(), read.status().message());
    FUZZ_CHECK(read.value() == first.entries, "read gives other entries than recovery");
  }
  wal.value().reset();

  storage::Recovered second;
  wal = storage::Wal::open(fs, kDir, options, &second);
  FUZZ_CHECK(wal.is_ok(), "a log that opened once is refused: " + wal.status().message());
  FUZZ_CHECK(same(first, second), "opening again recovers something else");

  // One more entry after the last one (or after the snapshot), in the last term.
  const raft::LogId last = first.entries.empty() ? first.snapshot : first.entries.back().id();
  const raft::Term term = std::max(last.term, first.hard_state.term);
  const raft::Entry added{term, last.index.next(), raft::EntryType::kNormal, "appended"};
  FUZZ_CHECK(wal.value()->append({added}, std::nullopt).is_ok(), "append");
  FUZZ_CHECK(wal.value()->sync().is_ok(), "sync");
  wal.value().reset();
  storage::Recovered third;
  wal = storage::Wal::open(fs, kDir, options, &third);
  FUZZ_CHECK(wal.is_ok(), "refused after an append: " + wal.status().message());
  std::vector<raft::Entry> expected = first.entries;
  expected.push_back(added);
  FUZZ_CHECK(third.entries == expected, "the appended entry is not recovered as appended");
  return 0;
}
