#!/usr/bin/python3
"""Fairness (issue 14): does a greedy client hurt a light one? A 3-member raftkv cluster
on loopback started with --limits-trust-client-id and a per-client request rate limit
(--limits-requests-per-second R --limits-burst B, default 100 and 100), then the same
cluster without any limits, then (for comparison, no limits there) etcd 3.4.

In each run, with raftkv-bench (put, --value-size bytes, --key-space keys):
  idle:      the light client alone: --client-id light --clients 1 --rate 20, its p99;
  contended: the light client again, beside a greedy one (--client-id greedy) running at
             the same time and through all of the light one's measured window, in two
             modes: open loop at --greedy-rate (default 1000/s, 50x the light one) with
             --greedy-clients (default 32), and closed loop ("as fast as it can") with
             --greedy-closed-clients (default 64).
Both servers use etcd's default --heartbeat-interval 100 --election-timeout 1000.
The light client uses one connection (the first endpoint); the greedy one spreads its
connections over the 3 endpoints. A limit is enforced by each member on what clients
send to it, so a greedy client that uses all 3 members may get up to 3 x R in all.

Usage: fairness.py [--runs limits,nolimits,etcd] [--only raftkv|etcd] [--duration 30]
                   [--rate-limit 100] [--burst 100] [--light-rate 20] [--greedy-rate 1000]
                   [--greedy-clients 32] [--greedy-closed-clients 64] [--value-size 256]
                   [--timeout 5000] [--json FILE] [--bin DIR] [--etcd PATH]
Smoke run: fairness.py --duration 5
Prints a markdown table.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import Cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def parse(name, out, err, code):
    try:
        r = json.loads(out)
    except ValueError:
        raise SystemExit(f"raftkv-bench ({name}) printed no JSON (exit {code}): "
                         f"{err.strip()[-2000:]}")
    r["exit"] = code
    return r


def bench_cmd(a, cluster, client_id, clients, conns, duration, rate, endpoints=None):
    cmd = [os.path.join(a.bin, "raftkv-bench"), "--endpoints", endpoints or cluster.endpoints(),
           "--workload", "put", "--client-id", client_id, "--clients", str(clients),
           "--conns", str(conns), "--duration", str(duration), "--warmup", "1",
           "--key-space", str(a.key_space), "--value-size", str(a.value_size),
           "--timeout", str(a.timeout), "--no-progress", "-o", "json"]
    if rate:
        cmd += ["--rate", str(rate)]
    return cmd


def light(a, cluster):
    cmd = bench_cmd(a, cluster, "light", 1, 1, a.duration, a.light_rate,
                    endpoints=cluster.members[0].endpoint)
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=a.duration + a.timeout / 1000 + 120)
    return parse("light", p.stdout, p.stderr, p.returncode)


def contended(a, cluster, greedy_clients, greedy_rate):
    """The greedy client starts 1 s before the light one and is measured 2 s longer, so
    its measured window covers the light one's."""
    conns = max(3, min(16, greedy_clients // 4))
    cmd = bench_cmd(a, cluster, "greedy", greedy_clients, conns, a.duration + 2, greedy_rate)
    cmd += a.greedy_flag
    greedy = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        time.sleep(1)
        if greedy.poll() is not None:
            out, err = greedy.communicate(timeout=30)
            raise SystemExit(f"the greedy raftkv-bench exited early ({greedy.returncode}): "
                             f"{err.strip()[-2000:]} {out.strip()[-500:]}")
        lr = light(a, cluster)
        out, err = greedy.communicate(timeout=a.duration + a.timeout / 1000 + 120)
        return lr, parse("greedy", out, err, greedy.returncode)
    finally:
        if greedy.poll() is None:
            greedy.kill()
            greedy.wait(timeout=30)


def refusals(r):
    return sum(n for k, n in r["error_codes"].items() if k.startswith("RESOURCE_EXHAUSTED"))


def one_run(name, binary, flags, a):
    print(f"{name}: starting 3 members {' '.join(flags)}", file=sys.stderr)
    rows = []
    with Cluster(3, binary=binary, extra_flags=flags, heartbeat_ms=100,
                 election_ms=1000) as c:
        idle = light(a, c)
        print(f"  {name} idle: light p99 {idle['latency_ms']['p99']:.2f} ms, "
              f"{idle['errors']} errors", file=sys.stderr)
        for mode, clients, rate in [
                (f"open loop {a.greedy_rate:g}/s, {a.greedy_clients} clients",
                 a.greedy_clients, a.greedy_rate),
                (f"closed loop, {a.greedy_closed_clients} clients", a.greedy_closed_clients, 0)]:
            lr, gr = contended(a, c, clients, rate)
            print(f"  {name} {mode}: light p99 {lr['latency_ms']['p99']:.2f} ms "
                  f"({lr['errors']} errors), greedy {gr['throughput']:.0f} ok ops/s, "
                  f"errors {gr['error_codes']}", file=sys.stderr)
            rows.append({"run": name, "mode": mode, "idle": idle, "light": lr, "greedy": gr})
    return rows


def short(codes, width=100):
    items = sorted(codes.items(), key=lambda x: -x[1])[:2]
    return "; ".join(f"{n} x {k[:width]}" for k, n in items) or "none"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    p.add_argument("--etcd", default="/usr/bin/etcd")
    p.add_argument("--runs", default="limits,nolimits,etcd",
                   help="comma-separated: limits (raftkv with limits), nolimits (raftkv "
                        "without), etcd")
    p.add_argument("--only", choices=["raftkv", "etcd"],
                   help="raftkv: --runs limits,nolimits; etcd: --runs etcd")
    p.add_argument("--duration", type=float, default=30, help="the light client's seconds")
    p.add_argument("--rate-limit", type=float, default=100, help="--limits-requests-per-second")
    p.add_argument("--burst", type=float, default=100, help="--limits-burst")
    p.add_argument("--light-rate", type=float, default=20)
    p.add_argument("--greedy-rate", type=float, default=1000)
    p.add_argument("--greedy-clients", type=int, default=32)
    p.add_argument("--greedy-closed-clients", type=int, default=64)
    p.add_argument("--greedy-flag", action="append", default=[],
                   help="an extra raftkv-bench flag for the greedy client, e.g. "
                        "--greedy-flag=--honor-retry-after")
    p.add_argument("--value-size", type=int, default=256)
    p.add_argument("--key-space", type=int, default=10000)
    p.add_argument("--timeout", type=int, default=5000, help="per request, ms")
    p.add_argument("--raftkv-flag", action="append", default=[],
                   help="an extra raftkv flag for both raftkv runs (repeatable)")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args()
    runs = a.runs.split(",")
    if a.only:
        runs = ["limits", "nolimits"] if a.only == "raftkv" else ["etcd"]
    raftkv = os.path.join(a.bin, "raftkv")
    limits = ["--limits-trust-client-id", "--limits-requests-per-second", f"{a.rate_limit:g}",
              "--limits-burst", f"{a.burst:g}"]
    configs = {"limits": ("raftkv, limits on", raftkv, limits + a.raftkv_flag),
               "nolimits": ("raftkv, no limits", raftkv, a.raftkv_flag),
               "etcd": ("etcd 3.4 (no limits)", a.etcd, [])}
    rows = []
    for run in runs:
        if run not in configs:
            raise SystemExit(f"unknown run {run!r}: limits, nolimits or etcd")
        rows += one_run(*configs[run], a)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)

    print(f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Linux {platform.release()}. 3 members each on 127.0.0.1; puts of "
          f"{a.value_size}-byte values over {a.key_space} keys, --timeout {a.timeout} ms. "
          f"Light: --client-id light, 1 client on the first member, open loop "
          f"{a.light_rate:g}/s for {a.duration:g} s after 1 s warm-up. Greedy: --client-id "
          f"greedy over all 3 members, measured over {a.duration + 2:g} s covering the "
          f"light one's window. Limits on: --limits-trust-client-id "
          f"--limits-requests-per-second {a.rate_limit:g} --limits-burst {a.burst:g} "
          f"(each member's, so up to {3 * a.rate_limit:g}/s over 3 members)"
          f"{'; greedy raftkv-bench ' + ' '.join(a.greedy_flag) if a.greedy_flag else ''}.\n")
    print("| run | greedy mode | light p99 idle ms | light p99 contended ms | ratio | "
          "light errors | greedy ok ops/s | greedy refusals (RESOURCE_EXHAUSTED) /s | "
          "greedy other errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        idle, lr, gr = r["idle"]["latency_ms"]["p99"], r["light"]["latency_ms"]["p99"], r["greedy"]
        refused = refusals(gr)
        other = {k: n for k, n in gr["error_codes"].items()
                 if not k.startswith("RESOURCE_EXHAUSTED")}
        print(f"| {r['run']} | {r['mode']} | {idle:.2f} | {lr:.2f} | "
              f"{lr / idle if idle else 0:.1f} | {r['light']['errors']} | "
              f"{gr['throughput']:.0f} | {refused / gr['seconds']:.0f} ({refused}) | "
              f"{short(other)} |")
    for r in rows:
        for who in ("idle", "light"):
            if r[who]["errors"]:
                print(f"\n{r['run']}, {r['mode']}: light ({who}) errors: "
                      f"{short(r[who]['error_codes'], 200)}")
    refused = [r for r in rows if refusals(r["greedy"])]
    if refused:
        msg = max(refused[0]["greedy"]["error_codes"].items(),
                  key=lambda x: x[1] if x[0].startswith("RESOURCE_EXHAUSTED") else -1)[0]
        print(f"\nA refusal, as the greedy client saw it: `{msg}`")


if __name__ == "__main__":
    main()
