// The one codec for the bytes raftkv lays out by hand: the WAL and snapshot files
// (docs/storage-format.md) and the core's timeouts and membership entries (codec.h).
// Integers are fixed width and little-endian. ByteWriter appends; ByteReader reads and
// fails, never reading past the end of its bytes. Standard library only, like the core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "raft/invariant.h"

namespace raft {

// Appends fields to a string it does not own (which must outlive the writer).
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  void u8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { fixed(v, 4); }
  void u64(uint64_t v) { fixed(v, 8); }
  void bytes(std::string_view b) { out_->append(b); }

  // For a u64 known only once what follows it is written (a checksum): reserve() writes
  // a placeholder and returns its offset in the string, fill() later writes the value.
  size_t reserve_u64() {
    const size_t at = out_->size();
    u64(0);
    return at;
  }
  void fill_u64(size_t at, uint64_t v) {
    RAFT_INVARIANT(at <= out_->size() && out_->size() - at >= 8,
                   "ByteWriter::fill_u64 writes inside what was reserved");
    encode(v, 8, out_->data() + at);
  }

  size_t size() const { return out_->size(); }

 private:
  static void encode(uint64_t v, int n, char* to) {
    for (int i = 0; i < n; ++i) to[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  void fixed(uint64_t v, int n) {
    char b[8];
    encode(v, n, b);
    out_->append(b, static_cast<size_t>(n));
  }

  std::string* out_;
};

// Reads fields from a view of bytes it does not own (which must outlive the reader).
// A read that needs more bytes than remain returns false and moves nothing, so a
// truncated or hostile input is refused, never read past its end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  [[nodiscard]] bool u8(uint8_t* v) { return fixed(v, 1); }
  [[nodiscard]] bool u32(uint32_t* v) { return fixed(v, 4); }
  [[nodiscard]] bool u64(uint64_t* v) { return fixed(v, 8); }
  // The next `n` bytes, as a view into the reader's data.
  [[nodiscard]] bool bytes(size_t n, std::string_view* v) {
    if (remaining() < n) return false;
    *v = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // Everything not read yet (possibly nothing); the reader is then done.
  std::string_view rest() {
    const std::string_view r = data_.substr(pos_);
    pos_ = data_.size();
    return r;
  }

  size_t position() const { return pos_; }  // bytes read so far
  size_t remaining() const { return data_.size() - pos_; }
  bool done() const { return pos_ == data_.size(); }

 private:
  template <typename T>
  bool fixed(T* v, size_t n) {
    if (remaining() < n) return false;
    T out = 0;
    for (size_t i = 0; i < n; ++i) {
      out |= static_cast<T>(static_cast<T>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i));
    }
    pos_ += n;
    *v = out;
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;  // invariant: pos_ <= data_.size()
};

}  // namespace raft
