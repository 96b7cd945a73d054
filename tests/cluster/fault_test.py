#!/usr/bin/python3
"""Faults on real raftkv processes: the leader SIGKILLed under write load, followers
catching up from the log and from a snapshot, membership changes under load, the whole
cluster restarted, and bad flags refused. Every acknowledged write must survive.

Run: /usr/bin/python3 tests/cluster/fault_test.py [-v]   (RAFTKV_SERVER picks the binary)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, wait_until, default_binary, free_port  # noqa: E402

import etcd3  # noqa: E402  Debian's python3-etcd3


class Writers:
    """Threads that put unique keys, rotating endpoints on errors; remembers what was
    acknowledged."""

    def __init__(self, cluster, prefix, threads=4):
        self.cluster = cluster
        self.prefix = prefix
        self.acked = set()
        self.errors = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True)
                        for t in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        return False

    def run(self, t):
        i = 0
        turn = t
        while not self.stop.is_set() and i < 100000:
            live = self.cluster.live()
            if not live:
                time.sleep(0.05)
                continue
            m = live[turn % len(live)]
            key = f"{self.prefix}{t}-{i}"
            try:
                client = etcd3.client(host="127.0.0.1", port=m.client_port, timeout=3)
                client.put(key, "v")
                with self.lock:
                    self.acked.add(key)
                i += 1
            except Exception:  # noqa: BLE001  a failed write is simply not acknowledged
                with self.lock:
                    self.errors += 1
                i += 1
                turn += 1
                time.sleep(0.02)

    def count(self):
        with self.lock:
            return len(self.acked)


def keys_on(cluster, m, prefix):
    """Every key with `prefix` on member m, read locally (serializable)."""
    code, out, err = cluster.etcdctl("get", prefix, "--prefix", "--keys-only",
                                     "--consistency=s", endpoints=m.endpoint, timeout=30)
    if code != 0:
        raise AssertionError(f"get on {m.name} failed: {err}")
    return {line for line in out.splitlines() if line}


def applied(cluster, m):
    st = cluster.status(m)
    return st[2] if st else -1


class FaultTest(unittest.TestCase):
    def assert_everywhere(self, cluster, prefix, acked, members=None):
        members = members or cluster.live()
        # Followers apply shortly after the leader: wait until every member has them.
        for m in members:
            wait_until(lambda: acked <= keys_on(cluster, m, prefix), 30, 0.2,
                       f"{m.name} to hold every acknowledged key")

    def test_leader_killed_under_load_loses_no_acknowledged_write(self):
        with Cluster(3) as c:
            old = c.leader()
            with Writers(c, "fail") as w:
                wait_until(lambda: w.count() >= 50, 20, 0.05, "writes before the kill")
                c.kill(old, signal.SIGKILL)
                wait_until(lambda: c.leader() not in (None, old), 20, 0.1, "a new leader")
                # The survivors' /health (--listen-metrics-urls) says so, as etcd's does
                # (etcd 3.5 and raftkv add a "reason", empty when healthy).
                for m in c.live():
                    wait_until(lambda: (h := c.health(m)) is not None and h[0] == 200 and
                               h[1]["health"] == "true" and not h[1].get("reason"),
                               20, 0.1, f"{m.name}'s /health")
                before = w.count()
                wait_until(lambda: w.count() >= before + 50, 20, 0.05, "writes after the kill")
            c.restart(old)
            c.wait_ready(c.members)
            self.assertGreater(len(w.acked), 100)
            self.assert_everywhere(c, "fail", w.acked)

    def test_restarted_followers_catch_up_from_the_log_and_from_a_snapshot(self):
        # The log keeps 10 entries behind each snapshot: 200 writes outrun them.
        with Cluster(3, extra_flags=["--snapshot-count", "40",
                                     "--experimental-snapshot-catchup-entries", "10"]) as c:
            leader = c.leader()
            follower = next(m for m in c.members if m is not leader)
            c.kill(follower)
            acked = set()
            for i in range(15):  # fewer than the snapshot interval: from the log
                code, _, err = c.etcdctl("put", f"log{i}", "x")
                self.assertEqual(code, 0, err)
                acked.add(f"log{i}")
            c.restart(follower)
            self.assert_everywhere(c, "log", acked, [follower])
            c.kill(follower)
            client = etcd3.client(host="127.0.0.1", port=leader.client_port, timeout=5)
            for i in range(200):  # far past a compaction: only a snapshot can help
                client.put(f"snap{i}", "y")
                acked.add(f"snap{i}")
            snaps = os.listdir(os.path.join(leader.data_dir, "snap"))
            self.assertTrue(any(s.endswith(".snap") for s in snaps), snaps)
            c.restart(follower)
            self.assert_everywhere(c, "snap", {k for k in acked if k.startswith("snap")},
                                   [follower])
            self.assert_everywhere(c, "log", {k for k in acked if k.startswith("log")},
                                   [follower])
            follower_snaps = os.listdir(os.path.join(follower.data_dir, "snap"))
            self.assertTrue(any(s.endswith(".snap") for s in follower_snaps), follower_snaps)

    def test_with_a_small_request_limit_followers_still_catch_up(self):
        # The peer ports share the client ports' gRPC receive limit (max-request-bytes plus
        # 512 KiB, here 532 KiB): every append, frame and snapshot chunk a member sends
        # must fit it. 19 KB values, 30 of them behind a stopped follower from the log (a
        # 1 MiB append would not fit), then 100 past a compaction from a ~2 MB snapshot
        # (a 1 MiB chunk would not fit).
        value = "v" * 19000
        with Cluster(3, extra_flags=["--max-request-bytes", "20000", "--snapshot-count", "40",
                                     "--experimental-snapshot-catchup-entries", "10"]) as c:
            leader = c.leader()
            follower = next(m for m in c.members if m is not leader)
            client = etcd3.client(host="127.0.0.1", port=leader.client_port, timeout=10)
            c.kill(follower)
            acked = set()
            for i in range(30):
                client.put(f"biglog{i}", value)
                acked.add(f"biglog{i}")
            c.restart(follower)
            self.assert_everywhere(c, "biglog", acked, [follower])
            c.kill(follower)
            for i in range(100):
                client.put(f"bigsnap{i}", value)
                acked.add(f"bigsnap{i}")
            c.restart(follower)
            self.assert_everywhere(c, "bigsnap", {k for k in acked if k.startswith("bigsnap")},
                                   [follower])
            follower_snaps = os.listdir(os.path.join(follower.data_dir, "snap"))
            self.assertTrue(any(s.endswith(".snap") for s in follower_snaps), follower_snaps)

    def test_learner_added_promoted_and_original_member_removed_under_load(self):
        with Cluster(3) as c:
            with Writers(c, "mem", threads=2) as w:
                wait_until(lambda: w.count() >= 20, 20, 0.05, "writes")
                n4, out = c.add_member("n4", learner=True)
                self.assertIn('ETCD_INITIAL_CLUSTER_STATE="existing"', out)
                wait_until(lambda: c.status(n4) is not None, 20, 0.1, "n4 to answer")
                # It publishes its name and client URL through the log once it runs.
                # A learner refuses every call but Status and serializable reads (as
                # etcd's do), and etcdctl does not retry those on another endpoint.
                founders = c.endpoints([m for m in c.members[:3] if m in c.live()])
                wait_until(lambda: ", n4, " in c.etcdctl("member", "list",
                                                         endpoints=founders)[1], 20, 0.1,
                           "n4 to publish its name")
                n4_id = format(c.member_id(n4), "x")
                code, out, err = c.etcdctl("member", "promote", n4_id, endpoints=founders)
                self.assertEqual(code, 0, err)
                self.assertIn("promoted", out)
                leader = c.leader()  # remove a follower: the case that must be told
                first = next(m for m in c.members[:3] if m is not leader)
                first_id = format(c.member_id(first), "x")
                code, out, err = c.etcdctl("member", "remove", first_id)
                self.assertEqual(code, 0, err)
                # A removed member stops by itself, as etcd's do: a leader once it
                # applies its removal, a follower (which the leader stops replicating
                # to) when its peers refuse its stream as a removed member's.
                wait_until(lambda: first.proc.poll() is not None, 30, 0.1,
                           "the removed member to stop by itself")
                self.assertEqual(first.proc.returncode, 0)
                with open(first.log_path) as f:
                    self.assertIn("this member was removed from the cluster", f.read())
                c.kill(first, signal.SIGTERM)
                before = w.count()
                wait_until(lambda: w.count() >= before + 20, 20, 0.05, "writes after the change")
            code, out, _ = c.etcdctl("member", "list")
            self.assertNotIn(f" {first.name},", out)
            self.assertIn("n4", out)
            self.assert_everywhere(c, "mem", w.acked)

    def test_a_member_restarted_while_the_leader_is_stopped_elects_with_the_other(self):
        # Issue 19's stall: a restarted member opens its peer streams afresh. The one to a
        # leader stopped (SIGSTOP) just after the restart never opens, and it used to be
        # opened under the lock that every send to that peer takes, from the thread that
        # makes entries durable: the member could neither vote nor answer votes until the
        # leader came back, and the two running members committed nothing. Before the fix
        # three rounds in four stalled; the fix is checked over three rounds.
        with Cluster(3) as c:
            c.etcdctl_steps(("put", "before", "1"))
            for round in range(3):
                leader = c.leader()
                self.assertIsNotNone(leader)
                restarted, other = [m for m in c.members if m is not leader]
                c.kill(restarted)
                c.restart(restarted)
                wait_until(lambda: c.status(restarted) is not None, 20, 0.05,
                           f"round {round}: the restarted member to answer")
                os.kill(leader.proc.pid, signal.SIGSTOP)
                try:
                    two = c.endpoints([restarted, other])
                    wait_until(lambda: c.etcdctl("put", f"after{round}", "2", endpoints=two,
                                                 timeout=10)[0] == 0,
                               12, 0.2, f"round {round}: a write committed by the two running "
                               "members while the leader is stopped")
                    wait_until(lambda: c.etcdctl("get", f"after{round}", "--print-value-only",
                                                 endpoints=restarted.endpoint)[1].strip() == "2",
                               20, 0.2, f"round {round}: the restarted member to serve it")
                finally:
                    os.kill(leader.proc.pid, signal.SIGCONT)
                c.wait_ready(c.members)
            self.assertEqual(c.etcdctl("get", "before", "--print-value-only",
                                       endpoints=leader.endpoint)[1].strip(), "1")

    def test_followers_of_a_killed_leader_elect_without_waiting_out_the_timeout(self):
        # Issue 19's fast failover, with an election timeout of 10 s: when the leader's
        # process dies its connections close, and the followers campaign after a pause of
        # at most a heartbeat instead of 10 to 20 s. A stopped (SIGSTOP) leader closes
        # nothing: it is deposed no faster than before, here not within 3 s.
        with Cluster(3, heartbeat_ms=100, election_ms=10000) as c:
            c.etcdctl_steps(("put", "before", "1"))
            leader = c.leader()
            self.assertIsNotNone(leader)
            others = [m for m in c.members if m is not leader]
            term = c.status(others[0])[1]
            os.kill(leader.proc.pid, signal.SIGSTOP)
            try:
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    for m in others:
                        st = c.status(m)
                        self.assertTrue(st is None or st[1] == term,
                                        f"{m.name} moved to term {st and st[1]} while the "
                                        "leader was only stopped")
                    time.sleep(0.2)  # the polling rate of a window that must stay quiet
            finally:
                os.kill(leader.proc.pid, signal.SIGCONT)
            c.kill(leader)
            two = c.endpoints(others)

            def put_committed():
                # A put still waiting after 2 s (a split vote) is not yet a commit: try again.
                try:
                    return c.etcdctl("put", "after", "2", endpoints=two, timeout=2)[0] == 0
                except subprocess.TimeoutExpired:
                    return False
            wait_until(put_committed, 8, 0.1, "a write committed by the two others within 8 s "
                       "(the election timeout is 10 s)")
            for m in others:
                with open(m.log_path) as f:
                    self.assertIn("the leader's connection closed", f.read(), m.name)

    def test_a_write_handed_to_a_stopped_leader_goes_to_the_next_and_applies_once(self):
        # Issue 19: a follower hands a write to its leader, which is stopped (SIGSTOP) with
        # the write unread. Once the two others elect a new leader and the follower applies
        # an entry of the new term, the write is known to be in no log that can commit, and
        # the follower sends it to the new leader. It used to wait for the request's
        # deadline (30 s here, beyond etcdctl's 15 s). When the old leader wakes, it reads
        # the write and appends it in its old term: that copy never commits.
        with Cluster(3, heartbeat_ms=50, election_ms=2000,
                     extra_flags=["--request-timeout-ms", "30000"]) as c:
            c.etcdctl_steps(("put", "before", "1"))
            leader = c.leader()
            self.assertIsNotNone(leader)
            follower = next(m for m in c.members if m is not leader)
            lost = "raftkv_writes_lost_with_leader_total"
            self.assertEqual(follower.metric(lost), 0)
            os.kill(leader.proc.pid, signal.SIGSTOP)
            try:
                # Sent at once: the follower still takes the stopped process for its
                # leader (it is deposed after 2 to 4 s).
                rc, out, err = c.etcdctl("put", "handed", "v", "--command-timeout=15s",
                                         endpoints=follower.endpoint, timeout=30)
                self.assertEqual(rc, 0, f"the write failed: {out} {err}")
                self.assertGreaterEqual(follower.metric(lost), 1,
                                        "the write was not lost with the stopped leader")
            finally:
                os.kill(leader.proc.pid, signal.SIGCONT)
            c.wait_ready(c.members)
            rc, _, _ = c.etcdctl("put", "after", "2", endpoints=leader.endpoint)
            self.assertEqual(rc, 0)
            for m in c.members:
                wait_until(lambda: c.etcdctl("get", "after", "--print-value-only",
                                             "--consistency=s", endpoints=m.endpoint)[1].strip()
                           == "2", 20, 0.1, f"{m.name} to apply the write after")
                rc, out, _ = c.etcdctl("get", "handed", "-w", "json", "--consistency=s",
                                       endpoints=m.endpoint)
                kvs = json.loads(out)["kvs"]
                self.assertEqual([kv["version"] for kv in kvs], [1],
                                 f"{m.name}: the handed write applied once")

    def test_whole_cluster_stopped_and_restarted_keeps_its_data(self):
        with Cluster(3) as c:
            for i in range(30):
                code, _, err = c.etcdctl("put", f"keep{i}", str(i))
                self.assertEqual(code, 0, err)
            for m in c.members:
                c.kill(m, signal.SIGTERM)
            for m in c.members:
                c.restart(m)
            c.wait_ready(c.members)
            code, out, err = c.etcdctl("get", "keep29")
            self.assertEqual((code, out), (0, "keep29\n29\n"), err)
            self.assert_everywhere(c, "keep", {f"keep{i}" for i in range(30)})


def run_etcdctl(endpoint, *args):
    p = subprocess.run(["etcdctl", "--endpoints", endpoint, "--dial-timeout=2s", *args],
                       capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, ETCDCTL_API="3"))
    return p.returncode, p.stdout, p.stderr


class IdentityTest(unittest.TestCase):
    """Issue 17: member ids are fresh at each MemberAdd and kept in the data directory;
    a joining member learns its id from a peer, or stops when it cannot."""

    def ids(self, c):
        # Asked of a founding voter: a learner that has just joined may answer before it
        # has applied the configuration (an empty list once seen under ASan; see the
        # 2026-12-05 closing note).
        code, out, err = c.etcdctl("member", "list", "-w", "json",
                                   endpoints=c.members[0].endpoint)
        self.assertEqual(code, 0, err)
        return {m["ID"]: m.get("peerURLs", []) for m in json.loads(out)["members"]}

    def test_a_member_added_again_gets_a_new_id_and_its_old_data_cannot_rejoin(self):
        with Cluster(3) as c:
            n4, _ = c.add_member("n4", learner=True)
            c.wait_ready([n4])
            old_id = c.member_id(n4)
            self.assertIn(old_id, self.ids(c))
            # A restart keeps the id the cluster gave it (kept in its data directory).
            c.kill(n4, signal.SIGTERM)
            c.restart(n4)
            c.wait_ready([n4])
            self.assertEqual(c.member_id(n4), old_id)
            # Removed, then added again with the same peer URL: a new member, a new id.
            c.kill(n4, signal.SIGTERM)
            code, _, err = c.etcdctl("member", "remove", "%x" % old_id)
            self.assertEqual(code, 0, err)
            code, out, err = c.etcdctl("member", "add", "n4", "--learner",
                                       "--peer-urls=" + n4.peer_url)
            self.assertEqual(code, 0, err)
            ids = self.ids(c)
            self.assertNotIn(old_id, ids)
            new_ids = [i for i, urls in ids.items() if n4.peer_url in urls]
            self.assertEqual(len(new_ids), 1, ids)
            self.assertNotEqual(new_ids[0], old_id)
            # The old data directory still says the old id: its peers refuse a removed
            # member, and it stops rather than rejoin.
            c.restart(n4)
            n4.proc.wait(timeout=30)
            with open(n4.log_path) as f:
                self.assertIn("member %016x was removed" % old_id, f.read())
            self.assertEqual(set(self.ids(c)), set(ids))

    def test_joining_with_no_reachable_peer_stops_with_etcds_words(self):
        peer, client, gone = free_port(), free_port(), free_port()
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run(
                [os.environ.get("RAFTKV_SERVER") or default_binary(), "--name", "n2",
                 "--data-dir", os.path.join(d, "data"),
                 "--listen-client-urls", f"http://127.0.0.1:{client}",
                 "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-cluster",
                 f"n1=http://127.0.0.1:{gone},n2=http://127.0.0.1:{peer}",
                 "--initial-cluster-state", "existing"],
                capture_output=True, text=True, timeout=60)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(f"cannot fetch cluster info from peer urls (http://127.0.0.1:{gone}: ",
                          p.stderr)

    def test_clusters_with_the_same_token_have_different_ids(self):
        with Cluster(1, token="etcd-cluster") as a, Cluster(1, token="etcd-cluster") as b:
            def cluster_id(c):
                code, out, err = c.etcdctl("endpoint", "status", "-w", "json")
                self.assertEqual(code, 0, err)
                return json.loads(out)[0]["Status"]["header"]["cluster_id"]
            self.assertNotEqual(cluster_id(a), cluster_id(b))


class FlagTest(unittest.TestCase):
    def run_server(self, *args, timeout=10):
        return subprocess.run([os.environ.get("RAFTKV_SERVER") or default_binary(), *args],
                              capture_output=True, text=True, timeout=timeout)

    def test_bad_flags_stop_the_start_with_a_message_naming_them(self):
        cases = [
            (["--heartbeat-interval", "100", "--election-timeout", "100"],
             "election timeout 100 ms must be at least 5 times the heartbeat interval (100 ms)"),
            (["--listen-client-urls", "127.0.0.1:2379"],
             '--listen-client-urls: URL "127.0.0.1:2379": the scheme must be http:// or https://'),
            # Issue 17's careless-user cases: every URL goes through one strict parser.
            (["--listen-client-urls", "http://my host:2379"],
             '--listen-client-urls: URL "http://my host:2379": host "my host" is not an IPv4 '
             'address, a bracketed IPv6 address or a DNS name'),
            (["--listen-client-urls", "http://::1:2379"],
             "an IPv6 host must be in brackets"),
            (["--advertise-client-urls", "http://127.0.0.1:0"],
             '--advertise-client-urls: URL "http://127.0.0.1:0": port "0" is not a number in '
             '[1, 65535]'),
            (["--listen-peer-urls", "http://127.0.0.1:0"],
             "--listen-peer-urls http://127.0.0.1:0 asks for any free port: give the URL peers "
             "dial in --initial-advertise-peer-urls"),
            (["--initial-cluster", "default=http://u:p@127.0.0.1:2380"],
             'member default: URL "http://u:p@127.0.0.1:2380": user info is not allowed'),
            (["--initial-cluster", "default=http://bad_host:2380"], 'host "bad_host"'),
            (["--initial-cluster", "default=http://127.0.0.1:2380,b=http://127.0.0.1:2381",
              "--max-voters", "1"], "--initial-cluster: 2 members, more than --max-voters (1)"),
            (["--max-voters", "0"], "--max-voters 0 is out of range [1, 99]"),
            (["--max-learners", "100"], "--max-learners 100 is out of range [0, 99]"),
            (["--peer-allowed-networks", "10.0.0.0/8"],
             "member default: peer URL http://127.0.0.1:2380 is outside the allowed networks "
             "(10.0.0.0/8)"),
            (["--peer-allowed-networks", "10.0.0.1/8"], "has host bits set below its prefix"),
            (["--max-request-bytes", "4294443108"],
             "--max-request-bytes 4294443108 is out of range [1, 2146959359]"),
            (["--max-request-bytes", "0"], "--max-request-bytes 0 is out of range"),
            (["--max-inflight-appends", "0"], "--max-inflight-appends 0 is out of range [1, 4096]"),
            (["--max-inflight-appends", "4097"],
             "--max-inflight-appends 4097 is out of range [1, 4096]"),
            (["--snapshot-count", "-1"], "--snapshot-count: value -1 must not be negative"),
            (["--snapshot-log-percent", "1001"],
             "--snapshot-log-percent 1001 is out of range [0, 1000]"),
            (["--heartbeat-interval", "100", "--election-timeout", "200"],
             "election timeout 200 ms must be at least 5 times the heartbeat interval (100 ms)"),
            (["--initial-cluster", "a=http://127.0.0.1:1", "--name", "b"],
             "--initial-cluster does not name this member (--name b)"),
            (["--initial-cluster-state", "maybe"], "--initial-cluster-state"),
            (["--listen-metrics-urls", "127.0.0.1:9"],
             '--listen-metrics-urls: URL "127.0.0.1:9": the scheme must be http:// or https://'),
            (["--no-such-flag"], "no-such-flag"),
            # etcd's TLS flags raftkv does not support yet are known, and refused.
            (["--cipher-suites", "TLS_AES_128_GCM_SHA256"],
             "--cipher-suites: unknown or unsupported cipher suite"),
            (["--tls-min-version", "TLS1.1"], "--tls-min-version TLS1.1: must be TLS1.2 or TLS1.3"),
            (["--tls-max-version", "TLS1.2"], "--tls-max-version TLS1.2: only TLS1.3"),
            (["--client-crl-file", "/tmp/crl.pem"], "--client-crl-file: not supported yet"),
            (["--peer-auto-tls"], "--peer-auto-tls: not supported yet"),
            (["--listen-metrics-urls", "https://127.0.0.1:2381"],
             "--listen-metrics-urls https://127.0.0.1:2381: https needs --cert-file and "
             "--key-file"),
            (["--listen-peer-urls", "https://127.0.0.1:2380"],
             "--listen-peer-urls https://127.0.0.1:2380: https needs --peer-cert-file and "
             "--peer-key-file"),
            (["--auth-token", "jwt,pub-key=/nonexistent/a.pem,sign-method=RS256"],
             "--auth-token pub-key=/nonexistent/a.pem: No such file or directory"),
            (["--auth-token", "jwt,pub-key=a.pem,sign-method=HS256"], "--auth-token: "),
            (["--auth-token", "bogus"], "--auth-token bogus: must be simple or jwt"),
            (["--auth-token-ttl", "0"], "--auth-token-ttl must be above 0"),
            (["--bcrypt-cost", "3"], "--bcrypt-cost 3 is out of range [4, 31]"),
            (["--bcrypt-cost", "32"], "--bcrypt-cost 32 is out of range [4, 31]"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                p = self.run_server(*args)
                self.assertNotEqual(p.returncode, 0)
                # The refusal is a JSON log line: its quotes are escaped.
                self.assertIn(message, (p.stderr + p.stdout).replace('\\"', '"'))

    def test_a_bad_authorization_policy_stops_the_start_naming_file_and_line(self):
        here = os.path.dirname(os.path.abspath(__file__))
        model = os.path.join(here, "..", "..", "config", "authz", "model.conf")
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "policy.csv")
            with open(bad, "w") as f:
                f.write("p, cluster_viewer, cluster, view_status, allow\ng, alice\n")
            for args, message in [
                    (["--authz-model-file", model, "--authz-policy-file", bad], bad + ":2:"),
                    (["--authz-model-file", model], "--authz-model-file and --authz-policy-file "
                                                    "go together"),
                    (["--authz-model-file", d, "--authz-policy-file", bad],
                     f"--authz-model-file {d}: is a directory")]:
                with self.subTest(args=args):
                    p = self.run_server(*args, "--data-dir", os.path.join(d, "data"))
                    self.assertEqual(p.returncode, 2, p.stderr)
                    self.assertIn(message, p.stderr + p.stdout)
                    self.assertFalse(os.path.exists(os.path.join(d, "data")))

    def test_a_port_already_taken_stops_the_start_naming_it(self):
        client, peer = free_port(), free_port()
        with tempfile.TemporaryDirectory() as d:
            p = self.run_server("--data-dir", os.path.join(d, "data"),
                                "--listen-client-urls", f"http://127.0.0.1:{client}",
                                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                                "--initial-cluster", f"default=http://127.0.0.1:{peer}",
                                "--listen-metrics-urls", f"http://127.0.0.1:{client}")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"cannot listen for metrics on 127.0.0.1:{client}", p.stderr)

    def test_a_client_listener_on_port_zero_advertises_the_port_it_got(self):
        peer = free_port()
        with tempfile.TemporaryDirectory() as d:
            proc = subprocess.Popen(
                [os.environ.get("RAFTKV_SERVER") or default_binary(),
                 "--data-dir", os.path.join(d, "data"),
                 "--listen-client-urls", "http://127.0.0.1:0",
                 "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-cluster", f"default=http://127.0.0.1:{peer}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                port = None
                deadline = time.monotonic() + 20
                while port is None and time.monotonic() < deadline:
                    line = proc.stderr.readline()
                    if not line:
                        break
                    if '"msg":"serving client requests"' in line:
                        port = json.loads(line)["port"]
                self.assertIsNotNone(port, "the member never said which port it serves")
                self.assertNotEqual(port, 0)
                out = ""
                for _ in range(100):
                    code, out, _ = run_etcdctl(f"127.0.0.1:{port}", "member", "list")
                    if code == 0 and f"http://127.0.0.1:{port}" in out:
                        break
                    time.sleep(0.1)
                self.assertIn(f"http://127.0.0.1:{port}", out)
                self.assertNotIn("127.0.0.1:0", out)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
                proc.stderr.close()

    def test_a_toml_config_file_sets_flags_and_the_command_line_wins(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "raftkv.toml")
            with open(cfg, "w") as f:
                f.write('name = "fromfile"\nheartbeat-interval = 100\nelection-timeout = 50\n')
            p = self.run_server("--config-file", cfg, "--data-dir", os.path.join(d, "data"))
            self.assertEqual(p.returncode, 2)
            self.assertIn("election timeout 50 ms must be at least 5 times the heartbeat", p.stderr)
            with open(cfg, "w") as f:
                f.write('bogus-key = 1\n')
            p = self.run_server("--config-file", cfg)
            self.assertIn('unknown key "bogus-key"', p.stderr)
            # A repeatable flag takes an array; every element is read (the second is bad).
            with open(cfg, "w") as f:
                f.write('limits-client = ["id:a:max_concurrent=2", "id:b:speed=3"]\n')
            p = self.run_server("--config-file", cfg, "--data-dir", os.path.join(d, "data"))
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn('--limits-client: unknown limit \\"speed\\"', p.stderr)
            with open(cfg, "w") as f:
                f.write('name = ["a", "b"]\n')
            p = self.run_server("--config-file", cfg)
            self.assertIn('key "name" takes one value, not an array', p.stderr)
            # Issue 17: nothing is converted silently, and a key that is not a setting or a
            # file that is not a file is refused, naming it; nothing is started.
            for text, message in [
                    ('name = true\n', 'key "name" takes a string, not a boolean'),
                    ('heartbeat-interval = "100"\n',
                     'key "heartbeat-interval" takes an integer, not a string'),
                    ('limits-trust-client-id = 1\n',
                     'key "limits-trust-client-id" takes a boolean (true or false), not an '
                     'integer'),
                    ('snapshot-count = -1\n',
                     'key "snapshot-count": --snapshot-count: value -1 must not be negative'),
                    ('help = true\n', 'unknown key "help"'),
                    ('config-file = "other.toml"\n', 'unknown key "config-file"')]:
                with self.subTest(toml=text):
                    with open(cfg, "w") as f:
                        f.write(text)
                    p = self.run_server("--config-file", cfg,
                                        "--data-dir", os.path.join(d, "data"))
                    self.assertEqual(p.returncode, 2, p.stderr)
                    self.assertIn(f"config file {cfg}: {message}", p.stderr)
                    self.assertFalse(os.path.exists(os.path.join(d, "data")))
            p = self.run_server("--config-file", d)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(f"config file {d}: is a directory", p.stderr)


if __name__ == "__main__":
    unittest.main()
