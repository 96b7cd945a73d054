// The completion-queue thread (completion_queue_loop.h).
#include "transport/completion_queue_loop.h"

#include <utility>

#include "log/log.h"
#include "log/thread_name.h"
#include "transport/transport.h"

namespace transport {

CompletionQueueLoop::CompletionQueueLoop(std::unique_ptr<grpc::ServerCompletionQueue> cq,
                                         std::string name)
    : cq_(std::move(cq)), name_(std::move(name)) {}

CompletionQueueLoop::~CompletionQueueLoop() { stop(); }

namespace {

// Until the queue is shut down and empty (Next() returns false then).
void take(grpc::ServerCompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) static_cast<CompletionTag*>(tag)->proceed(ok);
}

}  // namespace

void CompletionQueueLoop::start() {
  thread_ = std::thread([cq = cq_.get(), name = name_] {
    raftlog::name_this_thread(name.c_str());
    mark_must_not_block();  // it polls every connection of the queue's server
    take(cq);
  });
}

void CompletionQueueLoop::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable() && !calls_.wait_none(std::chrono::seconds(30))) {
    // A call whose owner never ends it; shutting the queue down under it would abort the
    // process when it ends, so the thread is left to take it.
    raftlog::error("grpc",
                   "calls still under way 30 s after the server shut down; "
                   "their completion queue is left running");
    (void)cq_.release();  // the thread goes on taking from it
    thread_.detach();
    return;
  }
  cq_->Shutdown();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    take(cq_.get());  // never started: what was queued (listeners) is still freed
  }
}

}  // namespace transport
