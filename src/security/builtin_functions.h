// The matching functions a Casbin matcher may call besides g(): keyMatch, keyMatch2 and
// regexMatch, with the exact semantics of Casbin's util/builtin_operators.go, and the
// regex search they share: RE2, Go's regexp syntax (Casbin's own), in linear time.
#pragma once

#include <re2/re2.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace security {

// Patterns and inputs longer than this are refused: objects and actions are short names,
// and a bound keeps each check's cost small whatever a request carries. A refusal is an
// error, never "no match": a deny rule that failed to match would turn into an allow.
// (libstdc++'s std::regex, used first, recursed once per input byte and backtracked
// exponentially on "a***": RE2 does neither, and refuses what Go's regexp refuses.)
inline constexpr size_t kMaxRegexInputBytes = 1024;

using Regex = re2::RE2;

// keyMatch(key, pattern): only the first '*' of the pattern is special. Without one, the
// key must equal the pattern; with one, the key must start with the text before it (what
// follows the first '*' is ignored, so "/a/*/c" matches "/a/x/y").
bool key_match(std::string_view key, std::string_view pattern);

// The regex keyMatch2 searches with: "/*" becomes "/.*", every ':' followed by one or more
// non-'/' characters becomes "[^/]+", and the result is anchored with ^...$. Nothing else
// is escaped, so a '.' in the pattern matches any character, as in Casbin.
std::string key_match2_regex(std::string_view pattern);

// Compiles `pattern` with RE2 (the syntax of Go's regexp, which Casbin uses: nested
// repetition such as "a**", repeat counts above 1000 and backreferences are refused, as Go
// refuses them). An invalid or overlong pattern is an InvalidArgumentError naming it and
// the reason.
absl::StatusOr<std::shared_ptr<const Regex>> compile_regex(std::string_view pattern);

// Unanchored search of `input` for `re` (regexMatch's semantics: "(GET)|(POST)" matches
// "xGETx"). An input longer than kMaxRegexInputBytes is an InvalidArgumentError.
absl::StatusOr<bool> regex_search_bounded(std::string_view input, const Regex& re);

// keyMatch2(key, pattern) and regexMatch(key, pattern) with the pattern compiled on the
// spot: for patterns that arrive with the request. An invalid pattern is an error.
absl::StatusOr<bool> key_match2(std::string_view key, std::string_view pattern);
absl::StatusOr<bool> regex_match(std::string_view key, std::string_view pattern);

}  // namespace security
