// Tests of the linearizability checker: it accepts what a register allows, rejects the
// classic anomalies (stale reads, lost writes and updates, reads from the future), treats
// unknown outcomes as "maybe, later, or never", checks keys independently, copes with
// large histories, and gives up when its budget runs out.
#include "lincheck/linearizability.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>

namespace lincheck {
namespace {

Operation write(int client, const std::string& key, const std::string& value, int64_t invoke,
                int64_t complete) {
  Operation op;
  op.client = client;
  op.key = key;
  op.kind = OpKind::kWrite;
  op.value = value;
  op.invoke = invoke;
  op.complete = complete;
  return op;
}

// A read that returned `value`, or found the key absent when `value` is nullopt.
Operation read(int client, const std::string& key, std::optional<std::string> value, int64_t invoke,
               int64_t complete) {
  Operation op;
  op.client = client;
  op.key = key;
  op.kind = OpKind::kRead;
  op.found = value.has_value();
  op.value = value.value_or("");
  op.invoke = invoke;
  op.complete = complete;
  return op;
}

Operation cas(int client, const std::string& key, const std::string& expected,
              const std::string& value, bool swapped, int64_t invoke, int64_t complete) {
  Operation op;
  op.client = client;
  op.key = key;
  op.kind = OpKind::kCas;
  op.expected = expected;
  op.value = value;
  op.cas_succeeded = swapped;
  op.invoke = invoke;
  op.complete = complete;
  return op;
}

// `op` with its outcome unknown; its complete time is deliberately nonsense (ignored).
Operation unknown(Operation op) {
  op.outcome = Outcome::kUnknown;
  op.complete = -1;
  op.cas_succeeded = false;
  return op;
}

constexpr std::nullopt_t kAbsent = std::nullopt;

Verdict verdict_of(const std::vector<Operation>& history) { return check(history).verdict; }

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Linearizability, AcceptsASequentialHistory) {
  EXPECT_EQ(verdict_of({read(0, "x", kAbsent, 0, 1), write(0, "x", "1", 2, 3),
                        read(1, "x", "1", 4, 5), cas(1, "x", "1", "2", true, 6, 7),
                        cas(0, "x", "1", "3", false, 8, 9), read(0, "x", "2", 10, 11)}),
            Verdict::kLinearizable);
  EXPECT_EQ(verdict_of({}), Verdict::kLinearizable);
}

TEST(Linearizability, AcceptsAReadOverlappingAWriteWhicheverValueItSees) {
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 10), read(1, "x", "1", 5, 6)}),
            Verdict::kLinearizable);
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 10), read(1, "x", kAbsent, 5, 6)}),
            Verdict::kLinearizable);
}

TEST(Linearizability, AcceptsConcurrentWritesTakingEffectInEitherOrder) {
  for (const char* last : {"1", "2"}) {
    EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 10), write(1, "x", "2", 2, 8),
                          read(2, "x", last, 11, 12), read(0, "x", last, 13, 14)}),
              Verdict::kLinearizable)
        << "last value " << last;
  }
}

TEST(Linearizability, IntervalsAreClosedSoOperationsTouchingAtOneInstantOverlap) {
  // The read is invoked at the instant the write returned: it may still precede it.
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 5), read(1, "x", kAbsent, 5, 6)}),
            Verdict::kLinearizable);
  // One tick later it may not.
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 5), read(1, "x", kAbsent, 6, 7)}),
            Verdict::kNotLinearizable);
}

TEST(Linearizability, RejectsAStaleReadAfterACompletedWrite) {
  Result res = check({write(0, "x", "1", 0, 1), write(0, "x", "2", 2, 3), read(1, "x", "1", 4, 5)});
  EXPECT_EQ(res.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(res.key, "x");
}

TEST(Linearizability, RejectsAReadOfAValueNeverWritten) {
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 10), read(1, "x", "7", 2, 3)}),
            Verdict::kNotLinearizable);
}

TEST(Linearizability, RejectsTwoReadersObservingConcurrentWritesInOppositeOrders) {
  // A sees 1 then 2, B sees 2 then 1; each reader's reads are sequential.
  EXPECT_EQ(
      verdict_of({write(0, "x", "1", 0, 100), write(1, "x", "2", 0, 100), read(2, "x", "1", 10, 20),
                  read(2, "x", "2", 30, 40), read(3, "x", "2", 10, 20), read(3, "x", "1", 30, 40)}),
      Verdict::kNotLinearizable);
  // Control: both readers seeing the same order is fine.
  EXPECT_EQ(
      verdict_of({write(0, "x", "1", 0, 100), write(1, "x", "2", 0, 100), read(2, "x", "1", 10, 20),
                  read(2, "x", "2", 30, 40), read(3, "x", "1", 10, 20), read(3, "x", "2", 30, 40)}),
      Verdict::kLinearizable);
}

TEST(Linearizability, RejectsAReadOfAWriteNotYetInvoked) {
  EXPECT_EQ(verdict_of({read(1, "x", "1", 0, 1), write(0, "x", "1", 2, 3)}),
            Verdict::kNotLinearizable);
}

TEST(Linearizability, RejectsACasThatClaimsSuccessAgainstAValueNotPresent) {
  EXPECT_EQ(verdict_of({cas(0, "x", "1", "2", true, 0, 1)}), Verdict::kNotLinearizable);
  EXPECT_EQ(verdict_of({write(0, "x", "3", 0, 1), cas(0, "x", "1", "2", true, 2, 3)}),
            Verdict::kNotLinearizable);
  // Control: against the value present, it may succeed, and then it must have swapped.
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 1), cas(0, "x", "1", "2", true, 2, 3),
                        read(1, "x", "2", 4, 5)}),
            Verdict::kLinearizable);
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 1), cas(0, "x", "1", "2", true, 2, 3),
                        read(1, "x", "1", 4, 5)}),
            Verdict::kNotLinearizable);
}

TEST(Linearizability, RejectsACasThatClaimsFailureAgainstTheValuePresent) {
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 1), cas(0, "x", "1", "2", false, 2, 3)}),
            Verdict::kNotLinearizable);
  EXPECT_EQ(verdict_of({cas(0, "x", "1", "2", false, 0, 1)}), Verdict::kLinearizable);
}

TEST(Linearizability, RejectsAnAcknowledgedWriteThatIsLost) {
  // "b" was acknowledged, yet every later read sees the value before it.
  EXPECT_EQ(verdict_of({write(0, "x", "a", 0, 1), write(1, "x", "b", 2, 3), read(2, "x", "a", 4, 5),
                        read(0, "x", "a", 6, 7)}),
            Verdict::kNotLinearizable);
}

TEST(Linearizability, RejectsALostUpdateWhereTwoCasesSwapFromTheSameValue) {
  EXPECT_EQ(verdict_of({write(0, "x", "0", 0, 1), cas(1, "x", "0", "1", true, 2, 6),
                        cas(2, "x", "0", "2", true, 3, 7)}),
            Verdict::kNotLinearizable);
  // Control: if one of them reports failure the history is fine.
  EXPECT_EQ(verdict_of({write(0, "x", "0", 0, 1), cas(1, "x", "0", "1", true, 2, 6),
                        cas(2, "x", "0", "2", false, 3, 7)}),
            Verdict::kLinearizable);
}

TEST(Linearizability, AnUnknownWriteMayBeSeenOrNeverSeen) {
  EXPECT_EQ(verdict_of({unknown(write(0, "x", "1", 0, 0)), read(1, "x", "1", 5, 6)}),
            Verdict::kLinearizable);
  EXPECT_EQ(verdict_of({unknown(write(0, "x", "1", 0, 0)), read(1, "x", kAbsent, 5, 6)}),
            Verdict::kLinearizable);
  // It may take effect long after its invoke...
  EXPECT_EQ(verdict_of({unknown(write(0, "x", "1", 0, 0)), read(1, "x", kAbsent, 5, 6),
                        read(1, "x", "1", 50, 60)}),
            Verdict::kLinearizable);
  // ...but only once: after it is seen, the older value cannot come back.
  EXPECT_EQ(verdict_of({unknown(write(0, "x", "1", 0, 0)), read(1, "x", kAbsent, 5, 6),
                        read(1, "x", "1", 50, 60), read(1, "x", kAbsent, 70, 80)}),
            Verdict::kNotLinearizable);
}

TEST(Linearizability, AnUnknownWriteThatIsSeenTakesEffectAfterItsInvoke) {
  EXPECT_EQ(verdict_of({read(1, "x", "1", 0, 4), unknown(write(0, "x", "1", 5, 0))}),
            Verdict::kNotLinearizable);
  EXPECT_EQ(verdict_of({read(1, "x", "1", 0, 5), unknown(write(0, "x", "1", 5, 0))}),
            Verdict::kLinearizable);
}

TEST(Linearizability, AnUnknownCasMaySwapOrNotButOnlyFromTheExpectedValue) {
  std::vector<Operation> base = {write(0, "x", "a", 0, 1),
                                 unknown(cas(1, "x", "a", "b", false, 2, 0))};
  for (const char* seen : {"a", "b"}) {
    std::vector<Operation> h = base;
    h.push_back(read(2, "x", seen, 10, 11));
    EXPECT_EQ(verdict_of(h), Verdict::kLinearizable) << "saw " << seen;
  }
  // Overwritten before it was invoked, it can no longer swap.
  EXPECT_EQ(verdict_of({write(0, "x", "a", 0, 1), write(0, "x", "c", 2, 3),
                        unknown(cas(1, "x", "a", "b", false, 4, 0)), read(2, "x", "b", 10, 11)}),
            Verdict::kNotLinearizable);
}

TEST(Linearizability, AnUnknownReadConstrainsNothing) {
  Operation garbage = unknown(read(1, "x", "never written", 2, 3));
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 1), garbage, read(2, "x", "1", 4, 5)}),
            Verdict::kLinearizable);
}

TEST(Linearizability, PendingUnknownOperationsThatNeverTookEffectAreAccepted) {
  // Five writes time out and none is ever seen; every known operation is placed first.
  std::vector<Operation> h;
  for (int i = 0; i < 5; ++i) {
    h.push_back(unknown(write(i, "x", "lost" + std::to_string(i), i, 0)));
  }
  h.push_back(write(9, "x", "kept", 10, 11));
  h.push_back(read(9, "x", "kept", 12, 13));
  EXPECT_EQ(verdict_of(h), Verdict::kLinearizable);
}

TEST(Linearizability, ManyPendingUnknownWritesDoNotMakeTheSearchExponential) {
  // 200 timed-out writes of values nobody reads, pending through a long sequential
  // history. Tried as independent choices they would give 2^200 search states; the
  // checker must settle both the linearizable and the broken variant in a small budget.
  // A CAS that reports failure makes the register's "some other value" state useful, so
  // the writes can no longer simply be discarded: both cases are checked.
  for (bool with_failed_cas : {false, true}) {
    std::vector<Operation> h;
    for (int i = 0; i < 200; ++i) {
      h.push_back(unknown(write(100 + i, "x", "t" + std::to_string(i), i, 0)));
    }
    int64_t t = 1000;
    for (int i = 0; i < 100; ++i, t += 10) {
      h.push_back(write(0, "x", "v" + std::to_string(i), t, t + 2));
      h.push_back(read(1, "x", "v" + std::to_string(i), t + 3, t + 4));
      if (with_failed_cas) h.push_back(cas(2, "x", "nope", "w", false, t + 5, t + 6));
    }
    Options small{200'000};
    Result ok = check(h, small);
    EXPECT_EQ(ok.verdict, Verdict::kLinearizable) << with_failed_cas << ": " << ok.explanation;
    h.push_back(read(1, "x", "v50", t, t + 1));  // stale: "v99" was written since
    Result broken = check(h, small);
    EXPECT_EQ(broken.verdict, Verdict::kNotLinearizable)
        << with_failed_cas << ": " << broken.explanation;
  }
}

TEST(Linearizability, EachKeyIsAnIndependentRegister) {
  // A read of "y" does not see writes to "x".
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 1), read(1, "y", kAbsent, 2, 3)}),
            Verdict::kLinearizable);
  EXPECT_EQ(verdict_of({write(0, "x", "1", 0, 1), read(1, "y", "1", 2, 3)}),
            Verdict::kNotLinearizable);
}

TEST(Linearizability, AViolationIsReportedWithItsKeyAndTheFirstFailingKeyWins) {
  std::vector<Operation> h = {write(0, "a", "1", 0, 1), read(1, "a", "1", 2, 3),
                              write(0, "c", "1", 0, 1), read(1, "c", "9", 2, 3),
                              write(0, "b", "1", 0, 1), write(0, "b", "2", 2, 3),
                              read(1, "b", "1", 4, 5)};
  Result res = check(h);
  EXPECT_EQ(res.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(res.key, "b");
  EXPECT_TRUE(contains(res.explanation, "key \"b\"")) << res.explanation;
  h.erase(h.begin() + 4, h.end());
  res = check(h);
  EXPECT_EQ(res.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(res.key, "c");
}

TEST(Linearizability, TheExplanationGivesThePrefixFoundAndTheOperationThatCannotBePlaced) {
  Operation stale = read(1, "x", "1", 40, 50);
  Result res = check({write(0, "x", "1", 0, 10), write(0, "x", "2", 20, 30), stale});
  ASSERT_EQ(res.verdict, Verdict::kNotLinearizable);
  EXPECT_TRUE(contains(res.explanation, "3 operations")) << res.explanation;
  EXPECT_TRUE(contains(res.explanation, "places 2 of them")) << res.explanation;
  EXPECT_TRUE(contains(res.explanation, "holds \"2\"")) << res.explanation;
  EXPECT_TRUE(contains(res.explanation, to_string(stale) + " must take effect by time 50"))
      << res.explanation;
  EXPECT_EQ(to_string(stale), "client 1 read \"x\" -> \"1\" [40, 50]");
}

TEST(Linearizability, ToStringIsOneLineWithValuesEscaped) {
  EXPECT_EQ(to_string(write(2, "k", "a\"b\nc", 1, 2)),
            "client 2 write \"k\" = \"a\\\"b\\x0ac\" [1, 2]");
  EXPECT_EQ(to_string(read(0, "k", kAbsent, 3, 4)), "client 0 read \"k\" -> (absent) [3, 4]");
  EXPECT_EQ(to_string(unknown(cas(1, "k", "a", "b", true, 5, 6))),
            "client 1 cas \"k\" \"a\" -> \"b\" [5, ?] unknown");
  EXPECT_EQ(to_string(cas(1, "k", "a", "b", false, 5, 6)),
            "client 1 cas \"k\" \"a\" -> \"b\" (not swapped) [5, 6]");
}

TEST(LinearizabilityDeathTest, AKnownOperationCompletingBeforeItsInvokeStopsTheProcess) {
  EXPECT_DEATH(check({write(0, "x", "1", 10, 9)}), "completes before it is invoked");
}

// A history of a real atomic register: each operation takes effect at one random instant
// inside its interval, in the order of those instants. Every written value is unique. A
// few writes and CASes lose their reply (unknown outcome); half of those never took
// effect. A few reads lose theirs too and keep a meaningless value.
struct GeneratedHistory {
  std::vector<Operation> ops;
  int unknown_updates = 0;
  int overlapping_pairs = 0;  // ops of different clients overlapping in time (a sample)
};

GeneratedHistory generate_register_history(uint64_t seed, int num_ops, int num_keys,
                                           int num_clients, int unknown_percent = 3,
                                           int cas_percent = 20) {
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  GeneratedHistory out;
  std::vector<int64_t> client_clock(num_clients, 0);
  std::vector<std::vector<std::string>> written(num_keys);  // in generation order
  struct Planned {
    Operation op;
    std::optional<int64_t> effect;  // nullopt: never took effect
  };
  std::vector<Planned> planned;
  for (int i = 0; i < num_ops; ++i) {
    int c = static_cast<int>(std::min_element(client_clock.begin(), client_clock.end()) -
                             client_clock.begin());
    int k = static_cast<int>(uniform(0, num_keys - 1));
    Operation op;
    op.client = c;
    op.key = "k" + std::to_string(k);
    op.invoke = client_clock[c] + uniform(0, 3);
    op.complete = op.invoke + uniform(0, 40);
    op.value = "v" + std::to_string(i);
    int64_t dice = uniform(0, 99);
    op.kind = dice < 35 ? OpKind::kRead : dice < 100 - cas_percent ? OpKind::kWrite : OpKind::kCas;
    if (op.kind == OpKind::kCas) {
      const auto& w = written[k];
      op.expected =
          w.empty() ? "none" : w[w.size() - 1 - uniform(0, std::min<int64_t>(2, w.size() - 1))];
    }
    if (op.kind != OpKind::kRead) written[k].push_back(op.value);
    Planned p{op, uniform(op.invoke, op.complete)};
    if (uniform(0, 99) < unknown_percent) {
      p.op.outcome = Outcome::kUnknown;
      if (op.kind != OpKind::kRead) {
        ++out.unknown_updates;
        if (uniform(0, 1) == 0) p.effect.reset();
      }
    }
    client_clock[c] = op.complete + 1;
    planned.push_back(p);
  }
  std::vector<size_t> by_effect;
  for (size_t i = 0; i < planned.size(); ++i) {
    if (planned[i].effect) by_effect.push_back(i);
  }
  std::stable_sort(by_effect.begin(), by_effect.end(),
                   [&](size_t a, size_t b) { return *planned[a].effect < *planned[b].effect; });
  std::map<std::string, std::string> store;
  for (size_t i : by_effect) {
    Operation& op = planned[i].op;
    auto it = store.find(op.key);
    switch (op.kind) {
      case OpKind::kRead:
        if (op.outcome == Outcome::kOk) {
          op.found = it != store.end();
          op.value = op.found ? it->second : "";
        }
        break;
      case OpKind::kWrite:
        store[op.key] = op.value;
        break;
      case OpKind::kCas:
        op.cas_succeeded = it != store.end() && it->second == op.expected;
        if (op.cas_succeeded) it->second = op.value;
        break;
    }
  }
  for (Planned& p : planned) {
    if (p.op.outcome == Outcome::kUnknown) p.op.complete = 0;  // must be ignored
    out.ops.push_back(p.op);
  }
  for (size_t i = 0; i + 1 < out.ops.size(); ++i) {
    const Operation& a = out.ops[i];
    const Operation& b = out.ops[i + 1];
    if (a.client != b.client && a.outcome == Outcome::kOk && b.outcome == Outcome::kOk &&
        a.invoke <= b.complete && b.invoke <= a.complete) {
      ++out.overlapping_pairs;
    }
  }
  return out;
}

TEST(Linearizability, AcceptsALargeHistoryOfAnAtomicRegister) {
  GeneratedHistory g = generate_register_history(20240611, 6000, 10, 8);
  ASSERT_GT(g.unknown_updates, 50);
  ASSERT_GT(g.overlapping_pairs, 1000);
  Result res = check(g.ops);
  EXPECT_EQ(res.verdict, Verdict::kLinearizable) << res.explanation;
}

TEST(Linearizability, TheVerdictDoesNotDependOnTheOrderOfTheHistory) {
  GeneratedHistory g = generate_register_history(7, 2000, 4, 8);
  std::mt19937_64 rng(7);
  std::shuffle(g.ops.begin(), g.ops.end(), rng);
  Result res = check(g.ops);
  EXPECT_EQ(res.verdict, Verdict::kLinearizable) << res.explanation;
}

TEST(Linearizability, RejectsALargeHistoryWithOnePlantedStaleRead) {
  GeneratedHistory g = generate_register_history(20240611, 6000, 10, 8);
  std::vector<Operation>& h = g.ops;
  auto is_ok_write = [](const Operation& op) {
    return op.kind == OpKind::kWrite && op.outcome == Outcome::kOk;
  };
  // Past the middle, find a read r of key k with two acknowledged writes w1 -> w2 -> r in
  // real time, and make r return w1's value: w2 must take effect between them, and no
  // other operation writes that value, so no order can explain r.
  std::optional<size_t> planted;
  for (size_t r = h.size() / 2; r < h.size() && !planted; ++r) {
    if (h[r].kind != OpKind::kRead || h[r].outcome != Outcome::kOk) continue;
    std::optional<size_t> w2;
    for (size_t i = 0; i < h.size(); ++i) {
      if (is_ok_write(h[i]) && h[i].key == h[r].key && h[i].complete < h[r].invoke &&
          (!w2 || h[i].invoke > h[*w2].invoke)) {
        w2 = i;
      }
    }
    if (!w2) continue;
    for (size_t w1 = 0; w1 < h.size(); ++w1) {
      if (is_ok_write(h[w1]) && h[w1].key == h[r].key && h[w1].complete < h[*w2].invoke) {
        h[r].found = true;
        h[r].value = h[w1].value;
        planted = r;
        break;
      }
    }
  }
  ASSERT_TRUE(planted.has_value());
  Result res = check(h);
  EXPECT_EQ(res.verdict, Verdict::kNotLinearizable) << res.explanation;
  EXPECT_EQ(res.key, h[*planted].key);
  EXPECT_TRUE(contains(res.explanation, to_string(h[*planted]))) << res.explanation;
}

TEST(Linearizability, GivesUpWhenTheBudgetIsTiny) {
  GeneratedHistory g = generate_register_history(3, 500, 2, 8);
  ASSERT_EQ(check(g.ops).verdict, Verdict::kLinearizable);
  Result res = check(g.ops, Options{50});
  EXPECT_EQ(res.verdict, Verdict::kGaveUp);
  EXPECT_EQ(res.states_explored, 50u);
  EXPECT_FALSE(res.key.empty());
  EXPECT_TRUE(contains(res.explanation, "gave up after 50 search steps")) << res.explanation;
}

}  // namespace
}  // namespace lincheck
