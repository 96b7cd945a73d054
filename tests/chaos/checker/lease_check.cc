#include "lease_check.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
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

constexpr char kWorkload[] = "lease";
constexpr char kPrefix[] = "lease/";
constexpr int64_t kSecond = 1'000'000'000;
constexpr size_t kKeepalivesShown = 3;

std::string describe_line(const Op& op, int64_t origin) {
  std::string what;
  if (op.f() == "grant") {
    what = absl::StrCat(
        "grant ttl ", op.asked_ttl(), " s",
        op.res() == "ok" ? absl::StrCat(" -> lease ", op.lease(), " ttl ", op.ttl(), " s") : "");
  } else if (op.f() == "keepalive") {
    what = absl::StrCat("keepalive ", op.lease(),
                        op.res() == "ok" ? absl::StrCat(" -> ttl ", op.ttl(), " s") : "");
  } else if (op.f() == "put") {
    what = absl::StrCat("put ", op.key(), " with lease ", op.lease());
  } else if (op.f() == "revoke") {
    what = absl::StrCat("revoke ", op.lease());
  } else if (op.f() == "read") {
    what = absl::StrCat(op.final() ? "final read " : "read ", op.key());
    if (op.res() == "ok") {
      absl::StrAppend(&what, " -> ", op.keys().empty() ? "(none)" : absl::StrJoin(op.keys(), ","));
    }
  } else if (op.f() == "watch-events") {
    std::vector<std::string> events;
    for (const WatchEvent& e : op.events()) {
      if (e.type() == "delete") events.push_back(absl::StrCat(e.key(), " at rev ", e.mod_rev()));
    }
    what = absl::StrCat("lease watcher ", op.watcher(), " deletes ", absl::StrJoin(events, ", "));
  } else {
    what = op.f();
  }
  return absl::StrCat("  op ", op.op(), " worker ", op.w(), " at ", op.ep().empty() ? "?" : op.ep(),
                      ": ", what, " [", seconds(op.t0(), origin), ", ",
                      op.res() == "info" ? "?" : seconds(op.t1(), origin), "] ", op.res(),
                      op.err().empty() ? "" : absl::StrCat(" (", op.err(), ")"),
                      op.rev() != 0 ? absl::StrCat(" rev ", op.rev()) : "");
}

// The lease a key of the workload belongs to: lease/<id>/..., 0 for another key.
int64_t lease_of(const std::string& key) {
  if (!key.starts_with(kPrefix)) return 0;
  const size_t start = sizeof(kPrefix) - 1, slash = key.find('/', start);
  int64_t id = 0;
  if (slash == std::string::npos || !absl::SimpleAtoi(key.substr(start, slash - start), &id)) {
    return 0;
  }
  return id;
}

struct Deletion {
  const WatchEvent* event;
  const Op* line;
};

// One granted lease and everything done with it.
struct Lease {
  const Op* grant = nullptr;
  std::vector<const Op*> puts, keepalives, revokes, reads;
  std::vector<Deletion> deletions;
  // P(L): while it has not passed the keys must be there (L1): the latest send time
  // plus TTL of the grant and every acknowledged keepalive.
  int64_t promise = 0;
  // The latest time the lease may expire: the latest return plus TTL of the grant and
  // every keepalive, acknowledged or not (the server may have renewed it any time
  // before the call returned).
  int64_t latest = 0;

  // The first acknowledged revoke that returned before t, or nullptr.
  const Op* revoked_before(int64_t t) const {
    for (const Op* r : revokes) {
      if (r->res() == "ok" && r->t1() < t) return r;
    }
    return nullptr;
  }
  bool revoke_sent_before(int64_t t) const {
    return std::any_of(revokes.begin(), revokes.end(),
                       [&](const Op* r) { return r->res() != "fail" && r->t0() < t; });
  }
};

class LeaseChecker {
 public:
  explicit LeaseChecker(const std::vector<Op>& ops) {
    for (const Op& op : ops) {
      if (op.wl() != kWorkload) continue;
      if (op.f() == "grant") {
        if (op.res() == "ok") ++report_.granted;
        if (op.res() == "fail") ++report_.grants_failed;
        if (op.res() == "info") ++report_.grants_unknown;
        if (op.res() == "ok") leases_[op.lease()].grant = &op;
      } else if (op.f() == "heal") {
        heal_ = &op;
      } else if (op.f() == "watch-events") {
        for (const WatchEvent& e : op.events()) {
          if (e.type() != "delete") continue;
          ++report_.deletions_seen;
          deletions_[lease_of(e.key())].push_back({&e, &op});
        }
      } else if (op.f() == "put" || op.f() == "keepalive" || op.f() == "revoke" ||
                 op.f() == "read") {
        by_lease_[op.lease()].push_back(&op);
      }
    }
    for (auto& [id, lease] : leases_) {
      for (const Op* op : by_lease_[id]) {
        if (op->f() == "put") lease.puts.push_back(op);
        if (op->f() == "keepalive") lease.keepalives.push_back(op);
        if (op->f() == "revoke") lease.revokes.push_back(op);
        if (op->f() == "read") lease.reads.push_back(op);
      }
      lease.deletions = deletions_[id];
      const Op& g = *lease.grant;
      lease.promise = g.t0() + g.ttl() * kSecond;
      lease.latest = g.t1() + g.ttl() * kSecond;
      for (const Op* k : lease.keepalives) {
        if (k->res() == "ok") lease.promise = std::max(lease.promise, k->t0() + k->ttl() * kSecond);
        if (k->res() != "fail") lease.latest = std::max(lease.latest, k->t1() + g.ttl() * kSecond);
      }
    }
  }

  LeaseReport run() {
    for (const auto& [id, lease] : leases_) {
      check_reads(id, lease);
      check_expiry(id, lease);
      check_atomic(id, lease);
      check_puts(id, lease);
      count(lease);
    }
    return std::move(report_);
  }

 private:
  void add(LeaseViolation v) {
    std::sort(v.ops.begin(), v.ops.end(), [](const Op& a, const Op& b) { return a.op() < b.op(); });
    v.ops.erase(std::unique(v.ops.begin(), v.ops.end(),
                            [](const Op& a, const Op& b) { return a.op() == b.op(); }),
                v.ops.end());
    report_.violations.push_back(std::move(v));
  }

  // The grant and the last acknowledged keepalives before t: what made the promise.
  static std::vector<Op> promise_lines(const Lease& lease, int64_t t) {
    std::vector<Op> out{*lease.grant};
    std::vector<const Op*> before;
    for (const Op* k : lease.keepalives) {
      if (k->res() == "ok" && k->t0() < t) before.push_back(k);
    }
    const size_t first = before.size() > kKeepalivesShown ? before.size() - kKeepalivesShown : 0;
    for (size_t i = first; i < before.size(); ++i) out.push_back(*before[i]);
    return out;
  }

  // L1 (not early) and L2 (gone once revoked), read by read.
  void check_reads(int64_t id, const Lease& lease) {
    for (const Op* r : lease.reads) {
      if (r->res() != "ok") continue;
      const std::set<std::string> found(r->keys().begin(), r->keys().end());
      if (const Op* revoke = lease.revoked_before(r->t0()); revoke != nullptr && !found.empty()) {
        LeaseViolation v{.rule = "L2",
                         .anomaly = "key-survived-revoke",
                         .lease = id,
                         .what = absl::StrCat("a read of lease ", id, "'s keys found ",
                                              absl::StrJoin(found, ","), " after its revoke (op ",
                                              revoke->op(), ") had returned"),
                         .ops = {*lease.grant, *revoke, *r},
                         .from = revoke->t0(),
                         .to = r->t1()};
        add(std::move(v));
        continue;
      }
      if (r->t1() >= lease.promise || lease.revoke_sent_before(r->t1())) continue;
      for (const Op* put : lease.puts) {
        if (put->res() != "ok" || put->t1() >= r->t0() || found.contains(put->key())) continue;
        LeaseViolation v{
            .rule = "L1",
            .anomaly = "lease-expired-early",
            .lease = id,
            .what = absl::StrFormat(
                "a read of lease %d's keys missed %s, put before the read began, %.3f s before "
                "the lease's promise (its grant's or a keepalive's send time + TTL) ran out, "
                "with no revoke sent",
                id, put->key(), static_cast<double>(lease.promise - r->t1()) / 1e9),
            .ops = promise_lines(lease, r->t1()),
            .from = put->t0(),
            .to = r->t1()};
        v.ops.push_back(*put);
        v.ops.push_back(*r);
        add(std::move(v));
        break;
      }
    }
    for (const Op* k : lease.keepalives) {
      if (k->res() == "fail" && k->err().find("lease not found") != std::string::npos &&
          k->t1() < lease.promise && !lease.revoke_sent_before(k->t1())) {
        ++report_.keepalive_not_found_early;
      }
    }
  }

  // L3: after the final heal, the keys of every lease are gone by its latest possible
  // expiry (or the heal plus its TTL: a leader elected during the faults restarted every
  // TTL) plus two election timeouts and the revoke's allowance.
  void check_expiry(int64_t id, const Lease& lease) {
    if (heal_ == nullptr) return;
    const int64_t due = std::max(lease.latest, heal_->t0() + lease.grant->ttl() * kSecond) +
                        2 * kLeaseElectionTimeout + kLeaseRevokeAllowance;
    for (const Op* r : lease.reads) {
      if (!r->final() || r->res() != "ok") continue;
      report_.final_read = true;
      if (r->t0() < due) continue;  // too early to judge
      ++report_.expiry_checked;
      if (r->keys().empty()) continue;
      LeaseViolation v{
          .rule = "L3",
          .anomaly = "lease-never-expired",
          .lease = id,
          .what = absl::StrFormat(
              "the final read found %s of lease %d %.3f s after its keys were due "
              "to be gone",
              absl::StrJoin(r->keys(), ","), id, static_cast<double>(r->t0() - due) / 1e9),
          .ops = promise_lines(lease, r->t0()),
          .from = lease.latest - lease.grant->ttl() * kSecond,
          .to = r->t1()};
      if (!lease.keepalives.empty()) v.ops.push_back(*lease.keepalives.back());
      v.ops.push_back(*heal_);
      v.ops.push_back(*r);
      add(std::move(v));
    }
  }

  // L4: all keys of a lease are deleted at one revision, the keys acknowledged before it
  // included.
  void check_atomic(int64_t id, const Lease& lease) {
    if (lease.deletions.empty()) return;
    const Deletion& first = lease.deletions.front();
    const int64_t rev = first.event->mod_rev();
    std::string wrong;
    std::vector<Op> ops{*lease.grant, *first.line};
    for (const Deletion& d : lease.deletions) {
      if (d.event->mod_rev() == rev) continue;
      wrong = absl::StrCat(d.event->key(), " went at rev ", d.event->mod_rev(), " and ",
                           first.event->key(), " at rev ", rev);
      ops.push_back(*d.line);
      break;
    }
    for (const Op* put : lease.puts) {
      if (!wrong.empty()) break;
      if (put->res() != "ok" || put->rev() >= rev) continue;
      const bool deleted =
          std::any_of(lease.deletions.begin(), lease.deletions.end(),
                      [&](const Deletion& d) { return d.event->key() == put->key(); });
      if (deleted) continue;
      wrong = absl::StrCat(put->key(), " (put at rev ", put->rev(),
                           ") was not deleted with the others at rev ", rev);
      ops.push_back(*put);
    }
    if (wrong.empty()) return;
    add(LeaseViolation{
        .rule = "L4",
        .anomaly = "lease-revoke-not-atomic",
        .lease = id,
        .what = absl::StrCat("the keys of lease ", id, " did not go together: ", wrong),
        .ops = std::move(ops),
        .from = lease.grant->t0(),
        .to = first.line->t0()});
  }

  // L5: a put with a lease whose revoke had returned (or whose keys were already
  // deleted) must not be acknowledged.
  void check_puts(int64_t id, const Lease& lease) {
    for (const Op* put : lease.puts) {
      if (put->res() != "ok") continue;
      std::vector<Op> ops{*lease.grant};
      std::string why;
      if (const Op* revoke = lease.revoked_before(put->t0()); revoke != nullptr) {
        why = absl::StrCat("its revoke (op ", revoke->op(), ") had returned before the put began");
        ops.push_back(*revoke);
      } else if (!lease.deletions.empty() &&
                 put->rev() > lease.deletions.front().event->mod_rev()) {
        why = absl::StrCat("its keys had been deleted at rev ",
                           lease.deletions.front().event->mod_rev());
        ops.push_back(*lease.deletions.front().line);
      } else {
        continue;
      }
      ops.push_back(*put);
      const int64_t from = ops.front().t0();
      add(LeaseViolation{.rule = "L5",
                         .anomaly = "put-on-revoked-lease",
                         .lease = id,
                         .what = absl::StrCat("a put of ", put->key(), " with lease ", id,
                                              " was acknowledged, but ", why),
                         .ops = std::move(ops),
                         .from = from,
                         .to = put->t1()});
    }
  }

  void count(const Lease& lease) {
    report_.reads += std::count_if(lease.reads.begin(), lease.reads.end(),
                                   [](const Op* r) { return r->res() == "ok"; });
    report_.keepalives += std::count_if(lease.keepalives.begin(), lease.keepalives.end(),
                                        [](const Op* k) { return k->res() == "ok"; });
    if (lease.revoked_before(INT64_MAX) != nullptr) {
      ++report_.revoked;
      return;
    }
    const bool had_key = std::any_of(lease.puts.begin(), lease.puts.end(),
                                     [](const Op* p) { return p->res() == "ok"; });
    const bool seen_gone = !lease.deletions.empty() ||
                           std::any_of(lease.reads.begin(), lease.reads.end(), [](const Op* r) {
                             return r->final() && r->res() == "ok" && r->keys().empty();
                           });
    if (had_key && seen_gone && !lease.revoke_sent_before(INT64_MAX)) ++report_.expired;
  }

  LeaseReport report_;
  std::map<int64_t, Lease> leases_;
  std::map<int64_t, std::vector<const Op*>> by_lease_;
  std::map<int64_t, std::vector<Deletion>> deletions_;
  const Op* heal_ = nullptr;
};

}  // namespace

LeaseReport check_lease(const std::vector<Op>& ops) { return LeaseChecker(ops).run(); }

std::string describe(const LeaseReport& report, const std::vector<NemesisEvent>& faults,
                     int64_t origin) {
  std::string out = absl::StrCat(
      "lease: ", report.granted, " granted (", report.grants_failed, " grants failed, ",
      report.grants_unknown, " unknown), ", report.revoked, " revoked, ", report.expired,
      " expired; ", report.keepalives, " keepalives, ", report.reads, " reads, ",
      report.deletions_seen, " deletions watched; expiry after the heal checked for ",
      report.expiry_checked, " leases\n");
  if (report.keepalive_not_found_early != 0) {
    absl::StrAppend(&out, "  note: ", report.keepalive_not_found_early,
                    " keepalives were answered \"lease not found\" while the lease's promise ",
                    "held and no revoke had been sent (not counted as L1: see lease_check.h)\n");
  }
  if (report.violations.empty()) {
    if (report.granted != 0 && !report.final_read) {
      return out + "lease: INCONCLUSIVE: no final read came back, so L3 was not checked\n";
    }
    return out + "lease: L1-L5 hold\n";
  }
  return out + describe_violations("lease", report.violations, faults, origin, describe_line);
}

CheckResult check_lease_workload(const CheckInput& in) {
  LeaseReport r = check_lease(in.ops);
  CheckResult out{.text = describe(r, in.faults, in.origin)};
  if (!r.violations.empty()) {
    out.verdict = Verdict::kAnomaly;
  } else if (r.granted != 0 && !r.final_read) {
    out.verdict = Verdict::kInconclusive;
  }
  return out;
}

}  // namespace chaos
