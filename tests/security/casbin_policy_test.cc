// policy.csv reading: the CSV framing of one line (trimming, quoted fields with commas),
// then the lines checked against the model, each error naming the source, line and reason.
#include "security/casbin_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace security {
namespace {

using Fields = std::vector<std::string>;

// A model with policy fields `p` and role definitions `roles` (the matcher uses no role).
CasbinModel model_with(std::string_view p, std::string_view roles) {
  std::string text =
      "[request_definition]\nr = sub, obj, act\n[policy_definition]\np = " + std::string(p) +
      "\n[role_definition]\n" + std::string(roles) +
      "\n[policy_effect]\ne = some(where (p.eft == allow))\n[matchers]\n"
      "m = r.sub == p.sub && r.obj == p.obj && r.act == p.act\n";
  absl::StatusOr<CasbinModel> model = CasbinModel::parse(text, "model.conf");
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(model);
}

TEST(SplitPolicyLine, TrimsFieldsAndHonoursQuotes) {
  struct Case {
    std::string line;
    Fields want;
  };
  const Case cases[] = {
      {"p, alice, data1, read", {"p", "alice", "data1", "read"}},
      {"p,alice,data1,read", {"p", "alice", "data1", "read"}},
      {"p ,\talice  , data1,read ", {"p", "alice", "data1", "read"}},
      {"p, \"a, b\", c", {"p", "a, b", "c"}},
      {"p, \"say \"\"hi\"\"\", x", {"p", "say \"hi\"", "x"}},
      {"p, \"  padded  \" , x", {"p", "  padded  ", "x"}},
      {"p, , x", {"p", "", "x"}},
      {"p, x,", {"p", "x", ""}},
      {"p, (GET)|(POST)", {"p", "(GET)|(POST)"}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Fields> got = split_policy_line(c.line);
    ASSERT_TRUE(got.ok()) << c.line << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.line;
  }
}

TEST(SplitPolicyLine, RefusesBrokenQuoting) {
  struct Case {
    std::string line;
    std::string want;
  };
  const Case cases[] = {
      {"p, \"alice, read", "unterminated quoted field starting at column 4"},
      {"p, \"alice\"x, read", "unexpected 'x' after a quoted field at column 11 (expected ',')"},
      {"p, ali\"ce, read", "'\"' inside an unquoted field at column 7 (quote the whole field)"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Fields> got = split_policy_line(c.line);
    ASSERT_FALSE(got.ok()) << c.line;
    EXPECT_EQ(got.status().message(), c.want);
  }
}

TEST(CasbinPolicy, ReadsRulesAndLinksSkippingBlankAndCommentLines) {
  CasbinModel model = model_with("sub, obj, act", "g = _, _\ng2 = _, _");
  absl::StatusOr<CasbinPolicy> policy = CasbinPolicy::parse(
      "# rules\np, alice, data1, read\n\n  p, bob, \"data, 2\", write\r\n"
      "g, alice, admin\n   # indented comment\ng2, data1, group\n",
      "policy.csv", model);
  ASSERT_TRUE(policy.ok()) << policy.status();
  ASSERT_EQ(policy->rules().size(), 2u);
  EXPECT_EQ(policy->rules()[0].fields, (Fields{"alice", "data1", "read"}));
  EXPECT_EQ(policy->rules()[0].line, 2);
  EXPECT_EQ(policy->rules()[1].fields, (Fields{"bob", "data, 2", "write"}));
  EXPECT_EQ(policy->rules()[1].line, 4);
  ASSERT_EQ(policy->links("g").size(), 1u);
  EXPECT_EQ(policy->links("g")[0].fields, (Fields{"alice", "admin"}));
  ASSERT_EQ(policy->links("g2").size(), 1u);
  EXPECT_EQ(policy->links("g2")[0].line, 7);
  EXPECT_TRUE(policy->links("g3").empty());
}

TEST(CasbinPolicy, LayoutAndCommentsDoNotChangeTheCanonicalText) {
  CasbinModel model = model_with("sub, obj, act", "g = _, _\ng2 = _, _");
  absl::StatusOr<CasbinPolicy> a = CasbinPolicy::parse(
      "g2,data1,group\np,alice,data1,read\ng,alice,admin\np,bob,\"a, b\",write\n", "a.csv", model);
  absl::StatusOr<CasbinPolicy> b = CasbinPolicy::parse(
      "# comment\np, alice, data1, read\n\np ,bob, \"a, b\" , write\ng, alice, admin\n"
      "g2, data1, group",
      "b.csv", model);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->canonical_text(), b->canonical_text());
  EXPECT_EQ(a->canonical_text(),
            "p, alice, data1, read\np, bob, \"a, b\", write\ng, alice, admin\ng2, data1, group\n");
}

TEST(CasbinPolicy, FieldsWithOuterBlanksOfEveryKindSurviveTheCanonicalRoundTrip) {
  // Found by fuzzing (tests/fuzz/corpus/casbin_policy/crash-quoted-vertical-tab-round-trip):
  // a quoted "\v" was written back unquoted and read back as "".
  CasbinModel model = model_with("sub, obj, act", "");
  for (const char* blank : {" ", "\t", "\v", "\f", "\r"}) {
    const std::string field = std::string(blank) + "x" + blank;
    absl::StatusOr<CasbinPolicy> a =
        CasbinPolicy::parse("p, \"" + field + "\", data, read\n", "a.csv", model);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->rules()[0].fields[0], field);
    absl::StatusOr<CasbinPolicy> b = CasbinPolicy::parse(a->canonical_text(), "b.csv", model);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->rules()[0].fields[0], field);
    EXPECT_EQ(b->canonical_text(), a->canonical_text());
  }
}

struct BadPolicy {
  std::string name;
  std::string model_p;
  std::string model_roles;
  std::string text;
  std::string want;  // the whole message
};

std::vector<BadPolicy> bad_policies() {
  return {
      {"TooFewFieldsInAPLine", "sub, obj, act", "g = _, _", "p, alice, data1, read\np, bob, data2",
       "policy.csv:2: a \"p\" line needs 3 fields (sub, obj, act), got 2"},
      {"TooManyFieldsInAPLine", "sub, obj, act", "g = _, _", "\n\np, alice, data1, read, allow",
       "policy.csv:3: a \"p\" line needs 3 fields (sub, obj, act), got 4"},
      {"TooManyFieldsInAGLine", "sub, obj, act", "g = _, _", "g, alice, admin, domain1",
       "policy.csv:1: a \"g\" line needs 2 fields (name, role), got 3"},
      {"AMissingDomainInAGLine", "sub, obj, act", "g = _, _, _", "g, alice, admin",
       "policy.csv:1: a \"g\" line needs 3 fields (name, role, domain), got 2"},
      {"ALineForAnUndefinedG2", "sub, obj, act", "g = _, _",
       "p, alice, data1, read\ng2, data1, group",
       "policy.csv:2: policy type \"g2\" is not defined by the model (defined: p, g)"},
      {"AnUnknownPolicyType", "sub, obj, act", "g = _, _", "p2, alice, data1, read",
       "policy.csv:1: policy type \"p2\" is not defined by the model (defined: p, g)"},
      {"AnUnterminatedQuote", "sub, obj, act", "g = _, _", "p, alice, \"data1, read",
       "policy.csv:1: unterminated quoted field starting at column 11"},
      {"AnEftThatIsNeitherAllowNorDeny", "sub, obj, act, eft", "g = _, _",
       "p, alice, data1, read, allow\np, alice, data2, read, dney",
       "policy.csv:2: eft must be \"allow\" or \"deny\", got \"dney\""},
  };
}

class BadPolicyTest : public testing::TestWithParam<BadPolicy> {};

TEST_P(BadPolicyTest, IsRefusedNamingTheSourceTheLineAndTheReason) {
  CasbinModel model = model_with(GetParam().model_p, GetParam().model_roles);
  absl::StatusOr<CasbinPolicy> policy = CasbinPolicy::parse(GetParam().text, "policy.csv", model);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(policy.status().message(), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(CasbinPolicy, BadPolicyTest, testing::ValuesIn(bad_policies()),
                         [](const testing::TestParamInfo<BadPolicy>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace security
