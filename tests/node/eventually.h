// Bounded waiting for the node tests: poll a condition, never sleep for a result.
#pragma once

#include <chrono>
#include <thread>

namespace node {

// Waits for `pred`, polling every 5 ms, at most `limit`; the last answer.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(10'000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace node
