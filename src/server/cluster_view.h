// The cluster as one member sees it, for the status page's `/v1/status`: every member in
// the KV state machine's member list, asked for its own raftkv.Admin Status and Health on
// its client URL (as `raftkvctl status` and `raftkvctl health` do), all in parallel and
// with a short deadline, so a dead member costs one deadline, not one per member.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "node/mutex.h"

namespace etcdserverpb {
class Member;
}
namespace grpc {
class Channel;
}

namespace server {

class ClusterView {
 public:
  using MemberList = std::function<std::vector<etcdserverpb::Member>()>;

  // `self` is this member's id; `members` answers the current member list (any thread).
  // `tls`: the credentials for members whose client URL is https:// (none: such members
  // are shown unreachable, with the reason).
  ClusterView(uint64_t self, MemberList members,
              std::chrono::milliseconds deadline = std::chrono::milliseconds(1000),
              std::shared_ptr<grpc::ChannelCredentials> tls = nullptr);
  ~ClusterView();

  // The JSON document of /v1/status (docs/architecture.md, "Status page"):
  //   {"now_ms", "self", "leader", "term", "members": [{"id", "name", "client_urls", "up",
  //    "error", "role", "term", "leader", "commit", "applied", "last_index", "lag",
  //    "learner", "health": {"score", "reasons": [...]} or null}]}
  // Blocks the caller for at most the deadline plus 500 ms, whatever the members do.
  std::string status_json();

 private:
  // A channel per client address, kept so each poll does not reconnect.
  std::shared_ptr<grpc::Channel> channel(const std::string& address, bool https);

  const uint64_t self_;
  const MemberList members_;
  const std::chrono::milliseconds deadline_;
  const std::shared_ptr<grpc::ChannelCredentials> tls_;
  node::Mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

}  // namespace server
