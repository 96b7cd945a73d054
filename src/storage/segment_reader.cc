#include "storage/segment_reader.h"

#include <algorithm>
#include <cstring>

#include "raft/byte_codec.h"

namespace storage {

std::string at_offset(const std::string& file, uint64_t offset) {
  return file + " at offset " + std::to_string(offset);
}

Status SegmentReader::check_header() const {
  if (data_.size() < kSegmentHeaderBytes ||
      std::memcmp(data_.data(), kWalMagic, sizeof kWalMagic) != 0) {
    return Status(Code::kCorruption, "wal: " + file_ + " is not a raftkv WAL segment (bad magic)");
  }
  raft::ByteReader r(data_.substr(sizeof kWalMagic));
  uint32_t version = 0;
  if (!r.u32(&version) || version != kWalFormatVersion) {
    return Status(Code::kCorruption, "wal: " + file_ + " has format version " +
                                         std::to_string(version) + "; this binary reads version " +
                                         std::to_string(kWalFormatVersion));
  }
  return Status::ok();
}

bool SegmentReader::zeros_from(uint64_t offset) const {
  if (offset >= data_.size()) return true;
  const std::string_view rest = data_.substr(offset);
  return std::all_of(rest.begin(), rest.end(), [](char c) { return c == 0; });
}

bool SegmentReader::stop(Status s) {
  ended_ = true;
  status_ = std::move(s);
  return false;
}

bool SegmentReader::next(Frame* frame) {
  if (ended_) return false;
  if (pos_ == 0) {
    if (Status s = check_header(); !s.is_ok()) return stop(std::move(s));
    pos_ = kSegmentHeaderBytes;
  }
  if (zeros_from(pos_)) return stop(Status::ok());  // the end, or preallocated space
  const FrameCheck check = read_frame(data_, pos_, frame);
  if (check == FrameCheck::kGood) {
    pos_ += kRecordHeaderBytes + frame->payload.size();
    return true;
  }
  const bool whole = check == FrameCheck::kBadChecksum;
  const uint64_t record_end = whole ? pos_ + kRecordHeaderBytes + frame->payload.size() : size();
  if (last_ && zeros_from(record_end)) {
    torn_at_ = pos_;
    return stop(Status::ok());
  }
  return stop(Status(Code::kCorruption,
                     "wal: bad checksum in " + at_offset(file_, pos_) +
                         (whole ? " (record of " + std::to_string(frame->payload.size()) + " bytes)"
                                : " (record runs past the end of the file)")));
}

}  // namespace storage
