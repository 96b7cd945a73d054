#!/usr/bin/python3
"""Three etcd behaviours users hit at once (issue 17), each checked against raftkv and
against etcd 3.4 itself with the same commands:

- `etcdctl snapshot save` succeeds: the file ends with the SHA-256 of the rest, and its
  size is 32 past a multiple of 512 (etcdctl 3.4 refuses to save anything else). Only
  root may take one with auth on. (raftkv's file holds raftkv's own snapshot, not a bbolt
  database: `etcdctl snapshot status/restore` read etcd's alone.)
- HTTP/1.1 `/health` and `/version` on the client port, beside gRPC on the same port;
  `/health` turns false (503) when the member loses its quorum.
- `lease timetolive` right after a 300 s grant reports 299 (etcd truncates).
- `--auto-compaction-retention 2s` (periodic): the member compacts history older than the
  retention on its own; a retention etcd cannot read stops the member at start.

Also: a gRPC message above the request limit is refused by the transport itself on the
client port (raftkv hands connections to gRPC by descriptor; its channel arguments must
still apply).

Run: /usr/bin/python3 tests/compat/etcd_calls_test.py [-v]   (RAFTKV_SERVER picks the binary)
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import APP_AUTH_STEPS, ETCD, Cluster, against_both, wait_until  # noqa: E402

ROOT = "root:rootpw"
ALICE = "alice:alicepw"


def http(url, method="GET"):
    """(status, headers, body) of one HTTP/1.1 request; None when nothing answers."""
    req = urllib.request.Request(url, method=method, data=b"" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()
    except OSError:
        return None


class EtcdCallsBase:
    """One 3-member cluster per class; the tests run in the order of their numbers (the
    last ones turn auth on and take the quorum away)."""

    @classmethod
    def setUpClass(cls):
        cls.is_etcd = cls.binary() == ETCD
        cls.cluster = Cluster(3, binary=cls.binary()).__enter__()
        cls.tmp = tempfile.mkdtemp(prefix="raftkv-etcd-calls-")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)
        for name in os.listdir(cls.tmp):
            os.remove(os.path.join(cls.tmp, name))
        os.rmdir(cls.tmp)

    def ok(self, *args, user=None, endpoints=None):
        flags = ["--user=" + user] if user else []
        code, out, err = self.cluster.etcdctl(*flags, *args, endpoints=endpoints)
        self.assertEqual(code, 0, f"etcdctl {' '.join(args)}: {err}")
        return out

    def save_snapshot(self, name, user=None):
        """(exit code, stdout + stderr, path) of `etcdctl snapshot save` on one member."""
        path = os.path.join(self.tmp, name)
        flags = ["--user=" + user] if user else []
        code, out, err = self.cluster.etcdctl(*flags, "snapshot", "save", path,
                                              endpoints=self.cluster.members[0].endpoint,
                                              timeout=60)
        return code, out + err, path

    def test_1_snapshot_save_writes_the_data_and_their_sha256(self):
        for i in range(50):
            self.ok("put", f"snap/{i:02d}", "v" * 100)
        code, out, path = self.save_snapshot("one.db")
        self.assertEqual(code, 0, out)
        self.assertIn(f"Snapshot saved at {path}", out)
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(len(data) % 512, 32, "etcdctl 3.4 saves only such sizes")
        self.assertEqual(hashlib.sha256(data[:-32]).digest(), data[-32:])
        self.assertGreater(len(data), 50 * 100)  # the values are in it
        self.assertIn(b"snap/49", data)
        if self.is_etcd:
            # etcd's file is a bbolt database, which etcdctl can read.
            self.assertIn("totalKey", self.ok("snapshot", "status", path, "-w", "json"))
        else:
            # raftkv's is its own snapshot: etcdctl cannot read it, and says so.
            self.assertTrue(data.startswith(b"RAFTKV-SNAPSHOT\n"))
            code, _, _ = self.cluster.etcdctl("snapshot", "status", path)
            self.assertNotEqual(code, 0)

    def test_2_lease_timetolive_right_after_a_grant_truncates_the_seconds_left(self):
        started = time.monotonic()
        out = self.ok("lease", "grant", "300")
        m = re.fullmatch(r"lease ([0-9a-f]+) granted with TTL\(300s\)\n", out)
        self.assertIsNotNone(m, out)
        out = self.ok("lease", "timetolive", m.group(1))
        elapsed = time.monotonic() - started
        m2 = re.fullmatch(rf"lease {m.group(1)} granted with TTL\(300s\), remaining\((\d+)s\)\n",
                          out)
        self.assertIsNotNone(m2, out)
        remaining = int(m2.group(1))
        # Never 300: some time has passed and the fraction is dropped. Under a second after
        # the grant (the usual case), exactly 299.
        if elapsed < 1.0:
            self.assertEqual(remaining, 299, out)
        else:
            self.assertLessEqual(remaining, 299, out)
            self.assertGreaterEqual(remaining, 300 - int(elapsed) - 1, out)

    def test_3_the_client_port_answers_health_and_version_over_http(self):
        m = self.cluster.members[0]
        status, headers, body = http(m.client_url + "/health")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["health"], "true")
        status, headers, body = http(m.client_url + "/version")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Content-Type"], "application/json")
        version = json.loads(body)
        # raftkv adds its own version and commit (raftkvctl_test checks them).
        self.assertEqual(sorted(version), ["etcdcluster", "etcdserver"] + (
            [] if self.is_etcd else ["raftkv", "raftkvcommit"]))
        self.assertRegex(version["etcdserver"], r"^3\.\d+\.\d+$")
        # The cluster version is major.minor.0 of the lowest member's.
        self.assertEqual(version["etcdcluster"],
                         ".".join(version["etcdserver"].split(".")[:2]) + ".0")
        self.assertEqual(http(m.client_url + "/no-such-path")[0], 404)
        status, headers, _ = http(m.client_url + "/health", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET")
        # gRPC on the same port still.
        self.assertEqual(self.ok("get", "snap/00", "--print-value-only",
                                 endpoints=m.endpoint), "v" * 100 + "\n")

    def test_4_a_message_above_the_request_limit_is_refused_by_grpc_itself(self):
        import grpc
        from etcd3.etcdrpc import rpc_pb2 as pb, rpc_pb2_grpc as rpc
        # Both take 1.5 MiB requests (--max-request-bytes) and tell gRPC to refuse
        # messages above that plus 512 KiB.
        with grpc.insecure_channel(self.cluster.members[0].endpoint) as ch:
            with self.assertRaises(grpc.RpcError) as refused:
                rpc.KVStub(ch).Put(pb.PutRequest(key=b"huge", value=b"x" * (2560 * 1024)),
                                   timeout=10)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("larger than max", refused.exception.details().lower())

    def test_5_with_auth_on_only_root_may_take_a_snapshot(self):
        self.cluster.etcdctl_steps(*APP_AUTH_STEPS)
        code, out, path = self.save_snapshot("alice.db", user=ALICE)
        self.assertNotEqual(code, 0, out)
        # etcd 3.4 answers its auth layer's raw error (code Unknown, "auth: permission
        # denied"); raftkv answers as for every other refused admin call (PermissionDenied,
        # "etcdserver: permission denied").
        self.assertIn("auth: permission denied" if self.is_etcd
                      else "etcdserver: permission denied", out)
        self.assertFalse(os.path.exists(path))
        code, out, path = self.save_snapshot("root.db", user=ROOT)
        self.assertEqual(code, 0, out)
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(hashlib.sha256(data[:-32]).digest(), data[-32:])
        # The probes are open to anyone, auth or not.
        self.assertEqual(http(self.cluster.members[0].client_url + "/health")[0], 200)

    def test_6_health_turns_false_when_the_member_loses_its_quorum(self):
        survivor = self.cluster.members[0]
        for m in self.cluster.members[1:]:
            self.cluster.kill(m)

        def unhealthy():
            r = http(survivor.client_url + "/health")
            return r is not None and r[0] == 503
        wait_until(unhealthy, 30, 0.2, "/health on the client port to answer 503")
        status, headers, body = http(survivor.client_url + "/health")
        self.assertEqual(status, 503)
        self.assertEqual(json.loads(body)["health"], "false")


RaftkvEtcdCalls, Etcd34EtcdCalls = against_both(EtcdCallsBase, "EtcdCalls")


class AutoCompactionBase:
    def test_history_older_than_the_retention_is_compacted_by_the_member(self):
        with Cluster(1, binary=self.binary(),
                     extra_flags=["--auto-compaction-retention", "2s"]) as one:
            m = one.live()[0]
            ch = grpc.insecure_channel(m.endpoint)
            try:
                kv = rpc_pb2_grpc.KVStub(ch)
                put = rpc_pb2.PutRequest(key=b"a", value=b"first")
                wait_until(lambda: self._ok(lambda: kv.Put(put, timeout=5)), 30, 0.2,
                           "the member to take a write")
                first = kv.Put(put, timeout=5).header.revision

                def compacted():
                    kv.Put(rpc_pb2.PutRequest(key=b"b", value=b"x"), timeout=5)
                    try:
                        kv.Range(rpc_pb2.RangeRequest(key=b"a", revision=first), timeout=5)
                        return False
                    except grpc.RpcError as e:
                        if e.code() == grpc.StatusCode.OUT_OF_RANGE:
                            self.assertEqual(
                                e.details(), "etcdserver: mvcc: required revision has been compacted")
                            return True
                        raise
                # etcd: the first compaction 2 s after start, then every 2 s to the revision
                # of 2 s before.
                wait_until(compacted, 30, 0.2, "revision %d to be compacted" % first)
                now = kv.Range(rpc_pb2.RangeRequest(key=b"a"), timeout=5)
                self.assertEqual(now.kvs[0].value, b"first")
            finally:
                ch.close()

    def test_a_retention_it_cannot_read_stops_the_member_at_start(self):
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([self.binary(), "--data-dir", os.path.join(d, "m"),
                                "--auto-compaction-retention", "1d"],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertFalse(os.path.exists(os.path.join(d, "m")))
            if not self.is_etcd():
                errors = [json.loads(line).get("error", "") for line in p.stderr.splitlines()
                          if line.startswith("{")]
                self.assertTrue(any(e.startswith('--auto-compaction-retention "1d" is neither '
                                                 'a number of hours') for e in errors), p.stderr)

    @staticmethod
    def _ok(call):
        try:
            call()
            return True
        except grpc.RpcError:
            return False

    @classmethod
    def is_etcd(cls):
        return cls.binary() == ETCD


RaftkvAutoCompaction, Etcd34AutoCompaction = against_both(AutoCompactionBase, "AutoCompaction")


if __name__ == "__main__":
    unittest.main()
