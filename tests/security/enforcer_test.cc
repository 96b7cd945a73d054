// The Enforcer end to end: Casbin's stock examples (examples/*.conf and *.csv in the
// casbin/casbin repository) with the answers Casbin's own tests expect, the depth and
// cycle rules of role inheritance, the effects, the RBAC queries, errors, and many
// threads sharing one Enforcer.
#include "security/enforcer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace security {
namespace {

using Names = std::vector<std::string>;

struct Ask {
  Names request;
  bool want;
};

struct Example {
  std::string name;
  std::string model;
  std::string policy;
  std::vector<Ask> asks;
};

const char kRbacModel[] = R"([request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
)";

const char kRbacPolicy[] = R"(p, alice, data1, read
p, bob, data2, write
p, data2_admin, data2, read
p, data2_admin, data2, write
g, alice, data2_admin
)";

const char kRbacWithDenyPolicy[] = R"(p, alice, data1, read, allow
p, bob, data2, write, allow
p, data2_admin, data2, read, allow
p, data2_admin, data2, write, allow
p, alice, data2, write, deny
g, alice, data2_admin
)";

// The RBAC model with `e` and `p` replaced.
std::string rbac_model_with(std::string_view effect, std::string_view p = "sub, obj, act, eft") {
  std::string model = kRbacModel;
  model.replace(model.find("some(where (p.eft == allow))"), 28, effect);
  model.replace(model.find("p = sub, obj, act"), 17, "p = " + std::string(p));
  return model;
}

std::vector<Example> stock_examples() {
  std::vector<Example> examples;
  examples.push_back({"BasicAcl",
                      R"([request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
)",
                      "p, alice, data1, read\np, bob, data2, write\n",
                      {{{"alice", "data1", "read"}, true},
                       {{"alice", "data1", "write"}, false},
                       {{"alice", "data2", "read"}, false},
                       {{"alice", "data2", "write"}, false},
                       {{"bob", "data1", "read"}, false},
                       {{"bob", "data1", "write"}, false},
                       {{"bob", "data2", "read"}, false},
                       {{"bob", "data2", "write"}, true}}});
  examples.push_back({"Rbac",
                      kRbacModel,
                      kRbacPolicy,
                      {{{"alice", "data1", "read"}, true},
                       {{"alice", "data1", "write"}, false},
                       {{"alice", "data2", "read"}, true},
                       {{"alice", "data2", "write"}, true},
                       {{"bob", "data1", "read"}, false},
                       {{"bob", "data1", "write"}, false},
                       {{"bob", "data2", "read"}, false},
                       {{"bob", "data2", "write"}, true},
                       {{"data2_admin", "data2", "read"}, true}}});
  examples.push_back({"RbacWithResourceRoles",
                      R"([request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _
g2 = _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub) && g2(r.obj, p.obj) && r.act == p.act
)",
                      R"(p, alice, data1, read
p, bob, data2, write
p, data_group_admin, data_group, write
g, alice, data_group_admin
g2, data1, data_group
g2, data2, data_group
)",
                      {{{"alice", "data1", "read"}, true},
                       {{"alice", "data1", "write"}, true},
                       {{"alice", "data2", "read"}, false},
                       {{"alice", "data2", "write"}, true},
                       {{"bob", "data1", "read"}, false},
                       {{"bob", "data1", "write"}, false},
                       {{"bob", "data2", "read"}, false},
                       {{"bob", "data2", "write"}, true}}});
  examples.push_back({"RbacWithDomains",
                      R"([request_definition]
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
                      R"(p, admin, domain1, data1, read
p, admin, domain1, data1, write
p, admin, domain2, data2, read
p, admin, domain2, data2, write
g, alice, admin, domain1
g, bob, admin, domain2
)",
                      {{{"alice", "domain1", "data1", "read"}, true},
                       {{"alice", "domain1", "data1", "write"}, true},
                       {{"alice", "domain1", "data2", "read"}, false},
                       {{"alice", "domain1", "data2", "write"}, false},
                       {{"alice", "domain2", "data2", "read"}, false},  // admin only in domain1
                       {{"bob", "domain2", "data1", "read"}, false},
                       {{"bob", "domain2", "data1", "write"}, false},
                       {{"bob", "domain2", "data2", "read"}, true},
                       {{"bob", "domain2", "data2", "write"}, true}}});
  examples.push_back({"KeyMatchRestful",
                      R"([request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && keyMatch(r.obj, p.obj) && regexMatch(r.act, p.act)
)",
                      R"(p, alice, /alice_data/*, GET
p, alice, /alice_data/resource1, POST

p, bob, /alice_data/resource2, GET
p, bob, /bob_data/*, POST

p, cathy, /cathy_data, (GET)|(POST)
)",
                      {{{"alice", "/alice_data/resource1", "GET"}, true},
                       {{"alice", "/alice_data/resource1", "POST"}, true},
                       {{"alice", "/alice_data/resource2", "GET"}, true},
                       {{"alice", "/alice_data/resource2", "POST"}, false},
                       {{"alice", "/bob_data/resource1", "GET"}, false},
                       {{"alice", "/bob_data/resource1", "POST"}, false},
                       {{"alice", "/bob_data/resource2", "GET"}, false},
                       {{"alice", "/bob_data/resource2", "POST"}, false},
                       {{"bob", "/alice_data/resource1", "GET"}, false},
                       {{"bob", "/alice_data/resource1", "POST"}, false},
                       {{"bob", "/alice_data/resource2", "GET"}, true},
                       {{"bob", "/alice_data/resource2", "POST"}, false},
                       {{"bob", "/bob_data/resource1", "GET"}, false},
                       {{"bob", "/bob_data/resource1", "POST"}, true},
                       {{"bob", "/bob_data/resource2", "GET"}, false},
                       {{"bob", "/bob_data/resource2", "POST"}, true},
                       {{"cathy", "/cathy_data", "GET"}, true},
                       {{"cathy", "/cathy_data", "POST"}, true},
                       {{"cathy", "/cathy_data", "DELETE"}, false}}});
  examples.push_back({"KeyMatch2",
                      R"([request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && keyMatch2(r.obj, p.obj) && regexMatch(r.act, p.act)
)",
                      R"(p, alice, /alice_data/:resource, GET
p, alice, /alice_data2/:id/using/:resId, GET
)",
                      {{{"alice", "/alice_data", "GET"}, false},
                       {{"alice", "/alice_data/resource1", "GET"}, true},
                       {{"alice", "/alice_data2/myid", "GET"}, false},
                       {{"alice", "/alice_data2/myid/using/res_id", "GET"}, true}}});
  examples.push_back(
      {"RbacWithDenyIsAllowAndDeny",
       rbac_model_with("some(where (p.eft == allow)) && !some(where (p.eft == deny))"),
       kRbacWithDenyPolicy,
       {{{"alice", "data1", "read"}, true},
        {{"alice", "data1", "write"}, false},
        {{"alice", "data2", "read"}, true},
        {{"alice", "data2", "write"}, false},  // allowed by role, denied by name
        {{"bob", "data1", "read"}, false},
        {{"bob", "data1", "write"}, false},
        {{"bob", "data2", "read"}, false},
        {{"bob", "data2", "write"}, true}}});
  examples.push_back({"RbacWithNotDenyIsDenyOverride",
                      rbac_model_with("!some(where (p.eft == deny))"),
                      kRbacWithDenyPolicy,
                      {{{"alice", "data2", "write"}, false},
                       {{"alice", "data1", "read"}, true},
                       {{"alice", "data1", "write"}, true},  // nothing denies it
                       {{"bob", "data1", "read"}, true},
                       {{"bob", "data2", "write"}, true}}});
  examples.push_back({"Priority",
                      rbac_model_with("priority(p.eft) || deny"),
                      R"(p, alice, data1, read, allow
p, data1_deny_group, data1, read, deny
p, data1_deny_group, data1, write, deny
p, alice, data1, write, allow

g, alice, data1_deny_group

p, data2_allow_group, data2, read, allow
p, bob, data2, read, deny
p, bob, data2, write, deny

g, bob, data2_allow_group
)",
                      {{{"alice", "data1", "read"}, true},
                       {{"alice", "data1", "write"}, false},
                       {{"alice", "data2", "read"}, false},
                       {{"alice", "data2", "write"}, false},
                       {{"bob", "data1", "read"}, false},
                       {{"bob", "data1", "write"}, false},
                       {{"bob", "data2", "read"}, true},
                       {{"bob", "data2", "write"}, false}}});
  std::string superuser = kRbacModel;
  superuser.replace(superuser.find("r.act == p.act"), 14, "r.act == p.act || r.sub == \"root\"");
  examples.push_back({"SuperuserLiteral",
                      superuser,
                      kRbacPolicy,
                      {{{"root", "data1", "read"}, true},
                       {{"root", "anything", "at_all"}, true},
                       {{"alice", "data2", "write"}, true},
                       {{"bob", "data1", "read"}, false},
                       {{"rooty", "data1", "read"}, false}}});
  return examples;
}

class StockExampleTest : public testing::TestWithParam<Example> {};

TEST_P(StockExampleTest, GivesCasbinsDocumentedAnswers) {
  absl::StatusOr<Enforcer> e =
      Enforcer::create(GetParam().model, "model.conf", GetParam().policy, "policy.csv");
  ASSERT_TRUE(e.ok()) << e.status();
  for (const Ask& ask : GetParam().asks) {
    absl::StatusOr<bool> got = e->enforce(ask.request);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, ask.want) << testing::PrintToString(ask.request);
  }
}

INSTANTIATE_TEST_SUITE_P(Enforcer, StockExampleTest, testing::ValuesIn(stock_examples()),
                         [](const testing::TestParamInfo<Example>& info) {
                           return info.param.name;
                         });

bool allowed(const Enforcer& e, const Names& request) {
  absl::StatusOr<bool> got = e.enforce(request);
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() && *got;
}

Enforcer make(std::string_view model, std::string_view policy) {
  absl::StatusOr<Enforcer> e = Enforcer::create(model, "model.conf", policy, "policy.csv");
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

TEST(Enforcer, ARoleTenLinksAwayGrantsAndOneElevenLinksAwayDoesNot) {
  // u0 -> u1 -> ... -> u11. Casbin's default role manager (max hierarchy level 10)
  // follows 10 links: u10's permission reaches u0, u11's does not.
  std::string policy = "p, u10, data, read\np, u11, data, write\n";
  for (int i = 0; i < 11; ++i) {
    policy += "g, u" + std::to_string(i) + ", u" + std::to_string(i + 1) + "\n";
  }
  Enforcer e = make(kRbacModel, policy);
  EXPECT_TRUE(allowed(e, {"u0", "data", "read"}));
  EXPECT_FALSE(allowed(e, {"u0", "data", "write"}));
  EXPECT_TRUE(allowed(e, {"u1", "data", "write"}));  // ten links from u1
  EXPECT_EQ(e.get_implicit_roles_for_user("u0").size(), 10u);
}

TEST(Enforcer, CyclesInRoleLinksAreHarmless) {
  Enforcer e =
      make(kRbacModel, "p, a, data, read\np, c, data, write\ng, a, b\ng, b, c\ng, c, a\ng, d, d\n");
  EXPECT_TRUE(allowed(e, {"b", "data", "read"}));
  EXPECT_TRUE(allowed(e, {"a", "data", "write"}));
  EXPECT_FALSE(allowed(e, {"d", "data", "read"}));
  EXPECT_EQ(e.get_implicit_roles_for_user("a"), (Names{"b", "c"}));
}

TEST(Enforcer, AnEmptyPolicyGivesEachEffectsDefault) {
  // Casbin evaluates the matcher once with empty p fields when there is no p line; this
  // enforcer does not, so an empty policy never grants through `r.sub == p.sub` and "".
  EXPECT_FALSE(allowed(make(kRbacModel, ""), {"", "", ""}));
  std::string superuser = kRbacModel;
  superuser.replace(superuser.find("r.act == p.act"), 14, "r.act == p.act || r.sub == \"root\"");
  EXPECT_FALSE(allowed(make(superuser, "g, alice, admin\n"), {"root", "data1", "read"}));
  EXPECT_TRUE(allowed(make(rbac_model_with("!some(where (p.eft == deny))"), ""), {"a", "b", "c"}));
  EXPECT_FALSE(allowed(make(rbac_model_with("priority(p.eft) || deny"), ""), {"a", "b", "c"}));
}

TEST(Enforcer, ARequestOfTheWrongArityIsAnError) {
  Enforcer e = make(kRbacModel, kRbacPolicy);
  absl::StatusOr<bool> got = e.enforce({"alice", "data1"});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(), "request has 2 values; the model's r = sub, obj, act needs 3");
  EXPECT_FALSE(e.enforce({"alice", "data1", "read", "extra"}).ok());
}

TEST(Enforcer, AnInvalidRegexInARuleRefusesThePolicyAtLoad) {
  const char model[] = R"([request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && keyMatch2(r.obj, p.obj) && regexMatch(r.act, p.act)
)";
  absl::StatusOr<Enforcer> e = Enforcer::create(
      model, "model.conf", "p, alice, /data/:id, GET\n\np, bob, /data/*, (GET|POST\n", "pol.csv");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(),
            "pol.csv:3: p.act (a regexMatch pattern): invalid regex \"(GET|POST\": missing ): "
            "(GET|POST");
  e = Enforcer::create(model, "model.conf", "p, alice, /data/(:id, GET\n", "pol.csv");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message().substr(0, 51),
            "pol.csv:1: p.obj (a keyMatch2 pattern): invalid reg");
  // Found by fuzzing (tests/fuzz/corpus/enforcer/crash-keymatch2-nested-star-timeout):
  // std::regex took hours on "a*****"; RE2 refuses nested repetition, as Go does.
  e = Enforcer::create(model, "model.conf", "p, alice, /kv/a**********, GET\n", "pol.csv");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(),
            "pol.csv:1: p.obj (a keyMatch2 pattern): invalid regex \"^/kv/a**********$\": bad "
            "repetition operator: **");
  e = Enforcer::create(model, "model.conf", "p, alice, /kv, (a)\\1\n", "pol.csv");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("invalid escape sequence: \\1"), std::string::npos)
      << e.status();
}

TEST(Enforcer, AValueTooLongForARegexIsAnErrorNotASkippedDeny) {
  // The deny rule uses keyMatch2; if an overlong key made it "not match", the broader
  // allow would let the request through. It must be an error instead.
  Enforcer e = make(R"([request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act, eft
[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
[matchers]
m = r.sub == p.sub && keyMatch2(r.obj, p.obj) && r.act == p.act
)",
                    "p, app, /kv/*, write, allow\np, app, /kv/secret/*, write, deny\n");
  EXPECT_TRUE(allowed(e, {"app", "/kv/x", "write"}));
  EXPECT_FALSE(allowed(e, {"app", "/kv/secret/x", "write"}));
  absl::StatusOr<bool> got = e.enforce({"app", "/kv/secret/" + std::string(2000, 'x'), "write"});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("evaluating the rule at policy.csv:1: a value of 2011 "
                                        "bytes is too long to match against a regex"),
            absl::string_view::npos)
      << got.status();
}

TEST(Enforcer, AnInvalidRegexFromTheRequestIsAnError) {
  Enforcer e = make(R"([request_definition]
r = sub, pattern
[policy_definition]
p = sub
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.sub == p.sub && regexMatch(p.sub, r.pattern)
)",
                    "p, alice\n");
  EXPECT_TRUE(allowed(e, {"alice", "^al"}));
  EXPECT_FALSE(allowed(e, {"alice", "^bo"}));
  EXPECT_FALSE(e.enforce({"alice", "(al"}).ok());
}

TEST(Enforcer, ModelAndPolicyErrorsNameTheirOwnSource) {
  absl::StatusOr<Enforcer> e = Enforcer::create("[oops]\n", "conf/model.conf", "", "p.csv");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message().substr(0, 34), "conf/model.conf:1: unknown section");
  e = Enforcer::create(kRbacModel, "model.conf", "p, alice\n", "conf/policy.csv");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(),
            "conf/policy.csv:1: a \"p\" line needs 3 fields (sub, obj, act), got 1");
}

TEST(Enforcer, AnswersTheRbacQueriesLikeCasbin) {
  Enforcer e =
      make(kRbacModel, std::string(kRbacPolicy) + "g, data2_admin, staff\ng, bob, staff\n");
  EXPECT_EQ(e.get_roles_for_user("alice"), Names{"data2_admin"});
  EXPECT_EQ(e.get_implicit_roles_for_user("alice"), (Names{"data2_admin", "staff"}));
  EXPECT_EQ(e.get_users_for_role("staff"), (Names{"bob", "data2_admin"}));
  EXPECT_TRUE(e.has_role_for_user("alice", "data2_admin"));
  EXPECT_FALSE(e.has_role_for_user("alice", "staff"));  // inherited, not held directly
  EXPECT_EQ(e.get_policy().size(), 4u);
  EXPECT_EQ(e.get_policy()[1], (Names{"bob", "data2", "write"}));
  EXPECT_TRUE(e.has_policy({"data2_admin", "data2", "read"}));
  EXPECT_FALSE(e.has_policy({"data2_admin", "data1", "read"}));
  EXPECT_EQ(e.get_grouping_policy().size(), 3u);
  EXPECT_TRUE(e.get_named_grouping_policy("g2").empty());
}

TEST(Enforcer, RoleQueriesTakeADomain) {
  Enforcer e = make(R"([request_definition]
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
                    "g, alice, admin, domain1\ng, alice, viewer, domain2\n");
  EXPECT_EQ(e.get_roles_for_user("alice", "domain1"), Names{"admin"});
  EXPECT_EQ(e.get_implicit_roles_for_user("alice", "domain2"), Names{"viewer"});
  EXPECT_TRUE(e.get_roles_for_user("alice").empty());
  EXPECT_TRUE(e.has_role_for_user("alice", "viewer", "domain2"));
  EXPECT_FALSE(e.has_role_for_user("alice", "viewer", "domain1"));
}

TEST(Enforcer, TheFingerprintFollowsContentNotLayout) {
  Enforcer a = make(kRbacModel, kRbacPolicy);
  Enforcer b = make(std::string("# a comment\n") + kRbacModel,
                    "p,alice,data1,read\n# comment\np, bob, data2, write\np, data2_admin, data2, "
                    "read\np, data2_admin, data2, write\n\ng,  alice, data2_admin");
  Enforcer c = make(kRbacModel, std::string(kRbacPolicy) + "g, bob, data2_admin\n");
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(a.canonical_text(), b.canonical_text());
  EXPECT_NE(a.fingerprint(), c.fingerprint());
  ASSERT_EQ(a.fingerprint().size(), 8u + 16u);
  EXPECT_EQ(a.fingerprint().substr(0, 8), "fnv1a64:");
  EXPECT_EQ(a.fingerprint().find_first_not_of("0123456789abcdef", 8), std::string::npos);
}

TEST(Enforcer, ManyThreadsShareOneEnforcerAndAgreeWithOne) {
  Enforcer e = make(rbac_model_with("some(where (p.eft == allow)) && !some(where (p.eft == deny))"),
                    kRbacWithDenyPolicy);
  const std::vector<Names> requests = {{"alice", "data1", "read"}, {"alice", "data2", "write"},
                                       {"alice", "data2", "read"}, {"bob", "data2", "write"},
                                       {"bob", "data1", "read"},   {"carol", "data1", "read"}};
  std::vector<bool> want;
  for (const Names& r : requests) want.push_back(allowed(e, r));
  std::atomic<int> mismatches = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        size_t k = i % requests.size();
        absl::StatusOr<bool> got = e.enforce(requests[k]);
        if (!got.ok() || *got != want[k]) ++mismatches;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(want, (std::vector<bool>{true, false, true, true, false, false}));
}

}  // namespace
}  // namespace security
