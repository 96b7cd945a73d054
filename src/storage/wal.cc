#include "storage/wal.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "storage/segment_reader.h"
#include "storage/wal_format.h"
#include "storage/wal_replay.h"

namespace storage {

std::string Wal::path(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016" PRIx64 ".wal", seq);
  return dir_ + "/" + name;
}

StatusOr<std::vector<uint64_t>> Wal::list_segments() const {
  StatusOr<std::vector<std::string>> names = fs_.list(dir_);
  if (!names.is_ok()) return names.status();
  std::vector<uint64_t> seqs;
  for (const std::string& name : names.value()) {  // sorted: fixed-width hex
    uint64_t seq = 0;
    char rest[8] = {0};
    if (name.size() == 20 && std::sscanf(name.c_str(), "%16" SCNx64 ".%3s", &seq, rest) == 2 &&
        std::strcmp(rest, "wal") == 0) {
      seqs.push_back(seq);
    }
  }
  for (size_t k = 1; k < seqs.size(); ++k) {
    if (seqs[k] != seqs[k - 1] + 1) {
      return Status(Code::kCorruption, "wal: segment " + path(seqs[k - 1] + 1) +
                                           " is missing (found " + path(seqs[k]) + ")");
    }
  }
  return seqs;
}

Wal::Wal(FileSystem& fs, std::string dir, WalOptions options)
    : fs_(fs),
      dir_(std::move(dir)),
      options_(options),
      where_(std::make_unique<Run<RecordLocation>>()) {}

Wal::~Wal() = default;

StatusOr<std::unique_ptr<Wal>> Wal::open(FileSystem& fs, const std::string& dir,
                                         const WalOptions& options, Recovered* out) {
  *out = Recovered{};
  if (Status s = fs.create_dir(dir); !s.is_ok()) return s;
  std::unique_ptr<Wal> wal(new Wal(fs, dir, options));
  StatusOr<std::vector<uint64_t>> seqs = wal->list_segments();
  if (!seqs.is_ok()) return seqs.status();

  WalReplay replay(out);
  for (size_t k = 0; k < seqs.value().size(); ++k) {
    const bool last = k + 1 == seqs.value().size();
    if (Status s = wal->replay_segment(seqs.value()[k], last, &replay, &out->notes); !s.is_ok()) {
      return s;
    }
  }
  if (Status s = replay.finish(dir); !s.is_ok()) return s;
  if (!out->entries.empty()) {
    wal->where_->first = out->entries.front().index.value();
    wal->where_->items.assign(replay.locations().begin(), replay.locations().end());
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

Status Wal::replay_segment(uint64_t seq, bool last, WalReplay* replay,
                           std::vector<std::string>* notes) {
  const std::string file = path(seq);
  StatusOr<std::string> data = fs_.read_written(file);
  if (!data.is_ok()) return data.status();
  SegmentReader reader(file, data.value(), last);
  replay->begin_segment(seq, file);
  Frame frame;
  while (reader.next(&frame)) {
    if (Status s = replay->add(frame); !s.is_ok()) return s;
  }
  if (!reader.status().is_ok()) return reader.status();
  if (std::optional<uint64_t> torn = reader.torn_at()) {
    // A crash in the middle of a write: nothing in the torn record was acknowledged.
    notes->push_back("wal: cut a torn record off " + at_offset(file, *torn) + " (" +
                     std::to_string(reader.size() - *torn) + " bytes)");
    StatusOr<std::unique_ptr<WritableFile>> f = fs_.open_for_append(file, *torn, 0);
    if (!f.is_ok()) return f.status();
    if (Status s = f.value()->truncate(*torn); !s.is_ok()) return s;
  }
  segments_.push_back({seq, replay->segment_last_index()});
  if (last) offset_ = reader.end();
  return Status::ok();
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
  if (Status s = f.value()->append(segment_header()); !s.is_ok()) return s;
  if (Status s = f.value()->sync(); !s.is_ok()) return s;
  if (Status s = fs_.rename(tmp, final_path); !s.is_ok()) return s;
  if (Status s = fs_.sync_dir(dir_); !s.is_ok()) return s;
  file_ = std::move(f.value());  // the open file follows the rename
  offset_ = kSegmentHeaderBytes;
  segments_.push_back({seq, 0});
  return Status::ok();
}

Status Wal::append(const std::vector<raft::Entry>& entries,
                   const std::optional<raft::HardState>& hard_state) {
  if (!failed_.is_ok()) return failed_;
  for (const raft::Entry& e : entries) {
    forget_after(e.index.value());
    where_->put(e.index.value(), RecordLocation{.segment = segments_.back().seq,
                                                .offset = offset_ + buffer_.size()});
    cache(e);
    append_record(e, &buffer_);
    segments_.back().last_index = std::max(segments_.back().last_index, e.index.value());
  }
  if (hard_state) {
    append_record(*hard_state, &buffer_);
    hard_state_ = *hard_state;
  }
  return Status::ok();
}

Status Wal::flush() {
  if (!failed_.is_ok()) return failed_;
  if (!buffer_.empty()) {
    // Zeros ahead of the records in the segment's reserved space, a chunk at a time, so
    // that the fsync of most batches writes records alone (file_system.h). Only a way to
    // make fsyncs cheaper: a disk that fails here fails the append below, which says so.
    (void)file_->prepare(buffer_.size());
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

Status Wal::mark_snapshot(raft::LogId id) { return write_marker(id, false); }

Status Wal::install_snapshot(raft::LogId id) { return write_marker(id, true); }

Status Wal::write_marker(raft::LogId id, bool replaces_log) {
  if (!failed_.is_ok()) return failed_;
  if (replaces_log) {
    append_record(SnapshotInstalled{.id = id}, &buffer_);
  } else {
    append_record(SnapshotMarker{.id = id}, &buffer_);
  }
  // The hard state goes again into the current segment, so that deleting older
  // segments never loses the latest one.
  append({}, hard_state_);
  if (replaces_log) {
    where_->truncate_from(0);
    tail_.truncate_from(0);
    tail_bytes_ = 0;
  } else {
    where_->drop_through(id.index.value());
    while (!tail_.empty() && tail_.first <= id.index.value()) {
      tail_bytes_ -= tail_.items.front().data.size() + 32;
      tail_.items.pop_front();
      ++tail_.first;
    }
  }
  const uint64_t marker_seq = segments_.back().seq;  // sync() may start a new segment
  if (Status s = sync(); !s.is_ok()) return s;
  while (segments_.front().seq < marker_seq &&
         (replaces_log || segments_.front().last_index <= id.index.value())) {
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
  if (!where_->empty() && index <= where_->last()) where_->truncate_from(index);
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
    const RecordLocation* w = where_->find(i);
    if (w == nullptr) {
      const std::string held = where_->empty() ? std::string("no entries")
                                               : "entries " + std::to_string(where_->first) + ".." +
                                                     std::to_string(where_->last());
      return Status(Code::kInvalidArgument, "wal: entry " + std::to_string(i) +
                                                " is not in the log (it holds " + held + ")");
    }
    StatusOr<raft::Entry> e = read_from_segment(i, *w, &files);
    if (!e.is_ok()) return e.status();
    out.push_back(std::move(e.value()));
  }
  return out;
}

StatusOr<raft::Entry> Wal::read_from_segment(uint64_t index, RecordLocation where,
                                             std::map<uint64_t, std::string>* files) {
  const std::string file = path(where.segment);
  auto f = files->find(where.segment);
  if (f == files->end()) {
    StatusOr<std::string> data = fs_.read_written(file);
    if (!data.is_ok()) return data.status();
    f = files->emplace(where.segment, std::move(data.value())).first;
  }
  // Checked again as replay checked it: the file may have changed behind the log's back.
  Frame frame;
  const FrameCheck check = read_frame(f->second, where.offset, &frame);
  if (check == FrameCheck::kHeaderPastEnd) {
    return Status(Code::kCorruption, "wal: record of entry " + std::to_string(index) +
                                         " runs past the end of " + at_offset(file, where.offset));
  }
  std::string problem;
  std::optional<WalRecord> record;
  if (check == FrameCheck::kGood) record = decode_record(frame, &problem);
  raft::Entry* e = record.has_value() ? std::get_if<raft::Entry>(&*record) : nullptr;
  if (e == nullptr) {
    return Status(Code::kCorruption, "wal: bad record for entry " + std::to_string(index) + " in " +
                                         at_offset(file, where.offset));
  }
  if (e->index.value() != index) {
    return Status(Code::kCorruption, "wal: the record for entry " + std::to_string(index) + " in " +
                                         at_offset(file, where.offset) + " holds entry " +
                                         std::to_string(e->index.value()));
  }
  return std::move(*e);
}

}  // namespace storage
