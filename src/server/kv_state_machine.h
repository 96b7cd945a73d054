// The KV server's replicated state machine: etcd's requests, as they come off the Raft
// log, applied to the MVCC store (src/kv), plus member attributes and alarms. Every
// replica applies the same commands to the same state. Reads, watches and the leader's
// lease bookkeeping go through the same object under one lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "etcd/rpc.pb.h"
#include "grpcpp/support/status.h"
#include "kv/store.h"
#include "node/state_machine.h"
#include "raftkv/internal.pb.h"

namespace server {

class KvStateMachine : public node::StateMachine {
 public:
  explicit KvStateMachine(kv::StoreOptions options);

  // node::StateMachine. apply() returns a serialized raftkv.internal.Result.
  std::string apply(raft::LogIndex index, std::string_view command) override;
  std::string snapshot() override;
  absl::Status restore(std::string_view data) override;
  void on_membership(const raft::Membership& membership) override;
  void on_leadership(bool leader) override;
  // Lease calls only the leader can answer (its deadlines are the ones that count): a
  // serialized raftkv.internal.LeaderCall, answered with a LeaseKeepAliveResponse (TTL 0
  // when the lease is unknown, as etcd answers) or a LeaseTimeToLiveResponse.
  absl::StatusOr<std::string> leader_call(std::string_view payload) override;

  // Reads of the local state.
  grpc::Status range(const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp);
  void lease_leases(etcdserverpb::LeaseLeasesResponse* resp);
  std::set<int64_t> lease_ids();  // the leases that exist now
  // Members: the Raft membership with their replicated attributes.
  std::vector<etcdserverpb::Member> members();
  // Every member whose attributes this member knows, configured or not yet: those the
  // flags seeded (a joining member knows its peers before it has applied anything) and
  // those the log set. Any thread.
  std::vector<raftkv::internal::MemberAttributes> known_members();
  raft::Membership membership();
  // Whether the applied membership makes this member (set_self) a learner.
  void set_self(raft::NodeId self) { self_ = self.value(); }
  bool self_is_learner() const { return self_learner_.load(std::memory_order_relaxed); }
  std::vector<etcdserverpb::AlarmMember> alarms();
  int64_t revision();
  int64_t size_bytes();
  size_t key_count();
  // Operations seen by this member, as etcd's etcd_mvcc_*_total count them: writes as
  // they are applied (inside transactions too), ranges as they are served.
  struct OpCounts {
    std::atomic<uint64_t> put{0}, range{0}, delete_range{0}, txn{0};
  };
  const OpCounts& op_counts() const { return ops_; }
  grpc::Status hash_kv(int64_t revision, uint32_t* hash, int64_t* compact_revision);
  // Leases this node, as leader, must revoke now.
  std::vector<int64_t> expired_leases();

  // Watches. After an apply or a restore that gave a watcher something to deliver,
  // its `ready` callback runs (on the apply thread, outside the lock; it must not
  // block); the watcher's owner then polls it. watch_cancel() forgets the callback.
  kv::WatchCreateResponse watch_create(const kv::WatchCreateRequest& req,
                                       std::function<void()> ready);
  kv::WatchResponse watch_poll(kv::WatchId id);
  std::optional<int64_t> watch_progress(kv::WatchId id);
  void watch_cancel(kv::WatchId id);

  // Called (outside the lock) when a member's attributes change, e.g. to tell the
  // transport where a peer listens.
  void set_member_listener(std::function<void(const raftkv::internal::MemberAttributes&)> f);
  // Called (outside the lock, on the apply thread or during a restore) with the limits a
  // committed SetLimits or a restored snapshot holds. Set before the node opens.
  void set_limits_listener(std::function<void(const raftkv::admin::Limits&)> f);
  // The limits set through the log, if any were.
  std::optional<raftkv::admin::Limits> limits();
  // Attributes known before the log says anything (the initial cluster flags).
  void seed_members(const std::vector<raftkv::internal::MemberAttributes>& members);

 private:
  raftkv::internal::Result apply_command(const raftkv::internal::Command& c);
  // One per kind of command (the table in apply_command); each fills `out`.
  using Apply = void (KvStateMachine::*)(const raftkv::internal::Command&,
                                         raftkv::internal::Result*);
  void apply_put(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_delete_range(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_txn(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_compaction(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_lease_grant(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_lease_revoke(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_member_attributes(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_member_forget(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_alarm(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_set_limits(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void raise_nospace_alarm();
  // The `ready` callbacks of the watchers the store says have something (under mu_).
  std::vector<std::function<void()>> ready_watchers();

  std::mutex mu_;
  kv::Store store_;
  std::map<kv::WatchId, std::function<void()>> watch_ready_;  // guarded by mu_
  std::map<uint64_t, raftkv::internal::MemberAttributes> attributes_;
  std::vector<etcdserverpb::AlarmMember> alarms_;
  raft::Membership membership_;
  std::atomic<uint64_t> self_{0};
  std::atomic<bool> self_learner_{false};
  OpCounts ops_;
  void count_ops(const etcdserverpb::TxnResponse& r);
  std::function<void(const raftkv::internal::MemberAttributes&)> member_listener_;
  raftkv::admin::Limits limits_;  // guarded by mu_; meaningful when limits_set_
  bool limits_set_ = false;       // guarded by mu_
  std::function<void(const raftkv::admin::Limits&)> limits_listener_;
};

}  // namespace server
