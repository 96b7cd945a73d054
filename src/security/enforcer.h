// The authorization decision: a Casbin model and policy loaded once into an immutable
// Enforcer that answers enforce({sub, obj, act}) and the RBAC queries, named after
// Casbin's API. Every method is const and safe to call from many threads at once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "security/builtin_functions.h"
#include "security/casbin_model.h"
#include "security/casbin_policy.h"
#include "security/role_manager.h"

namespace security {

class Enforcer {
 public:
  // Parses the model, then the policy against it, builds the role hierarchies and compiles
  // every regex a rule supplies to keyMatch2/regexMatch. The texts are file contents; the
  // names (file paths) start every error: "<name>:<line>: <reason>". Any error refuses the
  // whole policy (InvalidArgumentError): nothing is half loaded.
  static absl::StatusOr<Enforcer> create(std::string_view model_text, std::string_view model_name,
                                         std::string_view policy_text,
                                         std::string_view policy_name);

  // Whether `request` (one value per field of the model's r, in order) is allowed.
  // The matcher is evaluated on each p line in file order and the results combined by the
  // model's effect; the evaluation stops as soon as the answer is certain. With no p line
  // at all the answer is the effect's default (allowed only for deny-override): unlike
  // Casbin, the matcher is not evaluated once against empty p fields. An error (wrong
  // arity, a value too long for a regex function, a bad regex taken from the request) is
  // InvalidArgumentError; the caller must treat it as a denial.
  absl::StatusOr<bool> enforce(const std::vector<std::string>& request) const;

  // The roles `name` holds directly through "g" lines (of `domain` when g has one).
  std::vector<std::string> get_roles_for_user(std::string_view name,
                                              std::string_view domain = "") const;
  // Every role `name` holds through "g", directly or inherited, nearest first, up to
  // kMaxHierarchyDepth links (the same bound enforce uses; Casbin's own has none).
  std::vector<std::string> get_implicit_roles_for_user(std::string_view name,
                                                       std::string_view domain = "") const;
  // The names that hold `role` directly through "g", in name order.
  std::vector<std::string> get_users_for_role(std::string_view role,
                                              std::string_view domain = "") const;
  // Whether `name` holds `role` directly through "g" (as Casbin's HasRoleForUser).
  bool has_role_for_user(std::string_view name, std::string_view role,
                         std::string_view domain = "") const;

  // The p lines (fields only, file order), and whether one equals `rule`.
  std::vector<std::vector<std::string>> get_policy() const;
  bool has_policy(const std::vector<std::string>& rule) const;
  // The lines of role hierarchy `ptype` ("g", "g2"), fields only, file order.
  std::vector<std::vector<std::string>> get_named_grouping_policy(std::string_view ptype) const;
  std::vector<std::vector<std::string>> get_grouping_policy() const {
    return get_named_grouping_policy("g");
  }

  // The model this enforcer was created from (its fields say what enforce() expects).
  const CasbinModel& model() const { return model_; }
  // The model and policy in canonical layout (CasbinModel/CasbinPolicy::canonical_text),
  // and a 64-bit FNV-1a hash of it, "fnv1a64:<16 hex digits>", so members and operators can
  // tell which policy is in force. Not a security checksum: it detects drift, not forgery.
  const std::string& canonical_text() const { return canonical_text_; }
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  Enforcer(CasbinModel model, CasbinPolicy policy)
      : model_(std::move(model)), policy_(std::move(policy)) {}
  const RoleManager* role_manager(std::string_view name) const;

  CasbinModel model_;
  CasbinPolicy policy_;
  std::string policy_name_;         // for errors raised while enforcing
  std::vector<RoleManager> roles_;  // by CasbinModel::role_definitions() index
  // rule_regexes_[i][k]: policy_.rules()[i]'s regex for model_.matcher().policy_regexes()[k].
  std::vector<std::vector<std::shared_ptr<const Regex>>> rule_regexes_;
  std::string canonical_text_;
  std::string fingerprint_;
};

}  // namespace security
