// Who sent a request, as the gate found out: the user of its auth token or, with
// --client-cert-auth, of its certificate; and the auth revision it was admitted under.
// It travels with the request into the log entry, so every member applying it knows.
#pragma once

#include <cstdint>
#include <string>

namespace server {

struct Identity {
  std::string user;            // "" for an unauthenticated client and the member itself
  uint64_t auth_revision = 0;  // the auth state's revision at admission; 0 without a user
};

}  // namespace server
