#include "security/password.h"

#include <crypt.h>

#include <memory>

#include "security/auth_error.h"
#include "security/text_util.h"

namespace security {
namespace {

absl::Status usable(std::string_view password) {
  if (password.size() > kMaxPasswordBytes) {
    return auth_error(AuthErrorKind::kBadPassword,
                      cat("the password is ", password.size(), " bytes long; bcrypt takes at most ",
                          kMaxPasswordBytes));
  }
  if (password.find('\0') != std::string_view::npos) {
    return auth_error(AuthErrorKind::kBadPassword, "the password holds a NUL byte");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> hash_password(std::string_view password, int cost) {
  if (absl::Status s = usable(password); !s.ok()) return s;
  if (cost < kMinBcryptCost || cost > kMaxBcryptCost) {
    return absl::InvalidArgumentError(
        cat("bcrypt cost ", cost, " is out of range [", kMinBcryptCost, ", ", kMaxBcryptCost, "]"));
  }
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // Null random bytes: libcrypt draws the salt from the operating system.
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, setting,
                       sizeof setting) == nullptr) {
    return absl::InternalError("libcrypt could not make a bcrypt salt");
  }
  auto data = std::make_unique<crypt_data>();  // 32 KiB: not on the stack
  const std::string pw(password);
  const char* out = crypt_r(pw.c_str(), setting, data.get());
  if (out == nullptr || out[0] == '*') return absl::InternalError("libcrypt could not hash");
  return std::string(out);
}

bool check_password(std::string_view password, const std::string& hash) {
  // bcrypt's own prefixes only: libcrypt would take other schemes' hashes too.
  if (!usable(password).ok() || hash.size() < 7 ||
      (hash.compare(0, 4, "$2b$") != 0 && hash.compare(0, 4, "$2a$") != 0 &&
       hash.compare(0, 4, "$2y$") != 0)) {
    return false;
  }
  auto data = std::make_unique<crypt_data>();
  const std::string pw(password);
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  if (out == nullptr || out[0] == '*') return false;
  // Compare every byte, whatever the first difference (no early exit to time).
  const std::string_view got(out);
  if (got.size() != hash.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff |= static_cast<unsigned char>(got[i] ^ hash[i]);
  return diff == 0;
}

}  // namespace security
