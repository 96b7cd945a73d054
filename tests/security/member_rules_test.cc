// The validator's membership rules as tables: what MemberAdd and MemberUpdate refuse
// before anything is proposed (the server maps each kind to etcd's code and words).
#include "security/member_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace security {
namespace {

const std::vector<MemberView> kThree = {
    {.id = 0xa1, .peer_urls = {"http://10.0.0.1:2380"}},
    {.id = 0xb2, .peer_urls = {"http://10.0.0.2:2380"}},
    {.id = 0xc3, .peer_urls = {"http://10.0.0.3:2380", "http://[fd00::3]:2380"}},
};

struct AddCase {
  std::string what;
  std::vector<std::string> urls;
  bool learner;
  std::optional<MemberRefusalKind> want;
  std::string detail;  // a piece of it
};

TEST(MemberRules, AddRefusesBadDuplicateAndTakenUrlsAndAFullCluster) {
  const AddCase cases[] = {
      {"a fresh voter", {"http://10.0.0.4:2380"}, false, std::nullopt, ""},
      {"a fresh learner", {"http://10.0.0.4:2380"}, true, std::nullopt, ""},
      {"no URL", {}, false, MemberRefusalKind::kBadUrl, "no peer URL"},
      {"a space in the host",
       {"http://my host:5555"},
       false,
       MemberRefusalKind::kBadUrl,
       "\"my host\""},
      {"unbracketed IPv6", {"http://::1:5555"}, false, MemberRefusalKind::kBadUrl, "brackets"},
      {"port 0", {"http://10.0.0.4:0"}, false, MemberRefusalKind::kBadUrl, "port \"0\""},
      {"user info", {"http://u@10.0.0.4:1"}, false, MemberRefusalKind::kBadUrl, "user info"},
      {"an underscore", {"http://bad_host:1"}, false, MemberRefusalKind::kBadUrl, "bad_host"},
      {"the same URL twice",
       {"http://10.0.0.4:2380", "http://10.0.0.4:2380"},
       false,
       MemberRefusalKind::kBadUrl,
       "given twice"},
      {"another member's URL",
       {"http://10.0.0.9:2380", "http://10.0.0.2:2380"},
       false,
       MemberRefusalKind::kUrlInUse,
       "member b2's"},
      {"another member's second URL",
       {"http://[fd00::3]:2380"},
       false,
       MemberRefusalKind::kUrlInUse,
       "member c3's"},
  };
  for (const AddCase& c : cases) {
    auto r = check_member_add(c.urls, c.learner, kThree, ClusterLimits{}, {});
    ASSERT_EQ(r.has_value(), c.want.has_value()) << c.what << (r ? ": " + r->detail : "");
    if (!r) continue;
    EXPECT_EQ(r->kind, *c.want) << c.what;
    EXPECT_NE(r->detail.find(c.detail), std::string::npos) << c.what << ": " << r->detail;
  }
}

TEST(MemberRules, AddRespectsTheVoterAndLearnerLimits) {
  std::vector<MemberView> members = kThree;
  const ClusterLimits limits{.max_voters = 3, .max_learners = 1};
  auto voter = check_member_add({"http://10.0.0.4:2380"}, false, members, limits, {});
  ASSERT_TRUE(voter.has_value());
  EXPECT_EQ(voter->kind, MemberRefusalKind::kTooManyVoters);
  EXPECT_EQ(voter->detail, "the cluster has 3 voting members, the most --max-voters allows (3)");
  EXPECT_FALSE(check_member_add({"http://10.0.0.4:2380"}, true, members, limits, {}).has_value());
  members.push_back({.id = 0xd4, .peer_urls = {"http://10.0.0.4:2380"}, .learner = true});
  auto learner = check_member_add({"http://10.0.0.5:2380"}, true, members, limits, {});
  ASSERT_TRUE(learner.has_value());
  EXPECT_EQ(learner->kind, MemberRefusalKind::kTooManyLearners);
  EXPECT_EQ(learner->detail, "the cluster has 1 learner, the most --max-learners allows (1)");
  // A learner does not count against the voters.
  EXPECT_FALSE(check_member_add({"http://10.0.0.5:2380"}, false, members,
                                ClusterLimits{.max_voters = 4, .max_learners = 1}, {})
                   .has_value());
}

TEST(MemberRules, TheAllowListAppliesToEveryPeerUrl) {
  const std::vector<Network> allowed = *parse_networks("10.0.0.0/24");
  EXPECT_FALSE(check_member_add({"http://10.0.0.4:2380"}, false, kThree, {}, allowed).has_value());
  auto out = check_member_add({"http://10.0.1.4:2380"}, false, kThree, {}, allowed);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->kind, MemberRefusalKind::kUrlNotAllowed);
  EXPECT_EQ(out->detail,
            "peer URL http://10.0.1.4:2380 is outside the allowed networks (10.0.0.0/24)");
}

TEST(MemberRules, UpdateChecksTheMemberItsUrlsAndTheOthersUrls) {
  // Its own URLs may stay or move; another member's may not be taken.
  EXPECT_FALSE(check_member_update(0xc3, {"http://10.0.0.3:2380"}, kThree, {}).has_value());
  EXPECT_FALSE(check_member_update(0xc3, {"http://10.0.0.33:2380"}, kThree, {}).has_value());
  auto taken = check_member_update(0xc3, {"http://10.0.0.1:2380"}, kThree, {});
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->kind, MemberRefusalKind::kUrlInUse);
  auto twice =
      check_member_update(0xc3, {"http://10.0.0.7:2380", "http://10.0.0.7:2380"}, kThree, {});
  ASSERT_TRUE(twice.has_value());
  EXPECT_EQ(twice->kind, MemberRefusalKind::kBadUrl);
  auto unknown = check_member_update(0x99, {"http://10.0.0.9:2380"}, kThree, {});
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->kind, MemberRefusalKind::kUnknownMember);
  EXPECT_EQ(unknown->detail, "no member has the id 99");
  auto bad = check_member_update(0xc3, {"http://10.0.0.3:0"}, kThree, {});
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->kind, MemberRefusalKind::kBadUrl);
}

}  // namespace
}  // namespace security
