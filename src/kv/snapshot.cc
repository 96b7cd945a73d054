// Store::save_snapshot and Store::restore_snapshot: the format in snapshot_format.h.

#include <xxhash.h>

#include <algorithm>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "kv/snapshot_format.h"
#include "kv/store.h"
#include "kv/store_state.h"

namespace kv {

namespace {

namespace fmt = snapshot_format;

struct XxhDeleter {
  void operator()(XXH3_state_t* s) const { XXH3_freeState(s); }
};
using XxhState = std::unique_ptr<XXH3_state_t, XxhDeleter>;

XxhState new_hash() {
  XxhState h(XXH3_createState());
  XXH3_64bits_reset(h.get());
  return h;
}

// Buffers encoded bytes and hands them to the writer in chunks of kChunkBytes, hashing
// them on the way; the first writer error sticks and later output is dropped.
class Encoder {
 public:
  explicit Encoder(const SnapshotWriter& write) : write_(write), hash_(new_hash()) {
    buf_.reserve(fmt::kChunkBytes);
  }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void i64(int64_t v) { le(static_cast<uint64_t>(v), 8); }
  void bytes(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s);
  }
  void raw(std::string_view s) {
    produced_ += s.size();
    while (!s.empty()) {
      const size_t n = std::min(s.size(), fmt::kChunkBytes - buf_.size());
      buf_.append(s.data(), n);
      s.remove_prefix(n);
      if (buf_.size() == fmt::kChunkBytes) flush();
    }
  }
  uint64_t produced() const { return produced_; }  // bytes encoded so far
  bool ok() const { return status_.is_ok(); }
  const Status& status() const { return status_; }
  Status finish() {
    flush();
    unsigned char sum[8];
    const uint64_t h = XXH3_64bits_digest(hash_.get());
    for (int i = 0; i < 8; ++i) sum[i] = static_cast<unsigned char>(h >> (8 * i));
    if (status_.is_ok()) status_ = write_(std::string_view(reinterpret_cast<char*>(sum), 8));
    return status_;
  }

 private:
  void le(uint64_t v, int n) {
    char b[8];
    for (int i = 0; i < n; ++i) b[i] = static_cast<char>(v >> (8 * i));
    raw(std::string_view(b, static_cast<size_t>(n)));
  }
  void flush() {
    if (buf_.empty()) return;
    XXH3_64bits_update(hash_.get(), buf_.data(), buf_.size());
    if (status_.is_ok()) status_ = write_(buf_);
    buf_.clear();
  }

  const SnapshotWriter& write_;
  XxhState hash_;
  std::string buf_;  // < kChunkBytes between calls
  uint64_t produced_ = 0;
  Status status_;
};

Status corrupt(const std::string& what) {
  return {Code::kDataLoss, "snapshot is not valid: " + what};
}

// Reads the stream, hashing what it reads, and remembers the first failure with the
// offset where it happened.
class Decoder {
 public:
  explicit Decoder(std::istream& in) : in_(in), hash_(new_hash()) {}
  bool ok() const { return status_.is_ok(); }
  const Status& status() const { return status_; }
  uint64_t offset() const { return offset_; }

  bool read(char* out, size_t n, const char* what) {
    if (!ok()) return false;
    in_.read(out, static_cast<std::streamsize>(n));
    const auto got = static_cast<size_t>(in_.gcount());
    XXH3_64bits_update(hash_.get(), out, got);
    offset_ += got;
    if (got != n) {
      fail(std::string("truncated while reading ") + what);
      return false;
    }
    return true;
  }
  uint64_t le(int n, const char* what) {
    unsigned char b[8] = {};
    if (!read(reinterpret_cast<char*>(b), static_cast<size_t>(n), what)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
    return v;
  }
  uint32_t u32(const char* what) { return static_cast<uint32_t>(le(4, what)); }
  uint64_t u64(const char* what) { return le(8, what); }
  int64_t i64(const char* what) { return static_cast<int64_t>(le(8, what)); }
  // A length-prefixed string, read in chunks so a damaged length cannot make us allocate
  // more than the stream really holds.
  std::string bytes(const char* what) {
    const uint32_t n = u32(what);
    std::string s;
    size_t done = 0;
    while (ok() && done < n) {
      const size_t step = std::min<size_t>(n - done, fmt::kChunkBytes);
      s.resize(done + step);
      read(s.data() + done, step, what);
      done += step;
    }
    return s;
  }
  uint64_t digest() const { return XXH3_64bits_digest(hash_.get()); }
  // Fails with `what` at the current offset (keeps the first failure).
  void fail(const std::string& what) {
    if (ok()) status_ = corrupt(what + " at byte " + std::to_string(offset_));
  }

 private:
  std::istream& in_;
  XxhState hash_;
  uint64_t offset_ = 0;
  Status status_;
};

// Writes the header at construction, then the keys a part at a time. Versions above
// the revision of the header (written since) are left out, and keys with none (created
// since) too: with no compaction meanwhile, what remains is the state at that revision.
class Saver final : public Store::SnapshotSaver {
 public:
  // `open`: the store's count of open savers, which its compactions and restores check
  // (none for a snapshot written whole, under one hold of the store).
  Saver(const Store::State& st, SnapshotWriter write, int* open)
      : st_(st), write_(std::move(write)), e_(write_), open_(open), revision_(st.revision) {
    if (open_ != nullptr) ++*open_;
    e_.raw(fmt::kMagic);
    e_.u32(fmt::kVersion);
    e_.i64(st.revision);
    e_.i64(st.compact_revision);
    e_.u64(st.leases.id_sequence());
    e_.u64(st.leases.size());
    for (const auto& [id, l] : st.leases.all()) {
      e_.i64(id);
      e_.i64(l.ttl);
    }
    keys_left_ = st.keys.size();
    e_.u64(keys_left_);
  }
  ~Saver() override {
    if (open_ != nullptr) --*open_;
  }
  Saver(const Saver&) = delete;
  Saver& operator=(const Saver&) = delete;

  bool next(size_t bytes) override {
    if (done_) return false;
    const uint64_t start = e_.produced();
    auto it = started_ ? st_.keys.upper_bound(last_key_) : st_.keys.begin();
    started_ = true;
    for (; it != st_.keys.end() && e_.produced() - start < bytes && e_.ok(); ++it) {
      const auto& [key, h] = *it;
      const auto end =
          std::upper_bound(h.begin(), h.end(), revision_,
                           [](int64_t r, const KeyRevision& k) { return r < k.mod_revision; });
      if (end == h.begin()) continue;  // written first after the header
      if (keys_left_ == 0) return broken("more keys than when the snapshot began");
      --keys_left_;
      e_.bytes(key);
      e_.u32(static_cast<uint32_t>(end - h.begin()));
      for (auto v = h.begin(); v != end; ++v) {
        e_.i64(v->mod_revision);
        e_.i64(v->create_revision);
        e_.i64(v->version);
        e_.i64(v->lease);
        e_.u32(static_cast<uint32_t>(v->sub));
        e_.bytes(v->value);
      }
      last_key_ = key;
    }
    if (!e_.ok()) return broken("");
    if (it != st_.keys.end()) return true;
    if (keys_left_ != 0) return broken("fewer keys than when the snapshot began");
    done_ = true;
    status_ = e_.finish();
    return false;
  }
  Status status() const override { return status_; }

 private:
  // Ends the snapshot unfinished: the writer's error, or the store changed in a way only
  // a compaction or a restore could (a caller that let one run).
  bool broken(const std::string& what) {
    done_ = true;
    status_ = what.empty() ? e_.status() : Status(Code::kInternal, "snapshot not written: " + what);
    return false;
  }

  const Store::State& st_;
  const SnapshotWriter write_;
  Encoder e_;  // writes through write_
  int* const open_;
  const int64_t revision_;
  uint64_t keys_left_ = 0;  // keys still to write
  std::string last_key_;    // the last key written, once started_
  bool started_ = false;
  bool done_ = false;
  Status status_;
};

}  // namespace

std::unique_ptr<Store::SnapshotSaver> Store::begin_snapshot(SnapshotWriter write) {
  return std::make_unique<Saver>(*state_, std::move(write), &open_savers_);
}

Status Store::save_snapshot(const SnapshotWriter& write) const {
  Saver s(*state_, write, nullptr);
  while (s.next(SIZE_MAX)) {
  }
  return s.status();
}

Status Store::save_snapshot(std::ostream& out) const {
  return save_snapshot([&out](std::string_view chunk) {
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    if (!out) return Status(Code::kInternal, "writing the snapshot to the stream failed");
    return Status::ok();
  });
}

namespace {

// Reads and checks one key's versions against the KeyHistory invariant and the store's
// revisions; returns false (with d failed) on the first violation.
bool read_history(Decoder& d, const std::string& key, int64_t revision, int64_t compact,
                  const Lessor& leases, KeyHistory& h) {
  const uint32_t count = d.u32("a version count");
  if (!d.ok()) return false;
  if (count == 0) {
    d.fail("key '" + key + "' has no versions");
    return false;
  }
  for (uint32_t i = 0; i < count && d.ok(); ++i) {
    KeyRevision r;
    r.mod_revision = d.i64("a mod revision");
    r.create_revision = d.i64("a create revision");
    r.version = d.i64("a version");
    r.lease = d.i64("a lease");
    r.sub = static_cast<int32_t>(d.u32("a sub revision"));
    r.value = d.bytes("a value");
    if (!d.ok()) return false;
    const std::string where = "key '" + key + "' version " + std::to_string(i);
    const KeyRevision* prev = h.empty() ? nullptr : &h.back();
    if (r.mod_revision < 1 || r.mod_revision > revision) {
      d.fail(where + ": mod revision " + std::to_string(r.mod_revision) + " outside [1, " +
             std::to_string(revision) + "]");
    } else if (prev != nullptr && r.mod_revision <= prev->mod_revision) {
      d.fail(where + ": mod revisions not ascending");
    } else if (i > 0 && r.mod_revision <= compact) {
      d.fail(where + ": a version superseded at the compact revision was kept");
    } else if (r.sub < 0) {
      d.fail(where + ": negative sub revision");
    } else if (r.version < 0) {
      d.fail(where + ": negative version");
    } else if (r.tombstone()) {
      if (r.create_revision != 0 || r.lease != 0 || !r.value.empty()) {
        d.fail(where + ": a deletion carries data");
      } else if (r.mod_revision < compact) {
        d.fail(where + ": a deletion older than the compact revision was kept");
      }
    } else if (prev != nullptr && !prev->tombstone()) {
      // r.version >= 0 here, so r.version - 1 cannot overflow (prev->version + 1 could).
      if (r.create_revision != prev->create_revision || r.version - 1 != prev->version) {
        d.fail(where + ": create revision or version does not follow the previous version");
      }
    } else if (prev != nullptr || r.mod_revision > compact) {
      // The first version of a generation that the history saw begin.
      if (r.create_revision != r.mod_revision || r.version != 1) {
        d.fail(where + ": a created key must have create revision = mod revision, version 1");
      }
    } else if (r.create_revision < 1 || r.create_revision > r.mod_revision) {
      d.fail(where + ": create revision outside [1, mod revision]");
    }
    if (!d.ok()) return false;
    h.push_back(std::move(r));
  }
  const KeyRevision& last = h.back();
  if (d.ok() && !last.tombstone() && last.lease != 0 && !leases.contains(last.lease)) {
    d.fail("key '" + key + "' is attached to lease " + std::to_string(last.lease) +
           " which does not exist");
  }
  return d.ok();
}

}  // namespace

namespace {

using State = Store::State;

// A version kept since the compaction: where it stands in the order of writes.
struct WriteRef {
  int64_t revision;
  int32_t sub;
  State::Node* node;
};

// The magic, the format version and the revisions. A version this build cannot read is
// refused by number (kInvalidArgument), not as damage.
Status read_header(Decoder& d, State& st) {
  std::string magic(fmt::kMagic.size(), '\0');
  d.read(magic.data(), magic.size(), "the magic");
  if (d.ok() && magic != fmt::kMagic) return corrupt("bad magic (not a raftkv kv snapshot)");
  const uint32_t version = d.u32("the format version");
  if (d.ok() && version != fmt::kVersion) {
    return {Code::kInvalidArgument, "snapshot format version " + std::to_string(version) +
                                        " is not supported (this build reads version " +
                                        std::to_string(fmt::kVersion) + ")"};
  }
  st.revision = d.i64("the revision");
  st.compact_revision = d.i64("the compact revision");
  st.leases.set_id_sequence(d.u64("the lease id sequence"));
  if (d.ok() && st.revision < 1) d.fail("revision " + std::to_string(st.revision) + " < 1");
  if (d.ok() && (st.compact_revision < 0 || st.compact_revision > st.revision)) {
    d.fail("compact revision " + std::to_string(st.compact_revision) + " outside [0, revision]");
  }
  return Status::ok();
}

void read_leases(Decoder& d, State& st) {
  const uint64_t lease_count = d.u64("the lease count");
  int64_t last_id = 0;
  for (uint64_t i = 0; i < lease_count && d.ok(); ++i) {
    const int64_t id = d.i64("a lease id");
    const int64_t ttl = d.i64("a lease TTL");
    if (!d.ok()) break;
    if (id == 0 || (i > 0 && id <= last_id)) {
      d.fail("lease ids not ascending and non-zero");
    } else if (ttl < 1 || ttl > kMaxLeaseTtl) {
      d.fail("lease " + std::to_string(id) + " has TTL " + std::to_string(ttl));
    } else {
      st.leases.add(id, ttl, TimePoint::max());
      st.size_bytes += kLeaseOverheadBytes;
    }
    last_id = id;
  }
}

// The keys in ascending order with their histories; `refs` gets every version kept
// since the compaction.
void read_keys(Decoder& d, State& st, std::vector<WriteRef>* refs) {
  const uint64_t key_count = d.u64("the key count");
  for (uint64_t i = 0; i < key_count && d.ok(); ++i) {
    std::string key = d.bytes("a key");
    if (!d.ok()) return;
    if (key.empty()) return d.fail("an empty key");
    if (!st.keys.empty() && key <= st.keys.last_key()) {
      return d.fail("keys not in ascending order at '" + key + "'");
    }
    KeyHistory h;
    if (!read_history(d, key, st.revision, st.compact_revision, st.leases, h)) return;
    State::Node* n = st.keys.append(std::move(key), std::move(h));
    for (const KeyRevision& r : n->second) {
      st.size_bytes += revision_cost(n->first, r);
      if (r.mod_revision >= st.compact_revision) refs->push_back({r.mod_revision, r.sub, n});
    }
    const KeyRevision& last = n->second.back();
    if (!last.tombstone() && last.lease != 0) st.leases.attach(last.lease, n->first);
  }
}

// Every revision since the compaction (a fresh store's revision 1 wrote nothing) must
// hold writes numbered 0, 1, ... without gap or repeat: that is what orders events.
// Sorts `refs` into that order.
void check_write_order(Decoder& d, const State& st, std::vector<WriteRef>& refs) {
  std::sort(refs.begin(), refs.end(), [](const WriteRef& a, const WriteRef& b) {
    return a.revision != b.revision ? a.revision < b.revision : a.sub < b.sub;
  });
  int64_t expect_rev = std::max<int64_t>(st.compact_revision, 2);
  int32_t expect_sub = 0;
  for (const WriteRef& r : refs) {
    if (r.revision == expect_rev + 1 && expect_sub > 0) {
      expect_rev = r.revision;
      expect_sub = 0;
    }
    if (r.revision != expect_rev || r.sub != expect_sub) {
      return d.fail("the writes of revision " + std::to_string(r.revision) +
                    " are not numbered 0, 1, ... or a revision has no writes");
    }
    ++expect_sub;
  }
  if (st.revision >= std::max<int64_t>(st.compact_revision, 2) &&
      !(expect_rev == st.revision && expect_sub > 0)) {
    d.fail("revision " + std::to_string(st.revision) + " has no writes");
  }
}

}  // namespace

Status Store::restore_snapshot(std::istream& in) {
  if (open_savers_ > 0) invariant_failed("restoring while a snapshot is written in parts");
  Decoder d(in);
  auto fresh = std::make_unique<State>();
  State& st = *fresh;
  if (Status s = read_header(d, st); !s.is_ok()) return s;
  read_leases(d, st);
  std::vector<WriteRef> refs;
  read_keys(d, st, &refs);
  if (d.ok()) check_write_order(d, st, refs);

  // The checksum covers everything before it; nothing may follow it.
  const uint64_t want = d.digest();
  const uint64_t got = d.u64("the checksum");
  if (!d.ok()) return d.status();
  if (got != want) return corrupt("checksum mismatch (the snapshot is damaged)");
  if (in.peek() != std::char_traits<char>::eof()) {
    return corrupt("unexpected bytes after the checksum at byte " + std::to_string(d.offset()));
  }

  for (const WriteRef& r : refs) st.changes.push_back({r.revision, r.node});
  state_ = std::move(fresh);
  // Watchers keep their position and catch up from the restored history.
  for (auto& [id, w] : watchers_) {
    w.synced = false;
    ready_watchers_.push_back(id);
  }
  return Status::ok();
}

}  // namespace kv
