#include "register_check.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "checkers.h"
#include "report.h"

namespace chaos {
namespace {

using raftkv::chaos::Op;

constexpr size_t kWindowOps = 12;

// The register operations as lincheck sees them; operations completing after `cut`
// count as unknown (reads among them say nothing and are left out).
std::vector<lincheck::Operation> to_lincheck(const std::vector<const Op*>& ops, int64_t cut) {
  std::vector<lincheck::Operation> out;
  for (const Op* op : ops) {
    if (op->res() == "fail" || op->t0() > cut) continue;
    lincheck::Operation l;
    l.client = op->w();
    l.key = op->key();
    l.invoke = op->t0();
    l.complete = op->t1();
    const bool known = op->res() == "ok" && op->t1() <= cut;
    l.outcome = known ? lincheck::Outcome::kOk : lincheck::Outcome::kUnknown;
    if (op->f() == "read") {
      if (!known) continue;
      l.kind = lincheck::OpKind::kRead;
      l.found = op->found();
      l.value = op->value();
    } else if (op->f() == "write") {
      l.kind = lincheck::OpKind::kWrite;
      l.value = op->value();
    } else {
      l.kind = lincheck::OpKind::kCas;
      l.expected = op->expect();
      l.value = op->value();
      l.cas_succeeded = op->succeeded();
    }
    out.push_back(std::move(l));
  }
  return out;
}

std::string describe_op(const Op& op, int64_t origin) {
  std::string what;
  if (op.f() == "read") {
    what =
        op.res() == "ok" ? absl::StrCat("read -> ", op.found() ? op.value() : "(absent)") : "read";
  } else if (op.f() == "write") {
    what = absl::StrCat("write ", op.value());
  } else {
    what = absl::StrCat("cas ", op.expect(), " -> ", op.value());
    if (op.res() == "ok") what += op.succeeded() ? " (swapped)" : " (compare failed)";
  }
  return absl::StrCat("  op ", op.op(), " worker ", op.w(), " at ", op.ep(), ": ", what, " [",
                      seconds(op.t0(), origin), ", ",
                      op.res() == "info" ? "?" : seconds(op.t1(), origin), "] ", op.res(),
                      op.err().empty() ? "" : absl::StrCat(" (", op.err(), ")"),
                      op.rev() != 0 ? absl::StrCat(" rev ", op.rev()) : "");
}

}  // namespace

RegisterReport check_register(const std::vector<Op>& ops, uint64_t max_states) {
  RegisterReport report;
  std::map<std::string, std::vector<const Op*>> by_key;
  for (const Op& op : ops) {
    if (op.wl() != "register") continue;
    if (op.res() == "ok") ++report.ok;
    if (op.res() == "fail") ++report.fail;
    if (op.res() == "info") ++report.info;
    by_key[op.key()].push_back(&op);
  }
  report.keys = by_key.size();
  std::vector<const Op*> all;
  for (const auto& [key, key_ops] : by_key) all.insert(all.end(), key_ops.begin(), key_ops.end());
  const int64_t never = INT64_MAX;
  lincheck::Result r = lincheck::check(to_lincheck(all, never), {.max_states = max_states});
  report.verdict = r.verdict;
  report.states_explored = r.states_explored;
  report.key = r.key;
  report.explanation = r.explanation;
  if (r.verdict != lincheck::Verdict::kNotLinearizable) return report;

  // The shortest failing prefix of the key's history. Cutting at the last completion
  // gives the whole history back (it fails); an earlier cut only turns constraints into
  // unknowns, so a binary search over the cut finds where the anomaly is first visible.
  const std::vector<const Op*>& key_ops = by_key[r.key];
  std::vector<int64_t> cuts;
  for (const Op* op : key_ops) {
    cuts.push_back(op->t0());
    if (op->res() == "ok") cuts.push_back(op->t1());
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  size_t lo = 0, hi = cuts.size() - 1;  // cuts[hi] fails
  std::string hi_explanation = r.explanation;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    lincheck::Result m =
        lincheck::check(to_lincheck(key_ops, cuts[mid]), {.max_states = max_states});
    if (m.verdict == lincheck::Verdict::kNotLinearizable) {
      hi = mid;
      hi_explanation = m.explanation;
    } else {
      lo = mid + 1;
    }
  }
  report.window_end = cuts[hi];
  report.window_explanation = hi_explanation;
  std::vector<const Op*> called;
  for (const Op* op : key_ops) {
    if (op->t0() <= report.window_end) called.push_back(op);
  }
  std::sort(called.begin(), called.end(),
            [](const Op* a, const Op* b) { return a->t0() < b->t0(); });
  const size_t first = called.size() > kWindowOps ? called.size() - kWindowOps : 0;
  for (size_t i = first; i < called.size(); ++i) report.window.push_back(*called[i]);
  return report;
}

std::string describe(const RegisterReport& report,
                     const std::vector<raftkv::chaos::NemesisEvent>& faults, int64_t origin) {
  std::string out = absl::StrCat("register: ", report.ok, " ok, ", report.fail, " failed, ",
                                 report.info, " unknown operations on ", report.keys, " keys; ");
  switch (report.verdict) {
    case lincheck::Verdict::kLinearizable:
      return out + "linearizable\n";
    case lincheck::Verdict::kGaveUp:
      return absl::StrCat(out, "INCONCLUSIVE: the search budget ran out at key ", report.key,
                          " after ", report.states_explored, " states\n", report.explanation);
    case lincheck::Verdict::kNotLinearizable:
      break;
  }
  absl::StrAppend(&out, "NOT LINEARIZABLE at key ", report.key, "\n",
                  "the shortest failing prefix ends at ", seconds(report.window_end, origin),
                  " s:\n", report.window_explanation, "\nits last operations on the key:\n");
  int64_t from = report.window_end;
  for (const Op& op : report.window) {
    absl::StrAppend(&out, describe_op(op, origin), "\n");
    from = std::min(from, op.t0());
  }
  absl::StrAppend(&out, "faults overlapping [", seconds(from, origin), ", ",
                  seconds(report.window_end, origin), "]:\n");
  out += faults_during(faults, from, report.window_end, origin, "  ");
  return out;
}

}  // namespace chaos

namespace chaos {

CheckResult check_register_workload(const CheckInput& in) {
  RegisterReport r = check_register(in.ops, in.max_states);
  CheckResult out;
  out.text = describe(r, in.faults, in.origin);
  switch (r.verdict) {
    case lincheck::Verdict::kLinearizable:
      out.verdict = Verdict::kPass;
      break;
    case lincheck::Verdict::kNotLinearizable:
      out.verdict = Verdict::kAnomaly;
      break;
    case lincheck::Verdict::kGaveUp:
      out.verdict = Verdict::kInconclusive;
      break;
  }
  return out;
}

}  // namespace chaos
