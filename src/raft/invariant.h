/// @file
/// What the core does when one of its own invariants breaks: a bug, not bad input.
/// Bad input from a peer is dropped and counted; a broken invariant goes to a
/// handler the embedder installs (the default prints the invariant and aborts).
/// The library itself never calls exit().
#pragma once

#include <string_view>

namespace raft {

/// Told the broken invariant, in words, and where in the core's source it is checked.
using InvariantHandler = void (*)(std::string_view invariant, std::string_view file, int line);

/// Installs `handler` process-wide and returns the previous one. The handler must not
/// return; if it does, the core aborts.
InvariantHandler set_invariant_handler(InvariantHandler handler);

/// Called by RAFT_INVARIANT when `invariant` does not hold: the handler, then abort.
[[noreturn]] void invariant_failed(std::string_view invariant, std::string_view file, int line);

}  // namespace raft

/// The core's own checks (an embedder's code may use it too): `what` names the invariant.
#define RAFT_INVARIANT(cond, what)                          \
  do {                                                      \
    if (!(cond)) {                                          \
      ::raft::invariant_failed((what), __FILE__, __LINE__); \
    }                                                       \
  } while (0)
