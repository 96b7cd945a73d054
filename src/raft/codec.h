// Encodings of the entries the core itself reads back when they are applied: new
// timeouts and new memberships, in byte_codec.h's fields. Application entries are
// opaque to the core.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "raft/config.h"
#include "raft/types.h"

namespace raft {

std::string encode_timeouts(const Timeouts& t);
// nullopt when `data` is not an encoding of Timeouts.
std::optional<Timeouts> decode_timeouts(std::string_view data);

std::string encode_membership(const Membership& m);
std::optional<Membership> decode_membership(std::string_view data);

}  // namespace raft
