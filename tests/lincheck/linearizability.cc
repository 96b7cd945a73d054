// The checker: a history is split by key, each key's values are interned to small
// integers, and one backtracking search per key (Wing & Gong, with Lowe's memoization and
// just-in-time linearization) looks for an order of its operations that a register allows.
#include "lincheck/linearizability.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace lincheck {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// Register values, interned per key.
constexpr int32_t kAbsent = 0;
// Every value that no read returned and no CAS compared against. Two such values behave
// identically under every operation of the history (each read and each comparison tells
// them apart from the observed values, never from each other), so merging them is exact
// and keeps the number of distinct search states down.
constexpr int32_t kUnobserved = 1;

// One operation of a key's sub-history, with interned values.
struct KeyOp {
  const Operation* source = nullptr;
  OpKind kind = OpKind::kRead;
  bool unknown = false;
  bool found = true;
  bool swapped = false;
  int32_t value = kAbsent;     // kRead: the value read; kWrite and kCas: the value stored
  int32_t expected = kAbsent;  // kCas: the value compared against (never kAbsent)
  int64_t invoke = 0;
  int64_t complete = 0;  // kNever for unknown operations
  // Unknown operations only: the previous unknown operation (by invoke) with the same
  // effect, or -1. Two such operations are interchangeable once both are invoked (both
  // return at +infinity), so the search only lets them take effect in invoke order; this
  // turns 2^k subsets of k identical pending operations into k + 1 counts.
  int32_t class_prev = -1;
};

// The register (the sequential specification). Returns whether `op` may take effect in
// `state` with the result it reported, and sets `*next` to the state after it.
bool step(const KeyOp& op, int32_t state, int32_t* next) {
  *next = state;
  switch (op.kind) {
    case OpKind::kRead:
      return op.found ? state == op.value : state == kAbsent;
    case OpKind::kWrite:
      *next = op.value;
      // An unknown write that changes nothing is the same as one that never happened,
      // which the search already covers.
      return !op.unknown || state != op.value;
    case OpKind::kCas:
      if (op.unknown || op.swapped) {
        // An unknown CAS that would not swap is likewise the same as one that never ran.
        if (state != op.expected) return false;
        *next = op.value;
        return true;
      }
      return state != op.expected;
  }
  return false;
}

uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ull;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dull;
  x ^= x >> 33;
  return x;
}

// The search states already explored, stored exactly: a hash-only fingerprint could,
// on a collision, prune a state never explored and report a false violation. Records
// are packed one after another in a single array, indexed by an open-addressing table.
class VisitedSet {
 public:
  // Adds `record`; returns false if an equal record was already present.
  bool insert(const std::vector<uint64_t>& record) {
    if (2 * (entries_.size() + 1) > slots_.size()) grow();
    uint64_t hash = hash_of(record);
    size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      if (slots_[i] == 0) {
        slots_[i] = entries_.size() + 1;
        entries_.push_back({hash, arena_.size(), record.size()});
        arena_.insert(arena_.end(), record.begin(), record.end());
        return true;
      }
      const Entry& e = entries_[slots_[i] - 1];
      if (e.hash == hash && e.size == record.size() &&
          std::equal(record.begin(), record.end(), arena_.begin() + e.offset)) {
        return false;
      }
    }
  }

 private:
  struct Entry {
    uint64_t hash;
    size_t offset;  // into arena_
    size_t size;
  };

  static uint64_t hash_of(const std::vector<uint64_t>& record) {
    uint64_t h = record.size();
    for (uint64_t w : record) h = mix(h ^ mix(w));
    return h;
  }

  void grow() {
    std::vector<size_t> bigger(std::max<size_t>(64, 2 * slots_.size()), 0);
    size_t mask = bigger.size() - 1;
    for (size_t e = 0; e < entries_.size(); ++e) {
      size_t i = entries_[e].hash & mask;
      while (bigger[i] != 0) i = (i + 1) & mask;
      bigger[i] = e + 1;
    }
    slots_ = std::move(bigger);
  }

  std::vector<uint64_t> arena_;
  std::vector<Entry> entries_;
  std::vector<size_t> slots_;  // 0: empty; otherwise an index into entries_ plus one
};

// The set of operations linearized so far. Operations with a known outcome are numbered
// by invoke time, so the set is mostly "all of the first few hundred, some of the next
// few, none after": its record keeps only the words between the leading full ones and
// the trailing empty ones.
class LinearizedSet {
 public:
  LinearizedSet(size_t known, size_t unknown)
      : known_(known), ok_((known + 63) / 64, 0), unknown_((unknown + 63) / 64, 0) {}

  bool test(size_t op) const {
    if (op < known_) return (ok_[op / 64] >> (op % 64)) & 1;
    op -= known_;
    return (unknown_[op / 64] >> (op % 64)) & 1;
  }

  void set(size_t op) {
    if (op >= known_) {
      unknown_[(op - known_) / 64] |= uint64_t{1} << ((op - known_) % 64);
      return;
    }
    size_t w = op / 64;
    ok_[w] |= uint64_t{1} << (op % 64);
    end_ = std::max(end_, w + 1);
    while (lead_ < ok_.size() && ok_[lead_] == full(lead_)) ++lead_;
  }

  void clear(size_t op) {
    if (op >= known_) {
      unknown_[(op - known_) / 64] &= ~(uint64_t{1} << ((op - known_) % 64));
      return;
    }
    size_t w = op / 64;
    ok_[w] &= ~(uint64_t{1} << (op % 64));
    lead_ = std::min(lead_, w);
    while (end_ > lead_ && ok_[end_ - 1] == 0) --end_;
  }

  // A canonical encoding of (this set, `state`, `flag`): equal records iff equal triples,
  // because lead_ and end_ are determined by the set and unknown_ has a fixed length per
  // key. `state` is in [0, 2^31).
  void record(int32_t state, bool flag, std::vector<uint64_t>* out) const {
    out->clear();
    out->push_back(static_cast<uint64_t>(state) | (static_cast<uint64_t>(flag) << 31) |
                   (static_cast<uint64_t>(lead_) << 32));
    out->insert(out->end(), ok_.begin() + static_cast<std::ptrdiff_t>(lead_),
                ok_.begin() + static_cast<std::ptrdiff_t>(end_));
    out->insert(out->end(), unknown_.begin(), unknown_.end());
  }

 private:
  uint64_t full(size_t w) const {
    size_t bits = w + 1 < ok_.size() || known_ % 64 == 0 ? 64 : known_ % 64;
    return bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  }

  size_t known_;
  std::vector<uint64_t> ok_;       // bit i: known-outcome operation i is linearized
  std::vector<uint64_t> unknown_;  // bit i: unknown-outcome operation known_ + i is
  size_t lead_ = 0;                // invariant: ok_[0, lead_) are full, ok_[lead_] is not
  size_t end_ = 0;                 // invariant: ok_[end_, ...) are zero, ok_[end_ - 1] is not
};

// The deepest point the search reached, for the report.
struct DeadEnd {
  size_t depth = 0;               // operations linearized
  std::vector<int32_t> prefix;    // the last few of them, in order
  int32_t state = kAbsent;        // the register's value after them
  int32_t writer = -1;            // the operation that stored it, if any
  int32_t blocking = -1;          // the pending known operation that returns first
  std::vector<int32_t> next_ops;  // the operations that could have taken effect next
};

// The search over one key's operations. Operations [0, known) have a known outcome and
// are sorted by invoke; [known, size) are unknown, also sorted by invoke.
//
// Known operations live in a doubly linked list of call and return events in time order
// (Lowe): an operation can take effect next iff its call precedes the first return in the
// list, since the operation returning first must take effect before it returns. Making
// one take effect unlinks its two events; backtracking relinks them. Unknown operations
// return at +infinity and live in a second list of calls: one can take effect iff it was
// invoked no later than that first return. Known operations are tried before unknown
// ones, so a history with many timeouts is only searched through them where a read
// needs them.
//
// An unknown operation is only placed where the next operation consumes its effect: a
// write may not come straight after it. Any linearization with an unknown operation
// followed by a write stays one when the unknown operation is removed (the write does
// not look at the state), so no history is lost; and the search no longer tries every
// subset of the pending unknown operations at every step. Whether the last operation
// placed was unknown is thus part of a search state (it restricts the next move).
class KeySearch {
 public:
  KeySearch(const std::vector<KeyOp>& ops, size_t known, uint64_t budget)
      : ops_(ops), known_(known), budget_(budget), linearized_(known, ops.size() - known) {
    // Known list: node 0 is the sentinel; operation i has call 1 + 2i and return 2 + 2i.
    std::vector<int32_t> order;
    for (size_t i = 0; i < 2 * known_; ++i) order.push_back(static_cast<int32_t>(i + 1));
    // Closed intervals: at equal times, calls sort before returns.
    auto time_of = [this](int32_t node) {
      const KeyOp& op = ops_[op_of(node)];
      return is_return(node) ? op.complete : op.invoke;
    };
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return std::make_tuple(time_of(a), is_return(a), a) <
             std::make_tuple(time_of(b), is_return(b), b);
    });
    link(order, &next_, &prev_);
    order.clear();
    for (size_t u = 0; u < ops_.size() - known_; ++u) order.push_back(static_cast<int32_t>(u + 1));
    link(order, &unknown_next_, &unknown_prev_);
  }

  Verdict run() {
    enum class Walk { kKnown, kUnknown };
    std::vector<Frame> stack;
    std::vector<uint64_t> record;
    int32_t state = kAbsent;
    Walk walk = Walk::kKnown;
    int32_t cursor = next_[0];
    int64_t frontier = 0;
    if (cursor == 0) return Verdict::kLinearizable;
    while (true) {
      int32_t candidate;
      if (walk == Walk::kKnown) {
        // Never the sentinel: a pending operation's return follows its call.
        if (is_return(cursor)) {
          frontier = ops_[op_of(cursor)].complete;
          walk = Walk::kUnknown;
          cursor = unknown_next_[0];
          continue;
        }
        candidate = op_of(cursor);
        cursor = next_[cursor];
      } else {
        if (cursor == 0 || ops_[unknown_op(cursor)].invoke > frontier) {
          // Every operation that could take effect next was tried: backtrack.
          note_dead_end(state, stack);
          if (stack.empty()) return Verdict::kNotLinearizable;
          Frame f = stack.back();
          stack.pop_back();
          restore(f.op);
          state = f.state_before;
          if (static_cast<size_t>(f.op) < known_) {
            walk = Walk::kKnown;
            cursor = next_[call_node(f.op)];
          } else {
            frontier = f.frontier;
            cursor = unknown_next_[unknown_node(f.op)];
          }
          continue;
        }
        candidate = unknown_op(cursor);
        cursor = unknown_next_[cursor];
        int32_t prev = ops_[candidate].class_prev;
        if (prev >= 0 && !linearized_.test(prev)) continue;
      }
      if (ops_[candidate].kind == OpKind::kWrite && after_unknown(stack)) continue;
      if (explored_ >= budget_) {
        note_dead_end(state, stack);
        return Verdict::kGaveUp;
      }
      ++explored_;
      int32_t next_state;
      if (!step(ops_[candidate], state, &next_state)) continue;
      linearized_.set(candidate);
      linearized_.record(next_state, static_cast<size_t>(candidate) >= known_, &record);
      if (!visited_.insert(record)) {
        linearized_.clear(candidate);
        continue;
      }
      stack.push_back({candidate, state, frontier});
      remove(candidate);
      state = next_state;
      // Every known operation has taken effect; unknown ones still pending never did.
      if (next_[0] == 0) return Verdict::kLinearizable;
      walk = Walk::kKnown;
      cursor = next_[0];
    }
  }

  uint64_t explored() const { return explored_; }
  const DeadEnd& deepest() const { return deepest_; }

 private:
  // One operation placed by the search, and what is needed to take it back.
  struct Frame {
    int32_t op;
    int32_t state_before;
    int64_t frontier;  // for an unknown op: the first return's time when it was placed
  };

  // Whether the last operation placed has an unknown outcome (see the class comment).
  bool after_unknown(const std::vector<Frame>& stack) const {
    return !stack.empty() && static_cast<size_t>(stack.back().op) >= known_;
  }

  static bool is_return(int32_t node) { return node % 2 == 0; }
  static int32_t op_of(int32_t node) { return (node - 1) / 2; }
  static int32_t call_node(int32_t op) { return 1 + 2 * op; }
  int32_t unknown_op(int32_t node) const { return static_cast<int32_t>(known_) + node - 1; }
  int32_t unknown_node(int32_t op) const { return op - static_cast<int32_t>(known_) + 1; }

  // Threads `order` into a circular list whose sentinel is node 0.
  static void link(const std::vector<int32_t>& order, std::vector<int32_t>* next,
                   std::vector<int32_t>* prev) {
    next->assign(order.size() + 1, 0);
    prev->assign(order.size() + 1, 0);
    int32_t last = 0;
    for (int32_t node : order) {
      (*next)[last] = node;
      (*prev)[node] = last;
      last = node;
    }
    (*next)[last] = 0;
    (*prev)[0] = last;
  }

  static void unlink(int32_t node, std::vector<int32_t>& next, std::vector<int32_t>& prev) {
    next[prev[node]] = next[node];
    prev[next[node]] = prev[node];
  }

  // Undoes unlink(node); valid when every later unlink has been undone (the search is LIFO).
  static void relink(int32_t node, std::vector<int32_t>& next, std::vector<int32_t>& prev) {
    next[prev[node]] = node;
    prev[next[node]] = node;
  }

  void remove(int32_t op) {
    if (static_cast<size_t>(op) < known_) {
      unlink(call_node(op), next_, prev_);
      unlink(call_node(op) + 1, next_, prev_);
    } else {
      unlink(unknown_node(op), unknown_next_, unknown_prev_);
    }
  }

  void restore(int32_t op) {
    if (static_cast<size_t>(op) < known_) {
      relink(call_node(op) + 1, next_, prev_);
      relink(call_node(op), next_, prev_);
    } else {
      relink(unknown_node(op), unknown_next_, unknown_prev_);
    }
    linearized_.clear(op);
  }

  // Remembers the first search state of the greatest depth from which no operation could
  // take effect, for the report. Depth only grows by one per step, so this costs O(depth)
  // at most once per depth.
  void note_dead_end(int32_t state, const std::vector<Frame>& stack) {
    size_t depth = stack.size();
    if (recorded_ && depth <= deepest_.depth) return;
    recorded_ = true;
    deepest_.depth = depth;
    deepest_.state = state;
    deepest_.writer = -1;
    for (size_t i = depth; i-- > 0 && deepest_.writer < 0;) {
      const KeyOp& op = ops_[stack[i].op];
      if (op.kind == OpKind::kWrite || (op.kind == OpKind::kCas && (op.unknown || op.swapped))) {
        deepest_.writer = stack[i].op;
      }
    }
    deepest_.prefix.clear();
    for (size_t i = depth > kPrefixShown ? depth - kPrefixShown : 0; i < depth; ++i) {
      deepest_.prefix.push_back(stack[i].op);
    }
    deepest_.next_ops.clear();
    bool no_write = after_unknown(stack);
    int32_t node = next_[0];
    for (; node != 0 && !is_return(node); node = next_[node]) {
      if (!no_write || ops_[op_of(node)].kind != OpKind::kWrite) {
        deepest_.next_ops.push_back(op_of(node));
      }
    }
    deepest_.blocking = node == 0 ? -1 : op_of(node);
    int64_t frontier = node == 0 ? kNever : ops_[op_of(node)].complete;
    for (int32_t u = unknown_next_[0]; u != 0 && ops_[unknown_op(u)].invoke <= frontier;
         u = unknown_next_[u]) {
      const KeyOp& op = ops_[unknown_op(u)];
      if ((op.class_prev < 0 || linearized_.test(op.class_prev)) &&
          (!no_write || op.kind != OpKind::kWrite)) {
        deepest_.next_ops.push_back(unknown_op(u));
      }
    }
  }

  static constexpr size_t kPrefixShown = 3;

  const std::vector<KeyOp>& ops_;
  const size_t known_;
  const uint64_t budget_;
  uint64_t explored_ = 0;
  std::vector<int32_t> next_, prev_;                  // known operations' events
  std::vector<int32_t> unknown_next_, unknown_prev_;  // unknown operations' calls
  LinearizedSet linearized_;
  VisitedSet visited_;
  bool recorded_ = false;
  DeadEnd deepest_;
};

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// The report for a key that failed or exhausted the budget.
std::string explain(const std::string& key, size_t total, const std::vector<KeyOp>& ops,
                    size_t known, const std::vector<std::string>& names, const DeadEnd& d,
                    Verdict verdict, uint64_t explored) {
  constexpr size_t kNextShown = 8;
  std::string s = "key " + quoted(key) + ": ";
  s += verdict == Verdict::kGaveUp
           ? "gave up after " + std::to_string(explored) + " search steps (the budget) on "
           : "no linearization of its ";
  s += std::to_string(total) + " operations (" + std::to_string(known) + " with a known outcome, " +
       std::to_string(total - known) + " unknown). ";
  s += "The longest linearizable prefix found places " + std::to_string(d.depth) + " of them";
  if (!d.prefix.empty()) {
    s += ", ending with: ";
    for (size_t i = 0; i < d.prefix.size(); ++i) {
      s += (i == 0 ? "" : "; ") + to_string(*ops[d.prefix[i]].source);
    }
  }
  // Unobserved values share one id; the operation that stored it knows which it was.
  s += ". After it the key holds " +
       (d.state == kUnobserved && d.writer >= 0 ? quoted(ops[d.writer].source->value)
                                                : names[d.state]) +
       ". ";
  if (d.blocking >= 0) {
    s += to_string(*ops[d.blocking].source) + " must take effect by time " +
         std::to_string(ops[d.blocking].complete) + ", but ";
  }
  s += verdict == Verdict::kGaveUp ? "the search had not finished placing "
                                   : "no order of the operations pending then places ";
  s += d.blocking >= 0 ? "it" : "them";
  s += ". The operations that could take effect next";
  s += verdict == Verdict::kGaveUp ? " were: " : ", none of which leads to a linearization: ";
  for (size_t i = 0; i < d.next_ops.size() && i < kNextShown; ++i) {
    s += (i == 0 ? "" : "; ") + to_string(*ops[d.next_ops[i]].source);
  }
  if (d.next_ops.size() > kNextShown) {
    s += "; and " + std::to_string(d.next_ops.size() - kNextShown) + " more";
  }
  return s;
}

// Interns one key's operations, drops the unknown ones that cannot matter (reads, and
// updates storing an unobserved value when no CAS failed), and orders the rest as
// KeySearch needs.
// Fills `names` with each value id's description and returns the number of known ops.
size_t prepare(const std::vector<const Operation*>& history, std::vector<KeyOp>* ops,
               std::vector<std::string>* names) {
  std::unordered_map<std::string, int32_t> ids;
  *names = {"nothing (absent)", "a value that no operation observed"};
  auto observe = [&](const std::string& v) {
    if (ids.emplace(v, static_cast<int32_t>(names->size())).second) names->push_back(quoted(v));
  };
  for (const Operation* op : history) {
    if (op->kind == OpKind::kRead && op->outcome == Outcome::kOk && op->found) observe(op->value);
    if (op->kind == OpKind::kCas) observe(op->expected);
  }
  // An unknown operation that would store an unobserved value can be dropped unless an
  // acknowledged CAS reported failure: in the register's unobserved state no read, no
  // swapping CAS and no unknown CAS can take effect, so in any linearization the next
  // operation after it is a write, which erases it, and removing it leaves a linearization.
  // Only a failing CAS can need the register to hold "something else".
  bool failed_cas = false;
  for (const Operation* op : history) {
    failed_cas |= op->kind == OpKind::kCas && op->outcome == Outcome::kOk && !op->cas_succeeded;
  }
  auto id_of = [&](const std::string& v) {
    auto it = ids.find(v);
    return it == ids.end() ? kUnobserved : it->second;
  };
  std::vector<std::pair<KeyOp, size_t>> known, unknown;  // with position in `history`
  for (size_t i = 0; i < history.size(); ++i) {
    const Operation& op = *history[i];
    bool is_unknown = op.outcome == Outcome::kUnknown;
    if (op.kind == OpKind::kRead && is_unknown) continue;  // it constrains nothing
    KeyOp k;
    k.source = &op;
    k.kind = op.kind;
    k.unknown = is_unknown;
    k.found = op.found;
    k.swapped = op.cas_succeeded;
    if (op.kind != OpKind::kRead || op.found) k.value = id_of(op.value);
    if (op.kind == OpKind::kCas) k.expected = id_of(op.expected);
    k.invoke = op.invoke;
    k.complete = is_unknown ? kNever : op.complete;
    if (is_unknown && k.value == kUnobserved && !failed_cas) continue;
    (is_unknown ? unknown : known).push_back({k, i});
  }
  auto by_time = [](const std::pair<KeyOp, size_t>& a, const std::pair<KeyOp, size_t>& b) {
    return std::make_tuple(a.first.invoke, a.first.complete, a.second) <
           std::make_tuple(b.first.invoke, b.first.complete, b.second);
  };
  std::sort(known.begin(), known.end(), by_time);
  std::sort(unknown.begin(), unknown.end(), by_time);
  ops->clear();
  for (const auto& [k, i] : known) ops->push_back(k);
  std::map<std::tuple<OpKind, int32_t, int32_t>, int32_t> last_of_class;
  for (const auto& [k, i] : unknown) {
    int32_t index = static_cast<int32_t>(ops->size());
    auto [it, inserted] = last_of_class.try_emplace({k.kind, k.value, k.expected}, index);
    ops->push_back(k);
    if (!inserted) {
      ops->back().class_prev = it->second;
      it->second = index;
    }
  }
  return known.size();
}

}  // namespace

std::string to_string(const Operation& op) {
  std::string s = "client " + std::to_string(op.client) + " ";
  bool ok = op.outcome == Outcome::kOk;
  switch (op.kind) {
    case OpKind::kRead:
      s += "read " + quoted(op.key);
      if (ok) s += " -> " + (op.found ? quoted(op.value) : std::string("(absent)"));
      break;
    case OpKind::kWrite:
      s += "write " + quoted(op.key) + " = " + quoted(op.value);
      break;
    case OpKind::kCas:
      s += "cas " + quoted(op.key) + " " + quoted(op.expected) + " -> " + quoted(op.value);
      if (ok) s += op.cas_succeeded ? " (swapped)" : " (not swapped)";
      break;
  }
  s += " [" + std::to_string(op.invoke) + ", ";
  s += ok ? std::to_string(op.complete) + "]" : std::string("?] unknown");
  return s;
}

Result check(const std::vector<Operation>& history, const Options& options) {
  std::map<std::string, std::vector<const Operation*>> by_key;
  for (const Operation& op : history) {
    if (op.outcome == Outcome::kOk && op.complete < op.invoke) {
      std::fprintf(stderr,
                   "lincheck: operation %s completes before it is invoked; every operation "
                   "with a known outcome must have complete >= invoke\n",
                   to_string(op).c_str());
      std::abort();
    }
    by_key[op.key].push_back(&op);
  }
  Result result;
  for (const auto& [key, key_history] : by_key) {
    std::vector<KeyOp> ops;
    std::vector<std::string> names;
    size_t known = prepare(key_history, &ops, &names);
    KeySearch search(ops, known, options.max_states - result.states_explored);
    Verdict verdict = search.run();
    result.states_explored += search.explored();
    if (verdict != Verdict::kLinearizable) {
      result.verdict = verdict;
      result.key = key;
      result.explanation = explain(key, key_history.size(), ops, known, names, search.deepest(),
                                   verdict, result.states_explored);
      return result;
    }
  }
  return result;
}

}  // namespace lincheck
