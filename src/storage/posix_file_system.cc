#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "storage/file_system.h"

namespace storage {
namespace {

Status from_errno(const std::string& what, const std::string& path, int err) {
  return Status(err == ENOSPC ? Code::kNoSpace : Code::kIoError,
                what + " " + path + ": " + std::strerror(err));
}

// A read of `n` bytes at `offset` must lie within the file's `size` bytes.
Status check_range(const std::string& path, uint64_t offset, uint64_t n, uint64_t size) {
  if (offset <= size && n <= size - offset) return Status::ok();
  return Status(Code::kIoError, "read " + path + ": " + std::to_string(n) + " bytes at offset " +
                                    std::to_string(offset) + " run past its end (" +
                                    std::to_string(size) + " bytes)");
}

// A file read whole into memory, for file systems that have nothing better.
class BufferedFile : public ReadableFile {
 public:
  BufferedFile(std::string path, std::string bytes)
      : path_(std::move(path)), bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_.size(); }
  Status read_at(uint64_t offset, uint64_t n, std::string* out) const override {
    if (Status s = check_range(path_, offset, n, bytes_.size()); !s.is_ok()) return s;
    out->assign(bytes_, offset, n);
    return Status::ok();
  }

 private:
  std::string path_;
  std::string bytes_;
};

// How far ahead of the appends prepare() writes zeros: one fdatasync in this many bytes
// of records also writes the zeros back (a 256 KiB write), and none of the others
// updates the block map. On this project's VM (ext4) an fdatasync of 4 KB of records
// cost 187 us and 65 us of CPU into reserved blocks, 123-130 us and 41-44 us into
// zeroed ones (docs/benchmarks.md, "The eighth cut").
constexpr uint64_t kZeroAheadBytes = 256 << 10;

class PosixWritableFile : public WritableFile {
 public:
  // `reserved`: the file's size on disk (preallocated or written); prepare() writes
  // zeros only within it.
  PosixWritableFile(std::string path, int fd, uint64_t offset, uint64_t reserved)
      : path_(std::move(path)), fd_(fd), offset_(offset), zeroed_to_(offset), reserved_(reserved) {}
  ~PosixWritableFile() override { ::close(fd_); }

  Status append(std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset_ + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        offset_ += done;
        return from_errno("write to", path_, errno);
      }
      done += static_cast<size_t>(n);  // a short write: continue with the rest
    }
    offset_ += done;
    return Status::ok();
  }

  Status sync() override {
    if (::fdatasync(fd_) != 0) return from_errno("fdatasync", path_, errno);
    return Status::ok();
  }

  Status truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return from_errno("truncate", path_, errno);
    }
    offset_ = std::min(offset_, size);
    zeroed_to_ = std::min(zeroed_to_, size);
    reserved_ = std::min(reserved_, size);
    return sync();
  }

  Status prepare(uint64_t n) override {
    if (offset_ + n <= zeroed_to_) return Status::ok();  // written already
    // Zeros from where the appends end (or the zeros written before end) to a chunk past
    // what is about to be appended, within the reserved size (beyond it the file would
    // grow, which is the block map update this saves).
    const uint64_t from = std::max(zeroed_to_, offset_);
    const uint64_t to = std::min(offset_ + n + kZeroAheadBytes, reserved_);
    static const std::string zeros(64 << 10, '\0');
    for (uint64_t at = from; at < to;) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(to - at, zeros.size()));
      const ssize_t w = ::pwrite(fd_, zeros.data(), len, static_cast<off_t>(at));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return from_errno("write zeros to", path_, errno);
      at += static_cast<uint64_t>(w);
      zeroed_to_ = at;
    }
    zeroed_to_ = std::max(zeroed_to_, offset_ + n);  // what lies past `reserved` is the appends'
    return Status::ok();
  }

 private:
  std::string path_;
  int fd_;
  uint64_t offset_;     // where the next append goes
  uint64_t zeroed_to_;  // everything before here is written (records or zeros)
  uint64_t reserved_;   // the file's size on disk; prepare() stays within it
};

class PosixReadableFile : public ReadableFile {
 public:
  PosixReadableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixReadableFile() override { ::close(fd_); }

  uint64_t size() const override { return size_; }

  Status read_at(uint64_t offset, uint64_t n, std::string* out) const override {
    if (Status s = check_range(path_, offset, n, size_); !s.is_ok()) return s;
    out->resize(n);
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_, out->data() + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return from_errno("read", path_, errno);
      if (got == 0) return Status(Code::kIoError, "read " + path_ + ": the file shrank");
      done += static_cast<size_t>(got);
    }
    return Status::ok();
  }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixFileSystem : public FileSystem {
 public:
  StatusOr<std::unique_ptr<ReadableFile>> open_for_read(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return from_errno("open", path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      return from_errno("stat", path, err);
    }
    return std::unique_ptr<ReadableFile>(
        new PosixReadableFile(path, fd, static_cast<uint64_t>(st.st_size)));
  }

  StatusOr<std::unique_ptr<WritableFile>> open_for_append(const std::string& path, uint64_t offset,
                                                          uint64_t preallocate) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return from_errno("open", path, errno);
    if (preallocate > 0) {
      // Reserve the segment's blocks now, so that an fsync later does not also
      // have to update the file's size (prepare() then writes them ahead of the records,
      // so that it need not update the block map either).
      int err = ::posix_fallocate(fd, 0, static_cast<off_t>(preallocate));
      if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
        ::close(fd);
        return from_errno("preallocate", path, err);
      }
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return from_errno("stat", path, err);
    }
    return std::unique_ptr<WritableFile>(
        new PosixWritableFile(path, fd, offset, static_cast<uint64_t>(st.st_size)));
  }

  StatusOr<std::string> read_file(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return from_errno("open", path, errno);
    // One allocation of the file's size, read into directly: a WAL segment is 64 MiB
    // (preallocated), and growing a string 64 KiB at a time copied it over and over at
    // every start. A file that grows or shrinks meanwhile is read to its end all the same.
    struct stat st {};
    std::string out;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) out.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    char more[1 << 12];  // past the size fstat gave: read aside, so the end costs no copy
    for (;;) {
      const bool within = done < out.size();
      ssize_t n =
          within ? ::read(fd, out.data() + done, out.size() - done) : ::read(fd, more, sizeof more);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return from_errno("read", path, err);
      }
      if (n == 0) break;
      if (!within) out.append(more, static_cast<size_t>(n));
      done += static_cast<size_t>(n);
    }
    ::close(fd);
    out.resize(done);
    return out;
  }

  // SEEK_DATA finds each region holding data, SEEK_HOLE its end; what lies between two
  // regions reads as zeros and stays in (zeros in the middle of a segment are corruption
  // its reader must see). No region, or no data at all: an empty string.
  StatusOr<std::string> read_written(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return from_errno("open", path, errno);
    std::string out;
    off_t pos = 0;
    for (int regions = 0; regions < (1 << 20); ++regions) {
      const off_t data = ::lseek(fd, pos, SEEK_DATA);
      if (data < 0 && errno == ENXIO) break;  // no data at or after pos
      if (data < 0 && regions == 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
        ::close(fd);
        return read_file(path);  // this file system cannot tell
      }
      const off_t hole = data < 0 ? -1 : ::lseek(fd, data, SEEK_HOLE);
      if (data < 0 || hole < 0) {
        const int err = errno;
        ::close(fd);
        return from_errno("seek", path, err);
      }
      out.resize(static_cast<size_t>(hole));
      size_t done = 0;
      const size_t want = static_cast<size_t>(hole - data);
      while (done < want) {
        const ssize_t n =
            ::pread(fd, out.data() + data + done, want - done, data + static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          const int err = errno;
          ::close(fd);
          return from_errno("read", path, err);
        }
        if (n == 0) break;  // the file shrank meanwhile
        done += static_cast<size_t>(n);
      }
      if (done < want) {
        out.resize(static_cast<size_t>(data) + done);
        break;
      }
      pos = hole;
    }
    ::close(fd);
    return out;
  }

  StatusOr<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return from_errno("list", dir, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status create_dir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return from_errno("create directory", dir, errno);
    }
    return Status::ok();
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return from_errno("remove", path, errno);
    return Status::ok();
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return from_errno("rename", from, errno);
    return Status::ok();
  }

  Status sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return from_errno("open directory", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return from_errno("fsync directory", dir, err);
    return Status::ok();
  }
};

}  // namespace

StatusOr<std::unique_ptr<ReadableFile>> FileSystem::open_for_read(const std::string& path) {
  StatusOr<std::string> bytes = read_file(path);
  if (!bytes.is_ok()) return bytes.status();
  return std::unique_ptr<ReadableFile>(new BufferedFile(path, std::move(bytes.value())));
}

std::unique_ptr<FileSystem> make_posix_file_system() { return std::make_unique<PosixFileSystem>(); }

}  // namespace storage
