// The logging layer: each line is one JSON object with etcd's keys in etcd's order and
// the member name, values are escaped so any text parses, levels filter, every output
// gets every line, bad levels and outputs are refused by name, and the throttle lets one
// line per key and period through.
#include "log/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "log/throttle.h"

namespace raftlog {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// 2026-12-04T12:00:00.123Z
const std::chrono::system_clock::time_point kWhen =
    std::chrono::system_clock::from_time_t(1796385600) + milliseconds(123);

std::string line(std::string_view msg, std::initializer_list<Field> fields = {},
                 Level level = Level::kInfo) {
  return format_line(level, kWhen, "raft", msg, "n1", std::span<const Field>(fields));
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A fresh directory per test, removed after it; logging reset to its default.
class LogFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("raftkv-log-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    reset();
    std::filesystem::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

TEST(FormatLine, HasEveryKeyInEtcdsOrderWithTheMemberName) {
  EXPECT_EQ(line("elected leader", {{"term", 5}, {"id", "8e9e05c52164694d"}}),
            R"({"level":"info","ts":"2026-12-04T12:00:00.123Z","caller":"raft",)"
            R"("msg":"elected leader","name":"n1","term":5,"id":"8e9e05c52164694d"})");
}

TEST(FormatLine, NamesEachLevel) {
  EXPECT_NE(line("m", {}, Level::kDebug).find(R"({"level":"debug",)"), std::string::npos);
  EXPECT_NE(line("m", {}, Level::kWarn).find(R"({"level":"warn",)"), std::string::npos);
  EXPECT_NE(line("m", {}, Level::kError).find(R"({"level":"error",)"), std::string::npos);
}

TEST(FormatLine, EscapesQuotesBackslashesNewlinesAndControlCharacters) {
  EXPECT_EQ(line("say \"hi\"\\\n", {{"why", std::string("a\tb\rc\x01\x1f\x7f\b")}}),
            R"({"level":"info","ts":"2026-12-04T12:00:00.123Z","caller":"raft",)"
            R"("msg":"say \"hi\"\\\n","name":"n1","why":"a\tb\rc\u0001\u001f\u007f\u0008"})");
}

TEST(FormatLine, EscapesTheMemberNameComponentAndKeys) {
  const Field f("k\"ey", 1);
  EXPECT_EQ(format_line(Level::kInfo, kWhen, "com\"p", "m", "n\"1\n", std::span(&f, 1)),
            R"({"level":"info","ts":"2026-12-04T12:00:00.123Z","caller":"com\"p",)"
            R"("msg":"m","name":"n\"1\n","k\"ey":1})");
}

TEST(FormatLine, KeepsUtf8AndReplacesBytesThatAreNotUtf8) {
  // é (2 bytes), € (3), 𝄞 (4) stay; a lone continuation byte, a truncated sequence, an
  // overlong form and a surrogate become U+FFFD.
  const std::string text =
      "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e|\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80";
  const std::string out = line("m", {{"t", text}});
  EXPECT_NE(out.find(R"("t":"é€𝄞|\ufffd|\ufffd\ufffd|\ufffd\ufffd|\ufffd\ufffd\ufffd"})"),
            std::string::npos)
      << out;
}

TEST(FormatLine, WritesNumbersAndBooleansUnquoted) {
  const std::string out = line("m", {{"neg", -3},
                                     {"big", uint64_t{18446744073709551615u}},
                                     {"ok", true},
                                     {"ratio", 0.25},
                                     {"nan", std::nan("")}});
  EXPECT_NE(out.find(R"("neg":-3,"big":18446744073709551615,"ok":true,"ratio":0.25,"nan":"NaN"})"),
            std::string::npos)
      << out;
}

TEST(FormatLine, RenamesFieldsThatWouldRepeatAFixedKey) {
  const std::string out = line("m", {{"msg", "x"}, {"name", "y"}, {"level", 1}});
  EXPECT_NE(out.find(R"("name":"n1","field-msg":"x","field-name":"y","field-level":1})"),
            std::string::npos)
      << out;
}

TEST(FormatLine, WritesDurationsAsGoDoes) {
  EXPECT_EQ(line("m", {{"took", std::chrono::nanoseconds(0)}}).find(R"("took":"0s")") !=
                std::string::npos,
            true);
  auto took = [](std::chrono::nanoseconds d) {
    const std::string l = line("m", {{"took", d}});
    const size_t at = l.find(R"("took":")") + 8;
    return l.substr(at, l.size() - at - 2);
  };
  EXPECT_EQ(took(std::chrono::nanoseconds(999)), "999ns");
  EXPECT_EQ(took(std::chrono::nanoseconds(1'500)), "1.5\u00b5s");
  EXPECT_EQ(took(milliseconds(120)), "120ms");
  EXPECT_EQ(took(std::chrono::microseconds(100'250)), "100.25ms");
  EXPECT_EQ(took(std::chrono::nanoseconds(1'530'340'204)), "1.530340204s");
  EXPECT_EQ(took(seconds(90)), "1m30s");
  EXPECT_EQ(took(seconds(3600)), "1h0m0s");
  EXPECT_EQ(took(-milliseconds(5)), "-5ms");
}

TEST(FormatLine, WritesTimestampsInUtcWithMilliseconds) {
  const auto t = std::chrono::system_clock::from_time_t(0) + milliseconds(7);
  EXPECT_NE(
      format_line(Level::kInfo, t, "c", "m", "", {}).find(R"("ts":"1970-01-01T00:00:00.007Z")"),
      std::string::npos);
}

TEST(Levels, ParseTheFourNamesAndRefuseOthersByName) {
  EXPECT_EQ(*parse_level("debug"), Level::kDebug);
  EXPECT_EQ(*parse_level("info"), Level::kInfo);
  EXPECT_EQ(*parse_level("warn"), Level::kWarn);
  EXPECT_EQ(*parse_level("error"), Level::kError);
  absl::StatusOr<Level> bad = parse_level("bogus");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"bogus\""), std::string_view::npos) << bad.status();
  EXPECT_FALSE(parse_level("INFO").ok());
  EXPECT_FALSE(parse_level("").ok());
}

TEST(Outputs, SplitOnCommasAndRefuseAnEmptyList) {
  absl::StatusOr<std::vector<std::string>> two = parse_outputs("stderr, /tmp/a.log");
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, (std::vector<std::string>{"stderr", "/tmp/a.log"}));
  EXPECT_FALSE(parse_outputs("").ok());
  EXPECT_FALSE(parse_outputs(",,").ok());
}

TEST_F(LogFiles, AFileOutputGetsOneParsableLinePerCallWithTheMemberName) {
  ASSERT_TRUE(init({.level = Level::kInfo, .outputs = {path("a.log")}, .member_name = "n7"}).ok());
  info("raft", "first {} {0}", {{"term", 1}});  // braces are text, not a format
  warn("transport", "second\nline", {{"peer", hex_id(0x8e9e05c52164694dULL)}});
  const std::vector<std::string> lines = read_lines(path("a.log"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind(R"({"level":"info","ts":")", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(R"("caller":"raft","msg":"first {} {0}","name":"n7","term":1})"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find(R"("caller":"transport","msg":"second\nline","name":"n7",)"
                          R"("peer":"8e9e05c52164694d"})"),
            std::string::npos)
      << lines[1];
}

TEST_F(LogFiles, TheLevelFiltersLinesBelowIt) {
  ASSERT_TRUE(init({.level = Level::kWarn, .outputs = {path("a.log")}, .member_name = "n1"}).ok());
  EXPECT_FALSE(enabled(Level::kInfo));
  EXPECT_TRUE(enabled(Level::kWarn));
  debug("c", "d");
  info("c", "i");
  warn("c", "w");
  error("c", "e");
  const std::vector<std::string> lines = read_lines(path("a.log"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(R"("level":"warn")"), std::string::npos);
  EXPECT_NE(lines[1].find(R"("level":"error")"), std::string::npos);

  ASSERT_TRUE(init({.level = Level::kDebug, .outputs = {path("b.log")}, .member_name = "n1"}).ok());
  debug("c", "d");
  EXPECT_EQ(read_lines(path("b.log")).size(), 1u);
}

TEST_F(LogFiles, EveryOutputGetsEveryLineAndAFileNamedTwiceGetsItOnce) {
  ASSERT_TRUE(init({.level = Level::kInfo,
                    .outputs = {path("a.log"), path("b.log"), path("a.log")},
                    .member_name = "n2"})
                  .ok());
  EXPECT_FALSE(writes_to_stderr());
  info("c", "one");
  info("c", "two");
  const std::vector<std::string> a = read_lines(path("a.log"));
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(a, read_lines(path("b.log")));
}

TEST_F(LogFiles, AFileIsAppendedToNotTruncated) {
  { std::ofstream(path("a.log")) << "before\n"; }
  ASSERT_TRUE(init({.level = Level::kInfo, .outputs = {path("a.log")}, .member_name = "n"}).ok());
  info("c", "after");
  const std::vector<std::string> lines = read_lines(path("a.log"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "before");
}

TEST_F(LogFiles, AnOutputThatCannotBeOpenedIsRefusedByNameAndTheOldOutputsStay) {
  ASSERT_TRUE(init({.level = Level::kInfo, .outputs = {path("a.log")}, .member_name = "n"}).ok());
  { std::ofstream(path("file")) << "x"; }
  const std::string under_a_file = path("file") + "/x.log";
  absl::Status s = init({.level = Level::kInfo, .outputs = {under_a_file}, .member_name = "n"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(under_a_file), std::string_view::npos) << s;
  const std::string missing_dir = path("no-such-dir") + "/x.log";
  s = init({.level = Level::kInfo, .outputs = {missing_dir}, .member_name = "n"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(missing_dir), std::string_view::npos) << s;
  EXPECT_FALSE(std::filesystem::exists(path("no-such-dir")));
  s = init({.level = Level::kInfo, .outputs = {dir_.string()}, .member_name = "n"});
  EXPECT_FALSE(s.ok()) << "a directory is not a log file";
  info("c", "still here");
  EXPECT_EQ(read_lines(path("a.log")).size(), 1u);
}

TEST_F(LogFiles, LinesFromManyThreadsStayWholeWhileTheConfigurationChanges) {
  ASSERT_TRUE(init({.level = Level::kInfo, .outputs = {path("a.log")}, .member_name = "n"}).ok());
  constexpr int kThreads = 8, kLines = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLines; ++i) info("c", "line", {{"thread", t}, {"i", i}});
    });
  }
  // Re-initialising to the same file while they write loses and tears no line.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(init({.level = Level::kInfo, .outputs = {path("a.log")}, .member_name = "n"}).ok());
  }
  for (std::thread& t : threads) t.join();
  const std::vector<std::string> lines = read_lines(path("a.log"));
  ASSERT_EQ(lines.size(), size_t{kThreads * kLines});
  for (const std::string& l : lines) {
    ASSERT_EQ(l.rfind(R"({"level":"info","ts":")", 0), 0u) << l;
    ASSERT_NE(l.find(R"("msg":"line","name":"n","thread":)"), std::string::npos) << l;
    ASSERT_EQ(l.back(), '}') << l;
  }
}

TEST_F(LogFiles, BeforeInitLinesGoToStderrAtInfo) {
  reset();
  EXPECT_TRUE(writes_to_stderr());
  ::testing::internal::CaptureStderr();
  debug("c", "hidden");
  info("c", "shown", {{"k", "v"}});
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("hidden"), std::string::npos);
  EXPECT_NE(err.find(R"("caller":"c","msg":"shown","name":"","k":"v"})"), std::string::npos) << err;
}

TEST(Throttle, LetsOneLinePerKeyAndPeriodThroughAndCountsTheRest) {
  Throttle t(seconds(10));
  const auto t0 = Throttle::Clock::time_point() + seconds(100);
  uint64_t held = 99;
  EXPECT_TRUE(t.allow("peer-a", &held, t0));
  EXPECT_EQ(held, 0u);
  EXPECT_FALSE(t.allow("peer-a", &held, t0 + seconds(1)));
  EXPECT_FALSE(t.allow("peer-a", &held, t0 + seconds(9)));
  EXPECT_TRUE(t.allow("peer-b", &held, t0 + seconds(9))) << "keys are independent";
  EXPECT_TRUE(t.allow("peer-a", &held, t0 + seconds(10)));
  EXPECT_EQ(held, 2u);
  EXPECT_FALSE(t.allow("peer-a", &held, t0 + seconds(11)));
}

TEST(Throttle, RemembersABoundedNumberOfKeys) {
  Throttle t(seconds(10), 2);
  const auto t0 = Throttle::Clock::time_point() + seconds(100);
  EXPECT_TRUE(t.allow("a", nullptr, t0));
  EXPECT_TRUE(t.allow("b", nullptr, t0));
  EXPECT_FALSE(t.allow("c", nullptr, t0 + seconds(1))) << "full, and nothing has expired";
  EXPECT_TRUE(t.allow("c", nullptr, t0 + seconds(10))) << "the expired keys make room";
}

}  // namespace
}  // namespace raftlog
