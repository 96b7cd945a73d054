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

  KvStateMachine sm_;
  uint64_t index_ = 0;
};

TEST_F(SnapshotBeside, ItIsTheStateWhenItBeganWhateverIsAppliedMeanwhile) {
  fill(2000, 2);  // about 4 MB: four parts and more
  const std::string expected = sm_.snapshot();
  std::unique_ptr<node::SnapshotJob> job = sm_.begin_snapshot();
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
  std::unique_ptr<node::SnapshotJob> job = sm_.begin_snapshot();
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

}  // namespace
}  // namespace server
