#!/usr/bin/python3
"""Election latency on real processes: a 3-node cluster under light load (a put every
20 ms); the leader is SIGKILLed and the time until a surviving node acknowledges a write
(so a new leader has been elected and has committed) is measured; then it is restarted
and the next trial begins. The same for a planned leadership transfer (raftkvctl leader
transfer, which returns once the target leads, then a write). Then the SIGKILL trials
against etcd 3.4 (/usr/bin/etcd) with the same timing, in the same run. Prints min,
median, p90 and max over the trials.

Usage: election_latency.py [--trials N] [--heartbeat MS] [--election MS] [--bin DIR]
                           [--no-etcd] [--raftkv-flag=FLAG ...]
"""
import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import ETCD, Cluster  # noqa: E402

import etcd3  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def first_write(members, deadline_s=30):
    """Seconds until one of `members` acknowledges a put; tries them in turn."""
    start = time.monotonic()
    clients = [etcd3.client(host="127.0.0.1", port=m.client_port, timeout=0.25) for m in members]
    i = 0
    while time.monotonic() - start < deadline_s:
        try:
            clients[i % len(clients)].put("election/probe", "x")
            return time.monotonic() - start
        except Exception:  # noqa: BLE001  no leader yet
            i += 1
    raise AssertionError("no write succeeded within 30 s")


def summary(name, xs):
    xs = sorted(x * 1000 for x in xs)
    p90 = xs[min(len(xs) - 1, int(round(0.9 * len(xs))) - 1)]
    return (f"| {name} | {len(xs)} | {xs[0]:.0f} | {statistics.median(xs):.0f} | {p90:.0f} | "
            f"{xs[-1]:.0f} |")


def light_load(c, stop):
    n = 0
    while not stop.is_set() and n < 10_000_000:
        n += 1
        live = c.live()
        if live:
            try:
                etcd3.client(host="127.0.0.1", port=live[n % len(live)].client_port,
                             timeout=0.5).put("election/load", str(n))
            except Exception:  # noqa: BLE001
                pass
        time.sleep(0.02)


@contextlib.contextmanager
def under_light_load(c):
    """A put every 20 ms to the cluster's live members while the block runs."""
    stop = threading.Event()
    load = threading.Thread(target=light_load, args=(c, stop), daemon=True)
    load.start()
    try:
        yield
    finally:
        stop.set()
        load.join(timeout=10)


def kill_trials(c, trials, election_ms, name):
    """SIGKILLs the leader `trials` times; the seconds to the next acknowledged write."""
    kills = []
    for t in range(trials):
        leader = c.leader()
        survivors = [m for m in c.members if m is not leader]
        os.kill(leader.proc.pid, signal.SIGKILL)
        took = first_write(survivors)
        leader.proc.wait(timeout=10)
        leader.proc = None
        kills.append(took)
        print(f"{name} kill {t + 1}/{trials}: {took * 1000:.0f} ms", file=sys.stderr)
        c.restart(leader)
        c.wait_ready(c.members)
        time.sleep(election_ms / 1000)  # let the restarted node settle
    return kills


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--heartbeat", type=int, default=100)
    p.add_argument("--election", type=int, default=1000)
    p.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    p.add_argument("--no-etcd", action="store_true")
    p.add_argument("--raftkv-flag", action="append", default=[],
                   help="a flag for every raftkv member (A/B runs), e.g. --no-peer-lanes")
    a = p.parse_args()
    server = os.path.join(a.bin, "raftkv")
    ctl = os.path.join(a.bin, "raftkvctl")
    transfers, etcd_kills = [], []
    with Cluster(3, binary=server, heartbeat_ms=a.heartbeat, election_ms=a.election,
                 extra_flags=a.raftkv_flag) as c, \
            under_light_load(c):
        kills = kill_trials(c, a.trials, a.election, "raftkv")
        for t in range(a.trials):
            leader = c.leader()
            target = next(m for m in c.members if m is not leader)
            tid = format(c.member_id(target), "x")
            start = time.monotonic()
            out = subprocess.run([ctl, "--endpoints", c.endpoints(), "leader", "transfer",
                                  tid], capture_output=True, text=True, timeout=30)
            if out.returncode != 0:
                raise SystemExit(f"transfer failed: {out.stderr}")
            first_write([target])
            transfers.append(time.monotonic() - start)
            print(f"transfer {t + 1}/{a.trials}: {transfers[-1] * 1000:.0f} ms",
                  file=sys.stderr)
        # What starting raftkvctl costs by itself, to read the transfer figures.
        start = time.monotonic()
        subprocess.run([ctl, "--endpoints", c.endpoints(), "timeouts", "get"],
                       capture_output=True, timeout=30)
        spawn = time.monotonic() - start
    if not a.no_etcd and os.path.exists(ETCD):
        with Cluster(3, binary=ETCD, heartbeat_ms=a.heartbeat, election_ms=a.election) as c, \
                under_light_load(c):
            etcd_kills = kill_trials(c, a.trials, a.election, "etcd")
    print(f"Heartbeat {a.heartbeat} ms, election timeout [{a.election}, {2 * a.election}] ms, "
          f"3 nodes on 127.0.0.1, a put every 20 ms. Times in ms until a write is "
          f"acknowledged by the new leader's cluster.\n")
    print("| event | trials | min | median | p90 | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(summary("raftkv: leader SIGKILLed", kills))
    if etcd_kills:
        print(summary("etcd 3.4: leader SIGKILLed", etcd_kills))
    print(summary("raftkv: planned transfer (raftkvctl leader transfer, then a write)",
                  transfers))
    print(f"\n(Starting raftkvctl and one admin call take {spawn * 1000:.0f} ms of the "
          f"transfer figures.)")


if __name__ == "__main__":
    main()
