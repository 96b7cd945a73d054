#include "server/blocking_pool.h"

#include <utility>

#include "log/thread_name.h"

namespace server {

void BlockingPool::run(std::function<void()> work) {
  {
    node::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(std::move(work));
      if (idle_ >= queue_.size()) {
        work_.signal();
      } else {
        threads_.emplace_back([this] {
          raftlog::name_this_thread("raftkv-blocking");
          loop();
        });
      }
      return;
    }
  }
  work();
}

void BlockingPool::loop() {
  while (true) {
    std::function<void()> work;
    {
      node::MutexLock lock(&mu_);
      while (queue_.empty()) {
        if (stopping_) return;  // what was queued before stop() has run
        ++idle_;
        work_.wait(&mu_);
        --idle_;
      }
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

void BlockingPool::stop() {
  std::vector<std::thread> threads;
  {
    node::MutexLock lock(&mu_);
    stopping_ = true;
    work_.signal_all();
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace server
