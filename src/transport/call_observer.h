// What a server is told of each call it serves on gRPC's completion-queue API
// (unary_call.h, server_stream.h), for its metrics: the calls tell it themselves. A gRPC
// server interceptor did this until 2026-12-07; with any interceptor registered gRPC runs
// its interception machinery on every batch of every call, about a microsecond of CPU a
// call (docs/benchmarks.md, "The fifteenth cut").
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>

namespace google::protobuf {
class Descriptor;
class MessageLite;
}  // namespace google::protobuf

namespace transport {

// One method's observer. Called from whichever thread the call's events happen on, and
// concurrently for different calls: it must be thread-safe.
class MethodObserver {
 public:
  virtual ~MethodObserver() = default;
  // A call of the method arrived.
  virtual void started() const = 0;
  // A message was read from the client, or is about to be sent to it.
  virtual void received(const google::protobuf::MessageLite& m) const = 0;
  virtual void sent(const google::protobuf::MessageLite& m) const = 0;
  // The call's status is about to be sent, `since` the call arrived; the observer may add
  // trailing metadata to `ctx`.
  virtual void finishing(grpc::ServerContext& ctx, const grpc::Status& s,
                         std::chrono::steady_clock::time_point since) const = 0;
};

// A server's observers, one per method, looked up once when a method is registered.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  // The observer of the method that takes `request` and answers `response` (a method of a
  // protobuf service is known by the two), or null if that method is not observed. It
  // lives as long as this object.
  virtual const MethodObserver* method(const google::protobuf::Descriptor* request,
                                       const google::protobuf::Descriptor* response) const = 0;
};

}  // namespace transport
