#include "storage/mem_file_system.h"

#include <algorithm>

namespace storage {

class MemFileSystem::File : public WritableFile {
 public:
  File(MemFileSystem* fs, std::shared_ptr<Inode> inode)
      : fs_(fs), inode_(std::move(inode)), generation_(fs->generation_) {}

  Status append(std::string_view data) override {
    if (Status s = alive(); !s.is_ok()) return s;
    inode_->current += data;
    return Status::ok();
  }
  Status sync() override {
    if (Status s = alive(); !s.is_ok()) return s;
    inode_->durable = inode_->current;
    return Status::ok();
  }
  Status truncate(uint64_t size) override {
    if (Status s = alive(); !s.is_ok()) return s;
    if (inode_->current.size() > size) inode_->current.resize(size);
    inode_->durable = inode_->current;
    return Status::ok();
  }

 private:
  Status alive() const {
    if (generation_ != fs_->generation_) {
      return Status(Code::kIoError, "memfs: the file was open across a crash");
    }
    return Status::ok();
  }
  MemFileSystem* fs_;
  std::shared_ptr<Inode> inode_;
  uint64_t generation_;
};

std::string MemFileSystem::dir_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

StatusOr<std::unique_ptr<WritableFile>> MemFileSystem::open_for_append(const std::string& path,
                                                                       uint64_t offset, uint64_t) {
  if (!dirs_.contains(dir_of(path))) {
    return Status(Code::kIoError, "memfs: no directory " + dir_of(path) + " for " + path);
  }
  auto it = names_.find(path);
  if (it == names_.end()) {
    const uint64_t id = next_inode_++;
    inodes_[id] = std::make_shared<Inode>();
    it = names_.emplace(path, id).first;
  }
  std::shared_ptr<Inode> inode = inodes_.at(it->second);
  // Writing resumes at `offset`: whatever lies beyond it is overwritten, so it goes.
  if (inode->current.size() > offset) inode->current.resize(offset);
  if (inode->current.size() < offset) inode->current.resize(offset, '\0');
  return std::unique_ptr<WritableFile>(new File(this, inode));
}

StatusOr<std::string> MemFileSystem::read_file(const std::string& path) {
  auto it = names_.find(path);
  if (it == names_.end()) return Status(Code::kIoError, "memfs: no file " + path);
  return inodes_.at(it->second)->current;
}

StatusOr<std::vector<std::string>> MemFileSystem::list(const std::string& dir) {
  if (!dirs_.contains(dir)) return Status(Code::kIoError, "memfs: no directory " + dir);
  std::vector<std::string> out;
  for (const auto& [path, id] : names_) {
    if (dir_of(path) == dir) out.push_back(path.substr(dir.size() + 1));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status MemFileSystem::create_dir(const std::string& dir) {
  dirs_.insert(dir);  // directories themselves are durable at once (a simplification)
  return Status::ok();
}

Status MemFileSystem::remove(const std::string& path) {
  if (names_.erase(path) == 0) return Status(Code::kIoError, "memfs: no file " + path);
  return Status::ok();
}

Status MemFileSystem::rename(const std::string& from, const std::string& to) {
  auto it = names_.find(from);
  if (it == names_.end()) return Status(Code::kIoError, "memfs: no file " + from);
  const uint64_t id = it->second;
  names_.erase(it);
  names_[to] = id;
  return Status::ok();
}

Status MemFileSystem::sync_dir(const std::string& dir) {
  for (auto it = durable_names_.begin(); it != durable_names_.end();) {
    it = dir_of(it->first) == dir ? durable_names_.erase(it) : std::next(it);
  }
  for (const auto& [path, id] : names_) {
    if (dir_of(path) == dir) durable_names_[path] = id;
  }
  return Status::ok();
}

void MemFileSystem::crash(const std::function<uint64_t(uint64_t)>& pick) {
  ++generation_;
  names_ = durable_names_;
  for (auto it = inodes_.begin(); it != inodes_.end();) {
    bool named = false;
    for (const auto& [path, id] : names_) named = named || id == it->first;
    if (!named) {
      it = inodes_.erase(it);
      continue;
    }
    Inode& f = *it->second;
    const bool extends = f.current.size() > f.durable.size() &&
                         f.current.compare(0, f.durable.size(), f.durable) == 0;
    if (extends) {
      const uint64_t extra = f.current.size() - f.durable.size();
      const uint64_t keep = std::min(extra, pick(extra));
      f.current.resize(f.durable.size() + keep);
    } else {
      f.current = f.durable;
    }
    f.durable = f.current;
    ++it;
  }
}

uint64_t MemFileSystem::unsynced_bytes() const {
  uint64_t n = 0;
  for (const auto& [id, f] : inodes_) {
    if (f->current.size() > f->durable.size()) n += f->current.size() - f->durable.size();
  }
  return n;
}

}  // namespace storage
