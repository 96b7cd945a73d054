#include "node/request_tracker.h"

#include <algorithm>
#include <random>
#include <string>
#include <utility>

#include "log/thread_name.h"
#include "node/node_error.h"

namespace node {
namespace {

absl::Status timed_out() {
  return node_error(NodeErrorKind::kTimedOut, "the request's deadline passed");
}
absl::Status no_leader() {
  return node_error(NodeErrorKind::kNoLeader, "no leader was known before the deadline");
}
absl::Status lost(raft::Term handed_over, raft::Term applied) {
  return node_error(NodeErrorKind::kNotLeader,
                    "the leader of term " + std::to_string(handed_over.value()) +
                        " lost the write: an entry of term " + std::to_string(applied.value()) +
                        " applied before it");
}

}  // namespace

uint64_t RequestTracker::random_first_id() {
  std::random_device device;
  const uint64_t r = (static_cast<uint64_t>(device()) << 32) | device();
  return 1 + (r >> 2);
}

RequestTracker::~RequestTracker() {
  stop(node_error(NodeErrorKind::kStopped, "the request tracker was destroyed"));
}

void RequestTracker::start() {
  MutexLock lock(&mu_);
  if (running_ || stopped_) return;
  running_ = true;
  thread_ = std::thread([this] {
    raftlog::name_this_thread("raftkv-timer");
    timer_loop();
  });
}

void RequestTracker::stop(const absl::Status& why) {
  {
    MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    stop_status_ = why;
    wake_.signal_all();
  }
  if (thread_.joinable()) thread_.join();
  std::vector<Task> fail;
  std::multimap<Deadline, Task> scheduled;
  {
    MutexLock lock(&mu_);
    while (!deadlines_.empty()) {
      const auto [kind, id] = deadlines_.begin()->second;
      fail.push_back(take_failed(kind, id, why));
    }
    scheduled.swap(scheduled_);
  }
  for (Task& f : fail) f();
  for (auto& [at, task] : scheduled) task();
}

bool RequestTracker::stopped_now(const std::function<void(const absl::Status&)>& late) {
  absl::Status why;
  {
    MutexLock lock(&mu_);
    if (!stopped_) return false;
    why = stop_status_;
  }
  late(why);
  return true;
}

uint64_t RequestTracker::add_call(Deadline deadline, WriteCallback done) {
  if (stopped_now([&](const absl::Status& why) { done(why); })) return 0;
  MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  calls_.emplace(id, Call{deadlines_.emplace(deadline, std::pair(Kind::kCall, id)), std::move(done),
                          std::nullopt});
  wake_for(deadline);
  return id;
}

void RequestTracker::complete_call(uint64_t id, absl::StatusOr<std::string> result) {
  WriteCallback done;
  {
    MutexLock lock(&mu_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return;  // completed already, or timed out
    done = take_call(it);
  }
  done(std::move(result));
}

WriteCallback RequestTracker::take_call(std::map<uint64_t, Call>::iterator it) {
  deadlines_.erase(it->second.at);
  if (it->second.handover.has_value()) handovers_.erase(*it->second.handover);
  WriteCallback done = std::move(it->second.done);
  calls_.erase(it);
  return done;
}

void RequestTracker::add_handover(uint64_t call, raft::Term term) {
  MutexLock lock(&mu_);
  auto it = calls_.find(call);
  if (it == calls_.end() || it->second.handover.has_value()) return;
  it->second.handover = handovers_.emplace(term, call);
}

void RequestTracker::add_index(raft::LogId entry, Deadline deadline, StatusCallback done) {
  if (stopped_now([&](const absl::Status& why) { done(why); })) return;
  Task replaced;
  {
    MutexLock lock(&mu_);
    // A change at an index that a newer leader overwrote may still wait there: the new
    // entry's waiter supersedes it, and the old one learns its entry is gone.
    if (indexes_.contains(entry.index)) {
      replaced = take_failed(Kind::kIndex, entry.index.value(),
                             node_error(NodeErrorKind::kLeaderChanged,
                                        "another entry replaced this change in the log"));
    }
    indexes_.emplace(entry.index, Index{deadlines_.emplace(
                                            deadline, std::pair(Kind::kIndex, entry.index.value())),
                                        entry.term, std::move(done)});
    wake_for(deadline);
  }
  if (replaced) replaced();
}

void RequestTracker::applied(const std::vector<raft::LogId>& entries) {
  std::vector<Task> done;
  {
    MutexLock lock(&mu_);
    // Each entry's own call completed when it applied (before this): a call handed over
    // in an earlier term than the newest entry applied still waits for an entry that no
    // leader will commit.
    // Committed entries come in log order, and terms never decrease along a log.
    const raft::Term newest = entries.empty() ? raft::Term() : entries.back().term;
    while (!handovers_.empty() && handovers_.begin()->first < newest) {
      const auto [term, call] = *handovers_.begin();
      done.push_back(take_failed(Kind::kCall, call, lost(term, newest)));
      lost_handovers_.fetch_add(1, std::memory_order_relaxed);
    }
    for (const raft::LogId& entry : entries) {
      if (indexes_.empty()) break;
      auto it = indexes_.find(entry.index);
      if (it == indexes_.end()) continue;
      deadlines_.erase(it->second.at);
      absl::Status result = it->second.term == entry.term
                                ? absl::OkStatus()
                                : node_error(NodeErrorKind::kLeaderChanged,
                                             "the leader changed before the change committed");
      done.push_back([cb = std::move(it->second.done), result]() mutable { cb(result); });
      indexes_.erase(it);
    }
  }
  for (Task& t : done) t();
}

void RequestTracker::snapshot_installed(raft::LogIndex index) {
  std::vector<Task> fail;
  {
    MutexLock lock(&mu_);
    while (!indexes_.empty() && indexes_.begin()->first <= index) {
      fail.push_back(take_failed(Kind::kIndex, indexes_.begin()->first.value(), timed_out()));
    }
    for (const auto& [term, call] : handovers_) calls_.at(call).handover.reset();
    handovers_.clear();
  }
  for (Task& f : fail) f();
}

void RequestTracker::when_leader(std::function<bool(raft::NodeId)> accept, Deadline deadline,
                                 LeaderCallback done) {
  if (stopped_now([&](const absl::Status& why) { done(why); })) return;
  raft::NodeId now;
  {
    MutexLock lock(&mu_);
    now = leader_;
    if (now == raft::kNoNode || !accept(now)) {
      const uint64_t id = next_id_++;
      leader_waits_.emplace(id,
                            LeaderWait{deadlines_.emplace(deadline, std::pair(Kind::kLeader, id)),
                                       std::move(accept), std::move(done)});
      wake_for(deadline);
      return;
    }
  }
  done(now);
}

void RequestTracker::leader_changed(raft::NodeId leader) {
  std::vector<LeaderCallback> ready;
  {
    MutexLock lock(&mu_);
    leader_ = leader;
    if (leader == raft::kNoNode) return;
    for (auto it = leader_waits_.begin(); it != leader_waits_.end();) {
      if (!it->second.accept(leader)) {
        ++it;
        continue;
      }
      deadlines_.erase(it->second.at);
      ready.push_back(std::move(it->second.done));
      it = leader_waits_.erase(it);
    }
  }
  for (LeaderCallback& done : ready) done(leader);
}

void RequestTracker::schedule(Deadline at, Task task) {
  {
    MutexLock lock(&mu_);
    if (!stopped_) {
      scheduled_.emplace(at, std::move(task));
      wake_for(at);
      return;
    }
  }
  task();  // stopped: run it now; it sees the node stopped and fails its request
}

size_t RequestTracker::pending() const {
  MutexLock lock(&mu_);
  return deadlines_.size();
}

Task RequestTracker::take_failed(Kind kind, uint64_t id, const absl::Status& why) {
  auto take = [&](auto& waiters, auto key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> Task {
    auto it = waiters.find(key);
    deadlines_.erase(it->second.at);
    auto done = std::move(it->second.done);
    waiters.erase(it);
    return [done = std::move(done), why]() mutable { done(why); };
  };
  switch (kind) {
    case Kind::kCall:
      return [done = take_call(calls_.find(id)), why]() mutable { done(why); };
    case Kind::kIndex:
      return take(indexes_, raft::LogIndex(id));
    case Kind::kLeader:
      return take(leader_waits_, id);
  }
  return {};
}

std::vector<Task> RequestTracker::take_expired(Deadline now) {
  std::vector<Task> due;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const auto [kind, id] = deadlines_.begin()->second;
    due.push_back(take_failed(kind, id, kind == Kind::kLeader ? no_leader() : timed_out()));
  }
  while (!scheduled_.empty() && scheduled_.begin()->first <= now) {
    due.push_back(std::move(scheduled_.begin()->second));
    scheduled_.erase(scheduled_.begin());
  }
  return due;
}

bool RequestTracker::next_wake(Deadline* at) const {
  if (deadlines_.empty() && scheduled_.empty()) return false;
  if (deadlines_.empty()) {
    *at = scheduled_.begin()->first;
  } else if (scheduled_.empty()) {
    *at = deadlines_.begin()->first;
  } else {
    *at = std::min(deadlines_.begin()->first, scheduled_.begin()->first);
  }
  return true;
}

void RequestTracker::wake_for(Deadline at) {
  // Deadlines mostly come in increasing order (now + a fixed timeout): the timer thread
  // is woken only when one falls before the time it sleeps until.
  if (at < sleeping_until_) wake_.signal();
}

void RequestTracker::timer_loop() {
  while (true) {
    std::vector<Task> due;
    {
      MutexLock lock(&mu_);
      if (stopped_) return;
      Deadline at = Deadline::max();
      const bool any = next_wake(&at);
      const Deadline now = Clock::now();
      if (!any || at > now) {
        // Until the earliest deadline, or until a registration with an earlier one (or
        // stop()) signals.
        sleeping_until_ = at;
        if (any) {
          wake_.wait_until(&mu_, at);
        } else {
          wake_.wait(&mu_);
        }
        sleeping_until_ = Deadline::min();
        continue;
      }
      due = take_expired(now);
    }
    for (Task& task : due) task();
  }
}

}  // namespace node
