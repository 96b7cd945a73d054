// A Casbin policy file (policy.csv) read against its model: `p, ...` rules and `g, ...`,
// `g2, ...` role links, each checked for its type and field count, with the line it came
// from so later checks (a bad regex in a rule) can name it too.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "security/casbin_model.h"

namespace security {

// One policy line without its type: the fields in definition order.
struct PolicyLine {
  std::vector<std::string> fields;
  int line = 0;  // 1-based line of the source text
};

// Splits one CSV line into fields: separated by ',', surrounding spaces and tabs trimmed; a
// field that starts with '"' runs to the matching '"' and may hold commas, with "" standing
// for one '"' (its content is kept as written, spaces included). An unterminated quote or
// text after a closing quote is an InvalidArgumentError saying which.
absl::StatusOr<std::vector<std::string>> split_policy_line(std::string_view line);

class CasbinPolicy {
 public:
  // Reads policy.csv text for `model`. Blank lines and lines starting with '#' are skipped;
  // every other line is `<type>, <field>, ...` where type is "p" (as many fields as the
  // model's p; an eft field must say "allow" or "deny") or a role hierarchy the model
  // defines (two names, plus a domain for "_, _, _"). Errors are InvalidArgumentError
  // "<source_name>:<line>: <reason>". Duplicate lines are kept, in file order.
  static absl::StatusOr<CasbinPolicy> parse(std::string_view text, std::string_view source_name,
                                            const CasbinModel& model);

  // The p lines in file order (the order priority(p.eft) decides by).
  const std::vector<PolicyLine>& rules() const { return rules_; }
  // The links of role hierarchy `name` ("g", "g2") in file order; empty if it has none.
  const std::vector<PolicyLine>& links(std::string_view name) const;

  // Every line in one canonical layout: "p, a, b, c" rules in file order, then each role
  // hierarchy's links in name order; fields quoted only when they must be. Comments, blank
  // lines and spacing do not change it.
  std::string canonical_text() const;

 private:
  std::vector<PolicyLine> rules_;
  std::map<std::string, std::vector<PolicyLine>, std::less<>> links_;  // by hierarchy name
};

}  // namespace security
