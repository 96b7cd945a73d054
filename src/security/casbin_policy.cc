#include "security/casbin_policy.h"

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "security/text_util.h"

namespace security {
namespace {

// What trim() takes off a line or an unquoted field: a field starting or ending with one
// must be quoted to survive being read back (a quoted vertical tab, found by fuzzing).
bool is_blank(char c) { return std::string_view(" \t\r\n\f\v").find(c) != std::string_view::npos; }

// The field as it would be written back: quoted when trimming or splitting would change it.
std::string quote_if_needed(std::string_view field) {
  bool needs = field.find_first_of(",\"") != std::string_view::npos ||
               (!field.empty() && (is_blank(field.front()) || is_blank(field.back()))) ||
               (!field.empty() && field.front() == '#');
  if (!needs) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

void append_line(std::string& out, std::string_view type, const PolicyLine& line) {
  out += type;
  for (const std::string& field : line.fields) out += cat(", ", quote_if_needed(field));
  out += '\n';
}

}  // namespace

absl::StatusOr<std::vector<std::string>> split_policy_line(std::string_view line) {
  std::vector<std::string> fields;
  size_t i = 0;
  for (;;) {
    while (i < line.size() && is_blank(line[i])) ++i;
    std::string field;
    if (i < line.size() && line[i] == '"') {
      size_t open = i++;
      for (;;) {
        if (i >= line.size()) {
          return absl::InvalidArgumentError(
              cat("unterminated quoted field starting at column ", open + 1));
        }
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      while (i < line.size() && is_blank(line[i])) ++i;
      if (i < line.size() && line[i] != ',') {
        return absl::InvalidArgumentError(cat("unexpected '", std::string(1, line[i]),
                                              "' after a quoted field at column ", i + 1,
                                              " (expected ',')"));
      }
    } else {
      size_t end = line.find(',', i);
      if (end == std::string_view::npos) end = line.size();
      std::string_view raw = trim(line.substr(i, end - i));
      if (size_t quote = raw.find('"'); quote != std::string_view::npos) {
        return absl::InvalidArgumentError(cat("'\"' inside an unquoted field at column ",
                                              i + quote + 1, " (quote the whole field)"));
      }
      field = std::string(raw);
      i = end;
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) return fields;
    ++i;  // the ','
  }
}

absl::StatusOr<CasbinPolicy> CasbinPolicy::parse(std::string_view text,
                                                 std::string_view source_name,
                                                 const CasbinModel& model) {
  auto error = [&](int line, std::string_view reason) {
    return absl::InvalidArgumentError(cat(source_name, ":", line, ": ", reason));
  };
  CasbinPolicy policy;
  int number = 0;
  for (std::string_view raw : split(text, '\n')) {
    ++number;
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    absl::StatusOr<std::vector<std::string>> fields = split_policy_line(line);
    if (!fields.ok()) return error(number, std::string(fields.status().message()));
    std::string type = std::move(fields->front());
    fields->erase(fields->begin());
    PolicyLine parsed{.fields = *std::move(fields), .line = number};

    if (type == "p") {
      const std::vector<std::string>& want = model.policy_fields();
      if (parsed.fields.size() != want.size()) {
        return error(number, cat("a \"p\" line needs ", want.size(), " fields (", join(want, ", "),
                                 "), got ", parsed.fields.size()));
      }
      if (std::optional<size_t> eft = model.eft_field(); eft.has_value()) {
        // Casbin treats any other value as "no effect"; a misspelt deny would silently not
        // deny, so it is refused here.
        const std::string& value = parsed.fields[*eft];
        if (value != "allow" && value != "deny") {
          return error(number, cat("eft must be \"allow\" or \"deny\", got \"", value, "\""));
        }
      }
      policy.rules_.push_back(std::move(parsed));
      continue;
    }
    std::optional<size_t> role = model.role_index(type);
    if (!role.has_value()) {
      std::string defined = "p";
      for (const ExprSchema::RoleFunction& r : model.role_definitions()) {
        defined += cat(", ", r.name);
      }
      return error(number, cat("policy type \"", type,
                               "\" is not defined by the model (defined: ", defined, ")"));
    }
    size_t want = model.role_definitions()[*role].has_domain ? 3 : 2;
    if (parsed.fields.size() != want) {
      return error(number, cat("a \"", type, "\" line needs ", want,
                               want == 3 ? " fields (name, role, domain), got "
                                         : " fields (name, role), got ",
                               parsed.fields.size()));
    }
    policy.links_[type].push_back(std::move(parsed));
  }
  return policy;
}

const std::vector<PolicyLine>& CasbinPolicy::links(std::string_view name) const {
  static const std::vector<PolicyLine> kNone;
  auto it = links_.find(name);
  return it == links_.end() ? kNone : it->second;
}

std::string CasbinPolicy::canonical_text() const {
  std::string out;
  for (const PolicyLine& rule : rules_) append_line(out, "p", rule);
  for (const auto& [name, lines] : links_) {
    for (const PolicyLine& link : lines) append_line(out, name, link);
  }
  return out;
}

}  // namespace security
