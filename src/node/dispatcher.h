// Dispatcher: where each request goes. Client writes, reads, membership and timeout
// changes, leadership transfers and leader calls are routed to the leader: run here when
// this member leads, handed to the leader on the peer stream (writes) or forwarded to it
// (the rest) otherwise, and tried again while no leader is known or the leader refused
// before the request reached a log. On the leader it serves what followers hand over.
//
// Threads: it owns none. Its methods run on the caller's thread (RPC and transport
// threads); its continuations run on the core thread (the core's answers, a leader
// becoming known), the apply thread (results) or the tracker's timer thread (retries,
// deadlines). Every request is a tracker waiter, so each ends exactly once.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "node/applier.h"
#include "node/core_loop.h"
#include "node/mutex.h"
#include "node/request_tracker.h"
#include "raftkv/node.pb.h"
#include "transport/transport.h"

namespace node {

class Dispatcher {
 public:
  using Authorize = std::function<absl::Status(const std::string&, std::string_view)>;
  // `authorize` (NodeConfig::authorize) may be empty.
  Dispatcher(raft::NodeId self, uint32_t tick_ms, CoreLoop* core, Applier* applier,
             RequestTracker* tracker, transport::Transport* transport, Authorize authorize = {});

  // Replicates `command` (through the leader) and answers with what applying it here
  // produced.
  void write(std::string command, Deadline deadline, WriteCallback done);
  // Proposes `command` on this member only if it leads in `term`: never forwarded, never
  // tried again elsewhere. For what only the leader of that term may decide (a lease it
  // found expired): a deposed leader's decision must not reach the log through the new
  // leader.
  void write_as_leader(std::string command, raft::Term term, Deadline deadline, WriteCallback done);
  // Answers once this member's state machine reflects every write that completed
  // before the call (ReadIndex, thesis 6.4). Reads share rounds: one read index is asked
  // for at a time, and the reads that came while it was out wait for the next, which
  // starts after each of them arrived (as etcd's linearizableReadLoop batches them).
  void read(Deadline deadline, StatusCallback done);
  // Runs `request` on the leader, here or forwarded.
  void on_leader(raftkv::node::ForwardedRequest request, Deadline deadline, WriteCallback done);
  // Proposes `change` on this member, which must lead, and answers once it is applied.
  void change_here(MembershipChange change, Deadline deadline, WriteCallback done);

  // The transport's deliveries (transport threads).
  void on_proposal(raft::NodeId from, std::string entry);
  void on_refusal(uint64_t request, absl::Status why);
  void on_forward(raft::NodeId from, std::string payload, std::chrono::milliseconds timeout,
                  transport::ForwardCallback done);

  // Proposals handed over by peers that were dropped as unreadable (metrics).
  uint64_t malformed_proposals() const { return malformed_.load(std::memory_order_relaxed); }

 private:
  struct PendingWrite {
    std::string command;
    Deadline deadline;
    WriteCallback done;
  };
  struct PendingRoute {
    raftkv::node::ForwardedRequest request;
    std::string bytes;  // `request` serialized, for forwarding
    Deadline deadline;
    WriteCallback done;
  };

  void write_attempt(std::shared_ptr<PendingWrite> w);
  void route_attempt(std::shared_ptr<PendingRoute> r);
  // One try of a request for the leader: waits for a known leader, registers the try as
  // a tracker call and hands it over with send(leader, call id). The call's answer is
  // returned, or, when the request reached no log, `again` runs a little later.
  template <typename Pending, typename Send>
  void attempt(std::shared_ptr<Pending> p, void (Dispatcher::*again)(std::shared_ptr<Pending>),
               Send send);
  // On the leader.
  void run_here(const raftkv::node::ForwardedRequest& request, Deadline deadline,
                WriteCallback done);
  void propose_timeouts(const raftkv::node::Timeouts& t, Deadline deadline, WriteCallback done);
  void transfer(raft::NodeId to, Deadline deadline, WriteCallback done);
  // Waits for the entry the core appended at `proposed` to apply.
  void await_applied(absl::StatusOr<raft::LogId> proposed, Deadline deadline, WriteCallback done);
  bool can_retry(Deadline deadline) const;
  Deadline retry_at() const;
  // Asks one read index for every read waiting, unless a round is out already.
  void start_read_round();

  // A read waiting for a round: its tracker call and its deadline.
  struct WaitingRead {
    uint64_t call;
    Deadline deadline;
  };
  Mutex reads_mu_;
  std::vector<WaitingRead> reads_waiting_ ABSL_GUARDED_BY(reads_mu_);
  bool read_round_out_ ABSL_GUARDED_BY(reads_mu_) = false;

  const raft::NodeId self_;
  const uint32_t tick_ms_;
  CoreLoop* const core_;
  Applier* const applier_;
  RequestTracker* const tracker_;
  transport::Transport* const transport_;
  const Authorize authorize_;
  // The action name NodeConfig::authorize is asked about for `request`, if any.
  static std::optional<std::string_view> action_of(const raftkv::node::ForwardedRequest& request);
  std::atomic<uint64_t> malformed_{0};
};

}  // namespace node
