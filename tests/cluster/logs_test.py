#!/usr/bin/python3
"""Structured logs of real raftkv processes: every line of every member's --log-outputs
file is a JSON object with etcd's keys and the member's name; one member logs that it
became leader of the first term in which any did, and no term has two; after the leader
is killed the survivors log the new leader; membership and timeout changes, a removed
member's stop and snapshots are logged; --log-level warn keeps info lines out; bad
--log-level and --log-outputs values exit 2 naming the flag.

Run: /usr/bin/python3 tests/cluster/logs_test.py [-v]   (RAFTKV_SERVER picks the binary)
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, wait_until, default_binary, free_port  # noqa: E402

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"debug", "info", "warn", "error"}


def server_binary():
    return os.environ.get("RAFTKV_SERVER") or default_binary()


def read_log(path):
    """The lines of a log file, each parsed (a line that is not one JSON object with
    the five fixed keys fails the test that reads it)."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for n, text in enumerate(f, 1):
            if not text.endswith("\n"):
                continue  # a line being written right now; read again later
            try:
                line = json.loads(text)
            except ValueError as e:
                raise AssertionError(f"{path}:{n} is not JSON ({e}): {text!r}")
            if not isinstance(line, dict):
                raise AssertionError(f"{path}:{n} is not an object: {text!r}")
            for key in ("level", "ts", "caller", "msg", "name"):
                if key not in line:
                    raise AssertionError(f"{path}:{n} has no {key!r}: {text!r}")
            if line["level"] not in LEVELS or not TS.match(line["ts"]):
                raise AssertionError(f"{path}:{n} has a bad level or ts: {text!r}")
            out.append(line)
    return out


class LogCluster(Cluster):
    """A Cluster whose members log to a file each, at `level`."""

    def __init__(self, level="info", **kw):
        super().__init__(**kw)
        self.level = level

    def json_log(self, m):
        return os.path.join(self.root, m.name + ".json.log")

    def _spawn(self, m, initial, state):
        saved = self.extra_flags
        self.extra_flags = saved + ["--log-outputs", self.json_log(m), "--log-level", self.level]
        try:
            super()._spawn(m, initial, state)
        finally:
            self.extra_flags = saved

    def lines(self, m):
        return read_log(self.json_log(m))


def with_msg(lines, msg):
    return [x for x in lines if x["msg"] == msg]


class ClusterLogTest(unittest.TestCase):
    def test_members_log_json_lines_one_leader_per_term_and_the_change_after_a_kill(self):
        with LogCluster(size=3) as c:
            # Every member has heard of a leader and said so.
            wait_until(lambda: all(with_msg(c.lines(m), "leader changed") for m in c.members),
                       20, 0.1, "every member to log a leader")
            ids = {}
            for m in c.members:
                lines = c.lines(m)
                self.assertTrue(all(x["name"] == m.name for x in lines), m.name)
                self.assertFalse([x for x in lines if x["level"] == "debug"], m.name)
                starting = with_msg(lines, "starting")
                self.assertEqual(len(starting), 1, m.name)
                identity = with_msg(lines, "member identity")
                self.assertEqual(len(identity), 1, m.name)
                ids[m.name] = identity[0]["member-id"]
                self.assertEqual(len(with_msg(lines, "serving client requests")), 1, m.name)
            self.assertEqual(len(set(ids.values())), 3, ids)

            def leaders_by_term():
                by_term = {}
                for m in c.members:
                    for x in with_msg(c.lines(m), "became leader"):
                        by_term.setdefault(x["term"], []).append(m.name)
                return by_term

            def check_one_leader_per_term():
                by_term = leaders_by_term()
                for term, names in by_term.items():
                    self.assertEqual(len(names), 1, f"two leaders logged in term {term}: {by_term}")
                return by_term

            self.assertTrue(check_one_leader_per_term(), "nobody logged becoming leader")
            # A loaded machine may hold another election while this reads: wait until the
            # leader etcdctl sees is the one the logs name, on every member, for its term.
            seen = {}

            def settled():
                old = c.leader()
                by_term = check_one_leader_per_term()
                if old is None or not by_term or by_term[max(by_term)] != [old.name]:
                    return False
                for m in c.members:
                    changes = with_msg(c.lines(m), "leader changed")
                    if not changes or changes[-1]["leader"] != ids[old.name] or \
                            changes[-1]["term"] != max(by_term):
                        return False
                seen.update(old=old, term=max(by_term))
                return True

            wait_until(settled, 20, 0.1, "the logs to agree with the leader etcdctl sees")
            old, old_term = seen["old"], seen["term"]
            c.kill(old)
            survivors = [m for m in c.members if m is not old]

            def new_leader():
                n = c.leader()
                return n if n is not None and n is not old else None

            wait_until(lambda: new_leader() is not None, 30, 0.1, "a new leader")
            new = new_leader()

            def logged_new_leader(m):
                return any(x["leader"] == ids[new.name] and x["term"] > old_term
                           for x in with_msg(c.lines(m), "leader changed"))

            wait_until(lambda: all(logged_new_leader(m) for m in survivors), 20, 0.1,
                       "the survivors to log the new leader")
            became = [x for x in with_msg(c.lines(new), "became leader") if x["term"] > old_term]
            self.assertTrue(became, "the new leader logged becoming leader")
            other = next(m for m in survivors if m is not new)
            self.assertFalse([x for x in with_msg(c.lines(other), "became leader")
                              if x["term"] >= became[-1]["term"]], "only one leader per term")
            for m in survivors:
                lines = c.lines(m)
                self.assertTrue(all(x["name"] == m.name for x in lines), m.name)
                # The change names the old leader as the previous one.
                self.assertTrue(any(x["previous-leader"] == ids[old.name] and
                                    x["leader"] == ids[new.name]
                                    for x in with_msg(lines, "leader changed")), m.name)


    def test_snapshots_are_logged_where_taken_sent_received_and_installed(self):
        import etcd3  # Debian's python3-etcd3
        duration = re.compile(r"^[0-9.]+(ns|\u00b5s|ms|s)$|^([0-9]+h)?([0-9]+m)?[0-9.]+s$")
        with LogCluster(size=3, extra_flags=["--snapshot-count", "40",
                                             "--experimental-snapshot-catchup-entries", "10"]) as c:
            leader = c.leader()
            follower = next(m for m in c.members if m is not leader)
            ids = {m.name: with_msg(c.lines(m), "member identity")[0]["member-id"]
                   for m in c.members}
            c.kill(follower)
            client = etcd3.client(host="127.0.0.1", port=leader.client_port, timeout=5)
            for i in range(200):  # far past a compaction: only a snapshot can help
                client.put(f"snap{i}", "y")
            taken = with_msg(c.lines(leader), "took snapshot")
            self.assertTrue(taken, "the leader took a snapshot")
            self.assertTrue(all(x["index"] > 0 and x["bytes"] > 0 and duration.match(x["took"])
                                and duration.match(x["cpu"]) and 0 <= x["extends"] < x["index"]
                                for x in taken), taken)
            # With no compaction between them, a snapshot extends the newest on disk when
            # it begins (an earlier one, or none, while the one before is being named).
            earlier = {0}
            for x in taken:
                self.assertIn(x["extends"], earlier, taken)
                earlier.add(x["index"])
            self.assertGreaterEqual(len(taken), 3, taken)
            self.assertTrue(any(x["extends"] > 0 for x in taken), taken)
            c.restart(follower)
            wait_until(lambda: with_msg(c.lines(follower), "installed snapshot"), 30, 0.1,
                       "the follower to install the leader's snapshot")
            wait_until(lambda: with_msg(c.lines(leader), "sent snapshot"), 10, 0.1,
                       "the leader to log the snapshot it sent")
            installed = with_msg(c.lines(follower), "installed snapshot")[-1]
            received = with_msg(c.lines(follower), "received snapshot")[-1]
            sent = [x for x in with_msg(c.lines(leader), "sent snapshot")
                    if x["index"] == installed["index"]]
            self.assertTrue(sent, "the leader sent the snapshot the follower installed")
            self.assertEqual(sent[-1]["peer"], ids[follower.name])
            self.assertEqual(received["peer"], ids[leader.name])
            self.assertEqual((received["index"], received["bytes"]),
                             (installed["index"], installed["bytes"]))
            self.assertEqual(sent[-1]["bytes"], installed["bytes"])
            self.assertTrue(duration.match(installed["took"]), installed)
            self.assertIn(installed["index"], {x["index"] for x in taken})


    def test_membership_changes_and_a_removed_members_stop_are_logged(self):
        with LogCluster(size=3) as c:
            leader = c.leader()
            n4, out = c.add_member("n4", learner=True)
            found = re.search(r"Member +([0-9a-f]+) added", out)  # etcdctl pads with %16x
            self.assertIsNotNone(found, out)
            n4_id = int(found.group(1), 16)
            n4_hex = f"{n4_id:016x}"

            def logged(m, msg):
                return [x for x in with_msg(c.lines(m), msg) if x["member-id"] == n4_hex]

            wait_until(lambda: logged(leader, "added learner"), 20, 0.1, "the learner logged")
            # Promoted once it has the log (raftkv, unlike etcd, does not refuse to promote a
            # learner that has not caught up): it then knows its own addition.
            wait_until(lambda: logged(n4, "added learner"), 20, 0.1, "n4 to catch up")
            # Ask the voters: a learner refuses Cluster calls (as etcd's does), and etcdctl
            # may pick any endpoint it is given.
            voters = c.endpoints([m for m in c.live() if m is not n4])
            code, _, err = c.etcdctl("member", "promote", f"{n4_id:x}", endpoints=voters)
            self.assertEqual(code, 0, err)
            wait_until(lambda: all(logged(m, "promoted learner") for m in c.members), 20, 0.1,
                       "every member, n4 too, to log the promotion")
            code, _, err = c.etcdctl("member", "remove", f"{n4_id:x}", endpoints=voters)
            self.assertEqual(code, 0, err)
            wait_until(lambda: all(logged(m, "removed member") for m in c.members if m is not n4),
                       20, 0.1, "every member to log the removal")
            wait_until(lambda: with_msg(c.lines(n4), "this member was removed from the cluster; "
                                                     "stopping"), 30, 0.1, "n4 to log its removal")
            wait_until(lambda: n4.proc.poll() is not None, 20, 0.1, "n4 to stop")
            for m in c.members:
                if m is not n4:
                    for msg in ("added learner", "promoted learner", "removed member"):
                        self.assertEqual(len(logged(m, msg)), 1, (m.name, msg))

    def test_new_timeouts_are_logged_by_every_member_once(self):
        ctl = os.path.join(os.path.dirname(server_binary()), "raftkvctl")
        with LogCluster(size=3) as c:
            p = subprocess.run([ctl, "--endpoints", c.endpoints(), "timeouts", "set",
                                "--heartbeat", "60", "--election-min", "600",
                                "--election-max", "1200"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)

            def changed(m):
                return [(x["heartbeat-ms"], x["election-min-ms"], x["election-max-ms"])
                        for x in with_msg(c.lines(m), "timeouts changed")]

            wait_until(lambda: all(changed(m) for m in c.members), 20, 0.1,
                       "every member to log the new timeouts")
            for m in c.members:
                self.assertEqual(changed(m), [(60, 600, 1200)], m.name)


def taken_port():
    """A socket listening on a free port, for a start that must fail on it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


class LevelTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="raftkv-logs-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def refused_start(self, level, taken="clients", extra=(), scheme="http"):
        """Starts raftkv on a taken client (or peer) port at `level`; returns the lines
        logged. A plaintext port is raftkv's own socket; gRPC binds a TLS one (`scheme`
        https for the taken port, with its files in `extra`)."""
        tag = f"{level}-{taken}-{scheme}"  # a data directory and log of its own
        path = os.path.join(self.dir, f"refused-{tag}.log")
        with taken_port() as s:
            busy = f"{scheme}://127.0.0.1:{s.getsockname()[1]}"
            free = f"http://127.0.0.1:{free_port()}"
            client, peer = (busy, free) if taken == "clients" else (free, busy)
            p = subprocess.run([server_binary(), "--name", "r1",
                                "--data-dir", os.path.join(self.dir, f"data-{tag}"),
                                "--listen-client-urls", client,
                                "--listen-peer-urls", peer,
                                "--log-outputs", path, "--log-level", level, *extra],
                               capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        # The log goes to a file only, so the reason is on stderr too.
        self.assertIn(f"cannot listen for {taken}", p.stderr)
        return read_log(path)

    def test_a_refused_start_is_logged_and_warn_keeps_the_info_lines_out(self):
        info = self.refused_start("info")
        self.assertEqual([x["msg"] for x in info if x["level"] == "info"],
                         ["starting", "member identity"], info)
        errors = [x for x in info if x["level"] == "error"]
        self.assertEqual(len(errors), 1, info)
        self.assertEqual(errors[0]["msg"], "refused to start")
        self.assertIn("cannot listen for clients", errors[0]["error"])
        self.assertIn("Address already in use", errors[0]["error"])
        self.assertEqual(errors[0]["name"], "r1")

        # The peer port, raftkv's own socket too: the same line.
        warn = self.refused_start("warn", taken="peers")
        self.assertEqual([(x["level"], x["msg"]) for x in warn], [("error", "refused to start")])
        self.assertIn("cannot listen for peers", warn[0]["error"])
        self.assertIn("Address already in use", warn[0]["error"])

        # A port gRPC binds itself (a TLS peer port), so that gRPC has its own word on it.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", "peer.key", "-out",
                        "peer.pem", "-days", "2", "-subj", "/CN=r1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       cwd=self.dir, check=True, capture_output=True, timeout=60)
        warn = self.refused_start("warn", taken="peers", scheme="https",
                                  extra=["--peer-cert-file", os.path.join(self.dir, "peer.pem"),
                                         "--peer-key-file", os.path.join(self.dir, "peer.key")])
        self.assertEqual([(x["level"], x["msg"]) for x in warn if x["caller"] != "grpc"],
                         [("error", "refused to start")])
        # gRPC's own word on it comes through raftkv's log too, as a warning.
        grpc = [x for x in warn if x["caller"] == "grpc"]
        self.assertTrue(all(x["level"] == "warn" for x in grpc), grpc)
        self.assertTrue([x for x in grpc if "Address already in use" in x["error"]], grpc)

    def test_a_member_at_warn_logs_no_info_line(self):
        with LogCluster(level="warn", size=1) as c:
            m = c.members[0]
            # Up with a leader, then stopped by SIGTERM: at info it would have logged its
            # start, election, leadership and stop (the test below).
            c.stop_all()
            lines = c.lines(m)
        self.assertFalse([x for x in lines if x["level"] in ("debug", "info")], lines)
        # Its peer port is plaintext: said at start, at warn.
        self.assertTrue([x for x in lines if x["level"] == "warn" and x["msg"].startswith(
            "peer traffic is plaintext and unauthenticated")], lines)

    def test_a_member_at_info_logs_its_start_election_and_stop(self):
        # The control for the test above: the same cluster at info does log those lines.
        with LogCluster(level="info", size=1) as c:
            m = c.members[0]
            wait_until(lambda: with_msg(c.lines(m), "became leader"), 20, 0.1, "leadership")
            c.stop_all()
            lines = c.lines(m)
        msgs = [x["msg"] for x in lines]
        for msg in ("starting", "serving client requests", "became leader",
                    "received signal, stopping", "stopped"):
            self.assertIn(msg, msgs)


class FlagTest(unittest.TestCase):
    def run_server(self, *args):
        return subprocess.run([server_binary(), *args], capture_output=True, text=True,
                              timeout=30)

    def test_bad_log_flags_exit_2_naming_the_flag_and_value(self):
        with tempfile.TemporaryDirectory() as d:
            cases = [
                (["--log-level", "bogus"], ["--log-level", '"bogus"']),
                (["--log-level", "INFO"], ["--log-level", '"INFO"']),
                (["--log-outputs", ","], ["--log-outputs"]),
                (["--log-outputs", os.path.join(d, "missing", "x.log")],
                 ["--log-outputs", os.path.join(d, "missing", "x.log")]),
                (["--log-outputs", d], ["--log-outputs", d]),
            ]
            for args, words in cases:
                with self.subTest(args=args):
                    p = self.run_server("--data-dir", os.path.join(d, "data"), *args)
                    self.assertEqual(p.returncode, 2, p.stderr)
                    for w in words:
                        self.assertIn(w, p.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "missing")))

    def test_the_config_file_sets_the_log_flags(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "raftkv.toml")
            with open(cfg, "w") as f:
                f.write('log-level = "bogus"\n')
            p = self.run_server("--config-file", cfg, "--data-dir", os.path.join(d, "data"))
            self.assertEqual(p.returncode, 2)
            self.assertIn("--log-level", p.stderr)
            self.assertIn('"bogus"', p.stderr)
            # A good value from the file takes effect: the refused start below (heartbeat
            # not below the election timeout) is logged to the file it names, not stderr.
            path = os.path.join(d, "from-file.log")
            with open(cfg, "w") as f:
                f.write(f'log-level = "error"\nlog-outputs = "{path}"\n')
            p = self.run_server("--config-file", cfg, "--data-dir", os.path.join(d, "data"),
                                "--heartbeat-interval", "100", "--election-timeout", "50")
            self.assertEqual(p.returncode, 2)
            lines = read_log(path)
            self.assertEqual([(x["level"], x["msg"]) for x in lines],
                             [("error", "refused to start")])
            self.assertIn("election timeout 50 ms", lines[0]["error"])


if __name__ == "__main__":
    unittest.main()
