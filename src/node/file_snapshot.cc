#include "node/file_snapshot.h"

#include <string>
#include <utility>

namespace node {
namespace {

class FileSnapshot : public transport::SnapshotSource {
 public:
  explicit FileSnapshot(std::unique_ptr<storage::SnapshotReader> reader)
      : reader_(std::move(reader)) {}
  uint64_t size() const override { return reader_->size(); }
  absl::Status read(uint64_t offset, uint64_t n, std::string* out) const override {
    storage::Status s = reader_->read(offset, n, out);
    if (s.is_ok()) return absl::OkStatus();
    return absl::DataLossError(s.message());
  }
  uint64_t bytes_in_memory() const override { return 0; }

 private:
  std::unique_ptr<storage::SnapshotReader> reader_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const transport::SnapshotSource>> open_file_snapshot(
    storage::SnapshotStore& store, uint64_t index) {
  storage::StatusOr<std::unique_ptr<storage::SnapshotReader>> r = store.open(index);
  if (!r.is_ok()) return absl::DataLossError(r.status().message());
  return std::shared_ptr<const transport::SnapshotSource>(
      std::make_shared<const FileSnapshot>(std::move(r.value())));
}

}  // namespace node
