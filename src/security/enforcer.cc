#include "security/enforcer.h"

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "absl/status/status.h"
#include "security/builtin_functions.h"
#include "security/text_util.h"

namespace security {
namespace {

std::string fnv1a64(std::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, hash);
  return cat("fnv1a64:", hex);
}

std::vector<std::vector<std::string>> fields_of(const std::vector<PolicyLine>& lines) {
  std::vector<std::vector<std::string>> out;
  out.reserve(lines.size());
  for (const PolicyLine& line : lines) out.push_back(line.fields);
  return out;
}

}  // namespace

absl::StatusOr<Enforcer> Enforcer::create(std::string_view model_text, std::string_view model_name,
                                          std::string_view policy_text,
                                          std::string_view policy_name) {
  absl::StatusOr<CasbinModel> model = CasbinModel::parse(model_text, model_name);
  if (!model.ok()) return model.status();
  absl::StatusOr<CasbinPolicy> policy = CasbinPolicy::parse(policy_text, policy_name, *model);
  if (!policy.ok()) return policy.status();

  Enforcer e(*std::move(model), *std::move(policy));
  e.policy_name_ = std::string(policy_name);
  for (const ExprSchema::RoleFunction& role : e.model_.role_definitions()) {
    RoleManager manager;
    for (const PolicyLine& link : e.policy_.links(role.name)) {
      manager.add_link(link.fields[0], link.fields[1], role.has_domain ? link.fields[2] : "");
    }
    e.roles_.push_back(std::move(manager));
  }

  // The patterns a rule gives keyMatch2/regexMatch are compiled now, so a bad one refuses
  // the policy at load (naming its line) instead of failing every request that reaches it.
  const std::vector<PolicyRegex>& wanted = e.model_.matcher().policy_regexes();
  for (const PolicyLine& rule : e.policy_.rules()) {
    std::vector<std::shared_ptr<const Regex>> compiled;
    for (const PolicyRegex& w : wanted) {
      const std::string& value = rule.fields[w.field];
      bool key_match2 = w.kind == PolicyRegex::Kind::kKeyMatch2;
      absl::StatusOr<std::shared_ptr<const Regex>> re =
          compile_regex(key_match2 ? key_match2_regex(value) : value);
      if (!re.ok()) {
        return absl::InvalidArgumentError(
            cat(policy_name, ":", rule.line, ": p.", e.model_.policy_fields()[w.field],
                key_match2 ? " (a keyMatch2 pattern): " : " (a regexMatch pattern): ",
                re.status().message()));
      }
      compiled.push_back(*std::move(re));
    }
    e.rule_regexes_.push_back(std::move(compiled));
  }

  e.canonical_text_ = cat(e.model_.canonical_text(), "\n", e.policy_.canonical_text());
  e.fingerprint_ = fnv1a64(e.canonical_text_);
  return e;
}

absl::StatusOr<bool> Enforcer::enforce(const std::vector<std::string>& request) const {
  const std::vector<std::string>& fields = model_.request_fields();
  if (request.size() != fields.size()) {
    return absl::InvalidArgumentError(cat("request has ", request.size(),
                                          " values; the model's r = ", join(fields, ", "),
                                          " needs ", fields.size()));
  }
  const PolicyEffect effect = model_.effect();
  const std::optional<size_t> eft = model_.eft_field();
  bool allowed_seen = false;
  const std::vector<PolicyLine>& rules = policy_.rules();
  for (size_t i = 0; i < rules.size(); ++i) {
    absl::StatusOr<bool> match = model_.matcher().evaluate(ExprInput{
        .request = request,
        .policy = rules[i].fields,
        .policy_regexes = rule_regexes_[i],
        .roles = roles_,
    });
    if (!match.ok()) {
      return absl::InvalidArgumentError(cat("evaluating the rule at ", policy_name_, ":",
                                            rules[i].line, ": ", match.status().message()));
    }
    if (!*match) continue;
    // The policy parser admits only "allow" and "deny" in the eft field.
    const bool allow = !eft.has_value() || rules[i].fields[*eft] == "allow";
    switch (effect) {
      case PolicyEffect::kAllowOverride:
        if (allow) return true;
        break;
      case PolicyEffect::kDenyOverride:
        if (!allow) return false;
        break;
      case PolicyEffect::kAllowAndDeny:
        if (!allow) return false;
        allowed_seen = true;
        break;
      case PolicyEffect::kPriority:
        return allow;
    }
  }
  switch (effect) {
    case PolicyEffect::kDenyOverride:
      return true;
    case PolicyEffect::kAllowAndDeny:
      return allowed_seen;
    case PolicyEffect::kAllowOverride:
    case PolicyEffect::kPriority:
      break;
  }
  return false;
}

const RoleManager* Enforcer::role_manager(std::string_view name) const {
  std::optional<size_t> index = model_.role_index(name);
  return index.has_value() ? &roles_[*index] : nullptr;
}

std::vector<std::string> Enforcer::get_roles_for_user(std::string_view name,
                                                      std::string_view domain) const {
  const RoleManager* g = role_manager("g");
  return g == nullptr ? std::vector<std::string>{} : g->get_roles(name, domain);
}

std::vector<std::string> Enforcer::get_implicit_roles_for_user(std::string_view name,
                                                               std::string_view domain) const {
  const RoleManager* g = role_manager("g");
  return g == nullptr ? std::vector<std::string>{} : g->get_implicit_roles(name, domain);
}

std::vector<std::string> Enforcer::get_users_for_role(std::string_view role,
                                                      std::string_view domain) const {
  const RoleManager* g = role_manager("g");
  return g == nullptr ? std::vector<std::string>{} : g->get_users(role, domain);
}

bool Enforcer::has_role_for_user(std::string_view name, std::string_view role,
                                 std::string_view domain) const {
  for (const std::string& r : get_roles_for_user(name, domain)) {
    if (r == role) return true;
  }
  return false;
}

std::vector<std::vector<std::string>> Enforcer::get_policy() const {
  return fields_of(policy_.rules());
}

bool Enforcer::has_policy(const std::vector<std::string>& rule) const {
  for (const PolicyLine& line : policy_.rules()) {
    if (line.fields == rule) return true;
  }
  return false;
}

std::vector<std::vector<std::string>> Enforcer::get_named_grouping_policy(
    std::string_view ptype) const {
  return fields_of(policy_.links(ptype));
}

}  // namespace security
