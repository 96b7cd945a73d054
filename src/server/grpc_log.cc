#include "server/grpc_log.h"

#include <grpc/support/log.h>

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "log/log.h"
#include "log/throttle.h"

namespace server {
namespace {

constexpr std::string_view kHandshake = "Handshake failed";

raftlog::Throttle& throttle() {
  static raftlog::Throttle t(std::chrono::seconds(10));
  return t;
}

void log_grpc(gpr_log_func_args* args) {
  const std::string_view message = args->message != nullptr ? args->message : "";
  const std::string source =
      std::string(args->file != nullptr ? args->file : "?") + ":" + std::to_string(args->line);
  // gRPC's errors are warnings here: what fails because of them (a port that cannot be
  // bound, say) raftkv reports itself, as an error naming what it was doing. A failed
  // handshake is the other side's doing (a wrong CA, no certificate, plaintext on a TLS
  // port): one line per distinct error.
  const bool handshake = message.find(kHandshake) != std::string_view::npos;
  raftlog::Level level = raftlog::Level::kDebug;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) {
    level = raftlog::Level::kWarn;
  } else if (args->severity == GPR_LOG_SEVERITY_INFO) {
    level = raftlog::Level::kInfo;
  }
  if (!raftlog::enabled(level)) return;
  uint64_t held_back = 0;
  if (!throttle().allow(handshake ? std::string(message) : source, &held_back)) return;
  raftlog::write(level, "grpc", handshake ? "TLS handshake failed" : "grpc message",
                 {{"error", message}, {"source", source}, {"suppressed-since-last", held_back}});
}

}  // namespace

void route_grpc_log() {
  static std::once_flag once;
  std::call_once(once, [] { gpr_set_log_function(log_grpc); });
}

}  // namespace server
