// A linearizability checker for key-value histories (Wing & Gong's search with
// Lowe's memoization, as Porcupine does). Each key is an independent register, so
// a history is checked key by key (linearizability is local: Herlihy & Wing).
//
// Time: each operation has an invoke and a complete time. Intervals are closed: an
// operation invoked at t overlaps one that completed at t, so either order is
// allowed between them. Operations whose outcome is unknown (the client never
// heard back) complete at +infinity: they may take effect at any point after their
// invoke, or never. Definitely failed operations must not be passed in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lincheck {

enum class OpKind { kRead, kWrite, kCas };
enum class Outcome { kOk, kUnknown };

struct Operation {
  int client = 0;  // who issued it (a client has at most one operation outstanding)
  std::string key;
  OpKind kind = OpKind::kRead;
  std::string value;  // kWrite: the value written; kCas: the new value; kRead (ok): the value read
  bool found = true;  // kRead with kOk: false means the key was absent (value then ignored)
  std::string expected;        // kCas only: swaps iff the key is present and equal to this
  bool cas_succeeded = false;  // kCas with kOk: whether the swap happened
  int64_t invoke = 0;          // logical time the call was made
  int64_t complete = 0;        // logical time it returned; ignored for kUnknown
  Outcome outcome = Outcome::kOk;
};

// A deterministic bound on the search, in explored steps, not wall-clock time.
struct Options {
  uint64_t max_states = 10'000'000;
};

enum class Verdict { kLinearizable, kNotLinearizable, kGaveUp };

struct Result {
  Verdict verdict = Verdict::kLinearizable;
  std::string key;  // kNotLinearizable: the first key (in sorted order) that fails
  std::string
      explanation;  // which key, how far the search got, which operation could not be placed
  uint64_t states_explored = 0;
};

Result check(const std::vector<Operation>& history, const Options& options = {});

// One line describing `op`, for failure reports.
std::string to_string(const Operation& op);

}  // namespace lincheck
