// The replicated state machine: an MVCC key-value store with etcd 3.4's semantics
// (revisions, per-key create/mod revision and version, history until compaction, Txn,
// leases, watches, a byte quota) and streamed, checksummed snapshots.
//
// Deterministic: the same calls in the same order give the same state and byte-identical
// snapshots on every replica. It reads no clock (lease calls take `now`), spawns no
// thread and is not thread-safe: the runtime serializes every call.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kv/key_history.h"
#include "kv/kv_messages.h"
#include "kv/lease_messages.h"
#include "kv/lessor.h"
#include "kv/status.h"
#include "kv/watch_messages.h"
#include "kv/watcher.h"

namespace kv {

struct StoreOptions {
  // Writes that would take size_bytes() above this are refused with "database space
  // exceeded"; 0 disables the quota. etcd's default is 2 GiB.
  int64_t quota_bytes = int64_t{2} << 30;
  int64_t max_txn_ops = 128;         // per compare list and per branch, as etcd's --max-txn-ops
  int64_t min_lease_ttl = 2;         // seconds; etcd derives it from the election timeout
  size_t watch_queue_events = 1024;  // a watcher's queue bound (a whole revision may exceed)
};

// What the quota counts per stored version: key + value + this; and per lease.
inline constexpr int64_t kRevisionOverheadBytes = 64;
inline constexpr int64_t kLeaseOverheadBytes = 64;
// etcd's MaxLeaseTTL.
inline constexpr int64_t kMaxLeaseTtl = 9'000'000'000;

// Receives the snapshot in chunks; a non-ok status aborts the snapshot with that status.
using SnapshotWriter = std::function<Status(std::string_view chunk)>;

class Store {
 public:
  explicit Store(StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- KV (etcd's KV service). Every error leaves the store unchanged. ----

  // Reads [key, range_end) at req.revision (<= 0: current). Errors: empty key; revision
  // below the compact revision (compacted) or above the current one (future).
  StatusOr<RangeResponse> range(const RangeRequest& req) const;
  // Writes one key at a new revision. Errors: empty key; ignore_value with a value or
  // ignore_lease with a lease; ignore_* on a missing key; unknown lease; quota.
  StatusOr<PutResponse> put(const PutRequest& req);
  // Deletes the keys of the range at a new revision; deleting nothing keeps the revision.
  StatusOr<DeleteRangeResponse> delete_range(const DeleteRangeRequest& req);
  // Evaluates the compares against the state before the transaction (nested ones too, as
  // etcd 3.4 does), runs the chosen branch with one revision for all its writes (bumped
  // only if something changed), later ops seeing earlier writes. Errors (checked before
  // anything runs): too many ops, duplicate key writes, any op's own error.
  StatusOr<TxnResponse> txn(const TxnRequest& req);
  // Drops every version superseded at or before req.revision and tombstones older than
  // it. Errors: revision <= compact revision (compacted); > current (future).
  StatusOr<CompactionResponse> compact(const CompactionRequest& req);

  // ---- Leases (etcd's Lease service). `now` is the caller's clock. ----

  // Grants a lease (req.id 0: a generated id, identical on every replica). TTL is raised
  // to min_lease_ttl. Errors: id in use; TTL above kMaxLeaseTtl; quota. No new revision.
  StatusOr<LeaseGrantResponse> lease_grant(const LeaseGrantRequest& req, TimePoint now);
  // Deletes the lease and, in one new revision, every key attached to it. Error: unknown.
  StatusOr<LeaseRevokeResponse> lease_revoke(const LeaseRevokeRequest& req);
  // Resets the deadline to now + TTL. Error (not found) when unknown or already expired;
  // etcd's stream handler turns that into a response with TTL 0.
  StatusOr<LeaseKeepAliveResponse> lease_keep_alive(const LeaseKeepAliveRequest& req,
                                                    TimePoint now);
  // Remaining TTL in whole seconds (truncated, as etcd does; 0 once expired), granted TTL
  // and keys; TTL -1 when unknown.
  LeaseTimeToLiveResponse lease_time_to_live(const LeaseTimeToLiveRequest& req,
                                             TimePoint now) const;
  LeaseLeasesResponse lease_leases() const;
  // Leases whose deadline passed on this replica, ascending ids. The leader proposes a
  // revoke for each; the store itself never expires anything.
  std::vector<int64_t> expired_leases(TimePoint now) const;
  // Every lease's deadline becomes now + extend + TTL: call on becoming leader (and after
  // restoring a snapshot on a leader), so leases survive a leader change, as in etcd.
  void promote(TimePoint now, std::chrono::seconds extend = std::chrono::seconds(0));

  // ---- Watch. ----
  //
  // Watchers are polled, not pushed: each holds a queue of at most
  // options.watch_queue_events events (a single revision may exceed it; revisions are never
  // split). A write appends its events to every synced watcher it concerns. When a
  // watcher's queue cannot take a revision, the watcher becomes unsynced: it gets nothing
  // live, keeps the events already queued, and once drained catches up from the MVCC
  // history from the first revision it has not seen, then is synced again; so a slow
  // watcher costs history reads, not unbounded memory, and loses nothing. If a compaction
  // passes the revision it still needs, its next poll after the queue drains answers
  // canceled with the compact revision (etcd cancels such watchers the same way).

  // Creates a watcher; it never fails here: a start revision below the compact revision
  // makes the first poll answer canceled with compact_revision, as etcd does.
  WatchCreateResponse watch_create(const WatchCreateRequest& req);
  // Removes a watcher; false when it does not exist.
  bool watch_cancel(WatchId id);
  // Drains up to max_events events (never splitting a revision, so at least one whole
  // revision when any is pending), catching up from history first when the watcher is
  // behind. Unknown id: canceled with a reason.
  WatchResponse watch_poll(WatchId id, size_t max_events = SIZE_MAX);
  // The current revision when the watcher has delivered everything up to it (so a progress
  // notification may promise that later events are newer); nullopt otherwise.
  std::optional<int64_t> watch_progress(WatchId id) const;
  size_t watcher_count() const { return watchers_.size(); }
  // The watchers that got something to deliver (events, or a fall behind to catch up
  // from history) since the last call, each once: a server pushes to exactly those
  // instead of polling every watcher after every write.
  std::vector<WatchId> take_ready_watchers();

  // ---- Snapshots. ----

  // Streams the whole replicated state (revisions, history, leases; not watchers nor lease
  // deadlines) in chunks of at most 64 KiB: magic, format version, body, XXH3-64 checksum.
  // With `since` > 0: a delta segment, only what was written after revision `since`
  // (docs in snapshot_format.h), to follow a snapshot taken at that revision; `since` must
  // lie within the kept history (no compaction above it), else the process stops (a
  // broken caller: history_epoch() tells a caller whether a compaction came between).
  Status save_snapshot(const SnapshotWriter& write, int64_t since = 0) const;
  Status save_snapshot(std::ostream& out) const;
  // The same snapshot, written in parts while writes go on: the state as of the call to
  // begin_snapshot(), byte for byte what save_snapshot() would have written then. Its
  // header (revisions, leases) is encoded at once; each next() then encodes the versions
  // of the following keys, while the caller holds the store as for any call (no write
  // meanwhile); between parts the store may be written (later versions are left out).
  // Neither compact() nor restore_snapshot() may run while a saver is open: they would
  // drop versions it has still to write (the store stops the process if one does, a
  // broken caller). One thread at a time, as every call.
  class SnapshotSaver {
   public:
    virtual ~SnapshotSaver() = default;
    // Encodes at least `bytes` more (whole keys), or the rest, handing the writer chunks of
    // at most 64 KiB; false once the last byte (the checksum) went, or on an error.
    virtual bool next(size_t bytes) = 0;
    // The writer's first error, or a broken store (a key count that changed); ok when
    // every byte went.
    virtual Status status() const = 0;
  };
  std::unique_ptr<SnapshotSaver> begin_snapshot(SnapshotWriter write, int64_t since = 0);
  // Counts the compactions and restores: a delta since a revision taken at one epoch is
  // the state at the next snapshot only while the epoch has not changed.
  uint64_t history_epoch() const { return history_epoch_; }
  // Savers begun and not yet destroyed: while any is, compact() and restore_snapshot()
  // must wait.
  int open_savers() const { return open_savers_; }
  // Replaces the state with the snapshot read from `in`, validating format, checksum and
  // every invariant first: on any error the store is unchanged (code kDataLoss or
  // kInvalidArgument, the message says what is wrong). Restored leases have no deadline
  // until promote(). Watchers stay and catch up from the restored history.
  // A snapshot may be a whole segment followed by delta segments; when bytes follow a
  // segment, `between` reads what the caller wrote ahead of the next one (and fails the
  // restore with its error), or, without it, they are damage.
  using SegmentGap = std::function<Status(std::istream&)>;
  Status restore_snapshot(std::istream& in, const SegmentGap& between = nullptr);

  // ---- State. ----
  int64_t revision() const;
  int64_t compact_revision() const;
  // What the quota counts: sum over kept versions of key + value + kRevisionOverheadBytes,
  // plus kLeaseOverheadBytes per lease.
  int64_t size_bytes() const;
  int64_t quota_bytes() const { return options_.quota_bytes; }
  // Whether the accounted size has reached the quota: the server raises etcd's NOSPACE
  // alarm while this holds (writes are refused when they would pass the quota).
  bool space_exceeded() const;
  size_t key_count() const;  // keys with any kept version (deleted ones until compacted)

  struct State;  // the replicated state (defined in store_state.h)

 private:
  struct Pending;  // one write transaction in progress (store.cc)

  Status check_range(const RangeRequest& req, int64_t current) const;
  Status check_put(const PutRequest& req) const;
  Status check_quota(int64_t cost) const;
  RangeResponse do_range(const RangeRequest& req, int64_t read_rev, int64_t header_rev) const;
  PutResponse do_put(Pending& p, const PutRequest& req);
  DeleteRangeResponse do_delete(Pending& p, const DeleteRangeRequest& req);
  void delete_key(Pending& p, void* node, std::vector<KeyValue>* prev_kvs);
  void run_ops(Pending& p, const std::vector<RequestOp>& ops, const std::vector<bool>& path,
               size_t& path_pos, std::vector<ResponseOp>& out);
  void commit(Pending& p);
  void catch_up(Watcher& w);

  StoreOptions options_;
  std::unique_ptr<State> state_;         // never null
  int open_savers_ = 0;                  // SnapshotSavers not yet destroyed
  uint64_t history_epoch_ = 0;           // compactions and restores so far
  std::map<WatchId, Watcher> watchers_;  // key == value.id
  std::vector<WatchId> ready_watchers_;  // see take_ready_watchers(); may name removed ones
  WatchId next_watch_id_ = 1;
};

}  // namespace kv
