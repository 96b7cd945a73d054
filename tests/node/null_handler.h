// A transport::Handler that takes everything and does nothing, for transport tests to
// derive from (override what a test looks at): forwards are refused as unavailable.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "transport/transport.h"

namespace transport {

class NullHandler : public Handler {
 public:
  void on_message(raft::Message, std::shared_ptr<const SnapshotSource>) override {}
  void on_proposal(raft::NodeId, std::string) override {}
  void on_refusal(uint64_t, absl::Status) override {}
  void on_forward(raft::NodeId, std::string, std::chrono::milliseconds,
                  ForwardCallback done) override {
    done(absl::UnavailableError("not in this test"));
  }
};

}  // namespace transport
