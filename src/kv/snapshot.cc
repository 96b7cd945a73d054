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
  // A new segment: its checksum covers its own bytes.
  void restart_hash() { XXH3_64bits_reset(hash_.get()); }
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
// With `since` > 0 it writes a delta segment: only the versions above `since`.
class Saver final : public Store::SnapshotSaver {
 public:
  // `open`: the store's count of open savers, which its compactions and restores check
  // (none for a snapshot written whole, under one hold of the store).
  Saver(const Store::State& st, SnapshotWriter write, int* open, int64_t since)
      : st_(st),
        write_(std::move(write)),
        e_(write_),
        open_(open),
        revision_(st.revision),
        since_(since) {
    if (open_ != nullptr) ++*open_;
    e_.raw(fmt::kMagic);
    e_.u32(since_ > 0 ? fmt::kDeltaVersion : fmt::kVersion);
    if (since_ > 0) e_.i64(since_);
    e_.i64(st.revision);
    e_.i64(st.compact_revision);
    e_.u64(st.leases.id_sequence());
    e_.u64(st.leases.size());
    for (const auto& [id, l] : st.leases.all()) {
      e_.i64(id);
      e_.i64(l.ttl);
    }
    // Every key held now has a version at or below the revision; a delta names those
    // written since `since` (their newest version is above it).
    if (since_ == 0) {
      keys_left_ = st.keys.size();
    } else {
      for (const auto& [key, h] : st.keys) keys_left_ += h.back().mod_revision > since_ ? 1 : 0;
    }
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
      auto above = [](int64_t r, const KeyRevision& k) { return r < k.mod_revision; };
      const auto end = std::upper_bound(h.begin(), h.end(), revision_, above);
      const auto first = since_ == 0 ? h.begin() : std::upper_bound(h.begin(), end, since_, above);
      if (end == first) continue;  // written first after the header, or none since `since`
      if (keys_left_ == 0) return broken("more keys than when the snapshot began");
      --keys_left_;
      e_.bytes(key);
      e_.u32(static_cast<uint32_t>(end - first));
      for (auto v = first; v != end; ++v) {
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
  const int64_t since_;     // 0: a whole segment; else a delta on the state at since_
  uint64_t keys_left_ = 0;  // keys still to write
  std::string last_key_;    // the last key written, once started_
  bool started_ = false;
  bool done_ = false;
  Status status_;
};

}  // namespace

namespace {

// A delta must start where the history is whole: at or above the compact revision, at
// or below the revision. A caller that asks for another is broken.
void check_since(const Store::State& st, int64_t since) {
  if (since < 0 || since > st.revision || (since > 0 && since < st.compact_revision)) {
    invariant_failed("a snapshot delta since revision " + std::to_string(since) +
                     " of a store at " + std::to_string(st.revision) + " compacted at " +
                     std::to_string(st.compact_revision));
  }
}

}  // namespace

std::unique_ptr<Store::SnapshotSaver> Store::begin_snapshot(SnapshotWriter write, int64_t since) {
  check_since(*state_, since);
  return std::make_unique<Saver>(*state_, std::move(write), &open_savers_, since);
}

Status Store::save_snapshot(const SnapshotWriter& write, int64_t since) const {
  check_since(*state_, since);
  Saver s(*state_, write, nullptr, since);
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
bool read_history(Decoder& d, const std::string& key, int64_t since, int64_t revision,
                  int64_t compact, KeyHistory& h) {
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
    if (r.mod_revision <= since || r.mod_revision > revision) {
      d.fail(where + ": mod revision " + std::to_string(r.mod_revision) + " outside [" +
             std::to_string(since + 1) + ", " + std::to_string(revision) + "]");
    } else if (prev != nullptr && r.mod_revision <= prev->mod_revision) {
      d.fail(where + ": mod revisions not ascending");
    } else if (prev != nullptr && r.mod_revision <= compact) {
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

// A segment's magic, format version and revisions. The first segment of a snapshot must
// be whole; each later one a delta on the state read so far (`st`): since its revision,
// with the same compact revision. A version this build cannot read is refused by number
// (kInvalidArgument), not as damage.
Status read_header(Decoder& d, State& st, bool first, int64_t* since) {
  std::string magic(fmt::kMagic.size(), '\0');
  d.read(magic.data(), magic.size(), "the magic");
  if (d.ok() && magic != fmt::kMagic) return corrupt("bad magic (not a raftkv kv snapshot)");
  const uint32_t version = d.u32("the format version");
  if (d.ok() && version != fmt::kVersion && version != fmt::kDeltaVersion) {
    return {Code::kInvalidArgument, "snapshot format version " + std::to_string(version) +
                                        " is not supported (this build reads versions " +
                                        std::to_string(fmt::kVersion) + " and " +
                                        std::to_string(fmt::kDeltaVersion) + ")"};
  }
  if (!d.ok()) return Status::ok();
  if (first && version != fmt::kVersion) {
    d.fail("a snapshot that starts with a delta segment");
    return Status::ok();
  }
  if (!first && version != fmt::kDeltaVersion) {
    d.fail("a whole segment after the first");
    return Status::ok();
  }
  *since = 0;
  if (!first) {
    *since = d.i64("the revision a delta follows");
    if (d.ok() && *since != st.revision) {
      d.fail("a delta since revision " + std::to_string(*since) + " after a segment at " +
             std::to_string(st.revision));
    }
  }
  const int64_t previous_compact = st.compact_revision;
  st.revision = d.i64("the revision");
  st.compact_revision = d.i64("the compact revision");
  st.leases.set_id_sequence(d.u64("the lease id sequence"));
  if (d.ok() && st.revision < std::max<int64_t>(*since, 1)) {
    d.fail("revision " + std::to_string(st.revision) + " < " +
           std::to_string(std::max<int64_t>(*since, 1)));
  }
  if (d.ok() && (st.compact_revision < 0 || st.compact_revision > st.revision)) {
    d.fail("compact revision " + std::to_string(st.compact_revision) + " outside [0, revision]");
  }
  if (d.ok() && !first && st.compact_revision != previous_compact) {
    d.fail("a delta segment with compact revision " + std::to_string(st.compact_revision) +
           " after one at " + std::to_string(previous_compact));
  }
  return Status::ok();
}

// The leases at the segment's revision: they replace those of a segment before.
void read_leases(Decoder& d, State& st) {
  const uint64_t lease_count = d.u64("the lease count");
  const uint64_t id_sequence = st.leases.id_sequence();
  st.leases = Lessor();
  st.leases.set_id_sequence(id_sequence);
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
    }
    last_id = id;
  }
}

// The segment's keys in ascending order with their versions, added to the histories read
// so far (a whole segment: to none); `refs` gets every version kept since the compaction.
void read_keys(Decoder& d, State& st, int64_t since, std::vector<WriteRef>* refs) {
  const uint64_t key_count = d.u64("the key count");
  std::string previous;
  for (uint64_t i = 0; i < key_count && d.ok(); ++i) {
    std::string key = d.bytes("a key");
    if (!d.ok()) return;
    if (key.empty()) return d.fail("an empty key");
    if (i > 0 && key <= previous) return d.fail("keys not in ascending order at '" + key + "'");
    State::Node* n = since == 0 ? st.keys.append(key, KeyHistory()) : st.keys.insert(key).first;
    KeyHistory& h = n->second;
    const size_t old = h.size();
    if (!read_history(d, key, since, st.revision, st.compact_revision, h)) return;
    for (size_t v = old; v < h.size(); ++v) {
      const KeyRevision& r = h[v];
      st.size_bytes += revision_cost(n->first, r);
      if (r.mod_revision >= st.compact_revision) refs->push_back({r.mod_revision, r.sub, n});
    }
    previous = std::move(key);
  }
}

// Once every segment is read: each key's newest version names a lease that exists, and
// the leases learn their keys.
void attach_leases(Decoder& d, State& st) {
  for (auto& [key, h] : st.keys) {
    const KeyRevision& last = h.back();
    if (last.tombstone() || last.lease == 0) continue;
    if (!st.leases.contains(last.lease)) {
      return d.fail("key '" + key + "' is attached to lease " + std::to_string(last.lease) +
                    " which does not exist");
    }
    st.leases.attach(last.lease, key);
  }
  st.size_bytes += static_cast<int64_t>(st.leases.size()) * kLeaseOverheadBytes;
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

Status Store::restore_snapshot(std::istream& in, const SegmentGap& between) {
  if (open_savers_ > 0) invariant_failed("restoring while a snapshot is written in parts");
  Decoder d(in);
  auto fresh = std::make_unique<State>();
  State& st = *fresh;
  std::vector<WriteRef> refs;
  for (bool first = true;; first = false) {
    int64_t since = 0;
    if (Status s = read_header(d, st, first, &since); !s.is_ok()) return s;
    read_leases(d, st);
    read_keys(d, st, since, &refs);
    // Each segment's checksum covers the segment's bytes before it.
    const uint64_t want = d.digest();
    const uint64_t got = d.u64("the checksum");
    if (!d.ok()) return d.status();
    if (got != want) return corrupt("checksum mismatch (the snapshot is damaged)");
    if (in.peek() == std::char_traits<char>::eof()) break;
    if (!between) {
      return corrupt("unexpected bytes after the checksum at byte " + std::to_string(d.offset()));
    }
    if (Status s = between(in); !s.is_ok()) return s;
    d.restart_hash();
  }
  attach_leases(d, st);
  if (d.ok()) check_write_order(d, st, refs);
  if (!d.ok()) return d.status();

  for (const WriteRef& r : refs) st.changes.push_back({r.revision, r.node});
  state_ = std::move(fresh);
  ++history_epoch_;
  // Watchers keep their position and catch up from the restored history.
  for (auto& [id, w] : watchers_) {
    w.synced = false;
    ready_watchers_.push_back(id);
  }
  return Status::ok();
}

}  // namespace kv
