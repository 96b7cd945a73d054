#!/usr/bin/python3
"""Partition recovery: a follower of a 3-member cluster partitioned (nft drops both ways,
in the chaos harness's network namespaces) for HOLD seconds under 200 puts/s at the
leader, then healed: how long until it has applied what the leader had committed at the
heal (docs/benchmarks.md, "Partitions"). SERVER=/usr/bin/etcd runs etcd 3.4 instead of
BIN_DIR's raftkv (raftkv-bench drives both).

Usage (root): unshare -m tests/bench/partition_recovery.py BIN_DIR HOLD_S [server flags...]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "chaos", "harness"))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
from topology import Topology  # noqa: E402
from cluster import metric_value  # noqa: E402

BIN, HOLD = sys.argv[1], float(sys.argv[2])
extra = sys.argv[3:]
topo = Topology(f"lp{os.getpid() % 10000}", 3)
procs = []
root = tempfile.mkdtemp(prefix="lanepart-")

def metric(slot, name):
    return metric_value(topo.fetch(f"http://{topo.address(slot)}:2381/metrics"), name)

try:
    topo.setup()
    cluster = ",".join(f"m{s}=http://{topo.address(s)}:2380" for s in (1, 2, 3))
    for s in (1, 2, 3):
        a = topo.address(s)
        binary = os.environ.get("SERVER", os.path.join(BIN, "raftkv"))
        args = [binary, "--name", f"m{s}", "--data-dir", f"{root}/m{s}",
                "--listen-client-urls", f"http://{a}:2379", "--advertise-client-urls", f"http://{a}:2379",
                "--listen-peer-urls", f"http://{a}:2380", "--initial-advertise-peer-urls", f"http://{a}:2380",
                "--listen-metrics-urls", f"http://{a}:2381", "--initial-cluster", cluster,
                "--initial-cluster-state", "new", "--initial-cluster-token", "lp",
                "--heartbeat-interval", "100", "--election-timeout", "1000"] + extra
        procs.append(subprocess.Popen(topo.exec_prefix(s) + args, stdout=open(f"{root}/m{s}.log", "w"),
                                      stderr=subprocess.STDOUT))
    leader = None
    for _ in range(100):
        for s in (1, 2, 3):
            if metric(s, "etcd_server_is_leader") == 1:
                leader = s
        if leader:
            break
        time.sleep(0.1)
    assert leader, "no leader"
    f = [s for s in (1, 2, 3) if s != leader][0]
    others = [s for s in (1, 2, 3) if s != f]
    load = subprocess.Popen(topo.exec_prefix(None) + [os.path.join(BIN, "raftkv-bench"), "--endpoints",
                            f"{topo.address(leader)}:2379", "--workload", "put", "--clients", "4", "--rate", "200",
                            "--duration", str(HOLD + 40), "--no-progress", "-o", "json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    log = []
    topo.block(f, others, log)
    for s in others:
        topo.block(s, [f], log)
    time.sleep(HOLD)
    for s in (1, 2, 3):
        topo.unblock_all(s, log)
    t_heal = time.monotonic()
    target = metric(leader, "etcd_server_proposals_committed_total")
    caught = None
    while time.monotonic() - t_heal < 60:
        a = metric(f, "etcd_server_proposals_applied_total")
        if a is not None and target is not None and a >= target:
            caught = time.monotonic() - t_heal
            break
        time.sleep(0.05)
    print(f"partition {HOLD:.0f} s: follower m{f} applied the leader's commit index at the heal "
          f"({target:.0f}) {'after %.2f s' % caught if caught is not None else 'NOT within 60 s'}")
    load.kill()
    load.wait()
finally:
    for p in procs:
        p.kill()
        p.wait()
    topo.teardown()
    shutil.rmtree(root, ignore_errors=True)
