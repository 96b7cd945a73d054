// Fuzzes Enforcer::create and enforce with an arbitrary model and policy: the input is the
// model text, a line "%%", then the policy text. Properties: no crash; errors have the parse
// error shape; enforce gives the same answer twice; an enforcer built from the canonical
// text loads, has the same canonical text and fingerprint, and gives the same answers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "security/enforcer.h"

namespace {

using security::Enforcer;

// Whether two answers agree: the same decision, or both refused with the same code (the
// messages may differ: they name lines, which the canonical text renumbers).
bool same_answer(const absl::StatusOr<bool>& a, const absl::StatusOr<bool>& b) {
  if (a.ok() != b.ok()) return false;
  return a.ok() ? *a == *b : a.status().code() == b.status().code();
}

std::string describe(const absl::StatusOr<bool>& a) {
  return a.ok() ? (*a ? "allowed" : "denied") : a.status().ToString();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kSeparator = "\n%%\n";
  const size_t at = input.find(kSeparator);
  const std::string_view model_text = input.substr(0, at);
  const std::string_view policy_text =
      at == std::string_view::npos ? std::string_view() : input.substr(at + kSeparator.size());

  absl::StatusOr<Enforcer> enforcer =
      Enforcer::create(model_text, "fuzz.conf", policy_text, "fuzz.csv");
  if (!enforcer.ok()) {
    const bool in_model = fuzz::message_of(enforcer.status()).starts_with("fuzz.conf:");
    fuzz::check_parse_error(enforcer.status(), in_model ? "fuzz.conf" : "fuzz.csv",
                            in_model ? model_text : policy_text);
    return 0;
  }

  // The canonical text is the model's, a blank line, then the policy's.
  const std::string& canonical = enforcer->canonical_text();
  const std::string model_canonical = enforcer->model().canonical_text();
  FUZZ_CHECK(canonical.starts_with(model_canonical + "\n"), canonical);
  const std::string policy_canonical = canonical.substr(model_canonical.size() + 1);
  absl::StatusOr<Enforcer> again =
      Enforcer::create(model_canonical, "canonical.conf", policy_canonical, "canonical.csv");
  FUZZ_CHECK(again.ok(), again.status().ToString() + "\ncanonical text:\n" + canonical);
  FUZZ_CHECK(again->canonical_text() == canonical,
             "first:\n" + canonical + "\nsecond:\n" + again->canonical_text());
  FUZZ_CHECK(again->fingerprint() == enforcer->fingerprint(), canonical);

  // Requests of the model's arity made of the policy's words (and a few others), chosen by
  // the input's bytes from the end backwards so that the choices and the text mutate apart.
  std::vector<std::string> words = fuzz::words_of(
      {"", "root", "alice", "data1", "/a/b", "read", "*", "x.*"}, enforcer->get_policy());
  words = fuzz::words_of(std::move(words), enforcer->get_grouping_policy(), 96);
  std::string reversed(input.rbegin(), input.rend());
  fuzz::ByteSource choices(reinterpret_cast<const uint8_t*>(reversed.data()), reversed.size());
  const size_t arity = enforcer->model().request_fields().size();
  for (int i = 0; i < 6; ++i) {
    std::vector<std::string> request;
    for (size_t k = 0; k < arity; ++k) request.push_back(choices.pick_from(words));
    const absl::StatusOr<bool> first = enforcer->enforce(request);
    FUZZ_CHECK(first.ok() || first.status().code() == absl::StatusCode::kInvalidArgument,
               first.status().ToString());
    const absl::StatusOr<bool> second = enforcer->enforce(request);
    FUZZ_CHECK(same_answer(first, second), describe(first) + " then " + describe(second));
    const absl::StatusOr<bool> rebuilt = again->enforce(request);
    FUZZ_CHECK(same_answer(first, rebuilt),
               describe(first) + " but from the canonical text " + describe(rebuilt));
  }
  std::vector<std::string> wrong_arity(arity + 1, "x");
  const absl::StatusOr<bool> refused = enforcer->enforce(wrong_arity);
  FUZZ_CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument, describe(refused));
  return 0;
}
