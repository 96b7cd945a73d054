// Known runtime bugs a build option switches on, so that the chaos harness (tests/chaos)
// can prove it catches them. Release builds define none (see src/raft/planted_bugs.h
// for the core's).
#pragma once

namespace node::planted {

#ifdef RAFTKV_BUG_ACK_BEFORE_FSYNC
// Entries are acknowledged (to the leader, and by the leader to clients) once written,
// and fsynced at most once a second: a power loss on a majority loses acknowledged
// writes (NATS JetStream's bug as Jepsen found it).
inline constexpr bool kAckBeforeFsync = true;
#else
inline constexpr bool kAckBeforeFsync = false;
#endif

}  // namespace node::planted
