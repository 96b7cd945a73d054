// The snapshot byte format, all integers little-endian. A snapshot is one whole segment
// (version 1), optionally followed by delta segments (version 2), each holding what the
// store gained since the segment before it:
//
//   magic "RKVSNAP\n" (8 bytes) | format version u32 | (version 2 only: since i64)
//   revision i64 | compact_revision i64 | lease id sequence u64
//   lease count u64, then per lease ascending by id: id i64 | granted ttl i64
//   key count u64, then per key ascending: key (u32 length | bytes) | version count u32,
//     then per version, oldest first: mod_revision i64 | create_revision i64 | version i64 |
//     lease i64 | sub i32 | value (u32 length | bytes)
//   XXH3-64 of every byte of the segment before it, u64.
//
// A whole segment holds every version at or below its revision. A delta segment holds the
// versions above `since` (the revision of the segment before it) and at or below its own
// revision, only for the keys that have some; its leases are all the leases at its
// revision (they replace the ones before), and its compact revision is the one before it:
// a compaction between two snapshots makes the next one whole. Whatever a store
// serializes between segments (the server's cluster state) is the caller's.
//
// Lease deadlines, the change log, lease key sets and the accounted size are derived or
// per replica and not stored, so replicas that applied the same entries write the same bytes.
#pragma once

#include <cstdint>
#include <string_view>

namespace kv::snapshot_format {

inline constexpr std::string_view kMagic{"RKVSNAP\n", 8};
inline constexpr uint32_t kVersion = 1;       // a whole segment
inline constexpr uint32_t kDeltaVersion = 2;  // a delta segment
inline constexpr size_t kChunkBytes = 64 * 1024;

}  // namespace kv::snapshot_format
