#include "lincheck/linearizability.h"

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace lincheck {
namespace {

constexpr int64_t kInfinity = std::numeric_limits<int64_t>::max();

// One key's operations with values interned to small integers (0 = absent).
struct KeyOp {
  OpKind kind;
  Outcome outcome;
  int value;     // written / read / new value
  int expected;  // kCas
  bool found;
  bool cas_succeeded;
  int64_t invoke;
  int64_t complete;
  const Operation* source;
};

// The register model: applies `op` to `state`; false if `op`'s observed result is
// impossible in `state`.
bool step(const KeyOp& op, int state, int* next) {
  switch (op.kind) {
    case OpKind::kWrite:
      *next = op.value;
      return true;
    case OpKind::kRead:
      *next = state;
      return op.found ? state == op.value : state == 0;
    case OpKind::kCas:
      if (op.outcome == Outcome::kUnknown) {
        *next = state == op.expected ? op.value : state;
        return true;
      }
      if (op.cas_succeeded) {
        *next = op.value;
        return state == op.expected;
      }
      *next = state;
      return state != op.expected;
  }
  return false;
}

// A doubly linked list of call and return events, in time order (Lowe's layout):
// linearizing an operation unlinks its call and its return; backtracking relinks.
struct Node {
  int op = -1;            // index into the key's operations
  bool call = false;      // call or return
  Node* match = nullptr;  // a call's return
  Node* prev = nullptr;
  Node* next = nullptr;
};

void lift(Node* call) {
  call->prev->next = call->next;
  if (call->next) call->next->prev = call->prev;
  Node* ret = call->match;
  ret->prev->next = ret->next;
  if (ret->next) ret->next->prev = ret->prev;
}

void unlift(Node* call) {
  Node* ret = call->match;
  ret->prev->next = ret;
  if (ret->next) ret->next->prev = ret;
  call->prev->next = call;
  if (call->next) call->next->prev = call;
}

struct CacheKey {
  std::vector<uint64_t> bits;
  int state;
  bool operator==(const CacheKey&) const = default;
};

struct CacheHash {
  size_t operator()(const CacheKey& k) const {
    uint64_t h = 0xcbf29ce484222325ull ^ static_cast<uint64_t>(k.state);
    for (uint64_t w : k.bits) h = (h ^ w) * 0x100000001b3ull;
    return h;
  }
};

struct KeyResult {
  Verdict verdict = Verdict::kLinearizable;
  size_t best_depth = 0;  // most operations linearized at once
  int blocking = -1;      // the operation whose return could not be reached then
  uint64_t explored = 0;
};

KeyResult check_key(const std::vector<KeyOp>& ops, uint64_t budget) {
  KeyResult result;
  const size_t n = ops.size();
  // Events sorted by time; at equal times calls come first (closed intervals).
  std::vector<Node> nodes(2 * n);
  std::vector<Node*> order;
  order.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    Node* c = &nodes[2 * i];
    Node* r = &nodes[2 * i + 1];
    c->op = r->op = static_cast<int>(i);
    c->call = true;
    c->match = r;
    order.push_back(c);
    order.push_back(r);
  }
  auto time_of = [&](const Node* e) {
    const KeyOp& op = ops[e->op];
    return e->call ? op.invoke : (op.outcome == Outcome::kUnknown ? kInfinity : op.complete);
  };
  std::stable_sort(order.begin(), order.end(), [&](const Node* a, const Node* b) {
    int64_t ta = time_of(a), tb = time_of(b);
    if (ta != tb) return ta < tb;
    return a->call && !b->call;
  });
  Node head;
  Node* prev = &head;
  for (Node* e : order) {
    prev->next = e;
    e->prev = prev;
    prev = e;
  }

  std::vector<uint64_t> linearized((n + 63) / 64, 0);
  std::unordered_set<CacheKey, CacheHash> cache;
  struct Frame {
    Node* call;
    int state;
  };
  std::vector<Frame> stack;
  int state = 0;
  Node* entry = head.next;
  while (head.next != nullptr) {
    if (++result.explored > budget) {
      result.verdict = Verdict::kGaveUp;
      return result;
    }
    if (entry->call) {
      const KeyOp& op = ops[entry->op];
      int next_state = 0;
      if (step(op, state, &next_state)) {
        linearized[entry->op / 64] |= 1ull << (entry->op % 64);
        if (cache.insert(CacheKey{linearized, next_state}).second) {
          stack.push_back({entry, state});
          state = next_state;
          lift(entry);
          if (stack.size() > result.best_depth) {
            result.best_depth = stack.size();
          }
          entry = head.next;
          continue;
        }
        linearized[entry->op / 64] &= ~(1ull << (entry->op % 64));
      }
      entry = entry->next;
      continue;
    }
    // A return: every operation that had to precede it has been tried.
    if (ops[entry->op].outcome == Outcome::kUnknown) {
      // Returns at +infinity come last: every operation with a known outcome is
      // linearized; the remaining unknown ones simply never took effect.
      return result;
    }
    if (stack.empty()) {
      result.verdict = Verdict::kNotLinearizable;
      if (result.blocking < 0) result.blocking = entry->op;
      return result;
    }
    if (stack.size() >= result.best_depth) {
      result.blocking = entry->op;
    }
    Frame top = stack.back();
    stack.pop_back();
    state = top.state;
    linearized[top.call->op / 64] &= ~(1ull << (top.call->op % 64));
    unlift(top.call);
    entry = top.call->next;
  }
  return result;
}

}  // namespace

std::string to_string(const Operation& op) {
  std::string s = "client " + std::to_string(op.client) + " ";
  switch (op.kind) {
    case OpKind::kWrite:
      s += "write " + op.key + "=" + op.value;
      break;
    case OpKind::kRead:
      s += "read " + op.key;
      if (op.outcome == Outcome::kOk) s += op.found ? " -> " + op.value : " -> (absent)";
      break;
    case OpKind::kCas:
      s += "cas " + op.key + " " + op.expected + "->" + op.value;
      if (op.outcome == Outcome::kOk) s += op.cas_succeeded ? " (swapped)" : " (not swapped)";
      break;
  }
  s += " [" + std::to_string(op.invoke) + ", ";
  s += op.outcome == Outcome::kUnknown ? std::string("?]") : std::to_string(op.complete) + "]";
  return s;
}

Result check(const std::vector<Operation>& history, const Options& options) {
  // Partition by key, interning values; unknown reads constrain nothing.
  std::map<std::string, std::vector<KeyOp>> by_key;
  std::map<std::string, std::unordered_map<std::string, int>> values;
  auto intern = [&](const std::string& key, const std::string& v) {
    auto& table = values[key];
    auto [it, inserted] = table.emplace(v, static_cast<int>(table.size()) + 1);
    return it->second;
  };
  for (const Operation& op : history) {
    if (op.kind == OpKind::kRead && op.outcome == Outcome::kUnknown) {
      continue;
    }
    KeyOp k{op.kind, op.outcome, 0, 0, op.found, op.cas_succeeded, op.invoke, op.complete, &op};
    if (op.kind != OpKind::kRead || op.found) k.value = intern(op.key, op.value);
    if (op.kind == OpKind::kCas) k.expected = intern(op.key, op.expected);
    by_key[op.key].push_back(k);
  }
  Result result;
  uint64_t budget = options.max_states;
  for (const auto& [key, ops] : by_key) {
    KeyResult r = check_key(ops, budget);
    result.states_explored += r.explored;
    budget = budget > r.explored ? budget - r.explored : 0;
    if (r.verdict == Verdict::kNotLinearizable) {
      result.verdict = Verdict::kNotLinearizable;
      result.key = key;
      result.explanation = "key '" + key + "': " + std::to_string(ops.size()) +
                           " operations; at most " + std::to_string(r.best_depth) +
                           " could be linearized, and no order places " +
                           to_string(*ops[r.blocking].source) + " before it returned";
      return result;
    }
    if (r.verdict == Verdict::kGaveUp) {
      result.verdict = Verdict::kGaveUp;
      result.key = key;
      result.explanation =
          "key '" + key + "': gave up after " + std::to_string(result.states_explored) + " states";
      return result;
    }
  }
  return result;
}

}  // namespace lincheck
