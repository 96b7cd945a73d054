#include "node/node_error.h"

#include <array>
#include <string>

#include "absl/strings/cord.h"

namespace node {
namespace {

// The payload's type URL; its value is the kind's name.
constexpr char kTypeUrl[] = "type.raftkv.io/node.NodeError";

struct KindInfo {
  NodeErrorKind kind;
  std::string_view name;
  absl::StatusCode code;
};

constexpr std::array<KindInfo, 10> kKinds = {{
    {NodeErrorKind::kNotLeader, "not_leader", absl::StatusCode::kUnavailable},
    {NodeErrorKind::kNoLeader, "no_leader", absl::StatusCode::kUnavailable},
    {NodeErrorKind::kLeaderUnreachable, "leader_unreachable", absl::StatusCode::kUnavailable},
    {NodeErrorKind::kLeaderChanged, "leader_changed", absl::StatusCode::kUnavailable},
    {NodeErrorKind::kTimedOut, "timed_out", absl::StatusCode::kUnavailable},
    {NodeErrorKind::kStopped, "stopped", absl::StatusCode::kUnavailable},
    {NodeErrorKind::kProposalDropped, "proposal_dropped", absl::StatusCode::kUnavailable},
    {NodeErrorKind::kChangePending, "change_pending", absl::StatusCode::kUnavailable},
    {NodeErrorKind::kMalformed, "malformed", absl::StatusCode::kInvalidArgument},
    {NodeErrorKind::kOverloaded, "overloaded", absl::StatusCode::kResourceExhausted},
}};

const KindInfo& info(NodeErrorKind kind) {
  for (const KindInfo& k : kKinds) {
    if (k.kind == kind) return k;
  }
  return kKinds[0];  // unreachable: every enumerator is listed
}

}  // namespace

absl::Status node_error(NodeErrorKind kind, std::string_view message) {
  const KindInfo& k = info(kind);
  absl::Status s(k.code, std::string(message));
  s.SetPayload(kTypeUrl, absl::Cord(std::string(k.name)));
  return s;
}

std::optional<NodeErrorKind> node_error_kind(const absl::Status& status) {
  const auto payload = status.GetPayload(kTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  const std::string name(*payload);
  for (const KindInfo& k : kKinds) {
    if (k.name == name) return k.kind;
  }
  return std::nullopt;
}

bool is_node_error(const absl::Status& status, NodeErrorKind kind) {
  return node_error_kind(status) == kind;
}

std::string_view kind_name(NodeErrorKind kind) { return info(kind).name; }

absl::Status from_raft(const raft::Error& error) {
  switch (error.code()) {
    case raft::ErrorCode::kOk:
      return absl::OkStatus();
    case raft::ErrorCode::kNotLeader:
      return node_error(NodeErrorKind::kNotLeader, error.message());
    case raft::ErrorCode::kProposalDropped:
      return node_error(NodeErrorKind::kProposalDropped, error.message());
    case raft::ErrorCode::kOverloaded:
      return node_error(NodeErrorKind::kOverloaded, error.message());
    case raft::ErrorCode::kInvalidArgument:
      return absl::InvalidArgumentError(error.message());
    case raft::ErrorCode::kFailedPrecondition:
      return absl::FailedPreconditionError(error.message());
  }
  return absl::InternalError(error.message());
}

bool retryable(const absl::Status& status) {
  const std::optional<NodeErrorKind> kind = node_error_kind(status);
  return kind == NodeErrorKind::kNotLeader || kind == NodeErrorKind::kLeaderUnreachable;
}

}  // namespace node
