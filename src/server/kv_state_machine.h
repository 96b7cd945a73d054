// The KV server's replicated state machine: etcd's requests, as they come off the Raft
// log, applied to the MVCC store (src/kv), plus member attributes and alarms. Every
// replica applies the same commands to the same state. Reads, watches and the leader's
// lease bookkeeping go through the same object under one lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "etcd/rpc.pb.h"
#include "grpcpp/support/status.h"
#include "kv/store.h"
#include "node/state_machine.h"
#include "raftkv/admin.pb.h"
#include "raftkv/internal.pb.h"
#include "security/auth_store.h"
#include "security/enforcer.h"
#include "security/jwt_tokens.h"
#include "security/simple_tokens.h"
#include "security/text_util.h"
#include "server/identity.h"

namespace server {

class KvStateMachine : public node::StateMachine {
 public:
  explicit KvStateMachine(kv::StoreOptions options);

  // node::StateMachine. apply() returns a serialized raftkv.internal.Result.
  std::string apply(raft::LogIndex index, std::string_view command) override;
  std::string snapshot() override;
  // The same bytes, and the store's revision they hold (read under the same lock): a
  // point-in-time copy for Maintenance.Snapshot.
  std::string snapshot(int64_t* revision);
  // The same bytes in pieces of 64 KiB, straight from the store to the node's file.
  absl::Status snapshot_to(const std::function<bool(std::string_view)>& write) override;
  // The same bytes, written beside the apply thread: the cluster state and the store's
  // header are captured here, the keys' versions (those at or below the revision then)
  // encoded a part of about 1 MiB at a time, each under the lock, with applies and reads
  // free between parts. A compaction or a restore waits until the job is destroyed.
  // When `place.latest` is a snapshot this state machine began, with no compaction or
  // restore since, the job writes only what was added since (the store's delta segment,
  // after the cluster state) and extends it, up to kMaxSnapshotChain snapshots in a row.
  std::unique_ptr<node::SnapshotJob> begin_snapshot(const node::SnapshotPlace& place) override;
  // How many snapshots in a row may extend the one before (a restore reads them all).
  static constexpr int kMaxSnapshotChain = 32;
  absl::Status restore(std::string_view data) override;
  void on_membership(const raft::Membership& membership) override;
  void on_leadership(bool leader, raft::Term term) override;
  // Lease calls only the leader can answer (its deadlines are the ones that count): a
  // serialized raftkv.internal.LeaderCall, answered with a LeaseKeepAliveResponse (TTL 0
  // when the lease is unknown, as etcd answers) or a LeaseTimeToLiveResponse.
  absl::StatusOr<std::string> leader_call(std::string_view payload) override;

  // Reads of the local state.
  grpc::Status range(const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp);
  // A linearizable read once its barrier passed: `who`'s permission checked again against
  // the auth state this member holds now, then the range. The gate's check ran before the
  // barrier, on a follower possibly behind a revoke or an `auth enable` the leader had
  // already acknowledged; etcd checks after the barrier too (doSerialize).
  grpc::Status range_after_barrier(const Identity& who, const etcdserverpb::RangeRequest& req,
                                   etcdserverpb::RangeResponse* resp);
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
  // Whether an alarm (NOSPACE or CORRUPT) is raised, without the state machine's lock:
  // /health asks it while a snapshot may hold that lock for seconds.
  bool alarmed() const { return armed_.load(std::memory_order_relaxed) != AlarmSet::kNone; }
  // etcd's capped (NOSPACE) and corrupt (CORRUPT) appliers: the refusal, with etcd's code
  // and words, of a request an armed alarm stops (puts, lease grants and writing
  // transactions under NOSPACE; every KV call under CORRUPT), or nothing. The gate asks
  // before proposing; apply asks again, so every replica refuses the same entries.
  std::optional<grpc::Status> refused_by_alarm(const google::protobuf::Message& req) const;
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
  // Leases this node, as leader in `term`, must revoke now: none until the state machine
  // has taken that leadership in (on_leadership gave every lease a full TTL). Before, the
  // deadlines it holds are a follower's (the grant's apply + TTL, no keep-alive seen),
  // and a new leader revoked leases its predecessor had just renewed.
  std::vector<int64_t> expired_leases(raft::Term term);

  // Watches. After an apply or a restore that gave a watcher something to deliver,
  // its `ready` callback runs (on the apply thread, outside the lock; it must not
  // block); the watcher's owner then polls it. watch_cancel() forgets the callback.
  // `who` opened it: should a later auth change take its READ permission on the range
  // away, the watch ends (its poll answers canceled, "permission denied").
  kv::WatchCreateResponse watch_create(const kv::WatchCreateRequest& req,
                                       std::function<void()> ready, const Identity& who);
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
  // ---- etcd's auth state (users, roles, permissions) and its simple tokens. Any thread.
  bool auth_enabled() const { return auth_enabled_.load(std::memory_order_acquire); }
  // The user `token` names and the auth revision now; kInvalidToken (security/auth_error.h)
  // for a token this member does not know or that expired.
  absl::StatusOr<Identity> identify_token(std::string_view token);
  uint64_t auth_revision();
  // The key permissions `req` needs (server/auth_check.h), for `who`, now.
  absl::Status check_keys(const Identity& who, const google::protobuf::Message& req);
  absl::Status check_read(const Identity& who, const std::string& key,
                          const std::string& range_end);
  // With auth on, `user` must hold role root.
  absl::Status check_admin(const std::string& user);
  // Whether `who` may perform the cluster operation `action` (server/auth_check.h): with
  // auth off, yes; for role root, yes (etcd's rule); otherwise the authorization policy
  // in force, asked for the user and for each etcd role it holds (subject), "cluster"
  // (object) and `action`. kUserEmpty without a user; kActionDenied naming who, what and
  // why.
  absl::Status authorize(const Identity& who, std::string_view action);
  // The authorization policy in force: its texts, revision and fingerprint.
  raftkv::admin::Authz authz();
  // The policy in force until the log sets one (the built-in default). Before the node
  // opens.
  void set_default_authz(std::shared_ptr<const security::Enforcer> enforcer,
                         raftkv::admin::Authz texts);
  // Runs `f` on the auth state, under the auth lock (readers share it).
  void read_auth(const std::function<void(const security::AuthStore&)>& f);
  // How long a simple token lives unused (etcd's --auth-token-ttl). Before the node opens.
  void set_token_ttl(std::chrono::nanoseconds ttl);
  // Tokens are these JWTs instead of simple tokens (--auth-token jwt). Before the node
  // opens.
  void set_jwt(std::shared_ptr<const security::JwtTokens> jwt) { jwt_ = std::move(jwt); }

  // Attributes known before the log says anything (the initial cluster flags).
  void seed_members(const std::vector<raftkv::internal::MemberAttributes>& members);

 private:
  // The snapshot's bytes to `write`, under the lock that applies and reads take; when
  // they go to a string, `reserve` is it (sized up front so that it never doubles).
  absl::Status write_snapshot(const std::function<bool(std::string_view)>& write, int64_t* revision,
                              std::string* reserve);
  // The snapshot's first bytes: u64 length | the cluster state (members, alarms, limits,
  // auth). Under mu_.
  std::string snapshot_head();
  class SnapshotJob;  // begin_snapshot's job (kv_state_machine.cc)
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
  void apply_auth(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_authenticate(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  void apply_authz(const raftkv::internal::Command& c, raftkv::internal::Result* out);
  // With auth on, whether the user a write was admitted for may still make it (its auth
  // revision unchanged, its key permissions, the keys of a lease it names); if not, the
  // refusal goes into `out`. Under mu_.
  bool refused_by_auth(const raftkv::internal::Command& c, const google::protobuf::Message& req,
                       int64_t lease, raftkv::internal::Result* out);
  // After an auth change: the watches whose user lost READ on their range (under mu_).
  void revoke_watches();
  void raise_nospace_alarm();
  // The `ready` callbacks of the watchers the store says have something (under mu_).
  std::vector<std::function<void()>> ready_watchers();

  std::mutex mu_;
  kv::Store store_;
  // Signalled when a SnapshotJob ends: compactions and restores wait on it until the store
  // has no saver open (store_.open_savers(), under mu_).
  std::condition_variable snapshots_done_;
  // The snapshots begun lately (under mu_): what a later one may extend.
  struct SnapshotMark {
    uint64_t index = 0;    // the log index it covers
    int64_t revision = 0;  // the store's revision then
    uint64_t epoch = 0;    // the store's history epoch then
    int chain = 0;         // snapshots it extends, itself not counted
  };
  std::vector<SnapshotMark> snapshot_marks_;
  std::map<kv::WatchId, std::function<void()>> watch_ready_;  // guarded by mu_
  std::map<uint64_t, raftkv::internal::MemberAttributes> attributes_;
  std::vector<etcdserverpb::AlarmMember> alarms_;
  // Which alarms are armed, from alarms_ (alarms_changed() after every change): read
  // without the lock by the gate.
  enum class AlarmSet { kNone, kNospace, kCorrupt };
  static AlarmSet alarm_set(const std::vector<etcdserverpb::AlarmMember>& alarms) {
    AlarmSet set = AlarmSet::kNone;
    for (const auto& a : alarms) {
      if (a.alarm() == etcdserverpb::CORRUPT) return AlarmSet::kCorrupt;
      if (a.alarm() == etcdserverpb::NOSPACE) set = AlarmSet::kNospace;
    }
    return set;
  }
  std::atomic<AlarmSet> armed_{AlarmSet::kNone};
  void alarms_changed();
  std::optional<grpc::Status> refused_by_alarm(const raftkv::internal::Command& c) const;
  raft::Membership membership_;
  std::atomic<uint64_t> self_{0};
  std::atomic<bool> self_learner_{false};
  raft::Term leading_term_;  // guarded by mu_: the leadership taken in (none: follower)
  OpCounts ops_;
  void count_ops(const etcdserverpb::TxnResponse& r);
  std::function<void(const raftkv::internal::MemberAttributes&)> member_listener_;
  raftkv::admin::Limits limits_;  // guarded by mu_; meaningful when limits_set_
  bool limits_set_ = false;       // guarded by mu_
  std::function<void(const raftkv::admin::Limits&)> limits_listener_;

  // Auth. Changed by the apply thread holding mu_ and auth_mu_ (exclusive); read under
  // auth_mu_ alone (shared), so the gate never waits for a store operation.
  mutable std::shared_mutex auth_mu_;
  security::AuthStore auth_;               // guarded by auth_mu_
  std::atomic<bool> auth_enabled_{false};  // auth_.enabled(), for the path with auth off
  std::unique_ptr<security::SimpleTokens> tokens_;
  std::shared_ptr<const security::JwtTokens> jwt_;  // set: JWTs, not simple tokens
  // JWTs this member verified, until they expire: a signature is checked once per token,
  // not once per request. Bounded: emptied when it reaches kJwtCacheEntries.
  static constexpr size_t kJwtCacheEntries = 4096;
  std::shared_mutex jwt_cache_mu_;
  std::unordered_map<std::string, security::JwtTokens::Claims, security::StringViewHash,
                     std::equal_to<>>
      jwt_cache_;  // by token
  // The authorization policy: the log's (authz_.revision() > 0) or the default.
  std::shared_ptr<const security::Enforcer> enforcer_;          // guarded by auth_mu_
  raftkv::admin::Authz authz_;                                  // guarded by auth_mu_
  std::shared_ptr<const security::Enforcer> default_enforcer_;  // set before the node opens
  raftkv::admin::Authz default_authz_;
  uint64_t applying_index_ = 0;  // the entry being applied (under mu_), for tokens
  struct WatchAuth {
    Identity who;
    std::string key, range_end;
  };
  std::map<kv::WatchId, WatchAuth> watch_auth_;  // watches opened by a user; under mu_
  std::set<kv::WatchId> watch_revoked_;          // ended by an auth change; under mu_
  std::vector<kv::WatchId> revoked_ready_;       // of those, not yet told; under mu_
};

}  // namespace server
