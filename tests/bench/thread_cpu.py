#!/usr/bin/python3
"""CPU per operation, thread by thread: a 3-member raftkv cluster on loopback (fsync on)
under raftkv-bench load at the leader; each thread's user+system time (/proc/PID/task/TID/
stat) over a window, summed by role (leader, both followers) and thread name, divided by
the operations the window saw (puts: the leader's commit index; reads: the client's count
scaled to the window). Also the WAL fsyncs of each member (entries per fsync). No root
needed; a coarser but cheaper account than `make bench-profile` (perf).

Usage: thread_cpu.py [--bin DIR] [--clients N] [--conns N]
                     [--workload put|range|range-serializable] [--window S]
                     [--raftkv-flag=FLAG ...]
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
from cluster import Cluster  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """{thread name: CPU seconds} and {thread name: context switches} of one process,
    threads of one name summed (switches: voluntary and not, each a sleep or a preemption
    the thread woke from)."""
    out, switches = collections.Counter(), collections.Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches:" in line:
                        switches[name] += int(line.split(":", 1)[1])
        except OSError:  # the thread ended meanwhile
            continue
        out[name] += (int(fields[11]) + int(fields[12])) / HZ
    return out, switches


def metric(member, name):
    value = member.metric(name)
    if value is None:
        raise SystemExit(f"no {name} on {member.endpoint}")
    return value


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--workload", default="put", choices=["put", "range", "range-serializable"])
    p.add_argument("--conns", type=int, default=8, help="client connections (bench_compare: 8)")
    p.add_argument("--window", type=float, default=6.0)
    p.add_argument("--raftkv-flag", action="append", default=[],
                   help="a flag for every member (repeatable), e.g. --raftkv-flag=--no-peer-lanes")
    a = p.parse_args()
    duration = a.window + 6
    with Cluster(3, binary=os.path.join(a.bin, "raftkv"),
                 extra_flags=["--snapshot-count", "100000", *a.raftkv_flag]) as c:
        leader = c.leader()
        role = {m.proc.pid: ("leader" if m is leader else "follower") for m in c.members}
        load = subprocess.Popen(
            [os.path.join(a.bin, "raftkv-bench"), "--endpoints", leader.endpoint, "--workload",
             a.workload, "--clients", str(a.clients), "--conns",
             str(a.conns), "--duration", str(duration), "--warmup", "1",
             "--key-space", "10000", "--value-size", "256", "--no-progress", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            time.sleep(3)  # past the warm-up (and a read workload's preload)
            fsyncs0 = {m.proc.pid: metric(m, "raftkv_wal_fsyncs_total") for m in c.members}
            commit0 = metric(leader, "etcd_server_proposals_committed_total")
            before, t0 = {pid: thread_cpu(pid) for pid in role}, time.monotonic()
            time.sleep(a.window)
            after, t1 = {pid: thread_cpu(pid) for pid in role}, time.monotonic()
            # Taken at once (a few ms apart): the CPU and the switches of the same window.
            commit1 = metric(leader, "etcd_server_proposals_committed_total")
            fsyncs1 = {m.proc.pid: metric(m, "raftkv_wal_fsyncs_total") for m in c.members}
            out, _ = load.communicate(timeout=duration + 60)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
    result = json.loads(out)
    if a.workload == "put":
        ops = commit1 - commit0
    else:  # the client's rate over the window
        ops = result["throughput"] * (t1 - t0)
    print(f"{a.workload}, {a.clients} clients at the leader, 256-byte values: {ops:.0f} "
          f"operations in {t1 - t0:.1f} s ({ops / (t1 - t0):.0f}/s; the client saw "
          f"{result['throughput']:.0f}/s over its run).\n")
    for pid, r in role.items():
        n = fsyncs1[pid] - fsyncs0[pid]
        if n > 0 and a.workload == "put":
            print(f"- {r}: {n:.0f} WAL fsyncs, {ops / n:.1f} entries per fsync")
    print("\n| process | thread | CPU µs per operation | context switches per 1,000 |")
    print("| --- | --- | ---: | ---: |")
    per, sw = collections.Counter(), collections.Counter()
    for pid, r in role.items():
        for name, v in (after[pid][0] - before[pid][0]).items():
            per[(r, name)] += v
        for name, v in (after[pid][1] - before[pid][1]).items():
            sw[(r, name)] += v
    for (r, name), v in per.most_common():
        if v * 1e6 / ops >= 0.05:
            print(f"| {r} | {name} | {v * 1e6 / ops:.1f} | {sw[(r, name)] * 1e3 / ops:.0f} |")
    print(f"| all three | every thread | {sum(per.values()) * 1e6 / ops:.1f} | "
          f"{sum(sw.values()) * 1e3 / ops:.0f} |")


if __name__ == "__main__":
    main()
