// keyMatch, keyMatch2 and regexMatch with the cases of Casbin's util tests and the corner
// cases the spec calls out: keyMatch's first '*', keyMatch2's unescaped regex, regexMatch
// unanchored, and the length bound on what a regex is matched against.
#include "security/builtin_functions.h"

#include <gtest/gtest.h>

#include <string>

namespace security {
namespace {

struct MatchCase {
  std::string key;
  std::string pattern;
  bool want;
};

TEST(KeyMatch, MatchesCasbinsDocumentedCases) {
  const MatchCase cases[] = {
      {"/foo", "/foo", true},
      {"/foo", "/foo*", true},
      {"/foo", "/foo/*", false},
      {"/foo/bar", "/foo", false},
      {"/foo/bar", "/foo*", true},
      {"/foo/bar", "/foo/*", true},
      {"/foobar", "/foo", false},
      {"/foobar", "/foo*", true},
      {"/foobar", "/foo/*", false},
      {"/foo/", "/foo/*", true},
      {"", "*", true},
      {"", "", true},
      {"anything", "*", true},
      {"/fo", "/foo*", false},
  };
  for (const MatchCase& c : cases) {
    EXPECT_EQ(key_match(c.key, c.pattern), c.want) << c.key << " vs " << c.pattern;
  }
}

TEST(KeyMatch, KeyMatchOnlyHonoursTheFirstStar) {
  // Everything after the first '*' is ignored, including text and further stars.
  EXPECT_TRUE(key_match("/a/x/y", "/a/*/c"));
  EXPECT_TRUE(key_match("/a/b", "/a/*/c/*"));
  EXPECT_TRUE(key_match("/a/zzz", "/a/*zzz-not-required"));
  // A '*' in the key is an ordinary character.
  EXPECT_FALSE(key_match("/a*", "/ab"));
  // Regex metacharacters mean nothing to keyMatch.
  EXPECT_FALSE(key_match("/aXb", "/a.b"));
  EXPECT_TRUE(key_match("/a.b/c", "/a.b/*"));
}

TEST(KeyMatch2, MatchesCasbinsDocumentedCases) {
  const MatchCase cases[] = {
      {"/foo", "/foo", true},
      {"/foo", "/foo*", true},  // "o*" is a regex repetition: "/fo" then any number of 'o'
      {"/foo", "/foo/*", false},
      {"/foo/bar", "/foo", false},
      {"/foo/bar", "/foo*", false},  // unlike keyMatch
      {"/foo/bar", "/foo/*", true},
      {"/foobar", "/foo", false},
      {"/foobar", "/foo*", false},  // unlike keyMatch
      {"/foobar", "/foo/*", false},
      {"/", "/:resource", false},
      {"/resource1", "/:resource", true},
      {"/myid", "/:id/using/:resId", false},
      {"/myid/using/myresid", "/:id/using/:resId", true},
      {"/proxy/myid", "/proxy/:id/*", false},
      {"/proxy/myid/", "/proxy/:id/*", true},
      {"/proxy/myid/res", "/proxy/:id/*", true},
      {"/proxy/myid/res/res2", "/proxy/:id/*", true},
      {"/proxy/myid/res/res2/res3", "/proxy/:id/*", true},
      {"/proxy/", "/proxy/:id/*", false},
      {"/alice", "/:id", true},
      {"/alice/all", "/:id/all", true},
      {"/alice", "/:id/all", false},
      {"/alice/all", "/:id", false},
      {"/alice/all", "/:/all", false},  // ':' needs at least one character after it
  };
  for (const MatchCase& c : cases) {
    absl::StatusOr<bool> got = key_match2(c.key, c.pattern);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want) << c.key << " vs " << c.pattern;
  }
}

TEST(KeyMatch2, RewritesStarsAndNamedSegmentsAndEscapesNothingElse) {
  EXPECT_EQ(key_match2_regex("/proxy/:id/*"), "^/proxy/[^/]+/.*$");
  EXPECT_EQ(key_match2_regex("/:id.json"), "^/[^/]+$");  // the name runs to the next '/'
  EXPECT_EQ(key_match2_regex("/a.b"), "^/a.b$");
  EXPECT_EQ(key_match2_regex("/x:"), "^/x:$");
  // The unescaped '.' matches any character, as in Casbin.
  EXPECT_TRUE(*key_match2("/aXb", "/a.b"));
  EXPECT_TRUE(*key_match2("/data/v1", "/data/v(1|2)"));
  EXPECT_FALSE(*key_match2("/data/v3", "/data/v(1|2)"));
}

TEST(RegexMatch, SearchesUnanchored) {
  const MatchCase cases[] = {
      {"/topic/create", "/topic/create", true},
      {"/topic/create/123", "/topic/create", true},
      {"/topic/delete", "/topic/create", false},
      {"/topic/edit", "/topic/edit/[0-9]+", false},
      {"/topic/edit/123", "/topic/edit/[0-9]+", true},
      {"/topic/edit/abc", "/topic/edit/[0-9]+", false},
      {"/foo/delete/123", "/topic/delete/[0-9]+", false},
      {"/topic/delete/0", "/topic/delete/[0-9]+", true},
      {"/topic/edit/123s", "/topic/delete/[0-9]+", false},
      {"GET", "(GET)|(POST)", true},
      {"xxPOSTxx", "(GET)|(POST)", true},  // unanchored: a match anywhere counts
      {"DELETE", "(GET)|(POST)", false},
      {"xxPOSTxx", "^(GET|POST)$", false},  // anchors in the pattern are honoured
  };
  for (const MatchCase& c : cases) {
    absl::StatusOr<bool> got = regex_match(c.key, c.pattern);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want) << c.key << " vs " << c.pattern;
  }
}

TEST(RegexMatch, AnInvalidPatternIsAnErrorNamingIt) {
  absl::StatusOr<bool> got = regex_match("x", "(GET");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("invalid regex \"(GET\""), absl::string_view::npos)
      << got.status();
  EXPECT_FALSE(key_match2("/x", "/(:id").ok());
}

TEST(RegexMatch, AnInputPastTheLimitIsRefusedNotMatched) {
  std::string at_limit = "/" + std::string(kMaxRegexInputBytes - 1, 'a');
  std::string past_limit = at_limit + "a";
  EXPECT_TRUE(*regex_match(at_limit, "^/a+$"));
  absl::StatusOr<bool> got = regex_match(past_limit, "^/a+$");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("1025 bytes is too long"), absl::string_view::npos)
      << got.status();
  EXPECT_FALSE(key_match2(past_limit, "/*").ok());
  // keyMatch uses no regex, so it has no limit.
  EXPECT_TRUE(key_match(std::string(100000, 'a'), "a*"));
}

TEST(RegexMatch, APatternPastTheLimitIsRefused) {
  absl::StatusOr<std::shared_ptr<const Regex>> re =
      compile_regex(std::string(kMaxRegexInputBytes + 1, 'a'));
  ASSERT_FALSE(re.ok());
  EXPECT_NE(re.status().message().find("longer than the limit"), absl::string_view::npos);
}

}  // namespace
}  // namespace security
