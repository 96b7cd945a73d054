// Snapshots: byte-identical across replicas, exact round trips, streamed in bounded chunks,
// and every damaged input refused with the store left as it was.
#include <gtest/gtest.h>

#include <sstream>

#include "kv/snapshot_format.h"
#include "kv/store.h"
#include "kv_test_util.h"

namespace kv {
namespace {

using test::at;
using test::get;
using test::must_delete;
using test::must_put;

// The same history applied to any store: puts, deletes, a txn, leases, a compaction.
void apply_history(Store& s, int64_t now) {
  ASSERT_TRUE(s.lease_grant({30, 0}, at(now)).is_ok());
  const int64_t lease = s.lease_leases().leases.at(0);
  must_put(s, "a", "1");
  must_put(s, "b", "2", lease);
  must_put(s, "a", "3");
  must_delete(s, "a");
  must_put(s, "c", std::string(300, 'c'));
  TxnRequest t;
  t.success = {test::put_op("d", "4"), test::put_op("e", "5"), test::del_op("c")};
  ASSERT_TRUE(s.txn(t).is_ok());
  ASSERT_TRUE(s.compact({4, false}).is_ok());
  must_put(s, "a", "again");
  ASSERT_TRUE(s.lease_grant({60, 77}, at(now)).is_ok());
}

std::string snapshot_of(const Store& s) {
  std::ostringstream out;
  EXPECT_TRUE(s.save_snapshot(out).is_ok());
  return out.str();
}

Status restore(Store& s, const std::string& bytes) {
  std::istringstream in(bytes);
  return s.restore_snapshot(in);
}

TEST(KvSnapshot, ReplicasWriteIdenticalBytes) {
  Store a, b;
  apply_history(a, 0);
  apply_history(b, 5000);  // different clocks: deadlines are not replicated state
  b.promote(at(9000));
  EXPECT_EQ(snapshot_of(a), snapshot_of(b));
  EXPECT_EQ(snapshot_of(a).substr(0, 8), std::string(snapshot_format::kMagic));
}

TEST(KvSnapshot, RestoreRoundTripsExactly) {
  Store a;
  apply_history(a, 0);
  const std::string bytes = snapshot_of(a);
  Store b;
  ASSERT_TRUE(restore(b, bytes).is_ok());
  EXPECT_EQ(snapshot_of(b), bytes);
  EXPECT_EQ(b.revision(), a.revision());
  EXPECT_EQ(b.compact_revision(), 4);
  EXPECT_EQ(b.size_bytes(), a.size_bytes());
  EXPECT_EQ(get(b, "a", "z").kvs, get(a, "a", "z").kvs);
  EXPECT_EQ(get(b, "b", "", 5).kvs, get(a, "b", "", 5).kvs);
  EXPECT_EQ(b.range(test::range_req("a", 3)).status(), errors::compacted());
  // Leases and their keys came back; generated ids continue identically.
  const auto ids = a.lease_leases().leases;
  ASSERT_EQ(ids.size(), 2u);
  const int64_t lease = ids[0] == 77 ? ids[1] : ids[0];  // the generated one holds "b"
  EXPECT_EQ(b.lease_leases().leases, a.lease_leases().leases);
  EXPECT_EQ(b.lease_time_to_live({lease, true}, at(0)).keys, std::vector<std::string>{"b"});
  EXPECT_EQ(b.lease_grant({10, 0}, at(0))->id, a.lease_grant({10, 0}, at(0))->id);
  // Both continue identically.
  must_put(a, "z", "1");
  must_put(b, "z", "1");
  ASSERT_TRUE(a.lease_revoke({lease}).is_ok());
  ASSERT_TRUE(b.lease_revoke({lease}).is_ok());
  EXPECT_EQ(snapshot_of(a), snapshot_of(b));
}

TEST(KvSnapshot, RestoredLeasesWaitForPromoteBeforeExpiring) {
  Store a;
  ASSERT_TRUE(a.lease_grant({10, 5}, at(0)).is_ok());
  Store b;
  ASSERT_TRUE(restore(b, snapshot_of(a)).is_ok());
  // No deadline is known on the restored replica: nothing expires until it is promoted.
  EXPECT_TRUE(b.expired_leases(at(1'000'000)).empty());
  EXPECT_EQ(b.lease_time_to_live({5, false}, at(0)).ttl, 10);
  b.promote(at(100));
  EXPECT_TRUE(b.expired_leases(at(109)).empty());
  EXPECT_EQ(b.expired_leases(at(110)), std::vector<int64_t>{5});
}

TEST(KvSnapshot, RestoredHistoryServesWatchers) {
  Store a;
  apply_history(a, 0);
  Store b;
  auto w = b.watch_create({"a", "z", 0, false, false, false});
  ASSERT_TRUE(restore(b, snapshot_of(a)).is_ok());
  // The watcher started at revision 2; that history was compacted (at 4).
  EXPECT_TRUE(b.watch_poll(w.watch_id).canceled);
  auto w2 = b.watch_create({"a", "z", 4, false, false, false});
  auto r = b.watch_poll(w2.watch_id);
  ASSERT_FALSE(r.canceled);
  auto w3 = a.watch_create({"a", "z", 4, false, false, false});
  EXPECT_EQ(r.events, a.watch_poll(w3.watch_id).events);
}

TEST(KvSnapshot, StreamsInBoundedChunks) {
  Store s;
  for (int i = 0; i < 2000; ++i) must_put(s, "key" + std::to_string(i), std::string(100, 'x'));
  size_t chunks = 0, total = 0, biggest = 0;
  std::string all;
  ASSERT_TRUE(s.save_snapshot([&](std::string_view c) {
                 ++chunks;
                 total += c.size();
                 biggest = std::max(biggest, c.size());
                 all.append(c);
                 return Status::ok();
               }).is_ok());
  EXPECT_GT(chunks, 3u);
  EXPECT_LE(biggest, snapshot_format::kChunkBytes);
  EXPECT_EQ(all, snapshot_of(s));
  // A writer error stops the snapshot and is returned.
  int calls = 0;
  Status st = s.save_snapshot([&](std::string_view) {
    return ++calls == 2 ? Status(Code::kUnavailable, "disk gone") : Status::ok();
  });
  EXPECT_EQ(st, Status(Code::kUnavailable, "disk gone"));
}

// A snapshot written in parts while the store is written between them (a put to a key
// already written and to one not yet reached, new keys on both sides of the cursor,
// deletes, a lease revoked with its keys, a txn, new leases) is the snapshot of the
// store as it was when the saver began, byte for byte, and restores to that state.
TEST(KvSnapshot, WrittenInPartsBesideWritesItIsTheStateWhenItBegan) {
  Store s;
  apply_history(s, 0);
  ASSERT_TRUE(s.lease_grant({30, 9}, at(0)).is_ok());
  for (int i = 0; i < 300; ++i) {
    must_put(s, "k" + std::to_string(1000 + i), std::string(50 + i % 7, 'v'), i % 10 == 0 ? 9 : 0);
  }
  const std::string expected = snapshot_of(s);
  const int64_t revision = s.revision();
  std::string parts;
  std::unique_ptr<Store::SnapshotSaver> saver = s.begin_snapshot([&](std::string_view c) {
    parts.append(c);
    return Status::ok();
  });
  int step = 0;
  while (saver->next(200)) {
    ++step;
    const std::string n = std::to_string(step);
    must_put(s, "k1000", "rewritten " + n);          // written already
    must_put(s, "k1299", "rewritten " + n);          // not reached yet
    must_put(s, "a" + n, "new, before the cursor");  // created since
    must_put(s, "z" + n, "new, after the cursor");
    must_delete(s, "k" + std::to_string(1000 + (step * 7) % 300));
    if (step == 3) {
      ASSERT_TRUE(s.lease_revoke({9}).is_ok());  // deletes 30 keys
    }
    if (step == 4) {
      ASSERT_TRUE(s.lease_grant({60, 0}, at(0)).is_ok());
    }
    if (step == 5) {
      TxnRequest t;
      t.success = {test::put_op("k1100", "txn"), test::del_op("k1200", "k1210")};
      ASSERT_TRUE(s.txn(t).is_ok());
    }
  }
  ASSERT_TRUE(saver->status().is_ok()) << saver->status().message();
  EXPECT_GT(step, 20);  // many parts, a write between each two
  EXPECT_EQ(parts, expected);
  Store r;
  ASSERT_TRUE(restore(r, parts).is_ok());
  EXPECT_EQ(r.revision(), revision);
  // The writes made meanwhile are in the store, not in the snapshot.
  EXPECT_GT(s.revision(), revision + 100);
  EXPECT_EQ(get(r, "k1299").kvs.at(0).value.size(), 50u + 299 % 7);
  // Once the saver is gone, the store compacts again.
  saver.reset();
  EXPECT_TRUE(s.compact({revision, false}).is_ok());
}

TEST(KvSnapshot, WrittenInPartsAWriterErrorEndsItWithThatError) {
  Store s;
  for (int i = 0; i < 2000; ++i) must_put(s, "key" + std::to_string(i), std::string(100, 'x'));
  int calls = 0;
  auto saver = s.begin_snapshot([&](std::string_view) {
    return ++calls == 3 ? Status(Code::kUnavailable, "disk gone") : Status::ok();
  });
  int parts = 0;
  while (saver->next(1000) && parts < 10'000) ++parts;
  EXPECT_EQ(saver->status(), Status(Code::kUnavailable, "disk gone"));
  EXPECT_FALSE(saver->next(1000));  // and stays ended
}

// A compaction would drop versions the saver has still to write, a restore the whole
// state it walks: the store refuses to run either while a saver is open.
TEST(KvSnapshotDeathTest, CompactingOrRestoringWhileWrittenInPartsStopsTheProcess) {
  Store s;
  apply_history(s, 0);
  const std::string bytes = snapshot_of(s);
  auto saver = s.begin_snapshot([](std::string_view) { return Status::ok(); });
  EXPECT_DEATH((void)s.compact({s.revision(), false}), "compacting while a snapshot is written");
  EXPECT_DEATH((void)restore(s, bytes), "restoring while a snapshot is written");
}

TEST(KvSnapshot, EveryTruncationAndEveryFlippedByteIsRefusedAndChangesNothing) {
  Store a;
  apply_history(a, 0);
  const std::string good = snapshot_of(a);
  Store target;
  must_put(target, "mine", "v");
  const std::string before = snapshot_of(target);
  for (size_t n = 0; n < good.size(); ++n) {
    Status st = restore(target, good.substr(0, n));
    ASSERT_FALSE(st.is_ok()) << "truncated to " << n;
    EXPECT_EQ(st.code(), Code::kDataLoss) << n;
  }
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    ASSERT_FALSE(restore(target, bad).is_ok()) << "byte " << i;
  }
  EXPECT_EQ(restore(target, good + "x").message().find("after the checksum") != std::string::npos,
            true);
  EXPECT_EQ(snapshot_of(target), before);
  EXPECT_EQ(get(target, "mine").kvs.at(0).value, "v");
}

TEST(KvSnapshot, WrongMagicOrVersionIsNamed) {
  Store a;
  std::string bytes = snapshot_of(a);
  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  EXPECT_NE(restore(a, bad_magic).message().find("bad magic"), std::string::npos);
  std::string v3 = bytes;
  v3[8] = 3;
  Status st = restore(a, v3);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("format version 3 is not supported"), std::string::npos);
  // Version 2 is a delta segment, which cannot come first.
  std::string v2 = bytes;
  v2[8] = 2;
  st = restore(a, v2);
  EXPECT_EQ(st.code(), Code::kDataLoss);
  EXPECT_NE(st.message().find("starts with a delta segment"), std::string::npos) << st.message();
}

// A well-formed, correctly checksummed snapshot whose content breaks an invariant (made
// by re-encoding) is refused by validation, not only by the checksum.
TEST(KvSnapshot, ValidContainerWithBrokenInvariantIsRefused) {
  // Build bytes by hand: header, revision 3, compact 0, no leases, one key whose single
  // version claims mod revision 9 > revision 3.
  std::string body(snapshot_format::kMagic);
  auto le = [&](uint64_t v, int n) {
    for (int i = 0; i < n; ++i) body.push_back(static_cast<char>(v >> (8 * i)));
  };
  le(snapshot_format::kVersion, 4);
  le(3, 8);  // revision
  le(0, 8);  // compact
  le(0, 8);  // lease id sequence
  le(0, 8);  // leases
  le(1, 8);  // keys
  le(1, 4);
  body += "k";
  le(1, 4);  // versions
  le(9, 8);  // mod revision: beyond the store's revision
  le(9, 8);
  le(1, 8);
  le(0, 8);
  le(0, 4);
  le(1, 4);
  body += "v";
  // Reuse the store's own checksum by restoring with a deliberately wrong one, then read
  // the message: validation must fail before the checksum is even compared.
  le(0, 8);
  Store s;
  Status st = restore(s, body);
  EXPECT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("mod revision 9 outside [1, 3]"), std::string::npos) << st.message();
  EXPECT_EQ(s.revision(), 1);
}

// ---- Delta segments: a snapshot that extends the one before it. ----

std::string delta_of(const Store& s, int64_t since) {
  std::string out;
  EXPECT_TRUE(s.save_snapshot(
                   [&out](std::string_view c) {
                     out.append(c);
                     return Status::ok();
                   },
                   since)
                  .is_ok());
  return out;
}

// Restores segments written back to back, with `gap` (what a caller writes between
// segments) before each after the first, read back and checked by the restore.
Status restore_chain(Store& s, const std::vector<std::string>& segments,
                     const std::string& gap = "") {
  std::string all;
  for (size_t i = 0; i < segments.size(); ++i) all += (i > 0 ? gap : "") + segments[i];
  std::istringstream in(all);
  return s.restore_snapshot(in, [&gap](std::istream& is) {
    std::string got(gap.size(), '\0');
    is.read(got.data(), static_cast<std::streamsize>(got.size()));
    return got == gap ? Status::ok() : Status(Code::kDataLoss, "the gap is not what was written");
  });
}

// Writes after a snapshot at `base`: updates, new keys before and after the old ones,
// deletes, a lease revoked with its keys, a new lease, a txn.
void write_more(Store& s, int round) {
  const std::string n = std::to_string(round);
  ASSERT_TRUE(s.lease_grant({30, 100 + round}, at(0)).is_ok());
  for (int i = 0; i < 40; ++i) must_put(s, "k" + std::to_string(1000 + i), "round " + n);
  for (int i = 0; i < 6; ++i) must_put(s, "l" + n + "-" + std::to_string(i), "leased", 100 + round);
  must_put(s, "0new" + n, "before every key");
  must_put(s, "znew" + n, "after every key");
  must_delete(s, "k" + std::to_string(1001 + round));
  if (round > 1) {
    ASSERT_TRUE(s.lease_revoke({100 + round - 1}).is_ok());  // deletes its keys
  }
  TxnRequest t;
  t.success = {test::put_op("k1020", "txn " + n), test::del_op("k1030", "k1033")};
  ASSERT_TRUE(s.txn(t).is_ok());
}

// A whole snapshot and two deltas, each written since the one before, restore to the
// store at the last: its whole snapshot, byte for byte, and what is derived from it (the
// accounted size, the leases' keys, the change log that watchers read).
TEST(KvSnapshotDelta, AWholeSnapshotAndItsDeltasRestoreToTheStateAtTheLast) {
  Store s;
  apply_history(s, 0);
  write_more(s, 1);
  const std::string whole = snapshot_of(s);
  const int64_t r0 = s.revision();
  write_more(s, 2);
  const std::string d1 = delta_of(s, r0);
  const int64_t r1 = s.revision();
  write_more(s, 3);
  const std::string d2 = delta_of(s, r1);
  EXPECT_LT(d1.size(), whole.size());
  Store r;
  ASSERT_TRUE(restore_chain(r, {whole, d1, d2}, "cluster state").is_ok());
  EXPECT_EQ(snapshot_of(r), snapshot_of(s));
  EXPECT_EQ(r.revision(), s.revision());
  EXPECT_EQ(r.compact_revision(), s.compact_revision());
  EXPECT_EQ(r.size_bytes(), s.size_bytes());
  EXPECT_EQ(r.key_count(), s.key_count());
  EXPECT_EQ(r.lease_leases().leases, s.lease_leases().leases);
  EXPECT_EQ(r.lease_time_to_live({103, true}, at(0)).keys,
            s.lease_time_to_live({103, true}, at(0)).keys);
  EXPECT_EQ(r.lease_time_to_live({103, true}, at(0)).keys.size(), 6u);
  EXPECT_TRUE(get(r, "l1-0").kvs.empty());  // its lease was revoked in round 2
  // A watcher from before the first delta sees the same events on both.
  auto wr = r.watch_create({"0", "zz", r0 - 5, false, false, false});
  auto ws = s.watch_create({"0", "zz", r0 - 5, false, false, false});
  EXPECT_EQ(r.watch_poll(wr.watch_id).events, s.watch_poll(ws.watch_id).events);
  // Both go on identically (a revoke finds the restored lease's keys).
  ASSERT_TRUE(r.lease_revoke({103}).is_ok());
  ASSERT_TRUE(s.lease_revoke({103}).is_ok());
  EXPECT_EQ(snapshot_of(r), snapshot_of(s));
  // The whole snapshot and the first delta are the state at r1.
  Store at_r1;
  ASSERT_TRUE(restore_chain(at_r1, {whole, d1}).is_ok());
  EXPECT_EQ(at_r1.revision(), r1);
  EXPECT_EQ(get(at_r1, "k1000").kvs.at(0).value, "round 2");
}

// Written in parts beside writes, a delta is the one save_snapshot() writes when it begins.
TEST(KvSnapshotDelta, WrittenInPartsBesideWritesItIsTheDeltaWhenItBegan) {
  Store s;
  apply_history(s, 0);
  write_more(s, 1);
  const std::string whole = snapshot_of(s);
  const int64_t r0 = s.revision();
  for (int i = 0; i < 300; ++i) must_put(s, "k" + std::to_string(1000 + i), std::string(60, 'w'));
  write_more(s, 2);
  const std::string expected = delta_of(s, r0);
  const std::string state = snapshot_of(s);
  std::string parts;
  auto saver = s.begin_snapshot(
      [&](std::string_view c) {
        parts.append(c);
        return Status::ok();
      },
      r0);
  int step = 0;
  while (saver->next(300)) {
    ++step;
    must_put(s, "k1000", "rewritten " + std::to_string(step));
    must_put(s, "k1299", "rewritten " + std::to_string(step));
    must_put(s, "a" + std::to_string(step), "created since");
    if (step == 3) {
      ASSERT_TRUE(s.lease_revoke({102}).is_ok());
    }
  }
  ASSERT_TRUE(saver->status().is_ok()) << saver->status().message();
  EXPECT_GT(step, 10);
  EXPECT_EQ(parts, expected);
  Store r;
  ASSERT_TRUE(restore_chain(r, {whole, parts}).is_ok());
  EXPECT_EQ(snapshot_of(r), state);
}

// Each delta must follow the segment before it: out of order, alone, after a compaction
// that came between, or a second whole segment, the chain is refused and nothing changes.
TEST(KvSnapshotDelta, ADeltaThatDoesNotFollowTheSegmentBeforeItIsRefused) {
  Store s;
  apply_history(s, 0);
  const std::string whole = snapshot_of(s);
  const int64_t r0 = s.revision();
  write_more(s, 1);
  const std::string d1 = delta_of(s, r0);
  const int64_t r1 = s.revision();
  write_more(s, 2);
  const std::string d2 = delta_of(s, r1);
  Store r;
  must_put(r, "untouched", "1");
  const std::string before = snapshot_of(r);
  auto refused = [&](const std::vector<std::string>& chain, const std::string& why) {
    Status st = restore_chain(r, chain);
    EXPECT_EQ(st.code(), Code::kDataLoss) << why;
    EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
    EXPECT_EQ(snapshot_of(r), before);
  };
  refused({whole, d2}, "a delta since revision " + std::to_string(r1));
  refused({whole, d1, d1}, "a delta since revision " + std::to_string(r0));
  refused({d1}, "starts with a delta segment");
  refused({whole, whole}, "a whole segment after the first");
  // A compaction after the whole snapshot: the delta since it would keep the versions the
  // compaction dropped; the changed compact revision gives it away.
  Store c;
  apply_history(c, 0);
  const std::string cw = snapshot_of(c);
  const int64_t c0 = c.revision();
  write_more(c, 1);
  ASSERT_TRUE(c.compact({c0, false}).is_ok());
  refused({cw, delta_of(c, c0)}, "a delta segment with compact revision");
  // Bytes after a segment with no reader for them are damage, as before.
  std::istringstream in(whole + d1);
  EXPECT_NE(r.restore_snapshot(in).message().find("unexpected bytes after the checksum"),
            std::string::npos);
  // A damaged delta: its own checksum.
  std::string bad = d1;
  bad[bad.size() / 2] ^= 0x20;
  EXPECT_FALSE(restore_chain(r, {whole, bad}).is_ok());
  EXPECT_EQ(snapshot_of(r), before);
}

// The history epoch moves with every compaction and restore: what tells a caller that a
// delta since an earlier revision no longer follows its last snapshot.
TEST(KvSnapshotDelta, TheHistoryEpochMovesWithACompactionOrARestore) {
  Store s;
  apply_history(s, 0);
  const uint64_t e = s.history_epoch();
  must_put(s, "x", "1");
  EXPECT_EQ(s.history_epoch(), e);
  ASSERT_TRUE(s.compact({s.revision(), false}).is_ok());
  EXPECT_EQ(s.history_epoch(), e + 1);
  ASSERT_TRUE(restore(s, snapshot_of(s)).is_ok());
  EXPECT_EQ(s.history_epoch(), e + 2);
}

TEST(KvSnapshotDeltaDeathTest, ADeltaSinceARevisionOutsideTheHistoryStopsTheProcess) {
  Store s;
  apply_history(s, 0);  // compacted at 4
  EXPECT_DEATH((void)delta_of(s, 3), "a snapshot delta since revision 3");
  EXPECT_DEATH((void)delta_of(s, s.revision() + 1), "a snapshot delta since revision");
}

}  // namespace
}  // namespace kv
