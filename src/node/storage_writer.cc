#include "node/storage_writer.h"

#include <chrono>
#include <utility>

#include "log/log.h"
#include "node/file_snapshot.h"
#include "node/node_metrics.h"
#include "node/planted_bugs.h"

namespace node {
namespace {

// etcd warns of an fdatasync above one second ("slow fdatasync"): the disk, not Raft, is
// then what delays every commit.
constexpr std::chrono::seconds kSlowSync(1);

}  // namespace

StorageWriter::StorageWriter(std::unique_ptr<storage::Wal> wal,
                             std::unique_ptr<storage::SnapshotStore> snaps,
                             std::function<void(ReadyJob)> durable,
                             std::function<void(SnapshotData)> saved, FatalHandler fatal,
                             NodeMetrics* metrics)
    : metrics_(metrics),
      wal_(std::move(wal)),
      snapshots_(std::move(snaps)),
      durable_(std::move(durable)),
      saved_(std::move(saved)),
      fatal_(std::move(fatal)),
      handle_([this](Job& job) { std::visit([this](auto& j) { write(j); }, job); }) {}

StorageWriter::~StorageWriter() { stop(); }

void StorageWriter::start() { queue_.start("raftkv-storage", handle_); }

void StorageWriter::stop() { queue_.stop(); }

void StorageWriter::persist(ReadyJob job) { queue_.push(std::move(job)); }

void StorageWriter::persist_here_if_idle(ReadyJob job) {
  Job item(std::move(job));
  if (!queue_.run_here_if_idle(item, handle_)) queue_.push(std::move(item));
}

absl::StatusOr<std::unique_ptr<transport::SnapshotSink>> StorageWriter::receive_snapshot(
    uint64_t index) {
  return file_sink(*snapshots_, index);
}

void StorageWriter::save_snapshot(std::shared_ptr<storage::SnapshotWriter> snapshot) {
  queue_.push(std::move(snapshot));
}

void StorageWriter::write(ReadyJob& job) {
  const raft::Ready& r = job.ready;
  if (r.snapshot.has_value()) {
    storage::Status s = save_snapshot_from(*snapshots_, *r.snapshot, *job.snapshot);
    if (s.is_ok()) s = wal_->install_snapshot(r.snapshot->last);
    if (!s.is_ok()) return fatal_("cannot store the snapshot from the leader: " + s.message());
    // What this member sends its own followers from now on: the file, not the bytes.
    auto file = open_file_snapshot(*snapshots_, r.snapshot->last.index.value());
    if (file.ok()) job.snapshot_file = *std::move(file);
  }
  const auto start = std::chrono::steady_clock::now();
  storage::Status s = wal_->append(r.entries, r.hard_state);
  const auto sync_start = std::chrono::steady_clock::now();
  if (planted::kAckBeforeFsync) {
    static auto last_sync = sync_start;
    if (s.is_ok() && sync_start - last_sync >= std::chrono::seconds(1)) {
      s = wal_->sync();
      last_sync = sync_start;
    }
  } else if (s.is_ok()) {
    s = wal_->sync();
  }
  if (!s.is_ok()) return fatal_("the log cannot be made durable: " + s.message());
  metrics_->wal_fsync.observe(seconds_since(start));
  if (const auto took = std::chrono::steady_clock::now() - sync_start; took > kSlowSync) {
    raftlog::warn(
        "storage", "slow fdatasync",
        {{"took", took}, {"expected-duration", kSlowSync}, {"entries", r.entries.size()}});
  }
  syncs_.fetch_add(1, std::memory_order_relaxed);
  durable_(std::move(job));
}

void StorageWriter::write(const std::shared_ptr<storage::SnapshotWriter>& snapshot) {
  const raft::SnapshotMeta& meta = snapshot->meta();
  storage::Status s = snapshot->commit();
  if (s.is_ok()) s = wal_->mark_snapshot(meta.last);
  if (!s.is_ok()) return fatal_("cannot write snapshot: " + s.message());
  syncs_.fetch_add(1, std::memory_order_relaxed);
  raftlog::debug("storage", "saved snapshot",
                 {{"index", meta.last.index.value()}, {"bytes", snapshot->size()}});
  auto file = open_file_snapshot(*snapshots_, meta.last.index.value());
  if (!file.ok())
    return fatal_("cannot read back snapshot: " + std::string(file.status().message()));
  saved_(SnapshotData{*std::move(file), meta});
}

}  // namespace node
