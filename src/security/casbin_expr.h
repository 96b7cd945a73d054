// A Casbin matcher (the `m = ...` of a model) parsed once into a type-checked tree and
// evaluated against one request and one policy line at a time. The grammar is the subset
// raftkv supports: r.x and p.x fields, "double-quoted" literals, == != && || ! ( ), and
// calls to the role functions (g, g2, ...), keyMatch, keyMatch2 and regexMatch.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "security/builtin_functions.h"
#include "security/role_manager.h"

namespace security {

// The names a matcher may use; anything else is refused when it is parsed.
struct ExprSchema {
  struct RoleFunction {
    std::string name;  // "g", "g2", ...
    bool has_domain;   // g = _, _, _: called with three arguments, the third the domain
  };
  std::vector<std::string> request_fields;   // r = sub, obj, act
  std::vector<std::string> policy_fields;    // p = sub, obj, act[, eft]
  std::vector<RoleFunction> role_functions;  // index i is ExprInput::roles[i]
};

// A regex the matcher builds from a policy field: the caller compiles that field of every
// policy line once (keyMatch2 patterns through key_match2_regex) and passes the results.
struct PolicyRegex {
  enum class Kind { kRegexMatch, kKeyMatch2 };
  Kind kind;
  size_t field;  // index into ExprSchema::policy_fields
  bool operator==(const PolicyRegex&) const = default;
};

// What one evaluation reads. Sizes match the schema (request_fields, policy_fields,
// role_functions) and CasbinExpr::policy_regexes(); the spans must outlive the call.
struct ExprInput {
  std::span<const std::string> request;
  std::span<const std::string> policy;
  std::span<const std::shared_ptr<const Regex>> policy_regexes;
  std::span<const RoleManager> roles;
};

class CasbinExpr {
 public:
  // Parses and type-checks `text` against `schema`. Errors are InvalidArgumentError with
  // the reason and the 1-based column: an unknown function or field, a wrong argument
  // count, unbalanced parentheses, an unsupported token, a string where a boolean is
  // needed (or the reverse), an invalid regex literal.
  static absl::StatusOr<CasbinExpr> parse(std::string_view text, const ExprSchema& schema);

  // Whether the matcher holds for `input`. && and || short-circuit left to right. An error
  // (a value too long for a regex function, an invalid regex taken from the request) is
  // returned as is: the caller must deny, since false would let a deny rule be skipped.
  absl::StatusOr<bool> evaluate(const ExprInput& input) const;

  // The policy-field regexes evaluate() expects in ExprInput::policy_regexes, in order.
  const std::vector<PolicyRegex>& policy_regexes() const { return policy_regexes_; }

 private:
  friend class ExprParser;
  CasbinExpr() = default;  // only parse() makes one: root_ must name a boolean node

  struct StringLiteral {
    std::string value;
  };
  struct RequestField {
    size_t index;
  };
  struct PolicyField {
    size_t index;
  };
  struct Not {
    size_t operand;
  };
  struct AllOf {  // a && b && ...
    std::vector<size_t> operands;
  };
  struct AnyOf {  // a || b || ...
    std::vector<size_t> operands;
  };
  struct Compare {
    bool equal;  // == (true) or != (false)
    size_t lhs, rhs;
  };
  struct RoleCall {
    size_t role;               // index into ExprInput::roles
    std::vector<size_t> args;  // name1, name2[, domain]
  };
  struct BuiltinCall {
    enum class Function { kKeyMatch, kKeyMatch2, kRegexMatch };
    Function function;
    size_t key, pattern;
    // Set when the pattern is a literal (compiled at parse) or a policy field (index into
    // policy_regexes_); neither when it comes from the request (compiled per call).
    std::shared_ptr<const Regex> literal_regex;
    std::optional<size_t> policy_regex;
  };
  using Node = std::variant<StringLiteral, RequestField, PolicyField, Not, AllOf, AnyOf, Compare,
                            RoleCall, BuiltinCall>;

  absl::StatusOr<bool> eval_bool(size_t node, const ExprInput& input) const;
  std::string_view eval_string(size_t node, const ExprInput& input) const;
  absl::StatusOr<bool> eval_builtin(const BuiltinCall& call, const ExprInput& input) const;

  std::vector<Node> nodes_;  // children always have smaller indexes than their parent
  size_t root_ = 0;          // a boolean node
  std::vector<PolicyRegex> policy_regexes_;
};

}  // namespace security
