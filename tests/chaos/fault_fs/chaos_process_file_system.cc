// raftkv-chaos's file system: the POSIX one behind FaultFileSystem, controlled by the
// file RAFTKV_CHAOS_FAULTS names (no faults when it is unset). Linked in place of
// src/storage/process_file_system.cc.
#include <cstdlib>

#include "fault_file_system.h"

namespace storage {

FileSystem& posix_file_system() {
  static chaos::FaultFileSystem fs(make_posix_file_system(), [] {
    const char* control = std::getenv("RAFTKV_CHAOS_FAULTS");
    return std::string(control == nullptr ? "" : control);
  }());
  return fs;
}

}  // namespace storage
