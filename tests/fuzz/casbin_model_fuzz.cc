// Fuzzes CasbinModel::parse with arbitrary model.conf text. Properties: it never crashes;
// a refusal is InvalidArgumentError "fuzz.conf:<line>: <reason>" naming a line of the text;
// an accepted model's canonical_text() parses again to the same model and the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "security/casbin_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<security::CasbinModel> model = security::CasbinModel::parse(text, "fuzz.conf");
  if (!model.ok()) {
    fuzz::check_parse_error(model.status(), "fuzz.conf", text);
    return 0;
  }
  const std::string canonical = model->canonical_text();
  absl::StatusOr<security::CasbinModel> again =
      security::CasbinModel::parse(canonical, "canonical.conf");
  FUZZ_CHECK(again.ok(), again.status().ToString() + "\ncanonical text:\n" + canonical);
  FUZZ_CHECK(again->canonical_text() == canonical,
             "first:\n" + canonical + "\nsecond:\n" + again->canonical_text());
  FUZZ_CHECK(again->request_fields() == model->request_fields(), canonical);
  FUZZ_CHECK(again->policy_fields() == model->policy_fields(), canonical);
  FUZZ_CHECK(again->eft_field() == model->eft_field(), canonical);
  FUZZ_CHECK(again->effect() == model->effect(), canonical);
  FUZZ_CHECK(again->role_definitions().size() == model->role_definitions().size(), canonical);
  FUZZ_CHECK(again->matcher().policy_regexes() == model->matcher().policy_regexes(), canonical);
  return 0;
}
