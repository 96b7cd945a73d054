// WorkQueue: the one thread of a runtime part and the queue that feeds it. Items are
// handled one at a time, in the order they were pushed, on the queue's own thread;
// pushing never blocks. The part that owns a WorkQueue owns its thread.
#pragma once

#include <deque>
#include <functional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "log/thread_name.h"
#include "node/mutex.h"

namespace node {

template <typename Item>
class WorkQueue {
 public:
  WorkQueue() = default;
  ~WorkQueue() { stop(); }
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Starts the thread, named `name` (raftlog::name_this_thread), which calls `handle`
  // for each item. Once.
  void start(const char* name, std::function<void(Item&)> handle) {
    thread_ = std::thread([this, name, handle = std::move(handle)] {
      raftlog::name_this_thread(name);
      loop(handle);
    });
  }
  // Stops the thread once the item in hand is done; queued items are dropped, and later
  // pushes too. Any thread but the queue's own; idempotent.
  void stop() {
    halt();
    if (thread_.joinable()) thread_.join();
  }
  // As stop() without waiting for the thread: the item in hand finishes, the rest are
  // dropped. Any thread, the queue's own included (a fatal error halts the node from
  // wherever it is met); stop() still joins the thread.
  void halt() {
    std::deque<Item> dropped;
    {
      MutexLock lock(&mu_);
      stopping_ = true;
      dropped.swap(queue_);
      work_.signal();
    }
    // Destroyed here, outside the lock, not when the queue is: an item may hold what
    // another thread waits for (a snapshot job, the compaction waiting for it).
  }
  // Items waiting (not the one in hand). Any thread.
  size_t size() const {
    MutexLock lock(&mu_);
    return queue_.size();
  }
  // Handles `item` on the calling thread instead, when nothing is queued or in hand:
  // the order of items is kept, and the hand-off to the queue's thread (a wake-up each
  // way) is saved. False (item untouched) otherwise, or once halted. The queue's thread
  // takes no item meanwhile.
  bool run_here_if_idle(Item& item, const std::function<void(Item&)>& handle) {
    {
      MutexLock lock(&mu_);
      if (stopping_ || busy_ || !queue_.empty()) return false;
      busy_ = true;
    }
    handle(item);
    bool waiting = false;
    {
      MutexLock lock(&mu_);
      busy_ = false;
      waiting = !queue_.empty();
    }
    if (waiting) work_.signal();
    return true;
  }
  // Any thread.
  void push(Item item) {
    bool was_empty = false;
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      was_empty = queue_.empty();
      queue_.push_back(std::move(item));
    }
    // Outside the lock, so the woken thread does not block on it at once; only for the
    // first item, since the thread drains the queue before it waits again.
    if (was_empty) work_.signal();
  }

 private:
  bool has_work() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || (!queue_.empty() && !busy_);
  }

  void loop(const std::function<void(Item&)>& handle) {
    while (true) {
      Item item;
      {
        MutexLock lock(&mu_);
        while (!has_work()) work_.wait(&mu_);
        if (stopping_) return;
        item = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
      }
      handle(item);
      MutexLock lock(&mu_);
      busy_ = false;
    }
  }

  mutable Mutex mu_;
  CondVar work_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // an item is in hand, here or in run_here_if_idle
  std::thread thread_;
};

}  // namespace node
