#include "append_check.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "checkers.h"
#include "report.h"

namespace chaos {
namespace {

using raftkv::chaos::MicroOp;
using raftkv::chaos::NemesisEvent;
using raftkv::chaos::Op;
using List = google::protobuf::RepeatedField<int64_t>;

enum class Outcome { kOk, kFail, kInfo };

// One txn of the history, its keys interned.
struct Txn {
  const Op* op = nullptr;
  Outcome outcome = Outcome::kOk;
  std::vector<std::pair<int, const MicroOp*>> reads = {};  // (key, read); only an ok txn's count
  std::vector<std::pair<int, int64_t>> appends = {};       // (key, element)
  bool observed = false;  // an append of it was read: it committed, whatever its outcome
};

struct Read {
  int txn = -1;
  const MicroOp* mop = nullptr;
  bool prefix = true;  // of the key's version order; a read that is not was reported
};

struct KeyState {
  std::string name;
  std::vector<Read> reads = {};  // every ok txn's read of the key, final reads included
  // The version order: the longest list read (step 1 of every txn reads atomically, so
  // every other read must be a prefix of it). Null if the key was never read.
  const MicroOp* order = nullptr;
  int order_txn = -1;
  const MicroOp* final = nullptr;  // the final read, if the client made it
  // The first occurrence of each order element that a txn of the graph appended to this
  // key, with its writer: (position in the order, txn), by position.
  std::vector<std::pair<int, int>> writers = {};
  // before[n]: how many of `writers` lie in the order's first n positions.
  std::vector<int> before = {};
};

// Who appended an element (an ok or unknown txn; failed txns' elements are apart).
struct Writer {
  int txn = -1;
  int key = -1;
};

struct History {
  std::vector<Txn> txns;
  std::vector<KeyState> keys;
  std::unordered_map<std::string, int> key_ids;
  std::unordered_map<int64_t, Writer> writers;
  std::unordered_map<int64_t, int> failed;  // element -> the failed txn that meant to append it

  int key(const std::string& name) {
    auto [it, added] = key_ids.emplace(name, static_cast<int>(keys.size()));
    if (added) keys.push_back(KeyState{.name = name});
    return it->second;
  }
  std::string name(int txn) const { return absl::StrCat("T", txns[txn].op->op()); }
};

// A dependency between two txns: `from` must come before `to` in any serial order.
enum EdgeKind : unsigned { kWw = 1, kWr = 2, kRw = 4, kRt = 8 };
constexpr unsigned kAllEdges = kWw | kWr | kRw | kRt;

struct Edge {
  int from = -1, to = -1;
  EdgeKind kind = kWw;
  int key = -1;  // ww, wr, rw: the key, and positions in its order:
  int a = 0;     // ww, wr: from's element; rw: the length of from's read
  int b = 0;     // ww: to's element; wr: the length of to's read; rw: to's element
};

// Edges sorted by source: v's are edges[start[v]] .. edges[start[v + 1] - 1].
struct Graph {
  std::vector<Edge> edges;
  std::vector<int> start;
  int size() const { return static_cast<int>(start.size()) - 1; }
};

// Counts one anomaly of `kind`; true while its examples are still wanted.
bool tally(AppendReport& r, const std::string& kind) { return r.found[kind]++ < kAppendExamples; }

void keep(AppendReport& r, const History& h, std::string kind, std::vector<std::string> because,
          const std::vector<int>& txns) {
  AppendAnomaly a{.kind = std::move(kind), .because = std::move(because)};
  for (int t : txns) a.txns.push_back(*h.txns[t].op);
  r.anomalies.push_back(std::move(a));
}

// The first n elements of a list, the last few of them shown.
std::string list_text(const List& list, int n) {
  constexpr int kShown = 4;
  std::vector<int64_t> shown(list.begin() + std::max(0, n - kShown), list.begin() + n);
  return absl::StrCat("[", n > kShown ? absl::StrCat("...", n - kShown, " more, ") : "",
                      absl::StrJoin(shown, ", "), "]");
}

// Reads the history's append lines; counts them.
History read_history(const std::vector<Op>& ops, AppendReport& r) {
  History h;
  for (const Op& op : ops) {
    if (op.wl() != "append") continue;
    if (op.final() && op.res() != "ok") {
      r.inconclusive = absl::StrCat("the final read failed (", op.err(),
                                    "): acknowledged appends were not read back");
      continue;
    }
    Txn t{.op = &op};
    t.outcome = op.res() == "ok"     ? Outcome::kOk
                : op.res() == "fail" ? Outcome::kFail
                                     : Outcome::kInfo;
    std::set<int> keys;
    for (const MicroOp& m : op.mops()) {
      const int k = h.key(m.key());
      keys.insert(k);
      if (m.f() == "append") t.appends.emplace_back(k, m.elem());
      // What an unknown or failed txn read proves nothing: its compare may not have held.
      if (m.f() == "r" && t.outcome == Outcome::kOk) t.reads.emplace_back(k, &m);
    }
    if (op.final()) {
      ++r.finals;
      for (const auto& [k, m] : t.reads) h.keys[k].final = m;
    } else {
      ++(t.outcome == Outcome::kOk ? r.ok : t.outcome == Outcome::kFail ? r.fail : r.info);
      if (t.outcome == Outcome::kOk && keys.size() > 1) ++r.multi_key_ok;
    }
    h.txns.push_back(std::move(t));
  }
  r.keys = h.keys.size();
  for (int i = 0; i < static_cast<int>(h.txns.size()); ++i) {
    const Txn& t = h.txns[i];
    for (const auto& [k, e] : t.appends) {
      const bool fresh = t.outcome == Outcome::kFail ? h.failed.emplace(e, i).second
                                                     : h.writers.emplace(e, Writer{i, k}).second;
      if (!fresh || (t.outcome == Outcome::kFail && h.writers.contains(e)) ||
          (t.outcome != Outcome::kFail && h.failed.contains(e))) {
        r.inconclusive = absl::StrCat("element ", e, " is appended by two txns (", h.name(i),
                                      " is one): the client broke its uniqueness");
      }
      if (t.outcome != Outcome::kFail) ++r.elements;
    }
    for (const auto& [k, m] : t.reads) h.keys[k].reads.push_back(Read{.txn = i, .mop = m});
  }
  return h;
}

// What each list shows by itself: elements of failed txns (G1a), elements nobody appended
// to the key (garbage), an element twice. Marks the txns whose appends were read.
void check_elements(History& h, AppendReport& r) {
  std::set<std::pair<int, int64_t>> reported;  // each (key, element) once per kind
  std::unordered_set<int64_t> seen;
  for (int k = 0; k < static_cast<int>(h.keys.size()); ++k) {
    for (const Read& read : h.keys[k].reads) {
      const List& list = read.mop->list();
      seen.clear();
      for (int i = 0; i < list.size(); ++i) {
        const int64_t e = list[i];
        auto shown = [&] {
          return absl::StrCat(h.name(read.txn), " read ", h.keys[k].name, " = ",
                              list_text(list, list.size()));
        };
        if (!seen.insert(e).second) {
          if (reported.emplace(k, e).second && tally(r, "duplicate")) {
            keep(r, h, "duplicate",
                 {absl::StrCat(shown(), ": element ", e, " occurs twice (again at position ", i,
                               ")")},
                 {read.txn});
          }
        } else if (auto f = h.failed.find(e); f != h.failed.end()) {
          if (reported.emplace(-1, e).second && tally(r, "G1a")) {
            keep(r, h, "G1a",
                 {absl::StrCat(shown(), ": it holds ", e, ", which ", h.name(f->second),
                               " meant to append but that txn failed (had no effect)")},
                 {f->second, read.txn});
          }
        } else if (auto w = h.writers.find(e); w == h.writers.end() || w->second.key != k) {
          if (reported.emplace(-2 - k, e).second && tally(r, "garbage")) {
            keep(r, h, "garbage",
                 {absl::StrCat(shown(), ": no txn appended ", e, " to ", h.keys[k].name,
                               w == h.writers.end() ? ""
                                                    : absl::StrCat(" (", h.name(w->second.txn),
                                                                   " appended it elsewhere)"))},
                 {read.txn});
          }
        } else {
          h.txns[w->second.txn].observed = true;
        }
      }
    }
  }
}

bool is_prefix(const List& a, const List& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Picks each key's version order (its longest read) and reports reads that are not
// prefixes of it (incompatible-order).
void check_orders(History& h, AppendReport& r) {
  for (KeyState& key : h.keys) {
    for (const Read& read : key.reads) {
      if (key.order == nullptr || read.mop->list_size() > key.order->list_size()) {
        key.order = read.mop;
        key.order_txn = read.txn;
      }
    }
    for (Read& read : key.reads) {
      read.prefix = is_prefix(read.mop->list(), key.order->list());
      if (read.prefix || !tally(r, "incompatible-order")) continue;
      const List& a = read.mop->list();
      const List& b = key.order->list();
      const int same =
          static_cast<int>(std::mismatch(a.begin(), a.end(), b.begin()).first - a.begin());
      keep(r, h, "incompatible-order",
           {absl::StrCat(h.name(read.txn), " read ", key.name, " = ", list_text(a, a.size())),
            absl::StrCat(h.name(key.order_txn), " read ", key.name, " = ", list_text(b, b.size())),
            absl::StrCat("they agree on the first ", same, " elements, then ", a[same], " vs ",
                         b[same], ": neither is a prefix of the other")},
           {read.txn, key.order_txn});
    }
  }
}

// Along each version order: the writers (first occurrences of elements appended to the key
// by an ok or unknown txn), whose commit revisions must increase (revision-order).
void order_writers(History& h, AppendReport& r) {
  for (int k = 0; k < static_cast<int>(h.keys.size()); ++k) {
    KeyState& key = h.keys[k];
    if (key.order == nullptr) continue;
    const List& list = key.order->list();
    std::unordered_set<int64_t> seen;
    key.before.assign(1, 0);
    int last_known = -1;  // the last writer with a known commit revision
    for (int i = 0; i < list.size(); ++i) {
      auto w = h.writers.find(list[i]);
      if (seen.insert(list[i]).second && w != h.writers.end() && w->second.key == k) {
        const int t = w->second.txn;
        key.writers.emplace_back(i, t);
        const Op& op = *h.txns[t].op;
        if (h.txns[t].outcome == Outcome::kOk && op.rev() > 0) {
          if (last_known >= 0 && h.txns[last_known].op->rev() >= op.rev() &&
              tally(r, "revision-order")) {
            keep(r, h, "revision-order",
                 {absl::StrCat(key.name, " holds ", h.name(last_known), "'s element before ",
                               h.name(t), "'s, but they committed at revisions ",
                               h.txns[last_known].op->rev(), " and ", op.rev())},
                 {last_known, t});
          }
          last_known = t;
        }
      }
      key.before.push_back(static_cast<int>(key.writers.size()));
    }
  }
}

// Every acknowledged append must be in the final read of its key (lost-append).
void check_final(const History& h, AppendReport& r) {
  std::vector<std::unordered_set<int64_t>> finals(h.keys.size());
  for (size_t k = 0; k < h.keys.size(); ++k) {
    if (h.keys[k].final != nullptr) {
      finals[k].insert(h.keys[k].final->list().begin(), h.keys[k].final->list().end());
    }
  }
  for (int i = 0; i < static_cast<int>(h.txns.size()); ++i) {
    if (h.txns[i].outcome != Outcome::kOk) continue;
    for (const auto& [k, e] : h.txns[i].appends) {
      const KeyState& key = h.keys[k];
      if (key.final == nullptr) {
        if (r.inconclusive.empty()) {
          r.inconclusive = absl::StrCat("no final read of ", key.name,
                                        ": its acknowledged appends were not read back");
        }
      } else if (!finals[k].contains(e) && tally(r, "lost-append")) {
        keep(r, h, "lost-append",
             {absl::StrCat(h.name(i), " appended ", e, " to ", key.name,
                           " and was acknowledged, but the final read of ", key.name, " = ",
                           list_text(key.final->list(), key.final->list_size()),
                           " does not hold it")},
             {i});
      }
    }
  }
}

bool in_graph(const Txn& t) {
  return t.outcome == Outcome::kOk || (t.outcome == Outcome::kInfo && t.observed);
}

// ww, wr and rw edges from the version orders and the reads.
void data_edges(const History& h, std::vector<Edge>& edges) {
  for (int k = 0; k < static_cast<int>(h.keys.size()); ++k) {
    const KeyState& key = h.keys[k];
    for (size_t i = 1; i < key.writers.size(); ++i) {
      const auto [a, from] = key.writers[i - 1];
      const auto [b, to] = key.writers[i];
      if (from != to)
        edges.push_back({.from = from, .to = to, .kind = kWw, .key = k, .a = a, .b = b});
    }
    for (const Read& read : key.reads) {
      if (!read.prefix) continue;
      const int n = read.mop->list_size();
      const int known = key.before[n];
      if (known > 0) {
        const auto [a, from] = key.writers[known - 1];
        if (from != read.txn) {
          edges.push_back({.from = from, .to = read.txn, .kind = kWr, .key = k, .a = a, .b = n});
        }
      }
      if (known < static_cast<int>(key.writers.size())) {
        const auto [b, to] = key.writers[known];
        if (to != read.txn) {
          edges.push_back({.from = read.txn, .to = to, .kind = kRw, .key = k, .a = n, .b = b});
        }
      }
    }
  }
}

// Real-time edges, built like Elle's realtime graph: a transitive reduction of "returned
// before the other was called". An unknown txn may commit any time after its call, so it
// is only ever the later one.
void realtime_edges(const History& h, std::vector<Edge>& edges) {
  struct Event {
    int64_t t;
    bool completes;  // invocations first at equal times: equal is not before
    int txn;
  };
  std::vector<Event> events;
  for (int i = 0; i < static_cast<int>(h.txns.size()); ++i) {
    const Txn& t = h.txns[i];
    if (!in_graph(t)) continue;
    events.push_back({t.op->t0(), false, i});
    if (t.outcome == Outcome::kOk) events.push_back({t.op->t1(), true, i});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::tie(a.t, a.completes, a.txn) < std::tie(b.t, b.completes, b.txn);
  });
  // Ok txns that returned and precede no other returned txn: an antichain, so about as
  // large as the number of workers.
  std::vector<int> frontier;
  std::unordered_map<int, std::vector<int>> preds;  // a running txn's frontier at its call
  for (const Event& e : events) {
    if (!e.completes) {
      for (int f : frontier) edges.push_back({.from = f, .to = e.txn, .kind = kRt});
      if (h.txns[e.txn].outcome == Outcome::kOk) preds[e.txn] = frontier;
      continue;
    }
    const std::vector<int>& before = preds[e.txn];
    std::erase_if(frontier, [&](int f) {
      return std::find(before.begin(), before.end(), f) != before.end();
    });
    frontier.push_back(e.txn);
    preds.erase(e.txn);
  }
}

Graph build_graph(const History& h, AppendReport& r) {
  Graph g;
  data_edges(h, g.edges);
  realtime_edges(h, g.edges);
  std::stable_sort(g.edges.begin(), g.edges.end(),
                   [](const Edge& a, const Edge& b) { return a.from < b.from; });
  const int n = static_cast<int>(h.txns.size());
  g.start.assign(n + 1, 0);
  for (const Edge& e : g.edges) ++g.start[e.from + 1];
  for (int v = 0; v < n; ++v) g.start[v + 1] += g.start[v];
  for (const Txn& t : h.txns) r.nodes += in_graph(t);
  for (const Edge& e : g.edges) {
    ++(e.kind == kWw ? r.ww : e.kind == kWr ? r.wr : e.kind == kRw ? r.rw : r.rt);
  }
  return g;
}

// Strongly connected components over the edges of `mask`, by Tarjan's algorithm with an
// explicit stack (a path can be as long as the history).
struct Components {
  std::vector<int> comp;       // v's component
  std::vector<int> size = {};  // a component's size
};

Components components(const Graph& g, unsigned mask) {
  const int n = g.size();
  Components c{.comp = std::vector<int>(n, -1)};
  std::vector<int> index(n, -1), low(n, 0), stack;
  std::vector<std::pair<int, int>> frames;  // (v, its next edge)
  int next_index = 0;
  for (int s = 0; s < n; ++s) {
    if (index[s] >= 0) continue;
    frames.emplace_back(s, g.start[s]);
    index[s] = low[s] = next_index++;
    stack.push_back(s);
    while (!frames.empty()) {
      const int v = frames.back().first;
      int& e = frames.back().second;
      while (e < g.start[v + 1] && (g.edges[e].kind & mask) == 0) ++e;
      if (e < g.start[v + 1]) {
        const int w = g.edges[e++].to;
        if (index[w] < 0) {
          index[w] = low[w] = next_index++;
          stack.push_back(w);
          frames.emplace_back(w, g.start[w]);  // invalidates e
        } else if (c.comp[w] < 0) {            // w is on the stack
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      if (low[v] == index[v]) {
        const int id = static_cast<int>(c.size.size());
        c.size.push_back(0);
        int w;
        do {
          w = stack.back();
          stack.pop_back();
          c.comp[w] = id;
          ++c.size[id];
        } while (w != v);
      }
      frames.pop_back();
      if (!frames.empty()) low[frames.back().first] = std::min(low[frames.back().first], low[v]);
    }
  }
  return c;
}

// A kind of cycle, searched as: an edge of kind `first` from u to v, then the shortest
// path from v back to u over edges of `path` that holds every kind of `need`. A path
// that passes a txn twice is no cycle of the kind and is skipped, so (as Elle's) the
// search finds cycles and never claims to have found them all.
struct CycleKind {
  const char* name;
  unsigned first, path, need;
};
constexpr CycleKind kCycleKinds[] = {
    {"G0", kWw, kWw, 0},
    {"G1c", kWr, kWw | kWr, 0},
    {"G-single", kRw, kWw | kWr, 0},
    {"G2-item", kRw, kWw | kWr | kRw, kRw},
    {"G0-realtime", kRt, kWw | kRt, 0},
    {"G1c-realtime", kWr, kWw | kWr | kRt, kRt},
    {"G-single-realtime", kRw, kWw | kWr | kRt, kRt},
    {"G2-item-realtime", kRw, kAllEdges, kRw | kRt},
};

// The name of a cycle's kind from its edges (Adya; Elle's names).
std::string classify(const std::vector<Edge>& cycle) {
  int wr = 0, rw = 0, rt = 0;
  for (const Edge& e : cycle) {
    wr += e.kind == kWr;
    rw += e.kind == kRw;
    rt += e.kind == kRt;
  }
  const char* base = rw > 1 ? "G2-item" : rw == 1 ? "G-single" : wr > 0 ? "G1c" : "G0";
  return absl::StrCat(base, rt > 0 ? "-realtime" : "");
}

// Breadth-first searches for the path back to a cycle's first edge, over states (txn,
// which of the needed kinds the path has seen so far).
class PathSearch {
 public:
  PathSearch(const Graph& g, uint64_t budget)
      : g_(g),
        budget_(budget),
        stamp_(4 * g.size(), 0),
        via_(4 * g.size()),
        parent_(4 * g.size()) {}

  // A kind mask as state bits: rw -> 1, rt -> 2.
  static unsigned bits(unsigned kinds) { return ((kinds & kRw) ? 1 : 0) | ((kinds & kRt) ? 2 : 0); }

  // The edges of the shortest path from `from` to `to` over edges of `mask` that stays in
  // from's component of `c`, at most `max_len` long, and holds every kind of `need`.
  // Nothing if there is none or the budget ran out.
  std::optional<std::vector<int>> find(int from, int to, const Components& c, unsigned mask,
                                       unsigned need, int max_len) {
    ++generation_;
    const int comp = c.comp[from];
    const unsigned goal = bits(need);
    std::vector<int> level{state(from, 0)}, next;
    stamp_[level[0]] = generation_;
    parent_[level[0]] = -1;
    for (int depth = 0; depth < max_len && !level.empty(); ++depth) {
      next.clear();
      for (int s : level) {
        const int v = s / 4;
        for (int e = g_.start[v]; e < g_.start[v + 1]; ++e) {
          const Edge& edge = g_.edges[e];
          if ((edge.kind & mask) == 0 || c.comp[edge.to] != comp) continue;
          if (visits_ >= budget_) return std::nullopt;
          ++visits_;
          const int t = state(edge.to, (static_cast<unsigned>(s % 4) | bits(edge.kind)) & goal);
          if (stamp_[t] == generation_) continue;
          stamp_[t] = generation_;
          via_[t] = e;
          parent_[t] = s;
          if (edge.to == to && static_cast<unsigned>(t % 4) == goal) return unwind(t);
          next.push_back(t);
        }
      }
      std::swap(level, next);
    }
    return std::nullopt;
  }
  bool exhausted() const { return visits_ >= budget_; }
  // Allows `more` edge visits from now on.
  void allow(uint64_t more) { budget_ = visits_ + more; }

 private:
  static int state(int v, unsigned b) { return 4 * v + static_cast<int>(b); }

  std::vector<int> unwind(int s) const {
    std::vector<int> path;
    for (; parent_[s] >= 0; s = parent_[s]) path.push_back(via_[s]);
    std::reverse(path.begin(), path.end());
    return path;
  }

  const Graph& g_;
  uint64_t budget_, visits_ = 0;
  int generation_ = 0;
  std::vector<int> stamp_;   // == generation_: reached in the current search
  std::vector<int> via_;     // the edge a state was first reached by
  std::vector<int> parent_;  // the state it was reached from (-1: the start)
};

std::vector<Edge> edges_of(const Graph& g, const std::vector<int>& cycle) {
  std::vector<Edge> out;
  for (int e : cycle) out.push_back(g.edges[e]);
  return out;
}

// The cycle with each step's weakest edge (ww, then wr, rw, rt) among those of `mask`: a
// step that is both ww and rt shows a dependency, not merely a real-time order.
std::vector<int> weakest(const Graph& g, std::vector<int> cycle, unsigned mask) {
  for (int& e : cycle) {
    const Edge& edge = g.edges[e];
    for (int f = g.start[edge.from]; f < g.start[edge.from + 1]; ++f) {
      const Edge& other = g.edges[f];
      if (other.to == edge.to && (other.kind & mask) != 0 && other.kind < g.edges[e].kind) e = f;
    }
  }
  return cycle;
}

// The cycle with real-time shortcuts. Real-time edges are a transitive reduction, so a
// cycle may pass through txns only to get from one txn to another called after the first
// returned; a direct edge replaces such a detour when the cycle stays of its kind.
std::vector<Edge> shortcut(const History& h, std::vector<Edge> cycle) {
  constexpr size_t kLongest = 32;  // longer cycles are shown as found
  const std::string kind = classify(cycle);
  for (bool changed = cycle.size() <= kLongest; changed;) {
    changed = false;
    const size_t n = cycle.size();
    // Edges i .. i+len-1 (cyclically) become one, longest detours first.
    for (size_t i = 0; i < n && !changed; ++i) {
      for (size_t len = n - 1; len >= 2 && !changed; --len) {
        const int from = cycle[i].from, to = cycle[(i + len - 1) % n].to;
        const Op& a = *h.txns[from].op;
        if (h.txns[from].outcome != Outcome::kOk || a.t1() >= h.txns[to].op->t0()) continue;
        std::vector<Edge> shorter{Edge{.from = from, .to = to, .kind = kRt}};
        for (size_t k = len; k < n; ++k) shorter.push_back(cycle[(i + k) % n]);
        if (classify(shorter) != kind) continue;
        cycle = std::move(shorter);
        changed = true;
      }
    }
  }
  return cycle;
}

// The kAppendExamples shortest cycles of one kind that the budget allows, shortest first.
std::vector<std::vector<Edge>> shortest_cycles(const History& h, const Graph& g,
                                               const CycleKind& kind, PathSearch& search) {
  const Components c = components(g, kind.first | kind.path);
  std::vector<std::vector<Edge>> best;
  std::set<std::vector<int>> known;  // their txns, rotated to start at the least
  for (int e = 0; e < static_cast<int>(g.edges.size()); ++e) {
    const Edge& edge = g.edges[e];
    if (edge.kind != kind.first || c.comp[edge.from] != c.comp[edge.to]) continue;
    // Once enough are kept, a new cycle must be shorter than the longest of them.
    const int max_len =
        best.size() < kAppendExamples ? g.size() : static_cast<int>(best.back().size()) - 2;
    if (max_len < 1) break;
    std::optional<std::vector<int>> path =
        search.find(edge.to, edge.from, c, kind.path, kind.need, max_len);
    if (!path) {
      if (search.exhausted()) break;
      continue;
    }
    std::vector<int> cycle{e};
    cycle.insert(cycle.end(), path->begin(), path->end());
    std::vector<Edge> edges = edges_of(g, weakest(g, std::move(cycle), kind.first | kind.path));
    if (classify(edges) != kind.name) continue;  // it is another kind's
    std::vector<int> txns;
    for (const Edge& f : edges) txns.push_back(f.from);
    // A path that needs a kind may pass a txn twice (once before and once after it met
    // that kind): a walk round a shorter cycle of another kind, not a cycle of this one.
    std::vector<int> sorted = txns;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) continue;
    edges = shortcut(h, std::move(edges));
    txns.clear();
    for (const Edge& f : edges) txns.push_back(f.from);
    std::rotate(txns.begin(), std::min_element(txns.begin(), txns.end()), txns.end());
    if (!known.insert(txns).second) continue;
    best.insert(std::upper_bound(best.begin(), best.end(), edges,
                                 [](const auto& a, const auto& b) { return a.size() < b.size(); }),
                std::move(edges));
    if (best.size() > kAppendExamples) best.pop_back();
  }
  return best;
}

// One edge of a cycle in words.
std::string explain(const History& h, const Edge& e) {
  const std::string from = h.name(e.from), to = h.name(e.to);
  if (e.kind == kRt) {
    const Op& a = *h.txns[e.from].op;
    const Op& b = *h.txns[e.to].op;
    return absl::StrFormat("%s returned %.3f s before %s was called => %s rt-> %s", from,
                           static_cast<double>(b.t0() - a.t1()) / 1e9, to, from, to);
  }
  const KeyState& key = h.keys[e.key];
  const List& order = key.order->list();
  switch (e.kind) {
    case kWw:
      return absl::StrCat(from, " appended ", order[e.a], " to ", key.name, " and ", to,
                          " appended ", order[e.b], " after it => ", from, " ww-> ", to);
    case kWr:
      return absl::StrCat(to, " read ", key.name, " = ", list_text(order, e.b),
                          ", whose last append is ", from, "'s ", order[e.a], " => ", from,
                          " wr-> ", to);
    default:
      return absl::StrCat(from, " read ", key.name, " = ", list_text(order, e.a), ", without ", to,
                          "'s ", order[e.b], ", which comes ", e.a == 0 ? "first" : "next", " => ",
                          from, " rw-> ", to);
  }
}

const char* edge_name(EdgeKind kind) {
  return kind == kWw ? "ww" : kind == kWr ? "wr" : kind == kRw ? "rw" : "rt";
}

// Keeps a cycle as an anomaly, told from its earliest txn in the history.
void keep_cycle(const History& h, std::vector<Edge> cycle, AppendReport& r) {
  const std::string kind = classify(cycle);
  if (!tally(r, kind)) return;
  std::rotate(cycle.begin(),
              std::min_element(cycle.begin(), cycle.end(),
                               [&](const Edge& a, const Edge& b) {
                                 return h.txns[a.from].op->op() < h.txns[b.from].op->op();
                               }),
              cycle.end());
  std::string steps = h.name(cycle[0].from);
  std::vector<std::string> because;
  std::vector<int> txns;
  for (const Edge& edge : cycle) {
    absl::StrAppend(&steps, " ", edge_name(edge.kind), "-> ", h.name(edge.to));
    because.push_back(explain(h, edge));
    txns.push_back(edge.from);
  }
  because.insert(because.begin(), steps);
  keep(r, h, kind, std::move(because), txns);
}

// Cycles: none in a strictly serializable history. Each kind's shortest, searched only
// inside the components that have cycles at all.
void find_cycles(const History& h, const Graph& g, uint64_t max_visits, AppendReport& r) {
  const Components all = components(g, kAllEdges);
  for (int v = 0; v < g.size(); ++v) r.on_cycles += all.size[all.comp[v]] > 1;
  if (r.on_cycles == 0) return;
  PathSearch search(g, 0);
  std::vector<std::string> exhausted;
  bool any = false;
  for (const CycleKind& kind : kCycleKinds) {
    search.allow(max_visits);
    for (const std::vector<Edge>& cycle : shortest_cycles(h, g, kind, search)) {
      keep_cycle(h, cycle, r);
      any = true;
    }
    if (search.exhausted()) exhausted.push_back(kind.name);
  }
  if (!exhausted.empty()) {
    r.search_note = absl::StrCat("the search for ", absl::StrJoin(exhausted, ", "),
                                 " cycles ran out of its budget (", max_visits,
                                 " edge visits each); shorter ones may exist");
  }
  if (any) return;
  // Every budget ran out: one cycle, any, through the first edge inside a component.
  search.allow(UINT64_MAX / 2);
  for (int e = 0; e < static_cast<int>(g.edges.size()); ++e) {
    const Edge& edge = g.edges[e];
    if (all.comp[edge.from] != all.comp[edge.to]) continue;
    std::optional<std::vector<int>> path =
        search.find(edge.to, edge.from, all, kAllEdges, 0, g.size());
    if (!path) continue;  // cannot happen: the edge lies in a component
    std::vector<int> cycle{e};
    cycle.insert(cycle.end(), path->begin(), path->end());
    keep_cycle(h, shortcut(h, edges_of(g, weakest(g, std::move(cycle), kAllEdges))), r);
    return;
  }
}

std::string describe_txn(const Op& op, int64_t origin) {
  std::vector<std::string> mops;
  for (const MicroOp& m : op.mops()) {
    mops.push_back(m.f() == "append"
                       ? absl::StrCat("append ", m.key(), " ", m.elem())
                       : absl::StrCat("r ", m.key(), " ", list_text(m.list(), m.list_size())));
  }
  return absl::StrCat(
      "T", op.op(), op.final() ? " (final read)" : "", " worker ", op.w(), " at ", op.ep(), " [",
      seconds(op.t0(), origin), ", ", op.res() == "info" ? "?" : seconds(op.t1(), origin), "] ",
      op.res(), op.err().empty() ? "" : absl::StrCat(" (", op.err(), ")"),
      op.rev() != 0 ? absl::StrCat(" rev ", op.rev()) : "", ": ", absl::StrJoin(mops, "; "));
}

}  // namespace

AppendReport check_append(const std::vector<Op>& ops, uint64_t max_visits) {
  const auto began = std::chrono::steady_clock::now();
  AppendReport r;
  History h = read_history(ops, r);
  check_elements(h, r);
  check_orders(h, r);
  order_writers(h, r);
  check_final(h, r);
  const Graph g = build_graph(h, r);
  find_cycles(h, g, max_visits, r);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  return r;
}

std::string describe(const AppendReport& r, const std::vector<NemesisEvent>& faults,
                     int64_t origin) {
  std::string out = absl::StrFormat(
      "append: %d ok txns (%d multi-key), %d failed, %d unknown; %d keys, %d elements, %d final "
      "reads\n  graph of %d txns: %d ww, %d wr, %d rw, %d real-time edges; %d txns on cycles\n",
      r.ok, r.multi_key_ok, r.fail, r.info, r.keys, r.elements, r.finals, r.nodes, r.ww, r.wr, r.rw,
      r.rt, r.on_cycles);
  const std::string took = absl::StrFormat(" (checked in %.3f s)\n", r.seconds);
  if (!r.search_note.empty()) absl::StrAppend(&out, "  ", r.search_note, "\n");
  if (r.anomalies.empty()) {
    return absl::StrCat(out, "  ",
                        r.inconclusive.empty() ? "strictly serializable"
                                               : absl::StrCat("INCONCLUSIVE: ", r.inconclusive),
                        took);
  }
  std::vector<std::string> found;
  for (const auto& [kind, n] : r.found) found.push_back(absl::StrCat(n, " ", kind));
  absl::StrAppend(&out, "  NOT STRICTLY SERIALIZABLE: ", absl::StrJoin(found, ", "), took);
  for (const AppendAnomaly& a : r.anomalies) {
    const size_t n = r.found.at(a.kind);
    absl::StrAppend(&out, "  ", a.kind,
                    n > kAppendExamples ? absl::StrCat(" (one of ", n, ")") : "", ":\n");
    for (const std::string& line : a.because) absl::StrAppend(&out, "    ", line, "\n");
    int64_t from = INT64_MAX, to = INT64_MIN;
    absl::StrAppend(&out, "    txns:\n");
    for (const Op& op : a.txns) {
      absl::StrAppend(&out, "      ", describe_txn(op, origin), "\n");
      from = std::min(from, op.t0());
      to = std::max({to, op.t0(), op.t1()});
    }
    absl::StrAppend(&out, "    faults overlapping [", seconds(from, origin), ", ",
                    seconds(to, origin), "]:\n", faults_during(faults, from, to, origin, "      "));
  }
  return out;
}

CheckResult check_append_workload(const CheckInput& in) {
  AppendReport r = check_append(in.ops, in.max_states);
  return CheckResult{.verdict = !r.anomalies.empty()      ? Verdict::kAnomaly
                                : !r.inconclusive.empty() ? Verdict::kInconclusive
                                                          : Verdict::kPass,
                     .text = describe(r, in.faults, in.origin)};
}

}  // namespace chaos
