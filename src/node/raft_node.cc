#include "node/raft_node.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <variant>

#include "raft/codec.h"
#include "storage/file_system.h"

namespace node {
namespace {

using raft::LogIndex;
using raft::NodeId;
using raft::Term;
using Clock = std::chrono::steady_clock;

// Every command entry starts with who proposed it and its request number there, so the
// proposing node can answer its waiting client when it applies the entry.
constexpr size_t kCommandHeader = 16;

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_u64(std::string_view in, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in[at + static_cast<size_t>(i)]);
  return v;
}

absl::Status no_leader() { return absl::UnavailableError("etcdserver: no leader"); }
absl::Status timed_out() { return absl::UnavailableError("etcdserver: request timed out"); }
absl::Status leader_changed() { return absl::UnavailableError("etcdserver: leader changed"); }
absl::Status stopped() { return absl::UnavailableError("etcdserver: server stopped"); }

absl::Status from_raft(const raft::Error& e) {
  switch (e.code()) {
    case raft::ErrorCode::kOk:
      return absl::OkStatus();
    case raft::ErrorCode::kNotLeader:
      return absl::UnavailableError("etcdserver: not leader");
    case raft::ErrorCode::kProposalDropped:
      return absl::UnavailableError("etcdserver: proposal dropped: " + e.message());
    case raft::ErrorCode::kInvalidArgument:
      return absl::InvalidArgumentError(e.message());
    case raft::ErrorCode::kFailedPrecondition:
      return absl::FailedPreconditionError(e.message());
  }
  return absl::InternalError(e.message());
}

std::string storage_error(const storage::Status& s) { return s.message(); }

// Admin operations forwarded to the leader: an op code and its arguments.
enum class AdminOp : uint8_t {
  kAddNode = 1,
  kAddLearner = 2,
  kPromote = 3,
  kRemove = 4,
  kTransfer = 5,
  kTimeouts = 6,
  kLeaderCall = 7,
};

}  // namespace

RaftNode::RaftNode(const NodeConfig& config, StateMachine* sm, transport::Transport* transport)
    : config_(config), sm_(sm), transport_(transport) {
  fatal_ = [](const std::string& message) {
    std::fprintf(stderr, "raftkv: fatal: %s\n", message.c_str());
    std::abort();
  };
}

absl::StatusOr<std::unique_ptr<RaftNode>> RaftNode::open(const NodeConfig& config, StateMachine* sm,
                                                         transport::Transport* transport) {
  if (absl::Status s = validate(config); !s.ok()) return s;
  std::unique_ptr<RaftNode> node(new RaftNode(config, sm, transport));
  storage::FileSystem& fs = storage::posix_file_system();
  for (const std::string& dir :
       {config.data_dir, config.data_dir + "/wal", config.data_dir + "/snap"}) {
    if (storage::Status s = fs.create_dir(dir); !s.is_ok()) {
      return absl::FailedPreconditionError("cannot create " + dir + ": " + s.message());
    }
  }
  node->snapshots_ = std::make_unique<storage::SnapshotStore>(fs, config.data_dir + "/snap");
  auto listed = node->snapshots_->list();
  if (!listed.is_ok()) return absl::DataLossError(storage_error(listed.status()));
  std::optional<storage::StoredSnapshot> snapshot;
  if (!listed.value().empty()) {
    auto loaded = node->snapshots_->load_latest();
    if (!loaded.is_ok()) return absl::DataLossError(storage_error(loaded.status()));
    snapshot = std::move(loaded.value());
    if (absl::Status s = sm->restore(snapshot->data); !s.ok()) {
      return absl::DataLossError("snapshot " + std::to_string(snapshot->meta.last.index.value()) +
                                 " in " + config.data_dir + "/snap: " + std::string(s.message()));
    }
    node->latest_snapshot_ = std::make_shared<const std::string>(std::move(snapshot->data));
    node->latest_snapshot_meta_ = snapshot->meta;
    node->apply_membership(snapshot->meta.membership);
  }

  storage::Recovered recovered;
  auto wal = storage::Wal::open(fs, config.data_dir + "/wal", storage::WalOptions{}, &recovered);
  if (!wal.is_ok()) return absl::DataLossError(storage_error(wal.status()));
  node->wal_ = std::move(wal.value());
  for (const std::string& note : recovered.notes) {
    std::fprintf(stderr, "raftkv: wal recovery: %s\n", note.c_str());
  }
  const LogIndex snap_index = snapshot ? snapshot->meta.last.index : LogIndex();
  if (recovered.snapshot.index > snap_index) {
    return absl::DataLossError("the log in " + config.data_dir + "/wal was compacted up to entry " +
                               std::to_string(recovered.snapshot.index.value()) +
                               " but no snapshot file covers it");
  }
  std::erase_if(recovered.entries, [&](const raft::Entry& e) { return e.index <= snap_index; });
  if (!recovered.entries.empty() && recovered.entries.front().index != snap_index.next()) {
    return absl::DataLossError("the log in " + config.data_dir + "/wal starts at entry " +
                               std::to_string(recovered.entries.front().index.value()) +
                               " but the snapshot ends at " + std::to_string(snap_index.value()));
  }
  const bool fresh = !snapshot && recovered.entries.empty() && recovered.hard_state.term == Term();
  if (fresh && !config.bootstrap.voters.empty()) {
    // A new cluster: every founding member writes the same first entry, the initial
    // configuration, at term 1 (as etcd does), so all of them start from one log.
    raft::Entry first{Term(1), LogIndex(1), raft::EntryType::kMembership,
                      raft::encode_membership(config.bootstrap)};
    raft::HardState hs{Term(1), raft::kNoNode, LogIndex(1)};
    if (storage::Status s = node->wal_->append({first}, hs); !s.is_ok()) {
      return absl::DataLossError(storage_error(s));
    }
    if (storage::Status s = node->wal_->sync(); !s.is_ok()) {
      return absl::DataLossError(storage_error(s));
    }
    recovered.entries = {first};
    recovered.hard_state = hs;
  }

  raft::Config rc;
  rc.id = config.id;
  rc.timeouts = snapshot ? snapshot->meta.timeouts : node->to_ticks(config.timeouts);
  rc.snapshot_entries = config.snapshot_entries;
  rc.max_election_ticks = kMaxElectionMs / config.tick_ms;
  rc.seed = config.id.value() * 0x9E3779B97F4A7C15ull ^
            static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  if (raft::Error e = raft::validate(rc); !e.is_ok()) {
    return absl::InvalidArgumentError(e.message());
  }
  raft::Membership base = snapshot ? snapshot->meta.membership : raft::Membership{};
  raft::Restored restored{recovered.hard_state, snapshot ? snapshot->meta.last : raft::LogId{},
                          std::move(recovered.entries)};
  node->durable_term_ = recovered.hard_state.term;
  node->durable_vote_ = recovered.hard_state.vote;
  node->core_ = std::make_unique<raft::Raft>(rc, std::move(base), std::move(restored));
  node->state_.applied = snap_index;
  node->state_.snapshot_index = snap_index;
  node->publish_status();
  return node;
}

RaftNode::~RaftNode() { stop(); }

void RaftNode::start() {
  running_ = true;
  core_thread_ = std::thread([this] { core_loop(); });
  storage_thread_ = std::thread([this] { storage_loop(); });
  apply_thread_ = std::thread([this] { apply_loop(); });
  timer_thread_ = std::thread([this] { timer_loop(); });
}

void RaftNode::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  running_ = false;
  core_cv_.notify_all();
  storage_cv_.notify_all();
  apply_cv_.notify_all();
  if (core_thread_.joinable()) core_thread_.join();
  if (storage_thread_.joinable()) storage_thread_.join();
  if (apply_thread_.joinable()) apply_thread_.join();
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    timer_stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
  fail_all(stopped());
  // Scheduled retries see running_ false and fail their requests.
  std::multimap<Deadline, Task> left;
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    left.swap(timers_);
  }
  for (auto& [at, task] : left) task();
}

void RaftNode::fail_all(const absl::Status& status) {
  std::map<uint64_t, WriteWaiter> writes;
  std::map<uint64_t, ReadWaiter> reads;
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    writes.swap(writes_);
    reads.swap(reads_);
    for (auto& [index, w] : indexes_) w.done->set_value(status);
    indexes_.clear();
  }
  // Callbacks run outside the lock: they may complete RPCs or start new requests.
  for (auto& [id, w] : writes) w.done(status);
  for (auto& [id, r] : reads) r.done(status);
}

void RaftNode::schedule(Deadline at, Task task) {
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    if (!timer_stop_) {
      timers_.emplace(at, std::move(task));
      timer_cv_.notify_one();
      return;
    }
  }
  task();  // stopping: run it now (it fails its request)
}

namespace {
// Moves the callbacks of the waiters whose deadline passed out of `waiters`.
template <typename Waiters, typename Callback>
void take_expired(Waiters& waiters, std::chrono::steady_clock::time_point now,
                  std::vector<Callback>* out) {
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (it->second.deadline <= now) {
      out->push_back(std::move(it->second.done));
      it = waiters.erase(it);
    } else {
      ++it;
    }
  }
}
}  // namespace

void RaftNode::timer_loop() {
  // Fails waiting requests whose deadline passed and runs scheduled retries. Waiters
  // are few (one per request in flight), so a scan every few milliseconds is cheap.
  const Millis period(5);
  while (true) {
    std::vector<Task> due;
    {
      std::unique_lock<std::mutex> lock(timer_mu_);
      const Deadline wake = timers_.empty()
                                ? Clock::now() + period
                                : std::min(Clock::now() + period, timers_.begin()->first);
      timer_cv_.wait_until(lock, wake, [&] { return timer_stop_; });
      if (timer_stop_) return;
      const Deadline now = Clock::now();
      while (!timers_.empty() && timers_.begin()->first <= now) {
        due.push_back(std::move(timers_.begin()->second));
        timers_.erase(timers_.begin());
      }
    }
    std::vector<WriteCallback> late_writes;
    std::vector<ReadCallback> late_reads;
    {
      const Deadline now = Clock::now();
      std::lock_guard<std::mutex> lock(wait_mu_);
      take_expired(writes_, now, &late_writes);
      take_expired(reads_, now, &late_reads);
    }
    for (auto& done : late_writes) done(timed_out());
    for (auto& done : late_reads) done(timed_out());
    for (auto& task : due) task();
  }
}

// ---- Core thread ----

void RaftNode::post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    core_queue_.push_back(std::move(task));
  }
  core_cv_.notify_one();
}

void RaftNode::core_loop() {
  const auto tick = Millis(config_.tick_ms);
  auto next_tick = Clock::now() + tick;
  while (true) {
    std::deque<Task> tasks;
    {
      std::unique_lock<std::mutex> lock(mu_);
      core_cv_.wait_until(lock, next_tick, [&] { return stopping_ || !core_queue_.empty(); });
      if (stopping_) return;
      tasks.swap(core_queue_);
    }
    for (Task& t : tasks) t();
    const auto now = Clock::now();
    if (now >= next_tick) {
      core_->tick();
      next_tick += tick;
      // After a long stall (a debugger, an overloaded machine) do not replay every
      // missed tick at once: that would fire elections in a burst.
      if (now > next_tick + 10 * tick) next_tick = now + tick;
    }
    drive();
    publish_status();
  }
}

void RaftNode::publish_status() {
  const raft::Role role = core_->role();
  if ((role == raft::Role::kLeader) != (last_role_ == raft::Role::kLeader)) {
    sm_->on_leadership(role == raft::Role::kLeader);
  }
  last_role_ = role;
  leader_ = core_->leader().value();
  term_ = core_->term().value();
  std::lock_guard<std::mutex> lock(status_mu_);
  state_.core = core_->status();
  state_.membership = core_->membership();
  state_.timeouts = to_ms(core_->timeouts());
  state_.snapshot_index = core_->snapshot_meta().last.index;
}

void RaftNode::send_messages(std::vector<raft::Message>& messages) {
  std::vector<raft::Message> plain;
  plain.reserve(messages.size());
  for (raft::Message& m : messages) {
    if (const auto* is = std::get_if<raft::InstallSnapshot>(&m.body)) {
      if (latest_snapshot_ != nullptr && latest_snapshot_meta_.last == is->meta.last) {
        transport_->send_snapshot(std::move(m), latest_snapshot_);
      }
      continue;  // without its bytes the follower cannot use it; the core retries
    }
    plain.push_back(std::move(m));
  }
  if (!plain.empty()) transport_->send(std::move(plain));
}

void RaftNode::drive() {
  if (ready_in_flight_ || !core_->has_ready()) return;
  raft::Ready rd = core_->ready();
  ready_in_flight_ = true;
  send_messages(rd.messages);
  rd.messages.clear();
  auto job = std::make_shared<ApplyJob>();
  if (rd.snapshot.has_value()) {
    auto it = incoming_snapshots_.find(rd.snapshot->last.index);
    if (it == incoming_snapshots_.end()) {
      fatal_("the core installs snapshot " + std::to_string(rd.snapshot->last.index.value()) +
             " whose bytes never arrived");
      return;
    }
    job->snapshot = std::make_shared<const std::string>(std::move(it->second));
    incoming_snapshots_.clear();
  }
  // Only entries, a snapshot, or a new term or vote need an fsync. A hard state whose
  // commit index alone moved can wait for the next write (as etcd's raft.MustSync
  // decides): after a crash the commit index is learned again from the leader, and the
  // entries it covers are on disk already.
  const bool vote_changed = rd.hard_state.has_value() && (rd.hard_state->term != durable_term_ ||
                                                          rd.hard_state->vote != durable_vote_);
  const bool must_sync = rd.snapshot.has_value() || !rd.entries.empty() || vote_changed;
  if (rd.hard_state.has_value() && must_sync) {
    durable_term_ = rd.hard_state->term;
    durable_vote_ = rd.hard_state->vote;
  }
  job->ready = std::move(rd);
  if (!must_sync) {
    after_persist(std::move(*job));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    storage_queue_.push_back([this, job] {
      raft::Ready& r = job->ready;
      if (r.snapshot.has_value()) {
        storage::Status s = snapshots_->save(storage::StoredSnapshot{*r.snapshot, *job->snapshot});
        if (s.is_ok()) s = wal_->install_snapshot(r.snapshot->last);
        if (!s.is_ok()) return fatal_("cannot store the snapshot from the leader: " + s.message());
      }
      storage::Status s = wal_->append(r.entries, r.hard_state);
      if (s.is_ok()) s = wal_->sync();
      if (!s.is_ok()) return fatal_("the log cannot be made durable: " + s.message());
      after_persist(std::move(*job));
    });
  }
  storage_cv_.notify_one();
}

// On the storage thread (or the core thread when nothing needed an fsync): what waited
// for durability may go now, without another trip through the core thread.
void RaftNode::after_persist(ApplyJob job) {
  raft::Ready& rd = job.ready;
  if (!rd.persisted_messages.empty()) {
    // Votes and append acknowledgements; the transport is safe to call from any thread.
    transport_->send(std::move(rd.persisted_messages));
    rd.persisted_messages.clear();
  }
  const bool apply = job.snapshot != nullptr || !rd.committed_entries.empty() ||
                     !rd.reads.empty() || !rd.dropped_reads.empty();
  if (!apply) {
    post([this] { on_applied(nullptr, {}); });
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    apply_queue_.push_back(std::move(job));
  }
  apply_cv_.notify_one();
}

void RaftNode::on_applied(std::shared_ptr<const std::string> snapshot, raft::SnapshotMeta meta) {
  if (snapshot != nullptr) {
    latest_snapshot_ = std::move(snapshot);
    latest_snapshot_meta_ = std::move(meta);
  }
  core_->advance();
  ready_in_flight_ = false;
  maybe_snapshot();
}

void RaftNode::maybe_snapshot() {
  if (!core_->snapshot_due()) return;
  LogIndex applied;
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    applied = state_.applied;
  }
  raft::CompactResult r = core_->compact(applied);
  if (!r.error.is_ok()) return;
  // The apply thread is idle: the next Ready waits for this one's advance().
  auto data = std::make_shared<const std::string>(sm_->snapshot());
  latest_snapshot_ = data;
  latest_snapshot_meta_ = r.meta;
  {
    std::lock_guard<std::mutex> lock(mu_);
    storage_queue_.push_back([this, data, meta = r.meta] {
      storage::Status s = snapshots_->save(storage::StoredSnapshot{meta, *data});
      if (s.is_ok()) s = wal_->mark_snapshot(meta.last);
      if (!s.is_ok()) fatal_("cannot write snapshot: " + s.message());
    });
  }
  storage_cv_.notify_one();
}

// ---- Storage and apply threads ----

void RaftNode::storage_loop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      storage_cv_.wait(lock, [&] { return stopping_ || !storage_queue_.empty(); });
      if (stopping_) return;
      job = std::move(storage_queue_.front());
      storage_queue_.pop_front();
    }
    job();
    std::lock_guard<std::mutex> lock(status_mu_);
    ++state_.wal_syncs;
  }
}

void RaftNode::apply_loop() {
  while (true) {
    ApplyJob job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      apply_cv_.wait(lock, [&] { return stopping_ || !apply_queue_.empty(); });
      if (stopping_) return;
      job = std::move(apply_queue_.front());
      apply_queue_.pop_front();
    }
    apply_job(job);
    raft::SnapshotMeta meta = job.ready.snapshot.value_or(raft::SnapshotMeta{});
    post([this, snapshot = std::move(job.snapshot), meta = std::move(meta)]() mutable {
      on_applied(std::move(snapshot), std::move(meta));
    });
  }
}

void RaftNode::apply_job(ApplyJob& job) {
  raft::Ready& rd = job.ready;
  std::vector<std::function<void()>> fire;  // completions, run once the lock is released
  if (rd.snapshot.has_value()) {
    if (absl::Status s = sm_->restore(*job.snapshot); !s.ok()) {
      return fatal_("the snapshot from the leader cannot be restored: " + std::string(s.message()));
    }
    apply_membership(rd.snapshot->membership);
    std::lock_guard<std::mutex> lock(status_mu_);
    state_.applied = rd.snapshot->last.index;
  }
  for (const raft::Entry& e : rd.committed_entries) {
    std::optional<std::pair<uint64_t, std::string>> answer;
    if (e.type == raft::EntryType::kNormal && e.data.size() >= kCommandHeader) {
      std::string_view command(e.data);
      const uint64_t origin = get_u64(command, 0);
      const uint64_t request = get_u64(command, 8);
      std::string result = sm_->apply(e.index, command.substr(kCommandHeader));
      if (origin == config_.id.value()) answer.emplace(request, std::move(result));
    } else if (e.type == raft::EntryType::kMembership) {
      if (auto m = raft::decode_membership(e.data)) apply_membership(*m);
    }
    {
      std::lock_guard<std::mutex> lock(status_mu_);
      state_.applied = e.index;
    }
    std::lock_guard<std::mutex> lock(wait_mu_);
    if (answer.has_value()) {
      auto it = writes_.find(answer->first);
      if (it != writes_.end()) {
        fire.push_back([done = std::move(it->second.done),
                        r = std::move(answer->second)]() mutable { done(std::move(r)); });
        writes_.erase(it);
      }
    }
    auto it = indexes_.find(e.index);
    if (it != indexes_.end()) {
      it->second.done->set_value(it->second.term == e.term ? absl::OkStatus() : leader_changed());
      indexes_.erase(it);
    }
  }
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    for (const raft::ReadState& r : rd.reads) {
      auto it = reads_.find(r.id.value());
      if (it != reads_.end()) {
        fire.push_back([done = std::move(it->second.done)] { done(absl::OkStatus()); });
        reads_.erase(it);
      }
    }
    for (raft::ReadId id : rd.dropped_reads) {
      auto it = reads_.find(id.value());
      if (it != reads_.end()) {
        fire.push_back([done = std::move(it->second.done)] { done(leader_changed()); });
        reads_.erase(it);
      }
    }
    // Index waiters overtaken by a snapshot cannot tell whether their entry survived.
    if (rd.snapshot.has_value()) {
      while (!indexes_.empty() && indexes_.begin()->first <= rd.snapshot->last.index) {
        indexes_.begin()->second.done->set_value(timed_out());
        indexes_.erase(indexes_.begin());
      }
    }
  }
  for (auto& f : fire) f();
}

// ---- Client API ----

bool RaftNode::is_leader() const { return leader_ == config_.id.value(); }
NodeId RaftNode::leader() const { return NodeId(leader_); }
raft::Term RaftNode::term() const { return raft::Term(term_); }

absl::Status RaftNode::wait_for_leader(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (leader_ == 0) {
    if (!running_) return stopped();
    if (Clock::now() >= deadline) return no_leader();
    std::this_thread::sleep_for(Millis(std::max<uint32_t>(config_.tick_ms, 5)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RaftNode::propose_local(std::string command, Millis timeout) {
  return propose_via(config_.id, std::move(command), timeout);
}

absl::StatusOr<std::string> RaftNode::propose_via(NodeId leader, std::string command,
                                                  Millis timeout) {
  if (!running_) return stopped();
  auto result = std::make_shared<std::promise<absl::StatusOr<std::string>>>();
  std::future<absl::StatusOr<std::string>> done = result->get_future();
  propose_async(leader, std::move(command), Clock::now() + timeout,
                [result](absl::StatusOr<std::string> r) { result->set_value(std::move(r)); });
  return done.get();
}

void RaftNode::propose_async(NodeId leader, std::string command, Deadline deadline,
                             WriteCallback callback) {
  if (!running_) return callback(stopped());
  const uint64_t request = next_request_++;
  std::string data;
  data.reserve(kCommandHeader + command.size());
  put_u64(data, config_.id.value());
  put_u64(data, request);
  data += command;
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    writes_[request] = WriteWaiter{deadline, std::move(callback)};
  }
  if (leader == config_.id) {
    post([this, request, data = std::move(data)]() mutable {
      raft::ProposeResult r = core_->propose(std::move(data));
      if (!r.error.is_ok()) complete_write(request, from_raft(r.error));
    });
  } else {
    // The leader appends it as it is; this node answers when it applies the entry.
    transport_->propose(leader, std::move(data));
  }
}

void RaftNode::complete_write(uint64_t request, absl::StatusOr<std::string> result) {
  WriteCallback done;
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    auto it = writes_.find(request);
    if (it == writes_.end()) return;
    done = std::move(it->second.done);
    writes_.erase(it);
  }
  done(std::move(result));
}

void RaftNode::on_proposal(NodeId from, std::string entry) {
  // A peer may forward only its own requests: the header must name it.
  if (entry.size() < kCommandHeader || get_u64(entry, 0) != from.value()) return;
  post([this, from, entry = std::move(entry)]() mutable {
    const uint64_t request = get_u64(entry, 8);
    raft::ProposeResult r = core_->propose(std::move(entry));
    if (r.error.is_ok()) return;
    transport_->refuse(from, request, std::string(from_raft(r.error).message()));
  });
}

void RaftNode::on_refusal(uint64_t request, std::string message) {
  complete_write(request, absl::UnavailableError(message));
}

void RaftNode::apply_membership(const raft::Membership& m) {
  sm_->on_membership(m);
  std::lock_guard<std::mutex> lock(removed_mu_);
  if (applied_membership_.has_value()) {
    for (const auto* ids : {&applied_membership_->voters, &applied_membership_->voters_outgoing,
                            &applied_membership_->learners}) {
      for (NodeId id : *ids) {
        if (!m.contains(id)) removed_.insert(id);
      }
    }
  }
  for (const auto* ids : {&m.voters, &m.voters_outgoing, &m.learners}) {
    for (NodeId id : *ids) removed_.erase(id);  // added (back)
  }
  applied_membership_ = m;
}

bool RaftNode::is_removed(NodeId peer) {
  std::lock_guard<std::mutex> lock(removed_mu_);
  return peer != config_.id && removed_.contains(peer);
}

void RaftNode::on_removed(std::string message) {
  if (removed_told_.exchange(true)) return;
  if (removed_handler_) removed_handler_(message);
}

absl::StatusOr<std::string> RaftNode::on_leader(
    const std::function<absl::StatusOr<std::string>(Millis)>& local, transport::ForwardKind kind,
    const std::string& payload, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (absl::Status s = wait_for_leader(left); !s.ok()) return s;
    left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (left <= Millis(0)) return timed_out();
    const NodeId lead = leader();
    absl::StatusOr<std::string> r =
        lead == config_.id ? local(left) : transport_->forward(lead, kind, payload, left);
    // Refused before it reached a log (the leader moved or is unreachable): safe to try
    // again once a leader is known.
    if (!r.ok() &&
        (r.status().message() == "etcdserver: not leader" ||
         r.status().message() == transport::kPeerUnreachable) &&
        Clock::now() + Millis(config_.tick_ms) < deadline) {
      std::this_thread::sleep_for(Millis(std::max<uint32_t>(config_.tick_ms, 10)));
      continue;
    }
    if (!r.ok() && r.status().code() == absl::StatusCode::kDeadlineExceeded) return timed_out();
    return r;
  }
}

absl::StatusOr<std::string> RaftNode::client_write(std::string command, Millis timeout) {
  if (!running_) return stopped();
  auto result = std::make_shared<std::promise<absl::StatusOr<std::string>>>();
  std::future<absl::StatusOr<std::string>> done = result->get_future();
  client_write_async(std::move(command), timeout,
                     [result](absl::StatusOr<std::string> r) { result->set_value(std::move(r)); });
  return done.get();
}

absl::Status RaftNode::linearizable_read(Millis timeout) {
  if (!running_) return stopped();
  auto result = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> done = result->get_future();
  linearizable_read_async(timeout, [result](absl::Status s) { result->set_value(std::move(s)); });
  return done.get();
}

void RaftNode::linearizable_read_async(Millis timeout, ReadCallback callback) {
  if (!running_) return callback(stopped());
  const uint64_t id = next_read_++;
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    reads_[id] = ReadWaiter{Clock::now() + timeout, std::move(callback)};
  }
  post([this, id] {
    raft::Error e = core_->read_index(raft::ReadId(id));
    if (e.is_ok()) return;
    ReadCallback done;
    {
      std::lock_guard<std::mutex> lock(wait_mu_);
      auto it = reads_.find(id);
      if (it == reads_.end()) return;
      done = std::move(it->second.done);
      reads_.erase(it);
    }
    done(e.code() == raft::ErrorCode::kNotLeader ? no_leader() : from_raft(e));
  });
}

void RaftNode::client_write_async(std::string command, Millis timeout, WriteCallback done) {
  write_attempt(std::make_shared<AsyncWrite>(
      AsyncWrite{std::move(command), Clock::now() + timeout, std::move(done)}));
}

void RaftNode::write_attempt(std::shared_ptr<AsyncWrite> w) {
  // One step per call: wait (on the timer thread) for a leader, propose through it, and
  // try again when it refused before the entry reached a log (safe to send again).
  if (!running_) return w->done(stopped());
  const Millis pause(std::max<uint32_t>(config_.tick_ms, 10));
  const NodeId lead = leader();
  if (lead == NodeId()) {
    if (Clock::now() + pause >= w->deadline) return w->done(no_leader());
    return schedule(Clock::now() + pause, [this, w] { write_attempt(w); });
  }
  propose_async(lead, w->command, w->deadline, [this, w, pause](absl::StatusOr<std::string> r) {
    if (!r.ok() && r.status().message() == "etcdserver: not leader" &&
        Clock::now() + pause < w->deadline) {
      return schedule(Clock::now() + pause, [this, w] { write_attempt(w); });
    }
    w->done(std::move(r));
  });
}

absl::StatusOr<std::string> RaftNode::leader_call(std::string payload, Millis timeout) {
  return on_leader([&](Millis) { return sm_->leader_call(payload); },
                   transport::ForwardKind::kLeaderCall,
                   std::string(1, static_cast<char>(AdminOp::kLeaderCall)) + payload, timeout);
}

absl::StatusOr<std::string> RaftNode::on_forward(transport::ForwardKind kind, std::string payload,
                                                 Millis timeout) {
  if (!is_leader()) return absl::UnavailableError("etcdserver: not leader");
  if (kind == transport::ForwardKind::kWrite) return propose_local(std::move(payload), timeout);
  if (payload.empty()) return absl::InvalidArgumentError("empty leader call");
  if (static_cast<AdminOp>(payload[0]) == AdminOp::kLeaderCall) {
    return sm_->leader_call(std::string_view(payload).substr(1));
  }
  absl::Status s = admin_local(payload, timeout);
  if (!s.ok()) return s;
  return std::string();
}

// ---- Membership, transfer, timeouts ----

absl::Status RaftNode::wait_index(std::function<raft::ProposeResult(raft::Raft&)> op,
                                  Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (!running_) return stopped();
    auto done = std::make_shared<std::promise<absl::Status>>();
    std::future<absl::Status> result = done->get_future();
    auto busy = std::make_shared<std::atomic<bool>>(false);
    post([this, op, done, busy] {
      raft::ProposeResult r = op(*core_);
      if (!r.error.is_ok()) {
        // One configuration change at a time (thesis 4.1): the previous one finishes
        // within a few round trips, so wait for it rather than fail.
        busy->store(r.error.code() == raft::ErrorCode::kFailedPrecondition &&
                    core_->membership_change_pending());
        done->set_value(from_raft(r.error));
        return;
      }
      // Registered before the entry can be applied: it commits in a later Ready.
      std::lock_guard<std::mutex> lock(wait_mu_);
      indexes_[r.id.index] = IndexWaiter{r.id.term, done};
    });
    const auto left = deadline - Clock::now();
    if (result.wait_for(left) != std::future_status::ready) return timed_out();
    absl::Status s = result.get();
    if (s.ok() || !busy->load()) return s;
    if (Clock::now() + Millis(config_.tick_ms) >= deadline) return timed_out();
    std::this_thread::sleep_for(Millis(config_.tick_ms));
  }
}

absl::Status RaftNode::run_admin(std::string payload, Millis timeout) {
  return on_leader(
             [&](Millis left) -> absl::StatusOr<std::string> {
               absl::Status s = admin_local(payload, left);
               if (!s.ok()) return s;
               return std::string();
             },
             transport::ForwardKind::kLeaderCall, payload, timeout)
      .status();
}

absl::Status RaftNode::admin_local(std::string_view payload, Millis timeout) {
  if (payload.size() < 9) return absl::InvalidArgumentError("malformed admin request");
  const auto op = static_cast<AdminOp>(payload[0]);
  const uint64_t arg = get_u64(payload, 1);
  const NodeId id(arg);
  switch (op) {
    case AdminOp::kAddNode:
      return wait_index([id](raft::Raft& r) { return r.add_node(id); }, timeout);
    case AdminOp::kAddLearner:
      return wait_index(
          [id](raft::Raft& r) {
            raft::Membership m = r.membership();
            if (m.contains(id)) {
              return raft::ProposeResult{
                  raft::Error(raft::ErrorCode::kFailedPrecondition,
                              "node " + std::to_string(id.value()) + " is already a member"),
                  {}};
            }
            m.learners.insert(id);
            return r.change_membership(m.voters, m.learners);
          },
          timeout);
    case AdminOp::kPromote:
      return wait_index(
          [id](raft::Raft& r) {
            raft::Membership m = r.membership();
            if (!m.learners.contains(id)) {
              return raft::ProposeResult{
                  raft::Error(raft::ErrorCode::kFailedPrecondition,
                              "etcdserver: can only promote a learner member"),
                  {}};
            }
            m.learners.erase(id);
            m.voters.insert(id);
            return r.change_membership(m.voters, m.learners);
          },
          timeout);
    case AdminOp::kRemove:
      return wait_index([id](raft::Raft& r) { return r.remove_node(id); }, timeout);
    case AdminOp::kTransfer: {
      auto done = std::make_shared<std::promise<absl::Status>>();
      std::future<absl::Status> result = done->get_future();
      post([this, id, done] { done->set_value(from_raft(core_->transfer_leadership(id))); });
      if (result.wait_for(timeout) != std::future_status::ready) return timed_out();
      if (absl::Status s = result.get(); !s.ok()) return s;
      const auto deadline = Clock::now() + timeout;
      while (leader() != id) {
        if (Clock::now() >= deadline) return timed_out();
        std::this_thread::sleep_for(Millis(config_.tick_ms));
      }
      return absl::OkStatus();
    }
    case AdminOp::kTimeouts: {
      if (payload.size() < 13) return absl::InvalidArgumentError("malformed timeouts request");
      TimeoutsMs t{static_cast<uint32_t>(arg & 0xffffffff), static_cast<uint32_t>(arg >> 32),
                   static_cast<uint32_t>(get_u64(std::string(payload.substr(9)) + "\0\0\0\0", 0))};
      if (absl::Status s = validate(t, config_.tick_ms); !s.ok()) return s;
      const raft::Timeouts ticks = to_ticks(t);
      return wait_index([ticks](raft::Raft& r) { return r.propose_timeouts(ticks); }, timeout);
    }
    case AdminOp::kLeaderCall:
      break;
  }
  return absl::InvalidArgumentError("unknown admin request " +
                                    std::to_string(static_cast<int>(payload[0])));
}

namespace {
std::string admin(AdminOp op, uint64_t arg) {
  std::string p(1, static_cast<char>(op));
  put_u64(p, arg);
  return p;
}
}  // namespace

absl::Status RaftNode::add_node(NodeId id, bool learner, Millis timeout) {
  return run_admin(admin(learner ? AdminOp::kAddLearner : AdminOp::kAddNode, id.value()), timeout);
}
absl::Status RaftNode::promote_node(NodeId id, Millis timeout) {
  return run_admin(admin(AdminOp::kPromote, id.value()), timeout);
}
absl::Status RaftNode::remove_node(NodeId id, Millis timeout) {
  return run_admin(admin(AdminOp::kRemove, id.value()), timeout);
}
absl::Status RaftNode::transfer_leadership(NodeId to, Millis timeout) {
  return run_admin(admin(AdminOp::kTransfer, to.value()), timeout);
}
absl::Status RaftNode::update_timeouts(const TimeoutsMs& t, Millis timeout) {
  if (absl::Status s = validate(t, config_.tick_ms); !s.ok()) return s;
  std::string p =
      admin(AdminOp::kTimeouts, uint64_t{t.heartbeat_ms} | (uint64_t{t.election_min_ms} << 32));
  for (int i = 0; i < 4; ++i) p.push_back(static_cast<char>((t.election_max_ms >> (8 * i)) & 0xff));
  return run_admin(std::move(p), timeout);
}

absl::Status RaftNode::change_membership(std::set<NodeId> voters, std::set<NodeId> learners,
                                         Millis timeout) {
  if (!is_leader()) return absl::FailedPreconditionError("change_membership runs on the leader");
  return wait_index([voters = std::move(voters), learners = std::move(learners)](
                        raft::Raft& r) { return r.change_membership(voters, learners); },
                    timeout);
}

TimeoutsMs RaftNode::timeouts() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return state_.timeouts;
}

NodeState RaftNode::status() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return state_;
}

raft::Timeouts RaftNode::to_ticks(const TimeoutsMs& t) const {
  const uint32_t tick = config_.tick_ms;
  raft::Timeouts r;
  r.heartbeat_ticks = std::max<uint32_t>(1, (t.heartbeat_ms + tick / 2) / tick);
  r.election_min_ticks = std::max(r.heartbeat_ticks + 1, (t.election_min_ms + tick / 2) / tick);
  r.election_max_ticks = std::max(r.election_min_ticks + 1, (t.election_max_ms + tick / 2) / tick);
  return r;
}

TimeoutsMs RaftNode::to_ms(const raft::Timeouts& t) const {
  return TimeoutsMs{t.heartbeat_ticks * config_.tick_ms, t.election_min_ticks * config_.tick_ms,
                    t.election_max_ticks * config_.tick_ms};
}

void RaftNode::on_message(raft::Message message, std::string snapshot) {
  post([this, m = std::move(message), data = std::move(snapshot)]() mutable {
    if (const auto* is = std::get_if<raft::InstallSnapshot>(&m.body)) {
      incoming_snapshots_[is->meta.last.index] = std::move(data);
    }
    core_->step(std::move(m));
  });
}

}  // namespace node
