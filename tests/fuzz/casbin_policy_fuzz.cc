// Fuzzes CasbinPolicy::parse and Enforcer::create/enforce with arbitrary policy.csv text
// against the default model (config/authz/model.conf). Properties: parse errors name a line;
// canonical_text() round-trips; the enforcer loads exactly the policies the parser accepts;
// enforce answers every request, and denies one that equals a deny rule.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "security/casbin_model.h"
#include "security/casbin_policy.h"
#include "security/enforcer.h"

namespace {

using security::CasbinModel;
using security::CasbinPolicy;
using security::Enforcer;

struct DefaultModel {
  std::string text;
  CasbinModel model;
};

const DefaultModel& default_model() {
  static const DefaultModel* loaded = [] {
    std::string text = fuzz::read_file(RAFTKV_AUTHZ_DIR "/model.conf");
    absl::StatusOr<CasbinModel> model = CasbinModel::parse(text, "model.conf");
    FUZZ_CHECK(model.ok(), model.status().ToString());
    // The default matcher compiles no regex from a rule (keyMatch is a prefix test), so
    // Enforcer::create can refuse nothing that CasbinPolicy::parse accepts; and it reads
    // r = sub, obj, act and p = sub, obj, act, eft, which the requests below rely on.
    FUZZ_CHECK(model->matcher().policy_regexes().empty(), "the default model changed");
    FUZZ_CHECK(model->request_fields().size() == 3 && model->policy_fields().size() == 4 &&
                   model->eft_field() == 3u,
               "the default model changed");
    return new DefaultModel{.text = std::move(text), .model = *std::move(model)};
  }();
  return *loaded;
}

std::vector<std::vector<std::string>> fields_of(const std::vector<security::PolicyLine>& lines) {
  std::vector<std::vector<std::string>> out;
  for (const security::PolicyLine& line : lines) out.push_back(line.fields);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const DefaultModel& dm = default_model();
  absl::StatusOr<CasbinPolicy> policy = CasbinPolicy::parse(text, "fuzz.csv", dm.model);
  absl::StatusOr<Enforcer> enforcer = Enforcer::create(dm.text, "model.conf", text, "fuzz.csv");
  if (!policy.ok()) {
    fuzz::check_parse_error(policy.status(), "fuzz.csv", text);
    FUZZ_CHECK(!enforcer.ok() && enforcer.status() == policy.status(),
               enforcer.status().ToString() + " vs " + policy.status().ToString());
    return 0;
  }
  FUZZ_CHECK(enforcer.ok(), enforcer.status().ToString());

  // Round trip: the canonical text is a policy file that reads back to the same lines.
  const std::string canonical = policy->canonical_text();
  absl::StatusOr<CasbinPolicy> again = CasbinPolicy::parse(canonical, "canonical.csv", dm.model);
  FUZZ_CHECK(again.ok(), again.status().ToString() + "\ncanonical text:\n" + canonical);
  FUZZ_CHECK(again->canonical_text() == canonical,
             "first:\n" + canonical + "\nsecond:\n" + again->canonical_text());
  FUZZ_CHECK(fields_of(again->rules()) == fields_of(policy->rules()), canonical);
  FUZZ_CHECK(fields_of(again->links("g")) == fields_of(policy->links("g")), canonical);
  FUZZ_CHECK(enforcer->canonical_text() == dm.model.canonical_text() + "\n" + canonical,
             enforcer->canonical_text());

  // Requests made of the policy's own words. The default matcher (g, keyMatch, ==) has no
  // way to fail, so enforce must answer every request of the right arity.
  std::vector<std::string> words =
      fuzz::words_of({"root", "cluster", "view_status", "add_node", "*", "", "cluster_admin"},
                     enforcer->get_policy());
  words = fuzz::words_of(std::move(words), enforcer->get_grouping_policy(), 96);
  fuzz::ByteSource choices(data, size);
  for (int i = 0; i < 4; ++i) {
    const std::vector<std::string> request = {choices.pick_from(words), choices.pick_from(words),
                                              choices.pick_from(words)};
    absl::StatusOr<bool> allowed = enforcer->enforce(request);
    FUZZ_CHECK(allowed.ok(), allowed.status().ToString());
  }
  FUZZ_CHECK(!enforcer->enforce({"a", "b"}).ok(), "a request of two values was answered");

  // Allowed only if no rule denies: g(x, x) holds, keyMatch(o, o) holds and act equals act,
  // so a request equal to a deny rule's (sub, obj, act) matches it and is denied.
  int checked = 0;
  for (const std::vector<std::string>& rule : enforcer->get_policy()) {
    if (rule[3] != "deny" || ++checked > 16) continue;
    absl::StatusOr<bool> allowed = enforcer->enforce({rule[0], rule[1], rule[2]});
    FUZZ_CHECK(allowed.ok() && !*allowed, "deny rule " + rule[0] + ", " + rule[1] + ", " + rule[2] +
                                              " does not deny its own request");
  }
  return 0;
}
