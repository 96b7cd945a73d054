// LockTable alone: the rules of grants, renewals and expiry, and a snapshot that restores
// exactly and refuses damaged bytes without changing the table.
#include "lock_service/lock_table.h"

#include <gtest/gtest.h>

namespace lock_service {
namespace {

using raft::LogIndex;

TEST(LockTable, AGrantIsFencedByItsLogIndexAndAnExpiryNamesTheRenewalItTimed) {
  LockTable t;
  EXPECT_EQ(t.apply(LogIndex(3), "acquire db alice 1000"), "granted 3");
  EXPECT_EQ(t.apply(LogIndex(4), "acquire db bob 1000"), "held alice 3");
  EXPECT_EQ(t.apply(LogIndex(5), "renew db alice 3"), "renewed 3");
  // The leader timed the grant (stamp 3), but the renew at 5 came first: the lease lives.
  EXPECT_EQ(t.apply(LogIndex(6), "expire db 3 3"), "stale");
  EXPECT_EQ(t.apply(LogIndex(7), "expire db 3 5"), "expired");
  EXPECT_EQ(t.apply(LogIndex(8), "renew db alice 3"), "lost");
  EXPECT_EQ(t.apply(LogIndex(9), "acquire db bob 1000"), "granted 9");
  EXPECT_EQ(t.apply(LogIndex(10), "release db alice 9"), "lost");
  EXPECT_EQ(
      t.apply(LogIndex(11), "acquire db"),
      "error: expected <verb> <name> <word> <number> (printable, no spaces), got \"acquire db\"");
  // A name that would break the snapshot's lines is refused before it is stored.
  EXPECT_EQ(t.apply(LogIndex(12), "acquire a\nb carol 1000").substr(0, 6), "error:");
  EXPECT_EQ(t.locks().size(), 1u);
  EXPECT_EQ(t.find("db"), (Lock{.owner = "bob", .token = 9, .ttl_ms = 1000, .stamp = 9}));
}

TEST(LockTable, ASnapshotRestoresExactlyAndDamagedBytesChangeNothing) {
  LockTable from;
  from.apply(LogIndex(1), "acquire a alice 500");
  from.apply(LogIndex(2), "acquire b bob 700");
  from.apply(LogIndex(3), "renew b bob 2");
  const std::string snap = from.snapshot();

  LockTable to;
  to.apply(LogIndex(1), "acquire other carol 100");
  ASSERT_TRUE(to.restore(snap).ok());
  EXPECT_EQ(to.locks(), from.locks());

  const std::map<std::string, Lock> before = to.locks();
  for (const std::string& bad :
       {std::string(), snap.substr(0, snap.size() - 1), snap.substr(0, snap.size() - 6),
        std::string("lock-table 2\nend 0\n"), std::string("lock-table 1\na x 5 1 4\nend 1\n"),
        std::string("lock-table 1\na x 5 0 5\nend 1\n"),
        std::string("lock-table 1\na x 1 1 1\na y 2 1 2\nend 2\n"),
        std::string("lock-table 1\na x 1 1 1\nend 2\n")}) {
    EXPECT_FALSE(to.restore(bad).ok()) << bad;
    EXPECT_EQ(to.locks(), before) << bad;
  }
}

}  // namespace
}  // namespace lock_service
