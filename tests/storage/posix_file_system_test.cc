// The operating system's files: read_file returns every byte, whether the file's size
// is known up front or not (files in /proc say 0).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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

TEST(PosixFileSystem, AMissingFileIsAnErrorNamingIt) {
  auto r = posix_file_system().read_file("/nonexistent/raftkv-file");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("/nonexistent/raftkv-file"), std::string::npos);
}

}  // namespace
}  // namespace storage
