#!/usr/bin/python3
"""The fault schedule (no privileges needed): the short mix runs every nemesis once alone,
then one pair at once; the random mixes fill their time, combine two faults at random, and only
faults that touch nothing in common (nemesis.compatible); against etcd, only the faults
that apply to it."""
import os
import random
import sys
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chaos  # noqa: E402
import nemesis  # noqa: E402


def args(mix, seconds=3600, target="raftkv"):
    return types.SimpleNamespace(mix=mix, seconds=seconds, target=target, planted=None)


class ScheduleTest(unittest.TestCase):
    def test_every_nemesis_has_a_family_and_a_maker(self):
        self.assertEqual(set(nemesis.ALL), set(nemesis.FAMILIES))
        cluster = types.SimpleNamespace(topology=None, members=[])
        for name in nemesis.ALL:
            self.assertIsInstance(nemesis.make(name, cluster, random.Random(0)), nemesis.Nemesis)
        for mix, (_, names, _) in chaos.MIXES.items():
            self.assertLessEqual(set(names), set(nemesis.ALL), mix)

    def test_the_short_mix_runs_each_nemesis_once_alone_then_one_pair(self):
        for target in ("raftkv", "etcd"):
            names = [x for x in nemesis.ALL if target == "raftkv" or nemesis.applies_to_etcd(x)]
            sched = chaos.schedule(args("short", target=target), random.Random(1))
            self.assertEqual(sorted(name for name, _, _ in sched[:-1]), sorted(names))
            a, b = sched[-1][0].split("+")
            self.assertTrue(nemesis.compatible(a, b))
            self.assertIn(a, names)
            self.assertIn(b, names)

    def test_random_mixes_fill_their_time_and_combine_only_compatible_faults(self):
        for mix, (_, names, rotation) in chaos.MIXES.items():
            if rotation:
                continue
            pairs_possible = any(nemesis.compatible(a, b) for a in names for b in names)
            for seed in range(20):
                sched = chaos.schedule(args(mix), random.Random(seed))
                self.assertGreaterEqual(sum(a + h for _, a, h in sched), 3600, mix)
                pairs = [name.split("+") for name, _, _ in sched if "+" in name]
                for a, b in pairs:
                    self.assertIn(a, names)
                    self.assertIn(b, names)
                    self.assertTrue(nemesis.compatible(a, b), f"{mix}: {a}+{b}")
                if pairs_possible:
                    # 0.4 of several hundred steps: never none, never all.
                    self.assertGreater(len(pairs), len(sched) // 5, mix)
                    self.assertLess(len(pairs), len(sched) * 3 // 5, mix)
                else:
                    self.assertEqual(pairs, [], mix)

    def test_faults_that_heal_each_other_or_need_the_quorum_never_overlap(self):
        self.assertFalse(nemesis.compatible("partition-one", "partition-one-way"))
        self.assertFalse(nemesis.compatible("loss", "loss-one-way"))
        self.assertFalse(nemesis.compatible("kill", "pause-leader"))
        self.assertFalse(nemesis.compatible("fail-fsync", "kill-all"))
        self.assertFalse(nemesis.compatible("fail-fsync", "slow-fsync"))
        for name in nemesis.ALL:
            self.assertFalse(nemesis.compatible("churn", name), name)
        self.assertTrue(nemesis.compatible("partition-leader", "pause-leader"))
        self.assertTrue(nemesis.compatible("slow-fsync", "kill-all"))
        self.assertTrue(nemesis.compatible("clock-jump", "loss"))

    def test_against_etcd_no_clock_or_disk_fault_is_scheduled(self):
        for mix in ("everything", "clock", "disk"):
            sched = chaos.schedule(args(mix, target="etcd"), random.Random(3))
            for name, _, _ in sched:
                for part in name.split("+"):
                    self.assertTrue(nemesis.applies_to_etcd(part), f"{mix}: {name}")


if __name__ == "__main__":
    unittest.main()
