// StorageWriter: the storage thread. It alone writes the WAL and the snapshot files once
// the node runs: each Ready's entries and hard state are appended and fsynced once per
// batch (group commit), a snapshot received from the leader is stored before the log
// restarts after it, and snapshots of the local state machine are saved and the log
// compacted behind them. A failed write or fsync is fatal (the page cache may have lost
// acknowledged data); the node's fatal handler runs.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <variant>

#include "node/node_metrics.h"
#include "node/ready_job.h"
#include "node/work_queue.h"
#include "storage/snapshot_file.h"
#include "storage/wal.h"

namespace node {

class StorageWriter {
 public:
  // `durable` runs on the storage thread after each persisted job, `saved` after each
  // local snapshot is committed.
  StorageWriter(std::unique_ptr<storage::Wal> wal, std::unique_ptr<storage::SnapshotStore> snaps,
                std::function<void(ReadyJob)> durable, std::function<void(SnapshotData)> saved,
                FatalHandler fatal, NodeMetrics* metrics);
  ~StorageWriter();

  void start();
  // Stops the thread; queued work is dropped (its waiters fail through the tracker).
  void stop();
  // Takes no more work, without waiting for the thread: any thread (RaftNode::halt).
  void halt() { queue_.halt(); }

  // Any thread: queue a Ready to persist (then `durable` gets it), or a local snapshot
  // to commit (then `saved` gets it, read from its file).
  void persist(ReadyJob job);
  // As persist(), but the Ready is written and synced on the calling thread (and
  // `durable` called there) when the storage thread has nothing queued or in hand, as
  // etcd's raft loop saves each Ready itself: the core thread, which makes every Ready,
  // then hands nothing over and waits for no wake-up on the way to the acknowledgement
  // (issue 19). Else queued behind what is there, in order.
  void persist_here_if_idle(ReadyJob job);
  void save_snapshot(std::shared_ptr<storage::SnapshotWriter> snapshot);
  // Any thread (the transport's): a sink for the bytes of snapshot `index` arriving from
  // the leader, a temporary file of the snapshot directory (file_snapshot.h).
  absl::StatusOr<std::unique_ptr<transport::SnapshotSink>> receive_snapshot(uint64_t index);

  // fsyncs so far (for status and metrics). Any thread.
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  // Jobs waiting for the storage thread. Any thread.
  size_t queue_depth() const { return queue_.size(); }

 private:
  using Job = std::variant<ReadyJob, std::shared_ptr<storage::SnapshotWriter>>;
  void write(ReadyJob& job);
  void write(const std::shared_ptr<storage::SnapshotWriter>& snapshot);

  NodeMetrics* const metrics_;
  // Storage thread only, after start().
  const std::unique_ptr<storage::Wal> wal_;
  const std::unique_ptr<storage::SnapshotStore> snapshots_;
  const std::function<void(ReadyJob)> durable_;
  const std::function<void(SnapshotData)> saved_;
  const FatalHandler fatal_;

  std::atomic<uint64_t> syncs_{0};
  WorkQueue<Job> queue_;              // the storage thread
  std::function<void(Job&)> handle_;  // what it does with each job
};

}  // namespace node
