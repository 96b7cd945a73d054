// Small string helpers shared by the Casbin parsers. This absl build has its own
// absl::string_view (not std::string_view), so absl's StrCat/StrSplit do not take ours;
// these work on std::string_view and absl's alike.
#pragma once

#include <concepts>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

namespace security {

inline void append_to(std::string& out, std::string_view s) { out.append(s); }
inline void append_to(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void append_to(std::string& out, const char* s) { out.append(s); }
inline void append_to(std::string& out, const std::string& s) { out.append(s); }
inline void append_to(std::string& out, char c) { out.push_back(c); }
template <std::integral T>
requires(!std::same_as<T, char> && !std::same_as<T, bool>) void append_to(std::string& out, T n) {
  out.append(std::to_string(n));
}

// The arguments concatenated: strings as they are, integers in decimal.
template <class... Args>
std::string cat(const Args&... args) {
  std::string out;
  (append_to(out, args), ...);
  return out;
}

// A hash for unordered maps keyed by std::string that are looked up by string_view
// (with std::equal_to<>): no copy of the key to find it.
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// The text without leading and trailing spaces, tabs, CR and LF.
inline std::string_view trim(std::string_view s) {
  constexpr std::string_view kBlank = " \t\r\n\f\v";
  size_t begin = s.find_first_not_of(kBlank);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kBlank) - begin + 1);
}

// The pieces between separators; n separators give n + 1 pieces (some perhaps empty).
inline std::vector<std::string_view> split(std::string_view s, char separator) {
  std::vector<std::string_view> pieces;
  for (;;) {
    size_t at = s.find(separator);
    pieces.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return pieces;
    s.remove_prefix(at + 1);
  }
}

// The items with `separator` between them.
template <class Range>
std::string join(const Range& items, std::string_view separator) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out.append(separator);
    first = false;
    append_to(out, item);
  }
  return out;
}

}  // namespace security
