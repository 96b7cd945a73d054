#!/usr/bin/python3
"""Metrics and health of a real 3-member raftkv cluster, checked with real tools:
promtool on every member's /metrics, a real Prometheus scraping the cluster, raftkvctl
health, and the behaviour the metrics must show (counters that rise with acknowledged
puts, the leader's lag gauge for a stopped follower, scores and reasons that name what is
wrong and recover when it heals).

Run with Debian's /usr/bin/python3. Every wait is bounded; every process is stopped by PID.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, free_port, wait_until  # noqa: E402
from cluster import metric_value as sample  # noqa: E402

CTL = os.path.join(os.path.dirname(os.environ.get("RAFTKV_SERVER") or
                                   os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                "..", "..", "build", "bin", "raftkv")),
                   "raftkvctl")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def scrape(m):
    with urllib.request.urlopen(m.metrics_url + "/metrics", timeout=5) as r:
        return r.read().decode()


def ctl(cluster, *args):
    p = subprocess.run([CTL, "--endpoints", cluster.endpoints(), *args], capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def health_rows(cluster):
    code, out, err = ctl(cluster, "health", "-o", "json")
    return code, {r["name"]: r for r in json.loads(out)} if out.strip() else {}


def member_id(text):
    m = re.search(r'etcd_server_id\{server_id="([0-9a-f]{16})"\} 1', text)
    return m.group(1)


def promtool_check(text):
    """promtool's exit status and output for a metrics text: 0 clean, 3 lint findings only
    (etcd's own /metrics has those: gauges named *_total), 1 a parse error."""
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def thread_policies(pid):
    """{scheduling policy: threads} of process `pid`."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            policy = os.sched_getscheduler(int(tid))
        except OSError:  # the thread ended meanwhile
            continue
        out[policy] = out.get(policy, 0) + 1
    return out


class ThreadPolicyTest(unittest.TestCase):
    """Every thread of a serving member runs as SCHED_BATCH (docs/architecture.md), unless
    --no-sched-batch; the threads started after the flags were read included."""

    def policies(self, extra):
        with Cluster(1, extra_flags=extra) as c:
            c.etcdctl("put", "k", "v")  # the gRPC and runtime threads are all up
            return thread_policies(c.members[0].proc.pid)

    def test_every_thread_runs_as_sched_batch(self):
        got = self.policies([])
        self.assertEqual(list(got), [os.SCHED_BATCH], got)
        self.assertGreater(got[os.SCHED_BATCH], 5)

    def test_no_sched_batch_leaves_the_default_policy(self):
        got = self.policies(["--no-sched-batch"])
        self.assertEqual(list(got), [os.SCHED_OTHER], got)


class PromtoolCheckTest(unittest.TestCase):
    def test_promtool_refuses_a_broken_exposition(self):
        # The checker below must be able to fail: a sample line with no value.
        code, out = promtool_check("# TYPE x counter\nx{a=\"b\"}\n")
        self.assertNotIn(code, (0, 3), out)


class ObservabilityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3).__enter__()
        # Members publish their client URLs through the log just after they start.
        wait_until(lambda: all(r.get("reachable") for r in health_rows(cls.cluster)[1].values())
                   and len(health_rows(cls.cluster)[1]) == 3, 20, 0.1,
                   "every member to publish its client URL")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def leader(self):
        m = self.cluster.leader()
        self.assertIsNotNone(m)
        return m

    def test_1_every_members_metrics_pass_promtool(self):
        for m in self.cluster.live():
            text = scrape(m)
            code, out = promtool_check(text)
            self.assertIn(code, (0, 3), f"{m.name}: {out}")
            self.assertNotIn("error while", out)
            for name in ["etcd_server_has_leader", "etcd_server_leader_changes_seen_total",
                         "etcd_disk_wal_fsync_duration_seconds_count",
                         "etcd_network_peer_sent_bytes_total", "grpc_server_started_total",
                         "process_resident_memory_bytes", "raftkv_health_score"]:
                self.assertIn("\n" + name, text, f"{m.name} lacks {name}")

    def test_2_acknowledged_puts_raise_the_counters_and_the_latency_histogram(self):
        leader = self.leader()
        before = scrape(leader)
        n = 25
        for i in range(n):
            code, _, err = self.cluster.etcdctl("put", f"obs/{i}", "v", endpoints=leader.endpoint)
            self.assertEqual(code, 0, err)
        after = scrape(leader)
        put = {"grpc_type": "unary", "grpc_service": "etcdserverpb.KV", "grpc_method": "Put"}
        for name, labels in [("etcd_server_proposals_committed_total", None),
                             ("etcd_server_proposals_applied_total", None),
                             ("etcd_mvcc_put_total", None),
                             ("grpc_server_handling_seconds_count", put),
                             ("grpc_server_handled_total", dict(put, grpc_code="OK"))]:
            self.assertGreaterEqual(sample(after, name, labels) - sample(before, name, labels), n,
                                    name)
        for name in ["grpc_server_started_total", "grpc_server_msg_received_total",
                     "grpc_server_msg_sent_total"]:
            self.assertEqual(sample(after, name, put) - sample(before, name, put), n, name)
        # Each put carries at least its key and value ("obs/N", "v"): 6 bytes or more.
        self.assertGreaterEqual(sample(after, "etcd_network_client_grpc_received_bytes_total") -
                                sample(before, "etcd_network_client_grpc_received_bytes_total"),
                                6 * n)
        self.assertGreater(sample(after, "etcd_disk_backend_commit_duration_seconds_count"),
                           sample(before, "etcd_disk_backend_commit_duration_seconds_count"))
        # Every member applied them and counted the puts.
        for m in self.cluster.live():
            wait_until(lambda: sample(scrape(m), "etcd_mvcc_put_total") >= n, 10, 0.1,
                       f"{m.name} to apply the puts")
        # The appends went on peer lanes, and every follower's acknowledgements came back
        # on its own (plaintext peers: lanes by default).
        self.assertGreaterEqual(sample(after, "raftkv_peer_lane_sent_messages_total") -
                                sample(before, "raftkv_peer_lane_sent_messages_total"), n)
        for m in self.cluster.live():
            self.assertGreater(sample(scrape(m), "raftkv_peer_lane_sent_messages_total"), 0,
                               m.name)

    def test_3_healthy_cluster_scores_100_with_no_reasons(self):
        wait_until(lambda: health_rows(self.cluster)[0] == 0, 30, 0.2, "every member at 100")
        code, rows = health_rows(self.cluster)
        for name, r in rows.items():
            self.assertEqual((r["score"], r["reasons"]), (100, []), name)
        for m in self.cluster.live():
            self.assertEqual(sample(scrape(m), "raftkv_health_score"), 100, m.name)
            # /health keeps etcd's answer; ?verbose adds the score and reasons to it.
            with urllib.request.urlopen(m.metrics_url + "/health", timeout=5) as r:
                self.assertEqual(json.loads(r.read()), {"health": "true", "reason": ""})
            with urllib.request.urlopen(m.metrics_url + "/health?verbose", timeout=5) as r:
                v = json.loads(r.read())
            self.assertEqual((v["health"], v["name"], v["score"], v["reasons"]),
                             ("true", m.name, 100, []))

    def test_4_a_stopped_follower_lags_is_named_by_the_leader_and_healing_restores_100(self):
        leader = self.leader()
        follower = next(m for m in self.cluster.live() if m is not leader)
        fid = member_id(scrape(follower))
        os.kill(follower.proc.pid, signal.SIGSTOP)
        try:
            for i in range(10):
                code, _, err = self.cluster.etcdctl("put", f"lag/{i}", "v",
                                                    endpoints=leader.endpoint)
                self.assertEqual(code, 0, err)
            text = scrape(leader)
            last = sample(text, "raftkv_raft_last_index")
            match = sample(text, "raftkv_peer_match_index", {"peer": fid})
            lag = sample(text, "raftkv_peer_lag_entries", {"peer": fid})
            self.assertEqual(lag, last - match)
            self.assertGreaterEqual(lag, 10)
            def leader_names_it():
                code, rows = health_rows(self.cluster)
                r = rows.get(leader.name, {})
                return code == 1 and any(fid in x["detail"] and x["input"] == "peer"
                                         for x in r.get("reasons", []))
            wait_until(leader_names_it, 15, 0.2, "the leader to name the stopped follower")
            code, rows = health_rows(self.cluster)
            self.assertLess(rows[leader.name]["score"], 100)
            with urllib.request.urlopen(leader.metrics_url + "/health?verbose", timeout=5) as r:
                v = json.loads(r.read())
            self.assertTrue(any(x["input"] == "peer" and fid in x["detail"] and x["penalty"] > 0
                                for x in v["reasons"]), v)
            self.assertFalse(rows[follower.name]["reachable"])
            # The table form names it too, and exits 1.
            code, out, _ = ctl(self.cluster, "health")
            self.assertEqual(code, 1)
            self.assertIn(f"peer {fid} unreachable", out)
        finally:
            os.kill(follower.proc.pid, signal.SIGCONT)
        wait_until(lambda: health_rows(self.cluster)[0] == 0, 40, 0.2,
                   "every member back at 100 after healing")
        self.assertEqual(sample(scrape(leader), "raftkv_peer_lag_entries", {"peer": fid}), 0)

    def test_5_prometheus_scrapes_the_cluster_and_sees_a_leader_change(self):
        port = free_port()
        root = tempfile.mkdtemp(prefix="raftkv-prom-")
        targets = ", ".join(f'"127.0.0.1:{m.metrics_port}"' for m in self.cluster.members)
        with open(os.path.join(root, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: raftkv\n"
                    f"    static_configs:\n      - targets: [{targets}]\n")
        log = open(os.path.join(root, "prometheus.log"), "w")
        prom = subprocess.Popen([PROMETHEUS, "--config.file", os.path.join(root, "prometheus.yml"),
                                 "--storage.tsdb.path", os.path.join(root, "tsdb"),
                                 "--web.listen-address", f"127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def query(q):
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    res = json.loads(r.read())["data"]["result"]
                    return float(res[0]["value"][1]) if res else None
            except OSError:
                return None
        try:
            wait_until(lambda: query("sum(etcd_server_has_leader)") == 3, 60, 0.5,
                       "Prometheus to see three members with a leader")
            before = query("sum(etcd_server_leader_changes_seen_total)")
            self.cluster.kill(self.leader())
            wait_until(lambda: (query("sum(etcd_server_leader_changes_seen_total)") or 0) > before,
                       60, 0.5, "Prometheus to see the leader change")
            # The killed member's target is down: Prometheus sees two of three up.
            wait_until(lambda: query('sum(up{job="raftkv"})') == 2, 30, 0.5,
                       "Prometheus to see the killed member down")
        finally:
            os.kill(prom.pid, signal.SIGTERM)
            try:
                prom.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(prom.pid, signal.SIGKILL)
                prom.wait(timeout=10)
            log.close()
            shutil.rmtree(root, ignore_errors=True)

    def test_6_no_leader_scores_at_most_50_and_health_answers_503(self):
        # After test 5 one member is dead; stopping a second leaves no quorum.
        live = self.cluster.live()
        self.assertEqual(len(live), 2)
        os.kill(live[0].proc.pid, signal.SIGSTOP)
        try:
            survivor = live[1]
            wait_until(lambda: (self.cluster.health(survivor) or (0,))[0] == 503, 20, 0.2,
                       "the survivor's /health to answer 503")
            wait_until(lambda: sample(scrape(survivor), "raftkv_health_score") <= 50, 20, 0.2,
                       "the survivor's score to fall to 50 or below")
            text = scrape(survivor)
            self.assertGreaterEqual(
                sample(text, "raftkv_health_penalty", {"input": "leader"}) +
                sample(text, "raftkv_health_penalty", {"input": "quorum"}), 50, text)
        finally:
            os.kill(live[0].proc.pid, signal.SIGCONT)


if __name__ == "__main__":
    unittest.main()
