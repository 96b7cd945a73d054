// Fuzz target: the peer protocol's decoder (transport/message_codec.h) on a Message, or a
// whole PeerFrame, parsed from the fuzzer's bytes. The first byte picks which. Properties:
// - decode never crashes; a refusal is InvalidArgument with a message;
// - a decoded message has a sender and a recipient, and entries of known types;
// - an InstallSnapshot's metadata is what the core's own codec (raft/codec.h) accepts from
//   a snapshot file or a log entry: timeouts that validate, at least one voter, learners
//   apart from the voters;
// - encode(decoded) decodes again to an equal raft::Message, and encodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "fuzz/fuzz_util.h"
#include "raft/codec.h"
#include "raft/config.h"
#include "raftkv/peer.pb.h"
#include "transport/message_codec.h"

namespace {

bool same_ids(const raft::LogId& a, const raft::LogId& b) { return a == b; }

bool same_body(const raft::MessageBody& a, const raft::MessageBody& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b);
        if constexpr (std::is_same_v<T, raft::RequestVote>) {
          return x.pre_vote == y.pre_vote && same_ids(x.last_log, y.last_log) &&
                 x.transfer == y.transfer;
        } else if constexpr (std::is_same_v<T, raft::VoteResponse>) {
          return x.pre_vote == y.pre_vote && x.granted == y.granted;
        } else if constexpr (std::is_same_v<T, raft::AppendEntries>) {
          return same_ids(x.prev, y.prev) && x.entries == y.entries && x.commit == y.commit;
        } else if constexpr (std::is_same_v<T, raft::AppendResponse>) {
          return x.success == y.success && x.match == y.match && x.rejected == y.rejected &&
                 same_ids(x.hint, y.hint);
        } else if constexpr (std::is_same_v<T, raft::Heartbeat>) {
          return x.commit == y.commit && x.round == y.round;
        } else if constexpr (std::is_same_v<T, raft::HeartbeatResponse>) {
          return x.round == y.round;
        } else if constexpr (std::is_same_v<T, raft::TimeoutNow>) {
          return true;
        } else if constexpr (std::is_same_v<T, raft::ReadIndexRequest>) {
          return x.id == y.id;
        } else if constexpr (std::is_same_v<T, raft::ReadIndexResponse>) {
          return x.id == y.id && x.index == y.index && x.ok == y.ok;
        } else {
          static_assert(std::is_same_v<T, raft::InstallSnapshot>);
          return x.meta == y.meta;
        }
      },
      a);
}

bool same_message(const raft::Message& a, const raft::Message& b) {
  return a.from == b.from && a.to == b.to && a.term == b.term && same_body(a.body, b.body);
}

std::string wire(const raftkv::peer::Message& pb) {
  std::string out;
  pb.SerializeToString(&out);
  return out;
}

void check_one(const raftkv::peer::Message& in) {
  absl::StatusOr<raft::Message> decoded = transport::decode(in);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument,
               decoded.status().ToString());
    FUZZ_CHECK(!decoded.status().message().empty(), decoded.status().ToString());
    return;
  }
  const raft::Message& m = *decoded;
  FUZZ_CHECK(m.from != raft::kNoNode && m.to != raft::kNoNode, in.DebugString());
  if (const auto* ae = std::get_if<raft::AppendEntries>(&m.body)) {
    for (const raft::Entry& e : ae->entries) {
      FUZZ_CHECK(e.type <= raft::EntryType::kTimeouts, in.DebugString());
    }
  }
  if (const auto* is = std::get_if<raft::InstallSnapshot>(&m.body)) {
    const raft::Membership& ms = is->meta.membership;
    FUZZ_CHECK(raft::decode_timeouts(raft::encode_timeouts(is->meta.timeouts)).has_value(),
               in.DebugString());
    FUZZ_CHECK(raft::decode_membership(raft::encode_membership(ms)).has_value(), in.DebugString());
    for (raft::NodeId id : ms.learners) {
      FUZZ_CHECK(!ms.is_voter(id), in.DebugString());
    }
  }
  // The round trip: encode, through the wire, decode.
  raftkv::peer::Message encoded;
  transport::encode(m, &encoded);
  const std::string bytes = wire(encoded);
  raftkv::peer::Message parsed;
  FUZZ_CHECK(parsed.ParseFromString(bytes), in.DebugString());
  absl::StatusOr<raft::Message> again = transport::decode(parsed);
  FUZZ_CHECK(again.ok(), again.status().ToString() + "\n" + encoded.DebugString());
  FUZZ_CHECK(same_message(m, *again), in.DebugString() + "\nre-encoded:\n" + encoded.DebugString());
  raftkv::peer::Message encoded_again;
  transport::encode(*again, &encoded_again);
  FUZZ_CHECK(wire(encoded_again) == bytes, encoded.DebugString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool frame = (data[0] & 1) != 0;
  const uint8_t* body = data + 1;
  const int n = static_cast<int>(size - 1);
  if (frame) {
    raftkv::peer::PeerFrame f;
    if (!f.ParseFromArray(body, n)) return 0;
    for (const raftkv::peer::Message& m : f.messages()) check_one(m);
  } else {
    raftkv::peer::Message m;
    if (!m.ParseFromArray(body, n)) return 0;
    check_one(m);
  }
  return 0;
}
