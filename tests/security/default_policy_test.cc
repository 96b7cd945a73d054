// The authorization files raftkv ships in config/authz load and give exactly the intended
// matrix: every role against every cluster action, and users holding roles through g lines.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "security/enforcer.h"

namespace security {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Enforcer default_enforcer(std::string extra_policy = "") {
  const std::string dir = RAFTKV_AUTHZ_DIR;
  absl::StatusOr<Enforcer> e =
      Enforcer::create(read_file(dir + "/model.conf"), dir + "/model.conf",
                       read_file(dir + "/policy.csv") + extra_policy, dir + "/policy.csv");
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

const std::vector<std::string> kActions = {
    "add_node",      "remove_node", "promote_node", "update_node", "transfer_leader",
    "change_config", "view_status", "view_metrics", "compact",     "defragment",
    "alarm",         "snapshot",    "manage_auth"};

// What each role may do; every other action in kActions is denied.
const std::map<std::string, std::set<std::string>> kMatrix = {
    {"cluster_admin", {kActions.begin(), kActions.end()}},
    {"cluster_operator",
     {"transfer_leader", "change_config", "view_status", "view_metrics", "compact", "defragment",
      "alarm", "snapshot"}},
    {"cluster_viewer", {"view_status", "view_metrics"}},
    {"root", {kActions.begin(), kActions.end()}},  // g, root, cluster_admin
    {"someone_else", {}},
};

TEST(DefaultPolicy, GivesExactlyTheIntendedRoleActionMatrix) {
  Enforcer e = default_enforcer();
  for (const auto& [subject, allowed] : kMatrix) {
    for (const std::string& action : kActions) {
      absl::StatusOr<bool> got = e.enforce({subject, "cluster", action});
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, allowed.count(action) == 1) << subject << " " << action;
    }
  }
}

TEST(DefaultPolicy, AUserGrantedViewerByAGLineCannotRemoveANode) {
  Enforcer e = default_enforcer("g, alice, cluster_viewer\ng, bob, cluster_operator\n");
  EXPECT_FALSE(*e.enforce({"alice", "cluster", "remove_node"}));
  EXPECT_TRUE(*e.enforce({"alice", "cluster", "view_metrics"}));
  EXPECT_FALSE(*e.enforce({"bob", "cluster", "remove_node"}));
  EXPECT_FALSE(*e.enforce({"bob", "cluster", "manage_auth"}));
  EXPECT_TRUE(*e.enforce({"bob", "cluster", "compact"}));
  EXPECT_TRUE(*e.enforce({"bob", "cluster", "view_status"}));  // operator holds viewer
}

TEST(DefaultPolicy, OnlyAdminsGetAnActionNoLineNames) {
  Enforcer e = default_enforcer();
  EXPECT_TRUE(*e.enforce({"cluster_admin", "cluster", "some_future_action"}));
  EXPECT_FALSE(*e.enforce({"cluster_operator", "cluster", "some_future_action"}));
  EXPECT_FALSE(*e.enforce({"cluster_viewer", "cluster", "some_future_action"}));
  // The "*" of a rule's act is a wildcard; a request's "*" is just an unknown action.
  EXPECT_FALSE(*e.enforce({"cluster_viewer", "cluster", "*"}));
}

TEST(DefaultPolicy, ClusterRulesDoNotReachOtherObjects) {
  Enforcer e = default_enforcer();
  EXPECT_FALSE(*e.enforce({"cluster_admin", "/kv/app/x", "view_status"}));
  EXPECT_FALSE(*e.enforce({"cluster_viewer", "clusterx", "view_status"}));
}

TEST(DefaultPolicy, RootHoldsAdminAndOperatorHoldsViewer) {
  Enforcer e = default_enforcer();
  EXPECT_EQ(e.get_implicit_roles_for_user("root"), std::vector<std::string>{"cluster_admin"});
  EXPECT_EQ(e.get_implicit_roles_for_user("cluster_operator"),
            std::vector<std::string>{"cluster_viewer"});
  EXPECT_TRUE(e.has_role_for_user("root", "cluster_admin"));
  EXPECT_EQ(e.fingerprint().substr(0, 8), "fnv1a64:");
}

}  // namespace
}  // namespace security
