// Known Raft bugs that a build option switches on, one at a time, so that tests can
// prove the simulator catches them (a checker that cannot fail proves nothing).
// Release builds define none of these; see tests/sim/CMakeLists.txt.
#pragma once

namespace raft::planted {

#ifdef RAFTKV_BUG_VOTE_WITHOUT_UP_TO_DATE_CHECK
// Paper 5.4.1 dropped: a vote is granted whatever the candidate's log holds.
inline constexpr bool kVoteWithoutUpToDateCheck = true;
#else
inline constexpr bool kVoteWithoutUpToDateCheck = false;
#endif

#ifdef RAFTKV_BUG_COMMIT_PREVIOUS_TERM
// Paper 5.4.2 / Figure 8 dropped: entries of earlier terms commit by counting.
inline constexpr bool kCommitPreviousTermByCounting = true;
#else
inline constexpr bool kCommitPreviousTermByCounting = false;
#endif

#ifdef RAFTKV_BUG_VOTE_BEFORE_PERSIST
// The vote is sent before it is on stable storage: a crash forgets it.
inline constexpr bool kVoteBeforePersist = true;
#else
inline constexpr bool kVoteBeforePersist = false;
#endif

#ifdef RAFTKV_BUG_SKIP_CONSISTENCY_CHECK
// Paper 5.3 dropped: a follower appends without checking the previous entry.
inline constexpr bool kSkipConsistencyCheck = true;
#else
inline constexpr bool kSkipConsistencyCheck = false;
#endif

#ifdef RAFTKV_BUG_MEMBERSHIP_SKIPS_JOINT_PHASE
// Thesis 4.3 dropped: a change of several voters goes straight to C_new.
inline constexpr bool kMembershipSkipsJointPhase = true;
#else
inline constexpr bool kMembershipSkipsJointPhase = false;
#endif

#ifdef RAFTKV_BUG_TWO_MEMBERSHIP_CHANGES_AT_ONCE
// A second membership change is accepted while the first is still pending.
inline constexpr bool kTwoMembershipChangesAtOnce = true;
#else
inline constexpr bool kTwoMembershipChangesAtOnce = false;
#endif

#ifdef RAFTKV_BUG_READ_WITHOUT_QUORUM
// Thesis 6.4 dropped: a read is served without a quorum confirming leadership.
inline constexpr bool kReadWithoutQuorum = true;
#else
inline constexpr bool kReadWithoutQuorum = false;
#endif

#ifdef RAFTKV_BUG_SNAPSHOT_DROPS_MEMBERSHIP
// Thesis 5.1 dropped: a snapshot records the bootstrap membership, not the one in
// force at its index.
inline constexpr bool kSnapshotDropsMembership = true;
#else
inline constexpr bool kSnapshotDropsMembership = false;
#endif

#ifdef RAFTKV_BUG_LOG_BYTES_KEPT_ON_COMPACTION
// Not a safety bug: the log's byte count (the runtime's memory metric) keeps the bytes
// of entries a compaction dropped.
inline constexpr bool kLogBytesKeptOnCompaction = true;
#else
inline constexpr bool kLogBytesKeptOnCompaction = false;
#endif

#ifdef RAFTKV_BUG_FOLLOWER_LOCAL_READ
// Thesis 6.4 dropped on followers: a follower serves a linearizable read at its own
// commit index instead of asking the leader for the read index. Only the chaos harness
// (tests/chaos) builds it: a follower cut off from the leader then answers stale reads.
inline constexpr bool kFollowerLocalRead = true;
#else
inline constexpr bool kFollowerLocalRead = false;
#endif

#ifdef RAFTKV_BUG_LEADER_IGNORES_QUORUM_LOSS
// Thesis 6.2 and 6.4 dropped together: a leader that lost its quorum never steps down
// and answers reads at once from its own state (chaos harness only, like the above).
inline constexpr bool kLeaderIgnoresQuorumLoss = true;
#else
inline constexpr bool kLeaderIgnoresQuorumLoss = false;
#endif

}  // namespace raft::planted
