/// @file
/// Results of the core's input calls (propose, configuration checks): an error code
/// and a message that names what was wrong. Standard library only: the core does not
/// depend on absl; the runtime maps these to absl::Status at its boundary.
#pragma once

#include <string>
#include <utility>

#include "raft/types.h"

namespace raft {

/// Why the core refused an input. A refused input changed nothing.
enum class ErrorCode {
  kOk = 0,             ///< not an error
  kNotLeader,          ///< this node cannot accept the request; `leader` names the known one
  kProposalDropped,    ///< the leader is busy for a moment (a leadership transfer in progress)
  kOverloaded,         ///< the leader holds its limit of uncommitted bytes
  kInvalidArgument,    ///< the request itself is malformed
  kFailedPrecondition  ///< the request conflicts with the current state (e.g. a change pending)
};

/// An ErrorCode with a message for people; code decides by code(), never by the text.
class Error {
 public:
  Error() = default;
  /// A refusal; `leader` only with kNotLeader.
  Error(ErrorCode code, std::string message, NodeId leader = kNoNode)
      : code_(code), message_(std::move(message)), leader_(leader) {}

  /// No error.
  static Error ok() { return Error(); }
  /// Whether the input was accepted.
  bool is_ok() const { return code_ == ErrorCode::kOk; }
  /// What kind of refusal; decide by this.
  ErrorCode code() const { return code_; }
  /// What was wrong, for people.
  const std::string& message() const { return message_; }
  /// With kNotLeader: the leader this node knows of, or kNoNode.
  NodeId leader() const { return leader_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  NodeId leader_;
};

}  // namespace raft
