#include "node/core_loop.h"

#include <utility>

#include "log/log.h"
#include "log/thread_name.h"
#include "node/node_error.h"
#include "raft/overloaded.h"
#include "raft/raft_core.h"
#include "transport/transport.h"

namespace node {
namespace {

std::string hex(raft::NodeId id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id.value()));
  return buf;
}

// What an entry handed to the apply thread is counted at beyond its data
// (OverloadBounds::max_applying_bytes): its struct and its id in CoreLoop::unapplied_.
constexpr uint64_t kEntryOverhead = sizeof(raft::Entry) + sizeof(raft::LogId);

raft::ProposeResult refuse(std::string message) {
  return raft::ProposeResult{
      .error = raft::Error(raft::ErrorCode::kFailedPrecondition, std::move(message)), .id = {}};
}

absl::StatusOr<raft::LogId> to_result(const raft::ProposeResult& r) {
  if (!r.error.is_ok()) return from_raft(r.error);
  return r.id;
}

}  // namespace

CoreLoop::CoreLoop(uint32_t tick_ms, std::unique_ptr<raft::Raft> core, SnapshotData latest,
                   raft::HardState durable, Parts parts)
    : tick_ms_(tick_ms),
      parts_(std::move(parts)),
      core_(std::move(core)),
      events_(*core_, tick_ms, parts_.metrics),
      durable_(durable),
      latest_(std::move(latest)) {
  if (latest_.source != nullptr) snapshot_bytes_ = latest_.source->size();
  publish();
}

CoreLoop::~CoreLoop() { stop(); }

void CoreLoop::start() {
  {
    MutexLock lock(&mu_);
    next_tick_ = Clock::now() + std::chrono::milliseconds(tick_ms_);
    started_ = true;
  }
  thread_ = std::thread([this] {
    raftlog::name_this_thread("raftkv-core");
    loop();
  });
}

void CoreLoop::stop() {
  halt();
  if (thread_.joinable()) thread_.join();
  // A thread in run_here finishes its round before the parts it uses go away.
  MutexLock lock(&mu_);
  while (in_hand_) work_.wait(&mu_);
}

void CoreLoop::halt() {
  MutexLock lock(&mu_);
  stopping_ = true;
  work_.signal();
}

bool CoreLoop::post(Task&& task, Input input, size_t bytes) {
  bool wake = false;
  {
    MutexLock lock(&mu_);
    if (stopping_) return true;  // dropped, as stop() drops what is queued
    const OverloadBounds& b = parts_.bounds;
    // One item always fits: a snapshot larger than the byte bound must still get through.
    const bool full = queue_.size() >= b.max_queued_tasks ||
                      (queued_bytes_ > 0 && queued_bytes_ + bytes > b.max_queued_bytes);
    if (full && input != Input::kInternal) {
      (input == Input::kPeer ? dropped_messages_ : refused_requests_)
          .fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    // Only for the first task, since the core thread takes the whole queue when it
    // wakes; and not while a thread is in the core's round (the core thread's own, or one
    // in run_here): that thread takes the queue before it lets go, or wakes the core
    // thread for it (run_here), so a wake-up now would find the core taken and sleep
    // again.
    wake = queue_.empty() && !in_hand_;
    queue_.push_back(std::move(task));
    queued_bytes_ += bytes;
  }
  // Outside the lock, so the woken core thread does not block on it at once.
  if (wake) work_.signal();
  return true;
}

absl::Status CoreLoop::queue_full() const {
  return node_error(NodeErrorKind::kOverloaded,
                    "the core thread's queue is full (at most " +
                        std::to_string(parts_.bounds.max_queued_tasks) + " tasks and " +
                        std::to_string(parts_.bounds.max_queued_bytes) + " bytes)");
}

absl::Status CoreLoop::apply_lag_refusal() {
  const raft::LogIndex commit = core_of(*core_).log().committed(),
                       applied = parts_.applier->applied();
  const uint64_t lag = commit > applied ? commit.value() - applied.value() : 0;
  if (lag <= parts_.bounds.max_apply_lag) return absl::OkStatus();
  refused_lagging_.fetch_add(1, std::memory_order_relaxed);
  return node_error(NodeErrorKind::kOverloaded,
                    "applying trails committing by " + std::to_string(lag) + " entries (at most " +
                        std::to_string(parts_.bounds.max_apply_lag) + ")");
}

// ---- Inputs (any thread; the tasks run on the core thread) ----

void CoreLoop::step(raft::Message message,
                    std::shared_ptr<const transport::SnapshotSource> snapshot_bytes) {
  size_t bytes = snapshot_bytes != nullptr ? snapshot_bytes->bytes_in_memory() : 0;
  if (const auto* ae = std::get_if<raft::AppendEntries>(&message.body)) {
    for (const raft::Entry& e : ae->entries) bytes += e.data.size();
  }
  Task task = [this, m = std::move(message), snapshot = std::move(snapshot_bytes)]() mutable {
    if (const auto* is = std::get_if<raft::InstallSnapshot>(&m.body)) {
      incoming_snapshots_[is->meta.last.index] = std::move(snapshot);
    }
    heartbeat_answered(m);
    // Members only: a forged sender id must not grow the map.
    if (core_->membership().contains(m.from)) last_heard_[m.from] = Clock::now();
    core_->step(std::move(m));
  };
  // Not on a thread that polls the network for everyone (the step may fsync).
  if (parts_.step_here && !transport::must_not_block() && run_here(task)) {
    stepped_here_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  post(std::move(task), Input::kPeer, bytes);  // if full, dropped: Raft sends it again
}

void CoreLoop::peer_closed(raft::NodeId peer) {
  post([this, peer] {
    if (peer == core_->leader() && core_->role() == raft::Role::kFollower) {
      raftlog::info("raft", "the leader's connection closed",
                    {{"leader", raftlog::hex_id(peer.value())}});
    }
    core_->peer_closed(peer);
  });
}

// The requests below keep a copy of their callback to refuse with if the queue is full.

void CoreLoop::propose(std::string data, ProposeCallback done, raft::Term only_in) {
  const size_t bytes = data.size();
  Task task = [this, data = std::move(data), done, only_in]() mutable {
    if (only_in != raft::Term() &&
        (core_->role() != raft::Role::kLeader || core_->term() != only_in)) {
      return done(node_error(NodeErrorKind::kNotLeader, "this member no longer leads in term " +
                                                            std::to_string(only_in.value())));
    }
    if (absl::Status lagging = apply_lag_refusal(); !lagging.ok()) return done(lagging);
    done(to_result(core_->propose(std::move(data))));
  };
  if (!post(std::move(task), Input::kRequest, bytes)) done(queue_full());
}

void CoreLoop::read_index(raft::ReadId id, std::function<void(absl::Status)> refused) {
  Task task = [this, id, refused] {
    if (raft::Error e = core_->read_index(id); !e.is_ok()) refused(from_raft(e));
  };
  if (!post(std::move(task), Input::kRequest)) refused(queue_full());
}

void CoreLoop::confirm_leadership(raft::ReadId id, std::function<void(absl::Status)> refused) {
  Task task = [this, id, refused] {
    if (core_->role() != raft::Role::kLeader) {
      return refused(node_error(
          NodeErrorKind::kNotLeader,
          "this member no longer leads (term " + std::to_string(core_->term().value()) + ")"));
    }
    if (raft::Error e = core_->read_index(id); !e.is_ok()) refused(from_raft(e));
  };
  if (!post(std::move(task), Input::kRequest)) refused(queue_full());
}

void CoreLoop::change_membership(MembershipChange change, ProposeCallback done) {
  Task task = [this, change = std::move(change), done] {
    raft::ProposeResult r = propose_change(change);
    // One configuration change at a time (thesis 4.1): the caller waits for the one in
    // progress, which finishes within a few round trips.
    if (r.error.code() == raft::ErrorCode::kFailedPrecondition &&
        core_->membership_change_pending()) {
      return done(node_error(NodeErrorKind::kChangePending, r.error.message()));
    }
    done(to_result(r));
  };
  if (!post(std::move(task), Input::kRequest)) done(queue_full());
}

raft::ProposeResult CoreLoop::propose_change(const MembershipChange& change) {
  raft::Membership m = core_->membership();
  return std::visit(
      raft::Overloaded{
          [&](const AddVoter& c) { return core_->add_node(c.id); },
          [&](const AddLearner& c) {
            if (m.contains(c.id)) return refuse("node " + hex(c.id) + " is already a member");
            m.learners.insert(c.id);
            return core_->change_membership(m.voters, m.learners);
          },
          [&](const Promote& c) {
            if (!m.learners.contains(c.id)) {
              return refuse("node " + hex(c.id) + " is not a learner: only a learner is promoted");
            }
            m.learners.erase(c.id);
            m.voters.insert(c.id);
            return core_->change_membership(m.voters, m.learners);
          },
          [&](const Remove& c) { return core_->remove_node(c.id); },
          [&](const Replace& c) { return core_->change_membership(c.voters, c.learners); },
      },
      change);
}

void CoreLoop::propose_timeouts(raft::Timeouts timeouts, ProposeCallback done) {
  Task task = [this, timeouts, done] { done(to_result(core_->propose_timeouts(timeouts))); };
  if (!post(std::move(task), Input::kRequest)) done(queue_full());
}

void CoreLoop::transfer_leadership(raft::NodeId to, std::function<void(absl::Status)> done) {
  Task task = [this, to, done] { done(from_raft(core_->transfer_leadership(to))); };
  if (!post(std::move(task), Input::kRequest)) done(queue_full());
}

// ---- The loop ----

void CoreLoop::loop() {
  const auto tick = std::chrono::milliseconds(tick_ms_);
  while (true) {
    std::deque<Task> tasks;
    bool tick_due = false;
    {
      MutexLock lock(&mu_);
      while (!stopping_) {
        if (in_hand_) {  // a thread in run_here; it wakes this one when it is done
          core_waits_ = true;
          work_.wait(&mu_);
          core_waits_ = false;
          continue;
        }
        if (!queue_.empty() || Clock::now() >= next_tick_) break;
        work_.wait_until(&mu_, next_tick_);
      }
      if (stopping_) return;
      in_hand_ = true;
      tasks.swap(queue_);
      queued_bytes_ = 0;
      const auto now = Clock::now();
      if (now >= next_tick_) {
        tick_due = true;
        next_tick_ += tick;
        // After a long stall (a debugger, an overloaded machine) do not replay every
        // missed tick at once: that would fire elections in a burst.
        if (now > next_tick_ + 10 * tick) next_tick_ = now + tick;
      }
    }
    for (Task& t : tasks) t();
    if (tick_due) core_->tick();
    // Published before drive() sends the Ready's messages: once a peer hears of a new
    // role or term from this node, a reader here sees it too.
    publish();
    drive();
    MutexLock lock(&mu_);
    in_hand_ = false;
  }
}

bool CoreLoop::run_here(Task& task) {
  {
    MutexLock lock(&mu_);
    // A due tick is the core thread's: it must not wait behind a stream of messages.
    if (!started_ || stopping_ || in_hand_ || !queue_.empty() || Clock::now() >= next_tick_) {
      return false;
    }
    in_hand_ = true;
  }
  task();
  publish();
  drive();
  // What the round queued (the Ready persisted here, an acknowledgement from the storage
  // or apply thread, another peer's message) is taken here too, for a few rounds: the
  // acknowledgement a follower sends after its fsync leaves from this thread.
  for (int round = 1; round < kRoundsHere; ++round) {
    std::deque<Task> tasks;
    {
      MutexLock lock(&mu_);
      if (stopping_ || queue_.empty() || Clock::now() >= next_tick_) break;
      tasks.swap(queue_);
      queued_bytes_ = 0;
    }
    for (Task& t : tasks) t();
    publish();
    drive();
  }
  bool wake = false;
  {
    MutexLock lock(&mu_);
    in_hand_ = false;
    // post() woke no one for what queued since the last round here.
    wake = core_waits_ || stopping_ || !queue_.empty();
  }
  if (wake) work_.signal_all();  // the core thread, or stop() waiting for this round
  return true;
}

void CoreLoop::publish() {
  events_.observe(*core_);
  const raft::Role role = core_->role();
  const bool leading = role == raft::Role::kLeader;
  const bool led = role_ == raft::Role::kLeader;
  // A leadership lost and won again between two looks is two changes: the new term's
  // leader starts afresh (the leases' deadlines others kept in between are not ours).
  if (leading && led && core_->term() != led_term_) parts_.applier->leadership(false, led_term_);
  if (leading != led || (leading && core_->term() != led_term_)) {
    parts_.applier->leadership(leading, core_->term());
  }
  if (leading) led_term_ = core_->term();
  role_ = role;
  term_.store(core_->term().value(), std::memory_order_relaxed);
  const raft::NodeId leader = core_->leader();
  leader_.store(leader.value(), std::memory_order_release);
  // Who was heard from when: copied at most every 20 ms (its readers judge it against an
  // election timeout), not on every round of the loop.
  const auto now = Clock::now();
  const bool heard_due = now - heard_published_at_ >= std::chrono::milliseconds(20);
  if (heard_due) heard_published_at_ = now;
  MemoryHeld memory{.snapshot_bytes =
                        latest_.source != nullptr ? latest_.source->bytes_in_memory() : 0};
  for (const auto& [index, source] : incoming_snapshots_)
    memory.incoming_snapshot_bytes += source->bytes_in_memory();
  {
    MutexLock lock(&status_mu_);
    memory.log_bytes = core_of(*core_).log().bytes();
    status_ = CoreStatus{.core = core_->status(),
                         .membership = core_->membership(),
                         .timeouts = core_->timeouts(),
                         .snapshot_index = core_->snapshot_meta().last.index,
                         .drops = core_->drops(),
                         .last_heard = heard_due ? last_heard_ : std::move(status_.last_heard),
                         .memory = memory};
    commit_.store(status_.core.commit.value(), std::memory_order_relaxed);
  }
  if (leader != published_leader_) {
    published_leader_ = leader;
    parts_.tracker->leader_changed(leader);  // runs the callers waiting for a leader
  }
}

CoreStatus CoreLoop::status() const {
  MutexLock lock(&status_mu_);
  return status_;
}

raft::Membership CoreLoop::membership() const {
  MutexLock lock(&status_mu_);
  return status_.membership;
}

size_t CoreLoop::queue_depth() const {
  MutexLock lock(&mu_);
  return queue_.size();
}

void CoreLoop::heartbeat_sent(const raft::Message& m) {
  const auto* hb = std::get_if<raft::Heartbeat>(&m.body);
  if (hb == nullptr) return;
  auto [it, fresh] = heartbeats_.try_emplace(m.to);
  if (fresh) it->second.rtt = &parts_.metrics->peer_rtt.with({hex(m.to)});
  it->second.round = hb->round;
  it->second.at = Clock::now();
}

void CoreLoop::heartbeat_answered(const raft::Message& m) {
  const auto* r = std::get_if<raft::HeartbeatResponse>(&m.body);
  if (r == nullptr) return;
  auto it = heartbeats_.find(m.from);
  // Only the answer to the latest round sent: an older one would count the gap between
  // rounds too. A forged round number is not found and changes nothing.
  if (it == heartbeats_.end() || it->second.round == raft::HeartbeatRound() ||
      it->second.round != r->round) {
    return;
  }
  it->second.rtt->observe(seconds_since(it->second.at));
  it->second.round = raft::HeartbeatRound();
}

void CoreLoop::send(std::vector<raft::Message>& messages) {
  std::vector<raft::Message> plain;
  plain.reserve(messages.size());
  for (raft::Message& m : messages) {
    if (const auto* is = std::get_if<raft::InstallSnapshot>(&m.body)) {
      if (latest_.source != nullptr && latest_.meta.last == is->meta.last) {
        parts_.metrics->snapshots_sent.inc();
        parts_.transport->send_snapshot(std::move(m), latest_.source);
      }
      continue;  // without its bytes the follower cannot use it; the core retries
    }
    heartbeat_sent(m);
    plain.push_back(std::move(m));
  }
  if (!plain.empty()) parts_.transport->send(std::move(plain));
}

void CoreLoop::drive() {
  if (ready_in_flight_ || !core_->has_ready()) return;
  ReadyJob job{.ready = core_->ready(),
               .snapshot = nullptr,
               .snapshot_file = nullptr,
               .taken_at = Clock::now()};
  raft::Ready& rd = job.ready;
  ready_in_flight_ = true;
  applying_.clear();
  applying_bytes_ = 0;
  for (const raft::Entry& e : rd.committed_entries) {
    applying_.push_back({e.term, e.index});
    applying_bytes_ += e.data.size() + kEntryOverhead;
  }
  // The core goes on once this Ready is durable and handed over, while the state machine
  // applies behind it (a local snapshot holds it for a while), within the bound: one
  // Ready always goes. A snapshot from the leader replaces the state machine; the core
  // waits for it.
  answer_applied();
  const uint64_t bound = parts_.bounds.max_applying_bytes;
  job.advanced = !rd.snapshot.has_value() && bound > 0 &&
                 (unapplied_bytes_ == 0 || unapplied_bytes_ + applying_bytes_ <= bound);
  send(rd.messages);
  rd.messages.clear();
  if (rd.snapshot.has_value()) {
    auto it = incoming_snapshots_.find(rd.snapshot->last.index);
    if (it == incoming_snapshots_.end()) {
      return parts_.fatal("the core installs snapshot " +
                          std::to_string(rd.snapshot->last.index.value()) +
                          " whose bytes never arrived");
    }
    job.snapshot = std::move(it->second);
    incoming_snapshots_.clear();
  }
  // Only entries, a snapshot, or a new term or vote need an fsync. A hard state whose
  // commit index alone moved can wait for the next write (as etcd's raft.MustSync
  // decides): after a crash the commit index is learned again from the leader, and the
  // entries it covers are on disk already.
  const bool vote_changed = rd.hard_state.has_value() && (rd.hard_state->term != durable_.term ||
                                                          rd.hard_state->vote != durable_.vote);
  const bool must_sync = rd.snapshot.has_value() || !rd.entries.empty() || vote_changed;
  if (!must_sync) return persisted(std::move(job));
  if (rd.hard_state.has_value()) durable_ = *rd.hard_state;
  // Written and synced here unless the storage thread is busy (a snapshot): its
  // messages were sent above, so the peers append while this member syncs.
  parts_.storage->persist_here_if_idle(std::move(job));
}

void CoreLoop::persisted(ReadyJob job) {
  // Storage thread (or core thread): nothing here touches the core.
  raft::Ready& rd = job.ready;
  if (!rd.persisted_messages.empty()) {
    // Votes and append acknowledgements; the transport is safe to call from any thread.
    parts_.transport->send(std::move(rd.persisted_messages));
    rd.persisted_messages.clear();
  }
  if (!job.has_apply_work()) {
    post([this] { advance(std::nullopt); });
    return;
  }
  if (!job.advanced) return parts_.applier->apply(std::move(job));
  // Handed over first: whatever the core hands the apply thread after its advance (a
  // snapshot request at this Ready's index, the next Ready) queues behind this job.
  parts_.applier->apply(std::move(job));
  post([this] { advance(std::nullopt); });
}

void CoreLoop::applied(std::optional<SnapshotData> installed, bool advanced) {
  Task task;
  if (advanced) {
    task = [this] { answer_applied(); };
  } else {
    task = [this, installed = std::move(installed)]() mutable { advance(std::move(installed)); };
  }
  if (parts_.apply_here && run_here(task)) return;
  post(std::move(task));
}

void CoreLoop::advance(std::optional<SnapshotData> installed) {
  if (installed.has_value()) {
    latest_ = std::move(*installed);
    snapshot_bytes_ = latest_.source->size();
    log_bytes_since_snapshot_ = 0;
  }
  log_bytes_since_snapshot_ += applying_bytes_;
  core_->advance();
  ready_in_flight_ = false;
  if (!applying_.empty()) {
    // Published before the changes waiting for these entries are answered (new timeouts,
    // a new configuration): a caller that reads the status right after sees its change.
    publish();
    unapplied_bytes_ += applying_bytes_;
    unapplied_.push_back({.entries = std::move(applying_), .bytes = applying_bytes_});
    applying_.clear();
    applying_bytes_ = 0;
    answer_applied();
  }
  maybe_snapshot();
}

void CoreLoop::answer_applied() {
  // The apply thread's index moves after the core's advance or before it (a Ready applied
  // before it was advanced past): whichever comes second answers.
  const raft::LogIndex applied = parts_.applier->applied();
  while (!unapplied_.empty() && unapplied_.front().entries.back().index <= applied) {
    parts_.tracker->applied(unapplied_.front().entries);
    unapplied_bytes_ -= unapplied_.front().bytes;
    unapplied_.pop_front();
  }
}

void CoreLoop::maybe_snapshot() {
  if (snapshot_requested_ || !core_->snapshot_due()) return;
  // A snapshot rewrites the whole state machine: a large one waits until the log since the
  // last holds a share of its bytes, so that snapshots write at most a bounded multiple of
  // what the log does.
  if (log_bytes_since_snapshot_ * 100 < snapshot_bytes_ * parts_.snapshot_log_percent) return;
  // The snapshot's file is written (begun on the apply thread, written there or on the
  // snapshot thread) before the core compacts: what the file's header records is asked of
  // the core first, at the index the core has applied (the apply thread has applied
  // exactly that index when it reaches the request: what was handed over before it is
  // ahead of it in its queue, and what comes next behind).
  const raft::CompactResult at = core_->snapshot_meta_at(core_of(*core_).log().applied());
  if (!at.error.is_ok()) return;
  snapshot_requested_ = true;
  log_bytes_since_snapshot_ = 0;
  // A snapshot held in memory (one received, not yet on disk) goes while the next is
  // made, so that a member never holds two. A follower that needs one meanwhile waits
  // for the new one: send() skips an InstallSnapshot without its bytes and the core
  // sends it again. One read from its file costs nothing to keep.
  if (latest_.source != nullptr && latest_.source->bytes_in_memory() > 0) latest_.source.reset();
  parts_.applier->take_snapshot(at.meta);
}

void CoreLoop::snapshot_taken(std::shared_ptr<storage::SnapshotWriter> snapshot) {
  post([this, snapshot = std::move(snapshot)]() mutable {
    snapshot_requested_ = false;
    if (snapshot == nullptr) return;
    // A snapshot from the leader installed since it was asked for makes it stale (the
    // writer, dropped, removes its file).
    raft::CompactResult r = core_->compact(snapshot->meta().last.index);
    if (!r.error.is_ok()) return;
    if (!(r.meta == snapshot->meta())) {
      return parts_.fatal("snapshot " + std::to_string(r.meta.last.index.value()) +
                          " was written with other metadata than the core compacted to");
    }
    snapshot_bytes_ = snapshot->size();
    parts_.storage->save_snapshot(std::move(snapshot));
  });
}

void CoreLoop::snapshot_saved(SnapshotData saved) {
  post([this, saved = std::move(saved)]() mutable {
    if (latest_.source == nullptr || latest_.meta.last.index < saved.meta.last.index) {
      latest_ = std::move(saved);
    }
  });
}

}  // namespace node
