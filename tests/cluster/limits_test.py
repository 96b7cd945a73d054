#!/usr/bin/python3
"""Per-client limits on a real 3-member raftkv cluster: set through raftkvctl (and so
through the log, on every member), enforced at once with the limit named, a concurrency
cap that refuses exactly the excess while slow requests are in flight, bad limits refused
naming the field, limits that survive a restart, and permits given back on every path
that ends a request (success, error, deadline, cancel, leader change, forwarding, stop).

Clients are told apart by their `client-id` metadata (--limits-trust-client-id), so the
test's own tools (raftkvctl, etcdctl: no client-id, keyed by 127.0.0.1) are not limited.
Run with Debian's /usr/bin/python3 (python3-grpcio, python3-etcd3's generated stubs).
"""
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, default_binary, wait_until  # noqa: E402

CTL = os.path.join(os.path.dirname(os.environ.get("RAFTKV_SERVER") or
                                   os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                "..", "..", "build", "bin", "raftkv")),
                   "raftkvctl")


def ctl(cluster, *args, endpoints=None):
    p = subprocess.run([CTL, "--endpoints", endpoints or cluster.endpoints(), *args],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def limits_on(cluster, m):
    code, out, err = ctl(cluster, "limits", "get", "-o", "json", endpoints=m.endpoint)
    assert code == 0, err
    return json.loads(out)


class LimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, extra_flags=["--limits-trust-client-id"]).__enter__()
        cls.channels = {}

    @classmethod
    def tearDownClass(cls):
        for ch in cls.channels.values():
            ch.close()
        cls.cluster.__exit__(None, None, None)

    def kv(self, m):
        if m.name not in self.channels:
            self.channels[m.name] = grpc.insecure_channel(m.endpoint)
        return rpc_pb2_grpc.KVStub(self.channels[m.name])

    def puts_in_flight(self, m, client, prefix, n):
        """n puts to member m, not waited for: their futures."""
        return [self.kv(m).Put.future(rpc_pb2.PutRequest(key=f"{prefix}{i}".encode(), value=b"v"),
                                      metadata=[("client-id", client)], timeout=30)
                for i in range(n)]

    def put(self, m, client, key, timeout=10):
        return self.kv(m).Put(rpc_pb2.PutRequest(key=key.encode(), value=b"v"),
                              metadata=[("client-id", client)], timeout=timeout)

    def test_1_a_limit_set_through_raftkvctl_holds_on_every_member(self):
        code, out, err = ctl(self.cluster, "limits", "set", "id:greedy",
                             "requests_per_second=0.2,burst=3")
        self.assertEqual(code, 0, err)
        self.assertIn("id:greedy  requests_per_second=0.2,burst=3", out)
        for m in self.cluster.live():
            wait_until(lambda: "id:greedy" in limits_on(self.cluster, m)["limits"]
                       .get("overrides", {}), 10, 0.1, f"{m.name} to apply the limits")
            # Each member keeps its own buckets: three puts, then a refusal naming the limit.
            for i in range(3):
                self.put(m, "greedy", f"g/{m.name}/{i}")
            with self.assertRaises(grpc.RpcError) as refused:
                self.put(m, "greedy", f"g/{m.name}/over")
            e = refused.exception
            self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertEqual(e.details(), "etcdserver: too many requests: client id:greedy is "
                             "over its request rate limit of 0.2/s (burst 3)")
            trailers = dict(e.trailing_metadata())
            self.assertGreater(int(trailers["retry-after-ms"]), 0)
            # Another client is not held back by the greedy one.
            self.put(m, "light", f"l/{m.name}")
        # The refused puts never reached the log.
        code, out, _ = self.cluster.etcdctl("get", "g/", "--prefix", "--keys-only")
        self.assertEqual(code, 0)
        self.assertEqual(sorted(l for l in out.split() if l), sorted(
            f"g/{m.name}/{i}" for m in self.cluster.live() for i in range(3)))
        refused = limits_on(self.cluster, self.cluster.live()[0])["refused"]
        self.assertEqual(refused["request_rate"], "1")

    def test_2_with_a_concurrency_cap_exactly_the_excess_is_refused(self):
        code, _, err = ctl(self.cluster, "limits", "set", "id:slow", "max_concurrent=2")
        self.assertEqual(code, 0, err)
        leader = self.cluster.leader()
        followers = [m for m in self.cluster.live() if m is not leader]
        wait_until(lambda: "id:slow" in limits_on(self.cluster, leader)["limits"]
                   .get("overrides", {}), 10, 0.1, "the leader to apply the cap")
        # Without a quorum, writes wait: two stay in flight, the other three are refused.
        for f in followers:
            os.kill(f.proc.pid, signal.SIGSTOP)
        try:
            futures = self.puts_in_flight(leader, "slow", "s/", 5)
            # The refusals come at once; the two admitted wait for a quorum that is gone.
            wait_until(lambda: sum(f.done() for f in futures) >= 3, 5, 0.02, "three refusals")
            refused = [f.exception() for f in futures if f.done()]
            in_flight = [f for f in futures if not f.done()]
            self.assertEqual((len(refused), len(in_flight)), (3, 2))
            for e in refused:
                self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                self.assertIn("client id:slow is over its limit of 2 concurrent requests",
                              e.details())
        finally:
            for f in followers:
                os.kill(f.proc.pid, signal.SIGCONT)
        for fut in in_flight:
            # Each ends: applied once the quorum is back, or failed if the leader stepped
            # down meanwhile (CheckQuorum), but never refused by the limiter.
            try:
                fut.result(timeout=30)
            except grpc.RpcError as e:
                self.assertNotEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, e.details())
        # Admission resumes once they finished, and the permits all came back.
        wait_until(lambda: self.cluster.leader() is not None, 20, 0.1, "a leader again")
        self.put(leader, "slow", "s/after", timeout=20)
        wait_until(lambda: limits_on(self.cluster, leader).get("in_flight", "0") == "0", 10, 0.1,
                   "the leader's in-flight count back to zero")

    def test_3_bad_limits_are_refused_naming_the_field_and_change_nothing(self):
        m = self.cluster.live()[0]
        before = limits_on(self.cluster, m)["limits"]
        for scope, spec, code_want, text in [
                ("defaults", "requests_per_second=0", 1,
                 "defaults.requests_per_second 0 is out of range (0, 1e+07]"),
                ("defaults", "requests_per_second=100,burst=10", 1,
                 "defaults.burst 10 is below 1 or below defaults.requests_per_second 100"),
                ("id:x", "write_bytes_per_second=-1", 1,
                 "overrides[id:x].write_bytes_per_second -1 is out of range"),
                ("member", "max_concurrent=1.5", 2, "max_concurrent 1.5 is not a whole number"),
                ("defaults", "speed=3", 2, 'unknown limit "speed"')]:
            code, out, err = ctl(self.cluster, "limits", "set", scope, spec)
            self.assertEqual(code, code_want, (scope, spec, out, err))
            self.assertIn(text, err)
        self.assertEqual(limits_on(self.cluster, m)["limits"], before)

    def test_4_limits_survive_a_restart(self):
        m = self.cluster.live()[-1]
        self.cluster.kill(m)
        self.cluster.restart(m)
        wait_until(lambda: self.cluster.status(m) is not None, 30, 0.2, "the member to restart")
        wait_until(lambda: "id:greedy" in limits_on(self.cluster, m)["limits"]
                   .get("overrides", {}), 15, 0.2, "the restarted member's limits")

    def no_permits_held(self, m):
        d = limits_on(self.cluster, m)  # the Admin call leaves its own permit out
        return d.get("in_flight", "0") == "0" and d.get("in_flight_bytes", "0") == "0"

    def test_5_every_path_that_ends_a_request_gives_its_permit_back(self):
        c = self.cluster
        leader = c.leader()
        followers = [m for m in c.live() if m is not leader]
        # Success, and an error from the state machine.
        self.put(leader, "paths", "p/ok")
        with self.assertRaises(grpc.RpcError) as failed:
            self.kv(leader).Put(rpc_pb2.PutRequest(key=b"p/lease", value=b"v", lease=0x1234),
                                metadata=[("client-id", "paths")], timeout=10)
        self.assertEqual(failed.exception.details(), "etcdserver: requested lease not found")
        wait_until(lambda: self.no_permits_held(leader), 10, 0.05, "success and error")

        # The client's deadline and a client cancel: no quorum, so the writes wait; the
        # member's own request timeout ends them, while the followers are still stopped.
        for f in followers:
            os.kill(f.proc.pid, signal.SIGSTOP)
        try:
            with self.assertRaises(grpc.RpcError) as late:
                self.put(leader, "paths", "p/deadline", timeout=0.3)
            self.assertEqual(late.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            canceled = self.kv(leader).Put.future(
                rpc_pb2.PutRequest(key=b"p/cancel", value=b"v"),
                metadata=[("client-id", "paths")], timeout=30)
            wait_until(lambda: not self.no_permits_held(leader), 5, 0.02, "the write in flight")
            canceled.cancel()
            wait_until(lambda: self.no_permits_held(leader), 20, 0.1,
                       "the leader's permits back after its request timeout")
        finally:
            for f in followers:
                os.kill(f.proc.pid, signal.SIGCONT)

        # Leader change and forwarding failure: the leader stops while a follower holds
        # writes it forwarded to it; they end (applied by a new leader or failed).
        wait_until(lambda: c.leader() is not None, 20, 0.1, "a leader again")
        leader = c.leader()
        follower = next(m for m in c.live() if m is not leader)
        os.kill(leader.proc.pid, signal.SIGSTOP)
        try:
            futures = self.puts_in_flight(follower, "paths", "p/fwd", 3)
            wait_until(lambda: all(f.done() for f in futures), 30, 0.1, "the forwarded writes")
            for fut in futures:
                if fut.exception() is not None:
                    self.assertNotEqual(fut.exception().code(),
                                        grpc.StatusCode.RESOURCE_EXHAUSTED)
            wait_until(lambda: self.no_permits_held(follower), 10, 0.1,
                       "the follower's permits back")
        finally:
            os.kill(leader.proc.pid, signal.SIGCONT)

        # Shutdown with writes in flight: the member stops cleanly (no sanitizer report,
        # no hang), its permits going with the requests it fails.
        wait_until(lambda: c.leader() is not None, 20, 0.1, "a leader again")
        others = [m for m in c.live() if m is not follower]
        for m in others:
            os.kill(m.proc.pid, signal.SIGSTOP)
        try:
            pending = self.puts_in_flight(follower, "paths", "p/stop", 3)
            wait_until(lambda: not self.no_permits_held(follower), 5, 0.02, "writes in flight")
            follower.proc.send_signal(signal.SIGTERM)
            self.assertEqual(follower.proc.wait(timeout=15), 0)
            wait_until(lambda: all(f.done() for f in pending), 10, 0.1, "the writes to end")
        finally:
            for m in others:
                os.kill(m.proc.pid, signal.SIGCONT)
        with open(follower.log_path) as f:
            self.assertNotIn("Sanitizer", f.read())
        c.restart(follower)
        wait_until(lambda: c.status(follower) is not None, 30, 0.2, "the member to restart")

    def test_6_a_toml_file_sets_several_client_overrides(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "raftkv.toml")
            with open(cfg, "w") as f:
                f.write('limits-client = ["id:a:max_concurrent=2",\n'
                        '                 "id:b:requests_per_second=5,burst=5"]\n'
                        'limits-member-max-concurrent = 100\n')
            with Cluster(1, extra_flags=["--config-file", cfg]) as one:
                m = one.live()[0]
                wait_until(lambda: one.status(m) is not None, 30, 0.2, "the member to start")
                got = limits_on(one, m)["limits"]
        self.assertEqual(got["overrides"], {"id:a": {"max_concurrent": 2},
                                            "id:b": {"requests_per_second": 5, "burst": 5}})
        self.assertEqual(got["member"], {"max_concurrent": 100})


class StreamsTest(unittest.TestCase):
    """--max-concurrent-streams (etcd's flag): a client connection over the cap waits on its
    own side; the member neither reads nor holds the extra stream until one closes."""

    def test_a_connection_opens_at_most_the_cap_and_the_next_stream_waits(self):
        with Cluster(1, extra_flags=["--max-concurrent-streams", "2"]) as one:
            m = one.live()[0]
            wait_until(lambda: one.status(m) is not None, 30, 0.2, "the member to start")
            ch = grpc.insecure_channel(m.endpoint)
            watch = rpc_pb2_grpc.WatchStub(ch)
            streams = []

            def open_stream(i):
                q = queue.Queue()
                create = rpc_pb2.WatchCreateRequest(key=b"k%d" % i)
                q.put(rpc_pb2.WatchRequest(create_request=create))
                # None closes the request side; the stream ends when the test cancels it.
                call = watch.Watch(iter(q.get, None), timeout=60)
                streams.append((q, call))
                return call
            try:
                # Two streams served first, so the client knows the cap (its SETTINGS came
                # with them) before it opens a third: which two of three opened at once get
                # the places is the client's choice.
                first = open_stream(0)
                self.assertTrue(next(first).created)
                second = open_stream(1)
                self.assertTrue(next(second).created)
                third = open_stream(2)
                # The third stream is queued in the client: no answer while two are open.
                # (A member that ignored the cap answers it within milliseconds.)
                got = []
                reader = threading.Thread(
                    target=lambda: got.append(next(third)), daemon=True)
                reader.start()
                reader.join(1.5)
                self.assertEqual(got, [], "a third stream was served over a cap of 2")
                first.cancel()
                reader.join(30)
                self.assertTrue(got and got[0].created, "the third stream never started")
            finally:
                for q, call in streams:
                    q.put(None)
                    call.cancel()
                ch.close()

    def test_a_cap_below_one_is_refused(self):
        for bad in ("0", "-1"):
            binary = os.environ.get("RAFTKV_SERVER") or default_binary()
            p = subprocess.run([binary, "--max-concurrent-streams", bad],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(p.returncode, 0, bad)
            self.assertIn("--max-concurrent-streams", p.stderr, bad)


if __name__ == "__main__":
    unittest.main()
