#include "server/retry_hint.h"

#include <atomic>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_set.h"

namespace server {
namespace {

// The calls given a trailer of their own and not finished yet, by context. gRPC's
// context does not let a trailer added to it be read back. A call's context is its own
// until the call is deleted, after its finish, which forgets it here.
class Hinted {
 public:
  void add(const void* ctx) {
    std::lock_guard<std::mutex> lock(mu_);
    if (calls_.insert(ctx).second) size_.fetch_add(1, std::memory_order_relaxed);
  }
  // Whether `ctx` was added; forgets it. No lock while no call is held (every call that
  // was not refused by a limit).
  bool take(const void* ctx) {
    if (size_.load(std::memory_order_relaxed) == 0) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (calls_.erase(ctx) == 0) return false;
    size_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

 private:
  std::mutex mu_;
  absl::flat_hash_set<const void*> calls_;  // guarded by mu_
  std::atomic<size_t> size_{0};             // calls_.size(), read without the lock
};

Hinted& hinted() {
  static Hinted* const h = new Hinted();  // never destroyed: calls may end during exit
  return *h;
}

}  // namespace

void set_retry_after(grpc::ServerContextBase* ctx, std::chrono::milliseconds wait) {
  ctx->AddTrailingMetadata("retry-after-ms", std::to_string(wait.count()));
  hinted().add(ctx);
}

void add_retry_hint(grpc::ServerContextBase* ctx, const grpc::Status& s,
                    const std::function<std::chrono::milliseconds()>& hint) {
  // Forgotten whatever the answer: a call given a trailer and then answered otherwise
  // must not leave its context marked for the next call made there.
  const bool own = hinted().take(ctx);
  if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && !own) {
    ctx->AddTrailingMetadata("retry-after-ms", std::to_string(hint().count()));
  }
}

}  // namespace server
