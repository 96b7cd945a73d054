#!/usr/bin/python3
"""Restarts on real processes, raftkv and etcd 3.4 in the same run (issue 19), 3 members on
127.0.0.1 with etcd's default timing (heartbeat 100 ms, election timeout 1,000 ms):

  restart   a follower SIGKILLed (after 50 puts of 256 bytes) and started again: the time
            until its client port accepts a connection, until it answers a serializable
            get, and until a put through it commits.
  stall     a follower restarted; as soon as it answers, the leader is stopped (SIGSTOP)
            for 8 s: the time from the stop until the two others commit a put (etcdctl,
            1 s per try, so the figures move in steps of about a second). Before issue 19's
            fix most trials of raftkv committed nothing until the leader came back.

Usage: restart_latency.py [--trials N] [--bin DIR] [--no-etcd]
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import Cluster, wait_until  # noqa: E402


def etcdctl_ok(endpoints, args, timeout_s=1):
    env = dict(os.environ, ETCDCTL_API="3")
    p = subprocess.run(["etcdctl", "--endpoints=" + endpoints, f"--command-timeout={timeout_s}s"] +
                       args, capture_output=True, text=True, env=env, timeout=10)
    return p.returncode == 0


def until(pred, t0, limit_s=30):
    """Seconds from t0 until pred() holds (None after limit_s)."""
    for _ in range(100000):
        if pred():
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit_s:
            return None
        time.sleep(0.005)
    return None


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
        return True
    except OSError:
        return False


def restart_trial(c, i):
    leader = c.leader()
    f = [m for m in c.members if m is not leader][i % 2]
    for j in range(50):
        etcdctl_ok(leader.endpoint, ["put", f"k{i}-{j}", "x" * 256], 5)
    c.kill(f)
    t0 = time.monotonic()
    c.restart(f)
    port = until(lambda: port_open(f.client_port), t0)
    get = until(lambda: etcdctl_ok(f.endpoint, ["get", "k0-0", "--consistency=s"]), t0)
    put = until(lambda: etcdctl_ok(f.endpoint, ["put", f"p{i}", "v"]), t0)
    wait_until(lambda: c.leader() is not None, 20, 0.1, "a leader")
    return port, get, put


def stall_trial(c, i):
    leader = c.leader()
    f, other = [m for m in c.members if m is not leader]
    c.kill(f)
    c.restart(f)
    wait_until(lambda: c.status(f) is not None, 20, 0.05, "the restarted member to answer")
    os.kill(leader.proc.pid, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        two = c.endpoints([f, other])
        took = until(lambda: etcdctl_ok(two, ["put", f"s{i}", "v"]), t0, limit_s=8)
    finally:
        os.kill(leader.proc.pid, signal.SIGCONT)
    wait_until(lambda: c.leader() is not None, 30, 0.1, "a leader")
    return took


def line(name, values):
    got = [v * 1000 for v in values if v is not None]
    stalled = len(values) - len(got)
    if not got:
        return f"| {name} | {len(values)} | - | - | - | {stalled} |"
    return (f"| {name} | {len(values)} | {min(got):,.0f} ms | {statistics.median(got):,.0f} ms | "
            f"{max(got):,.0f} ms | {stalled} |")


def run(binary, label, trials):
    rows = []
    with Cluster(3, binary=binary, heartbeat_ms=100, election_ms=1000) as c:
        r = [restart_trial(c, i) for i in range(trials)]
        rows.append(line(f"{label}: restart to client port open", [x[0] for x in r]))
        rows.append(line(f"{label}: restart to serializable get", [x[1] for x in r]))
        rows.append(line(f"{label}: restart to put committed", [x[2] for x in r]))
        rows.append(line(f"{label}: leader stopped after a restart, to put committed",
                         [stall_trial(c, i) for i in range(trials)]))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "..", "build",
                                                 "bin"))
    p.add_argument("--no-etcd", action="store_true")
    a = p.parse_args()
    rows = run(os.path.join(a.bin, "raftkv"), "raftkv", a.trials)
    if not a.no_etcd and shutil.which("etcd"):
        rows += run(shutil.which("etcd"), "etcd", a.trials)
    print("| measure | trials | min | median | max | no commit within 8 s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
