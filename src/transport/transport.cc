#include "transport/transport.h"

#include <string>

#include "absl/strings/cord.h"

namespace transport {
namespace {
constexpr char kUnreachableUrl[] = "type.raftkv.io/transport.Unreachable";
}  // namespace

absl::Status unreachable_error(std::string_view detail) {
  absl::Status s = absl::UnavailableError(std::string(detail));
  s.SetPayload(kUnreachableUrl, absl::Cord("1"));
  return s;
}

bool is_unreachable(const absl::Status& status) {
  return status.GetPayload(kUnreachableUrl).has_value();
}

}  // namespace transport
