// A Casbin model file (model.conf) parsed and checked: the request and policy shapes, the
// role hierarchies, the policy effect and the matcher, ready to evaluate. Anything outside
// the supported subset is refused with "<source>:<line>: <reason>", never ignored.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "security/casbin_expr.h"

namespace security {

// How the matching policy lines combine into one decision (Casbin's stock effector).
enum class PolicyEffect {
  kAllowOverride,  // some(where (p.eft == allow)): allowed iff an allow line matches
  kDenyOverride,   // !some(where (p.eft == deny)): allowed unless a deny line matches
  kAllowAndDeny,   // some(where (p.eft == allow)) && !some(where (p.eft == deny))
  kPriority,       // priority(p.eft) || deny: the first matching line decides
};

class CasbinModel {
 public:
  // Parses model.conf text. `source_name` (a file path, say) starts every error message,
  // then the 1-based line: `model.conf:7: unsupported policy effect "foo"`. Supported:
  // sections [request_definition] r, [policy_definition] p (optionally with an `eft`
  // field), [role_definition] g, g2, ... each "_, _" or "_, _, _" (with a domain),
  // [policy_effect] e (the four PolicyEffect strings, exactly as Casbin spells them) and
  // [matchers] m; '#' and ';' comment lines, '#' comments after a value, and a trailing
  // '\' continuing a line. Every error is an InvalidArgumentError.
  static absl::StatusOr<CasbinModel> parse(std::string_view text, std::string_view source_name);

  // The field names of r and p in order (distinct identifiers, at least one each).
  const std::vector<std::string>& request_fields() const { return schema_.request_fields; }
  const std::vector<std::string>& policy_fields() const { return schema_.policy_fields; }
  // The index of the `eft` policy field; without one every matching line is an allow.
  std::optional<size_t> eft_field() const { return eft_field_; }
  // The role hierarchies in definition order; a role's index is its ExprInput::roles index.
  const std::vector<ExprSchema::RoleFunction>& role_definitions() const {
    return schema_.role_functions;
  }
  // The index of role hierarchy `name` ("g", "g2"), if the model defines it.
  std::optional<size_t> role_index(std::string_view name) const;
  PolicyEffect effect() const { return effect_; }
  // The parsed matcher, type-checked against this model's fields and role hierarchies.
  const CasbinExpr& matcher() const { return matcher_; }

  // The model rewritten in one canonical layout (sections in the usual order, one space
  // around '=', blanks in the matcher collapsed, no comments): equal for files that
  // differ only in layout and comments.
  std::string canonical_text() const;

 private:
  explicit CasbinModel(CasbinExpr matcher) : matcher_(std::move(matcher)) {}

  ExprSchema schema_;
  std::optional<size_t> eft_field_;
  PolicyEffect effect_ = PolicyEffect::kAllowOverride;
  std::string effect_text_;   // as written in the file
  std::string matcher_text_;  // as written in the file, without comments
  CasbinExpr matcher_;
};

// The `e = ...` text Casbin uses for `effect`.
std::string_view policy_effect_text(PolicyEffect effect);

}  // namespace security
