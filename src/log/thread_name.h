// Names the calling thread as `top -H`, `perf` and /proc/<pid>/task/*/comm show it: each
// runtime thread its own ("raftkv-core", "raftkv-storage", ...), so that a profile or a
// stuck process can be read thread by thread. Linux keeps at most 15 characters.
#pragma once

#include <pthread.h>

namespace raftlog {

inline void name_this_thread(const char* name) { (void)pthread_setname_np(pthread_self(), name); }

}  // namespace raftlog
