#!/usr/bin/python3
"""Where one put goes: a 3-member raftkv cluster on loopback (fsync on) under put load from
raftkv-bench at the leader, seen by the kernel, thread by thread and syscall by syscall.

Two windows of --window seconds each, while the load runs:
1. `perf stat --per-thread` on the three processes: syscalls counted by thread (the
   main ones one by one, the rest together);
2. `perf sched record -a` then `perf sched timehist`: every time a thread ran, how long,
   and how long it waited for a CPU once woken (scheduling delay).
Each figure is divided by the puts committed in its window (the leader's
etcd_server_proposals_committed_total), so the tables read "per put". Threads are
grouped by process role (leader, follower) and thread name (the runtime names its
threads: raftkv-core, raftkv-storage, raftkv-apply, raftkv-send, raftkv-timer; gRPC
names its own). Root only (perf). Prints markdown; docs/benchmarks.md keeps one.

Usage: put_profile.py [--bin DIR] [--clients N] [--window S]
"""
import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import Cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def committed(member):
    """The leader's etcd_server_proposals_committed_total."""
    with urllib.request.urlopen(member.metrics_url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("etcd_server_proposals_committed_total"):
                return float(line.split()[-1])
    raise SystemExit("no etcd_server_proposals_committed_total on the leader")


def thread_roles(pids, roles):
    """tid -> (role, thread name) for every thread of the given processes now."""
    out = {}
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    out[int(tid)] = (roles[pid], f.read().strip())
            except OSError:
                pass  # it ended meanwhile
    return out


def group(name):
    """gRPC numbers some of its threads; fold those into one row."""
    return re.sub(r"[-_]?\d+$", "", name)


# The syscalls counted one by one; the rest appear as "other".
SYSCALLS = ["futex", "epoll_wait", "recvmsg", "sendmsg", "read", "write", "pwrite64",
            "fdatasync"]


def syscalls(pids, roles, window):
    """{(role, thread): {syscall: calls}} and the puts of the window. Counted by perf stat
    per thread (tracepoint counters: nothing is lost, unlike perf trace under load)."""
    events = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{n}" for n in SYSCALLS]
    cmd = ["perf", "stat", "--per-thread", "-x", ",", "-e", ",".join(events), "-p",
           ",".join(str(p) for p in pids), "--", "sleep", str(window)]
    start = committed(roles["leader_member"])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=window + 60)
    puts = committed(roles["leader_member"]) - start
    tids = thread_roles(pids, roles)
    table = collections.defaultdict(collections.Counter)
    for line in out.stderr.splitlines():
        fields = line.split(",")
        if len(fields) < 4 or not fields[1].strip().isdigit():
            continue
        name, _, tid = fields[0].rpartition("-")
        if not tid.isdigit():
            continue
        role, name = tids.get(int(tid), ("?", name))
        event = fields[3].split(":")[-1].replace("sys_enter_", "")
        table[(role, group(name))]["all" if event == "sys_enter" else event] += int(fields[1])
    for counts in table.values():
        counts["other"] = counts["all"] - sum(counts[n] for n in SYSCALLS)
    return table, puts


def scheduling(pids, roles, window):
    """{(role, thread): [runs, run ms, sched delay ms]} and the puts of the window."""
    tmp = tempfile.mkdtemp(prefix="raftkv-sched-")
    data = os.path.join(tmp, "perf.data")
    start = committed(roles["leader_member"])
    subprocess.run(["perf", "sched", "record", "-a", "-o", data, "--", "sleep", str(window)],
                   check=True, capture_output=True, timeout=window + 60)
    puts = committed(roles["leader_member"]) - start
    tids = thread_roles(pids, roles)
    hist = subprocess.run(["perf", "sched", "timehist", "-i", data], check=True,
                          capture_output=True, text=True, timeout=300).stdout
    shutil.rmtree(tmp, ignore_errors=True)
    table = collections.defaultdict(lambda: [0, 0.0, 0.0])
    other = [0, 0.0, 0.0]
    for line in hist.splitlines():
        m = re.match(r"^\s*[\d.]+\s+\[\d+\]\s+(.+?)\[(\d+)(?:/(\d+))?\]\s+([\d.]+)\s+([\d.]+)\s+"
                     r"([\d.]+)", line)
        if not m:
            continue
        tid = int(m.group(2))
        row = table[(tids[tid][0], group(tids[tid][1]))] if tid in tids else other
        row[0] += 1
        row[1] += float(m.group(6))
        row[2] += float(m.group(5))
    return table, other, puts


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--window", type=float, default=3.0)
    a = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("put_profile.py needs root (perf trace, perf sched)")
    bench = os.path.join(a.bin, "raftkv-bench")
    with Cluster(3, binary=os.path.join(a.bin, "raftkv"),
                 extra_flags=["--snapshot-count", "100000"]) as c:
        leader = c.leader()
        roles = {m.proc.pid: ("leader" if m is leader else "follower") for m in c.members}
        roles["leader_member"] = leader
        pids = [m.proc.pid for m in c.members]
        conns = max(1, min(16, a.clients // 16))
        load = subprocess.Popen(
            [bench, "--endpoints", leader.endpoint, "--workload", "put", "--clients",
             str(a.clients), "--conns", str(conns), "--duration", str(4 * a.window + 30),
             "--warmup", "1", "--key-space", "10000", "--value-size", "256", "--no-progress",
             "-o", "json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)  # past the warm-up
            calls, trace_puts = syscalls(pids, roles, a.window)
            sched, other, sched_puts = scheduling(pids, roles, a.window)
        finally:
            load.kill()
            load.wait()
    print(f"put, {a.clients} client(s), 256-byte values, 3 members on 127.0.0.1, fsync on; "
          f"{trace_puts:.0f} puts in the syscall window, {sched_puts:.0f} in "
          f"the scheduling window ({sched_puts / a.window:.0f} puts/s).\n")
    print("**Syscalls per put**, by thread (calls of each syscall, divided by the puts; "
          "\"follower\" is both followers together):\n")
    print("| process | thread | syscalls per put | of which |")
    print("| --- | --- | ---: | --- |")
    for key in sorted(calls, key=lambda k: -calls[k]["all"]):
        total = calls[key]["all"] / max(trace_puts, 1)
        if total < 0.05:
            continue
        parts = [(n, v) for n, v in calls[key].most_common() if n != "all" and v > 0]
        top = ", ".join(f"{n} {v / max(trace_puts, 1):.2f}" for n, v in parts[:5])
        print(f"| {key[0]} | {key[1]} | {total:.2f} | {top} |")
    print("\n**Scheduling per put**, by thread (times it ran, CPU time, and time spent woken "
          "but waiting for a CPU; \"follower\" is both followers together):\n")
    print("| process | thread | runs per put | CPU µs per put | wait for CPU µs per put |")
    print("| --- | --- | ---: | ---: | ---: |")
    n = max(sched_puts, 1)
    rows = sorted(sched.items(), key=lambda kv: -kv[1][1])
    for (role, name), (runs, run_ms, delay_ms) in rows:
        if runs / n < 0.05:
            continue
        print(f"| {role} | {name} | {runs / n:.2f} | {run_ms * 1000 / n:.1f} | "
              f"{delay_ms * 1000 / n:.1f} |")
    total_runs = sum(v[0] for v in sched.values())
    total_cpu = sum(v[1] for v in sched.values())
    print(f"| all three | every thread | {total_runs / n:.2f} | {total_cpu * 1000 / n:.1f} | |")
    print(f"| rest of the machine | (load generator, kernel, perf) | {other[0] / n:.2f} | "
          f"{other[1] * 1000 / n:.1f} | |")


if __name__ == "__main__":
    main()
