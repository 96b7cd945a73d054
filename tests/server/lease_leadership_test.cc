// Which leases a leader expires, and when: only in a leadership its state machine has
// taken in (on_leadership gave every lease a full TTL first). Before that, the deadlines
// a member holds are a follower's: the grant's apply time + TTL, with none of the
// keep-alives its predecessor answered. Found by the chaos harness (partitions mix):
// a new leader revoked a lease that the keep-alives it had itself just answered kept.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "raftkv/internal.pb.h"
#include "server/kv_state_machine.h"

namespace server {
namespace {

namespace pb = etcdserverpb;
namespace in = raftkv::internal;

class LeaseLeadership : public ::testing::Test {
 protected:
  LeaseLeadership() : sm_(options()) {}
  static kv::StoreOptions options() {
    kv::StoreOptions o;
    o.min_lease_ttl = 1;
    return o;
  }
  void apply(in::Command c) {
    c.set_member_write(true);
    in::Result r;
    ASSERT_TRUE(r.ParseFromString(sm_.apply(raft::LogIndex(++index_), c.SerializeAsString())));
    ASSERT_EQ(r.code(), 0) << r.message();
  }
  // A leader call as the leader answers it, its response of type Resp.
  template <typename Resp>
  Resp leader_call(const in::LeaderCall& call) {
    absl::StatusOr<std::string> out = sm_.leader_call(call.SerializeAsString());
    EXPECT_TRUE(out.ok()) << out.status();
    Resp resp;
    EXPECT_TRUE(out.ok() && resp.ParseFromString(*out));
    return resp;
  }
  // The lease's TTL left on this replica (TimeToLive), in whole seconds.
  int64_t ttl_left(int64_t id) {
    in::LeaderCall call;
    call.mutable_time_to_live()->set_id(id);
    return leader_call<pb::LeaseTimeToLiveResponse>(call).ttl();
  }
  // A keep-alive: the TTL granted, 0 for a lease not found (or expired).
  int64_t keep_alive(int64_t id) {
    in::LeaderCall call;
    call.mutable_keep_alive()->set_id(id);
    return leader_call<pb::LeaseKeepAliveResponse>(call).ttl();
  }

  KvStateMachine sm_;
  uint64_t index_ = 0;
};

TEST_F(LeaseLeadership, ANewLeaderExpiresNothingBeforeItsStateMachineTookTheLeadershipIn) {
  in::Command grant;
  grant.mutable_lease_grant()->set_id(7);
  grant.mutable_lease_grant()->set_ttl(1);
  apply(grant);
  // As a follower, this replica's deadline for lease 7 (the apply + 1 s) passes: no
  // keep-alive reaches it.
  const auto passed = std::chrono::steady_clock::now() + std::chrono::milliseconds(1050);
  for (int i = 0; i < 1000 && std::chrono::steady_clock::now() < passed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(ttl_left(7), 0);
  // The core already leads in term 5, the applier has not reached that change yet.
  EXPECT_TRUE(sm_.expired_leases(raft::Term(5)).empty());
  // Taken in: every lease has a full TTL again, and expires only after it.
  sm_.on_leadership(true, raft::Term(5));
  EXPECT_TRUE(sm_.expired_leases(raft::Term(5)).empty());
  EXPECT_EQ(keep_alive(7), 1);  // a keep-alive renews it (an expired lease answers 0)
  // Not in another term (lost and won again: that leadership is taken in afresh), nor
  // once the leadership ended.
  EXPECT_TRUE(sm_.expired_leases(raft::Term(6)).empty());
  sm_.on_leadership(false, raft::Term(5));
  EXPECT_TRUE(sm_.expired_leases(raft::Term(5)).empty());
}

TEST_F(LeaseLeadership, ALeaderExpiresALeaseOnceItsFullTtlPassesUnrenewed) {
  in::Command grant;
  grant.mutable_lease_grant()->set_id(8);
  grant.mutable_lease_grant()->set_ttl(1);
  apply(grant);
  sm_.on_leadership(true, raft::Term(3));
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (sm_.expired_leases(raft::Term(3)).empty() && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(sm_.expired_leases(raft::Term(3)), std::vector<int64_t>{8});
}

}  // namespace
}  // namespace server
