// RequestTracker: the requests in flight on one member, indexed by deadline, and the one
// retry mechanism of the runtime. Client writes wait here for their entry to apply,
// reads for their ReadIndex round, membership and timeout changes for their entry's
// index, callers for a leader to be known; retries are scheduled here too. Every
// asynchronous operation of the runtime is one of these waiters, so each ends exactly
// once: with its result, at its deadline, or when the node stops.
//
// Thread: the tracker's own timer thread fails what passes its deadline (kTimedOut, or
// kNoLeader for a leader wait) and runs scheduled tasks, sleeping until the earliest
// deadline: nothing polls. The other runtime threads complete waiters through the
// methods below, each callable from any thread. Callbacks always run outside the lock,
// exactly once, on the thread that completes them; they must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "node/mutex.h"
#include "node/node_types.h"
#include "raft/types.h"

namespace node {

using LeaderCallback = std::function<void(absl::StatusOr<raft::NodeId>)>;
using Task = std::function<void()>;

class RequestTracker {
 public:
  // Request numbers start at a random point, so that they
  // are unique across the restarts of a member, not only while it runs: a write's entry
  // carries its number, and the member applies its earlier lives' entries again after a
  // restart (and may get a leader's late refusal or ReadIndex answer for one). Counting
  // from 1 again, those completed the new calls that had the same numbers with another
  // request's result.
  RequestTracker() : next_id_(random_first_id()) {}
  // Uniform in [1, 2^62]: ids never reach 0 (which add_call returns when stopped) or wrap
  // in any process's life, and two lives' ranges overlap with odds ~ requests / 2^61.
  static uint64_t random_first_id();
  ~RequestTracker();
  RequestTracker(const RequestTracker&) = delete;
  RequestTracker& operator=(const RequestTracker&) = delete;

  // Starts the timer thread. Any thread, once.
  void start();
  // Stops the timer thread, then fails every waiter with `why` and runs every scheduled
  // task (a retry sees the node stopped and fails its request). Later registrations
  // complete at once with `why`. Any thread but the timer thread; idempotent.
  void stop(const absl::Status& why);

  // A call: anything that ends with a result or an error (a client write, a read, an
  // admin request). Returns its id: a write's envelope carries it as the request
  // number, so the member that applies the entry can complete it. `done` gets the
  // result (complete_call) or the error that ended the call first.
  uint64_t add_call(Deadline deadline, WriteCallback done);
  // Completes call `id` if it is still waiting (a late answer is dropped).
  void complete_call(uint64_t id, absl::StatusOr<std::string> result);

  // A change proposed at `entry`: completes ok once an entry at that index and term is
  // applied and the core has taken it in (applied()), kLeaderChanged when the entry
  // there has another term.
  void add_index(raft::LogId entry, Deadline deadline, StatusCallback done);
  // The core thread, after Raft::advance() for a Ready: its committed entries, in log
  // order.
  void applied(const std::vector<raft::LogId>& entries);
  // A snapshot replaced the log up to `index`: changes waiting at or below it cannot tell
  // whether their entry survived, and fail with kTimedOut (etcd's answer too). Writes
  // handed over before it are no longer watched (add_handover): the snapshot may hold
  // their entries, so they wait for their deadline.
  void snapshot_installed(raft::LogIndex index);

  // Call `call` is a write whose entry, if any leader appends it, carries `term` (the
  // leader that received it appends it only in that term). Log terms never decrease, so
  // once this member applies an entry of a later term and the call still waits, its
  // entry is in no log that can commit: the call fails at once with kNotLeader, which
  // says the write is in no log, and the writer may send it again (a leader that died
  // with the write lost it; the write no longer waits for its deadline). A call no longer
  // waiting is ignored.
  void add_handover(uint64_t call, raft::Term term);
  // Calls add_handover() found in no log, since the start (metrics).
  uint64_t lost_handovers() const { return lost_handovers_.load(std::memory_order_relaxed); }

  // Runs `done` with the leader once `accept(leader)` holds (at once if it holds now),
  // or fails it with kNoLeader at `deadline`.
  void when_leader(std::function<bool(raft::NodeId)> accept, Deadline deadline,
                   LeaderCallback done);
  // The core thread publishes every change of the known leader (kNoNode: none).
  void leader_changed(raft::NodeId leader);

  // Runs `task` on the timer thread at `at`: the runtime's one way to try again later.
  void schedule(Deadline at, Task task);

  // Waiters registered and not yet completed (for tests and metrics).
  size_t pending() const;

 private:
  enum class Kind { kCall, kIndex, kLeader };
  using DeadlineIndex = std::multimap<Deadline, std::pair<Kind, uint64_t>>;
  using HandoverIndex = std::multimap<raft::Term, uint64_t>;
  struct Call {
    DeadlineIndex::iterator at;
    WriteCallback done;
    std::optional<HandoverIndex::iterator> handover;  // add_handover()
  };
  struct Index {
    DeadlineIndex::iterator at;
    raft::Term term;
    StatusCallback done;
  };
  struct LeaderWait {
    DeadlineIndex::iterator at;
    std::function<bool(raft::NodeId)> accept;
    LeaderCallback done;
  };

  void timer_loop();
  // Removes the waiters whose deadline is at or before `now` and returns their failures.
  std::vector<Task> take_expired(Deadline now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes call `it` from every index (its deadline, its handover); returns its callback.
  WriteCallback take_call(std::map<uint64_t, Call>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes one waiter and returns the task that fails it with `why`.
  Task take_failed(Kind kind, uint64_t id, const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool next_wake(Deadline* at) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Signals the timer thread if `at` comes before the time it sleeps until.
  void wake_for(Deadline at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `late` now when stopped (the waiter fails with the stop status); otherwise the
  // caller registers it.
  bool stopped_now(const std::function<void(const absl::Status&)>& late);

  mutable Mutex mu_;
  CondVar wake_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status stop_status_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_);
  // When the timer thread sleeps, the time it wakes at (max: no deadline); min while
  // it is awake (it looks at every waiter before it sleeps again).
  Deadline sleeping_until_ ABSL_GUARDED_BY(mu_) = Deadline::min();
  raft::NodeId leader_ ABSL_GUARDED_BY(mu_);
  DeadlineIndex deadlines_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Call> calls_ ABSL_GUARDED_BY(mu_);
  // By log index (its key in deadlines_ is the index): one change per index.
  std::map<raft::LogIndex, Index> indexes_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, LeaderWait> leader_waits_ ABSL_GUARDED_BY(mu_);
  // The calls add_handover() watches, by the term their entries carry.
  HandoverIndex handovers_ ABSL_GUARDED_BY(mu_);
  std::multimap<Deadline, Task> scheduled_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // the timer thread
  std::atomic<uint64_t> lost_handovers_{0};
};

}  // namespace node
