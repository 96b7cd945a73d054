// Tests that read what was logged: a fresh log file in /tmp that raftlog writes to (at
// info level, lines naming `member`), read back by the text a line contains. The file
// goes, and logging returns to its default, when this does.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "log/log.h"

namespace raftlog_test {

class LogFile {
 public:
  // `ok()` says whether raftlog took the file (assert it).
  LogFile(const std::string& test, const std::string& member)
      : path_(std::filesystem::temp_directory_path() /
              ("raftkv-" + test + "-" + std::to_string(::getpid()) + ".log")) {
    std::filesystem::remove(path_);
    ok_ = raftlog::init(
              {.level = raftlog::Level::kInfo, .outputs = {path_.string()}, .member_name = member})
              .ok();
  }
  ~LogFile() {
    raftlog::reset();
    std::filesystem::remove(path_);
  }
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  bool ok() const { return ok_; }
  // The lines holding `text`, in order.
  std::vector<std::string> lines_with(const std::string& text) const {
    std::vector<std::string> out;
    std::ifstream in(path_);
    for (std::string l; std::getline(in, l);) {
      if (l.find(text) != std::string::npos) out.push_back(l);
    }
    return out;
  }

 private:
  std::filesystem::path path_;
  bool ok_ = false;
};

}  // namespace raftlog_test
