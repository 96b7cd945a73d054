// model.conf parsing: the supported subset is read into its parts, and everything else is
// refused with "<source>:<line>: <reason>" - unknown sections and keys, missing parts,
// unsupported effects, and matchers that are malformed or name what the model lacks.
#include "security/casbin_model.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace security {
namespace {

using Names = std::vector<std::string>;

// A model laid out one item per line, so the tests know every line number:
//  1 [request_definition]   2 r = ...   3 [policy_definition]   4 p = ...
//  5 [role_definition]      6 g = ...   7 [policy_effect]       8 e = ...
//  9 [matchers]            10 m = ...
struct ModelText {
  std::string r = "sub, obj, act";
  std::string p = "sub, obj, act";
  std::string g = "_, _";
  std::string e = "some(where (p.eft == allow))";
  std::string m = "g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act";
  std::string text() const {
    return "[request_definition]\nr = " + r + "\n[policy_definition]\np = " + p +
           "\n[role_definition]\ng = " + g + "\n[policy_effect]\ne = " + e +
           "\n[matchers]\nm = " + m + "\n";
  }
};

TEST(CasbinModel, ReadsTheRbacWithDomainsModel) {
  absl::StatusOr<CasbinModel> model = CasbinModel::parse(R"(
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
)",
                                                         "rbac_with_domains_model.conf");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->request_fields(), (Names{"sub", "dom", "obj", "act"}));
  EXPECT_EQ(model->policy_fields(), (Names{"sub", "dom", "obj", "act"}));
  EXPECT_FALSE(model->eft_field().has_value());
  ASSERT_EQ(model->role_definitions().size(), 1u);
  EXPECT_EQ(model->role_definitions()[0].name, "g");
  EXPECT_TRUE(model->role_definitions()[0].has_domain);
  EXPECT_EQ(model->effect(), PolicyEffect::kAllowOverride);
}

TEST(CasbinModel, ReadsEveryEffectAndTheEftField) {
  struct Case {
    std::string text;
    PolicyEffect want;
  };
  const Case cases[] = {
      {"some(where (p.eft == allow))", PolicyEffect::kAllowOverride},
      {"!some(where (p.eft == deny))", PolicyEffect::kDenyOverride},
      {"some(where (p.eft == allow)) && !some(where (p.eft == deny))", PolicyEffect::kAllowAndDeny},
      {"priority(p.eft) || deny", PolicyEffect::kPriority},
  };
  for (const Case& c : cases) {
    ModelText t;
    t.p = "sub, obj, act, eft";
    t.e = c.text;
    absl::StatusOr<CasbinModel> model = CasbinModel::parse(t.text(), "model.conf");
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ(model->effect(), c.want) << c.text;
    EXPECT_EQ(model->eft_field(), 3u);
    EXPECT_EQ(policy_effect_text(c.want), c.text);
  }
}

TEST(CasbinModel, CommentsContinuationsAndLayoutDoNotChangeTheCanonicalText) {
  ModelText plain;
  plain.g = "_, _\ng2 = _, _";
  absl::StatusOr<CasbinModel> a = CasbinModel::parse(plain.text(), "a.conf");
  absl::StatusOr<CasbinModel> b = CasbinModel::parse(R"(# the RBAC model
; a semicolon comment too
[matchers]
m = g(r.sub, p.sub) && \
    r.obj == p.obj && r.act == p.act   # the usual three checks
[policy_effect]
  e   =   some(where (p.eft == allow))
[role_definition]
g2 = _, _
g = _, _
[request_definition]
r=sub,obj,act
[policy_definition]
p = sub ,obj, act
)",
                                                     "b.conf");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->canonical_text(), b->canonical_text());
  EXPECT_EQ(a->canonical_text(),
            "[request_definition]\nr = sub, obj, act\n\n[policy_definition]\np = sub, obj, act\n"
            "\n[role_definition]\ng = _, _\ng2 = _, _\n\n[policy_effect]\ne = some(where (p.eft "
            "== allow))\n\n[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj && r.act == "
            "p.act\n");
}

TEST(CasbinModel, AHashInsideAStringLiteralIsNotAComment) {
  ModelText t;
  t.m = "r.sub == \"#root\" && r.obj == p.obj";
  absl::StatusOr<CasbinModel> model = CasbinModel::parse(t.text(), "model.conf");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_NE(model->canonical_text().find("m = r.sub == \"#root\" && r.obj == p.obj\n"),
            std::string::npos);
}

TEST(CasbinModel, AnUnsupportedEffectNamesTheSourceTheLineAndTheEffect) {
  ModelText t;
  t.e = "foo";
  absl::StatusOr<CasbinModel> model = CasbinModel::parse(t.text(), "model.conf");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model.status().message(), "model.conf:8: unsupported policy effect \"foo\"");
}

struct BadModel {
  std::string name;
  std::string text;
  std::string want;  // the whole message
};

std::vector<BadModel> bad_models() {
  std::vector<BadModel> cases;
  auto with = [](auto edit) {
    ModelText t;
    edit(t);
    return t.text();
  };
  cases.push_back({"UnknownSection", "[request_definition]\nr = sub\n[policy]\np = sub\n",
                   "model.conf:3: unknown section [policy] (expected request_definition, "
                   "policy_definition, role_definition, policy_effect, matchers)"});
  cases.push_back({"NewerCasbinSectionsAreUnknownToo",
                   with([](ModelText& t) { t.m += "\n[constraint_definition]\nc = x"; }),
                   "model.conf:11: unknown section [constraint_definition] (expected "
                   "request_definition, policy_definition, role_definition, policy_effect, "
                   "matchers)"});
  cases.push_back({"MissingMatcher",
                   "[request_definition]\nr = sub\n[policy_definition]\np = sub\n"
                   "[policy_effect]\ne = some(where (p.eft == allow))\n",
                   "model.conf:6: missing matcher: expected \"m = ...\" in [matchers]"});
  cases.push_back({"MissingRequestDefinition",
                   "[policy_definition]\np = sub\n[policy_effect]\n"
                   "e = some(where (p.eft == allow))\n[matchers]\nm = p.sub == \"x\"",
                   "model.conf:6: missing request definition: expected \"r = ...\" in "
                   "[request_definition]"});
  cases.push_back({"UnbalancedOpeningParenthesis",
                   with([](ModelText& t) { t.m = "(r.sub == p.sub && r.obj == p.obj"; }),
                   "model.conf:10: in matcher: unbalanced parentheses: \"(\" at column 1 is "
                   "not closed (found end of matcher at column 34)"});
  cases.push_back({"UnbalancedClosingParenthesis",
                   with([](ModelText& t) { t.m = "r.sub == p.sub)"; }),
                   "model.conf:10: in matcher: unbalanced parentheses: \")\" at column 15 "
                   "closes nothing"});
  cases.push_back({"UnclosedCall", with([](ModelText& t) { t.m = "g(r.sub, p.sub"; }),
                   "model.conf:10: in matcher: unbalanced parentheses: the call to g at "
                   "column 1 is not closed (found end of matcher at column 15)"});
  cases.push_back({"UnknownFunction", with([](ModelText& t) { t.m = "keyMatch3(r.obj, p.obj)"; }),
                   "model.conf:10: in matcher: unknown function \"keyMatch3\" at column 1 "
                   "(known: g, keyMatch, keyMatch2, regexMatch)"});
  cases.push_back({"UndefinedG2IsAnUnknownFunction",
                   with([](ModelText& t) { t.m = "g2(r.obj, p.obj)"; }),
                   "model.conf:10: in matcher: unknown function \"g2\" at column 1 (known: g, "
                   "keyMatch, keyMatch2, regexMatch)"});
  cases.push_back({"UnknownRequestField",
                   with([](ModelText& t) { t.m = "r.sub == p.sub && r.foo == p.obj"; }),
                   "model.conf:10: in matcher: unknown request field \"r.foo\" at column 19 "
                   "(r = sub, obj, act)"});
  cases.push_back({"UnknownPolicyField", with([](ModelText& t) { t.m = "r.sub == p.eft"; }),
                   "model.conf:10: in matcher: unknown policy field \"p.eft\" at column 10 "
                   "(p = sub, obj, act)"});
  cases.push_back({"AttributeAccessOfAbac",
                   with([](ModelText& t) { t.m = "r.sub.Owner == p.sub"; }),
                   "model.conf:10: in matcher: attribute access after \"r.sub\" at column 6 "
                   "is not supported"});
  cases.push_back({"RoleFunctionWithTheWrongArity",
                   with([](ModelText& t) { t.m = "g(r.sub, p.sub, r.obj)"; }),
                   "model.conf:10: in matcher: g() at column 1 takes 2 arguments as defined "
                   "in [role_definition], got 3"});
  cases.push_back({"BuiltinWithTheWrongArity", with([](ModelText& t) { t.m = "keyMatch(r.obj)"; }),
                   "model.conf:10: in matcher: keyMatch() at column 1 takes 2 arguments, got 1"});
  cases.push_back({"ANumber", with([](ModelText& t) { t.m = "r.sub == p.sub && 1 == 1"; }),
                   "model.conf:10: in matcher: unsupported character '1' at column 19"});
  cases.push_back({"TheInOperator", with([](ModelText& t) { t.m = "r.sub in (\"a\", \"b\")"; }),
                   "model.conf:10: in matcher: unexpected identifier \"in\" at column 7"});
  cases.push_back({"ASingleQuotedLiteral", with([](ModelText& t) { t.m = "r.sub == 'root'"; }),
                   "model.conf:10: in matcher: unsupported character ''' at column 10"});
  cases.push_back({"UnterminatedStringLiteral", with([](ModelText& t) { t.m = "r.sub == \"root"; }),
                   "model.conf:10: in matcher: unterminated string literal starting at column "
                   "10"});
  cases.push_back({"AStringWhereABooleanIsNeeded", with([](ModelText& t) { t.m = "r.sub"; }),
                   "model.conf:10: in matcher: the matcher needs a boolean, but the string "
                   "value at column 1 is not one"});
  cases.push_back({"ABooleanWhereAStringIsNeeded",
                   with([](ModelText& t) { t.m = "g(r.sub, p.sub) == p.sub"; }),
                   "model.conf:10: in matcher: \"==\" needs a string, but the boolean "
                   "expression at column 1 is not one"});
  cases.push_back({"NotBindsTighterThanEquals", with([](ModelText& t) { t.m = "!r.sub == p.sub"; }),
                   "model.conf:10: in matcher: \"!\" needs a boolean, but the string value at "
                   "column 2 is not one"});
  cases.push_back({"AnInvalidRegexLiteral",
                   with([](ModelText& t) { t.m = "regexMatch(r.act, \"(GET\")"; }),
                   "model.conf:10: in matcher: invalid regex \"(GET\": missing ): (GET "
                   "in regexMatch() at column 1"});
  cases.push_back({"NestingTooDeep", with([](ModelText& t) {
                     t.m = std::string(100, '(') + "r.sub == p.sub" + std::string(100, ')');
                   }),
                   "model.conf:10: in matcher: expression nested more than 64 levels deep at "
                   "column 65"});
  cases.push_back({"EmptyMatcher", with([](ModelText& t) { t.m = "# nothing"; }),
                   "model.conf:10: \"m\" has an empty value"});
  cases.push_back({"SubjectPriorityIsUnsupported", with([](ModelText& t) {
                     t.p = "sub, obj, act, eft";
                     t.e = "subjectPriority(p.eft) || deny";
                   }),
                   "model.conf:8: unsupported policy effect \"subjectPriority(p.eft) || deny\""});
  cases.push_back({"AnEffectSpelledDifferentlyFromCasbin",
                   with([](ModelText& t) { t.e = "some(where(p.eft==allow))"; }),
                   "model.conf:8: unsupported policy effect \"some(where(p.eft==allow))\""});
  cases.push_back({"ADenyingEffectWithoutAnEftField",
                   with([](ModelText& t) { t.e = "!some(where (p.eft == deny))"; }),
                   "model.conf:8: policy effect \"!some(where (p.eft == deny))\" needs an eft "
                   "field in [policy_definition] p"});
  cases.push_back({"ASecondRequestDefinition", with([](ModelText& t) { t.r += "\nr2 = sub"; }),
                   "model.conf:3: unsupported key \"r2\" in [request_definition] (only \"r\")"});
  cases.push_back({"AnUnknownRoleKey", with([](ModelText& t) { t.g += "\nrole = _, _"; }),
                   "model.conf:7: unsupported key \"role\" in [role_definition] (expected g, "
                   "g2, g3, ...)"});
  cases.push_back({"ARoleDefinitionOfFourParties", with([](ModelText& t) { t.g = "_, _, _, _"; }),
                   "model.conf:6: \"g = _, _, _, _\" must be \"_, _\" or \"_, _, _\""});
  cases.push_back({"AKeyDefinedTwice", with([](ModelText& t) { t.p += "\np = sub"; }),
                   "model.conf:5: \"p\" is defined twice in [policy_definition] (first at line "
                   "4)"});
  cases.push_back({"ASectionTwice", with([](ModelText& t) { t.m += "\n[matchers]"; }),
                   "model.conf:11: section [matchers] appears twice (first at line 9)"});
  cases.push_back({"AKeyOutsideAnySection", "r = sub\n[request_definition]\n",
                   "model.conf:1: \"r = sub\" is outside any section"});
  cases.push_back({"ALineWithoutEquals", with([](ModelText& t) { t.r += "\nsub obj"; }),
                   "model.conf:3: expected \"key = value\", got \"sub obj\""});
  cases.push_back({"ABadFieldName", with([](ModelText& t) { t.r = "sub, 2obj"; }),
                   "model.conf:2: field name \"2obj\" of \"r\" is not an identifier"});
  cases.push_back({"ARepeatedField", with([](ModelText& t) { t.p = "sub, sub"; }),
                   "model.conf:4: field \"sub\" appears twice in \"p\""});
  return cases;
}

class BadModelTest : public testing::TestWithParam<BadModel> {};

TEST_P(BadModelTest, IsRefusedNamingTheSourceTheLineAndTheReason) {
  absl::StatusOr<CasbinModel> model = CasbinModel::parse(GetParam().text, "model.conf");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(model.status().message(), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(CasbinModel, BadModelTest, testing::ValuesIn(bad_models()),
                         [](const testing::TestParamInfo<BadModel>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace security
