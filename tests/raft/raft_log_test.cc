// The in-memory log: appends, conflicts, the up-to-date rule and stability.
#include "raft/raft_log.h"

#include <gtest/gtest.h>

namespace raft {
namespace {

Entry e(uint64_t index, uint64_t term, std::string data = "") {
  return Entry{Term(term), LogIndex(index), EntryType::kNormal, std::move(data)};
}

TEST(RaftLog, EmptyLogHasIndexAndTermZero) {
  RaftLog log({}, {}, {});
  EXPECT_EQ(log.last_index(), LogIndex());
  EXPECT_EQ(log.last_term(), Term());
  EXPECT_EQ(log.term(LogIndex()), Term());
  EXPECT_FALSE(log.term(LogIndex(1)).has_value());
}

TEST(RaftLog, DuplicatedAppendNeverTruncates) {  // paper 5.3: only a conflict truncates
  RaftLog log({}, {e(1, 1), e(2, 1), e(3, 1)}, {});
  // A stale, reordered message carrying only entry 2.
  LogIndex written;
  LogIndex last = log.append_after({Term(1), LogIndex(1)}, {e(2, 1)}, &written);
  EXPECT_EQ(last, LogIndex(2));
  EXPECT_EQ(written, LogIndex());
  EXPECT_EQ(log.last_index(), LogIndex(3));
}

TEST(RaftLog, ConflictingSuffixIsReplaced) {  // paper 5.3
  RaftLog log({}, {e(1, 1), e(2, 1), e(3, 1)}, {});
  LogIndex written;
  log.append_after({Term(1), LogIndex(1)}, {e(2, 2, "new")}, &written);
  EXPECT_EQ(written, LogIndex(2));
  EXPECT_EQ(log.last_index(), LogIndex(2));
  EXPECT_EQ(log.at(LogIndex(2)).data, "new");
  // The replaced entries are unstable again: they must be rewritten.
  EXPECT_EQ(log.stabled(), LogIndex(1));
  ASSERT_EQ(log.unstable().size(), 1u);
}

// bytes() is kept as the log changes; bytes_after() walks the entries. They must agree
// after every kind of change.
TEST(RaftLog, ItsBytesFollowEveryChange) {
  RaftLog log({}, {e(1, 1, "aa"), e(2, 1, "bbb")}, {});
  auto agrees = [&log] { return log.bytes() == log.bytes_after(log.snapshot().index); };
  EXPECT_EQ(log.bytes(), 5u);
  log.append({e(3, 1, "cccc")});
  EXPECT_EQ(log.bytes(), 9u);
  EXPECT_TRUE(agrees());
  LogIndex written;
  log.append_after({Term(1), LogIndex(1)}, {e(2, 1, "bbb"), e(3, 2, "x"), e(4, 2, "yy")},
                   &written);  // 2 kept, 3 replaced, 4 added
  EXPECT_EQ(log.bytes(), 2u + 3 + 1 + 2);
  EXPECT_TRUE(agrees());
  log.append_after({Term(1), LogIndex(1)}, {e(2, 3, "z")}, &written);  // truncates 2..4
  EXPECT_EQ(log.bytes(), 3u);
  EXPECT_TRUE(agrees());
  log.append({e(3, 3, "12345")});
  log.commit_to(LogIndex(3));
  log.applied_to(LogIndex(2));
  log.compact_to({Term(3), LogIndex(2)});
  EXPECT_EQ(log.bytes(), 5u);
  EXPECT_TRUE(agrees());
  log.restore({Term(4), LogIndex(10)});
  EXPECT_EQ(log.bytes(), 0u);
  log.append({e(11, 4, "abc")});
  EXPECT_EQ(log.bytes(), 3u);
  EXPECT_TRUE(agrees());
}

TEST(RaftLog, UpToDateComparesLastTermThenLength) {  // paper 5.4.1
  RaftLog log({}, {e(1, 1), e(2, 3)}, {});
  EXPECT_TRUE(log.is_up_to_date({Term(4), LogIndex(1)}));
  EXPECT_TRUE(log.is_up_to_date({Term(3), LogIndex(2)}));
  EXPECT_TRUE(log.is_up_to_date({Term(3), LogIndex(5)}));
  EXPECT_FALSE(log.is_up_to_date({Term(3), LogIndex(1)}));
  EXPECT_FALSE(log.is_up_to_date({Term(2), LogIndex(9)}));
}

TEST(RaftLog, StableToIgnoresAReplacedEntry) {
  RaftLog log({}, {}, {});
  log.append({e(1, 1), e(2, 1)});
  std::vector<Entry> handed = log.unstable();  // a Ready took these
  LogIndex written;
  log.append_after({Term(1), LogIndex(1)}, {e(2, 2)}, &written);  // then entry 2 was replaced
  log.stable_to(handed.back().id());
  EXPECT_EQ(log.stabled(), LogIndex()) << "the write of term 1 does not make term 2 durable";
  log.stable_to({Term(1), LogIndex(1)});
  EXPECT_EQ(log.stabled(), LogIndex(1));
}

TEST(RaftLog, ConflictHintFindsTheFirstIndexOfTheTerm) {
  RaftLog log({}, {e(1, 1), e(2, 2), e(3, 2), e(4, 2), e(5, 3)}, {});
  EXPECT_EQ(log.first_index_of_term_at(LogIndex(4)), LogIndex(2));
  EXPECT_EQ(log.first_index_of_term_at(LogIndex(5)), LogIndex(5));
  EXPECT_EQ(log.last_index_with_term_at_most(Term(2), LogIndex(5)), LogIndex(4));
  EXPECT_EQ(log.last_index_with_term_at_most(Term(1), LogIndex(5)), LogIndex(1));
  EXPECT_EQ(log.last_index_with_term_at_most(Term(0), LogIndex(5)), LogIndex());
}

TEST(RaftLog, SliceRespectsTheByteLimitButSendsAtLeastOne) {
  RaftLog log({}, {e(1, 1, "aaaa"), e(2, 1, "bbbb"), e(3, 1, "cccc")}, {});
  EXPECT_EQ(log.slice(LogIndex(1), LogIndex(3), 8).size(), 2u);
  EXPECT_EQ(log.slice(LogIndex(1), LogIndex(3), 1).size(), 1u);
  EXPECT_EQ(log.slice(LogIndex(2), LogIndex(3), 100).size(), 2u);
}

TEST(RaftLog, RestoredCommitIsClampedToTheLog) {
  RaftLog log({}, {e(1, 1)}, LogIndex(7));
  EXPECT_EQ(log.committed(), LogIndex(1));
}

}  // namespace
}  // namespace raft
