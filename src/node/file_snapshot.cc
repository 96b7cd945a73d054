#include "node/file_snapshot.h"

#include <algorithm>
#include <string>
#include <string_view>
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

// The bytes received into a temporary file, read back; the file goes with the source.
class ReceivedFile : public transport::SnapshotSource {
 public:
  explicit ReceivedFile(std::unique_ptr<storage::ReceivedSnapshot> file) : file_(std::move(file)) {}
  uint64_t size() const override { return file_->size(); }
  absl::Status read(uint64_t offset, uint64_t n, std::string* out) const override {
    storage::Status s = file_->read(offset, n, out);
    if (s.is_ok()) return absl::OkStatus();
    return absl::DataLossError(s.message());
  }
  uint64_t bytes_in_memory() const override { return 0; }

 private:
  std::unique_ptr<storage::ReceivedSnapshot> file_;
};

class FileSink : public transport::SnapshotSink {
 public:
  explicit FileSink(std::unique_ptr<storage::ReceivedSnapshot> file) : file_(std::move(file)) {}
  absl::Status write(std::string_view bytes) override {
    if (file_ == nullptr) return absl::FailedPreconditionError("the snapshot is finished");
    storage::Status s = file_->append(bytes);
    if (s.is_ok()) return absl::OkStatus();
    return absl::UnavailableError(s.message());
  }
  absl::StatusOr<std::shared_ptr<const transport::SnapshotSource>> finish() override {
    if (file_ == nullptr) return absl::FailedPreconditionError("the snapshot is finished");
    if (storage::Status s = file_->finish(); !s.is_ok()) return absl::UnavailableError(s.message());
    return std::shared_ptr<const transport::SnapshotSource>(
        std::make_shared<const ReceivedFile>(std::move(file_)));
  }

 private:
  std::unique_ptr<storage::ReceivedSnapshot> file_;
};

// A source's bytes as restore_from() reads them.
class SourcePieces : public SnapshotPieces {
 public:
  explicit SourcePieces(const transport::SnapshotSource& data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  absl::StatusOr<std::string_view> next() override {
    const uint64_t n = std::min(kRestorePieceBytes, data_.size() - at_);
    if (n == 0) return std::string_view();
    if (absl::Status s = data_.read(at_, n, &piece_); !s.ok()) return s;
    at_ += n;
    return std::string_view(piece_);
  }

 private:
  const transport::SnapshotSource& data_;
  uint64_t at_ = 0;
  std::string piece_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<transport::SnapshotSink>> file_sink(storage::SnapshotStore& store,
                                                                   uint64_t index) {
  storage::StatusOr<std::unique_ptr<storage::ReceivedSnapshot>> file = store.receive(index);
  if (!file.is_ok()) return absl::UnavailableError(file.status().message());
  return std::unique_ptr<transport::SnapshotSink>(
      std::make_unique<FileSink>(std::move(file.value())));
}

storage::Status save_snapshot_from(storage::SnapshotStore& store, const raft::SnapshotMeta& meta,
                                   const transport::SnapshotSource& data) {
  storage::StatusOr<std::unique_ptr<storage::SnapshotWriter>> w = store.begin(meta);
  if (!w.is_ok()) return w.status();
  std::string piece;
  for (uint64_t at = 0; at < data.size(); at += piece.size()) {
    if (absl::Status s = data.read(at, std::min(kRestorePieceBytes, data.size() - at), &piece);
        !s.ok()) {
      return storage::Status(storage::Code::kIoError, std::string(s.message()));
    }
    if (storage::Status s = w.value()->append(piece); !s.is_ok()) return s;
  }
  return w.value()->commit();
}

absl::Status restore_from(StateMachine& sm, const transport::SnapshotSource& data) {
  SourcePieces pieces(data);
  return sm.restore_from(pieces);
}

absl::StatusOr<std::shared_ptr<const transport::SnapshotSource>> open_file_snapshot(
    storage::SnapshotStore& store, uint64_t index) {
  storage::StatusOr<std::unique_ptr<storage::SnapshotReader>> r = store.open(index);
  if (!r.is_ok()) return absl::DataLossError(r.status().message());
  return file_snapshot(std::move(r.value()));
}

std::shared_ptr<const transport::SnapshotSource> file_snapshot(
    std::unique_ptr<storage::SnapshotReader> reader) {
  return std::make_shared<const FileSnapshot>(std::move(reader));
}

}  // namespace node
