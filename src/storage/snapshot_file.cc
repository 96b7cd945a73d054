#include "storage/snapshot_file.h"

#include <xxhash.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "raft/byte_codec.h"
#include "raft/codec.h"

namespace storage {
namespace {

constexpr char kMagic[8] = {'R', 'A', 'F', 'T', 'K', 'V', 'S', 'N'};
// Version 1 put the data's length before the data; version 2 (written since) puts it
// after, so that a snapshot can be written before its size is known. Both are read.
constexpr uint32_t kVersion1 = 1;
constexpr uint32_t kVersion2 = 2;
// The smallest file: magic, version, index, term, two empty fields, length, checksum.
constexpr uint64_t kMinSize = 8 + 4 + 16 + 4 + 4 + 8 + 8;
constexpr char kTruncated[] = "truncated header";
// The pieces a snapshot file is verified in: memory for one, not for the snapshot.
constexpr uint64_t kVerifyPieceBytes = 1 << 20;

void free_hash(XXH3_state_s* h) { XXH3_freeState(h); }

// What both versions start with: magic, version, index, term, membership, timeouts.
struct Header {
  uint32_t version = 0;
  raft::SnapshotMeta meta;
  uint64_t end = 0;  // the bytes it takes
};

// Parses the header at the start of `bytes`; an empty string when it is whole and
// sound, else what is wrong (kTruncated when `bytes` ends inside it).
std::string parse_header(std::string_view bytes, Header* h) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    return "not a raftkv snapshot (bad magic or truncated)";
  }
  raft::ByteReader r(bytes.substr(8));
  if (!r.u32(&h->version)) return kTruncated;
  if (h->version != kVersion1 && h->version != kVersion2) {
    return "format version " + std::to_string(h->version) + " is unknown to this binary";
  }
  uint64_t index = 0, term = 0;
  if (!r.u64(&index) || !r.u64(&term)) return kTruncated;
  h->meta.last = {raft::Term(term), raft::LogIndex(index)};
  auto field = [&](std::string_view* out) {
    uint32_t n = 0;
    return r.u32(&n) && r.bytes(n, out);
  };
  std::string_view m, t;
  if (!field(&m) || !field(&t)) return kTruncated;
  auto membership = raft::decode_membership(m);
  auto timeouts = raft::decode_timeouts(t);
  if (!membership || !timeouts) return "bad membership or timeouts";
  h->meta.membership = *membership;
  h->meta.timeouts = *timeouts;
  h->end = 8 + r.position();
  return "";
}

// Where the state machine bytes lie in a file whose body (all but the checksum) is
// `body_size` bytes; `u64_at` reads the length field. Empty string, or what is wrong.
template <typename ReadU64>
std::string data_extent(const Header& h, uint64_t body_size, ReadU64 u64_at, uint64_t* offset,
                        uint64_t* n) {
  uint64_t length = 0;
  if (h.version == kVersion1) {  // length | data
    if (body_size < h.end + 8) return kTruncated;
    if (Status s = u64_at(h.end, &length); !s.is_ok()) return s.message();
    *offset = h.end + 8;
    if (length != body_size - *offset) return "data length does not match the file";
  } else {  // data | length
    if (body_size < h.end + 8) return "data length does not match the file";
    if (Status s = u64_at(body_size - 8, &length); !s.is_ok()) return s.message();
    *offset = h.end;
    if (length != body_size - 8 - h.end) return "data length does not match the file";
  }
  *n = length;
  return "";
}

}  // namespace

std::string SnapshotStore::path(uint64_t index) const {
  char name[40];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".snap", index);
  return dir_ + "/" + name;
}

SnapshotWriter::SnapshotWriter(SnapshotStore& store, raft::SnapshotMeta meta, std::string tmp,
                               std::unique_ptr<WritableFile> file)
    : store_(store),
      meta_(std::move(meta)),
      tmp_(std::move(tmp)),
      file_(std::move(file)),
      hash_(XXH3_createState(), free_hash) {
  if (hash_ == nullptr || XXH3_64bits_reset(hash_.get()) != XXH_OK) {
    error_ = Status(Code::kIoError, "snapshot " + tmp_ + ": cannot compute its checksum");
  }
}

SnapshotWriter::~SnapshotWriter() {
  if (committed_) return;
  file_.reset();
  (void)store_.fs_.remove(tmp_);  // best effort: a leftover .tmp is never read
}

Status SnapshotWriter::write(std::string_view bytes) {
  if (!error_.is_ok()) return error_;
  if (committed_ || finished_ || file_ == nullptr) {
    return error_ = Status(Code::kInvalidArgument, "snapshot " + tmp_ + " is already " +
                                                       (committed_ ? "committed" : "finished") +
                                                       ": nothing more is written");
  }
  if (XXH3_64bits_update(hash_.get(), bytes.data(), bytes.size()) != XXH_OK) {
    return error_ = Status(Code::kIoError, "snapshot " + tmp_ + ": cannot compute its checksum");
  }
  if (Status s = file_->append(bytes); !s.is_ok()) return error_ = s;
  return Status::ok();
}

Status SnapshotWriter::append(std::string_view data) {
  if (Status s = write(data); !s.is_ok()) return s;
  size_ += data.size();
  return Status::ok();
}

Status SnapshotWriter::finish() {
  if (finished_) return error_;
  std::string length;
  raft::ByteWriter(&length).u64(size_);
  if (Status s = write(length); !s.is_ok()) return s;
  std::string sum;
  raft::ByteWriter(&sum).u64(XXH3_64bits_digest(hash_.get()));
  if (Status s = file_->append(sum); !s.is_ok()) return error_ = s;
  if (Status s = file_->sync(); !s.is_ok()) return error_ = s;
  file_.reset();
  finished_ = true;
  return Status::ok();
}

Status SnapshotWriter::commit() {
  if (committed_) {
    return error_ = Status(Code::kInvalidArgument, "snapshot " + tmp_ + " is already committed");
  }
  if (Status s = finish(); !s.is_ok()) return s;
  if (Status s = store_.publish(tmp_, meta_.last.index.value()); !s.is_ok()) return error_ = s;
  committed_ = true;
  return Status::ok();
}

Status SnapshotReader::read(uint64_t offset, uint64_t n, std::string* out) const {
  if (offset > size_ || n > size_ - offset) {
    return Status(Code::kInvalidArgument, "snapshot " + std::to_string(meta_.last.index.value()) +
                                              ": " + std::to_string(n) + " bytes at " +
                                              std::to_string(offset) + " run past its " +
                                              std::to_string(size_) + " bytes");
  }
  return file_->read_at(offset_ + offset, n, out);
}

Status SnapshotReader::verify() const {
  auto corrupt = [&](const std::string& what) {
    return Status(Code::kCorruption, "snapshot " + path_ + ": " + what);
  };
  const uint64_t body = file_->size() - 8;  // open() checked it holds a checksum
  std::unique_ptr<XXH3_state_s, void (*)(XXH3_state_s*)> hash(XXH3_createState(), free_hash);
  if (hash == nullptr || XXH3_64bits_reset(hash.get()) != XXH_OK) {
    return Status(Code::kIoError, "snapshot " + path_ + ": cannot compute its checksum");
  }
  std::string piece;
  for (uint64_t at = 0; at < body; at += piece.size()) {
    if (Status s = file_->read_at(at, std::min(kVerifyPieceBytes, body - at), &piece); !s.is_ok()) {
      return s;
    }
    if (XXH3_64bits_update(hash.get(), piece.data(), piece.size()) != XXH_OK) {
      return Status(Code::kIoError, "snapshot " + path_ + ": cannot compute its checksum");
    }
  }
  if (Status s = file_->read_at(body, 8, &piece); !s.is_ok()) return s;
  uint64_t checksum = 0;
  if (raft::ByteReader tail(piece);
      !tail.u64(&checksum) || checksum != XXH3_64bits_digest(hash.get())) {
    return corrupt("bad checksum at offset " + std::to_string(body));
  }
  return Status::ok();
}

ReceivedSnapshot::~ReceivedSnapshot() {
  out_.reset();
  in_.reset();
  (void)fs_.remove(path_);  // best effort: a leftover is never read, and cleared at open
}

Status ReceivedSnapshot::append(std::string_view data) {
  if (!error_.is_ok()) return error_;
  if (out_ == nullptr) {
    return error_ = Status(Code::kInvalidArgument, "received snapshot " + path_ + " is finished");
  }
  if (Status s = out_->append(data); !s.is_ok()) return error_ = s;
  size_ += data.size();
  return Status::ok();
}

Status ReceivedSnapshot::finish() {
  if (!error_.is_ok()) return error_;
  if (out_ == nullptr) return Status::ok();
  // Opened for reading while the writer is still open: the bytes need no fsync to be
  // read back (the page cache has them), and a file system that keeps unsynced bytes
  // in the writer (the chaos harness's) hands them over when the file is opened.
  StatusOr<std::unique_ptr<ReadableFile>> in = fs_.open_for_read(path_);
  out_.reset();
  if (!in.is_ok()) return error_ = in.status();
  if (in.value()->size() != size_) {
    return error_ =
               Status(Code::kIoError, "received snapshot " + path_ + " holds " +
                                          std::to_string(in.value()->size()) + " bytes, not the " +
                                          std::to_string(size_) + " written");
  }
  in_ = std::move(in.value());
  return Status::ok();
}

Status ReceivedSnapshot::read(uint64_t offset, uint64_t n, std::string* out) const {
  if (in_ == nullptr) {
    return Status(Code::kInvalidArgument, "received snapshot " + path_ + " is not finished");
  }
  if (offset > size_ || n > size_ - offset) {
    return Status(Code::kInvalidArgument, "received snapshot " + path_ + ": " + std::to_string(n) +
                                              " bytes at " + std::to_string(offset) +
                                              " run past its " + std::to_string(size_) + " bytes");
  }
  return in_->read_at(offset, n, out);
}

StatusOr<std::unique_ptr<ReceivedSnapshot>> SnapshotStore::receive(uint64_t index) {
  if (Status st = fs_.create_dir(dir_); !st.is_ok()) return st;
  char name[64];
  std::snprintf(name, sizeof name, "%016" PRIx64 "-%" PRIu64 ".recv.snap.tmp", index,
                received_.fetch_add(1));
  const std::string file = dir_ + "/" + name;
  StatusOr<std::unique_ptr<WritableFile>> f = fs_.open_for_append(file, 0, 0);
  if (!f.is_ok()) return f.status();
  if (Status st = f.value()->truncate(0); !st.is_ok()) return st;
  return std::unique_ptr<ReceivedSnapshot>(new ReceivedSnapshot(fs_, file, std::move(f.value())));
}

StatusOr<std::unique_ptr<SnapshotWriter>> SnapshotStore::begin(const raft::SnapshotMeta& meta) {
  if (Status st = fs_.create_dir(dir_); !st.is_ok()) return st;
  // magic | version u32 | index u64 | term u64 | membership len u32 | membership |
  // timeouts len u32 | timeouts | data | data len u64 | xxh3-64 of everything before.
  std::string head;
  raft::ByteWriter w(&head);
  w.bytes(std::string_view(kMagic, 8));
  w.u32(kVersion2);
  w.u64(meta.last.index.value());
  w.u64(meta.last.term.value());
  const std::string m = raft::encode_membership(meta.membership);
  w.u32(static_cast<uint32_t>(m.size()));
  w.bytes(m);
  const std::string t = raft::encode_timeouts(meta.timeouts);
  w.u32(static_cast<uint32_t>(t.size()));
  w.bytes(t);

  const std::string tmp = path(meta.last.index.value()) + ".tmp";
  StatusOr<std::unique_ptr<WritableFile>> f = fs_.open_for_append(tmp, 0, 0);
  if (!f.is_ok()) return f.status();
  if (Status st = f.value()->truncate(0); !st.is_ok()) return st;
  std::unique_ptr<SnapshotWriter> writer(
      new SnapshotWriter(*this, meta, tmp, std::move(f.value())));
  if (Status st = writer->write(head); !st.is_ok()) return st;
  return writer;
}

Status SnapshotStore::save(const StoredSnapshot& s) { return save(s.meta, s.data); }

Status SnapshotStore::save(const raft::SnapshotMeta& meta, std::string_view data) {
  StatusOr<std::unique_ptr<SnapshotWriter>> w = begin(meta);
  if (!w.is_ok()) return w.status();
  if (Status st = w.value()->append(data); !st.is_ok()) return st;
  return w.value()->commit();
}

Status SnapshotStore::publish(const std::string& tmp, uint64_t index) {
  if (Status st = fs_.rename(tmp, path(index)); !st.is_ok()) return st;
  if (Status st = fs_.sync_dir(dir_); !st.is_ok()) return st;
  StatusOr<std::vector<uint64_t>> all = list();
  if (!all.is_ok()) return all.status();
  for (size_t k = 0; k + keep_ < all.value().size(); ++k) {
    if (Status st = fs_.remove(path(all.value()[k])); !st.is_ok()) return st;
  }
  return fs_.sync_dir(dir_);
}

StatusOr<std::vector<uint64_t>> SnapshotStore::list() {
  StatusOr<std::vector<std::string>> names = fs_.list(dir_);
  if (!names.is_ok()) return names.status();
  std::vector<uint64_t> out;
  for (const std::string& name : names.value()) {
    uint64_t index = 0;
    char rest[8] = {0};
    if (name.size() == 21 && std::sscanf(name.c_str(), "%16" SCNx64 ".%4s", &index, rest) == 2 &&
        std::strcmp(rest, "snap") == 0) {
      out.push_back(index);
    }
  }
  return out;  // names sort by index: fixed-width hex
}

Status SnapshotStore::remove_temporaries() {
  StatusOr<std::vector<std::string>> names = fs_.list(dir_);
  if (!names.is_ok()) return names.status();
  bool removed = false;
  for (const std::string& name : names.value()) {
    if (name.size() > 9 && name.ends_with(".snap.tmp")) {
      if (Status st = fs_.remove(dir_ + "/" + name); !st.is_ok()) return st;
      removed = true;
    }
  }
  return removed ? fs_.sync_dir(dir_) : Status::ok();
}

StatusOr<StoredSnapshot> SnapshotStore::load_latest() {
  StatusOr<std::vector<uint64_t>> all = list();
  if (!all.is_ok()) return all.status();
  if (all.value().empty()) return Status(Code::kInvalidArgument, "no snapshot in " + dir_);
  const std::string file = path(all.value().back());
  StatusOr<std::string> read = fs_.read_file(file);
  if (!read.is_ok()) return read.status();
  const std::string& in = read.value();
  auto corrupt = [&](const std::string& what) {
    return Status(Code::kCorruption, "snapshot " + file + ": " + what);
  };
  if (in.size() < kMinSize || std::memcmp(in.data(), kMagic, 8) != 0) {
    return corrupt("not a raftkv snapshot (bad magic or truncated)");
  }
  // The checksum (the last 8 bytes) covers everything before it: the body read below.
  const std::string_view body = std::string_view(in).substr(0, in.size() - 8);
  uint64_t checksum = 0;
  if (raft::ByteReader tail(std::string_view(in).substr(body.size()));
      !tail.u64(&checksum) || checksum != XXH3_64bits(body.data(), body.size())) {
    return corrupt("bad checksum at offset " + std::to_string(body.size()));
  }
  Header h;
  if (std::string why = parse_header(body, &h); !why.empty()) return corrupt(why);
  uint64_t offset = 0, n = 0;
  auto u64_at = [&](uint64_t at, uint64_t* v) {
    raft::ByteReader r(body.substr(at, 8));
    return r.u64(v) ? Status::ok() : Status(Code::kCorruption, kTruncated);
  };
  if (std::string why = data_extent(h, body.size(), u64_at, &offset, &n); !why.empty()) {
    return corrupt(why);
  }
  StoredSnapshot s;
  s.meta = h.meta;
  // The file's own buffer becomes the data (the header moved out of the way, the tail
  // cut off) instead of a copy of a snapshot that can be as large as the store.
  std::string data = std::move(read.value());
  data.resize(offset + n);
  data.erase(0, offset);
  s.data = std::move(data);
  return s;
}

StatusOr<std::unique_ptr<SnapshotReader>> SnapshotStore::open(uint64_t index) {
  const std::string file = path(index);
  StatusOr<std::unique_ptr<ReadableFile>> f = fs_.open_for_read(file);
  if (!f.is_ok()) return f.status();
  ReadableFile& in = *f.value();
  auto corrupt = [&](const std::string& what) {
    return Status(Code::kCorruption, "snapshot " + file + ": " + what);
  };
  if (in.size() < kMinSize) return corrupt("not a raftkv snapshot (bad magic or truncated)");
  // The header is small: read a piece of the file, more only if the header runs on.
  Header h;
  std::string head, why;
  for (uint64_t want = std::min<uint64_t>(in.size(), 64 * 1024);; want *= 16) {
    want = std::min(want, in.size());
    if (Status s = in.read_at(0, want, &head); !s.is_ok()) return s;
    why = parse_header(head, &h);
    if (why != kTruncated || want == in.size()) break;
  }
  if (!why.empty()) return corrupt(why);
  uint64_t offset = 0, n = 0;
  auto u64_at = [&](uint64_t at, uint64_t* v) {
    std::string b;
    if (Status s = in.read_at(at, 8, &b); !s.is_ok()) return s;
    raft::ByteReader r(b);
    return r.u64(v) ? Status::ok() : Status(Code::kCorruption, kTruncated);
  };
  if (std::string why2 = data_extent(h, in.size() - 8, u64_at, &offset, &n); !why2.empty()) {
    return corrupt(why2);
  }
  return std::unique_ptr<SnapshotReader>(
      new SnapshotReader(file, h.meta, std::move(f.value()), offset, n));
}

StatusOr<std::unique_ptr<SnapshotReader>> SnapshotStore::open_latest() {
  StatusOr<std::vector<uint64_t>> all = list();
  if (!all.is_ok()) return all.status();
  if (all.value().empty()) return Status(Code::kInvalidArgument, "no snapshot in " + dir_);
  StatusOr<std::unique_ptr<SnapshotReader>> reader = open(all.value().back());
  if (!reader.is_ok()) return reader;
  if (Status s = reader.value()->verify(); !s.is_ok()) return s;
  return reader;
}

}  // namespace storage
