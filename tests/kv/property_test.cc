// Property test: random sequences of Put, DeleteRange, Txn, Compact, lease grant/revoke,
// snapshot-restore, ranges and watches against a plain reference model (the whole key
// space copied at every revision plus the events of each revision). Checked after every
// operation: the revision, the current key space, every answer and error; at the end: every
// kept revision, each watcher's events (in order, none lost, none twice), and that a replica
// that never restored writes the same snapshot bytes.
//
// A failure prints rapidcheck's seed; replay it with RC_PARAMS="reproduce=..." as printed.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <ostream>
#include <sstream>
#include <tuple>

#include "kv/errors.h"
#include "kv/store.h"

namespace kv {

std::ostream& operator<<(std::ostream& os, const KeyValue& kv) {
  return os << "{" << kv.key << " c" << kv.create_revision << " m" << kv.mod_revision << " v"
            << kv.version << " '" << kv.value << "' l" << kv.lease << "}";
}
std::ostream& operator<<(std::ostream& os, const Event& e) {
  os << (e.type == Event::Type::kPut ? "PUT" : "DEL") << e.kv;
  if (e.prev_kv) os << " prev" << *e.prev_kv;
  return os;
}
std::ostream& operator<<(std::ostream& os, const Status& s) {
  return os << static_cast<int>(s.code()) << ":" << s.message();
}

namespace {

const std::vector<std::string> kKeys = {"a", "ab", "abc", "b", "ba", "c"};
const std::vector<std::string> kEnds = {"", std::string(1, '\0'), "b", "c", "ab", "bb"};

bool in_range(const std::string& k, const std::string& key, const std::string& end) {
  if (end.empty()) return k == key;
  if (end == std::string(1, '\0')) return k >= key;
  return k >= key && k < end;
}

using KeySpace = std::map<std::string, KeyValue>;

// The reference: every revision's whole key space, and each revision's events in order.
struct Model {
  std::vector<KeySpace> states = {{}, {}};  // [revision]; 0 unused, 1 is the empty store
  std::vector<std::vector<Event>> events = {{}, {}};
  int64_t compact = 0;
  std::map<int64_t, int64_t> leases;  // id -> ttl

  int64_t rev() const { return static_cast<int64_t>(states.size()) - 1; }
  const KeySpace& cur() const { return states.back(); }
  void commit(KeySpace next, std::vector<Event> evs) {
    if (evs.empty()) return;
    states.push_back(std::move(next));
    events.push_back(std::move(evs));
  }
  static void put(KeySpace& s, std::vector<Event>& evs, int64_t rev, const std::string& k,
                  const std::string& v, int64_t lease) {
    Event e;
    KeyValue kv;
    kv.key = k;
    kv.value = v;
    kv.lease = lease;
    kv.mod_revision = rev;
    auto it = s.find(k);
    if (it != s.end()) {
      e.prev_kv = it->second;
      kv.create_revision = it->second.create_revision;
      kv.version = it->second.version + 1;
    } else {
      kv.create_revision = rev;
      kv.version = 1;
    }
    s[k] = kv;
    e.kv = kv;
    evs.push_back(e);
  }
  static int64_t del(KeySpace& s, std::vector<Event>& evs, int64_t rev, const std::string& k,
                     const std::string& end) {
    std::vector<std::string> doomed;
    for (const auto& [key, kv] : s) {
      if (in_range(key, k, end)) doomed.push_back(key);
    }
    for (const auto& key : doomed) {
      Event e;
      e.type = Event::Type::kDelete;
      e.kv.key = key;
      e.kv.mod_revision = rev;
      e.prev_kv = s[key];
      evs.push_back(e);
      s.erase(key);
    }
    return static_cast<int64_t>(doomed.size());
  }
};

struct WatchTrack {
  WatchId id;
  WatchCreateRequest req;
  int64_t start;  // effective start revision
  std::vector<Event> got;
  bool canceled = false;
};

class Harness {
 public:
  Harness() : store_(options()), replica_(options()) {}

  static StoreOptions options() {
    StoreOptions o;
    o.watch_queue_events = 2;  // tiny, so watchers overflow and catch up from history
    o.quota_bytes = 0;
    return o;
  }

  void step(uint8_t kind, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const std::string& k1 = kKeys[a % kKeys.size()];
    const std::string& k2 = kKeys[b % kKeys.size()];
    const std::string& end = kEnds[c % kEnds.size()];
    const std::string value = "v" + std::to_string(d % 4);
    switch (kind % 16) {
      case 0:
      case 1:
      case 2:
      case 3:
        do_put(k1, value, d % 5 == 4 ? 1 + c % 3 : 0);
        break;
      case 4:
      case 5:
        do_delete(k1, end);
        break;
      case 6:
      case 7:
        do_txn(k1, k2, end, value, c, d);
        break;
      case 8:
        // Rarely: a compaction cancels the watchers that are behind it.
        if (a % 4 == 0) {
          do_compact(1 + d % (model_.rev() + 1));
        } else {
          for (auto& w : watches_) poll(w, 1 + d % 4);
        }
        break;
      case 9:
        do_snapshot_restore();
        break;
      case 10:
        do_grant(1 + a % 3);
        break;
      case 11:
        do_revoke(1 + a % 3);
        break;
      case 12:
      case 13:
        check_range(k1, end, d % (model_.rev() + 2), c % 3, b % 2 == 1);
        break;
      case 14:
        if (!watches_.empty()) poll(watches_[a % watches_.size()], 1 + d % 4);
        break;
      case 15:
        add_watch(k1, end, d % (model_.rev() + 2), b % 4);
        break;
    }
    RC_ASSERT(store_.revision() == model_.rev());
    RC_ASSERT(current_kvs(store_) == kvs_of(model_.cur()));
  }

  // Start-of-run watchers: everything (with prev_kv), one prefix without deletes, one key.
  void initial_watches() {
    add_watch("a", std::string(1, '\0'), 0, 1);
    add_watch("b", "c", 0, 2);
    add_watch("ab", "", 0, 0);
  }

  void finish() {
    for (auto& w : watches_) {
      for (int i = 0; i < 10000 && !w.canceled; ++i) {
        if (poll(w, SIZE_MAX) == 0 && store_.watch_progress(w.id)) break;
      }
      check_watch(w);
    }
    // Every revision still kept reads as the model says.
    for (int64_t r = std::max<int64_t>(model_.compact, 1); r <= model_.rev(); ++r) {
      RangeRequest q;
      q.key = "a";
      q.range_end = std::string(1, '\0');
      q.revision = r;
      auto res = store_.range(q);
      RC_ASSERT(res.is_ok());
      RC_ASSERT(res->kvs == kvs_of(model_.states[static_cast<size_t>(r)]));
    }
    RC_ASSERT(snapshot(store_) == snapshot(replica_));
  }

  size_t events_seen() const {
    size_t n = 0;
    for (const auto& w : watches_) n += w.got.size();
    return n;
  }

  size_t canceled() const {
    size_t n = 0;
    for (const auto& w : watches_) n += w.canceled;
    return n;
  }

 private:
  static std::vector<KeyValue> kvs_of(const KeySpace& s) {
    std::vector<KeyValue> out;
    for (const auto& [k, kv] : s) out.push_back(kv);
    return out;
  }
  static std::vector<KeyValue> current_kvs(const Store& s) {
    RangeRequest q;
    q.key = "a";
    q.range_end = std::string(1, '\0');
    return s.range(q)->kvs;
  }
  static std::string snapshot(const Store& s) {
    std::ostringstream out;
    RC_ASSERT(s.save_snapshot(out).is_ok());
    return out.str();
  }

  // Applies to both stores; they must answer alike.
  template <typename F>
  auto both(F&& f) {
    auto r1 = f(store_);
    auto r2 = f(replica_);
    RC_ASSERT(r1.status() == r2.status());
    return r1;
  }

  void do_put(const std::string& k, const std::string& v, int64_t lease) {
    PutRequest p;
    p.key = k;
    p.value = v;
    p.lease = lease;
    p.prev_kv = true;
    auto r = both([&](Store& s) { return s.put(p); });
    if (lease != 0 && model_.leases.count(lease) == 0) {
      RC_ASSERT(r.status() == errors::lease_not_found());
      return;
    }
    RC_ASSERT(r.is_ok());
    KeySpace next = model_.cur();
    std::vector<Event> evs;
    Model::put(next, evs, model_.rev() + 1, k, v, lease);
    RC_ASSERT(r->prev_kv == evs[0].prev_kv);
    model_.commit(std::move(next), std::move(evs));
    RC_ASSERT(r->revision == model_.rev());
  }

  void do_delete(const std::string& k, const std::string& end) {
    DeleteRangeRequest d;
    d.key = k;
    d.range_end = end;
    d.prev_kv = true;
    auto r = both([&](Store& s) { return s.delete_range(d); });
    RC_ASSERT(r.is_ok());
    KeySpace next = model_.cur();
    std::vector<Event> evs;
    const int64_t n = Model::del(next, evs, model_.rev() + 1, k, end);
    RC_ASSERT(r->deleted == n);
    std::vector<KeyValue> prevs;
    for (const auto& e : evs) prevs.push_back(*e.prev_kv);
    RC_ASSERT(r->prev_kvs == prevs);
    model_.commit(std::move(next), std::move(evs));
    RC_ASSERT(r->revision == model_.rev());
  }

  // A flat branch is refused when a put key repeats or falls in a deleted range.
  static bool has_duplicate(const std::vector<RequestOp>& ops) {
    std::vector<std::string> puts;
    std::vector<std::pair<std::string, std::string>> dels;
    for (const auto& op : ops) {
      if (auto* p = std::get_if<PutRequest>(&op.request)) puts.push_back(p->key);
      if (auto* d = std::get_if<DeleteRangeRequest>(&op.request)) {
        dels.emplace_back(d->key, d->range_end);
      }
    }
    for (size_t i = 0; i < puts.size(); ++i) {
      for (size_t j = i + 1; j < puts.size(); ++j) {
        if (puts[i] == puts[j]) return true;
      }
      for (const auto& [k, e] : dels) {
        if (in_range(puts[i], k, e)) return true;
      }
    }
    return false;
  }

  void do_txn(const std::string& k1, const std::string& k2, const std::string& end,
              const std::string& value, uint8_t shape, uint8_t d) {
    TxnRequest t;
    Compare c;
    c.key = k1;
    if (d % 2 == 0) {
      c.target = Compare::Target::kVersion;
      c.result = static_cast<Compare::Result>(d / 2 % 4);
      c.version = d / 8 % 3;
    } else {
      c.target = Compare::Target::kValue;
      c.result = static_cast<Compare::Result>(d / 2 % 4);
      c.value = value;
    }
    t.compare = {c};
    auto put = [](const std::string& k, const std::string& v) {
      PutRequest p;
      p.key = k;
      p.value = v;
      return RequestOp{p};
    };
    auto del = [](const std::string& k, const std::string& e) {
      DeleteRangeRequest r;
      r.key = k;
      r.range_end = e;
      return RequestOp{r};
    };
    auto rng = [](const std::string& k) {
      RangeRequest r;
      r.key = k;
      r.range_end = std::string(1, '\0');
      return RequestOp{r};
    };
    t.success.push_back(put(k1, value));
    if (shape & 1) t.success.push_back(rng(k1));
    if (shape & 2) t.success.push_back(put(k2, value + "s"));
    if (shape & 4) t.success.push_back(del(k2, end));
    if (shape & 8) t.failure.push_back(rng(k1));
    if (shape & 16) t.failure.push_back(del(k1, end));
    if (shape & 32) t.failure.push_back(put(k2, value + "f"));
    auto r = both([&](Store& s) { return s.txn(t); });
    if (has_duplicate(t.success) || has_duplicate(t.failure)) {
      RC_ASSERT(r.status() == errors::duplicate_key());
      return;
    }
    RC_ASSERT(r.is_ok());
    // The compare, on the state before the txn.
    bool ok = true;
    auto it = model_.cur().find(k1);
    auto holds = [&](auto x, auto y) {
      switch (c.result) {
        case Compare::Result::kEqual:
          return x == y;
        case Compare::Result::kGreater:
          return x > y;
        case Compare::Result::kLess:
          return x < y;
        case Compare::Result::kNotEqual:
          return x != y;
      }
      return false;
    };
    if (c.target == Compare::Target::kVersion) {
      ok = holds(it == model_.cur().end() ? int64_t{0} : it->second.version, c.version);
    } else {
      ok = it != model_.cur().end() && holds(it->second.value, c.value);
    }
    RC_ASSERT(r->succeeded == ok);
    KeySpace next = model_.cur();
    std::vector<Event> evs;
    const int64_t rev = model_.rev() + 1;
    const auto& ops = ok ? t.success : t.failure;
    RC_ASSERT(r->responses.size() == ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      const auto& op = ops[i].request;
      const auto& resp = r->responses[i].response;
      if (auto* p = std::get_if<PutRequest>(&op)) {
        Model::put(next, evs, rev, p->key, p->value, 0);
      } else if (auto* dr = std::get_if<DeleteRangeRequest>(&op)) {
        const int64_t n = Model::del(next, evs, rev, dr->key, dr->range_end);
        RC_ASSERT(std::get<DeleteRangeResponse>(resp).deleted == n);
      } else if (auto* rr = std::get_if<RangeRequest>(&op)) {
        std::vector<KeyValue> want;
        for (const auto& [k, kv] : next) {
          if (in_range(k, rr->key, rr->range_end)) want.push_back(kv);
        }
        RC_ASSERT(std::get<RangeResponse>(resp).kvs == want);  // sees the txn's own writes
      }
    }
    model_.commit(std::move(next), std::move(evs));
    RC_ASSERT(r->revision == model_.rev());
  }

  void do_compact(int64_t rev) {
    CompactionRequest c;
    c.revision = rev;
    auto r = both([&](Store& s) { return s.compact(c); });
    if (rev <= model_.compact) {
      RC_ASSERT(r.status() == errors::compacted());
    } else if (rev > model_.rev()) {
      RC_ASSERT(r.status() == errors::future_revision());
    } else {
      RC_ASSERT(r.is_ok());
      model_.compact = rev;
    }
  }

  void do_grant(int64_t id) {
    LeaseGrantRequest g;
    g.id = id;
    g.ttl = 10;
    auto r = both([&](Store& s) { return s.lease_grant(g, TimePoint{}); });
    if (model_.leases.count(id) != 0) {
      RC_ASSERT(r.status() == errors::lease_exists());
      return;
    }
    RC_ASSERT(r.is_ok());
    model_.leases[id] = 10;
  }

  void do_revoke(int64_t id) {
    auto r = both([&](Store& s) { return s.lease_revoke({id}); });
    if (model_.leases.count(id) == 0) {
      RC_ASSERT(r.status() == errors::lease_not_found());
      return;
    }
    RC_ASSERT(r.is_ok());
    model_.leases.erase(id);
    KeySpace next = model_.cur();
    std::vector<Event> evs;
    for (const auto& [k, kv] : model_.cur()) {
      if (kv.lease == id) Model::del(next, evs, model_.rev() + 1, k, "");
    }
    model_.commit(std::move(next), std::move(evs));
  }

  void do_snapshot_restore() {
    const std::string bytes = snapshot(store_);
    Store fresh(options());
    std::istringstream in(bytes);
    RC_ASSERT(fresh.restore_snapshot(in).is_ok());
    RC_ASSERT(snapshot(fresh) == bytes);
    // The main store restores its own snapshot: its watchers must carry on.
    std::istringstream again(bytes);
    RC_ASSERT(store_.restore_snapshot(again).is_ok());
    RC_ASSERT(snapshot(store_) == bytes);
  }

  void check_range(const std::string& k, const std::string& end, int64_t rev, int64_t limit,
                   bool descend) {
    RangeRequest q;
    q.key = k;
    q.range_end = end;
    q.revision = rev;
    q.limit = limit;
    if (descend) q.sort_order = RangeRequest::SortOrder::kDescend;
    auto r = store_.range(q);
    if (rev > model_.rev()) {
      RC_ASSERT(r.status() == errors::future_revision());
      return;
    }
    if (rev > 0 && rev < model_.compact) {
      RC_ASSERT(r.status() == errors::compacted());
      return;
    }
    RC_ASSERT(r.is_ok());
    const KeySpace& s = model_.states[static_cast<size_t>(rev > 0 ? rev : model_.rev())];
    std::vector<KeyValue> want;
    for (const auto& [key, kv] : s) {
      if (in_range(key, k, end)) want.push_back(kv);
    }
    RC_ASSERT(r->count == static_cast<int64_t>(want.size()));
    if (descend) std::reverse(want.begin(), want.end());
    const bool more = limit > 0 && want.size() > static_cast<size_t>(limit);
    if (more) want.resize(static_cast<size_t>(limit));
    RC_ASSERT(r->kvs == want);
    RC_ASSERT(r->more == more);
    RC_ASSERT(r->revision == model_.rev());
  }

  void add_watch(const std::string& k, const std::string& end, int64_t start, int flags) {
    WatchTrack w;
    w.req.key = k;
    w.req.range_end = end;
    w.req.start_revision = start;
    w.req.prev_kv = flags & 1;
    w.req.no_delete = flags & 2;
    auto r = store_.watch_create(w.req);
    RC_ASSERT(r.revision == model_.rev());
    w.id = r.watch_id;
    w.start = start > 0 ? start : model_.rev() + 1;
    watches_.push_back(std::move(w));
  }

  // Returns how many events arrived.
  size_t poll(WatchTrack& w, size_t max) {
    if (w.canceled) return 0;
    auto r = store_.watch_poll(w.id, max);
    if (r.canceled) {
      w.canceled = true;
      RC_ASSERT(r.compact_revision == model_.compact);
      RC_ASSERT(r.compact_revision > 0);
      return 0;
    }
    w.got.insert(w.got.end(), r.events.begin(), r.events.end());
    return r.events.size();
  }

  void check_watch(const WatchTrack& w) {
    std::vector<Event> want;
    for (int64_t r = std::max<int64_t>(w.start, 2); r <= model_.rev(); ++r) {
      for (const Event& e : model_.events[static_cast<size_t>(r)]) {
        if (!in_range(e.kv.key, w.req.key, w.req.range_end)) continue;
        if (w.req.no_delete && e.type == Event::Type::kDelete) continue;
        want.push_back(e);
      }
    }
    // A canceled watcher got a prefix; a live one got everything.
    RC_ASSERT(w.got.size() <= want.size());
    if (!w.canceled) RC_ASSERT(w.got.size() == want.size());
    for (size_t i = 0; i < w.got.size(); ++i) {
      Event got = w.got[i];
      Event exp = want[i];
      if (!w.req.prev_kv) {
        RC_ASSERT(!got.prev_kv.has_value());
        exp.prev_kv.reset();
      } else if (!got.prev_kv && got.kv.mod_revision <= model_.compact) {
        exp.prev_kv.reset();  // the previous version was compacted before it was read
      }
      RC_ASSERT(got == exp);
    }
  }

  size_t events_seen_ = 0;
  Model model_;
  Store store_;    // restores snapshots along the way
  Store replica_;  // applies the same writes, never restores
  std::vector<WatchTrack> watches_;
};

using Op = std::tuple<uint8_t, uint8_t, uint8_t, uint8_t, uint8_t>;

RC_GTEST_PROP(KvProperty, StoreMatchesReferenceModel, (const std::vector<Op>& ops)) {
  Harness h;
  h.initial_watches();
  for (const auto& [kind, a, b, c, d] : ops) h.step(kind, a, b, c, d);
  h.finish();
  RC_CLASSIFY(ops.size() > 50, "more than 50 ops");
  RC_TAG(h.events_seen() > 20 ? "watchers saw > 20 events" : "watchers saw <= 20 events");
  RC_TAG(h.canceled() > 0 ? "a watcher was canceled" : "no watcher canceled");
}

}  // namespace
}  // namespace kv
