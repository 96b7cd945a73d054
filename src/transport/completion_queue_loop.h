// gRPC's completion-queue API served by one thread of ours. That thread polls the sockets
// and takes every completion of the queue, so an arrival and an answer are not handed
// between gRPC's threads as its callback and sync APIs hand them (docs/benchmarks.md,
// "The tenth cut"). unary_call.h and server_stream.h serve methods on such a queue.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace transport {

// One pending operation on a CompletionQueueLoop's queue: proceed(ok) runs on the loop's
// thread when it completes (ok false: the call was cancelled or the queue is shutting
// down).
class CompletionTag {
 public:
  virtual ~CompletionTag() = default;
  virtual void proceed(bool ok) = 0;
};

// The calls a queue has under way: each call object counts itself from the arrival of its
// call until gRPC is done with it. A call still under way when the server has shut down
// goes on putting operations on the queue (its owner finishes it), so the queue is shut
// down only once none is left.
class CallsUnderWay {
 public:
  void started() {
    std::lock_guard<std::mutex> lock(mu_);
    ++n_;
  }
  void ended() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--n_ == 0) none_.notify_all();
  }
  // False if some were still under way after `limit`.
  bool wait_none(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    return none_.wait_for(lock, limit, [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable none_;
  int64_t n_ = 0;
};

// The thread that takes a queue's completions. Every tag put on the queue must be a
// CompletionTag.
class CompletionQueueLoop {
 public:
  // `name`: the thread's name (at most 15 characters).
  CompletionQueueLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq, std::string name);
  ~CompletionQueueLoop();
  CompletionQueueLoop(const CompletionQueueLoop&) = delete;
  CompletionQueueLoop& operator=(const CompletionQueueLoop&) = delete;

  grpc::ServerCompletionQueue* queue() const { return cq_.get(); }
  // What each call served on the queue counts itself in.
  CallsUnderWay* calls() { return &calls_; }
  // Starts the thread; once.
  void start();
  // Call it after the server's Shutdown() has returned (no call arrives any more) and
  // once every owner of a call has been told to end it (the node stopped, the streams
  // closed). Waits for the calls under way to end, shuts the queue down, lets the thread
  // take what is left (each tag with ok false) and joins it. Idempotent; also run by the
  // destructor.
  void stop();

 private:
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  const std::string name_;
  CallsUnderWay calls_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace transport
