// What every RPC of the client listener shares: the configuration, the node and the
// state machine, the response header, and the gate every request passes first (size
// and the learner rule today; identity, RBAC and limits plug in here).
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>

#include "etcd/rpc.pb.h"
#include "raftkv/internal.pb.h"
#include "server/server.h"

namespace server {

class KvStateMachine;
class HealthMonitor;

struct Context {
  const ServerConfig* config;
  node::RaftNode* node;
  KvStateMachine* sm;
  HealthMonitor* health;

  void header(etcdserverpb::ResponseHeader* h) const;
  // Checks a request before it runs. Every etcd RPC calls it first (streams with each
  // message); a refusal changes nothing.
  grpc::Status gate(const google::protobuf::Message& req) const;
  // The learner rule for a stream, checked when it opens (etcd refuses every stream).
  grpc::Status gate_stream() const;
  // Replicates `c` and waits for its result, or the error that stopped it.
  grpc::Status write(const raftkv::internal::Command& c, raftkv::internal::Result* result) const;
  // The same without a waiting thread: once `c` is applied here (or failed), `fill`
  // copies the result into the response and the RPC finishes, on a runtime thread.
  void write_async(const raftkv::internal::Command& c, grpc::ServerUnaryReactor* reactor,
                   std::function<void(const raftkv::internal::Result&)> fill) const;
  // Waits until this member reflects every write completed before the call.
  grpc::Status read_barrier() const;
};

}  // namespace server
