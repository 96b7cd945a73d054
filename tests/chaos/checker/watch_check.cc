#include "watch_check.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "checkers.h"
#include "report.h"

namespace chaos {
namespace {

using raftkv::chaos::NemesisEvent;
using raftkv::chaos::Op;
using raftkv::chaos::WatchEvent;

constexpr char kWorkload[] = "watch";
constexpr char kFinalKey[] = "w/final";
constexpr int64_t kFinalWithin = 30'000'000'000;  // W7: ns after the final put returned
constexpr size_t kEventsShownPerLine = 6;
constexpr size_t kAroundLines = 10;  // of a watcher's life, around a revision it missed

// One open of a watcher: its open line, its responses, and its close line (nullptr when
// the history ends first).
struct Session {
  const Op* open = nullptr;
  const Op* close = nullptr;
  std::vector<const Op*> responses;
};

struct Delivered {
  const WatchEvent* event;
  const Op* line;
};

// A watcher's whole life, and what it delivered at each revision.
struct Watcher {
  int64_t id = 0;
  std::vector<Session> sessions;
  std::vector<std::pair<int64_t, int64_t>> gaps;  // [from, to]: a compaction took them
  int64_t first_start = 0, last_rev = 0;
  std::map<int64_t, std::vector<Delivered>> at;

  bool covers(int64_t rev) const {
    if (sessions.empty() || rev < first_start || rev > last_rev) return false;
    return std::none_of(gaps.begin(), gaps.end(),
                        [&](const auto& g) { return rev >= g.first && rev <= g.second; });
  }
};

std::string describe_event(const WatchEvent& e) {
  return absl::StrCat("rev ", e.mod_rev(), " ", e.type(), " ", e.key(),
                      e.type() == "put" ? absl::StrCat("=", e.value()) : "");
}

std::string describe_line(const Op& op, int64_t origin) {
  std::string who = op.f().starts_with("watch-") ? absl::StrCat("watcher ", op.watcher())
                                                 : absl::StrCat("worker ", op.w());
  std::string what;
  if (op.f() == "put") {
    what = absl::StrCat("put ", op.key(), " = ", op.value());
  } else if (op.f() == "delete") {
    what = absl::StrCat("delete ", op.key(),
                        op.res() == "ok" ? absl::StrCat(" (deleted ", op.deleted(), ")") : "");
  } else if (op.f() == "compact") {
    what = absl::StrCat("compact to rev ", op.compact_rev());
  } else if (op.f() == "watch-open") {
    what = absl::StrCat("open from rev ", op.start());
  } else if (op.f() == "watch-close") {
    what = absl::StrCat(
        "closed: ", op.err(),
        op.compact_rev() != 0 ? absl::StrCat(" (compacted at rev ", op.compact_rev(), ")") : "");
  } else if (op.f() == "watch-events") {
    std::vector<std::string> events;
    for (int i = 0; i < op.events_size(); ++i) {
      if (events.size() == kEventsShownPerLine) {
        events.push_back(absl::StrCat("... ", op.events_size() - i, " more"));
        break;
      }
      events.push_back(describe_event(op.events(i)));
    }
    what = absl::StrCat("events ", absl::StrJoin(events, ", "), " (header rev ", op.rev(), ")");
  } else {
    what = op.f();
  }
  const bool instant = op.t0() == op.t1();
  return absl::StrCat(
      "  op ", op.op(), " ", who, " at ", op.ep().empty() ? "?" : op.ep(), ": ", what, " [",
      seconds(op.t0(), origin),
      instant ? "" : absl::StrCat(", ", op.res() == "info" ? "?" : seconds(op.t1(), origin)), "]",
      op.f().starts_with("watch-") ? "" : absl::StrCat(" ", op.res()),
      op.err().empty() || op.f() == "watch-close" ? "" : absl::StrCat(" (", op.err(), ")"),
      op.rev() != 0 && op.f() != "watch-events" ? absl::StrCat(" rev ", op.rev()) : "");
}

bool same_event(const WatchEvent& e, const Op& write) {
  const std::string type = write.f() == "put" ? "put" : "delete";
  return e.type() == type && e.key() == write.key() &&
         (type != "put" || e.value() == write.value());
}

// Builds each watcher's sessions, in history order.
std::map<int64_t, Watcher> watchers_of(const std::vector<const Op*>& lines) {
  std::map<int64_t, Watcher> out;
  for (const Op* op : lines) {
    Watcher& w = out[op->watcher()];
    w.id = op->watcher();
    if (op->f() == "watch-open" || w.sessions.empty() || w.sessions.back().close != nullptr) {
      w.sessions.emplace_back();
    }
    Session& s = w.sessions.back();
    if (op->f() == "watch-open") {
      s.open = op;
    } else if (op->f() == "watch-events") {
      s.responses.push_back(op);
    } else {
      s.close = op;
    }
  }
  for (auto& [id, w] : out) {
    w.first_start = w.sessions.front().open != nullptr ? w.sessions.front().open->start() : 1;
    for (const Session& s : w.sessions) {
      int64_t next = s.open != nullptr ? s.open->start() : 0;  // the first revision not yet had
      for (const Op* r : s.responses) {
        for (const WatchEvent& e : r->events()) {
          w.at[e.mod_rev()].push_back({&e, r});
          w.last_rev = std::max(w.last_rev, e.mod_rev());
          next = std::max(next, e.mod_rev() + 1);
        }
      }
      // ErrCompacted: the revisions from the next one this open would have delivered up
      // to the compaction are gone; the next open starts at the compaction.
      if (s.close != nullptr && s.close->compact_rev() > next && next > 0) {
        w.gaps.emplace_back(next, s.close->compact_rev() - 1);
      }
    }
  }
  return out;
}

class WatchChecker {
 public:
  explicit WatchChecker(const std::vector<Op>& ops) {
    std::vector<const Op*> lines;
    for (const Op& op : ops) {
      if (op.wl() != kWorkload) continue;
      if (op.f().starts_with("watch-")) {
        lines.push_back(&op);
      } else if (op.f() == "compact") {
        compacts_.push_back(&op);
        if (op.res() == "ok") ++report_.compactions_ok;
        if (op.res() == "info") ++report_.compactions_info;
      } else if (op.f() == "put" || op.f() == "delete") {
        add_write(op);
      }
    }
    watchers_ = watchers_of(lines);
  }

  WatchReport run() {
    for (const auto& [id, w] : watchers_) {
      check_order(w);
      check_sessions(w);
    }
    check_reliable();
    check_agreement();
    check_valid();
    check_final();
    for (const auto& [id, w] : watchers_) {
      WatcherSummary s;
      s.id = id;
      s.first_start = w.first_start;
      s.last_rev = w.last_rev;
      for (const Session& session : w.sessions) {
        s.opens += session.open != nullptr;
        s.responses += session.responses.size();
        for (const Op* r : session.responses) s.events += r->events_size();
        s.compacted += session.close != nullptr && session.close->compact_rev() != 0;
      }
      for (const auto& [from, to] : w.gaps) s.gap_revisions += to - from + 1;
      if (final_delay_.contains(id)) s.final_delay = final_delay_[id];
      report_.watchers.push_back(s);
    }
    return std::move(report_);
  }

 private:
  void add_write(const Op& op) {
    if (op.res() == "ok") ++report_.writes_ok;
    if (op.res() == "fail") ++report_.writes_fail;
    if (op.res() == "info") ++report_.writes_info;
    if (op.res() == "fail") return;
    if (op.f() == "put") {
      puts_[{op.key(), op.value()}] = &op;
      if (op.final() && op.key() == kFinalKey && op.res() == "ok") final_put_ = &op;
    } else if (op.res() == "info") {
      unknown_deletes_.insert(op.key());
    }
    // A delete that found nothing made no revision: its header names another write's.
    if (op.res() == "ok" && (op.f() == "put" || op.deleted() > 0)) ok_at_[op.rev()] = &op;
  }

  void add(WatchViolation v) {
    std::sort(v.ops.begin(), v.ops.end(), [](const Op& a, const Op& b) { return a.op() < b.op(); });
    report_.violations.push_back(std::move(v));
  }

  // W1: revisions only go up from one response to the next, and no (revision, key) is
  // delivered twice.
  void check_order(const Watcher& w) {
    std::set<std::pair<int64_t, std::string>> seen;
    int64_t before = 0;  // the last revision of the earlier responses
    const Op* previous = nullptr;
    for (const Session& s : w.sessions) {
      for (const Op* r : s.responses) {
        int64_t last = before;
        for (const WatchEvent& e : r->events()) {
          const char* anomaly = nullptr;
          std::string what;
          if (!seen.insert({e.mod_rev(), e.key()}).second) {
            anomaly = "watch-duplicate";
            what = absl::StrCat("delivered ", describe_event(e), " a second time");
          } else if (e.mod_rev() < last || (e.mod_rev() == before && previous != nullptr)) {
            anomaly = "watch-went-back";
            what = absl::StrCat("delivered ", describe_event(e), " after rev ",
                                std::max(last, before));
          }
          last = std::max(last, e.mod_rev());
          if (anomaly == nullptr) continue;
          WatchViolation v{.rule = "W1",
                           .anomaly = anomaly,
                           .watcher = w.id,
                           .rev = e.mod_rev(),
                           .what = absl::StrCat("watcher ", w.id, " ", what),
                           .ops = {*r},
                           .from = previous != nullptr ? previous->t0() : r->t0(),
                           .to = r->t0()};
          if (previous != nullptr) v.ops.push_back(*previous);
          add(std::move(v));
          break;  // one violation per response
        }
        before = std::max(before, last);
        previous = r;
      }
    }
  }

  // W2 (a reopened watch starts where it was asked to) and W6 (ErrCompacted only when the
  // start was compacted; no revision below a compaction the member had acknowledged).
  void check_sessions(const Watcher& w) {
    for (const Session& s : w.sessions) {
      if (s.open == nullptr) continue;
      const Op* first = s.responses.empty() ? nullptr : s.responses.front();
      if (first != nullptr && first->events(0).mod_rev() < s.open->start()) {
        WatchViolation v{
            .rule = "W2",
            .anomaly = "watch-resumed-early",
            .watcher = w.id,
            .rev = first->events(0).mod_rev(),
            .what = absl::StrCat("watcher ", w.id, " asked to start at rev ", s.open->start(),
                                 " and was first given ", describe_event(first->events(0))),
            .ops = {*s.open, *first},
            .from = s.open->t0(),
            .to = first->t0()};
        add(std::move(v));
      }
      if (s.close != nullptr && s.close->compact_rev() != 0) check_compacted(w, s);
      // The highest compaction acknowledged before the open was called, by the member
      // the watch was opened on, and by any member.
      const Op* here = nullptr;
      int64_t anywhere = 0;
      for (const Op* c : compacts_) {
        if (c->res() != "ok" || c->t1() >= s.open->t0()) continue;
        anywhere = std::max(anywhere, c->compact_rev());
        if (c->ep() == s.open->ep() && (here == nullptr || c->compact_rev() > here->compact_rev()))
          here = c;
      }
      // Revisions only go up in an open (W1), so its first event is its lowest.
      if (const Op* r = first; r != nullptr) {
        const int64_t rev = r->events(0).mod_rev();
        if (here != nullptr && rev < here->compact_rev()) {
          WatchViolation v{
              .rule = "W6",
              .anomaly = "watch-compacted-revision-served",
              .watcher = w.id,
              .rev = rev,
              .what = absl::StrCat("watcher ", w.id, " was given rev ", rev, " at ", s.open->ep(),
                                   ", which had acknowledged a ", "compaction to rev ",
                                   here->compact_rev(), " before the watch was opened"),
              .ops = {*here, *s.open, *r},
              .from = here->t0(),
              .to = r->t0()};
          add(std::move(v));
        } else if (rev < anywhere) {
          ++report_.served_below_remote_compaction;
        }
      }
    }
  }

  void check_compacted(const Watcher& w, const Session& s) {
    const int64_t c = s.close->compact_rev();
    std::string wrong;
    if (c <= s.open->start()) {
      wrong = absl::StrCat("ErrCompacted at rev ", c, " for a watch from rev ", s.open->start(),
                           ", which a compaction to ", c, " keeps");
    } else if (std::none_of(compacts_.begin(), compacts_.end(), [&](const Op* op) {
                 return op->res() != "fail" && op->compact_rev() == c;
               })) {
      wrong = absl::StrCat("ErrCompacted at rev ", c, ", a revision nobody compacted to");
    }
    if (wrong.empty()) return;
    add(WatchViolation{.rule = "W6",
                       .anomaly = "watch-false-compaction",
                       .watcher = w.id,
                       .rev = c,
                       .what = absl::StrCat("watcher ", w.id, " was told ", wrong),
                       .ops = {*s.open, *s.close},
                       .from = s.open->t0(),
                       .to = s.close->t0()});
  }

  // The lines of watcher w around revision `rev`: its last response before it and the
  // first after it, with the opens and closes between them.
  std::vector<Op> around(const Watcher& w, int64_t rev, int64_t* from, int64_t* to) const {
    std::vector<const Op*> lines;
    for (const Session& s : w.sessions) {
      if (s.open != nullptr) lines.push_back(s.open);
      lines.insert(lines.end(), s.responses.begin(), s.responses.end());
      if (s.close != nullptr) lines.push_back(s.close);
    }
    size_t lo = 0, hi = lines.size();
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i]->f() != "watch-events") continue;
      if (lines[i]->events(0).mod_rev() < rev) lo = i;
      if (lines[i]->events(lines[i]->events_size() - 1).mod_rev() > rev && hi == lines.size()) {
        hi = i;
      }
    }
    // At most kAroundLines, ending with the first response past the revision.
    hi = std::min(hi + 1, lines.size());
    lo = std::max(lo, hi > kAroundLines ? hi - kAroundLines : 0);
    std::vector<Op> out;
    for (size_t i = lo; i < hi; ++i) out.push_back(*lines[i]);
    if (!out.empty()) {
      *from = std::min(*from, out.front().t0());
      *to = std::max(*to, out.back().t0());
    }
    return out;
  }

  // W3: every acknowledged write in a watcher's covered range is delivered by it.
  void check_reliable() {
    for (const auto& [rev, write] : ok_at_) {
      for (const auto& [id, w] : watchers_) {
        if (!w.covers(rev)) continue;
        auto it = w.at.find(rev);
        const bool delivered =
            it != w.at.end() &&
            std::any_of(it->second.begin(), it->second.end(),
                        [&](const Delivered& d) { return d.event->key() == write->key(); });
        if (delivered) continue;  // W5 compares it with the write
        missed_.insert({id, rev});
        WatchViolation v{.rule = "W3",
                         .anomaly = "watch-missed-event",
                         .watcher = id,
                         .rev = rev,
                         .what = absl::StrCat("watcher ", id, " covered rev ", rev,
                                              " but never delivered the acknowledged ", write->f(),
                                              " of ", write->key(), " there"),
                         .ops = {},
                         .from = write->t0(),
                         .to = write->t1()};
        v.ops = around(w, rev, &v.from, &v.to);
        v.ops.push_back(*write);
        add(std::move(v));
      }
    }
  }

  // W4: two watchers covering a revision delivered the same events at it.
  void check_agreement() {
    std::set<int64_t> revs;
    for (const auto& [id, w] : watchers_) {
      for (const auto& [rev, events] : w.at) revs.insert(rev);
    }
    for (int64_t rev : revs) {
      std::map<std::string, std::vector<int64_t>> by_set;  // events -> watchers
      std::vector<Op> lines;
      int64_t from = INT64_MAX, to = 0;
      for (const auto& [id, w] : watchers_) {
        if (!w.covers(rev) || missed_.contains({id, rev})) continue;
        std::vector<std::string> events;
        auto it = w.at.find(rev);
        if (it != w.at.end()) {
          for (const Delivered& d : it->second) events.push_back(describe_event(*d.event));
          lines.push_back(*it->second.front().line);
          from = std::min(from, it->second.front().line->t0());
          to = std::max(to, it->second.front().line->t0());
        }
        std::sort(events.begin(), events.end());
        by_set[events.empty() ? "nothing" : absl::StrJoin(events, "; ")].push_back(id);
      }
      if (by_set.size() < 2) continue;
      std::vector<std::string> sets;
      for (const auto& [events, ids] : by_set) {
        sets.push_back(absl::StrCat("watchers ", absl::StrJoin(ids, ","), ": ", events));
      }
      add(WatchViolation{.rule = "W4",
                         .anomaly = "watch-divergent",
                         .watcher = by_set.begin()->second.front(),
                         .rev = rev,
                         .what = absl::StrCat("watchers covering rev ", rev,
                                              " disagree on it: ", absl::StrJoin(sets, " | ")),
                         .ops = std::move(lines),
                         .from = from,
                         .to = to});
    }
  }

  // W5: every event is a write some client made (acknowledged or not), and at the
  // revision of an acknowledged write it is that write.
  void check_valid() {
    for (const auto& [id, w] : watchers_) {
      for (const auto& [rev, delivered] : w.at) {
        for (const Delivered& d : delivered) {
          const WatchEvent& e = *d.event;
          const Op* write = nullptr;
          std::string wrong;
          if (auto it = ok_at_.find(rev); it != ok_at_.end()) {
            write = it->second;
            if (!same_event(e, *write)) {
              wrong = absl::StrCat("the write acknowledged at rev ", rev, " was op ", write->op());
            }
          } else if (e.type() == "put") {
            auto it = puts_.find({e.key(), e.value()});
            if (it == puts_.end()) {
              wrong = "nobody wrote that value";
            } else if (it->second->res() == "ok") {
              write = it->second;
              wrong = absl::StrCat("its put, op ", write->op(), ", was acknowledged at rev ",
                                   write->rev());
            }
          } else if (!unknown_deletes_.contains(e.key())) {
            wrong = "no delete of that key made this revision or may have";
          }
          if (wrong.empty()) continue;
          WatchViolation v{.rule = "W5",
                           .anomaly = "watch-phantom",
                           .watcher = id,
                           .rev = rev,
                           .what = absl::StrCat("watcher ", id, " delivered ", describe_event(e),
                                                ", but ", wrong),
                           .ops = {*d.line},
                           .from = d.line->t0(),
                           .to = d.line->t0()};
          if (write != nullptr) {
            v.ops.push_back(*write);
            v.from = std::min(v.from, write->t0());
          }
          add(std::move(v));
        }
      }
    }
  }

  // W7: after the final heal every watcher delivers the final put within kFinalWithin.
  void check_final() {
    if (final_put_ == nullptr) return;
    report_.final_rev = final_put_->rev();
    for (const auto& [id, w] : watchers_) {
      auto it = w.at.find(final_put_->rev());
      if (it != w.at.end()) {
        final_delay_[id] = it->second.front().line->t0() - final_put_->t1();
        if (final_delay_[id] <= kFinalWithin) continue;
      }
      WatchViolation v{
          .rule = "W7",
          .anomaly = "watch-stuck",
          .watcher = id,
          .rev = final_put_->rev(),
          .what = absl::StrCat("watcher ", id, " delivered the final put (rev ", final_put_->rev(),
                               ") ",
                               final_delay_.contains(id)
                                   ? absl::StrFormat("%.1f s after it returned",
                                                     static_cast<double>(final_delay_[id]) / 1e9)
                                   : absl::StrCat("never (its last event is rev ", w.last_rev, ")"),
                               "; every fault was healed: 30 s is the limit"),
          .ops = {*final_put_},
          .from = final_put_->t0(),
          .to = final_put_->t1() + kFinalWithin};
      // Its last open and what came of it.
      const Session& last = w.sessions.back();
      if (last.open != nullptr) v.ops.push_back(*last.open);
      if (!last.responses.empty()) v.ops.push_back(*last.responses.back());
      if (last.close != nullptr) v.ops.push_back(*last.close);
      add(std::move(v));
    }
  }

  WatchReport report_;
  std::map<int64_t, Watcher> watchers_;
  std::vector<const Op*> compacts_;
  std::map<std::pair<std::string, std::string>, const Op*> puts_;  // (key, value): not failed
  std::set<std::string> unknown_deletes_;  // keys of deletes with an unknown outcome
  std::map<int64_t, const Op*> ok_at_;     // acknowledged writes by the revision they made
  const Op* final_put_ = nullptr;
  std::set<std::pair<int64_t, int64_t>> missed_;  // (watcher, rev) reported by W3
  std::map<int64_t, int64_t> final_delay_;
};

}  // namespace

WatchReport check_watch(const std::vector<Op>& ops) { return WatchChecker(ops).run(); }

std::string describe(const WatchReport& report, const std::vector<NemesisEvent>& faults,
                     int64_t origin) {
  std::string out = absl::StrCat(
      "watch: ", report.writes_ok, " ok, ", report.writes_fail, " failed, ", report.writes_info,
      " unknown writes; ", report.compactions_ok, " compactions (", report.compactions_info,
      " unknown); ", report.watchers.size(), " watchers; final put ",
      report.final_rev != 0 ? absl::StrCat("at rev ", report.final_rev) : "never acknowledged",
      "\n");
  for (const WatcherSummary& w : report.watchers) {
    absl::StrAppend(
        &out, "  watcher ", w.id, ": ", w.events, " events in ", w.responses, " responses, ",
        w.opens, " opens (", w.compacted, " ended by compaction), revs ", w.first_start, "..",
        w.last_rev,
        w.gap_revisions != 0 ? absl::StrCat(" less ", w.gap_revisions, " compacted") : "",
        "; final put ",
        !w.final_delay.has_value() ? std::string("not delivered")
        : *w.final_delay >= 0      ? absl::StrFormat("delivered %.3f s after it returned",
                                                     static_cast<double>(*w.final_delay) / 1e9)
                                   : absl::StrFormat("delivered %.3f s before it returned",
                                                     static_cast<double>(-*w.final_delay) / 1e9),
        "\n");
  }
  if (report.served_below_remote_compaction != 0) {
    absl::StrAppend(&out, "  note: ", report.served_below_remote_compaction,
                    " opens served revisions below a compaction only another member had ",
                    "acknowledged (allowed: a member watches what it has applied)\n");
  }
  if (report.violations.empty()) {
    if (report.final_rev == 0 && !report.watchers.empty()) {
      return out + "watch: INCONCLUSIVE: no final put was acknowledged, so W7 was not checked\n";
    }
    return out + "watch: W1-W7 hold\n";
  }
  return out + describe_violations("watch", report.violations, faults, origin, describe_line);
}

CheckResult check_watch_workload(const CheckInput& in) {
  WatchReport r = check_watch(in.ops);
  CheckResult out{.text = describe(r, in.faults, in.origin)};
  if (!r.violations.empty()) {
    out.verdict = Verdict::kAnomaly;
  } else if (r.final_rev == 0 && !r.watchers.empty()) {
    out.verdict = Verdict::kInconclusive;
  }
  return out;
}

}  // namespace chaos
