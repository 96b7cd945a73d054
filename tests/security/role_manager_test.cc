// The role hierarchy alone: transitive links, the depth bound of Casbin's default role
// manager (10 links reach, 11 do not), cycles, domains and the listing queries.
#include "security/role_manager.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace security {
namespace {

using Names = std::vector<std::string>;

// u0 -> u1 -> ... -> u<links>.
RoleManager chain(int links) {
  RoleManager rm;
  for (int i = 0; i < links; ++i) {
    rm.add_link("u" + std::to_string(i), "u" + std::to_string(i + 1));
  }
  return rm;
}

TEST(RoleManager, LinksAreTransitive) {
  RoleManager rm;
  rm.add_link("alice", "ops");
  rm.add_link("ops", "viewer");
  EXPECT_TRUE(rm.has_link("alice", "ops"));
  EXPECT_TRUE(rm.has_link("alice", "viewer"));
  EXPECT_FALSE(rm.has_link("viewer", "alice"));  // links have a direction
  EXPECT_FALSE(rm.has_link("ops", "alice"));
  EXPECT_TRUE(rm.has_link("nobody", "nobody"));  // a name always has itself
  EXPECT_FALSE(rm.has_link("nobody", "viewer"));
}

TEST(RoleManager, TenLinksReachAndElevenDoNot) {
  // Casbin: hasRole(name, level 10) decrements once per link followed and compares names
  // before giving up at 0, so the 10th link's target still matches; the 11th's does not.
  RoleManager rm = chain(11);
  EXPECT_TRUE(rm.has_link("u0", "u10"));
  EXPECT_FALSE(rm.has_link("u0", "u11"));
  EXPECT_TRUE(rm.has_link("u1", "u11"));  // the bound counts from the asking name
  Names implicit = rm.get_implicit_roles("u0");
  ASSERT_EQ(implicit.size(), 10u);
  EXPECT_EQ(implicit.front(), "u1");
  EXPECT_EQ(implicit.back(), "u10");
}

TEST(RoleManager, TheBoundIsOnTheShortestChain) {
  // u11 is 11 links away along the chain but 2 away through a shortcut.
  RoleManager rm = chain(11);
  rm.add_link("u0", "shortcut");
  rm.add_link("shortcut", "u11");
  EXPECT_TRUE(rm.has_link("u0", "u11"));
}

TEST(RoleManager, CyclesEndAndAreHarmless) {
  RoleManager rm;
  rm.add_link("a", "b");
  rm.add_link("b", "c");
  rm.add_link("c", "a");
  rm.add_link("x", "x");
  EXPECT_TRUE(rm.has_link("a", "c"));
  EXPECT_TRUE(rm.has_link("c", "b"));
  EXPECT_FALSE(rm.has_link("a", "d"));
  EXPECT_FALSE(rm.has_link("x", "y"));
  EXPECT_EQ(rm.get_implicit_roles("a"), (Names{"b", "c"}));  // never the name itself
  EXPECT_EQ(rm.get_implicit_roles("x"), Names{});
}

TEST(RoleManager, DomainsKeepTheirLinksApart) {
  RoleManager rm;
  rm.add_link("alice", "admin", "domain1");
  rm.add_link("bob", "admin", "domain2");
  EXPECT_TRUE(rm.has_link("alice", "admin", "domain1"));
  EXPECT_FALSE(rm.has_link("alice", "admin", "domain2"));
  EXPECT_FALSE(rm.has_link("alice", "admin"));  // no domain is a domain of its own
  EXPECT_EQ(rm.get_roles("bob", "domain2"), Names{"admin"});
  EXPECT_EQ(rm.get_users("admin", "domain1"), Names{"alice"});
}

TEST(RoleManager, ListsDirectRolesInLinkOrderAndImplicitOnesNearestFirst) {
  RoleManager rm;
  rm.add_link("alice", "zeta");
  rm.add_link("alice", "alpha");
  rm.add_link("alice", "alpha");  // a repeated link is kept once
  rm.add_link("alpha", "deep");
  rm.add_link("carol", "alpha");
  EXPECT_EQ(rm.get_roles("alice"), (Names{"zeta", "alpha"}));
  EXPECT_EQ(rm.get_implicit_roles("alice"), (Names{"zeta", "alpha", "deep"}));
  EXPECT_EQ(rm.get_users("alpha"), (Names{"alice", "carol"}));
  EXPECT_EQ(rm.get_roles("nobody"), Names{});
}

}  // namespace
}  // namespace security
