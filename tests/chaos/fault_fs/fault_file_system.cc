#include "fault_file_system.h"

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace chaos {
namespace {

using storage::Code;
using storage::Status;
using storage::StatusOr;

class FaultFile : public storage::WritableFile {
 public:
  FaultFile(FaultFileSystem* fs, std::string path, std::unique_ptr<storage::WritableFile> inner)
      : fs_(fs), path_(std::move(path)), inner_(std::move(inner)) {
    fs_->register_file(path_, [this] { return flush(); });
  }
  ~FaultFile() override { fs_->unregister_file(path_); }

  Status append(std::string_view data) override {
    if (!fs_->lazy()) {
      if (Status s = flush(); !s.is_ok()) return s;
      return inner_->append(data);
    }
    std::lock_guard<std::mutex> lock(mu_);
    pending_.append(data);
    return Status::ok();
  }

  Status sync() override {
    if (fs_->before_sync(path_)) {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.clear();  // the dirty pages are gone
      return Status(Code::kIoError, "fdatasync " + path_ + ": Input/output error (injected)");
    }
    if (Status s = flush(); !s.is_ok()) return s;
    return inner_->sync();
  }

  Status truncate(uint64_t size) override {
    if (Status s = flush(); !s.is_ok()) return s;
    return inner_->truncate(size);
  }

  // Zeros where the pending appends and the next `n` bytes will go: what a lost pending
  // write leaves there reads as zeros, as it would have anyway.
  Status prepare(uint64_t n) override {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_->prepare(pending_.size() + n);
  }

  Status flush() {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.empty()) return Status::ok();
    Status s = inner_->append(pending_);
    pending_.clear();
    return s;
  }

 private:
  FaultFileSystem* fs_;
  std::string path_;
  std::unique_ptr<storage::WritableFile> inner_;
  std::mutex mu_;
  std::string pending_;
};

}  // namespace

Faults parse_faults(const std::string& text, const std::function<void(std::string)>& error) {
  Faults f;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    const std::string key = line.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : line.substr(eq + 1);
    if (key == "lazy" && (value == "0" || value == "1")) {
      f.lazy = value == "1";
    } else if (key == "fsync_delay_ms" && !value.empty() &&
               value.find_first_not_of("0123456789") == std::string::npos && value.size() <= 6) {
      f.fsync_delay_ms = std::stoi(value);
    } else if (key == "fsync_fail" && (value == "0" || value == "once" || value == "always")) {
      f.fsync_fail = value == "once"     ? Faults::Fail::kOnce
                     : value == "always" ? Faults::Fail::kAlways
                                         : Faults::Fail::kNo;
    } else {
      error("chaos faults: ignoring the line \"" + line + "\"");
    }
  }
  return f;
}

FaultFileSystem::FaultFileSystem(std::unique_ptr<storage::FileSystem> inner, std::string control,
                                 std::function<void(int)> sleep)
    : inner_(std::move(inner)), control_(std::move(control)), sleep_(std::move(sleep)) {
  if (!sleep_) {
    sleep_ = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  }
}

Faults FaultFileSystem::faults() {
  if (control_.empty()) return {};
  std::ifstream in(control_);
  std::stringstream text;
  if (in) text << in.rdbuf();
  std::lock_guard<std::mutex> lock(mu_);
  if (text.str() != control_seen_) {
    control_seen_ = text.str();
    faults_ = parse_faults(control_seen_, [](const std::string& e) { std::cerr << e << "\n"; });
    once_fired_ = false;  // a new `once` (or none)
  }
  return faults_;
}

bool FaultFileSystem::lazy() {
  std::lock_guard<std::mutex> lock(mu_);
  return faults_.lazy;
}

bool FaultFileSystem::before_sync(const std::string& path) {
  const Faults f = faults();
  if (f.fsync_delay_ms > 0) sleep_(f.fsync_delay_ms);
  bool fail = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (f.fsync_fail == Faults::Fail::kAlways ||
        (f.fsync_fail == Faults::Fail::kOnce && !once_fired_)) {
      fail = true;
      once_fired_ = true;
    }
  }
  if (fail) std::ofstream(control_ + ".fired", std::ios::app) << "fsync failed: " << path << "\n";
  return fail;
}

void FaultFileSystem::register_file(const std::string& path,
                                    std::function<storage::Status()> flush) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.emplace_back(path, std::move(flush));
}

void FaultFileSystem::unregister_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = open_.begin(); it != open_.end(); ++it) {
    if (it->first == path) {
      open_.erase(it);
      return;
    }
  }
}

Status FaultFileSystem::flush_pending(const std::string& path) {
  std::vector<std::function<Status()>> flushes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [p, flush] : open_) {
      if (p == path) flushes.push_back(flush);
    }
  }
  for (const auto& flush : flushes) {
    if (Status s = flush(); !s.is_ok()) return s;
  }
  return Status::ok();
}

StatusOr<std::unique_ptr<storage::WritableFile>> FaultFileSystem::open_for_append(
    const std::string& path, uint64_t offset, uint64_t preallocate) {
  faults();  // a new file sees the faults in force
  auto f = inner_->open_for_append(path, offset, preallocate);
  if (!f.is_ok()) return f.status();
  return std::unique_ptr<storage::WritableFile>(
      std::make_unique<FaultFile>(this, path, std::move(f.value())));
}

StatusOr<std::string> FaultFileSystem::read_file(const std::string& path) {
  if (Status s = flush_pending(path); !s.is_ok()) return s;
  return inner_->read_file(path);
}

StatusOr<std::string> FaultFileSystem::read_written(const std::string& path) {
  if (Status s = flush_pending(path); !s.is_ok()) return s;
  return inner_->read_written(path);
}

StatusOr<std::unique_ptr<storage::ReadableFile>> FaultFileSystem::open_for_read(
    const std::string& path) {
  if (Status s = flush_pending(path); !s.is_ok()) return s;
  return inner_->open_for_read(path);
}

StatusOr<std::vector<std::string>> FaultFileSystem::list(const std::string& dir) {
  return inner_->list(dir);
}
Status FaultFileSystem::create_dir(const std::string& dir) { return inner_->create_dir(dir); }
Status FaultFileSystem::remove(const std::string& path) { return inner_->remove(path); }
Status FaultFileSystem::rename(const std::string& from, const std::string& to) {
  if (Status s = flush_pending(from); !s.is_ok()) return s;
  return inner_->rename(from, to);
}
Status FaultFileSystem::sync_dir(const std::string& dir) { return inner_->sync_dir(dir); }

}  // namespace chaos
