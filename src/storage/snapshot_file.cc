#include "storage/snapshot_file.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "raft/codec.h"
#include "storage/encoding.h"

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

Status SnapshotStore::save(const StoredSnapshot& s) {
  if (Status st = fs_.create_dir(dir_); !st.is_ok()) return st;
  // magic | version u32 | index u64 | term u64 | membership len u32 | membership |
  // timeouts len u32 | timeouts | data len u64 | data | xxh3-64 of everything before
  std::string out(kMagic, 8);
  put_u32(out, kFormatVersion);
  put_u64(out, s.meta.last.index.value());
  put_u64(out, s.meta.last.term.value());
  const std::string m = raft::encode_membership(s.meta.membership);
  put_u32(out, static_cast<uint32_t>(m.size()));
  out += m;
  const std::string t = raft::encode_timeouts(s.meta.timeouts);
  put_u32(out, static_cast<uint32_t>(t.size()));
  out += t;
  put_u64(out, s.data.size());
  out += s.data;
  put_u64(out, XXH3_64bits(out.data(), out.size()));

  const std::string final_path = path(s.meta.last.index.value());
  const std::string tmp = final_path + ".tmp";
  StatusOr<std::unique_ptr<WritableFile>> f = fs_.open_for_append(tmp, 0, 0);
  if (!f.is_ok()) return f.status();
  if (Status st = f.value()->truncate(0); !st.is_ok()) return st;
  if (Status st = f.value()->append(out); !st.is_ok()) return st;
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
  if (get_le(in, in.size() - 8, 8) != XXH3_64bits(in.data(), in.size() - 8)) {
    return corrupt("bad checksum at offset " + std::to_string(in.size() - 8));
  }
  if (uint32_t v = static_cast<uint32_t>(get_le(in, 8, 4)); v != kFormatVersion) {
    return corrupt("format version " + std::to_string(v) + " is unknown to this binary");
  }
  StoredSnapshot s;
  size_t pos = 12;
  s.meta.last = {raft::Term(get_le(in, pos + 8, 8)), raft::LogIndex(get_le(in, pos, 8))};
  pos += 16;
  auto field = [&](std::string* out) {
    if (in.size() - 8 - pos < 4) return false;
    const uint64_t n = get_le(in, pos, 4);
    pos += 4;
    if (in.size() - 8 - pos < n) return false;
    *out = in.substr(pos, n);
    pos += n;
    return true;
  };
  std::string m, t;
  if (!field(&m) || !field(&t) || in.size() - 8 - pos < 8) return corrupt("truncated header");
  auto membership = raft::decode_membership(m);
  auto timeouts = raft::decode_timeouts(t);
  if (!membership || !timeouts) return corrupt("bad membership or timeouts");
  s.meta.membership = *membership;
  s.meta.timeouts = *timeouts;
  const uint64_t n = get_le(in, pos, 8);
  pos += 8;
  if (in.size() - 8 - pos != n) return corrupt("data length does not match the file");
  s.data = in.substr(pos, n);
  return s;
}

}  // namespace storage
