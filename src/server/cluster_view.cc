#include "server/cluster_view.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>

#include "etcd/rpc.pb.h"
#include "log/log.h"
#include "raftkv/admin.grpc.pb.h"
#include "server/server.h"

namespace server {
namespace {

namespace ad = raftkv::admin;
using Clock = std::chrono::steady_clock;

std::string hex(uint64_t id) { return raftlog::hex_id(id); }
std::string json_string(const std::string& s) { return raftlog::json_string(s); }

std::string number(uint64_t v) { return std::to_string(v); }

// One member's answers to one poll, on the poll's own completion queue: read by the
// HTTP thread once both calls are back.
struct Answer {
  etcdserverpb::Member member;
  std::unique_ptr<ad::Admin::Stub> stub;
  grpc::ClientContext status_ctx;
  grpc::ClientContext health_ctx;
  ad::StatusResponse status;
  ad::HealthResponse health;
  grpc::Status status_result;
  grpc::Status health_result;
  bool status_done = false;  // its address is the call's tag
  bool health_done = false;  // its address is the call's tag
};

// The calls of one poll.
struct Poll {
  std::vector<std::unique_ptr<Answer>> answers;
};

std::string health_json(const Answer& a) {
  if (!a.health_done || !a.health_result.ok()) return "null";
  std::string out = "{\"score\":" + number(a.health.score()) + ",\"reasons\":[";
  for (int i = 0; i < a.health.reasons_size(); ++i) {
    const ad::HealthReason& r = a.health.reasons(i);
    out += std::string(i ? "," : "") + "{\"input\":" + json_string(r.input()) +
           ",\"detail\":" + json_string(r.detail()) +
           ",\"threshold\":" + json_string(r.threshold()) + ",\"penalty\":" + number(r.penalty()) +
           "}";
  }
  return out + "]}";
}

std::string member_json(const Answer& a, uint64_t max_commit) {
  const etcdserverpb::Member& m = a.member;
  std::string urls = "[";
  for (int i = 0; i < m.clienturls_size(); ++i) {
    urls += std::string(i ? "," : "") + json_string(m.clienturls(i));
  }
  urls += "]";
  const bool up = a.status_done && a.status_result.ok();
  std::string error;
  if (m.clienturls_size() == 0) {
    error = "no client URL published yet";
  } else if (!a.status_done) {
    error = "no answer in time";
  } else if (!up) {
    error = a.status_result.error_message();
  }
  std::string out = "{\"id\":\"" + hex(m.id()) + "\",\"name\":" + json_string(m.name()) +
                    ",\"client_urls\":" + urls + ",\"up\":" + (up ? "true" : "false") +
                    ",\"error\":" + json_string(error) +
                    ",\"learner\":" + (m.islearner() ? "true" : "false");
  if (up) {
    const ad::StatusResponse& s = a.status;
    const uint64_t lag = max_commit - std::min(max_commit, s.applied());
    out += ",\"role\":" + json_string(s.role()) + ",\"term\":" + number(s.term()) +
           ",\"leader\":\"" + (s.leader() != 0 ? hex(s.leader()) : "") +
           "\",\"commit\":" + number(s.commit()) + ",\"applied\":" + number(s.applied()) +
           ",\"last_index\":" + number(s.last_index()) + ",\"lag\":" + number(lag);
  } else {
    out += ",\"role\":null";
  }
  // Admin.Health answers UNIMPLEMENTED on members that predate it: then null.
  out += ",\"health\":" + health_json(a);
  if (up && a.health_done && !a.health_result.ok() &&
      a.health_result.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
    out += ",\"health_error\":" + json_string(a.health_result.error_message());
  }
  return out + "}";
}

// The answers as /v1/status's JSON.
std::string render(const Poll& poll, uint64_t self) {
  uint64_t max_commit = 0, leader = 0, term = 0;
  for (const auto& a : poll.answers) {
    if (!a->status_done || !a->status_result.ok()) continue;
    max_commit = std::max(max_commit, a->status.commit());
    // Two members may both say leader for a moment (an old one not yet told); the one of
    // the higher term is the leader.
    if (a->status.role() == "leader" && a->status.term() >= term) {
      leader = a->status.id();
      term = a->status.term();
    }
  }
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string out = "{\"now_ms\":" + std::to_string(now_ms) + ",\"self\":\"" + hex(self) +
                    "\",\"leader\":\"" + (leader != 0 ? hex(leader) : "") +
                    "\",\"term\":" + number(term) + ",\"members\":[";
  for (size_t i = 0; i < poll.answers.size(); ++i) {
    out += std::string(i ? "," : "") + member_json(*poll.answers[i], max_commit);
  }
  return out + "]}";
}

}  // namespace

ClusterView::ClusterView(uint64_t self, MemberList members, std::chrono::milliseconds deadline,
                         std::shared_ptr<grpc::ChannelCredentials> tls)
    : self_(self), members_(std::move(members)), deadline_(deadline), tls_(std::move(tls)) {}

ClusterView::~ClusterView() = default;

std::shared_ptr<grpc::Channel> ClusterView::channel(const std::string& address, bool https) {
  node::MutexLock lock(&mu_);
  const std::string key = (https ? "https://" : "http://") + address;
  auto it = channels_.find(key);
  if (it != channels_.end()) return it->second;
  grpc::ChannelArguments args;
  // A member that comes back is seen within a poll or two, not after gRPC's default
  // back-off of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto ch =
      grpc::CreateCustomChannel(address, https ? tls_ : grpc::InsecureChannelCredentials(), args);
  channels_.emplace(key, ch);
  return ch;
}

std::string ClusterView::status_json() {
  Poll poll;
  for (etcdserverpb::Member& m : members_()) {
    auto a = std::make_unique<Answer>();
    a->member = std::move(m);
    poll.answers.push_back(std::move(a));
  }
  const auto deadline = std::chrono::system_clock::now() + deadline_;
  // The calls go on a queue of the poll's own, which this thread takes until each is back:
  // gRPC's callback API would start threads of its own that poll every connection of the
  // process for as long as it lives (docs/benchmarks.md, "The eleventh cut").
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<grpc::ClientAsyncResponseReader<ad::StatusResponse>>> statuses;
  std::vector<std::unique_ptr<grpc::ClientAsyncResponseReader<ad::HealthResponse>>> healths;
  static const ad::StatusRequest kStatusRequest;
  static const ad::HealthRequest kHealthRequest;
  int pending = 0;
  for (const auto& owned : poll.answers) {
    Answer* a = owned.get();
    if (a->member.clienturls_size() == 0) continue;
    const std::string& url = a->member.clienturls(0);
    auto address = url_to_address(url, /*allow_https=*/tls_ != nullptr);
    if (!address.ok()) {
      a->status_done = true;
      a->status_result =
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(address.status().message()));
      continue;
    }
    a->stub = ad::Admin::NewStub(channel(*address, is_https(url)));
    // Each call ends by its deadline at the latest, so the wait below is bounded.
    a->status_ctx.set_deadline(deadline);
    a->health_ctx.set_deadline(deadline);
    statuses.push_back(a->stub->PrepareAsyncStatus(&a->status_ctx, kStatusRequest, &cq));
    statuses.back()->StartCall();
    statuses.back()->Finish(&a->status, &a->status_result, &a->status_done);
    healths.push_back(a->stub->PrepareAsyncHealth(&a->health_ctx, kHealthRequest, &cq));
    healths.back()->StartCall();
    healths.back()->Finish(&a->health, &a->health_result, &a->health_done);
    pending += 2;
  }
  void* tag = nullptr;
  bool ok = false;
  for (; pending > 0 && cq.Next(&tag, &ok); --pending) *static_cast<bool*>(tag) = true;
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return render(poll, self_);
}

}  // namespace server
