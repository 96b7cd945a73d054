// What the fuzz targets in tests/fuzz share: the check that stops the process when a
// property breaks (libFuzzer then saves the input), a reader that turns the fuzzer's bytes
// into choices, and the shape every Casbin parse error must have.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace fuzz {

// Prints the broken property and what was seen, then aborts.
[[noreturn]] inline void fail(const char* property, std::string_view detail, const char* file,
                              int line) {
  std::fprintf(stderr, "%s:%d: fuzz property broken: %s\n  %.*s\n", file, line, property,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// FUZZ_CHECK(property, detail): `detail` (a string) is only built when the property fails.
#define FUZZ_CHECK(cond, detail)                                  \
  do {                                                            \
    if (!(cond)) ::fuzz::fail(#cond, detail, __FILE__, __LINE__); \
  } while (0)

inline std::string_view message_of(const absl::Status& status) {
  return std::string_view(status.message().data(), status.message().size());
}

// The whole file at `path`; aborts when it cannot be read (a build problem, not a finding).
inline std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path);
    std::abort();
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Choices read from the fuzzer's bytes; past the end every read gives 0, so every input is
// a valid sequence of choices.
class ByteSource {
 public:
  ByteSource(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  uint8_t byte() { return empty() ? 0 : data_[pos_++]; }
  // A value in [0, n), n > 0.
  size_t pick(size_t n) { return byte() % n; }
  template <class Array>
  const auto& pick_from(const Array& items) {
    return items[pick(items.size())];
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// The number of lines of `text` as the parsers count them (split at '\n').
inline size_t line_count(std::string_view text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
}

// Every parse error is InvalidArgumentError "<source>:<line>: <reason>" with a line of the
// text (1 to line_count) and a reason that is not empty.
inline void check_parse_error(const absl::Status& status, std::string_view source,
                              std::string_view text) {
  const std::string_view m = message_of(status);
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, status.ToString());
  FUZZ_CHECK(
      m.size() > source.size() && m.substr(0, source.size()) == source && m[source.size()] == ':',
      std::string(m));
  size_t at = source.size() + 1;
  size_t line = 0;
  const size_t digits_from = at;
  while (at < m.size() && m[at] >= '0' && m[at] <= '9' && at - digits_from < 9) {
    line = line * 10 + static_cast<size_t>(m[at++] - '0');
  }
  FUZZ_CHECK(at > digits_from && m[digits_from] != '0', std::string(m));
  FUZZ_CHECK(line >= 1 && line <= line_count(text), std::string(m));
  FUZZ_CHECK(m.substr(at, 2) == ": " && m.size() > at + 2, std::string(m));
}

}  // namespace fuzz

namespace fuzz {

// Words to build requests from: `fixed` then every field of `lines` (at most `limit` in
// all), so requests can name the subjects, objects and actions a policy mentions.
template <class Lines>
std::vector<std::string> words_of(std::vector<std::string> fixed, const Lines& lines,
                                  size_t limit = 64) {
  for (const auto& line : lines) {
    for (const std::string& field : line) {
      if (fixed.size() >= limit) return fixed;
      fixed.push_back(field);
    }
  }
  return fixed;
}

}  // namespace fuzz
