#include "raft/invariant.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace raft {
namespace {

void default_handler(std::string_view invariant, std::string_view file, int line) {
  std::fprintf(stderr, "raft: invariant broken at %.*s:%d: %.*s\n", static_cast<int>(file.size()),
               file.data(), line, static_cast<int>(invariant.size()), invariant.data());
  std::abort();
}

std::atomic<InvariantHandler> g_handler{&default_handler};

}  // namespace

InvariantHandler set_invariant_handler(InvariantHandler handler) {
  return g_handler.exchange(handler == nullptr ? &default_handler : handler);
}

void invariant_failed(std::string_view invariant, std::string_view file, int line) {
  g_handler.load()(invariant, file, line);
  std::abort();
}

}  // namespace raft
