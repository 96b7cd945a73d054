#include "storage/wal.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include "storage/encoding.h"

namespace storage {
namespace {

constexpr char kMagic[8] = {'R', 'A', 'F', 'T', 'K', 'V', 'W', 'L'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kFileHeader = 16;    // magic, version, reserved
constexpr size_t kRecordHeader = 13;  // length u32, checksum u64, type u8

enum RecordType : uint8_t {
  kEntry = 1,
  kHardState = 2,
  kSnapshot = 3,           // a snapshot covers the log up to here; later entries stay
  kSnapshotInstalled = 4,  // a snapshot from the leader replaced the whole log
};

// XXH3-64 of the type byte followed by the payload. In a record the two are adjacent, so
// one call over `type_and_payload` (n + 1 bytes) computes it without a streaming state.
uint64_t checksum_at(const char* type_and_payload, size_t n) {
  return XXH3_64bits(type_and_payload, n + 1);
}

bool all_zero(const std::string& s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    if (s[i] != 0) return false;
  }
  return true;
}

std::string at(const std::string& file, size_t offset) {
  return file + " at offset " + std::to_string(offset);
}

}  // namespace

std::string Wal::path(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".wal", seq);
  return dir_ + "/" + name;
}

StatusOr<std::unique_ptr<Wal>> Wal::open(FileSystem& fs, const std::string& dir,
                                         const WalOptions& options, Recovered* out) {
  *out = Recovered{};
  if (Status s = fs.create_dir(dir); !s.is_ok()) return s;
  StatusOr<std::vector<std::string>> names = fs.list(dir);
  if (!names.is_ok()) return names.status();
  std::unique_ptr<Wal> wal(new Wal(fs, dir, options));

  std::vector<uint64_t> seqs;
  for (const std::string& name : names.value()) {
    uint64_t seq = 0;
    char rest[8] = {0};
    if (name.size() == 20 && std::sscanf(name.c_str(), "%16" SCNx64 ".%3s", &seq, rest) == 2 &&
        std::strcmp(rest, "wal") == 0) {
      seqs.push_back(seq);
    }
  }
  for (size_t k = 1; k < seqs.size(); ++k) {
    if (seqs[k] != seqs[k - 1] + 1) {
      return Status(Code::kCorruption, "wal: segment " + wal->path(seqs[k - 1] + 1) +
                                           " is missing (found " + wal->path(seqs[k]) + ")");
    }
  }

  std::optional<uint64_t> base;  // the index before the first entry kept
  struct Gap {
    uint64_t after;  // the first index after the gap
    std::string message;
  };
  std::optional<Gap> gap;  // the latest gap between entries, if any
  for (size_t k = 0; k < seqs.size(); ++k) {
    const std::string file = wal->path(seqs[k]);
    const bool last = k + 1 == seqs.size();
    StatusOr<std::string> read = fs.read_file(file);
    if (!read.is_ok()) return read.status();
    const std::string& data = read.value();
    if (data.size() < kFileHeader || std::memcmp(data.data(), kMagic, 8) != 0) {
      return Status(Code::kCorruption, "wal: " + file + " is not a raftkv WAL segment (bad magic)");
    }
    if (uint32_t v = static_cast<uint32_t>(get_le(data, 8, 4)); v != kFormatVersion) {
      return Status(Code::kCorruption, "wal: " + file + " has format version " + std::to_string(v) +
                                           "; this binary reads version " +
                                           std::to_string(kFormatVersion));
    }
    Segment seg{seqs[k], 0};
    size_t pos = kFileHeader;
    while (pos < data.size()) {
      if (data.size() - pos < kRecordHeader || all_zero(data.substr(pos, kRecordHeader), 0)) {
        if (all_zero(data, pos)) break;  // preallocated space: the end of the records
      }
      const bool header_fits = data.size() - pos >= kRecordHeader;
      const uint32_t len = header_fits ? static_cast<uint32_t>(get_le(data, pos, 4)) : 0;
      const bool fits = header_fits && data.size() - pos - kRecordHeader >= len;
      const uint8_t type = header_fits ? static_cast<uint8_t>(data[pos + 12]) : 0;
      const bool good =
          fits && get_le(data, pos + 4, 8) == checksum_at(data.data() + pos + 12, len);
      if (!good) {
        // A torn tail: a partial record at the end of the last segment, with only
        // zeros (or nothing) after it. Anything else is corruption.
        const size_t end = fits ? pos + kRecordHeader + len : data.size();
        if (last && all_zero(data, end)) {
          out->notes.push_back("wal: cut a torn record off " + at(file, pos) + " (" +
                               std::to_string(data.size() - pos) + " bytes)");
          StatusOr<std::unique_ptr<WritableFile>> f = fs.open_for_append(file, pos, 0);
          if (!f.is_ok()) return f.status();
          if (Status s = f.value()->truncate(pos); !s.is_ok()) return s;
          break;
        }
        return Status(Code::kCorruption,
                      "wal: bad checksum in " + at(file, pos) +
                          (fits ? " (record of " + std::to_string(len) + " bytes)"
                                : " (record runs past the end of the file)"));
      }
      const std::string payload = data.substr(pos + kRecordHeader, len);
      if (type == kEntry && len >= 17) {
        raft::Entry e{raft::Term(get_le(payload, 0, 8)), raft::LogIndex(get_le(payload, 8, 8)),
                      static_cast<raft::EntryType>(payload[16]), payload.substr(17)};
        // Segments behind a snapshot are deleted, so the first entry read may be
        // anywhere; from then on the log must stay contiguous.
        if (!base.has_value()) base = e.index.value() - 1;
        uint64_t first = *base + 1;
        // The log read so far is dropped and starts again at this entry.
        auto restart_at = [&](uint64_t index) {
          out->entries.clear();
          wal->where_.truncate_from(0);
          base = index - 1;
          first = index;
        };
        if (e.index.value() > first + out->entries.size()) {
          // A gap is legal only if a later snapshot marker covers it: the segment that
          // held the missing entries was deleted behind that marker (a segment may hold
          // an older marker before them). Checked once every record is read.
          gap = Gap{e.index.value(), "wal: entry " + std::to_string(e.index.value()) + " in " +
                                         at(file, pos) + " leaves a gap"};
          restart_at(e.index.value());
        }
        if (e.index.value() < first) {
          // A follower truncated a conflicting suffix that began in a segment since
          // deleted behind a snapshot: this entry supersedes every entry read so far.
          // Never legal at or below a snapshot already read (those entries are
          // committed); the entries before it must be covered by a later marker.
          if (e.index <= out->snapshot.index) {
            return Status(Code::kCorruption, "wal: entry " + std::to_string(e.index.value()) +
                                                 " in " + at(file, pos) +
                                                 " comes before the start of the log (snapshot " +
                                                 std::to_string(out->snapshot.index.value()) + ")");
          }
          if (e.index > out->snapshot.index.next()) {
            gap = Gap{e.index.value(), "wal: entry " + std::to_string(e.index.value()) + " in " +
                                           at(file, pos) +
                                           " supersedes the log read so far, and the entries "
                                           "before it are missing"};
          } else {
            gap.reset();  // whatever was missing before is superseded too
          }
          restart_at(e.index.value());
        }
        out->entries.resize(e.index.value() - first);  // a later record supersedes
        wal->where_.put(e.index.value(), {seqs[k], pos});
        out->entries.push_back(std::move(e));
        seg.last_index = std::max(seg.last_index, out->entries.back().index.value());
      } else if (type == kHardState && len == 24) {
        out->hard_state = {raft::Term(get_le(payload, 0, 8)), raft::NodeId(get_le(payload, 8, 8)),
                           raft::LogIndex(get_le(payload, 16, 8))};
      } else if (type == kSnapshot && len == 16) {
        raft::LogId snap{raft::Term(get_le(payload, 8, 8)), raft::LogIndex(get_le(payload, 0, 8))};
        if (snap.index > out->snapshot.index) {
          // Entries up to the snapshot are folded into it.
          while (!out->entries.empty() && out->entries.front().index <= snap.index) {
            out->entries.erase(out->entries.begin());
          }
          wal->where_.drop_through(snap.index.value());
          // The log now starts after the snapshot (or right after its last entry).
          base = out->entries.empty() ? snap.index.value() : out->entries.front().index.value() - 1;
          out->snapshot = snap;
        }
      } else if (type == kSnapshotInstalled && len == 16) {
        // Thesis 5.1: the follower discarded its whole log for the leader's snapshot,
        // including entries after it (they may be from an older term).
        raft::LogId snap{raft::Term(get_le(payload, 8, 8)), raft::LogIndex(get_le(payload, 0, 8))};
        out->entries.clear();
        wal->where_.truncate_from(0);
        base = snap.index.value();
        gap.reset();
        if (snap.index > out->snapshot.index) out->snapshot = snap;
      } else {
        return Status(Code::kCorruption,
                      "wal: unknown record type " + std::to_string(type) + " in " + at(file, pos));
      }
      pos += kRecordHeader + len;
    }
    wal->segments_.push_back(seg);
    if (last) wal->offset_ = pos;
  }
  if (gap.has_value() && out->snapshot.index.value() + 1 < gap->after) {
    return Status(Code::kCorruption, gap->message);
  }
  if (!out->entries.empty() && out->entries.front().index != out->snapshot.index.next()) {
    return Status(Code::kCorruption, "wal: the log in " + dir + " starts at entry " +
                                         std::to_string(out->entries.front().index.value()) +
                                         " but the last snapshot ends at " +
                                         std::to_string(out->snapshot.index.value()) +
                                         ": entries are missing");
  }
  wal->hard_state_ = out->hard_state;

  if (wal->segments_.empty()) {
    if (Status s = wal->start_segment(0); !s.is_ok()) return s;
  } else {
    StatusOr<std::unique_ptr<WritableFile>> f =
        fs.open_for_append(wal->path(wal->segments_.back().seq), wal->offset_, 0);
    if (!f.is_ok()) return f.status();
    wal->file_ = std::move(f.value());
  }
  return wal;
}

Status Wal::start_segment(uint64_t seq) {
  // A segment appears whole or not at all: its header is written and synced under a
  // temporary name, then renamed. A crash while creating it leaves only a .tmp file,
  // which open() ignores, never a segment without a header.
  const std::string final_path = path(seq);
  const std::string tmp = final_path + ".tmp";
  StatusOr<std::unique_ptr<WritableFile>> f =
      fs_.open_for_append(tmp, 0, options_.preallocate ? options_.segment_bytes : 0);
  if (!f.is_ok()) return f.status();
  std::string header(kMagic, 8);
  put_u32(header, kFormatVersion);
  put_u32(header, 0);
  if (Status s = f.value()->append(header); !s.is_ok()) return s;
  if (Status s = f.value()->sync(); !s.is_ok()) return s;
  if (Status s = fs_.rename(tmp, final_path); !s.is_ok()) return s;
  if (Status s = fs_.sync_dir(dir_); !s.is_ok()) return s;
  file_ = std::move(f.value());  // the open file follows the rename
  offset_ = kFileHeader;
  segments_.push_back({seq, 0});
  return Status::ok();
}

Status Wal::write_record(uint8_t type, const std::string& payload) {
  const size_t start = buffer_.size();
  put_u32(buffer_, static_cast<uint32_t>(payload.size()));
  put_u64(buffer_, 0);  // the checksum, filled in below once type and payload are in place
  buffer_.push_back(static_cast<char>(type));
  buffer_ += payload;
  const uint64_t sum = checksum_at(buffer_.data() + start + 12, payload.size());
  for (int i = 0; i < 8; ++i)
    buffer_[start + 4 + static_cast<size_t>(i)] = static_cast<char>((sum >> (8 * i)) & 0xff);
  return Status::ok();
}

Status Wal::append(const std::vector<raft::Entry>& entries,
                   const std::optional<raft::HardState>& hard_state) {
  if (!failed_.is_ok()) return failed_;
  for (const raft::Entry& e : entries) {
    std::string p;
    put_u64(p, e.term.value());
    put_u64(p, e.index.value());
    p.push_back(static_cast<char>(e.type));
    p += e.data;
    forget_after(e.index.value());
    where_.put(e.index.value(), {segments_.back().seq, offset_ + buffer_.size()});
    cache(e);
    write_record(kEntry, p);
    segments_.back().last_index = std::max(segments_.back().last_index, e.index.value());
  }
  if (hard_state) {
    std::string p;
    put_u64(p, hard_state->term.value());
    put_u64(p, hard_state->vote.value());
    put_u64(p, hard_state->commit.value());
    write_record(kHardState, p);
    hard_state_ = *hard_state;
  }
  return Status::ok();
}

Status Wal::flush() {
  if (!failed_.is_ok()) return failed_;
  if (!buffer_.empty()) {
    if (Status s = file_->append(buffer_); !s.is_ok()) {
      // Nothing of this batch was acknowledged. Cut what may have been written, so
      // that a later retry does not leave a partial record in the middle.
      if (Status t = file_->truncate(offset_); !t.is_ok())
        failed_ = Status(Code::kFailed, t.message());
      buffer_.clear();
      return s;
    }
    offset_ += buffer_.size();
    buffer_.clear();
  }
  trim_cache();
  return Status::ok();
}

Status Wal::sync() {
  if (Status s = flush(); !s.is_ok()) return s;
  if (Status s = file_->sync(); !s.is_ok()) {
    failed_ = Status(Code::kFailed,
                     "wal: fsync failed, the log refuses further writes "
                     "(restart to recover): " +
                         s.message());
    return failed_;
  }
  if (offset_ >= options_.segment_bytes) {
    return start_segment(segments_.back().seq + 1);
  }
  return Status::ok();
}

Status Wal::mark_snapshot(raft::LogId id) { return write_marker(kSnapshot, id); }

Status Wal::install_snapshot(raft::LogId id) { return write_marker(kSnapshotInstalled, id); }

Status Wal::write_marker(uint8_t type, raft::LogId id) {
  if (!failed_.is_ok()) return failed_;
  const bool discard_all = type == kSnapshotInstalled;
  std::string p;
  put_u64(p, id.index.value());
  put_u64(p, id.term.value());
  write_record(type, p);
  // The hard state goes again into the current segment, so that deleting older
  // segments never loses the latest one.
  append({}, hard_state_);
  if (discard_all) {
    where_.truncate_from(0);
    tail_.truncate_from(0);
    tail_bytes_ = 0;
  } else {
    where_.drop_through(id.index.value());
    while (!tail_.empty() && tail_.first <= id.index.value()) {
      tail_bytes_ -= tail_.items.front().data.size() + 32;
      tail_.items.pop_front();
      ++tail_.first;
    }
  }
  const uint64_t marker_seq = segments_.back().seq;  // sync() may start a new segment
  if (Status s = sync(); !s.is_ok()) return s;
  while (segments_.front().seq < marker_seq &&
         (discard_all || segments_.front().last_index <= id.index.value())) {
    if (Status s = fs_.remove(path(segments_.front().seq)); !s.is_ok()) return s;
    segments_.erase(segments_.begin());
  }
  return fs_.sync_dir(dir_);
}

void Wal::cache(const raft::Entry& e) {
  tail_bytes_ += e.data.size() + 32;
  tail_.put(e.index.value(), e);
}

void Wal::forget_after(uint64_t index) {
  if (!where_.empty() && index <= where_.last()) where_.truncate_from(index);
  while (!tail_.empty() && tail_.last() >= index) {
    tail_bytes_ -= tail_.items.back().data.size() + 32;
    tail_.items.pop_back();
  }
}

void Wal::trim_cache() {
  // Everything is in a file now (flush() ran): the oldest entries may leave memory.
  while (tail_bytes_ > options_.tail_cache_bytes && !tail_.empty()) {
    tail_bytes_ -= tail_.items.front().data.size() + 32;
    tail_.items.pop_front();
    ++tail_.first;
  }
}

StatusOr<std::vector<raft::Entry>> Wal::read(raft::LogIndex first, raft::LogIndex last) {
  std::vector<raft::Entry> out;
  std::map<uint64_t, std::string> files;  // segments read for this call
  for (uint64_t i = first.value(); i <= last.value(); ++i) {
    if (const raft::Entry* t = tail_.find(i)) {
      out.push_back(*t);
      continue;
    }
    const auto* w = where_.find(i);
    if (w == nullptr) {
      const std::string held = where_.empty() ? std::string("no entries")
                                              : "entries " + std::to_string(where_.first) + ".." +
                                                    std::to_string(where_.last());
      return Status(Code::kInvalidArgument, "wal: entry " + std::to_string(i) +
                                                " is not in the log (it holds " + held + ")");
    }
    const auto [seq, pos] = *w;
    const std::string file = path(seq);
    auto f = files.find(seq);
    if (f == files.end()) {
      StatusOr<std::string> data = fs_.read_file(file);
      if (!data.is_ok()) return data.status();
      f = files.emplace(seq, std::move(data.value())).first;
    }
    const std::string& data = f->second;
    if (data.size() < pos + kRecordHeader) {
      return Status(Code::kCorruption, "wal: record of entry " + std::to_string(i) +
                                           " runs past the end of " + at(file, pos));
    }
    const uint32_t len = static_cast<uint32_t>(get_le(data, pos, 4));
    const uint8_t type = static_cast<uint8_t>(data[pos + 12]);
    if (data.size() - pos - kRecordHeader < len || type != kEntry || len < 17 ||
        get_le(data, pos + 4, 8) != checksum_at(data.data() + pos + 12, len)) {
      return Status(Code::kCorruption,
                    "wal: bad record for entry " + std::to_string(i) + " in " + at(file, pos));
    }
    const std::string payload = data.substr(pos + kRecordHeader, len);
    raft::Entry e{raft::Term(get_le(payload, 0, 8)), raft::LogIndex(get_le(payload, 8, 8)),
                  static_cast<raft::EntryType>(payload[16]), payload.substr(17)};
    if (e.index.value() != i) {
      return Status(Code::kCorruption, "wal: the record for entry " + std::to_string(i) + " in " +
                                           at(file, pos) + " holds entry " +
                                           std::to_string(e.index.value()));
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace storage
