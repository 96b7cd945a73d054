#include "transport/wire_status.h"

#include <string>

#include "absl/strings/cord.h"

namespace transport {
void to_wire(const absl::Status& status, raftkv::peer::WireStatus* out) {
  out->set_code(static_cast<int32_t>(status.code()));
  out->set_message(std::string(status.message()));
  status.ForEachPayload([out](absl::string_view url, const absl::Cord& value) {
    raftkv::peer::StatusPayload* p = out->add_payloads();
    p->set_type_url(std::string(url));
    p->set_value(std::string(value));
  });
}

absl::Status from_wire(const raftkv::peer::WireStatus& in) {
  if (in.code() == 0) return absl::OkStatus();
  if (in.code() < 0 || in.code() > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError("a peer answered with status code " + std::to_string(in.code()) +
                              ": " + in.message());
  }
  absl::Status s(static_cast<absl::StatusCode>(in.code()), in.message());
  for (const raftkv::peer::StatusPayload& p : in.payloads()) {
    s.SetPayload(p.type_url(), absl::Cord(p.value()));
  }
  return s;
}

}  // namespace transport
