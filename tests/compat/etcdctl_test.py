#!/usr/bin/python3
"""Debian's real etcdctl (3.4) against a 3-node cluster of raftkv processes: each test
runs etcdctl commands and asserts what they print, exactly where the output is stable.

Run: /usr/bin/python3 tests/compat/etcdctl_test.py [-v]
RAFTKV_SERVER picks the server binary (default build/bin/raftkv; /usr/bin/etcd works
too, which is how these expectations were checked against etcd itself).
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import Cluster, wait_until  # noqa: E402

CLUSTER = None


def setUpModule():
    global CLUSTER
    CLUSTER = Cluster(3).__enter__()


def tearDownModule():
    CLUSTER.__exit__(None, None, None)


def ctl(*args, stdin=None, endpoints=None, timeout=20):
    # The three founding members: etcd refuses client calls on a learner.
    founders = CLUSTER.endpoints([m for m in CLUSTER.members[:3] if m in CLUSTER.live()])
    return CLUSTER.etcdctl(*args, stdin=stdin, endpoints=endpoints or founders,
                           timeout=timeout)


class EtcdctlTest(unittest.TestCase):
    def ok(self, *args, stdin=None, endpoints=None, timeout=20):
        code, out, err = ctl(*args, stdin=stdin, endpoints=endpoints, timeout=timeout)
        self.assertEqual(code, 0, f"etcdctl {' '.join(args)}: {err}")
        return out

    def fails(self, *args):
        code, out, err = ctl(*args)
        self.assertNotEqual(code, 0, out)
        return err

    def test_put_and_get_with_every_range_option(self):
        for k in ["get/a", "get/b", "get/c", "get/d"]:
            self.assertEqual(self.ok("put", k, "v" + k[-1]), "OK\n")
        self.assertEqual(self.ok("get", "get/b"), "get/b\nvb\n")
        self.assertEqual(self.ok("get", "get/", "--prefix", "--keys-only"),
                         "get/a\n\nget/b\n\nget/c\n\nget/d\n\n")
        self.assertEqual(self.ok("get", "get/c", "--from-key", "--keys-only"),
                         "get/c\n\nget/d\n\n")
        self.assertEqual(self.ok("get", "get/", "--prefix", "--limit=2"),
                         "get/a\nva\nget/b\nvb\n")
        self.assertEqual(self.ok("get", "get/", "--prefix", "--keys-only", "--sort-by=KEY",
                                 "--order=DESCEND"), "get/d\n\nget/c\n\nget/b\n\nget/a\n\n")
        out = json.loads(self.ok("get", "get/a", "-w", "json"))
        for field in ("cluster_id", "member_id", "revision", "raft_term"):
            self.assertIn(field, out["header"])
        self.assertEqual(out["count"], 1)
        kv = out["kvs"][0]
        self.assertEqual(kv["version"], 1)
        self.assertEqual(kv["create_revision"], kv["mod_revision"])
        # A read at an older revision sees the older value.
        rev = out["header"]["revision"]
        self.ok("put", "get/a", "changed")
        self.assertEqual(self.ok("get", "get/a", f"--rev={kv['mod_revision']}"), "get/a\nva\n")
        self.assertEqual(self.ok("get", "get/a"), "get/a\nchanged\n")
        self.assertIn("required revision is a future revision",
                      self.fails("get", "get/a", f"--rev={rev + 1000}"))
        # Serializable reads are answered by the member itself.
        self.assertEqual(self.ok("get", "get/a", "--consistency=s"), "get/a\nchanged\n")

    def test_del_with_prefix_and_prev_kv(self):
        for k in ["del/a", "del/b", "del/c"]:
            self.ok("put", k, "x")
        self.assertEqual(self.ok("del", "del/a", "--prev-kv"), "1\ndel/a\nx\n")
        self.assertEqual(self.ok("del", "del/", "--prefix"), "2\n")
        self.assertEqual(self.ok("del", "del/", "--prefix"), "0\n")

    def test_txn_success_and_failure_branches(self):
        self.ok("put", "txn/k", "1")
        script = 'value("txn/k") = "1"\n\nput txn/k 2\nput txn/other x\n\nget txn/k\n\n'
        self.assertEqual(self.ok("txn", stdin=script), "SUCCESS\n\nOK\n\nOK\n")
        out = self.ok("txn", stdin=script)  # now txn/k is 2: the failure branch runs
        self.assertEqual(out, "FAILURE\n\ntxn/k\n2\n")
        script = 'version("txn/none") = "0"\n\nput txn/created yes\n\n\n'
        self.assertEqual(self.ok("txn", stdin=script), "SUCCESS\n\nOK\n")
        self.assertEqual(self.ok("get", "txn/created"), "txn/created\nyes\n")

    def test_watch_from_a_revision_with_prev_kv(self):
        first = json.loads(self.ok("put", "watch/k", "a", "-w", "json"))["header"]["revision"]
        self.ok("put", "watch/k", "b")
        self.ok("del", "watch/k")
        env = dict(os.environ, ETCDCTL_API="3")
        proc = subprocess.Popen(["etcdctl", "--endpoints=" + CLUSTER.endpoints(), "watch",
                                 "watch/k", f"--rev={first}", "--prev-kv"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        try:
            time.sleep(0.5)
            self.ok("put", "watch/k", "c")
            expected = ["PUT", "watch/k", "a",
                        "PUT", "watch/k", "a", "watch/k", "b",
                        "DELETE", "watch/k", "b", "watch/k", "",
                        "PUT", "watch/k", "c"]
            lines = []
            reader = threading.Thread(
                target=lambda: [lines.append(l.rstrip("\n")) for l in proc.stdout], daemon=True)
            reader.start()
            wait_until(lambda: len(lines) >= len(expected), 10, 0.05, "the watch's events")
            self.assertEqual(lines[:len(expected)], expected)
        finally:
            proc.kill()
            proc.wait(timeout=10)

    def test_lease_grant_keepalive_timetolive_and_revoke_deletes_attached_keys(self):
        out = self.ok("lease", "grant", "60")
        m = re.fullmatch(r"lease ([0-9a-f]+) granted with TTL\(60s\)\n", out)
        self.assertIsNotNone(m, out)
        lease = m.group(1)
        self.assertEqual(self.ok("put", "lease/k", "v", f"--lease={lease}"), "OK\n")
        self.assertRegex(self.ok("lease", "keep-alive", "--once", lease),
                         rf"^lease {lease} keepalived with TTL\(60\)\n$")
        self.assertRegex(self.ok("lease", "timetolive", lease, "--keys"),
                         rf"^lease {lease} granted with TTL\(60s\), remaining\(\d+s\), "
                         r"attached keys\(\[lease/k\]\)\n$")
        self.assertIn(lease, self.ok("lease", "list"))
        self.assertEqual(self.ok("lease", "revoke", lease), f"lease {lease} revoked\n")
        self.assertEqual(self.ok("get", "lease/k"), "")
        self.assertEqual(self.ok("lease", "timetolive", lease), f"lease {lease} already expired\n")
        self.assertIn("requested lease not found", self.fails("lease", "revoke", lease))

    def test_member_list_and_endpoint_status_and_health_with_cluster(self):
        out = self.ok("member", "list")
        self.assertEqual(len(out.splitlines()), 3)
        for m in CLUSTER.members[:3]:
            self.assertRegex(out, rf"[0-9a-f]+, started, {m.name}, {m.peer_url}, "
                                  rf"{m.client_url}, false")
        ml = json.loads(self.ok("member", "list", "-w", "json"))
        self.assertEqual(len(ml["members"]), 3)
        self.assertIn("cluster_id", ml["header"])
        out = self.ok("endpoint", "status", "--cluster")
        self.assertEqual(len(out.splitlines()), 3)
        self.assertEqual(sum(", true, false, " in line for line in out.splitlines()), 1, out)
        code, out, err = ctl("endpoint", "health", "--cluster")
        self.assertEqual(code, 0, err)
        # etcdctl 3.4 prints health to stderr.
        self.assertEqual(len(re.findall(r"is healthy: successfully committed proposal", err)), 3,
                         err)
        table = self.ok("endpoint", "status", "-w", "table")
        self.assertIn("IS LEADER", table)

    def test_move_leader_and_alarm_list_and_compaction(self):
        status = json.loads(self.ok("endpoint", "status", "-w", "json"))
        leader = status[0]["Status"]["leader"]
        other = next(s["Status"]["header"]["member_id"] for s in status
                     if s["Status"]["header"]["member_id"] != leader)
        out = self.ok("move-leader", format(other, "x"))
        self.assertEqual(out, f"Leadership transferred from {leader:x} to {other:x}\n")
        self.assertEqual(self.ok("alarm", "list"), "")
        rev = json.loads(self.ok("put", "compact/k", "1", "-w", "json"))["header"]["revision"]
        self.ok("put", "compact/k", "2")
        self.assertEqual(self.ok("compaction", str(rev + 1)), f"compacted revision {rev + 1}\n")
        self.assertIn("required revision has been compacted",
                      self.fails("get", "compact/k", f"--rev={rev}"))
        self.assertIn("required revision has been compacted",
                      self.fails("compaction", str(rev)))

    def test_member_add_learner_promote_and_remove_with_a_real_fourth_process(self):
        n4, out = CLUSTER.add_member("n4", learner=True)
        self.assertRegex(out, r"^Member +[0-9a-f]+ added to cluster +[0-9a-f]+\n")
        self.assertIn('ETCD_NAME="n4"', out)
        self.assertIn(f'ETCD_INITIAL_ADVERTISE_PEER_URLS="{n4.peer_url}"', out)
        wait_until(lambda: ", n4, " in ctl("member", "list")[1], 30, 0.1, "n4 to start")
        line = next(l for l in ctl("member", "list")[1].splitlines() if ", n4, " in l)
        self.assertTrue(line.endswith(", true"), line)  # a learner
        # etcd's rule: a learner serves Status and serializable reads, nothing else.
        # Until n4 applies its own addition it forwards writes like any member, so a
        # probe may land: the key sorts before every range the other tests read, and
        # is deleted below.
        n4_ep = CLUSTER.endpoints([n4])
        wait_until(lambda: "rpc not supported for learner" in
                   ctl("put", "at/learner", "v", endpoints=n4_ep)[2], 30, 0.2,
                   "n4 to refuse a write as a learner")
        self.assertIn("rpc not supported for learner",
                      ctl("get", "at/learner", endpoints=n4_ep)[2])  # linearizable
        self.ok("get", "at/learner", "--consistency=s", endpoints=n4_ep)
        self.ok("del", "at/learner")
        status = self.ok("endpoint", "status", endpoints=n4_ep)
        self.assertRegex(status, rf"^{n4.endpoint}, [0-9a-f]+, [^,]+, [^,]+, false, true, ")
        n4_id = line.split(",")[0]
        for _ in range(40):  # etcd promotes only a learner in sync with the leader
            code, out, err = ctl("member", "promote", n4_id)
            if code == 0 or "in sync" not in err:
                break
            time.sleep(0.5)
        self.assertRegex(out, rf"^Member +{n4_id} promoted in cluster +[0-9a-f]+\n$")
        self.assertIn("can only promote a learner member", self.fails("member", "promote", n4_id))
        self.assertRegex(self.ok("member", "remove", n4_id),
                         rf"^Member +{n4_id} removed from cluster +[0-9a-f]+\n$")
        CLUSTER.kill(n4)
        CLUSTER.members.remove(n4)
        self.assertIn("member not found", self.fails("member", "remove", n4_id))
        self.assertEqual(len(ctl("member", "list")[1].splitlines()), 3)

    def test_hashkv_agrees_across_members_and_defrag_and_member_update_answer(self):
        self.ok("put", "at/hash", "v")  # sorts before the keys other tests range over
        out = self.ok("endpoint", "hashkv", "--cluster")
        hashes = {line.split(", ")[1] for line in out.splitlines()}
        self.assertEqual(len(out.splitlines()), 3, out)
        self.assertEqual(len(hashes), 1, out)  # every replica holds the same data
        self.assertRegex(self.ok("defrag"), r"^Finished defragmenting etcd member\[")
        m = CLUSTER.members[2]
        line = next(l for l in self.ok("member", "list").splitlines() if f", {m.name}, " in l)
        mid = line.split(",")[0]
        # The same URL again: the member stays reachable; the call must answer as etcd's.
        self.assertRegex(self.ok("member", "update", mid, f"--peer-urls={m.peer_url}"),
                         rf"^Member +{mid} updated in cluster +[0-9a-f]+\n$")

    def test_errors_are_etcds(self):
        self.assertIn("key is not provided", self.fails("put", "", "v"))
        taken = CLUSTER.members[0].peer_url
        err = ""
        for _ in range(40):  # etcd answers "unhealthy cluster" for its first 5 s
            err = self.fails("member", "add", "x", f"--peer-urls={taken}")
            if "unhealthy cluster" not in err:
                break
            time.sleep(0.5)
        self.assertIn("Peer URLs already exists", err)

    @unittest.skipUnless(os.environ.get("RAFTKV_SLOW") == "1", "60 s; set RAFTKV_SLOW=1")
    def test_check_perf_small_load(self):
        # 60 s of load plus setup and cleanup: well past the default 20 s.
        out = self.ok("check", "perf", "--load=s", timeout=180)
        self.assertIn("PASS: Throughput is", out)


if __name__ == "__main__":
    unittest.main()
