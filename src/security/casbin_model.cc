#include "security/casbin_model.h"

#include <algorithm>
#include <array>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "security/text_util.h"

namespace security {
namespace {

constexpr std::array<std::string_view, 5> kSections = {
    "request_definition", "policy_definition", "role_definition", "policy_effect", "matchers"};

struct EffectSpelling {
  PolicyEffect effect;
  std::string_view text;
};
// Casbin compares the whole `e` value with these strings, so other spellings of the same
// idea (extra spaces, subjectPriority) are refused rather than guessed at.
constexpr std::array<EffectSpelling, 4> kEffects = {{
    {PolicyEffect::kAllowOverride, "some(where (p.eft == allow))"},
    {PolicyEffect::kDenyOverride, "!some(where (p.eft == deny))"},
    {PolicyEffect::kAllowAndDeny, "some(where (p.eft == allow)) && !some(where (p.eft == deny))"},
    {PolicyEffect::kPriority, "priority(p.eft) || deny"},
}};

// One `key = value` of the file, with the line it starts on.
struct Entry {
  std::string value;
  int line = 0;
};

class ModelReader {
 public:
  explicit ModelReader(std::string_view source) : source_(source) {}

  absl::Status error(int line, std::string_view reason) const {
    return absl::InvalidArgumentError(cat(source_, ":", line, ": ", reason));
  }

  // Splits the text into sections and entries; checks only the layout and the key names.
  absl::Status read(std::string_view text) {
    std::vector<std::string_view> lines = split(text, '\n');
    // The line a "missing ..." error points at: the last one (a final '\n' ends it).
    size_t last = lines.size() > 1 && lines.back().empty() ? lines.size() - 1 : lines.size();
    last_line_ = static_cast<int>(last);
    for (size_t i = 0; i < lines.size(); ++i) {
      int number = static_cast<int>(i) + 1;
      std::string logical(trim(lines[i]));
      // A trailing backslash continues the value on the next line, as in Casbin's config.
      while (!logical.empty() && logical.back() == '\\' && i + 1 < lines.size()) {
        logical.pop_back();
        logical += cat(" ", trim(lines[++i]));
      }
      if (absl::Status s = read_line(logical, number); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // The entry `key` of `section`, or an error at the end of the file saying it is missing.
  absl::StatusOr<Entry> required(std::string_view section, std::string_view key,
                                 std::string_view what) const {
    auto s = entries_.find(std::string(section));
    if (s != entries_.end()) {
      auto e = s->second.find(std::string(key));
      if (e != s->second.end()) return e->second;
    }
    return error(last_line_,
                 cat("missing ", what, ": expected \"", key, " = ...\" in [", section, "]"));
  }

  // The entries of `section` in key order (empty when the section is absent).
  const std::map<std::string, Entry>& section(std::string_view name) const {
    static const std::map<std::string, Entry> kNone;
    auto s = entries_.find(std::string(name));
    return s == entries_.end() ? kNone : s->second;
  }

 private:
  absl::Status read_line(std::string_view line, int number) {
    if (line.empty() || line.front() == '#' || line.front() == ';') return absl::OkStatus();
    if (line.front() == '[') {
      if (line.back() != ']') return error(number, cat("expected \"]\" to end \"", line, "\""));
      std::string name(trim(line.substr(1, line.size() - 2)));
      if (std::find(kSections.begin(), kSections.end(), name) == kSections.end()) {
        return error(number,
                     cat("unknown section [", name, "] (expected ", join(kSections, ", "), ")"));
      }
      if (auto seen = section_lines_.find(name); seen != section_lines_.end()) {
        return error(number,
                     cat("section [", name, "] appears twice (first at line ", seen->second, ")"));
      }
      section_lines_[name] = number;
      current_ = name;
      return absl::OkStatus();
    }
    if (current_.empty()) {
      return error(number, cat("\"", line, "\" is outside any section"));
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return error(number, cat("expected \"key = value\", got \"", line, "\""));
    }
    std::string key(trim(line.substr(0, eq)));
    std::string value(trim(strip_comment(line.substr(eq + 1))));
    if (absl::Status s = check_key(key, number); !s.ok()) return s;
    std::map<std::string, Entry>& entries = entries_[current_];
    if (auto seen = entries.find(key); seen != entries.end()) {
      return error(number, cat("\"", key, "\" is defined twice in [", current_, "] (first at line ",
                               seen->second.line, ")"));
    }
    if (value.empty()) return error(number, cat("\"", key, "\" has an empty value"));
    entries[key] = Entry{.value = std::move(value), .line = number};
    return absl::OkStatus();
  }

  // A '#' outside a double-quoted literal starts a comment.
  static std::string_view strip_comment(std::string_view value) {
    bool quoted = false;
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '\\' && quoted) {
        ++i;
      } else if (value[i] == '"') {
        quoted = !quoted;
      } else if (value[i] == '#' && !quoted) {
        return value.substr(0, i);
      }
    }
    return value;
  }

  absl::Status check_key(std::string_view key, int number) const {
    std::string_view only;
    if (current_ == "request_definition") only = "r";
    if (current_ == "policy_definition") only = "p";
    if (current_ == "policy_effect") only = "e";
    if (current_ == "matchers") only = "m";
    if (!only.empty()) {
      if (key == only) return absl::OkStatus();
      return error(number,
                   cat("unsupported key \"", key, "\" in [", current_, "] (only \"", only, "\")"));
    }
    // [role_definition]: g, g2, g3, ...
    bool ok = key.size() >= 1 && key[0] == 'g' && (key.size() == 1 || key[1] != '0');
    for (size_t i = 1; ok && i < key.size(); ++i) ok = key[i] >= '0' && key[i] <= '9';
    if (ok) return absl::OkStatus();
    return error(number, cat("unsupported key \"", key,
                             "\" in [role_definition] (expected g, g2, g3, ...)"));
  }

  std::string source_;
  std::string current_;                       // the section being read, "" before any
  std::map<std::string, int> section_lines_;  // section -> the line of its header
  std::map<std::string, std::map<std::string, Entry>> entries_;  // section -> key -> entry
  int last_line_ = 1;
};

// Runs of blanks outside double-quoted literals become one space, so the canonical text
// does not depend on how a matcher was spaced or wrapped.
std::string collapse_blanks(std::string_view text) {
  std::string out;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == ' ' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
      quoted = c == '"';
    }
  }
  return out;
}

bool is_identifier(std::string_view s) {
  if (s.empty() || !(((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) || s[0] == '_'))
    return false;
  for (char c : s) {
    if (!(((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) || c == '_'))
      return false;
  }
  return true;
}

// "sub, obj, act" -> {"sub", "obj", "act"}: identifiers, distinct, at least one.
absl::StatusOr<std::vector<std::string>> parse_fields(const ModelReader& reader,
                                                      std::string_view key, const Entry& entry) {
  std::vector<std::string> fields;
  for (std::string_view f : split(entry.value, ',')) {
    std::string field(trim(f));
    if (!is_identifier(field)) {
      return reader.error(entry.line,
                          cat("field name \"", field, "\" of \"", key, "\" is not an identifier"));
    }
    if (std::find(fields.begin(), fields.end(), field) != fields.end()) {
      return reader.error(entry.line, cat("field \"", field, "\" appears twice in \"", key, "\""));
    }
    fields.push_back(std::move(field));
  }
  return fields;
}

}  // namespace

absl::StatusOr<CasbinModel> CasbinModel::parse(std::string_view text,
                                               std::string_view source_name) {
  ModelReader reader(source_name);
  if (absl::Status s = reader.read(text); !s.ok()) return s;

  absl::StatusOr<Entry> r = reader.required("request_definition", "r", "request definition");
  if (!r.ok()) return r.status();
  absl::StatusOr<Entry> p = reader.required("policy_definition", "p", "policy definition");
  if (!p.ok()) return p.status();
  absl::StatusOr<Entry> e = reader.required("policy_effect", "e", "policy effect");
  if (!e.ok()) return e.status();
  absl::StatusOr<Entry> m = reader.required("matchers", "m", "matcher");
  if (!m.ok()) return m.status();

  ExprSchema schema;
  absl::StatusOr<std::vector<std::string>> request_fields = parse_fields(reader, "r", *r);
  if (!request_fields.ok()) return request_fields.status();
  schema.request_fields = *std::move(request_fields);
  absl::StatusOr<std::vector<std::string>> policy_fields = parse_fields(reader, "p", *p);
  if (!policy_fields.ok()) return policy_fields.status();
  schema.policy_fields = *std::move(policy_fields);
  std::optional<size_t> eft;
  for (size_t i = 0; i < schema.policy_fields.size(); ++i) {
    if (schema.policy_fields[i] == "eft") eft = i;
  }

  // Role hierarchies in name order; matchers and policy lines find them by name.
  for (const auto& [name, entry] : reader.section("role_definition")) {
    std::vector<std::string> parts;
    for (std::string_view part : split(entry.value, ',')) {
      parts.emplace_back(trim(part));
    }
    bool all_blank = std::all_of(parts.begin(), parts.end(), [](auto& x) { return x == "_"; });
    if (!all_blank || parts.size() < 2 || parts.size() > 3) {
      return reader.error(
          entry.line, cat("\"", name, " = ", entry.value, "\" must be \"_, _\" or \"_, _, _\""));
    }
    schema.role_functions.push_back({.name = name, .has_domain = parts.size() == 3});
  }

  std::optional<PolicyEffect> effect;
  for (const EffectSpelling& spelling : kEffects) {
    if (e->value == spelling.text) effect = spelling.effect;
  }
  if (!effect.has_value()) {
    return reader.error(e->line, cat("unsupported policy effect \"", e->value, "\""));
  }
  // Without an eft column every line is an allow: a deny-override model would then allow
  // every request, so the effects that can deny need the column to say so.
  if (*effect != PolicyEffect::kAllowOverride && !eft.has_value()) {
    return reader.error(e->line, cat("policy effect \"", e->value,
                                     "\" needs an eft field in [policy_definition] p"));
  }

  absl::StatusOr<CasbinExpr> matcher = CasbinExpr::parse(m->value, schema);
  if (!matcher.ok()) {
    return reader.error(m->line, cat("in matcher: ", matcher.status().message()));
  }

  CasbinModel model(*std::move(matcher));
  model.schema_ = std::move(schema);
  model.eft_field_ = eft;
  model.effect_ = *effect;
  model.effect_text_ = e->value;
  model.matcher_text_ = collapse_blanks(m->value);
  return model;
}

std::optional<size_t> CasbinModel::role_index(std::string_view name) const {
  for (size_t i = 0; i < schema_.role_functions.size(); ++i) {
    if (schema_.role_functions[i].name == name) return i;
  }
  return std::nullopt;
}

std::string CasbinModel::canonical_text() const {
  std::string out = cat("[request_definition]\nr = ", join(schema_.request_fields, ", "),
                        "\n\n[policy_definition]\np = ", join(schema_.policy_fields, ", "), "\n");
  if (!schema_.role_functions.empty()) {
    out += cat("\n[role_definition]\n");
    for (const ExprSchema::RoleFunction& role : schema_.role_functions) {
      out += cat(role.name, role.has_domain ? " = _, _, _\n" : " = _, _\n");
    }
  }
  out += cat("\n[policy_effect]\ne = ", effect_text_, "\n\n[matchers]\nm = ", matcher_text_, "\n");
  return out;
}

std::string_view policy_effect_text(PolicyEffect effect) {
  for (const EffectSpelling& spelling : kEffects) {
    if (spelling.effect == effect) return spelling.text;
  }
  return "";
}

}  // namespace security
