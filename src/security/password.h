// Password hashing for etcd's users: bcrypt ($2b$) through libcrypt, at etcd's
// --bcrypt-cost. Only hashes are kept or replicated; a password is never logged.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace security {

inline constexpr int kMinBcryptCost = 4;  // bcrypt's own bounds, as etcd's --bcrypt-cost
inline constexpr int kMaxBcryptCost = 31;
inline constexpr int kDefaultBcryptCost = 10;
inline constexpr size_t kMaxPasswordBytes = 72;  // bcrypt reads no further; longer is refused

// A salted bcrypt hash of `password` at `cost`. kBadPassword (auth_error.h) for a password
// bcrypt cannot take whole: longer than 72 bytes, or holding a NUL byte.
absl::StatusOr<std::string> hash_password(std::string_view password, int cost);
// Whether `password` matches `hash` (false for any malformed hash).
bool check_password(std::string_view password, const std::string& hash);

}  // namespace security
