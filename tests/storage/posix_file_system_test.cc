// The operating system's files: read_file returns every byte, whether the file's size
// is known up front or not (files in /proc say 0); read_written leaves out only a tail
// that was preallocated and never written; prepare writes zeros ahead of the appends.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "storage/file_system.h"

namespace storage {
namespace {

TEST(PosixFileSystem, ReadFileReturnsEveryByteOfFilesOfAnySize) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("posix-fs-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, size_t{4097}, size_t{(1 << 20) + 3}}) {
    std::string bytes(size, '\0');
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + 1);
    const std::string path = (dir / std::to_string(size)).string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(size));
    auto r = posix_file_system().read_file(path);
    ASSERT_TRUE(r.is_ok()) << r.status().message();
    EXPECT_EQ(r.value(), bytes) << size;
  }
  std::filesystem::remove_all(dir);
}

TEST(PosixFileSystem, AFileWhoseSizeIsUnknownIsReadToItsEnd) {
  auto r = posix_file_system().read_file("/proc/self/status");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_NE(r.value().find("Name:"), std::string::npos);
  EXPECT_NE(r.value().find("VmRSS"), std::string::npos);  // far past the first bytes
}

// A preallocated file with `data` written at each offset, synced.
std::string preallocated(const std::filesystem::path& path, uint64_t size,
                         const std::vector<std::pair<uint64_t, std::string>>& data) {
  auto f = posix_file_system().open_for_append(path.string(), 0, size);
  EXPECT_TRUE(f.is_ok());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  for (const auto& [offset, bytes] : data) {
    EXPECT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
              static_cast<ssize_t>(bytes.size()));
  }
  ::fsync(fd);
  ::close(fd);
  return path.string();
}

// Whether the file system reports a preallocated, unwritten tail as a hole (ext4, xfs,
// tmpfs do); where it does not, read_written reads the whole file.
bool reports_holes(const std::string& path, uint64_t size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const off_t hole = ::lseek(fd, 0, SEEK_HOLE);
  ::close(fd);
  return hole >= 0 && static_cast<uint64_t>(hole) < size;
}

TEST(PosixFileSystem, ReadWrittenLeavesOutOnlyTheUnwrittenTailOfAPreallocatedFile) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("posix-fs-w-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const uint64_t size = 8 << 20;
  const std::string records(10'000, 'r');
  // Records, then a region of zeros, then more bytes (as a damaged segment would have):
  // everything up to the last byte written comes back, the zeros between included.
  for (const auto& data : std::vector<std::vector<std::pair<uint64_t, std::string>>>{
           {{0, records}}, {{0, records}, {2 << 20, "late"}}, {}}) {
    const std::string path = preallocated(dir / std::to_string(data.size()), size, data);
    auto whole = posix_file_system().read_file(path);
    auto written = posix_file_system().read_written(path);
    ASSERT_TRUE(whole.is_ok() && written.is_ok()) << written.status().message();
    const std::string& w = written.value();
    // A prefix of the file, holding every byte written; only zeros follow it.
    ASSERT_LE(w.size(), size);
    EXPECT_EQ(w, whole.value().substr(0, w.size()));
    const uint64_t last = data.empty() ? 0 : data.back().first + data.back().second.size();
    EXPECT_GE(w.size(), last);
    EXPECT_EQ(whole.value().find_first_not_of('\0', w.size()), std::string::npos);
    if (reports_holes(path, size)) {
      EXPECT_LT(w.size(), (3u << 20)) << "the tail was read";
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(PosixFileSystem, ReadWrittenOfAFileWithoutHolesIsTheWholeFile) {
  auto r = posix_file_system().read_written("/proc/self/status");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_NE(r.value().find("VmRSS"), std::string::npos);
  auto missing = posix_file_system().read_written("/nonexistent/raftkv-file");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/raftkv-file"), std::string::npos);
}

// Where the first hole at or after 0 begins, once everything written is synced; -1 where
// the file system cannot tell.
off_t first_hole(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const off_t hole = ::lseek(fd, 0, SEEK_HOLE);
  ::close(fd);
  return hole;
}

TEST(PosixFileSystem, PrepareWritesZerosAheadOfTheAppendsWithinTheReservedSpaceOnly) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("posix-fs-p-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "segment").string();
  const uint64_t reserved = 1 << 20;
  auto f = posix_file_system().open_for_append(path, 0, reserved);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  WritableFile& file = *f.value();
  const bool holes = reports_holes(path, reserved);

  ASSERT_TRUE(file.append("abc").is_ok());
  ASSERT_TRUE(file.prepare(1000).is_ok());
  ASSERT_TRUE(file.append("def").is_ok());  // where it would have gone without prepare
  ASSERT_TRUE(file.sync().is_ok());
  if (holes) {
    // Written well past the appends (a chunk ahead), not all of the reserved space. Asked
    // before the file is read: pages read into the cache count as data to SEEK_HOLE.
    const off_t hole = first_hole(path);
    EXPECT_GE(hole, 3 + 1000 + (64 << 10));
    EXPECT_LT(static_cast<uint64_t>(hole), reserved);
  }
  auto bytes = posix_file_system().read_file(path);
  ASSERT_TRUE(bytes.is_ok());
  EXPECT_EQ(bytes.value().size(), reserved) << "the file did not grow";
  EXPECT_EQ(bytes.value().substr(0, 6), "abcdef");
  EXPECT_EQ(bytes.value().find_first_not_of('\0', 6), std::string::npos);

  // Never past the reserved size: a file that reserved nothing grows only by its appends.
  const std::string bare = (dir / "bare").string();
  auto g = posix_file_system().open_for_append(bare, 0, 0);
  ASSERT_TRUE(g.is_ok());
  ASSERT_TRUE(g.value()->append("xy").is_ok());
  ASSERT_TRUE(g.value()->prepare(100).is_ok());
  ASSERT_TRUE(g.value()->sync().is_ok());
  EXPECT_EQ(std::filesystem::file_size(bare), 2u);

  // Nor past a truncation: the space cut off is no longer reserved.
  ASSERT_TRUE(file.truncate(6).is_ok());
  ASSERT_TRUE(file.prepare(100).is_ok());
  ASSERT_TRUE(file.sync().is_ok());
  EXPECT_EQ(std::filesystem::file_size(path), 6u);
  std::filesystem::remove_all(dir);
}

TEST(PosixFileSystem, AMissingFileIsAnErrorNamingIt) {
  auto r = posix_file_system().read_file("/nonexistent/raftkv-file");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("/nonexistent/raftkv-file"), std::string::npos);
}

}  // namespace
}  // namespace storage
