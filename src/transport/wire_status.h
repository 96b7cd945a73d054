// absl::Status on the peer wire: code, message and every payload, so the runtime's
// typed error kinds survive a forward or a refusal between members.
#pragma once

#include "absl/status/status.h"
#include "raftkv/peer.pb.h"

namespace transport {

void to_wire(const absl::Status& status, raftkv::peer::WireStatus* out);
// A code outside absl's range becomes kUnknown, naming the code it got.
absl::Status from_wire(const raftkv::peer::WireStatus& in);

}  // namespace transport
