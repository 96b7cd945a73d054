// Snapshot files: atomic, checksummed, the last N kept, damage refused by name.
#include "storage/snapshot_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <xxhash.h>

#include <filesystem>
#include <fstream>

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

}  // namespace
}  // namespace storage
