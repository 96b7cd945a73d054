// The member identity file (docs/storage-format.md): kept once, read back exactly, and
// any other content refused naming the file.
#include "server/member_identity.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace server {
namespace {

class MemberIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("member-identity-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& text) {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "member") << text;
  }
  std::filesystem::path dir_;
};

TEST_F(MemberIdentityTest, IsKeptAndReadBack) {
  EXPECT_TRUE(is_new_data_dir(dir_));
  ASSERT_FALSE(read_identity(dir_)->has_value());
  const MemberIdentity id{.member_id = 0x8e9e05c52164694d, .cluster_id = 0xcdf818194e3a8c32};
  ASSERT_TRUE(write_identity(dir_, id).ok());
  absl::StatusOr<std::optional<MemberIdentity>> back = read_identity(dir_);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(**back, id);
  EXPECT_FALSE(is_new_data_dir(dir_));
  std::ifstream in(dir_ / "member");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "member-id=8e9e05c52164694d\ncluster-id=cdf818194e3a8c32\n");
}

TEST_F(MemberIdentityTest, ADirectoryWithOnlyTlsCopiesIsNew) {
  std::filesystem::create_directories(dir_ / "tls" / "client");
  EXPECT_TRUE(is_new_data_dir(dir_));
}

TEST_F(MemberIdentityTest, AnyOtherContentIsRefusedNamingTheFile) {
  for (const std::string& text : {
           std::string(""),
           std::string("member-id=8e9e05c52164694d\n"),
           std::string("member-id=0000000000000000\ncluster-id=cdf818194e3a8c32\n"),
           std::string("member-id=8E9E05C52164694D\ncluster-id=cdf818194e3a8c32\n"),
           std::string("member-id=8e9e05c5216469\ncluster-id=cdf818194e3a8c32\n"),
           std::string("cluster-id=cdf818194e3a8c32\nmember-id=8e9e05c52164694d\n"),
           std::string("member-id=8e9e05c52164694d\ncluster-id=cdf818194e3a8c32\nextra\n"),
       }) {
    write(text);
    absl::StatusOr<std::optional<MemberIdentity>> r = read_identity(dir_);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(r.status().message().find((dir_ / "member").string()), std::string::npos)
        << r.status();
  }
}

}  // namespace
}  // namespace server
