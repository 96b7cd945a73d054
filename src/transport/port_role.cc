// The port a call came in on (port_role.h).
#include "transport/port_role.h"

#include <grpcpp/security/auth_metadata_processor.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "transport/port_mux.h"

namespace transport {
namespace {

// The auth property a TLS port's credentials put on each of its calls.
constexpr char kRoleProperty[] = "raftkv_port_role";

std::string_view name(PortRole role) {
  switch (role) {
    case PortRole::kClient:
      return "client";
    case PortRole::kPeer:
      return "peer";
    case PortRole::kUnknown:
      break;
  }
  return {};
}

PortRole parse(std::string_view role) {
  if (role == "client") return PortRole::kClient;
  if (role == "peer") return PortRole::kPeer;
  return PortRole::kUnknown;
}

// Marks the auth context gRPC 1.51 gives each call (its connection's, shared by the
// calls on it) with the role of the port whose credentials hold it, once: on the
// connection's first call, before any call on it reaches a handler. Not blocking: it runs
// where gRPC receives the call; the lock keeps two first calls from both adding the mark.
class RoleMarker final : public grpc::AuthMetadataProcessor {
 public:
  explicit RoleMarker(PortRole role) : role_(name(role)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata&, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (context->FindPropertyValues(kRoleProperty).empty()) {
      context->AddProperty(kRoleProperty, grpc::string_ref(role_.data(), role_.size()));
    }
    return grpc::Status::OK;
  }

 private:
  const std::string_view role_;
  std::mutex mu_;
};

}  // namespace

PortRole port_role(const grpc::ServerContext& ctx) {
  const std::string peer = ctx.peer();
  if (const std::string_view role = handed_over_from(peer); !role.empty()) return parse(role);
  const std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr) return PortRole::kUnknown;
  const std::vector<grpc::string_ref> marks = auth->FindPropertyValues(kRoleProperty);
  if (marks.size() != 1) return PortRole::kUnknown;
  return parse(std::string_view(marks.front().data(), marks.front().size()));
}

void mark_role(grpc::ServerCredentials& creds, PortRole role) {
  creds.SetAuthMetadataProcessor(std::make_shared<RoleMarker>(role));
}

}  // namespace transport
