#include "node/recovery.h"

#include <string>

#include "log/log.h"
#include "node/file_snapshot.h"
#include "raft/codec.h"
#include "storage/file_system.h"

namespace node {
namespace {

std::string n(uint64_t v) { return std::to_string(v); }

absl::Status create_dirs(storage::FileSystem& fs, const std::string& data_dir) {
  for (const std::string& dir : {data_dir, data_dir + "/wal", data_dir + "/snap"}) {
    if (storage::Status s = fs.create_dir(dir); !s.is_ok()) {
      return absl::FailedPreconditionError("cannot create " + dir + ": " + s.message());
    }
  }
  return absl::OkStatus();
}

// The latest snapshot file, restored into `sm`; none on a new node.
absl::Status recover_snapshot(const NodeConfig& config, storage::SnapshotStore& store,
                              StateMachine* sm, SnapshotData* out) {
  if (storage::Status s = store.remove_temporaries(); !s.is_ok()) {
    return absl::DataLossError("cannot clear unfinished snapshots: " + s.message());
  }
  auto listed = store.list();
  if (!listed.is_ok()) return absl::DataLossError(listed.status().message());
  if (listed.value().empty()) return absl::OkStatus();
  // Verified and restored a piece at a time: the snapshot is never held whole here.
  auto latest = store.open_latest();
  if (!latest.is_ok()) return absl::DataLossError(latest.status().message());
  const raft::SnapshotMeta meta = latest.value()->meta();
  std::shared_ptr<const transport::SnapshotSource> file = file_snapshot(std::move(latest.value()));
  if (absl::Status s = restore_from(*sm, *file); !s.ok()) {
    return absl::DataLossError("snapshot " + n(meta.last.index.value()) + " in " + config.data_dir +
                               "/snap: " + std::string(s.message()));
  }
  out->meta = meta;
  out->source = std::move(file);  // kept as its file for the followers
  return absl::OkStatus();
}

// Keeps the entries after the snapshot; they must follow it without a gap.
absl::Status join_log(const NodeConfig& config, raft::LogIndex snap_index,
                      storage::Recovered& log) {
  const std::string dir = config.data_dir + "/wal";
  if (log.snapshot.index > snap_index) {
    return absl::DataLossError("the log in " + dir + " was compacted up to entry " +
                               n(log.snapshot.index.value()) + " but no snapshot file covers it");
  }
  std::erase_if(log.entries, [&](const raft::Entry& e) { return e.index <= snap_index; });
  if (!log.entries.empty() && log.entries.front().index != snap_index.next()) {
    return absl::DataLossError("the log in " + dir + " starts at entry " +
                               n(log.entries.front().index.value()) + " but the snapshot ends at " +
                               n(snap_index.value()));
  }
  return absl::OkStatus();
}

// A new cluster: every founding member writes the same first entry, the initial
// configuration, at term 1 (as etcd does), so all of them start from one log.
absl::Status bootstrap(const NodeConfig& config, storage::Wal& wal, storage::Recovered& log) {
  raft::Entry first{raft::Term(1), raft::LogIndex(1), raft::EntryType::kMembership,
                    raft::encode_membership(config.bootstrap)};
  raft::HardState hs{raft::Term(1), raft::kNoNode, raft::LogIndex(1)};
  storage::Status s = wal.append({first}, hs);
  if (s.is_ok()) s = wal.sync();
  if (!s.is_ok()) return absl::DataLossError(s.message());
  log.entries = {first};
  log.hard_state = hs;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Recovery> recover(const NodeConfig& config, StateMachine* sm,
                                 RemovedMembers* removed) {
  storage::FileSystem& fs = storage::posix_file_system();
  if (absl::Status s = create_dirs(fs, config.data_dir); !s.ok()) return s;
  Recovery r;
  r.snapshots = std::make_unique<storage::SnapshotStore>(fs, config.data_dir + "/snap");
  if (absl::Status s = recover_snapshot(config, *r.snapshots, sm, &r.snapshot); !s.ok()) return s;
  const bool has_snapshot = r.snapshot.source != nullptr;
  if (has_snapshot) {
    sm->on_membership(r.snapshot.meta.membership);
    removed->applied(r.snapshot.meta.membership);
  }

  storage::Recovered log;
  auto wal = storage::Wal::open(fs, config.data_dir + "/wal", storage::WalOptions{}, &log);
  if (!wal.is_ok()) return absl::DataLossError(wal.status().message());
  r.wal = std::move(wal.value());
  for (const std::string& note : log.notes) {
    raftlog::warn("storage", "wal recovery", {{"note", note}, {"dir", config.data_dir + "/wal"}});
  }
  const raft::LogIndex snap_index = r.snapshot.meta.last.index;
  if (absl::Status s = join_log(config, snap_index, log); !s.ok()) return s;
  const bool fresh = !has_snapshot && log.entries.empty() && log.hard_state.term == raft::Term();
  if (fresh && !config.bootstrap.voters.empty()) {
    if (absl::Status s = bootstrap(config, *r.wal, log); !s.ok()) return s;
  }
  r.restored = raft::Restored{log.hard_state, r.snapshot.meta.last, std::move(log.entries)};
  return r;
}

}  // namespace node
