#include "transport/transport.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/cord.h"

namespace transport {
namespace {
constexpr char kUnreachableUrl[] = "type.raftkv.io/transport.Unreachable";

class MemorySnapshot : public SnapshotSource {
 public:
  explicit MemorySnapshot(std::shared_ptr<const std::string> bytes) : bytes_(std::move(bytes)) {}
  uint64_t size() const override { return bytes_->size(); }
  absl::Status read(uint64_t offset, uint64_t n, std::string* out) const override {
    if (offset > bytes_->size() || n > bytes_->size() - offset) {
      return absl::OutOfRangeError(std::to_string(n) + " bytes at " + std::to_string(offset) +
                                   " run past the snapshot's " + std::to_string(bytes_->size()));
    }
    out->assign(*bytes_, offset, n);
    return absl::OkStatus();
  }
  uint64_t bytes_in_memory() const override { return bytes_->size(); }

 private:
  std::shared_ptr<const std::string> bytes_;
};

class MemorySink : public SnapshotSink {
 public:
  absl::Status write(std::string_view bytes) override {
    bytes_.append(bytes);
    return absl::OkStatus();
  }
  absl::StatusOr<std::shared_ptr<const SnapshotSource>> finish() override {
    return memory_snapshot(std::make_shared<const std::string>(std::move(bytes_)));
  }

 private:
  std::string bytes_;
};

}  // namespace

std::unique_ptr<SnapshotSink> memory_sink() { return std::make_unique<MemorySink>(); }

std::shared_ptr<const SnapshotSource> memory_snapshot(std::shared_ptr<const std::string> bytes) {
  return std::make_shared<const MemorySnapshot>(std::move(bytes));
}

absl::StatusOr<std::string> read_all(const SnapshotSource& source) {
  std::string out;
  if (absl::Status s = source.read(0, source.size(), &out); !s.ok()) return s;
  return out;
}

absl::Status unreachable_error(std::string_view detail) {
  absl::Status s = absl::UnavailableError(std::string(detail));
  s.SetPayload(kUnreachableUrl, absl::Cord("1"));
  return s;
}

namespace {
thread_local bool polling_thread = false;
}  // namespace

bool must_not_block() { return polling_thread; }

void mark_must_not_block() { polling_thread = true; }

bool is_unreachable(const absl::Status& status) {
  return status.GetPayload(kUnreachableUrl).has_value();
}

}  // namespace transport
