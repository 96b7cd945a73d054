// The matching functions a Casbin matcher may call besides g(): keyMatch, keyMatch2 and
// regexMatch, with the exact semantics of Casbin's util/builtin_operators.go, and the
// bounded regex search they share (std::regex recurses once per input byte).
#pragma once

#include <cstddef>
#include <memory>
#include <regex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace security {

// libstdc++'s std::regex executor recurses about once per input byte (measured here: a
// 40 KB key overflowed an 8 MiB stack on "^/foo/.*$"), so the functions that use a regex
// refuse inputs and patterns longer than this instead of crashing the member. A refusal is
// an error, never "no match": a deny rule that failed to match would turn into an allow.
inline constexpr size_t kMaxRegexInputBytes = 1024;

// keyMatch(key, pattern): only the first '*' of the pattern is special. Without one, the
// key must equal the pattern; with one, the key must start with the text before it (what
// follows the first '*' is ignored, so "/a/*/c" matches "/a/x/y").
bool key_match(std::string_view key, std::string_view pattern);

// The regex keyMatch2 searches with: "/*" becomes "/.*", every ':' followed by one or more
// non-'/' characters becomes "[^/]+", and the result is anchored with ^...$. Nothing else
// is escaped, so a '.' in the pattern matches any character, as in Casbin.
std::string key_match2_regex(std::string_view pattern);

// Compiles `pattern` with the ECMAScript grammar (Casbin uses Go's RE2; the common subset
// - classes, alternation, repetition, anchors - means the same; RE2-only syntax such as
// (?P<name>...) is refused here). An invalid or overlong pattern is an InvalidArgumentError
// naming it and the reason.
absl::StatusOr<std::shared_ptr<const std::regex>> compile_regex(std::string_view pattern);

// Unanchored search of `input` for `re` (regexMatch's semantics: "(GET)|(POST)" matches
// "xGETx"). An input longer than kMaxRegexInputBytes is an InvalidArgumentError.
absl::StatusOr<bool> regex_search_bounded(std::string_view input, const std::regex& re);

// keyMatch2(key, pattern) and regexMatch(key, pattern) with the pattern compiled on the
// spot: for patterns that arrive with the request. An invalid pattern is an error.
absl::StatusOr<bool> key_match2(std::string_view key, std::string_view pattern);
absl::StatusOr<bool> regex_match(std::string_view key, std::string_view pattern);

}  // namespace security
