// Watch: live events, catch-up from history, prev_kv, filters, cancel, progress, compacted
// start revisions, and a slow watcher that overflows its queue losing nothing.
#include <gtest/gtest.h>

#include "kv/store.h"
#include "kv_test_util.h"

namespace kv {
namespace {

using test::must_delete;
using test::must_put;
using Type = Event::Type;

WatchCreateRequest watch_req(const std::string& k, const std::string& end = "", int64_t start = 0) {
  WatchCreateRequest w;
  w.key = k;
  w.range_end = end;
  w.start_revision = start;
  return w;
}

std::vector<std::pair<Type, std::string>> summary(const std::vector<Event>& es) {
  std::vector<std::pair<Type, std::string>> out;
  for (const auto& e : es)
    out.emplace_back(e.type, e.kv.key + "@" + std::to_string(e.kv.mod_revision));
  return out;
}

TEST(KvWatch, LiveEventsOnAKeyAndARange) {
  Store s;
  auto one = s.watch_create(watch_req("a"));
  auto all = s.watch_create(watch_req("a", "c"));
  EXPECT_EQ(one.revision, 1);
  must_put(s, "a", "1");  // 2
  must_put(s, "b", "1");  // 3
  must_put(s, "c", "1");  // 4: outside [a, c)
  must_delete(s, "a");    // 5
  auto r1 = s.watch_poll(one.watch_id);
  EXPECT_FALSE(r1.canceled);
  EXPECT_EQ(r1.revision, 5);
  EXPECT_EQ(summary(r1.events), (std::vector<std::pair<Type, std::string>>{
                                    {Type::kPut, "a@2"}, {Type::kDelete, "a@5"}}));
  auto r2 = s.watch_poll(all.watch_id);
  EXPECT_EQ(summary(r2.events),
            (std::vector<std::pair<Type, std::string>>{
                {Type::kPut, "a@2"}, {Type::kPut, "b@3"}, {Type::kDelete, "a@5"}}));
  // The delete event carries only key and revision; the put carries the full kv.
  EXPECT_EQ(r2.events[2].kv.version, 0);
  EXPECT_EQ(r2.events[0].kv.value, "1");
  EXPECT_EQ(r2.events[0].kv.create_revision, 2);
  EXPECT_TRUE(s.watch_poll(all.watch_id).events.empty());
}

TEST(KvWatch, OnlyWatchersWithSomethingToDeliverAreReportedReady) {
  Store s;
  auto a = s.watch_create(watch_req("a"));
  auto b = s.watch_create(watch_req("b"));
  EXPECT_TRUE(s.take_ready_watchers().empty());
  must_put(s, "a", "1");
  EXPECT_EQ(s.take_ready_watchers(), std::vector<WatchId>{a.watch_id});
  EXPECT_TRUE(s.take_ready_watchers().empty());  // each report once
  must_put(s, "c", "1");                         // nobody watches c
  EXPECT_TRUE(s.take_ready_watchers().empty());
  must_put(s, "b", "1");
  must_put(s, "a", "2");
  EXPECT_EQ(s.take_ready_watchers(), (std::vector<WatchId>{b.watch_id, a.watch_id}));
}

TEST(KvWatch, AWatcherFallingBehindIsReportedReadySoItCatchesUp) {
  StoreOptions o;
  o.watch_queue_events = 2;
  Store s(o);
  auto w = s.watch_create(watch_req("k"));
  must_put(s, "k", "1");
  must_put(s, "k", "2");
  (void)s.take_ready_watchers();
  must_put(s, "k", "3");  // the queue is full: unsynced, to catch up from history
  EXPECT_EQ(s.take_ready_watchers(), std::vector<WatchId>{w.watch_id});
  EXPECT_EQ(s.watch_poll(w.watch_id).events.size(), 2u);
  EXPECT_EQ(s.watch_poll(w.watch_id).events.size(), 1u);  // the rest, from history
}

TEST(KvWatch, CatchUpFromAPastRevisionThenLive) {
  Store s;
  must_put(s, "k", "1");  // 2
  must_put(s, "k", "2");  // 3
  must_put(s, "k", "3");  // 4
  auto w = s.watch_create(watch_req("k", "", 3));
  EXPECT_FALSE(s.watch_progress(w.watch_id).has_value());  // still behind
  must_put(s, "k", "4");  // 5: not live yet (the watcher is unsynced), comes from history
  auto r = s.watch_poll(w.watch_id);
  EXPECT_EQ(summary(r.events), (std::vector<std::pair<Type, std::string>>{
                                   {Type::kPut, "k@3"}, {Type::kPut, "k@4"}, {Type::kPut, "k@5"}}));
  EXPECT_EQ(s.watch_progress(w.watch_id), 5);
  must_put(s, "k", "5");  // 6: live
  EXPECT_FALSE(s.watch_progress(w.watch_id).has_value());
  EXPECT_EQ(summary(s.watch_poll(w.watch_id).events),
            (std::vector<std::pair<Type, std::string>>{{Type::kPut, "k@6"}}));
}

TEST(KvWatch, PrevKvAndFilters) {
  Store s;
  WatchCreateRequest req = watch_req("k");
  req.prev_kv = true;
  auto with_prev = s.watch_create(req);
  req = watch_req("k");
  req.no_put = true;
  auto deletes_only = s.watch_create(req);
  req = watch_req("k");
  req.no_delete = true;
  auto puts_only = s.watch_create(req);
  must_put(s, "k", "1");
  must_put(s, "k", "2");
  must_delete(s, "k");
  auto r = s.watch_poll(with_prev.watch_id);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_FALSE(r.events[0].prev_kv.has_value());
  EXPECT_EQ(r.events[1].prev_kv->value, "1");
  EXPECT_EQ(r.events[2].prev_kv->value, "2");
  EXPECT_EQ(summary(s.watch_poll(deletes_only.watch_id).events),
            (std::vector<std::pair<Type, std::string>>{{Type::kDelete, "k@4"}}));
  EXPECT_EQ(s.watch_poll(puts_only.watch_id).events.size(), 2u);
  // Without prev_kv none is attached.
  auto plain = s.watch_create(watch_req("k", "", 2));
  for (const auto& e : s.watch_poll(plain.watch_id).events) EXPECT_FALSE(e.prev_kv.has_value());
  // From history, prev_kv is the version before.
  req = watch_req("k", "", 2);
  req.prev_kv = true;
  auto hist = s.watch_create(req);
  auto h = s.watch_poll(hist.watch_id);
  ASSERT_EQ(h.events.size(), 3u);
  EXPECT_EQ(h.events[0], r.events[0]);
  EXPECT_EQ(h.events[1], r.events[1]);
  EXPECT_EQ(h.events[2], r.events[2]);
}

TEST(KvWatch, CompactedStartRevisionCancelsWithTheCompactRevision) {
  Store s;
  for (int i = 0; i < 5; ++i) must_put(s, "k", std::to_string(i));  // 2..6
  ASSERT_TRUE(s.compact({5, false}).is_ok());
  auto w = s.watch_create(watch_req("k", "", 4));
  EXPECT_EQ(w.revision, 6);
  auto r = s.watch_poll(w.watch_id);
  EXPECT_TRUE(r.canceled);
  EXPECT_EQ(r.compact_revision, 5);
  EXPECT_EQ(r.cancel_reason, "etcdserver: mvcc: required revision has been compacted");
  EXPECT_EQ(s.watcher_count(), 0u);
  // From the compact revision itself it works.
  auto ok = s.watch_create(watch_req("k", "", 5));
  EXPECT_EQ(summary(s.watch_poll(ok.watch_id).events),
            (std::vector<std::pair<Type, std::string>>{{Type::kPut, "k@5"}, {Type::kPut, "k@6"}}));
}

TEST(KvWatch, FutureStartRevisionWaits) {
  Store s;
  auto w = s.watch_create(watch_req("k", "", 4));
  must_put(s, "k", "1");  // 2
  must_put(s, "k", "2");  // 3
  must_put(s, "k", "3");  // 4
  EXPECT_EQ(summary(s.watch_poll(w.watch_id).events),
            (std::vector<std::pair<Type, std::string>>{{Type::kPut, "k@4"}}));
}

TEST(KvWatch, CancelStopsEvents) {
  Store s;
  auto w = s.watch_create(watch_req("k"));
  EXPECT_TRUE(s.watch_cancel(w.watch_id));
  EXPECT_FALSE(s.watch_cancel(w.watch_id));
  must_put(s, "k", "1");
  EXPECT_TRUE(s.watch_poll(w.watch_id).canceled);
}

TEST(KvWatch, TxnEventsShareARevisionInOpOrderAndAreNeverSplit) {
  Store s;
  auto w = s.watch_create(watch_req("a", "z"));
  TxnRequest t;
  t.success = {test::put_op("c", "1"), test::put_op("a", "1"), test::put_op("b", "1")};
  ASSERT_TRUE(s.txn(t).is_ok());
  must_put(s, "d", "1");
  auto r = s.watch_poll(w.watch_id, 1);  // a revision is never split: three events
  EXPECT_EQ(summary(r.events), (std::vector<std::pair<Type, std::string>>{
                                   {Type::kPut, "c@2"}, {Type::kPut, "a@2"}, {Type::kPut, "b@2"}}));
  EXPECT_EQ(s.watch_poll(w.watch_id, 1).events.size(), 1u);
}

TEST(KvWatch, SlowWatcherFallsBackToHistoryAndLosesNothing) {
  StoreOptions o;
  o.watch_queue_events = 4;
  Store s(o);
  auto w = s.watch_create(watch_req("k", "l"));
  for (int i = 0; i < 20; ++i) must_put(s, "k" + std::to_string(i % 3), std::to_string(i));
  std::vector<Event> got;
  for (int polls = 0; polls < 100; ++polls) {
    auto r = s.watch_poll(w.watch_id, 3);
    ASSERT_FALSE(r.canceled);
    got.insert(got.end(), r.events.begin(), r.events.end());
    if (r.events.empty()) break;
  }
  ASSERT_EQ(got.size(), 20u);
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i].kv.mod_revision, static_cast<int64_t>(i) + 2);
  EXPECT_EQ(s.watch_progress(w.watch_id), 21);
}

TEST(KvWatch, SlowWatcherBehindACompactionIsCanceled) {
  StoreOptions o;
  o.watch_queue_events = 2;
  Store s(o);
  auto w = s.watch_create(watch_req("k"));
  for (int i = 0; i < 10; ++i) must_put(s, "k", std::to_string(i));  // 2..11
  ASSERT_TRUE(s.compact({8, false}).is_ok());
  auto r = s.watch_poll(w.watch_id);  // the queued events first
  EXPECT_FALSE(r.canceled);
  EXPECT_EQ(r.events.size(), 2u);
  r = s.watch_poll(w.watch_id);
  EXPECT_TRUE(r.canceled);
  EXPECT_EQ(r.compact_revision, 8);
}

TEST(KvWatch, LeaseRevokeEmitsDeletes) {
  Store s;
  ASSERT_TRUE(s.lease_grant({10, 1}, test::at(0)).is_ok());
  must_put(s, "a", "1", 1);
  must_put(s, "b", "1", 1);
  auto w = s.watch_create(watch_req("a", "z"));
  ASSERT_TRUE(s.lease_revoke({1}).is_ok());
  EXPECT_EQ(
      summary(s.watch_poll(w.watch_id).events),
      (std::vector<std::pair<Type, std::string>>{{Type::kDelete, "a@4"}, {Type::kDelete, "b@4"}}));
}

}  // namespace
}  // namespace kv
