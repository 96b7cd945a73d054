// The wire form of Raft messages between raftkv nodes: raft::Message to and from the
// peer protocol's protobuf (proto/raftkv/peer.proto). Decoding checks everything a
// peer could get wrong and says what, so a bad frame is refused, never a crash.
#pragma once

#include "absl/status/statusor.h"
#include "raft/message.h"
#include "raftkv/peer.pb.h"

namespace transport {

void encode(const raft::Message& in, raftkv::peer::Message* out);
absl::StatusOr<raft::Message> decode(const raftkv::peer::Message& in);

}  // namespace transport
