#!/usr/bin/python3
"""raftkv-goload: a bad flag exits 2 with the message on stderr before connecting, and a
1 s run against a one-member raftkv prints the JSON fields bench_compare.py reads, with
requests that succeeded."""
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "cluster"))
from cluster import Cluster  # noqa: E402

GOLOAD = os.environ.get("RAFTKV_GOLOAD") or os.path.join(HERE, "..", "..", "..", "build", "bin",
                                                         "raftkv-goload")


def goload(*args):
    p = subprocess.run([GOLOAD, *args], capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


class UsageTest(unittest.TestCase):
    def test_every_usage_error_exits_2_with_the_message_on_stderr(self):
        for args, message in [
                (["--bogus"], "flag provided but not defined: -bogus"),
                (["bogus"], 'unexpected argument "bogus"'),
                (["--clients", "0"], "--clients 0 is out of range [1, 4096]"),
                (["--workload", "scan"], '--workload "scan" is not one of'),
                (["--duration", "0"], "--duration 0 is out of range"),
                (["--endpoints", ","], "--endpoints names no endpoint"),
                (["--cert", "c.pem"], "--cert and --key go together"),
                (["--user", "bench"], "--user bench needs a password")]:
            code, out, err = goload(*args)
            self.assertEqual((code, out), (2, ""), args)
            self.assertIn(message, err, args)

    def test_help_exits_0(self):
        code, _, err = goload("--help")
        self.assertEqual(code, 0)
        self.assertIn("-workload", err)


class RunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(1).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def test_json_of_put_and_range(self):
        for workload in ["put", "range"]:
            code, out, err = goload("--endpoints", self.cluster.endpoints(), "--workload",
                                    workload, "--duration", "1", "--warmup", "0.1",
                                    "--key-space", "50", "--clients", "4", "--conns", "2")
            self.assertEqual(code, 0, err)
            r = json.loads(out)
            self.assertEqual(r["workload"], workload)
            self.assertGreater(r["ops"], 0, workload)
            self.assertEqual(r["errors"], 0, r["error_codes"])
            self.assertGreater(r["throughput"], 0)
            for p in ["p50", "p90", "p99", "p999", "max"]:
                self.assertGreater(r["latency_ms"][p], 0, p)
            self.assertLessEqual(r["latency_ms"]["p50"], r["latency_ms"]["p99"])

    def test_nothing_succeeded_exits_1(self):
        # Port 1, where nobody listens: every request fails.
        code, out, err = goload("--endpoints", "127.0.0.1:1", "--duration", "0.3",
                                "--warmup", "0", "--timeout", "200", "--clients", "1",
                                "--conns", "1")
        self.assertEqual(code, 1, err)
        self.assertIn("nothing succeeded", err)
        self.assertEqual(json.loads(out)["ops"], 0)


if __name__ == "__main__":
    unittest.main()
