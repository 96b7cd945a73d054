// Threads for the client services' handlers that block (a write waiting for its commit, a
// lease call waiting for the leader's answer, a keep-alive stream waiting for the next
// request): the completion queue's thread hands them here and never waits itself.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "node/mutex.h"

namespace server {

// Runs each piece of work on an idle thread, or a new one when none is idle: as many
// threads as pieces ever ran at once (a stream holds one for its life, as gRPC's sync API
// holds one), kept until stop().
class BlockingPool {
 public:
  BlockingPool() = default;
  ~BlockingPool() { stop(); }
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Any thread. After stop(), `work` runs on the calling thread.
  void run(std::function<void()> work);
  // Waits for the work in hand and queued to end, and joins every thread. Call it when
  // nothing blocks for long any more (the node stopped, the gRPC server shut down).
  void stop();

 private:
  void loop();

  node::Mutex mu_;
  node::CondVar work_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace server
