// Which of a member's ports a call came in on. One gRPC server serves a member's client
// and peer ports (one completion queue, polled by one thread: docs/benchmarks.md, "The
// eleventh cut"), so each service checks that its calls came in on a port of its own.
#pragma once

#include <grpcpp/grpcpp.h>

namespace transport {

enum class PortRole { kUnknown, kClient, kPeer };

// A plaintext port's connections were handed to gRPC by a PortMux, which keeps the role of
// each (port_mux.h); a TLS port is gRPC's own listener, whose credentials mark each call
// (mark_role). kUnknown: neither (a server of the transport's own, or unmarked credentials).
PortRole port_role(const grpc::ServerContext& ctx);

// Calls that come in on a port listening with `creds` are marked as `role`'s. TLS
// credentials only (gRPC aborts on insecure ones); before the server starts.
void mark_role(grpc::ServerCredentials& creds, PortRole role);

}  // namespace transport
