// The server's edge for errors: a runtime status becomes the gRPC status etcd's clients
// expect. The runtime's typed kinds (node/node_error.h) get etcd's exact wording here,
// and only here; other statuses keep their code and message.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace server {

grpc::Status to_grpc(const absl::Status& status);

// etcd's refusal of a request above --max-request-bytes.
grpc::Status too_large();

}  // namespace server
