// The input of a fuzz target whose bytes end in an XXH3-64 checksum (KV snapshots,
// snapshot files): a first byte that is odd asks for the right checksum, so the fuzzer
// gets past it to what the checksum guards; an even one leaves the bytes as they are.
#pragma once

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace fuzz {

// The bytes after the first; with the first odd, the last 8 replaced by the XXH3-64 of
// the rest, little-endian.
inline std::string checksummed_input(const uint8_t* data, size_t size) {
  if (size == 0) return {};
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) != 0 && bytes.size() >= 8) {
    const size_t at = bytes.size() - 8;
    const uint64_t sum = XXH3_64bits(bytes.data(), at);
    for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<char>(sum >> (8 * i));
  }
  return bytes;
}

}  // namespace fuzz
