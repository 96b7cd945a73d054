// Snapshot files: atomic, checksummed, the last N kept, damage refused by name; deltas
// that continue an earlier snapshot read as one byte sequence, their chains kept whole.
#include "storage/snapshot_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <xxhash.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "storage/mem_file_system.h"

namespace storage {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "raftkv-snap-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

StoredSnapshot snapshot(uint64_t index, std::string data) {
  StoredSnapshot s;
  s.meta.last = {raft::Term(2), raft::LogIndex(index)};
  s.meta.membership.voters = {raft::NodeId(1), raft::NodeId(2), raft::NodeId(3)};
  s.meta.membership.learners = {raft::NodeId(4)};
  s.meta.timeouts = {2, 20, 40};
  s.data = std::move(data);
  return s;
}

TEST(SnapshotStore, SavedSnapshotReadsBackExactly) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(10, std::string("state\0bytes", 11))).is_ok());
  StatusOr<StoredSnapshot> back = store.load_latest();
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back.value().meta, snapshot(10, "").meta);
  EXPECT_EQ(back.value().data, std::string("state\0bytes", 11));
  for (const auto& f : std::filesystem::directory_iterator(d.path())) {
    EXPECT_EQ(f.path().extension(), ".snap") << "a temporary file was left behind";
  }
}

TEST(SnapshotStore, KeepsOnlyTheNewestN) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path(), 2);
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(store.save(snapshot(i * 10, "x")).is_ok());
  StatusOr<std::vector<uint64_t>> all = store.list();
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all.value(), (std::vector<uint64_t>{40, 50}));
  EXPECT_EQ(store.load_latest().value().meta.last.index, raft::LogIndex(50));
}

TEST(SnapshotStore, ADamagedSnapshotIsRefusedByName) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(7, "some state machine bytes")).is_ok());
  const std::string file = d.path() + "/0000000000000007.snap";
  {
    std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(70);
    f.put('!');
  }
  StatusOr<StoredSnapshot> back = store.load_latest();
  ASSERT_FALSE(back.is_ok());
  EXPECT_EQ(back.status().code(), Code::kCorruption);
  EXPECT_NE(back.status().message().find(file), std::string::npos) << back.status().message();
}

std::string hex(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    static const char* digits = "0123456789abcdef";
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  }
  return out;
}

// The header docs/storage-format.md documents: magic, version, index 7, term 2, the
// membership {1, 2, 3} + learner {4}, timeouts {2, 20, 40}.
std::string header_hex(const std::string& version) {
  return "524146544b56534e"  // magic RAFTKVSN
         + version +         // format version
         "0700000000000000"  // last index 7
         "0200000000000000"  // last term 2
         "2c000000"          // membership: 44 bytes
         "03000000"          // 3 voters
         "0100000000000000"  // 1
         "0200000000000000"  // 2
         "0300000000000000"  // 3
         "00000000"          // no outgoing voters
         "01000000"          // 1 learner
         "0400000000000000"  // 4
         "0c000000"          // timeouts: 12 bytes
         "02000000"          // heartbeat 2
         "14000000"          // election min 20
         "28000000";         // election max 40
}

std::string checksum_hex(const std::string& body_hex) {
  const std::string body = unhex(body_hex);
  std::string sum;
  const uint64_t h = XXH3_64bits(body.data(), body.size());
  for (int i = 0; i < 8; ++i) sum += static_cast<char>(h >> (8 * i));
  return hex(sum);
}

// The bytes of docs/storage-format.md's snapshot file, to the byte (a change of the
// code that writes them must not change them): the header, the data, its length after
// it (version 2), the checksum.
TEST(SnapshotStore, TheFileHoldsTheDocumentedBytes) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(7, "data")).is_ok());
  const std::string bytes =
      posix_file_system().read_file(d.path() + "/0000000000000007.snap").value();
  const std::string body = header_hex("02000000") +
                           "64617461"                // "data"
                           "0400000000000000";       // data: 4 bytes
  EXPECT_EQ(hex(bytes), body + "a46f2e8afb011f2c");  // XXH3-64 of all of the above
  EXPECT_EQ(checksum_hex(body), "a46f2e8afb011f2c");
}

// A file version 1 wrote (its data's length before the data) still loads, whole or
// in pieces.
TEST(SnapshotStore, AVersion1FileStillReads) {
  TempDir d;
  const std::string body = header_hex("01000000") +
                           "0400000000000000"         // data: 4 bytes
                           "64617461";                // "data"
  ASSERT_EQ(checksum_hex(body), "679cfb6c744c24ff");  // the file version 1 wrote
  std::ofstream(d.path() + "/0000000000000007.snap", std::ios::binary)
      << unhex(body + "679cfb6c744c24ff");
  SnapshotStore store(posix_file_system(), d.path());
  StatusOr<StoredSnapshot> back = store.load_latest();
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back.value().meta, snapshot(7, "").meta);
  EXPECT_EQ(back.value().data, "data");
  StatusOr<std::unique_ptr<SnapshotReader>> r = store.open(7);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  std::string got;
  ASSERT_TRUE(r.value()->read(0, 4, &got).is_ok());
  EXPECT_EQ(got, "data");
}

// Written in pieces as a state machine produces them, the file is the one save()
// writes; until commit() nothing carries the snapshot's name.
TEST(SnapshotWriter, WritesInPiecesTheFileSaveWrites) {
  TempDir a, b;
  SnapshotStore whole(posix_file_system(), a.path());
  SnapshotStore pieces(posix_file_system(), b.path());
  const std::string data(300000, 'x');
  ASSERT_TRUE(whole.save(snapshot(9, data)).is_ok());
  StatusOr<std::unique_ptr<SnapshotWriter>> w = pieces.begin(snapshot(9, "").meta);
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  for (size_t at = 0; at < data.size(); at += 7001) {
    ASSERT_TRUE(w.value()->append(std::string_view(data).substr(at, 7001)).is_ok());
  }
  EXPECT_EQ(w.value()->size(), data.size());
  EXPECT_TRUE(pieces.list().value().empty());
  ASSERT_TRUE(w.value()->commit().is_ok());
  EXPECT_EQ(posix_file_system().read_file(b.path() + "/0000000000000009.snap").value(),
            posix_file_system().read_file(a.path() + "/0000000000000009.snap").value());
  EXPECT_EQ(pieces.list().value(), std::vector<uint64_t>{9});
}

// finish() makes the bytes durable where the writer runs (the apply thread); commit()
// then only names the file (the storage thread, once the core compacted): the same file
// as a save, and nothing more is written after finish().
TEST(SnapshotWriter, FinishedThenCommittedIsTheFileSaveWrites) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.create_dir("/a").is_ok());
  ASSERT_TRUE(fs.create_dir("/b").is_ok());
  SnapshotStore whole(fs, "/a");
  SnapshotStore pieces(fs, "/b");
  const std::string data(100000, 'y');
  ASSERT_TRUE(whole.save(snapshot(7, data)).is_ok());
  StatusOr<std::unique_ptr<SnapshotWriter>> w = pieces.begin(snapshot(7, "").meta);
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  ASSERT_TRUE(w.value()->append(data).is_ok());
  EXPECT_GT(fs.unsynced_bytes(), 0u);
  ASSERT_TRUE(w.value()->finish().is_ok());
  EXPECT_EQ(fs.unsynced_bytes(), 0u);          // the bytes are durable
  EXPECT_TRUE(pieces.list().value().empty());  // not yet under its name
  ASSERT_TRUE(w.value()->finish().is_ok());    // once more: nothing to do
  ASSERT_TRUE(w.value()->commit().is_ok());
  EXPECT_EQ(fs.read_file("/b/0000000000000007.snap").value(),
            fs.read_file("/a/0000000000000007.snap").value());
  EXPECT_EQ(pieces.list().value(), std::vector<uint64_t>{7});
  EXPECT_EQ(w.value()->commit().message(),
            "snapshot /b/0000000000000007.snap.tmp is already committed");

  // Nothing is appended once finished; the writer stays failed and is never named.
  StatusOr<std::unique_ptr<SnapshotWriter>> v = pieces.begin(snapshot(8, "").meta);
  ASSERT_TRUE(v.is_ok());
  ASSERT_TRUE(v.value()->append("some").is_ok());
  ASSERT_TRUE(v.value()->finish().is_ok());
  Status late = v.value()->append("more");
  EXPECT_EQ(late.message(),
            "snapshot /b/0000000000000008.snap.tmp is already finished: nothing more is written");
  EXPECT_FALSE(v.value()->commit().is_ok());
  EXPECT_EQ(pieces.list().value(), std::vector<uint64_t>{7});
}

// A writer given up (the state machine failed, a newer snapshot came) leaves nothing.
TEST(SnapshotWriter, AWriterNotCommittedLeavesNoFile) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  {
    StatusOr<std::unique_ptr<SnapshotWriter>> w = store.begin(snapshot(5, "").meta);
    ASSERT_TRUE(w.is_ok());
    ASSERT_TRUE(w.value()->append("half").is_ok());
  }
  EXPECT_TRUE(std::filesystem::is_empty(d.path()));
  EXPECT_FALSE(store.load_latest().is_ok());
}

// A crash while a snapshot was written leaves its temporary file: never read, and
// removed when the node opens.
TEST(SnapshotWriter, TemporariesACrashLeftAreRemoved) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(4, "kept")).is_ok());
  std::ofstream(d.path() + "/0000000000000009.snap.tmp") << "half a snapshot";
  std::ofstream(d.path() + "/notes.txt") << "not ours";
  EXPECT_EQ(store.list().value(), std::vector<uint64_t>{4});
  ASSERT_TRUE(store.remove_temporaries().is_ok());
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/0000000000000009.snap.tmp"));
  EXPECT_TRUE(std::filesystem::exists(d.path() + "/notes.txt"));
  EXPECT_EQ(store.load_latest().value().data, "kept");
}

TEST(SnapshotReader, ReadsTheDataInPiecesAndOutlivesTheFile) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path(), 1);
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>(i * 7);
  ASSERT_TRUE(store.save(snapshot(3, data)).is_ok());
  StatusOr<std::unique_ptr<SnapshotReader>> r = store.open(3);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r.value()->meta(), snapshot(3, "").meta);
  ASSERT_EQ(r.value()->size(), data.size());
  // A newer snapshot deletes the file (keep = 1); the open reader still reads it.
  ASSERT_TRUE(store.save(snapshot(4, "newer")).is_ok());
  EXPECT_EQ(store.list().value(), std::vector<uint64_t>{4});
  std::string all, piece;
  for (uint64_t at = 0; at < data.size(); at += 4096) {
    ASSERT_TRUE(r.value()->read(at, std::min<uint64_t>(4096, data.size() - at), &piece).is_ok());
    all += piece;
  }
  EXPECT_EQ(all, data);
  Status past = r.value()->read(data.size() - 1, 2, &piece);
  EXPECT_EQ(past.code(), Code::kInvalidArgument);
  EXPECT_EQ(past.message(), "snapshot 3: 2 bytes at 99999 run past its 100000 bytes");
}

TEST(SnapshotReader, ADamagedHeaderIsRefusedByName) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(7, "data")).is_ok());
  const std::string file = d.path() + "/0000000000000007.snap";
  std::string bytes = posix_file_system().read_file(file).value();
  bytes[8] = 9;  // version 9
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  StatusOr<std::unique_ptr<SnapshotReader>> r = store.open(7);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(),
            "snapshot " + file + ": format version 9 is unknown to this binary");
  bytes[8] = 2;
  bytes.resize(bytes.size() - 12);  // the length and checksum cut short
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  r = store.open(7);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), "snapshot " + file + ": data length does not match the file");
}

// A length that runs past the end is refused even when the checksum holds (a file
// written by a bug, not torn by a crash): the reader never reads past the end.
TEST(SnapshotStore, ALengthPastTheEndIsRefusedEvenWithAGoodChecksum) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(7, "data")).is_ok());
  const std::string file = d.path() + "/0000000000000007.snap";
  std::string bytes = posix_file_system().read_file(file).value();
  bytes[28] = '\x7f';  // the membership's length (offset 28) now claims 127 bytes
  const uint64_t sum = XXH3_64bits(bytes.data(), bytes.size() - 8);
  for (int i = 0; i < 8; ++i) bytes[bytes.size() - 8 + i] = static_cast<char>(sum >> (8 * i));
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  StatusOr<StoredSnapshot> back = store.load_latest();
  ASSERT_FALSE(back.is_ok());
  EXPECT_EQ(back.status().message(), "snapshot " + file + ": truncated header");
}

// open_latest() verifies the checksum a piece at a time (1 MiB each): a damaged byte in
// any piece, the last included, is refused by name, as load_latest() refuses it.
TEST(SnapshotStore, OpenLatestVerifiesTheChecksumInPiecesAndRefusesADamagedByteByName) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  std::string data;
  for (int i = 0; i < 3'000'000; ++i) data += static_cast<char>(i * 13);
  ASSERT_TRUE(store.save(snapshot(5, data)).is_ok());
  StatusOr<std::unique_ptr<SnapshotReader>> good = store.open_latest();
  ASSERT_TRUE(good.is_ok()) << good.status().message();
  EXPECT_EQ(good.value()->meta(), snapshot(5, "").meta);
  EXPECT_EQ(good.value()->size(), data.size());
  const std::string file = d.path() + "/0000000000000005.snap";
  const uint64_t size = std::filesystem::file_size(file);
  // One byte in the first piece, one in the third, one of the checksum itself.
  for (uint64_t at : {uint64_t{70}, uint64_t{2'500'000}, size - 3}) {
    char was = 0;
    {
      std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
      f.seekg(static_cast<std::streamoff>(at));
      f.get(was);
      f.seekp(static_cast<std::streamoff>(at));
      f.put(static_cast<char>(was ^ 0x40));
    }
    StatusOr<std::unique_ptr<SnapshotReader>> bad = store.open_latest();
    ASSERT_FALSE(bad.is_ok()) << "a damaged byte at " << at << " was not seen";
    EXPECT_EQ(bad.status().code(), Code::kCorruption);
    EXPECT_EQ(bad.status().message(),
              "snapshot " + file + ": bad checksum at offset " + std::to_string(size - 8));
    std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(was);
  }
  EXPECT_TRUE(store.open_latest().is_ok());
  EXPECT_EQ(store.open_latest().status().code(), Code::kOk);
  TempDir empty;
  EXPECT_EQ(SnapshotStore(posix_file_system(), empty.path()).open_latest().status().code(),
            Code::kInvalidArgument);
}

// A snapshot arriving from the leader goes to a temporary file as it comes, reads back
// exactly once finished, is never listed as a snapshot, and its file goes with it.
TEST(ReceivedSnapshot, KeepsTheBytesInAFileUntilItGoesAndIsNeverListed) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(4, "kept")).is_ok());
  std::string path;
  {
    StatusOr<std::unique_ptr<ReceivedSnapshot>> r = store.receive(9);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    StatusOr<std::unique_ptr<ReceivedSnapshot>> other = store.receive(9);  // its own file
    ASSERT_TRUE(other.is_ok());
    std::string piece;
    EXPECT_EQ(r.value()->read(0, 1, &piece).code(), Code::kInvalidArgument);  // not finished
    ASSERT_TRUE(r.value()->append("first ").is_ok());
    ASSERT_TRUE(r.value()->append(std::string("second\0", 7)).is_ok());
    ASSERT_TRUE(other.value()->append("other").is_ok());
    EXPECT_EQ(r.value()->size(), 13u);
    ASSERT_TRUE(r.value()->finish().is_ok());
    EXPECT_EQ(r.value()->append("late").code(), Code::kInvalidArgument);
    ASSERT_TRUE(r.value()->read(6, 7, &piece).is_ok());
    EXPECT_EQ(piece, std::string("second\0", 7));
    Status past = r.value()->read(10, 4, &piece);
    EXPECT_EQ(past.code(), Code::kInvalidArgument);
    int files = 0;
    for (const auto& f : std::filesystem::directory_iterator(d.path())) {
      const std::string name = f.path().filename().string();
      if (name.starts_with("0000000000000009-") && name.ends_with(".recv.snap.tmp")) ++files;
    }
    EXPECT_EQ(files, 2);
    EXPECT_EQ(store.list().value(), std::vector<uint64_t>{4});
  }
  for (const auto& f : std::filesystem::directory_iterator(d.path())) {
    EXPECT_EQ(f.path().filename(), "0000000000000004.snap") << "left behind: " << f.path();
  }
  // One a crash left behind goes at the next open.
  {
    StatusOr<std::unique_ptr<ReceivedSnapshot>> r = store.receive(11);
    ASSERT_TRUE(r.is_ok());
    ASSERT_TRUE(r.value()->append("half").is_ok());
    std::filesystem::copy_file(d.path() + "/000000000000000b-2.recv.snap.tmp",
                               d.path() + "/000000000000000b-99.recv.snap.tmp");
  }
  ASSERT_TRUE(std::filesystem::exists(d.path() + "/000000000000000b-99.recv.snap.tmp"));
  ASSERT_TRUE(store.remove_temporaries().is_ok());
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/000000000000000b-99.recv.snap.tmp"));
  EXPECT_EQ(store.load_latest().value().data, "kept");
}

// --- Delta snapshots: a file that continues the bytes of an earlier one ---

std::string file_of(const std::string& dir, uint64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "/%016llx.snap", static_cast<unsigned long long>(index));
  return dir + name;
}

raft::SnapshotMeta meta_at(uint64_t index, uint64_t term) {
  raft::SnapshotMeta m = snapshot(index, "").meta;
  m.last.term = raft::Term(term);
  return m;
}

// Writes the snapshot at `index` as a delta on `base` holding `data`.
Status save_delta(SnapshotStore& store, uint64_t index, uint64_t base, std::string_view data) {
  StatusOr<std::unique_ptr<SnapshotWriter>> w = store.begin(meta_at(index, 3), base);
  if (!w.is_ok()) return w.status();
  if (Status s = w.value()->append(data); !s.is_ok()) return s;
  return w.value()->commit();
}

std::string pattern(size_t n, int seed) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += static_cast<char>(i * 7 + seed);
  return out;
}

std::string read_all(const SnapshotReader& r) {
  std::string out;
  EXPECT_TRUE(r.read(0, r.size(), &out).is_ok());
  return out;
}

void flip_byte(const std::string& file, uint64_t at) {
  std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
  char was = 0;
  f.seekg(static_cast<std::streamoff>(at));
  f.get(was);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(was ^ 0x40));
}

std::string u64_le(uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>(v >> (8 * i));
  return out;
}

// A file's bytes built by hand from the documented layout: the header of header_hex()
// with another index, [version 3: base | base checksum], the data, its length, the
// checksum.
std::string file_bytes(uint64_t index, uint64_t base, uint64_t base_checksum,
                       const std::string& data) {
  std::string body = unhex(header_hex(base == 0 ? "02000000" : "03000000"));
  body.replace(12, 8, u64_le(index));
  if (base != 0) body += u64_le(base) + u64_le(base_checksum);
  body += data + u64_le(data.size());
  return body + u64_le(XXH3_64bits(body.data(), body.size()));
}

// A file's checksum (its last 8 bytes) as errors print it.
std::string hex64_of(const std::string& file_bytes) {
  std::string le = file_bytes.substr(file_bytes.size() - 8), be(le.rbegin(), le.rend());
  return hex(be);
}

uint64_t checksum_in(const std::string& file_bytes) {
  uint64_t sum = 0;
  for (int i = 0; i < 8; ++i) {
    sum |= uint64_t{static_cast<unsigned char>(file_bytes[file_bytes.size() - 8 + i])} << (8 * i);
  }
  return sum;
}

// The bytes of docs/storage-format.md's delta file (version 3), to the byte: the
// version 2 header, the base's index and checksum, then as version 2.
TEST(SnapshotChain, ADeltaFileHoldsTheDocumentedBytes) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(5, "data")).is_ok());
  const std::string base = posix_file_system().read_file(file_of(d.path(), 5)).value();
  StatusOr<std::unique_ptr<SnapshotWriter>> w = store.begin(snapshot(7, "").meta, 5);
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  EXPECT_EQ(w.value()->base(), 5u);
  ASSERT_TRUE(w.value()->append("more").is_ok());
  ASSERT_TRUE(w.value()->commit().is_ok());
  const std::string bytes = posix_file_system().read_file(file_of(d.path(), 7)).value();
  const std::string body = header_hex("03000000") + "0500000000000000" +  // extends snapshot 5
                           hex(base.substr(base.size() - 8)) +            // whose checksum is this
                           "6d6f7265"                                     // "more"
                           "0400000000000000";                            // data: 4 bytes
  EXPECT_EQ(hex(bytes), body + checksum_hex(body));
  EXPECT_EQ(bytes, file_bytes(7, 5, checksum_in(base), "more"));
  EXPECT_EQ(store.base_of(7).value(), 5u);
  EXPECT_EQ(store.base_of(5).value(), 0u);
}

// A full snapshot and two deltas read back, through every way a snapshot is read, as
// their bytes end to end, with the newest file's metadata; a read may span files.
TEST(SnapshotChain, AChainReadsAsTheConcatenationEverywhere) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  const std::string a = pattern(100000, 1), b = pattern(3000, 2), c = pattern(50000, 3);
  ASSERT_TRUE(store.save(snapshot(10, a)).is_ok());
  ASSERT_TRUE(save_delta(store, 20, 10, b).is_ok());
  ASSERT_TRUE(save_delta(store, 30, 20, c).is_ok());
  EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{10, 20, 30}));
  EXPECT_EQ(store.base_of(30).value(), 20u);
  EXPECT_EQ(store.base_of(20).value(), 10u);
  const std::string all = a + b + c;

  StatusOr<std::unique_ptr<SnapshotReader>> r = store.open(30);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r.value()->meta(), meta_at(30, 3));
  ASSERT_EQ(r.value()->size(), all.size());
  EXPECT_EQ(read_all(*r.value()), all);
  // Around each boundary between files, and the ends: pieces of several lengths.
  std::string piece;
  for (uint64_t edge : {uint64_t{0}, a.size(), a.size() + b.size(), all.size()}) {
    for (uint64_t at = edge >= 3 ? edge - 3 : 0; at <= std::min(edge + 3, all.size()); ++at) {
      for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{5}, b.size() + 10, all.size() - at}) {
        if (n > all.size() - at) continue;
        ASSERT_TRUE(r.value()->read(at, n, &piece).is_ok()) << at << " " << n;
        EXPECT_EQ(piece, all.substr(at, n)) << n << " bytes at " << at;
      }
    }
  }
  Status past = r.value()->read(all.size() - 1, 2, &piece);
  EXPECT_EQ(past.code(), Code::kInvalidArgument);

  StatusOr<std::unique_ptr<SnapshotReader>> middle = store.open(20);
  ASSERT_TRUE(middle.is_ok()) << middle.status().message();
  EXPECT_EQ(middle.value()->meta(), meta_at(20, 3));
  EXPECT_EQ(read_all(*middle.value()), a + b);

  StatusOr<std::unique_ptr<SnapshotReader>> latest = store.open_latest();
  ASSERT_TRUE(latest.is_ok()) << latest.status().message();
  EXPECT_EQ(latest.value()->meta(), meta_at(30, 3));
  EXPECT_EQ(read_all(*latest.value()), all);
  StatusOr<StoredSnapshot> loaded = store.load_latest();
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
  EXPECT_EQ(loaded.value().meta, meta_at(30, 3));
  EXPECT_EQ(loaded.value().data, all);

  // A delta with no bytes adds nothing, and reads still span it.
  ASSERT_TRUE(save_delta(store, 40, 30, "").is_ok());
  ASSERT_TRUE(save_delta(store, 50, 40, "tail").is_ok());
  r = store.open(50);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r.value()->size(), all.size() + 4);
  ASSERT_TRUE(r.value()->read(all.size() - 2, 6, &piece).is_ok());
  EXPECT_EQ(piece, all.substr(all.size() - 2) + "tail");
  EXPECT_EQ(store.load_latest().value().data, all + "tail");
}

// A file version 1 wrote can be the base of a delta: the chain reads through it.
TEST(SnapshotChain, AVersion1FileCanBeABase) {
  TempDir d;
  std::ofstream(file_of(d.path(), 7), std::ios::binary)
      << unhex(header_hex("01000000") + "0400000000000000" + "64617461" + "679cfb6c744c24ff");
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(save_delta(store, 9, 7, " and more").is_ok());
  StatusOr<StoredSnapshot> back = store.load_latest();
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(back.value().data, "data and more");
  EXPECT_TRUE(store.open_latest().is_ok());
}

// keep = 3 keeps the newest three snapshots and every file their chains reach: a chain
// of five stays whole while one of its deltas is among the newest three, and goes once
// full snapshots have pushed all of it out.
TEST(SnapshotChain, KeepsEveryFileTheNewestSnapshotsReach) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.create_dir("/s").is_ok());
  SnapshotStore store(fs, "/s", 3);
  ASSERT_TRUE(store.save(snapshot(10, "a")).is_ok());
  for (uint64_t i = 2; i <= 5; ++i) {
    ASSERT_TRUE(save_delta(store, i * 10, (i - 1) * 10, std::string(1, 'a' + i - 1)).is_ok());
  }
  EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{10, 20, 30, 40, 50}));
  EXPECT_EQ(store.load_latest().value().data, "abcde");
  ASSERT_TRUE(store.save(snapshot(60, "full")).is_ok());  // newest three: 40, 50, 60
  ASSERT_TRUE(store.save(snapshot(70, "full")).is_ok());  // newest three: 50, 60, 70
  EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{10, 20, 30, 40, 50, 60, 70}));
  StatusOr<std::unique_ptr<SnapshotReader>> old = store.open(50);
  ASSERT_TRUE(old.is_ok()) << old.status().message();
  EXPECT_EQ(read_all(*old.value()), "abcde");
  ASSERT_TRUE(store.save(snapshot(80, "full")).is_ok());  // newest three: all full
  EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{60, 70, 80}));
  EXPECT_EQ(read_all(*old.value()), "abcde");  // an open reader outlives its files
}

// A kept file whose header does not read may extend anything older: nothing older is
// deleted while it is kept, and the old files go once it is not.
TEST(SnapshotChain, AKeptFileThatDoesNotReadKeepsEverythingOlder) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path(), 2);
  ASSERT_TRUE(store.save(snapshot(10, "ten")).is_ok());
  ASSERT_TRUE(save_delta(store, 20, 10, "twenty").is_ok());
  std::string bytes = posix_file_system().read_file(file_of(d.path(), 20)).value();
  bytes[8] = 9;  // version 9: its base cannot be read
  std::ofstream(file_of(d.path(), 20), std::ios::binary | std::ios::trunc) << bytes;
  ASSERT_TRUE(store.save(snapshot(30, "thirty")).is_ok());  // newest two: 20, 30
  EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{10, 20, 30}));
  ASSERT_TRUE(store.save(snapshot(40, "forty")).is_ok());  // newest two: 30, 40
  EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{30, 40}));
}

// A delta being written keeps its base (and what that base extends) through publishes
// that would delete it, on whichever thread they run; once the writer is destroyed the
// base goes with the next publish, and once it is committed the new file's chain keeps it.
TEST(SnapshotChain, APinnedBaseSurvivesUntilItsWriterIsDone) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.create_dir("/s").is_ok());
  SnapshotStore store(fs, "/s", 1);
  ASSERT_TRUE(store.save(snapshot(10, "ten")).is_ok());
  ASSERT_TRUE(save_delta(store, 11, 10, "+eleven").is_ok());
  EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{10, 11}));
  {
    StatusOr<std::unique_ptr<SnapshotWriter>> w = store.begin(meta_at(20, 3), 11);
    ASSERT_TRUE(w.is_ok()) << w.status().message();
    ASSERT_TRUE(w.value()->append("+twenty").is_ok());
    std::thread other([&] {  // the publishes run where the storage thread would
      EXPECT_TRUE(store.save(snapshot(12, "twelve")).is_ok());
      EXPECT_TRUE(store.save(snapshot(13, "thirteen")).is_ok());
    });
    other.join();
    EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{10, 11, 13}));
    ASSERT_TRUE(w.value()->commit().is_ok());  // 20 is the newest: its chain stays
    EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{10, 11, 20}));
    EXPECT_EQ(store.load_latest().value().data, "ten+eleven+twenty");
    // The writer still exists, but committed it pins nothing: its chain goes once a
    // newer full snapshot is the only one kept.
    ASSERT_TRUE(store.save(snapshot(21, "full")).is_ok());
    EXPECT_EQ(store.list().value(), std::vector<uint64_t>{21});
  }

  {  // A writer given up: its base stays while it exists, and goes after.
    StatusOr<std::unique_ptr<SnapshotWriter>> w = store.begin(meta_at(30, 3), 21);
    ASSERT_TRUE(w.is_ok()) << w.status().message();
    ASSERT_TRUE(store.save(snapshot(22, "full")).is_ok());
    EXPECT_EQ(store.list().value(), (std::vector<uint64_t>{21, 22}));
  }
  ASSERT_TRUE(store.save(snapshot(23, "full")).is_ok());
  EXPECT_EQ(store.list().value(), std::vector<uint64_t>{23});
}

// A base that is gone: every way of reading the chain refuses it, naming the file that
// extends it and the missing index, and no older snapshot is used in its place.
TEST(SnapshotChain, AMissingBaseIsRefusedByName) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(10, "ten")).is_ok());
  ASSERT_TRUE(save_delta(store, 20, 10, "twenty").is_ok());
  ASSERT_TRUE(save_delta(store, 30, 20, "thirty").is_ok());
  std::filesystem::remove(file_of(d.path(), 10));
  const std::string missing = "snapshot " + file_of(d.path(), 20) + ": extends snapshot 10 (" +
                              file_of(d.path(), 10) + "), which is missing";
  StatusOr<std::unique_ptr<SnapshotReader>> r = store.open(20);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().message(), missing);
  // Asked for 30, the error says so first, then where in its chain it failed.
  const std::string from30 = "snapshot " + file_of(d.path(), 30) + ": in its chain, " + missing;
  r = store.open(30);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), from30);
  r = store.open_latest();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().message(), from30);
  StatusOr<StoredSnapshot> loaded = store.load_latest();
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorruption);
  EXPECT_EQ(loaded.status().message(), from30);
}

// A base replaced by another snapshot saved at its index (one from the leader): the
// delta no longer continues the bytes it was written after. Refused naming the link, at
// open (from the checksums recorded in the files) and by verify() (from the files' bytes,
// here changed under a reader that was already open).
TEST(SnapshotChain, ABaseReplacedAtItsIndexIsRefusedNamingTheLink) {
  TempDir d, other;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(10, "AAAA")).is_ok());
  ASSERT_TRUE(save_delta(store, 20, 10, "delta").is_ok());
  const std::string f10 = file_of(d.path(), 10), f20 = file_of(d.path(), 20);
  const std::string recorded = hex64_of(posix_file_system().read_file(f10).value());
  StatusOr<std::unique_ptr<SnapshotReader>> before = store.open(20);
  ASSERT_TRUE(before.is_ok()) << before.status().message();

  // The same length, so that the open reader reads it whole: written in place.
  SnapshotStore elsewhere(posix_file_system(), other.path());
  ASSERT_TRUE(elsewhere.save(snapshot(10, "BBBB")).is_ok());
  const std::string replacement = posix_file_system().read_file(file_of(other.path(), 10)).value();
  std::ofstream(f10, std::ios::binary | std::ios::in | std::ios::out) << replacement;
  const std::string now = hex64_of(replacement);
  const std::string link = "snapshot " + f20 + ": extends snapshot " + f10 +
                           ", which is not the snapshot it was written on (its checksum is " + now +
                           ", not the " + recorded + " recorded here)";
  Status v = before.value()->verify();
  EXPECT_EQ(v.code(), Code::kCorruption);
  EXPECT_EQ(v.message(), link);

  // Replaced the way the node replaces it: saved again at the same index.
  ASSERT_TRUE(store.save(snapshot(10, "other bytes")).is_ok());
  const std::string saved = hex64_of(posix_file_system().read_file(f10).value());
  const std::string link2 = "snapshot " + f20 + ": extends snapshot " + f10 +
                            ", which is not the snapshot it was written on (its checksum is " +
                            saved + ", not the " + recorded + " recorded here)";
  StatusOr<std::unique_ptr<SnapshotReader>> r = store.open(20);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().message(), link2);
  r = store.open_latest();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), link2);
  StatusOr<StoredSnapshot> loaded = store.load_latest();
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorruption);
  EXPECT_EQ(loaded.status().message(), link2);
}

// A damaged byte in a base is not seen by open() (no checksum is read there) but is by
// open_latest() and load_latest(), naming the damaged file under the snapshot asked for.
TEST(SnapshotChain, ADamagedByteInABaseIsRefusedNamingTheBase) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(10, pattern(3'000'000, 5))).is_ok());
  ASSERT_TRUE(save_delta(store, 20, 10, "twenty").is_ok());
  ASSERT_TRUE(save_delta(store, 30, 20, "thirty").is_ok());
  const std::string f10 = file_of(d.path(), 10);
  const uint64_t size = std::filesystem::file_size(f10);
  flip_byte(f10, 2'000'000);
  EXPECT_TRUE(store.open(30).is_ok());
  const std::string want = "snapshot " + file_of(d.path(), 30) + ": in its chain, snapshot " + f10 +
                           ": bad checksum at offset " + std::to_string(size - 8);
  StatusOr<std::unique_ptr<SnapshotReader>> r = store.open_latest();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().message(), want);
  StatusOr<StoredSnapshot> loaded = store.load_latest();
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorruption);
  EXPECT_EQ(loaded.status().message(), want);
  flip_byte(f10, 2'000'000);  // back as it was
  EXPECT_TRUE(store.open_latest().is_ok());
  EXPECT_TRUE(store.load_latest().is_ok());
}

// begin() refuses a base that is not published or not older, and creates nothing (no
// file, no pin left behind: the base 10 goes with the next publish).
TEST(SnapshotChain, BeginRefusesAMissingOrNotOlderBase) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path(), 1);
  ASSERT_TRUE(store.save(snapshot(10, "ten")).is_ok());
  StatusOr<std::unique_ptr<SnapshotWriter>> w = store.begin(meta_at(20, 3), 15);
  ASSERT_FALSE(w.is_ok());
  EXPECT_EQ(w.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(w.status().message(),
            "snapshot 20 cannot extend snapshot 15: there is no snapshot 15 in " + d.path());
  for (uint64_t base : {uint64_t{20}, uint64_t{30}}) {
    w = store.begin(meta_at(20, 3), base);
    ASSERT_FALSE(w.is_ok());
    EXPECT_EQ(w.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(w.status().message(), "snapshot 20 cannot extend snapshot " + std::to_string(base) +
                                        " in " + d.path() +
                                        ": a snapshot extends an older one (a lower index)");
  }
  std::vector<std::string> names;
  for (const auto& f : std::filesystem::directory_iterator(d.path())) {
    names.push_back(f.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"000000000000000a.snap"});
  ASSERT_TRUE(store.save(snapshot(11, "eleven")).is_ok());
  EXPECT_EQ(store.list().value(), std::vector<uint64_t>{11});
}

// A delta whose base was deleted or replaced between begin() and commit() is not named:
// nothing is published, and the writer leaves no file.
TEST(SnapshotChain, ACommitWhoseBaseChangedPublishesNothing) {
  TempDir d;
  SnapshotStore store(posix_file_system(), d.path());
  ASSERT_TRUE(store.save(snapshot(10, "ten")).is_ok());
  {
    StatusOr<std::unique_ptr<SnapshotWriter>> w = store.begin(meta_at(20, 3), 10);
    ASSERT_TRUE(w.is_ok()) << w.status().message();
    ASSERT_TRUE(w.value()->append("twenty").is_ok());
    std::filesystem::remove(file_of(d.path(), 10));
    Status s = w.value()->commit();
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_EQ(s.message(), "snapshot " + file_of(d.path(), 20) + ".tmp extends snapshot 10 (" +
                               file_of(d.path(), 10) +
                               "), which was deleted since it was begun: not published");
    EXPECT_TRUE(store.list().value().empty());
    EXPECT_FALSE(w.value()->commit().is_ok());  // it stays failed
    EXPECT_TRUE(store.list().value().empty());
  }
  EXPECT_TRUE(std::filesystem::is_empty(d.path()));

  ASSERT_TRUE(store.save(snapshot(10, "ten")).is_ok());
  const std::string was = hex64_of(posix_file_system().read_file(file_of(d.path(), 10)).value());
  StatusOr<std::unique_ptr<SnapshotWriter>> w = store.begin(meta_at(20, 3), 10);
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  ASSERT_TRUE(store.save(snapshot(10, "another ten")).is_ok());
  const std::string now = hex64_of(posix_file_system().read_file(file_of(d.path(), 10)).value());
  Status s = w.value()->commit();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "snapshot " + file_of(d.path(), 20) + ".tmp extends snapshot " +
                             file_of(d.path(), 10) +
                             ", which was replaced since it was begun (its checksum is " + now +
                             ", not " + was + "): not published");
  EXPECT_EQ(store.list().value(), std::vector<uint64_t>{10});
}

// The chain's links are bounded: 10,000 read, one more is refused by name (files built
// by hand: the store would take long to write them one begin() at a time).
TEST(SnapshotChain, AChainPastTheBoundIsRefused) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.create_dir("/c").is_ok());
  auto put = [&](uint64_t index, const std::string& bytes) {
    StatusOr<std::unique_ptr<WritableFile>> f = fs.open_for_append(file_of("/c", index), 0, 0);
    ASSERT_TRUE(f.is_ok());
    ASSERT_TRUE(f.value()->append(bytes).is_ok());
  };
  std::string below = file_bytes(1, 0, 0, "x");
  put(1, below);
  for (uint64_t index = 2; index <= 10'002; ++index) {
    std::string bytes = file_bytes(index, index - 1, checksum_in(below), "x");
    put(index, bytes);
    below = std::move(bytes);
  }
  SnapshotStore store(fs, "/c");
  StatusOr<std::unique_ptr<SnapshotReader>> r = store.open(10'001);  // 10,000 links
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r.value()->size(), 10'001u);
  r = store.open(10'002);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().message(), "snapshot " + file_of("/c", 10'002) +
                                      ": its chain runs past 10000 links (" + file_of("/c", 2) +
                                      " extends snapshot 1)");
}

// A delta must extend an older snapshot (what makes every chain end), and name one.
TEST(SnapshotChain, ADeltaOnItselfOrOnNothingIsRefused) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.create_dir("/c").is_ok());
  for (uint64_t base : {uint64_t{7}, uint64_t{9}, uint64_t{0}}) {
    // base 0 cannot be written through file_bytes(), which writes version 2 for it.
    std::string bytes = file_bytes(7, base == 0 ? 1 : base, 0, "x");
    if (base == 0) {
      bytes.replace(76 + 16, 8, u64_le(0));
      bytes.resize(bytes.size() - 8);
      bytes += u64_le(XXH3_64bits(bytes.data(), bytes.size()));
    }
    auto f = fs.open_for_append(file_of("/c", 7), 0, 0);
    ASSERT_TRUE(f.is_ok());
    ASSERT_TRUE(f.value()->truncate(0).is_ok());
    ASSERT_TRUE(f.value()->append(bytes).is_ok());
    SnapshotStore store(fs, "/c");
    const std::string want =
        "snapshot " + file_of("/c", 7) + ": " +
        (base == 0
             ? std::string("a delta (version 3) that names no snapshot it extends")
             : "extends snapshot " + std::to_string(base) + ", which is not below its own index 7");
    StatusOr<std::unique_ptr<SnapshotReader>> r = store.open(7);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_EQ(r.status().message(), want);
    EXPECT_EQ(store.load_latest().status().message(), want);
    EXPECT_EQ(store.open_latest().status().message(), want);
  }
}

}  // namespace
}  // namespace storage
