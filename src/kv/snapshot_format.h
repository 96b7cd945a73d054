// The snapshot byte format (version 1), all integers little-endian:
//
//   magic "RKVSNAP\n" (8 bytes) | format version u32
//   revision i64 | compact_revision i64 | lease id sequence u64
//   lease count u64, then per lease ascending by id: id i64 | granted ttl i64
//   key count u64, then per key ascending: key (u32 length | bytes) | version count u32,
//     then per version, oldest first: mod_revision i64 | create_revision i64 | version i64 |
//     lease i64 | sub i32 | value (u32 length | bytes)
//   XXH3-64 of every byte before it, u64; nothing after.
//
// Lease deadlines, the change log, lease key sets and the accounted size are derived or
// per replica and not stored, so replicas that applied the same entries write the same bytes.
#pragma once

#include <cstdint>
#include <string_view>

namespace kv::snapshot_format {

inline constexpr std::string_view kMagic{"RKVSNAP\n", 8};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kChunkBytes = 64 * 1024;

}  // namespace kv::snapshot_format
