// KvStateMachine's snapshot written beside the apply thread (begin_snapshot): the state as
// of its beginning, whatever is applied while it is written, and a compaction, which would
// drop versions it still has to write, waits until it is done.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "raftkv/internal.pb.h"
#include "server/kv_state_machine.h"

namespace server {
namespace {

namespace in = raftkv::internal;

class SnapshotBeside : public ::testing::Test {
 protected:
  SnapshotBeside() : sm_(kv::StoreOptions{}) {}
  in::Result apply(in::Command c) {
    c.set_member_write(true);
    in::Result r;
    EXPECT_TRUE(r.ParseFromString(sm_.apply(raft::LogIndex(++index_), c.SerializeAsString())));
    return r;
  }
  void put(const std::string& key, const std::string& value) {
    in::Command c;
    c.mutable_put()->set_key(key);
    c.mutable_put()->set_value(value);
    ASSERT_EQ(apply(c).code(), 0);
  }
  // Many parts' worth: each part is about 1 MiB.
  void fill(int keys, int versions) {
    for (int v = 0; v < versions; ++v) {
      for (int k = 0; k < keys; ++k) put("key" + std::to_string(k), std::string(1000, 'a' + v));
    }
  }
  static std::string written(node::SnapshotJob& job) {
    std::string out;
    absl::Status s = job.write_to([&out](std::string_view bytes) {
      out.append(bytes);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // A snapshot at the index applied, with none on disk: written whole.
  node::SnapshotPlace first() const { return {raft::LogIndex(index_), raft::LogIndex()}; }
  // One with the snapshot at `latest` on disk.
  node::SnapshotPlace after(uint64_t latest) const {
    return {raft::LogIndex(index_), raft::LogIndex(latest)};
  }
  void role_add(const std::string& name) {
    in::Command c;
    c.mutable_role_add()->set_name(name);
    ASSERT_EQ(apply(c).code(), 0);
  }

  KvStateMachine sm_;
  uint64_t index_ = 0;
};

TEST_F(SnapshotBeside, ItIsTheStateWhenItBeganWhateverIsAppliedMeanwhile) {
  fill(2000, 2);  // about 4 MB: four parts and more
  const std::string expected = sm_.snapshot();
  std::unique_ptr<node::SnapshotJob> job = sm_.begin_snapshot(first());
  ASSERT_NE(job, nullptr);
  // Applied between its beginning and its parts, and between parts (write_to on another
  // thread, as the node's snapshot thread runs it).
  put("key5", "after");
  put("new", "after");
  std::future<std::string> bytes = std::async(std::launch::async, [&job] { return written(*job); });
  for (int i = 0; i < 200; ++i) put("key" + std::to_string(i * 7), "meanwhile");
  EXPECT_EQ(bytes.get(), expected);
  job.reset();
  KvStateMachine restored{kv::StoreOptions{}};
  ASSERT_TRUE(restored.restore(expected).ok());
  EXPECT_EQ(restored.snapshot(), expected);
}

TEST_F(SnapshotBeside, ACompactionWaitsUntilTheSnapshotInHandIsDone) {
  fill(200, 3);
  const std::string expected = sm_.snapshot();
  std::unique_ptr<node::SnapshotJob> job = sm_.begin_snapshot(first());
  put("key1", "after");
  in::Command compact;
  compact.mutable_compaction()->set_revision(400);
  std::future<in::Result> compacted =
      std::async(std::launch::async, [&] { return apply(compact); });
  // A bounded look for what must not happen: the compaction applied while the snapshot
  // still has to write the versions it drops.
  EXPECT_EQ(compacted.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  EXPECT_EQ(written(*job), expected);
  job.reset();
  ASSERT_EQ(compacted.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(compacted.get().code(), 0);
  EXPECT_NE(sm_.snapshot(), expected);  // compacted since
}

// Snapshots that extend the one before: each writes the cluster state and only the
// versions applied since; the first's bytes followed by the others' restore to the state
// at the last (the cluster state included: the last one's), byte for byte what a whole
// snapshot there writes.
TEST_F(SnapshotBeside, EachSnapshotWritesOnlyWhatWasAppliedSinceTheOneItExtends) {
  fill(500, 2);
  std::unique_ptr<node::SnapshotJob> job = sm_.begin_snapshot(first());
  const uint64_t i0 = index_;
  EXPECT_EQ(job->extends(), raft::LogIndex());
  const std::string whole = written(*job);
  job.reset();
  for (int k = 0; k < 50; ++k) put("key" + std::to_string(k), "second");
  role_add("after-the-first");
  job = sm_.begin_snapshot(after(i0));
  const uint64_t i1 = index_;
  EXPECT_EQ(job->extends(), raft::LogIndex(i0));
  const std::string d1 = written(*job);
  job.reset();
  put("new-key", "third");
  role_add("after-the-second");
  job = sm_.begin_snapshot(after(i1));
  EXPECT_EQ(job->extends(), raft::LogIndex(i1));
  const std::string d2 = written(*job);
  job.reset();
  EXPECT_LT(d1.size() * 10, whole.size());  // 50 versions of 1,000 bytes, not 1,000
  KvStateMachine restored{kv::StoreOptions{}};
  ASSERT_TRUE(restored.restore(whole + d1 + d2).ok());
  EXPECT_EQ(restored.snapshot(), sm_.snapshot());
  // The state at the first delta: its cluster state, without the second role.
  KvStateMachine at_d1{kv::StoreOptions{}};
  ASSERT_TRUE(at_d1.restore(whole + d1).ok());
  EXPECT_NE(at_d1.snapshot(), sm_.snapshot());
  // Out of order, the chain is refused and the state machine keeps its state.
  const std::string before = restored.snapshot();
  EXPECT_FALSE(restored.restore(whole + d2).ok());
  EXPECT_EQ(restored.snapshot(), before);
  // A cluster state cut short between two segments is named.
  absl::Status cut = restored.restore(whole + d1.substr(0, 5));
  EXPECT_NE(cut.message().find("cluster state overruns"), std::string::npos) << cut;
  EXPECT_EQ(restored.snapshot(), before);
}

// Written whole instead: the first snapshot, one after a compaction or a restore (its
// history is no longer what the snapshot on disk began from), one after a snapshot this
// state machine did not begin, and every kMaxSnapshotChain-th in a row.
TEST_F(SnapshotBeside, ASnapshotIsWrittenWholeWhenWhatItWouldExtendIsNotKnown) {
  fill(20, 2);
  auto take = [&](node::SnapshotPlace place) {
    std::unique_ptr<node::SnapshotJob> job = sm_.begin_snapshot(place);
    written(*job);
    return job->extends();
  };
  EXPECT_EQ(take(first()), raft::LogIndex());
  const uint64_t i0 = index_;
  put("a", "1");
  EXPECT_EQ(take(after(i0 + 1000)), raft::LogIndex());  // not one it began
  const uint64_t i1 = index_;
  put("a", "2");
  EXPECT_EQ(take(after(i1)), raft::LogIndex(i1));
  const uint64_t i2 = index_;
  in::Command compact;
  compact.mutable_compaction()->set_revision(10);
  ASSERT_EQ(apply(compact).code(), 0);
  EXPECT_EQ(take(after(i2)), raft::LogIndex());  // compacted since
  const uint64_t i3 = index_;
  put("a", "3");
  ASSERT_TRUE(sm_.restore(sm_.snapshot()).ok());
  EXPECT_EQ(take(after(i3)), raft::LogIndex());  // restored since
  uint64_t latest = index_;
  int in_a_row = 0, wholes = 0;
  for (int k = 0; k < KvStateMachine::kMaxSnapshotChain + 2; ++k) {
    put("b", std::to_string(k));
    const raft::LogIndex base = take(after(latest));
    in_a_row = base == raft::LogIndex() ? 0 : in_a_row + 1;
    wholes += base == raft::LogIndex() ? 1 : 0;
    EXPECT_LT(in_a_row, KvStateMachine::kMaxSnapshotChain);
    latest = index_;
  }
  EXPECT_EQ(wholes, 1);
}

}  // namespace
}  // namespace server
