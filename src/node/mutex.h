// The runtime's mutex and condition variable: std::mutex and std::condition_variable
// with clang's thread-safety annotations. Why not absl::Mutex: Debian's abseil is not
// built for ThreadSanitizer, so TSan cannot see the ordering its Mutex provides and
// reports every guarded access as a race; the standard ones go through pthreads, which
// TSan understands. Why not the standard ones bare: libstdc++'s carry no annotations, so
// clang could not check ABSL_GUARDED_BY (scripts/check-thread-safety.sh).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace node {

class ABSL_LOCKABLE Mutex {
 public:
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  // Tells the analysis that this mutex is held (it cannot see through an alias).
  void assert_held() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// Waits release `mu` and hold it again when they return; a wake-up may be spurious, so
// callers wait in a loop on their condition.
class CondVar {
 public:
  void wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  template <typename Clock, typename Duration>
  void wait_until(Mutex* mu, std::chrono::time_point<Clock, Duration> at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait_until(lock, at);
    lock.release();
  }
  void signal() { cv_.notify_one(); }
  void signal_all() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace node
