// gRPC's own log lines (a failed TLS handshake, say) in raftkv's log: JSON like every
// other line, its errors as warnings, and each kind at most once per 10 s with a count
// of what was held back, so that a peer or client with the wrong CA retrying many times
// a second cannot flood the log.
#pragma once

namespace server {

// From now on, for the whole process; calling it again changes nothing.
void route_grpc_log();

}  // namespace server
