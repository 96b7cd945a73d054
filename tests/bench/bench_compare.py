#!/usr/bin/python3
"""Side by side: a 3-node raftkv cluster, then a 3-node etcd 3.4 cluster (Debian's
etcd-server), on loopback, data in the same temporary file system, fsync on in both,
driven by the same workloads from two clients (--client below). Also records the CPU
seconds each cluster's processes used (from /proc), since on a 2-core machine CPU is the
limit.

Usage: bench_compare.py [--duration S] [--bin DIR] [--etcd PATH] [--json FILE]
                        [--only raftkv|etcd] [--workloads "put c=16,put c=256"] [--tls] [--auth simple|jwt]
                        [--client raftkv-bench|go|both]
--client picks what drives the load: raftkv-bench (our C++ client), raftkv-goload (a load tool
on etcd's own Go client, clientv3, tests/bench/goload), or both (the default), each workload
run with each client against each system, so the figures do not rest on our own client.
--at-leader sends every request to the leader (issue 19's setup) instead of spreading the
clients over the three members' endpoints.
--floor also runs every workload against grpc-floor (tests/bench/grpc_floor_main.cc):
etcd's KV service answering at once, with nothing behind it, once answering on gRPC's own
thread and once from a thread of ours: what gRPC alone costs per call on this machine.
--tls runs both with client TLS (client certificates required) and peer mutual TLS, with
certificates made by `openssl` (tests/compat/tls_test.py's).
--auth simple|jwt turns etcd's auth on in both (a user `bench` holding READWRITE on the prefix
bench/, which raftkv-bench writes; not root, whose requests skip the key checks) and
drives them as that user with a simple token.
Prints a markdown table; docs/benchmarks.md keeps the latest one.
"""
import argparse
import json
import os
import platform
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))
from cluster import Cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")

WORKLOADS = [
    ("put c=1", ["--workload", "put", "--clients", "1", "--conns", "1"]),
    ("put c=16", ["--workload", "put", "--clients", "16", "--conns", "4"]),
    ("put c=64", ["--workload", "put", "--clients", "64", "--conns", "8"]),
    ("put c=256", ["--workload", "put", "--clients", "256", "--conns", "16"]),
    ("range linearizable c=16", ["--workload", "range", "--clients", "16", "--conns", "4"]),
    ("range serializable c=16",
     ["--workload", "range-serializable", "--clients", "16", "--conns", "4"]),
    # Issue 19's read targets are at 64 clients.
    ("range linearizable c=64", ["--workload", "range", "--clients", "64", "--conns", "8"]),
    ("range serializable c=64",
     ["--workload", "range-serializable", "--clients", "64", "--conns", "8"]),
    ("txn (CAS) c=16", ["--workload", "txn", "--clients", "16", "--conns", "4"]),
]


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / TICK


CLIENTS = {"raftkv-bench": "raftkv-bench", "go": "raftkv-goload"}  # --client: the binary


def client_command(client, binary):
    """The command line of one client, before the workload's flags. Both take the same
    workload, key, value, TLS and auth flags; raftkv-goload always prints JSON."""
    if client == "raftkv-bench":
        return [binary, "--no-progress", "-o", "json"]
    return [binary]


class Floor:
    """grpc-floor on a free port of 127.0.0.1, in the shape run() needs (members' PIDs and
    endpoints); stopped by PID on exit."""

    def __init__(self, binary, on_thread):
        cmd = [binary, "--listen", "127.0.0.1:0"] + (["--finish-on-thread"] if on_thread else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # "listening on port N", or "" if it failed
        if not line.startswith("listening on port "):
            self.proc.kill()
            self.proc.wait()
            raise SystemExit(f"grpc-floor did not start: {line!r}")
        self.endpoint = "127.0.0.1:" + line.split()[-1]
        self.members = [self]

    def endpoints(self):
        return self.endpoint

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run(cluster, clients, duration, bench_flags=(), at_leader=False):
    """Every workload with every client of `clients` ({name: binary}), one after the other:
    {client: {workload: the client's JSON, plus cpu_s}}."""
    results = {client: {} for client in clients}
    pids = [m.proc.pid for m in cluster.members]
    endpoints = cluster.leader().endpoint if at_leader else cluster.endpoints()
    for name, args in WORKLOADS:
        for client, binary in clients.items():
            before = cpu_seconds(pids)
            out = subprocess.run([*client_command(client, binary), "--endpoints",
                                  endpoints, "--duration", str(duration), "--warmup",
                                  "1", "--key-space", "10000", "--value-size", "256",
                                  *bench_flags, *args],
                                 capture_output=True, text=True, timeout=duration * 10 + 120)
            after = cpu_seconds(pids)
            if out.returncode != 0:
                raise SystemExit(f"{os.path.basename(binary)} failed on {name}: {out.stderr}")
            r = json.loads(out.stdout)
            # CPU includes the preload of range/txn workloads and the warm-up; it is divided
            # by the measured ops only: stated in the table notes.
            r["cpu_s"] = after - before
            results[client][name] = r
            # Which errors, when there are any: a count alone leaves a failed run unexplained.
            codes = ", ".join(f"{code} {n}" for code, n in sorted(r.get("error_codes", {}).items()))
            print(f"  {name} ({client}): {r['throughput']:.0f} ops/s, "
                  f"p99 {r['latency_ms']['p99']:.2f} ms, {r['errors']} errors"
                  f"{f' ({codes})' if codes else ''}, "
                  f"CPU s per 1k ops {cpu_per_1k(r):.3f}", file=sys.stderr)
    return results


def cpu_per_1k(v):
    ops = v["ops"] + v["errors"]
    return v["cpu_s"] / ops * 1000 if ops else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    p.add_argument("--etcd", default="/usr/bin/etcd")
    p.add_argument("--json")
    p.add_argument("--only", choices=["raftkv", "etcd"],
                   help="measure one system (no table): for quick before/after runs")
    p.add_argument("--workloads", help="comma-separated workload names to run (default: all)")
    p.add_argument("--bench", help="the raftkv-bench to drive both with (default: --bin's)")
    p.add_argument("--goload", help="the raftkv-goload to drive both with (default: --bin's)")
    p.add_argument("--client", choices=["raftkv-bench", "go", "both"], default="both",
                   help="what drives the load: raftkv-bench, raftkv-goload (etcd's Go client), "
                        "or each workload with both (default)")
    p.add_argument("--raftkv-flag", action="append", default=[],
                   help="an extra raftkv flag, e.g. --raftkv-flag=--limits-max-concurrent=1000 "
                        "(repeatable): for A/B runs of a feature")
    p.add_argument("--at-leader", action="store_true",
                   help="send every request to the leader instead of all three members")
    p.add_argument("--floor", action="store_true",
                   help="also run grpc-floor (gRPC alone, answering at once) for comparison")
    p.add_argument("--tls", action="store_true",
                   help="client TLS with client certificates, and peer mutual TLS")
    p.add_argument("--auth", choices=["simple", "jwt"],
                   help="auth on with these tokens (jwt: RS256), driven as a non-root user "
                        "with a key-prefix grant")
    a = p.parse_args()
    tls = {}
    if a.tls:
        import shutil
        import tls_test
        certs = tls_test.Certs()
        tls = dict(extra=certs.server_flags(), cluster=dict(
            client_scheme="https", ctl_flags=certs.client_flags(), peer_scheme="https",
            member_flags=certs.peer_flags), bench=certs.client_flags())
    auth_flags = []
    if a.auth == "jwt":
        import tempfile
        keys = tempfile.mkdtemp(prefix="raftkv-bench-jwt-")
        for args in (["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                      "-out", "jwt.key"], ["pkey", "-in", "jwt.key", "-pubout", "-out", "jwt.pub"]):
            subprocess.run(["openssl", *args], cwd=keys, check=True, capture_output=True)
        auth_flags = ["--auth-token",
                      f"jwt,pub-key={keys}/jwt.pub,priv-key={keys}/jwt.key,sign-method=RS256"]
    if a.workloads:
        wanted = set(a.workloads.split(","))
        WORKLOADS[:] = [w for w in WORKLOADS if w[0] in wanted]
    clients = {"raftkv-bench": a.bench or os.path.join(a.bin, "raftkv-bench"),
               "go": a.goload or os.path.join(a.bin, "raftkv-goload")}
    if a.client != "both":
        clients = {a.client: clients[a.client]}
    for client, binary in clients.items():
        if not os.access(binary, os.X_OK):
            raise SystemExit(f"--client {a.client}: {binary} is not an executable "
                             f"(build it: cmake --build build --target {CLIENTS[client]})")
    systems = {}
    for name, binary, flags in [
            ("raftkv", os.path.join(a.bin, "raftkv"), ["--snapshot-count", "100000",
                                                       *a.raftkv_flag]),
            ("etcd", a.etcd, ["--snapshot-count", "100000", "--quota-backend-bytes",
                              str(8 << 30)])]:
        if a.only and a.only != name:
            continue
        print(f"{name}: starting 3 nodes", file=sys.stderr)
        with Cluster(3, binary=binary, extra_flags=flags + tls.get("extra", []) + auth_flags,
                     **tls.get("cluster", {})) as c:
            bench_flags = list(tls.get("bench", []))
            if a.auth:
                c.etcdctl_steps(("user", "add", "root:rootpw"), ("user", "add", "bench:benchpw"),
                                ("role", "add", "bench"),
                                ("role", "grant-permission", "bench", "readwrite", "bench/",
                                 "--prefix"),
                                ("user", "grant-role", "bench", "bench"), ("auth", "enable"))
                bench_flags += ["--user", "bench:benchpw"]
            systems[name] = run(c, clients, a.duration, bench_flags, a.at_leader)
    floors = {}
    if a.floor:
        for name, on_thread in (("floor", False), ("floor, answered from our thread", True)):
            print(f"{name}: starting grpc-floor", file=sys.stderr)
            with Floor(os.path.join(a.bin, "grpc-floor"), on_thread) as f:
                floors[name] = run(f, clients, a.duration)
    if a.tls:
        shutil.rmtree(certs.dir, ignore_errors=True)
    if a.only:
        return
    r, e = systems["raftkv"], systems["etcd"]
    print(f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Linux {platform.release()}; {a.duration:g} s per workload after 1 s warm-up, "
          f"10,000 keys, 256-byte values, 3 nodes each on 127.0.0.1, fsync on, "
          f"{'every request to the leader' if a.at_leader else 'clients spread over the 3'}"
          f"{', client TLS and peer mutual TLS' if a.tls else ''}"
          f"{f', auth on ({a.auth} tokens, a user with a prefix grant)' if a.auth else ''}.\n")
    print("| workload | client | raftkv ops/s | etcd ops/s | raftkv/etcd | "
          "raftkv p50 / p99 ms | etcd p50 / p99 ms | raftkv CPU s per 1k ops | "
          "etcd CPU s per 1k ops | raftkv/etcd ops per CPU s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, _ in WORKLOADS:
        for client in clients:
            x, y = r[client][name], e[client][name]
            # Ops per CPU second, raftkv over etcd: the inverse ratio of CPU per op.
            per_cpu = cpu_per_1k(y) / cpu_per_1k(x) if cpu_per_1k(x) > 0 else 0
            print(f"| {name} | {CLIENTS[client]} | {x['throughput']:.0f} | "
                  f"{y['throughput']:.0f} | {x['throughput'] / max(y['throughput'], 1e-9):.2f} | "
                  f"{x['latency_ms']['p50']:.2f} / {x['latency_ms']['p99']:.2f} | "
                  f"{y['latency_ms']['p50']:.2f} / {y['latency_ms']['p99']:.2f} | "
                  f"{cpu_per_1k(x):.3f} | {cpu_per_1k(y):.3f} | {per_cpu:.2f} |")
    if floors:
        print("\ngRPC alone (grpc-floor: etcd's KV service answering at once, one process), "
              "CPU s per 1k ops, beside raftkv's and etcd's (three processes):\n")
        print("| workload | client | " + " | ".join(floors) + " | raftkv | etcd |")
        print("| --- | --- |" + " ---: |" * (len(floors) + 2))
        for name, _ in WORKLOADS:
            for client in clients:
                cells = [f"{cpu_per_1k(f[client][name]):.3f}" for f in floors.values()]
                print(f"| {name} | {CLIENTS[client]} | " + " | ".join(cells) +
                      f" | {cpu_per_1k(r[client][name]):.3f} | {cpu_per_1k(e[client][name]):.3f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(systems, **floors), f, indent=1)


if __name__ == "__main__":
    main()
