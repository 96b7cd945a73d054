// Message text for this layer's errors: concatenation of strings, views and numbers
// (Debian's abseil predates std::string_view in absl::StrCat).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

namespace security {

template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  auto add = [&out](const auto& p) {
    using T = std::decay_t<decltype(p)>;
    if constexpr (std::is_arithmetic_v<T>) {
      out += std::to_string(p);
    } else {
      out += std::string_view(p);
    }
  };
  (add(parts), ...);
  return out;
}

}  // namespace security
