/// @file
/// Typed runtime errors. What went wrong with a request inside the runtime travels as a
/// kind in the absl::Status's payload, so code decides (retry, give up, report) by the
/// kind and never by the message text; the message is for people. The server maps each
/// kind to etcd's wording once, at its edge (server/errors.h).
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "raft/error.h"

namespace node {

/// Why the runtime could not carry out a request. Each says whether the request may be in
/// a log (docs/embedding.md, "Errors").
enum class NodeErrorKind {
  kNotLeader,          ///< the member asked is not the leader: the request is in no log
  kNoLeader,           ///< no leader was known before the deadline
  kLeaderUnreachable,  ///< the leader could not be reached: the request was not delivered
  kLeaderChanged,      ///< leadership moved before the request committed or was confirmed
  kTimedOut,           ///< the deadline passed; a write may still take effect later
  kStopped,            ///< this member is stopping or stopped
  kProposalDropped,    ///< the leader turned the proposal away for a moment (a transfer)
  kChangePending,      ///< another membership change is still in progress (thesis 4.1)
  kMalformed,          ///< a peer's envelope could not be read: nothing was done
  kOverloaded,         ///< this member takes no work for now (apply lag, queue or log budget full)
};

/// A status of `kind`'s code (Unavailable; InvalidArgument for kMalformed, ResourceExhausted
/// for kOverloaded) carrying the kind; `message` says what happened, in the runtime's own words.
absl::Status node_error(NodeErrorKind kind, std::string_view message);
/// The kind `status` carries, if it is a runtime error.
std::optional<NodeErrorKind> node_error_kind(const absl::Status& status);
/// Whether `status` carries `kind`.
bool is_node_error(const absl::Status& status, NodeErrorKind kind);
/// The kind's name in snake case ("not_leader"), for logs and metrics labels.
std::string_view kind_name(NodeErrorKind kind);
/// The core's refusal as a status: kNotLeader, kProposalDropped and kOverloaded become
/// those kinds; the core's invalid-argument and failed-precondition refusals keep their codes and
/// messages (they are about the request, not the runtime).
absl::Status from_raft(const raft::Error& error);

/// Whether a request refused with `status` reached no log, so sending it again (to the
/// leader as now known) cannot apply it twice: kNotLeader and kLeaderUnreachable.
/// client_write and the calls that run on the leader retry these themselves until their
/// deadline. kTimedOut, kStopped and kLeaderChanged say nothing of the kind: the write
/// may still apply.
bool retryable(const absl::Status& status);

}  // namespace node
