// The lock service's replicated state: named locks, each with an owner, a fencing token
// and a lease. It is the node::StateMachine the lock service embeds in every member; all
// members apply the same commands in log order, so all hold the same table.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "node/state_machine.h"

namespace lock_service {

// The codec of commands (in the log) and answers: one line of words separated by single
// spaces. Names and owners are single words of printable ASCII.
//   acquire <name> <owner> <ttl_ms>  -> granted <token> | held <owner> <token>
//   renew <name> <owner> <token>     -> renewed <token> | lost
//   release <name> <owner> <token>   -> released | lost
//   expire <name> <token> <stamp>    -> expired | stale    (the leader's, never a client's)
// A command that does not parse is answered "error: ..." and changes nothing.

struct Lock {
  std::string owner;
  // The fencing token: the log index of the acquire that granted the lock. Log indexes
  // only grow, so a later grant of any lock always carries a larger token, and a storage
  // service that remembers the largest token it has seen can refuse a stale holder.
  uint64_t token = 0;
  uint64_t ttl_ms = 0;  // the lease the owner asked for; > 0
  // The log index of the last acquire or renew: which renewal of the lease this is.
  // Invariant: stamp >= token.
  uint64_t stamp = 0;
  bool operator==(const Lock&) const = default;
};

// The words of `line`, split at each single space (the codec above).
std::vector<std::string_view> split_words(std::string_view line);
// A decimal number without sign, or nothing.
std::optional<uint64_t> parse_number(std::string_view word);

class LockTable : public node::StateMachine {
 public:
  // node::StateMachine, on the node's apply thread. apply() reads no clock: a lease ends
  // only by an `expire` command that the leader put in the log.
  std::string apply(raft::LogIndex index, std::string_view command) override;
  // Format: "lock-table 1\n", a line "<name> <owner> <token> <ttl_ms> <stamp>\n" per lock,
  // then "end <count>\n". restore() checks all of it before it replaces anything.
  std::string snapshot() override;
  absl::Status restore(std::string_view data) override;
  void on_leadership(bool leader, raft::Term term) override;

  // Any thread: what this replica has applied so far.
  std::optional<Lock> find(const std::string& name) const;
  std::map<std::string, Lock> locks() const;
  // The term this replica leads in, once the applier has reached that leadership in log
  // order (entries of earlier terms not yet committed then may still apply after it: a
  // lock they grant or renew is timed from when this leader first sees it, so it still
  // gets a full TTL); Term() when it does not lead.
  raft::Term leading_term() const;

 private:
  mutable std::mutex mu_;  // apply thread writes, HTTP and lease threads read
  std::map<std::string, Lock> locks_;
  raft::Term leading_term_;
};

}  // namespace lock_service
