// A linearizability checker for key-value histories: Wing & Gong's backtracking search
// with Lowe's memoization (the algorithm Porcupine uses), run on each key separately
// because linearizability is local (Herlihy & Wing 1990, P-compositionality).
//
// The model: every key is an independent register, initially absent, with reads, blind
// writes and compare-and-swap.
//
// Time. Each operation has an invoke and a complete time on one logical clock. Intervals
// are closed: an operation invoked at t overlaps one that completed at t, so either may
// take effect first (events at equal times sort calls before returns). A harness whose
// clock may return the same value for a completion and a later invocation therefore gets
// the weaker, never falsely failing, reading.
//
// Unknown outcomes. An operation whose caller never heard back (a timeout, a lost
// connection) completes at +infinity: it may take effect at any instant after its
// invoke, or never. An unknown read constrains nothing and is ignored. Operations that
// definitely failed (the server said they did not happen) must not be passed in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lincheck {

enum class OpKind { kRead, kWrite, kCas };
enum class Outcome { kOk, kUnknown };

// One client call and what it returned.
struct Operation {
  int client = 0;  // who issued it; used in reports only
  std::string key;
  OpKind kind = OpKind::kRead;
  std::string value;     // kWrite: value written. kCas: the new value. kRead (kOk): value read
  bool found = true;     // kRead with kOk: false means the key was absent (value then ignored)
  std::string expected;  // kCas only: swaps iff the key is present and equal to this
  bool cas_succeeded = false;  // kCas with kOk: whether the swap happened
  int64_t invoke = 0;          // logical time the call was made
  int64_t complete = 0;        // logical time it returned; >= invoke for kOk; ignored for kUnknown
  Outcome outcome = Outcome::kOk;
};

struct Options {
  // A deterministic budget, not wall-clock: the number of search steps (one step tries to
  // make one operation take effect in one search state) summed over all keys. When it is
  // exhausted the check stops with kGaveUp. The problem is NP-complete; what costs most
  // is many concurrent operations on one key, above all timed-out updates mixed with CASes
  // that report failure.
  uint64_t max_states = 10'000'000;
};

enum class Verdict { kLinearizable, kNotLinearizable, kGaveUp };

struct Result {
  Verdict verdict = Verdict::kLinearizable;
  // kNotLinearizable: the first key (in sorted order) whose sub-history fails.
  // kGaveUp: the key being checked when the budget ran out.
  std::string key;
  // kNotLinearizable / kGaveUp: which key, how many operations, the longest linearizable
  // prefix found, the register's value after it, and the operations that could not be
  // placed next, with their times. Empty for kLinearizable.
  std::string explanation;
  uint64_t states_explored = 0;  // search steps taken, over all keys checked
};

// Checks `history` (in any order) for linearizability against per-key registers. Keys are
// checked in sorted order and the check stops at the first key that fails or exhausts the
// budget. Deterministic: the same history and options always give the same Result.
//
// Precondition: every kOk operation has complete >= invoke. A history that breaks it is a
// bug in the harness that recorded it, and stops the process with a message naming it.
Result check(const std::vector<Operation>& history, const Options& options = {});

// One line describing `op` for failure reports, e.g.
//   client 3 write "k1" = "v7" [120, 135]
//   client 1 read "k1" -> (absent) [140, 150]
//   client 2 cas "k1" "v7" -> "v9" [150, ?] unknown
// Keys and values are quoted, with quotes, backslashes and non-printable bytes escaped.
std::string to_string(const Operation& op);

}  // namespace lincheck
