#!/usr/bin/python3
"""A peer connection into a partition closes while the partition holds, and the cut-off
follower catches up once it heals: a peer lane gives up on a peer that acknowledges
nothing (TCP_USER_TIMEOUT), and with --no-peer-lanes the gRPC stream does (keepalive).
Before, neither noticed: after a 20 s partition the follower caught up only when TCP's
retransmission backoff next fired, 7 s after the heal (15 s after a 40 s partition;
docs/benchmarks.md, "Partitions"). Real processes in the chaos harness's network
namespaces, nft drops both ways. Runs in the harness's private namespace (exit 77 where it
cannot: no root and no user namespaces)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "cluster"))
import topology  # noqa: E402
from cluster import metric_value  # noqa: E402

BIN = os.environ.get("RAFTKV_CHAOS_BIN",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                  "build", "bin"))


def wait_for(what, pred, timeout, step=0.1):
    """Polls pred() until it holds; bounded in time (and so in count)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class PartitionTest(unittest.TestCase):
    def setUp(self):
        self.topo = topology.Topology(os.urandom(3).hex(), 3)
        self.topo.setup()
        self.dir = tempfile.mkdtemp(prefix="rkv-partition-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:  # by PID, everything this test started
            p.kill()
            p.wait()
        self.topo.teardown()
        shutil.rmtree(self.dir, ignore_errors=True)

    def metric(self, slot, name):
        """A series without labels on member `slot`'s /metrics, read from the clients'
        namespace, or None."""
        return metric_value(self.topo.fetch(f"http://{self.topo.address(slot)}:2381/metrics"),
                            name)

    def log_lines(self, slot, msg):
        """The JSON lines of member `slot`'s log whose msg is `msg`."""
        out = []
        with open(os.path.join(self.dir, f"m{slot}.log")) as f:
            for line in f:
                if f'"msg":"{msg}"' in line:
                    out.append(json.loads(line))
        return out

    def partition_and_heal(self, flags, closed_msg):
        t = self.topo
        cluster = ",".join(f"m{s}=http://{t.address(s)}:2380" for s in (1, 2, 3))
        for s in (1, 2, 3):
            a = t.address(s)
            args = [os.path.join(BIN, "raftkv"), "--name", f"m{s}",
                    "--data-dir", os.path.join(self.dir, f"m{s}"),
                    "--listen-client-urls", f"http://{a}:2379",
                    "--advertise-client-urls", f"http://{a}:2379",
                    "--listen-peer-urls", f"http://{a}:2380",
                    "--initial-advertise-peer-urls", f"http://{a}:2380",
                    "--listen-metrics-urls", f"http://{a}:2381", "--initial-cluster", cluster,
                    "--initial-cluster-state", "new", "--initial-cluster-token", "partition",
                    "--heartbeat-interval", "100", "--election-timeout", "1000"] + flags
            log = open(os.path.join(self.dir, f"m{s}.log"), "w")
            self.procs.append(subprocess.Popen(t.exec_prefix(s) + args, stdout=log,
                                               stderr=subprocess.STDOUT))
            log.close()
        leader = wait_for("a leader", lambda: next(
            (s for s in (1, 2, 3) if self.metric(s, "etcd_server_is_leader") == 1), None), 30)
        follower = next(s for s in (1, 2, 3) if s != leader)
        others = [s for s in (1, 2, 3) if s != follower]
        # Writes all along, so the leader always has data in flight to the follower.
        self.procs.append(subprocess.Popen(
            t.exec_prefix(None) + [os.path.join(BIN, "raftkv-bench"), "--endpoints",
                                   f"{t.address(leader)}:2379", "--workload", "put",
                                   "--clients", "2", "--rate", "100", "--duration", "120",
                                   "--no-progress", "-o", "json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for("writes", lambda: (self.metric(follower, "raftkv_raft_applied_index") or 0) > 50,
                 30)
        before = len(self.log_lines(leader, closed_msg))
        cmds = []
        t.block(follower, others, cmds)
        for s in others:
            t.block(s, [follower], cmds)
        # The leader's connection to the follower closes while the partition holds (about
        # 5-7 s: the lanes' user timeout, the streams' keepalive). Before, it stayed open.
        wait_for(f"'{closed_msg}' on the leader", lambda: len(self.log_lines(
            leader, closed_msg)) > before, 25)
        for s in (1, 2, 3):
            t.unblock_all(s, cmds)
        target = self.metric(leader, "raftkv_raft_commit_index")
        self.assertIsNotNone(target)
        # Caught up: a liveness bound, generous (the fix makes it about a second).
        wait_for("the follower to catch up", lambda: (
            self.metric(follower, "raftkv_raft_applied_index") or 0) >= target, 30, step=0.05)

    def test_a_lane_into_a_partition_closes_and_the_follower_catches_up(self):
        self.partition_and_heal([], "peer lane closed")

    def test_a_stream_into_a_partition_closes_and_the_follower_catches_up(self):
        self.partition_and_heal(["--no-peer-lanes"], "lost connection to peer")


def main():
    if topology.private_namespace_ready():
        unittest.main()
    return topology.enter_or_skip(__file__, sys.argv[1:], "partition_test")


if __name__ == "__main__":
    sys.exit(main())
