#!/usr/bin/python3
"""raftkv-bench: usage errors exit 2 with the message on stderr (--help exits 0), and short
runs against a one-node raftkv cluster print the table and the JSON that
tests/bench/bench_compare.py and the README rely on."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, wait_until  # noqa: E402

BENCH = os.path.join(os.path.dirname(os.environ.get("RAFTKV_SERVER") or
                                     os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "..", "build", "bin", "raftkv")),
                     "raftkv-bench")


def bench(*args):
    p = subprocess.run([BENCH, "--no-progress", *args], capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


class UsageTest(unittest.TestCase):
    """No server: every one of these stops before connecting."""

    def test_every_usage_error_exits_2_with_the_message_on_stderr(self):
        for args, message in [
                (["--bogus"], "--bogus"),                                   # unknown flag
                (["bogus"], "not expected: bogus"),                         # extra argument
                (["--clients"], "--clients"),                               # missing value
                (["--clients", "0"], "--clients: Value 0 not in range"),    # bad value
                (["--workload", "scan"], "scan not in {put,range,range-serializable,txn,mix}"),
                (["-o", "xml"], "xml not in {table,json}"),
                (["--workload", "mix", "--mix", "put=1,scan=2"], '"scan=2" is not op=weight'),
                (["--workload", "mix", "--mix", "put=0"], "must be a positive integer"),
                (["--endpoints", ","], "--endpoints names no endpoint")]:
            code, out, err = bench(*args)
            self.assertEqual((code, out), (2, ""), args)
            self.assertIn(message, err, args)

    def test_help_exits_0(self):
        code, out, _ = bench("--help")
        self.assertEqual(code, 0)
        self.assertIn("--workload", out)


class RunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def run_bench(self, *args):
        code, out, err = bench("--endpoints", self.cluster.endpoints(), "--duration", "0.5",
                               "--warmup", "0.1", "--key-space", "50", "--clients", "2",
                               "--conns", "1", *args)
        self.assertEqual(code, 0, err)
        return out

    def test_table(self):
        lines = self.run_bench("--workload", "put").splitlines()
        self.assertEqual(lines[0],
                         "workload put: 2 clients over 1 connections, closed loop, 0.5 s measured")
        self.assertRegex(lines[1], r"^  \d+ ok, 0 errors: [\d.]+ ops/s$")
        self.assertRegex(lines[2], r"^  latency ms: p50 [\d.]+  p90 [\d.]+  p99 [\d.]+  "
                                   r"p99\.9 [\d.]+  max [\d.]+$")
        self.assertEqual(len(lines), 3)

    def test_json_of_each_workload(self):
        for workload in ["put", "range", "range-serializable", "txn"]:
            r = json.loads(self.run_bench("--workload", workload, "-o", "json"))
            self.assertEqual(r["workload"], workload)
            self.assertGreater(r["ops"], 0, workload)
            self.assertEqual((r["errors"], r["error_codes"]), (0, {}), workload)
            self.assertEqual(set(r), {"workload", "clients", "conns", "rate", "seconds", "ops",
                                      "errors", "throughput", "latency_ms", "error_codes"})
            self.assertEqual(set(r["latency_ms"]), {"p50", "p90", "p99", "p999", "max"})

    def test_a_mix_at_a_fixed_rate_by_count(self):
        out = self.run_bench("--workload", "mix", "--mix", "put=1,range=3", "--rate", "200",
                             "--total", "40")
        self.assertTrue(out.startswith("workload mix(put=1,range=3): 2 clients over 1 "
                                       "connections, open loop at 200 ops/s, "), out)
        ok = re.search(r"^  (\d+) ok, 0 errors", out, re.M)
        self.assertTrue(ok, out)
        self.assertGreaterEqual(int(ok.group(1)), 40)  # clients may pass the count together


class UnreachableAtFirstTest(unittest.TestCase):
    def test_the_preload_waits_for_a_member_that_comes_up(self):
        # A member down when the preload starts: its puts wait for the connection (bounded
        # by --timeout) instead of failing every put at once (as five retries with no
        # pause did: one failed connect failed the whole preload).
        with Cluster(1) as c:
            m = c.members[0]
            c.kill(m)
            p = subprocess.Popen([BENCH, "--no-progress", "--endpoints", m.endpoint,
                                  "--workload", "range", "--duration", "0.3", "--warmup", "0",
                                  "--key-space", "20", "--clients", "4", "--conns", "1",
                                  "--timeout", "20000", "-o", "json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                # Its four loaders run (each one's first put is under way) before the
                # member is back.
                wait_until(lambda: p.poll() is not None or
                           len(os.listdir(f"/proc/{p.pid}/task")) >= 5, 20, 0.01,
                           "raftkv-bench's preload threads")
                c.restart(m)
                out, err = p.communicate(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            self.assertEqual(p.returncode, 0, err)
            r = json.loads(out)
            self.assertGreater(r["ops"], 0)
            self.assertEqual(r["errors"], 0)


if __name__ == "__main__":
    unittest.main()
