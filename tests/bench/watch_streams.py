#!/usr/bin/python3
"""Many watch streams at once: raftkv and etcd 3.4 side by side, one member each on
loopback. Opens N Watch streams (spread over 16 client channels, one watcher each on
its own key), and reports how long until every stream has its 'created' answer, the
server's threads and resident memory with all of them open, and how long one write
fanned out to every stream takes (every watcher watches the same prefix for that).

Usage: watch_streams.py [--streams N] [--bin DIR] [--etcd PATH] [--only raftkv|etcd]
Prints a markdown table; docs/benchmarks.md keeps the latest one.
"""
import argparse
import asyncio
import os
import sys
import time

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import Cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024


async def measure(endpoint, pid, n, channels=16):
    chans = [grpc.aio.insecure_channel(endpoint) for _ in range(channels)]
    stubs = [rpc_pb2_grpc.WatchStub(c) for c in chans]
    kv_channel = grpc.aio.insecure_channel(endpoint)  # writes apart from the streams
    kv = rpc_pb2_grpc.KVStub(kv_channel)
    await kv.Put(rpc_pb2.PutRequest(key=b"warmup", value=b"x"), timeout=30)
    threads_before, _ = proc_status(pid)
    queues = [asyncio.Queue() for _ in range(n)]
    calls = []

    def requests(q):
        async def gen():
            while True:
                item = await q.get()
                if item is None:
                    return
                yield item
        return gen()

    start = time.monotonic()
    for i in range(n):
        call = stubs[i % channels].Watch(requests(queues[i]))
        calls.append(call)
        create = rpc_pb2.WatchCreateRequest(key=b"fan/", range_end=b"fan0")
        await queues[i].put(rpc_pb2.WatchRequest(create_request=create))

    async def created(call):
        while not (await call.read()).created:
            pass

    await asyncio.wait_for(asyncio.gather(*(created(c) for c in calls)), timeout=600)
    ready_s = time.monotonic() - start
    print(f"created {n} in {ready_s:.2f} s", file=sys.stderr)
    threads, rss = proc_status(pid)

    async def event(call):
        while not (await call.read()).events:
            pass

    start = time.monotonic()
    waiters = asyncio.gather(*(event(c) for c in calls))
    await kv.Put(rpc_pb2.PutRequest(key=b"fan/x", value=b"y"), timeout=30)
    await asyncio.wait_for(waiters, timeout=600)
    fanout_s = time.monotonic() - start
    for q in queues:
        await q.put(None)
    for c in calls:
        c.cancel()
    for c in chans + [kv_channel]:
        await c.close()
    return {"ready_s": ready_s, "threads_before": threads_before, "threads": threads,
            "rss_mib": rss, "fanout_s": fanout_s}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--streams", type=int, default=5000)
    p.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build", "bin"))
    p.add_argument("--etcd", default="/usr/bin/etcd")
    p.add_argument("--only", choices=["raftkv", "etcd"])
    a = p.parse_args()
    results = {}
    for name, binary in [("raftkv", os.path.join(a.bin, "raftkv")), ("etcd", a.etcd)]:
        if a.only and a.only != name:
            continue
        with Cluster(1, binary=binary) as c:
            m = c.members[0]
            # Not asyncio.run: its shutdown of the streams' request generators can hang
            # in grpc.aio once thousands were open; the process ends right after anyway.
            r = asyncio.new_event_loop().run_until_complete(
                measure(m.endpoint, m.proc.pid, a.streams))
            results[name] = r
            print(f"  {name}: {r}", file=sys.stderr)
    print(f"{a.streams} watch streams on one member, 16 client channels:\n")
    print("| server | all created (s) | threads before / with the streams | RSS MiB | "
          "one write to every stream (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        print(f"| {name} | {r['ready_s']:.2f} | {r['threads_before']} / {r['threads']} | "
              f"{r['rss_mib']:.0f} | {r['fanout_s']:.2f} |")


if __name__ == "__main__":
    main()
