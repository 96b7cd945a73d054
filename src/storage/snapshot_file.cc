#include "storage/snapshot_file.h"

#include <xxhash.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "raft/byte_codec.h"
#include "raft/codec.h"

namespace storage {
namespace {

constexpr char kMagic[8] = {'R', 'A', 'F', 'T', 'K', 'V', 'S', 'N'};
// Version 1 put the data's length before the data; version 2 (written since) puts it
// after, so that a snapshot can be written before its size is known. Version 3 is
// version 2 naming, after the header, the snapshot whose bytes its own continue (a
// delta); a full snapshot is still written as version 2. All three are read.
constexpr uint32_t kVersion1 = 1;
constexpr uint32_t kVersion2 = 2;
constexpr uint32_t kVersion3 = 3;
// The smallest file: magic, version, index, term, two empty fields, length, checksum.
constexpr uint64_t kMinSize = 8 + 4 + 16 + 4 + 4 + 8 + 8;
constexpr char kTruncated[] = "truncated header";
// The pieces a snapshot file is verified in: memory for one, not for the snapshot.
constexpr uint64_t kVerifyPieceBytes = 1 << 20;
// The most links a chain may have. A base is always older than its delta, so a walk
// ends anyway; the bound keeps it (and the files a reader holds open, one per link)
// short on a directory that was not written by this code.
constexpr size_t kMaxChainLinks = 10000;

void free_hash(XXH3_state_s* h) { XXH3_freeState(h); }

// What every version starts with: magic, version, index, term, membership, timeouts;
// then, in version 3, the snapshot it extends.
struct Header {
  uint32_t version = 0;
  raft::SnapshotMeta meta;
  uint64_t base = 0;           // version 3: the snapshot it extends, below meta.last.index
  uint64_t base_checksum = 0;  // version 3: that snapshot's checksum when this was written
  uint64_t end = 0;            // the bytes it takes
};

std::string hex64(uint64_t v) {
  char out[24];
  std::snprintf(out, sizeof out, "%016" PRIx64, v);
  return out;
}

// Parses the header at the start of `bytes`; an empty string when it is whole and
// sound, else what is wrong (kTruncated when `bytes` ends inside it).
std::string parse_header(std::string_view bytes, Header* h) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    return "not a raftkv snapshot (bad magic or truncated)";
  }
  raft::ByteReader r(bytes.substr(8));
  if (!r.u32(&h->version)) return kTruncated;
  if (h->version != kVersion1 && h->version != kVersion2 && h->version != kVersion3) {
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
  if (h->version == kVersion3) {
    if (!r.u64(&h->base) || !r.u64(&h->base_checksum)) return kTruncated;
    // A base is older than its delta: that is what makes every chain end.
    if (h->base == 0) return "a delta (version 3) that names no snapshot it extends";
    if (h->base >= index) {
      return "extends snapshot " + std::to_string(h->base) + ", which is not below its own index " +
             std::to_string(index);
    }
  }
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
  } else {  // data | length (versions 2 and 3)
    if (body_size < h.end + 8) return "data length does not match the file";
    if (Status s = u64_at(body_size - 8, &length); !s.is_ok()) return s.message();
    *offset = h.end;
    if (length != body_size - 8 - h.end) return "data length does not match the file";
  }
  *n = length;
  return "";
}

Status corruption(const std::string& file, const std::string& what) {
  return Status(Code::kCorruption, "snapshot " + file + ": " + what);
}

// An error found in `file`, one of the files of the snapshot `asked` for: said as the
// asked snapshot's, so that every error about a snapshot starts with its own name, and
// naming the file of the chain it is in.
Status in_chain(const std::string& asked, const std::string& file, Status s) {
  if (s.is_ok() || file == asked) return s;
  return Status(s.code(), "snapshot " + asked + ": in its chain, " + s.message());
}

// What is wrong when the file at `base` is not the one `delta` was written on.
std::string not_its_base(const std::string& base, uint64_t actual, uint64_t recorded) {
  return "extends snapshot " + base +
         ", which is not the snapshot it was written on (its checksum is " + hex64(actual) +
         ", not the " + hex64(recorded) + " recorded here)";
}

// A snapshot file opened for reading: its header and lengths checked, its checksum not.
struct OpenedFile {
  Header h;
  std::unique_ptr<ReadableFile> file;
  uint64_t offset = 0;    // where the state machine bytes start in the file
  uint64_t size = 0;      // how many there are
  uint64_t checksum = 0;  // the file's last 8 bytes
};

Status open_file(FileSystem& fs, const std::string& file, OpenedFile* out) {
  StatusOr<std::unique_ptr<ReadableFile>> f = fs.open_for_read(file);
  if (!f.is_ok()) return f.status();
  ReadableFile& in = *f.value();
  if (in.size() < kMinSize) {
    return corruption(file, "not a raftkv snapshot (bad magic or truncated)");
  }
  // The header is small: read a piece of the file, more only if the header runs on.
  std::string head, why;
  for (uint64_t want = std::min<uint64_t>(in.size(), 64 * 1024);; want *= 16) {
    want = std::min(want, in.size());
    if (Status s = in.read_at(0, want, &head); !s.is_ok()) return s;
    why = parse_header(head, &out->h);
    if (why != kTruncated || want == in.size()) break;
  }
  if (!why.empty()) return corruption(file, why);
  auto u64_at = [&](uint64_t at, uint64_t* v) {
    std::string b;
    if (Status s = in.read_at(at, 8, &b); !s.is_ok()) return s;
    raft::ByteReader r(b);
    return r.u64(v) ? Status::ok() : Status(Code::kCorruption, kTruncated);
  };
  if (std::string why2 = data_extent(out->h, in.size() - 8, u64_at, &out->offset, &out->size);
      !why2.empty()) {
    return corruption(file, why2);
  }
  if (Status s = u64_at(in.size() - 8, &out->checksum); !s.is_ok()) return s;
  out->file = std::move(f.value());
  return Status::ok();
}

// The checksum in the last 8 bytes of `file`.
StatusOr<uint64_t> file_checksum(FileSystem& fs, const std::string& file) {
  StatusOr<std::unique_ptr<ReadableFile>> f = fs.open_for_read(file);
  if (!f.is_ok()) return f.status();
  if (f.value()->size() < kMinSize) {
    return corruption(file, "not a raftkv snapshot (bad magic or truncated)");
  }
  std::string b;
  if (Status s = f.value()->read_at(f.value()->size() - 8, 8, &b); !s.is_ok()) return s;
  uint64_t sum = 0;
  if (!raft::ByteReader(b).u64(&sum)) return corruption(file, kTruncated);
  return sum;
}

}  // namespace

std::string SnapshotStore::path(uint64_t index) const {
  char name[40];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".snap", index);
  return dir_ + "/" + name;
}

SnapshotWriter::SnapshotWriter(SnapshotStore& store, raft::SnapshotMeta meta, uint64_t base,
                               uint64_t base_checksum, std::string tmp,
                               std::unique_ptr<WritableFile> file)
    : store_(store),
      meta_(std::move(meta)),
      base_(base),
      base_checksum_(base_checksum),
      tmp_(std::move(tmp)),
      file_(std::move(file)),
      hash_(XXH3_createState(), free_hash),
      base_pinned_(base != 0) {  // begin() pinned it
  if (hash_ == nullptr || XXH3_64bits_reset(hash_.get()) != XXH_OK) {
    error_ = Status(Code::kIoError, "snapshot " + tmp_ + ": cannot compute its checksum");
  }
}

SnapshotWriter::~SnapshotWriter() {
  if (base_pinned_) store_.unpin(base_);
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
  if (Status s = store_.publish(tmp_, meta_.last.index.value(), base_, base_checksum_);
      !s.is_ok()) {
    return error_ = s;
  }
  committed_ = true;
  // Published: from now on the base stays because the new file's chain reaches it (while
  // the new file is one of the newest kept), not because this writer exists.
  if (base_pinned_) {
    store_.unpin(base_);
    base_pinned_ = false;
  }
  return Status::ok();
}

SnapshotReader::SnapshotReader(std::vector<Part> parts, raft::SnapshotMeta meta)
    : parts_(std::move(parts)), meta_(std::move(meta)) {
  for (Part& p : parts_) {
    p.start = size_;
    size_ += p.size;
  }
}

Status SnapshotReader::read(uint64_t offset, uint64_t n, std::string* out) const {
  if (offset > size_ || n > size_ - offset) {
    return Status(Code::kInvalidArgument, "snapshot " + std::to_string(meta_.last.index.value()) +
                                              ": " + std::to_string(n) + " bytes at " +
                                              std::to_string(offset) + " run past its " +
                                              std::to_string(size_) + " bytes");
  }
  if (parts_.size() == 1) return parts_[0].file->read_at(parts_[0].offset + offset, n, out);
  // The last part starting at or before `offset` holds it (a part of no bytes starts
  // where the next one does, and is passed over); the rest comes from the parts after.
  auto it = std::upper_bound(parts_.begin(), parts_.end(), offset,
                             [](uint64_t at, const Part& p) { return at < p.start; });
  --it;  // parts_[0] starts at 0
  out->clear();
  std::string piece;
  for (; n > 0 && it != parts_.end(); ++it) {
    const uint64_t at = offset - it->start;  // at most it->size: the parts are contiguous
    const uint64_t take = std::min(n, it->size - at);
    if (take == 0) continue;
    if (Status s = it->file->read_at(it->offset + at, take, &piece); !s.is_ok()) return s;
    out->append(piece);
    offset += take;
    n -= take;
  }
  return Status::ok();
}

Status SnapshotReader::verify() const { return verify_into(nullptr); }

Status SnapshotReader::verify_into(std::string* data) const {
  const std::string& asked = parts_.back().path;
  std::unique_ptr<XXH3_state_s, void (*)(XXH3_state_s*)> hash(XXH3_createState(), free_hash);
  std::string piece;
  uint64_t older = 0;  // the checksum the part before holds
  for (size_t k = 0; k < parts_.size(); ++k) {
    const Part& p = parts_[k];
    if (hash == nullptr || XXH3_64bits_reset(hash.get()) != XXH_OK) {
      return in_chain(
          asked, p.path,
          Status(Code::kIoError, "snapshot " + p.path + ": cannot compute its checksum"));
    }
    const uint64_t body = p.file->size() - 8;  // open() checked it holds a checksum
    for (uint64_t at = 0; at < body; at += piece.size()) {
      if (Status s = p.file->read_at(at, std::min(kVerifyPieceBytes, body - at), &piece);
          !s.is_ok()) {
        return in_chain(asked, p.path, s);
      }
      if (XXH3_64bits_update(hash.get(), piece.data(), piece.size()) != XXH_OK) {
        return in_chain(
            asked, p.path,
            Status(Code::kIoError, "snapshot " + p.path + ": cannot compute its checksum"));
      }
      if (data != nullptr) {  // the piece's share of the state machine bytes
        const uint64_t from = std::max(at, p.offset);
        const uint64_t to = std::min(at + piece.size(), p.offset + p.size);
        if (from < to) data->append(piece, from - at, to - from);
      }
    }
    if (Status s = p.file->read_at(body, 8, &piece); !s.is_ok()) return in_chain(asked, p.path, s);
    uint64_t checksum = 0;
    if (raft::ByteReader tail(piece);
        !tail.u64(&checksum) || checksum != XXH3_64bits_digest(hash.get())) {
      return in_chain(asked, p.path,
                      corruption(p.path, "bad checksum at offset " + std::to_string(body)));
    }
    // Each file is sound on its own; a delta must also continue the very file it was
    // written on, not another snapshot saved at that index since.
    if (k > 0 && p.base_checksum != older) {
      return in_chain(asked, p.path,
                      corruption(p.path, not_its_base(parts_[k - 1].path, older, p.base_checksum)));
    }
    older = checksum;
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

StatusOr<std::unique_ptr<SnapshotWriter>> SnapshotStore::begin(const raft::SnapshotMeta& meta,
                                                               uint64_t base) {
  const uint64_t index = meta.last.index.value();
  if (base != 0 && base >= index) {
    return Status(Code::kInvalidArgument, "snapshot " + std::to_string(index) +
                                              " cannot extend snapshot " + std::to_string(base) +
                                              " in " + dir_ +
                                              ": a snapshot extends an older one (a lower index)");
  }
  if (Status st = fs_.create_dir(dir_); !st.is_ok()) return st;
  uint64_t base_checksum = 0;
  if (base != 0) {
    // Under mu_: a file publish() is naming is not seen before it is durable, and once
    // pinned the base outlives every publish until the writer is done with it.
    std::lock_guard<std::mutex> lock(mu_);
    StatusOr<std::vector<uint64_t>> all = list();
    if (!all.is_ok()) return all.status();
    if (!std::binary_search(all.value().begin(), all.value().end(), base)) {
      return Status(Code::kInvalidArgument, "snapshot " + std::to_string(index) +
                                                " cannot extend snapshot " + std::to_string(base) +
                                                ": there is no snapshot " + std::to_string(base) +
                                                " in " + dir_);
    }
    // A delta on a chain already broken could never be read: its headers and links are
    // checked here (its checksums were when its files were written or restored from).
    StatusOr<std::unique_ptr<SnapshotReader>> chain = open(base);
    if (!chain.is_ok()) return chain.status();
    base_checksum = chain.value()->parts_.back().checksum;
    pinned_.insert(base);
  }
  auto unpinned = [&](Status st) {
    if (base != 0) unpin(base);
    return st;
  };
  // magic | version u32 | index u64 | term u64 | membership len u32 | membership |
  // timeouts len u32 | timeouts | [version 3: base index u64 | base checksum u64] |
  // data | data len u64 | xxh3-64 of everything before.
  std::string head;
  raft::ByteWriter w(&head);
  w.bytes(std::string_view(kMagic, 8));
  w.u32(base == 0 ? kVersion2 : kVersion3);
  w.u64(index);
  w.u64(meta.last.term.value());
  const std::string m = raft::encode_membership(meta.membership);
  w.u32(static_cast<uint32_t>(m.size()));
  w.bytes(m);
  const std::string t = raft::encode_timeouts(meta.timeouts);
  w.u32(static_cast<uint32_t>(t.size()));
  w.bytes(t);
  if (base != 0) {
    w.u64(base);
    w.u64(base_checksum);
  }

  const std::string tmp = path(index) + ".tmp";
  StatusOr<std::unique_ptr<WritableFile>> f = fs_.open_for_append(tmp, 0, 0);
  if (!f.is_ok()) return unpinned(f.status());
  if (Status st = f.value()->truncate(0); !st.is_ok()) return unpinned(st);
  // From here the writer unpins the base when it goes.
  std::unique_ptr<SnapshotWriter> writer(
      new SnapshotWriter(*this, meta, base, base_checksum, tmp, std::move(f.value())));
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

Status SnapshotStore::publish(const std::string& tmp, uint64_t index, uint64_t base,
                              uint64_t base_checksum) {
  std::lock_guard<std::mutex> lock(mu_);
  if (base != 0) {
    // The base was pinned, so no publish deleted it; but a hand may have, or a snapshot
    // from the leader saved at the same index may have replaced it: this delta would then
    // continue bytes other than those it was written after, and is not named.
    StatusOr<std::vector<uint64_t>> all = list();
    if (!all.is_ok()) return all.status();
    if (!std::binary_search(all.value().begin(), all.value().end(), base)) {
      return Status(Code::kInvalidArgument, "snapshot " + tmp + " extends snapshot " +
                                                std::to_string(base) + " (" + path(base) +
                                                "), which was deleted since it was begun: "
                                                "not published");
    }
    StatusOr<uint64_t> sum = file_checksum(fs_, path(base));
    if (!sum.is_ok()) return sum.status();
    if (sum.value() != base_checksum) {
      return Status(Code::kInvalidArgument,
                    "snapshot " + tmp + " extends snapshot " + path(base) +
                        ", which was replaced since it was begun (its checksum is " +
                        hex64(sum.value()) + ", not " + hex64(base_checksum) + "): not published");
    }
  }
  if (Status st = fs_.rename(tmp, path(index)); !st.is_ok()) return st;
  if (Status st = fs_.sync_dir(dir_); !st.is_ok()) return st;
  if (Status st = remove_unneeded(); !st.is_ok()) return st;
  return fs_.sync_dir(dir_);
}

Status SnapshotStore::remove_unneeded() {
  StatusOr<std::vector<uint64_t>> all = list();
  if (!all.is_ok()) return all.status();
  const std::vector<uint64_t>& files = all.value();
  const size_t keep = static_cast<size_t>(std::max(keep_, 0));
  // Newest first: a file is needed when it is one of the newest `keep`, pinned by a delta
  // being written, or the base of a needed file. A base is older than its delta, so one
  // pass finds them all.
  std::set<uint64_t> needed(pinned_.begin(), pinned_.end());
  bool keep_older = false;         // a needed file's header did not read: what it needs is unknown
  std::vector<uint64_t> unneeded;  // newest first: a delta goes before its base
  for (size_t k = files.size(); k-- > 0;) {
    const uint64_t index = files[k];
    if (keep_older) continue;
    if (files.size() - k > keep && !needed.contains(index)) {
      unneeded.push_back(index);
      continue;
    }
    StatusOr<uint64_t> base = base_of(index);
    if (!base.is_ok()) {
      keep_older = true;  // deleting nothing older cannot break a chain
    } else if (base.value() != 0) {
      needed.insert(base.value());
    }
  }
  for (uint64_t index : unneeded) {
    if (Status st = fs_.remove(path(index)); !st.is_ok()) return st;
  }
  return Status::ok();
}

void SnapshotStore::unpin(uint64_t base) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pinned_.find(base);
  if (it == pinned_.end()) {
    std::fprintf(stderr,
                 "snapshot store %s: unpinning base %" PRIu64
                 ", which no writer pinned (each delta writer pins its base once)\n",
                 dir_.c_str(), base);
    std::abort();
  }
  pinned_.erase(it);  // one writer's pin; another writer may extend the same base
}

StatusOr<uint64_t> SnapshotStore::base_of(uint64_t index) {
  OpenedFile f;
  if (Status s = open_file(fs_, path(index), &f); !s.is_ok()) return s;
  return f.h.base;
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
  if (h.version == kVersion3) {
    // A delta: the bytes of the snapshots it extends come first. The chain is read again
    // through a reader, each file's checksum checked as its bytes are copied, so that
    // besides the result only a piece is held, not a second copy of any file.
    read.value() = std::string();
    StatusOr<std::unique_ptr<SnapshotReader>> chain = open(all.value().back());
    if (!chain.is_ok()) return chain.status();
    StoredSnapshot s;
    s.meta = chain.value()->meta();
    s.data.reserve(chain.value()->size());
    if (Status st = chain.value()->verify_into(&s.data); !st.is_ok()) return st;
    return s;
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
  const std::string asked = path(index);
  std::vector<SnapshotReader::Part> parts;  // newest first until the walk ends
  raft::SnapshotMeta meta;
  std::vector<uint64_t> listed;  // the directory, listed once a delta needs a base
  for (uint64_t at = index;;) {
    const std::string file = path(at);
    OpenedFile f;
    if (Status s = open_file(fs_, file, &f); !s.is_ok()) return in_chain(asked, file, s);
    if (!parts.empty() && parts.back().base_checksum != f.checksum) {
      const std::string& delta = parts.back().path;
      return in_chain(
          asked, delta,
          corruption(delta, not_its_base(file, f.checksum, parts.back().base_checksum)));
    }
    if (parts.empty()) meta = f.h.meta;
    parts.push_back(SnapshotReader::Part{.path = file,
                                         .file = std::move(f.file),
                                         .offset = f.offset,
                                         .size = f.size,
                                         .base = f.h.base,
                                         .base_checksum = f.h.base_checksum,
                                         .checksum = f.checksum});
    if (f.h.version != kVersion3) break;
    // A delta: the snapshot it extends comes before it. parse_header checked that the
    // base is older, so the walk ends; the bound keeps it short.
    if (parts.size() > kMaxChainLinks) {
      return corruption(asked, "its chain runs past " + std::to_string(kMaxChainLinks) +
                                   " links (" + file + " extends snapshot " +
                                   std::to_string(f.h.base) + ")");
    }
    if (listed.empty()) {
      StatusOr<std::vector<uint64_t>> all = list();
      if (!all.is_ok()) return all.status();
      listed = std::move(all.value());
    }
    if (!std::binary_search(listed.begin(), listed.end(), f.h.base)) {
      return in_chain(asked, file,
                      corruption(file, "extends snapshot " + std::to_string(f.h.base) + " (" +
                                           path(f.h.base) + "), which is missing"));
    }
    at = f.h.base;
  }
  std::reverse(parts.begin(), parts.end());
  return std::unique_ptr<SnapshotReader>(new SnapshotReader(std::move(parts), std::move(meta)));
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
