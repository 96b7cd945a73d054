#include "storage/snapshot_file.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

#include "raft/byte_codec.h"
#include "raft/codec.h"

namespace storage {
namespace {

constexpr char kMagic[8] = {'R', 'A', 'F', 'T', 'K', 'V', 'S', 'N'};
constexpr uint32_t kFormatVersion = 1;

}  // namespace

std::string SnapshotStore::path(uint64_t index) const {
  char name[40];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".snap", index);
  return dir_ + "/" + name;
}

Status SnapshotStore::save(const StoredSnapshot& s) { return save(s.meta, s.data); }

Status SnapshotStore::save(const raft::SnapshotMeta& meta, std::string_view data) {
  if (Status st = fs_.create_dir(dir_); !st.is_ok()) return st;
  // magic | version u32 | index u64 | term u64 | membership len u32 | membership |
  // timeouts len u32 | timeouts | data len u64 | data | xxh3-64 of everything before.
  // Written as head, data, tail: the data is not copied.
  std::string head;
  raft::ByteWriter w(&head);
  w.bytes(std::string_view(kMagic, 8));
  w.u32(kFormatVersion);
  w.u64(meta.last.index.value());
  w.u64(meta.last.term.value());
  const std::string m = raft::encode_membership(meta.membership);
  w.u32(static_cast<uint32_t>(m.size()));
  w.bytes(m);
  const std::string t = raft::encode_timeouts(meta.timeouts);
  w.u32(static_cast<uint32_t>(t.size()));
  w.bytes(t);
  w.u64(data.size());
  const std::unique_ptr<XXH3_state_t, XXH_errorcode (*)(XXH3_state_t*)> hash(XXH3_createState(),
                                                                             XXH3_freeState);
  if (hash == nullptr || XXH3_64bits_reset(hash.get()) != XXH_OK ||
      XXH3_64bits_update(hash.get(), head.data(), head.size()) != XXH_OK ||
      XXH3_64bits_update(hash.get(), data.data(), data.size()) != XXH_OK) {
    return Status(Code::kIoError, "snapshot " + path(meta.last.index.value()) +
                                      ": cannot compute its checksum (out of memory)");
  }
  std::string tail;
  raft::ByteWriter(&tail).u64(XXH3_64bits_digest(hash.get()));

  const std::string final_path = path(meta.last.index.value());
  const std::string tmp = final_path + ".tmp";
  StatusOr<std::unique_ptr<WritableFile>> f = fs_.open_for_append(tmp, 0, 0);
  if (!f.is_ok()) return f.status();
  if (Status st = f.value()->truncate(0); !st.is_ok()) return st;
  for (std::string_view part : {std::string_view(head), data, std::string_view(tail)}) {
    if (Status st = f.value()->append(part); !st.is_ok()) return st;
  }
  if (Status st = f.value()->sync(); !st.is_ok()) return st;
  f.value().reset();
  if (Status st = fs_.rename(tmp, final_path); !st.is_ok()) return st;
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
  if (in.size() < 8 + 4 + 16 + 4 + 4 + 8 + 8 || std::memcmp(in.data(), kMagic, 8) != 0) {
    return corrupt("not a raftkv snapshot (bad magic or truncated)");
  }
  // The checksum (the last 8 bytes) covers everything before it: the body read below.
  const std::string_view body = std::string_view(in).substr(0, in.size() - 8);
  uint64_t checksum = 0;
  if (raft::ByteReader tail(std::string_view(in).substr(body.size()));
      !tail.u64(&checksum) || checksum != XXH3_64bits(body.data(), body.size())) {
    return corrupt("bad checksum at offset " + std::to_string(body.size()));
  }
  raft::ByteReader r(body.substr(8));  // after the magic, checked above
  uint32_t version = 0;
  if (!r.u32(&version) || version != kFormatVersion) {
    return corrupt("format version " + std::to_string(version) + " is unknown to this binary");
  }
  StoredSnapshot s;
  uint64_t index = 0, term = 0;
  if (!r.u64(&index) || !r.u64(&term)) return corrupt("truncated header");
  s.meta.last = {raft::Term(term), raft::LogIndex(index)};
  auto field = [&](std::string_view* out) {
    uint32_t n = 0;
    return r.u32(&n) && r.bytes(n, out);
  };
  std::string_view m, t;
  uint64_t n = 0;
  if (!field(&m) || !field(&t) || !r.u64(&n)) return corrupt("truncated header");
  auto membership = raft::decode_membership(m);
  auto timeouts = raft::decode_timeouts(t);
  if (!membership || !timeouts) return corrupt("bad membership or timeouts");
  s.meta.membership = *membership;
  s.meta.timeouts = *timeouts;
  if (r.remaining() != n) return corrupt("data length does not match the file");
  // The data is the body's last n bytes: the file's own buffer becomes it (the header
  // moved out of the way, the checksum cut off) instead of a copy of a snapshot that can
  // be as large as the store.
  const size_t body_size = body.size();
  std::string data = std::move(read.value());
  data.resize(body_size);
  data.erase(0, body_size - n);
  s.data = std::move(data);
  return s;
}

}  // namespace storage
