// The file system this process stores its data on (see file_system.h): alone in its file
// so that the chaos harness's build can link another definition in its place.
#include "storage/file_system.h"

namespace storage {

FileSystem& posix_file_system() {
  static const std::unique_ptr<FileSystem> fs = make_posix_file_system();
  return *fs;
}

}  // namespace storage
