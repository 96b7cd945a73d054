#!/usr/bin/python3
"""Overload (issue 14): 2,000 clients writing 100 KiB values as fast as they can into a
3-member cluster, raftkv with a memory budget and etcd 3.4 beside it, on loopback.

Each cluster starts with:
  --quota-backend-bytes Q   (--quota, default 512 MiB) so stored data stays bounded;
  --snapshot-count S        (--snapshot-count, default 1000). Both servers keep the Raft
                            log since the last snapshot in memory (etcd also keeps 5,000
                            more entries for slow followers), so with 100 KiB entries the
                            default counts (raftkv 10,000, etcd 100,000) would let the log
                            alone reach 1-10 GB. 1,000 bounds raftkv's log to ~100 MB at
                            100 KiB a write without snapshotting the whole store many
                            times a second; etcd's floor stays ~5,000 entries (~500 MB).
and raftkv also with
  --limits-member-max-memory-bytes B  (--budget, default 64 MiB = 67108864): bytes of
                            client requests admitted and not yet answered, per member;
  --limits-max-memory-bytes C         (--client-budget, default unset): the same per
                            client (all of raftkv-bench is one client here: 127.0.0.1).
The budget bounds requests in flight, not the store: raftkv keeps its MVCC store in
memory, so the RSS also grows with the history written since the last compaction and
the log since the last snapshot (plus the tail kept behind it for slow followers, at
most 64 MiB); snapshots are written to and sent from their files. So raftkv's row also
gets a bound, the documented baseline plus the budget, that its peak RSS must stay
under: the idle process without its data, plus the data the member reports holding at
its peak (store and log), plus the runtime's bounded queues (RUNTIME_QUEUES_MIB), plus
the requests gRPC may read before the gate (connections x --max-concurrent-streams x
the value size; no bound without a stream cap), plus the budget. To keep the history (and the
quota) bounded, the script compacts every --compact-every seconds (default 5, 0: never)
to the current revision, as etcd's --auto-compaction would. Without it the quota fills
in seconds and every write fails with "database space exceeded" (RESOURCE_EXHAUSTED
too, in etcd's words), which would hide the limiter's refusals.

Both use etcd's default --heartbeat-interval 100 and --election-timeout 1000 (the test
harness's 50/500 lose the leader whenever a snapshot of the preloaded 100 MB store
stalls a member on this 2-core machine).

Steps per server: start 3 members; preload the key space (every key written once with
the load's value size, so the live data is in the baseline); sample 3 s idle (the
baseline: each member's lowest idle RSS); run ONE raftkv-bench (put, closed loop,
--clients over --conns connections spread over the 3 endpoints); keep sampling --after
seconds (default 20) once it ends.
Every second: each member's VmRSS (/proc/PID/status), its /health (raftkv: metrics URL,
etcd: client URL; "answered" = an HTTP answer within 2 s, any status) and its
etcd_mvcc_db_total_size_in_bytes from /metrics.

Usage: overload.py [--only raftkv|etcd] [--clients 2000] [--conns 16]
                   [--value-size 102400] [--duration 60] [--warmup 1] [--timeout 5000]
                   [--key-space 1000] [--budget BYTES] [--client-budget BYTES]
                   [--quota BYTES] [--snapshot-count N] [--compact-every S] [--after S]
                   [--csv FILE] [--json FILE] [--bin DIR] [--etcd PATH]
Smoke run: overload.py --clients 200 --duration 5 --after 5
Prints markdown tables (per member, then the load's result); --csv writes every sample.
"""
import argparse
import concurrent.futures
import csv
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import Cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20
HEALTH_TIMEOUT = 2.0
DB_SIZE = re.compile(rb"^etcd_mvcc_db_total_size_in_bytes\s+(\S+)", re.M)
# raftkv's own account of what it holds (docs/metrics.md): the data (store, log,
# snapshots) and the requests in flight.
HELD = re.compile(rb'^raftkv_memory_held_bytes\{holder="(\w+)"\}\s+(\S+)', re.M)
DATA_HOLDERS = ("store", "log", "snapshot", "incoming_snapshot")


def rss_mib(pid):
    """VmRSS of pid in MiB, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def http_get(url, timeout=HEALTH_TIMEOUT):
    """(status or None, seconds, body): an HTTP error status is an answer too."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = r.read()
            return r.status, time.monotonic() - start, body
    except urllib.error.HTTPError as e:
        return e.code, time.monotonic() - start, b""
    except (OSError, ValueError):
        return None, time.monotonic() - start, b""


class Sampler:
    """Every second: RSS of each member, and (on a pool, so a slow member does not delay
    the clock) its /health and db size. Rows are dicts; `phase` is set by the caller."""

    def __init__(self, name, cluster, health_urls, metrics_urls):
        self.name, self.cluster = name, cluster
        self.health_urls, self.metrics_urls = health_urls, metrics_urls
        self.rows = []
        self.phase = "idle"
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=24)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)  # each task is bounded by its HTTP timeout

    def _probe(self, row, i):
        code, secs, _ = http_get(self.health_urls[i])
        with self._lock:
            row["health"] = code
            row["health_ms"] = secs * 1000
            row["answered"] = code is not None and secs <= HEALTH_TIMEOUT
        code, _, body = http_get(self.metrics_urls[i])
        m = DB_SIZE.search(body) if code == 200 else None
        held = {k.decode(): float(v) / MIB for k, v in HELD.findall(body)} if code == 200 else {}
        # The RSS of this row was read when the row began; the metrics a moment later.
        with self._lock:
            row["db_mib"] = float(m.group(1)) / MIB if m else None
            if held:
                row["data_mib"] = sum(held.get(h, 0.0) for h in DATA_HOLDERS)
                row["requests_mib"] = held.get("requests", 0.0)

    def _run(self):
        tick = 0
        while not self._stop.is_set() and tick < 100000:
            t = time.monotonic() - self.t0
            for i, m in enumerate(self.cluster.members):
                pid = m.proc.pid if m.proc is not None else None
                row = {"server": self.name, "t": round(t, 2), "phase": self.phase,
                       "member": m.name, "rss_mib": rss_mib(pid) if pid else None,
                       "health": None, "health_ms": None, "answered": False, "db_mib": None,
                       "data_mib": None, "requests_mib": None}
                with self._lock:
                    self.rows.append(row)
                self._pool.submit(self._probe, row, i)
            tick += 1
            self._stop.wait(max(0.0, self.t0 + tick - time.monotonic()))

    def rows_of(self, member, phases):
        with self._lock:
            return [dict(r) for r in self.rows if r["member"] == member and r["phase"] in phases]


class Compactor:
    """Compacts to the current revision every `every` seconds (etcd's auto-compaction,
    done from outside so that both servers get the same)."""

    def __init__(self, endpoints, every):
        self.endpoints, self.every = endpoints, every
        self.done, self.failed, self.first_error = 0, 0, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        if self.every > 0:
            self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _run(self):
        channels = [grpc.insecure_channel(e) for e in self.endpoints]
        try:
            n = 0
            while not self._stop.wait(self.every) and n < 100000:
                kv = rpc_pb2_grpc.KVStub(channels[n % len(channels)])
                n += 1
                step = "range"
                try:
                    rev = kv.Range(rpc_pb2.RangeRequest(key=b"\0", serializable=True),
                                   timeout=10).header.revision
                    step = "compact"
                    kv.Compact(rpc_pb2.CompactionRequest(revision=rev), timeout=10)
                    self.done += 1
                except grpc.RpcError as e:
                    self.failed += 1
                    if self.first_error is None:
                        self.first_error = f"{step}: {e.code().name}: {e.details()}"
        finally:
            for c in channels:
                c.close()


def bench_args(a, cluster):
    return ["--endpoints", cluster.endpoints(), "--key-space", str(a.key_space),
            "--value-size", str(a.value_size), "--timeout", str(a.timeout),
            "--no-progress", "-o", "json"] + a.bench_flag


def run_server(name, binary, flags, a):
    bench = os.path.join(a.bin, "raftkv-bench")
    print(f"{name}: starting 3 members: {' '.join(flags)}", file=sys.stderr)
    with Cluster(3, binary=binary, extra_flags=flags, heartbeat_ms=a.heartbeat_ms,
                 election_ms=a.election_ms) as c:
        health = [(m.metrics_url if name == "raftkv" else m.client_url) + "/health"
                  for m in c.members]
        metrics = [m.metrics_url + "/metrics" for m in c.members]
        # The preload: every key once, with the load's value size (a range workload
        # preloads; its one measured read does not matter). Puts are idempotent, so a
        # preload cut short by an election is run again.
        for attempt in range(3):
            pre = subprocess.run([bench, *bench_args(a, c), "--workload", "range", "--total",
                                  "1", "--clients", "8", "--conns", "3", "--warmup", "0"],
                                 capture_output=True, text=True, timeout=600)
            # Exit 1 with a JSON result and no "preloading" error is the one read failing
            # (a leader change, say): the preload itself passed.
            if pre.returncode in (0, 1) and pre.stdout and "preloading" not in pre.stderr:
                break
            print(f"{name}: preload failed (exit {pre.returncode}): {pre.stderr.strip()}",
                  file=sys.stderr)
            c.wait_ready(c.members, timeout=60)
        else:
            raise SystemExit(f"{name}: preload failed 3 times")
        # A snapshot of the preloaded store can hold the members up long enough for an
        # election: wait for a leader again, then for the followers to apply.
        c.wait_ready(c.members, timeout=60)
        time.sleep(2)
        sampler = Sampler(name, c, health, metrics).start()
        compactor = None
        proc = None
        try:
            time.sleep(3.05)  # three idle samples: the baseline
            sampler.phase = "load"
            compactor = Compactor([m.endpoint for m in c.members], a.compact_every).start()
            cmd = [bench, *bench_args(a, c), "--workload", "put", "--clients", str(a.clients),
                   "--conns", str(a.conns), "--duration", str(a.duration),
                   "--warmup", str(a.warmup)]
            print(f"{name}: {' '.join(cmd[1:])}", file=sys.stderr)
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, start_new_session=True)
            limit = a.warmup + a.duration + a.timeout / 1000 + 120
            try:
                out, err = proc.communicate(timeout=limit)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate(timeout=30)
                raise SystemExit(f"{name}: raftkv-bench did not finish in {limit:.0f} s")
            load_end = time.monotonic()
            compactor.stop()
            sampler.phase = "after"
            time.sleep(a.after + 0.05)
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            if compactor is not None:
                compactor.stop()
            sampler.stop()
        try:
            result = json.loads(out)
        except ValueError:
            raise SystemExit(f"{name}: raftkv-bench printed no JSON (exit {proc.returncode}): "
                             f"{err.strip()[-2000:]}")
        result["exit"] = proc.returncode
        result["stderr"] = err.strip()[-2000:]
        result["load_s"] = load_end - sampler.t0
        result["compactions"] = (compactor.done, compactor.failed, compactor.first_error)
        alive = [m.proc is not None and m.proc.poll() is None for m in c.members]
        members = {}
        for m, up in zip(c.members, alive):
            idle = [r["rss_mib"] for r in sampler.rows_of(m.name, {"idle"}) if r["rss_mib"]]
            busy = sampler.rows_of(m.name, {"load", "after"})
            load = sampler.rows_of(m.name, {"load"})
            after = sampler.rows_of(m.name, {"after"})
            rss = [r["rss_mib"] for r in busy if r["rss_mib"]]
            dbs = [r["db_mib"] for r in busy if r["db_mib"] is not None]
            base = min(idle) if idle else None
            # RSS less the idle process and less the data the member says it holds: what
            # the requests, gRPC's buffers and the allocator's keep cost (raftkv only).
            rest = [r["rss_mib"] - base - r["data_mib"] for r in busy
                    if base is not None and r["rss_mib"] and r["data_mib"] is not None]
            idle_data = [r["data_mib"] for r in sampler.rows_of(m.name, {"idle"})
                         if r["data_mib"] is not None]
            members[m.name] = {
                "alive": up,
                # The lowest idle sample: a snapshot of the preload may still be
                # releasing memory in the first of them.
                "baseline_mib": min(idle) if idle else None,
                "peak_mib": max(rss) if rss else None,
                "after_mib": next((r["rss_mib"] for r in reversed(after) if r["rss_mib"]),
                                  None),
                "db_peak_mib": max(dbs) if dbs else None,
                "beyond_data_peak_mib": (max(rest) + (min(idle_data) if idle_data else 0.0)
                                         if rest else None),
                "data_peak_mib": max((r["data_mib"] for r in busy if r["data_mib"] is not None),
                                     default=None),
                # The idle process without the data it holds (the preload).
                "process_mib": (base - min(idle_data) if base is not None and idle_data
                                else None),
                "requests_peak_mib": max((r["requests_mib"] for r in busy
                                          if r["requests_mib"] is not None), default=None),
                "health_load": (sum(r["answered"] for r in load), len(load)),
                "health_after": (sum(r["answered"] for r in after), len(after)),
                "health_worst_ms": max((r["health_ms"] for r in load if r["answered"]),
                                       default=None),
                "health_codes": sorted({str(r["health"]) for r in load}),
            }
        result["members"] = members
        print(f"  {name}: {result['throughput']:.0f} ok ops/s, {result['errors']} errors "
              f"({error_summary(result['error_codes'])[0]})", file=sys.stderr)
        return result, sampler.rows


# The runtime's queues, each bounded by a default (docs/limits.md): the Ready being made
# durable holds a copy of entries not yet committed (raft max_uncommitted_bytes, 64 MiB)
# and the WAL encodes them into one buffer (as much again); the apply thread's queue holds
# committed entries the core went past (max_applying_bytes, 64 MiB) and one Ready more
# (max_apply_bytes, 8 MiB); per peer the transport queues messages (max_queue_bytes, 64
# MiB; the leader's in-flight AppendEntries, 32 MiB per follower, sit in it). The entries
# themselves, in the log, are in the data held.
RUNTIME_QUEUES_MIB = 64 + 64 + 64 + 8 + 2 * 64


def stream_cap(flags):
    """--max-concurrent-streams from raftkv's extra flags, or None."""
    for i, f in enumerate(flags):
        if f.startswith("--max-concurrent-streams="):
            return int(f.split("=", 1)[1])
        if f == "--max-concurrent-streams" and i + 1 < len(flags):
            return int(flags[i + 1])
    return None


def memory_bound(m, a):
    """The documented baseline plus the budget (MiB) for one raftkv member, or None."""
    cap = stream_cap(a.raftkv_flag)
    if cap is None or m["process_mib"] is None or m["data_peak_mib"] is None:
        return None
    conns_per_member = -(-a.conns // 3)
    streams = conns_per_member * cap * a.value_size / MIB
    return (m["process_mib"] + m["data_peak_mib"] + RUNTIME_QUEUES_MIB + streams +
            a.budget / MIB)


def error_summary(codes, top=4, width=110):
    """By gRPC code, then the commonest messages (raftkv's name the client and numbers,
    so they are many)."""
    by_code = {}
    for key, n in codes.items():
        code = key.split(":", 1)[0]
        by_code[code] = by_code.get(code, 0) + n
    head = ", ".join(f"{c} {n}" for c, n in sorted(by_code.items(), key=lambda x: -x[1]))
    merged = {}  # numbers in messages (bytes in flight, say) replaced by N
    for key, n in codes.items():
        k = re.sub(r"\d+", "N", key)
        merged[k] = merged.get(k, 0) + n
    msgs = sorted(merged.items(), key=lambda x: -x[1])[:top]
    return head or "none", [(n, k if len(k) <= width else k[:width] + "...") for k, n in msgs]


def fmt(v, spec=".0f"):
    return "-" if v is None else format(v, spec)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    p.add_argument("--etcd", default="/usr/bin/etcd")
    p.add_argument("--only", choices=["raftkv", "etcd"])
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--value-size", type=int, default=102400)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--timeout", type=int, default=5000, help="per request, ms")
    p.add_argument("--key-space", type=int, default=1000)
    p.add_argument("--budget", type=int, default=64 * MIB,
                   help="raftkv --limits-member-max-memory-bytes (0: none)")
    p.add_argument("--client-budget", type=int, default=0,
                   help="raftkv --limits-max-memory-bytes per client (0: none)")
    p.add_argument("--quota", type=int, default=512 * MIB, help="--quota-backend-bytes, both")
    p.add_argument("--snapshot-count", type=int, default=1000, help="both servers")
    p.add_argument("--compact-every", type=float, default=5,
                   help="seconds between compactions during the load (0: never)")
    p.add_argument("--after", type=float, default=20, help="seconds sampled after the load")
    p.add_argument("--heartbeat-ms", type=int, default=100, help="both (etcd's default)")
    p.add_argument("--election-ms", type=int, default=1000, help="both (etcd's default)")
    p.add_argument("--raftkv-flag", action="append", default=[],
                   help="an extra raftkv flag (repeatable), e.g. --raftkv-flag=--limits-max-"
                        "concurrent=500")
    p.add_argument("--etcd-flag", action="append", default=[], help="an extra etcd flag")
    p.add_argument("--bench-flag", action="append", default=[],
                   help="an extra raftkv-bench flag, e.g. --bench-flag=--honor-retry-after")
    p.add_argument("--csv", help="write every per-second sample here")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args()

    common = ["--quota-backend-bytes", str(a.quota), "--snapshot-count", str(a.snapshot_count)]
    raftkv_flags = list(common)
    if a.budget:
        raftkv_flags += ["--limits-member-max-memory-bytes", str(a.budget)]
    if a.client_budget:
        raftkv_flags += ["--limits-max-memory-bytes", str(a.client_budget)]
    results, rows = {}, []
    for name, binary, flags in [("raftkv", os.path.join(a.bin, "raftkv"),
                                 raftkv_flags + a.raftkv_flag),
                                ("etcd", a.etcd, common + a.etcd_flag)]:
        if a.only and a.only != name:
            continue
        results[name], r = run_server(name, binary, flags, a)
        rows += r

    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["server", "t", "phase", "member", "rss_mib",
                                              "health", "health_ms", "answered", "db_mib",
                                              "data_mib", "requests_mib"])
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.1f}" if isinstance(v, float) else v)
                            for k, v in r.items()})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)

    budget = a.budget / MIB
    print(f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Linux {platform.release()}. 3 members each on 127.0.0.1; one raftkv-bench: put, "
          f"{a.clients} clients over {a.conns} connections (spread over the 3 endpoints), "
          f"{a.value_size}-byte values, {a.key_space} keys (preloaded), closed loop, "
          f"{a.warmup:g} s warm-up + {a.duration:g} s, --timeout {a.timeout} ms; "
          f"--quota-backend-bytes {a.quota}, --snapshot-count {a.snapshot_count}, "
          f"compaction every {a.compact_every:g} s; heartbeat {a.heartbeat_ms} ms, "
          f"election {a.election_ms} ms; raftkv "
          f"--limits-member-max-memory-bytes {a.budget or 'unset'}"
          f"{f', --limits-max-memory-bytes {a.client_budget}' if a.client_budget else ''}"
          f"{'; raftkv-bench ' + ' '.join(a.bench_flag) if a.bench_flag else ''}. "
          f"RSS sampled every second; /health answered = an HTTP answer within 2 s.\n")
    print("| server | member | baseline RSS MiB | peak RSS MiB | peak - baseline MiB "
          "(x raftkv budget) | RSS {:g} s after MiB | db size peak MiB | /health answered "
          "(load) | worst /health ms | /health answered (after) | data held peak MiB | "
          "requests held peak MiB | peak RSS - baseline - data held MiB | bound MiB (baseline "
          "+ budget) | peak within bound |".format(a.after))
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | ---: | --- |")
    for name, res in results.items():
        for mname, m in res["members"].items():
            if name == "raftkv":
                m["bound_mib"] = memory_bound(m, a)
                if m["bound_mib"] is not None and m["peak_mib"] is not None:
                    m["within"] = "yes" if m["peak_mib"] <= m["bound_mib"] else "NO"
            growth = (m["peak_mib"] - m["baseline_mib"]
                      if m["peak_mib"] is not None and m["baseline_mib"] is not None else None)
            ratio = f" ({growth / budget:.1f}x)" if growth is not None and budget else ""
            dead = "" if m["alive"] else " (exited!)"
            print(f"| {name} | {mname}{dead} | {fmt(m['baseline_mib'])} | {fmt(m['peak_mib'])} | "
                  f"{fmt(growth)}{ratio} | {fmt(m['after_mib'])} | {fmt(m['db_peak_mib'])} | "
                  f"{m['health_load'][0]}/{m['health_load'][1]} | "
                  f"{fmt(m['health_worst_ms'])} | "
                  f"{m['health_after'][0]}/{m['health_after'][1]} | "
                  f"{fmt(m['data_peak_mib'])} | {fmt(m['requests_peak_mib'])} | "
                  f"{fmt(m['beyond_data_peak_mib'])} | {fmt(m.get('bound_mib'))} | "
                  f"{m.get('within', '-')} |")
    print()
    print("| server | ok ops/s | ok MB/s | p50 / p99 / max ms | errors | by code | "
          "compactions ok / failed |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for name, res in results.items():
        head, _ = error_summary(res["error_codes"])
        lat = res["latency_ms"]
        print(f"| {name} | {res['throughput']:.0f} | "
              f"{res['throughput'] * a.value_size / 1e6:.1f} | {lat['p50']:.0f} / "
              f"{lat['p99']:.0f} / {lat['max']:.0f} | {res['errors']} | {head} | "
              f"{res['compactions'][0]} / {res['compactions'][1]} |")
    for name, res in results.items():
        _, msgs = error_summary(res["error_codes"])
        if msgs:
            print(f"\n{name}'s commonest errors (numbers as N):\n")
            for n, k in msgs:
                print(f"- {n} x `{k}`")
        if res["compactions"][2]:
            print(f"\n{name}: first failed compaction: `{res['compactions'][2]}`")
        if res["exit"] != 0:
            print(f"\n{name}: raftkv-bench exited {res['exit']}: {res['stderr'][-500:]}")


if __name__ == "__main__":
    main()
