#include "security/builtin_functions.h"

#include "absl/status/status.h"
#include "security/text_util.h"

namespace security {

bool key_match(std::string_view key, std::string_view pattern) {
  size_t star = pattern.find('*');
  if (star == std::string_view::npos) return key == pattern;
  // A key shorter than the prefix differs from it in length, so it never matches.
  return key.substr(0, star) == pattern.substr(0, star);
}

std::string key_match2_regex(std::string_view pattern) {
  std::string out = "^";
  for (size_t i = 0; i < pattern.size();) {
    if (pattern.compare(i, 2, "/*") == 0) {
      out += "/.*";
      i += 2;
    } else if (pattern[i] == ':' && i + 1 < pattern.size() && pattern[i + 1] != '/') {
      // Casbin replaces the regex ":[^/]+": the colon and every character up to a '/'.
      out += "[^/]+";
      i = pattern.find('/', i);
      if (i == std::string_view::npos) i = pattern.size();
    } else {
      out += pattern[i];
      ++i;
    }
  }
  out += '$';
  return out;
}

absl::StatusOr<std::shared_ptr<const Regex>> compile_regex(std::string_view pattern) {
  if (pattern.size() > kMaxRegexInputBytes) {
    return absl::InvalidArgumentError(cat("regex pattern of ", pattern.size(),
                                          " bytes is longer than the limit of ",
                                          kMaxRegexInputBytes, " bytes"));
  }
  RE2::Options options;
  options.set_log_errors(false);  // the error is returned, naming the pattern
  auto re =
      std::make_shared<const Regex>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) {
    return absl::InvalidArgumentError(cat("invalid regex \"", pattern, "\": ", re->error()));
  }
  return re;
}

absl::StatusOr<bool> regex_search_bounded(std::string_view input, const Regex& re) {
  if (input.size() > kMaxRegexInputBytes) {
    return absl::InvalidArgumentError(cat("a value of ", input.size(),
                                          " bytes is too long to match against a regex"
                                          " (the limit is ",
                                          kMaxRegexInputBytes, " bytes)"));
  }
  return RE2::PartialMatch(re2::StringPiece(input.data(), input.size()), re);
}

absl::StatusOr<bool> key_match2(std::string_view key, std::string_view pattern) {
  absl::StatusOr<std::shared_ptr<const Regex>> re = compile_regex(key_match2_regex(pattern));
  if (!re.ok()) return re.status();
  return regex_search_bounded(key, **re);
}

absl::StatusOr<bool> regex_match(std::string_view key, std::string_view pattern) {
  absl::StatusOr<std::shared_ptr<const Regex>> re = compile_regex(pattern);
  if (!re.ok()) return re.status();
  return regex_search_bounded(key, **re);
}

}  // namespace security
