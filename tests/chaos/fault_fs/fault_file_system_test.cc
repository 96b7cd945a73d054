#include "fault_file_system.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "storage/mem_file_system.h"
#include "storage/snapshot_file.h"

namespace chaos {
namespace {

class FaultFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fault-fs-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    control_ = (dir_ / "faults").string();
    auto mem = std::make_unique<storage::MemFileSystem>();
    mem_ = mem.get();
    fs_ = std::make_unique<FaultFileSystem>(std::move(mem), control_,
                                            [this](int ms) { slept_ms_ += ms; });
    ASSERT_TRUE(fs_->create_dir("/d").is_ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void control(const std::string& text) { std::ofstream(control_) << text; }
  std::string on_disk(const std::string& path) {
    auto r = mem_->read_file(path);
    return r.is_ok() ? r.value() : "<" + r.status().message() + ">";
  }

  std::filesystem::path dir_;
  std::string control_;
  storage::MemFileSystem* mem_ = nullptr;
  std::unique_ptr<FaultFileSystem> fs_;
  int slept_ms_ = 0;
};

TEST_F(FaultFileSystemTest, WithoutFaultsEveryAppendGoesThrough) {
  auto f = fs_->open_for_append("/d/a", 0, 0);
  ASSERT_TRUE(f.is_ok());
  ASSERT_TRUE(f.value()->append("abc").is_ok());
  EXPECT_EQ(on_disk("/d/a"), "abc");
  ASSERT_TRUE(f.value()->sync().is_ok());
  EXPECT_EQ(slept_ms_, 0);
}

TEST_F(FaultFileSystemTest, LazyKeepsUnsyncedBytesInMemoryUntilSync) {
  control("lazy=1\n");
  auto f = fs_->open_for_append("/d/a", 0, 0);
  ASSERT_TRUE(f.is_ok());
  ASSERT_TRUE(f.value()->append("abc").is_ok());
  EXPECT_EQ(on_disk("/d/a"), "");  // a SIGKILL now loses it
  ASSERT_TRUE(f.value()->sync().is_ok());
  EXPECT_EQ(on_disk("/d/a"), "abc");
  ASSERT_TRUE(f.value()->append("def").is_ok());
  f = storage::Status::ok();  // the process "dies": the file object goes, unsynced
  EXPECT_EQ(on_disk("/d/a"), "abc");
}

TEST_F(FaultFileSystemTest, AReadSeesUnsyncedBytesAsThePageCacheWould) {
  control("lazy=1\n");
  auto f = fs_->open_for_append("/d/a", 0, 0);
  ASSERT_TRUE(f.value()->append("abc").is_ok());
  auto r = fs_->read_file("/d/a");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r.value(), "abc");
}

// A snapshot received from the leader is written without an fsync and read back: with
// lazy writes it must still read back whole. It read back empty (chaos.short, seed
// 991576298: a re-added member dropped every snapshot the leader sent, "holds 0 bytes,
// not the 1119795 written", and never caught up).
TEST_F(FaultFileSystemTest, AReceivedSnapshotReadsBackWholeWithLazyWrites) {
  control("lazy=1\n");
  storage::SnapshotStore store(*fs_, "/d/snap");
  auto r = store.receive(7);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_TRUE(r.value()->append("first ").is_ok());
  ASSERT_TRUE(r.value()->append("second").is_ok());
  ASSERT_TRUE(r.value()->finish().is_ok());
  std::string back;
  ASSERT_TRUE(r.value()->read(0, 12, &back).is_ok());
  EXPECT_EQ(back, "first second");
}

TEST_F(FaultFileSystemTest, ASlowFsyncWaitsAndTheControlFileIsReadAgainWhenItChanges) {
  control("fsync_delay_ms=250\n");
  auto f = fs_->open_for_append("/d/a", 0, 0);
  ASSERT_TRUE(f.value()->sync().is_ok());
  ASSERT_TRUE(f.value()->sync().is_ok());
  EXPECT_EQ(slept_ms_, 500);
  control("fsync_delay_ms=0\n");
  ASSERT_TRUE(f.value()->sync().is_ok());
  EXPECT_EQ(slept_ms_, 500);
}

TEST_F(FaultFileSystemTest, AFailedFsyncFailsOnceDropsItsBytesAndSaysSo) {
  control("lazy=1\nfsync_fail=once\n");
  auto f = fs_->open_for_append("/d/a", 0, 0);
  ASSERT_TRUE(f.value()->append("lost").is_ok());
  storage::Status s = f.value()->sync();
  EXPECT_EQ(s.code(), storage::Code::kIoError);
  EXPECT_NE(s.message().find("/d/a"), std::string::npos) << s.message();
  EXPECT_EQ(on_disk("/d/a"), "");
  std::ifstream fired(control_ + ".fired");
  std::string line;
  ASSERT_TRUE(std::getline(fired, line));
  EXPECT_NE(line.find("/d/a"), std::string::npos);
  // Once: the next sync works.
  ASSERT_TRUE(f.value()->append("kept").is_ok());
  ASSERT_TRUE(f.value()->sync().is_ok());
  EXPECT_EQ(on_disk("/d/a"), "kept");
  control("fsync_fail=always\n");
  EXPECT_FALSE(f.value()->sync().is_ok());
  EXPECT_FALSE(f.value()->sync().is_ok());
}

TEST(ParseFaults, EveryKeyAndABadLineNamed) {
  std::vector<std::string> errors;
  Faults f = parse_faults(
      "lazy=1\nfsync_delay_ms=30\nfsync_fail=always\n# note\nspeed=fast\n"
      "fsync_delay_ms=-1\n",
      [&](std::string e) { errors.push_back(std::move(e)); });
  EXPECT_TRUE(f.lazy);
  EXPECT_EQ(f.fsync_delay_ms, 30);
  EXPECT_EQ(f.fsync_fail, Faults::Fail::kAlways);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("speed=fast"), std::string::npos);
}

}  // namespace
}  // namespace chaos
