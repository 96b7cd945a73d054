#!/usr/bin/python3
"""raftkvctl against a 3-node raftkv cluster: members, status (table and JSON), timeouts
through consensus, leadership transfer, put/get/del, and its errors and exit codes
(0 success, 1 refused or unreachable, 2 bad usage: etcdctl 3.4 exits 1 for an unknown
command and 128 for bad arguments, raftkvctl 2 for every usage error)."""
import json
import os
import re
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, wait_until  # noqa: E402

CLUSTER = None
CTL = os.path.join(os.path.dirname(os.environ.get("RAFTKV_SERVER") or
                                   os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                "..", "..", "build", "bin", "raftkv")),
                   "raftkvctl")


def setUpModule():
    global CLUSTER
    CLUSTER = Cluster(3).__enter__()
    # Members publish their client URLs through the log just after they start.
    wait_until(lambda: '"reachable":false' not in ctl("status", "-o", "json")[1], 20, 0.1,
               "every member to publish its client URL")


def tearDownModule():
    CLUSTER.__exit__(None, None, None)


def ctl(*args, endpoints=None):
    p = subprocess.run([CTL, "--endpoints", endpoints or CLUSTER.endpoints(), *args],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


class RaftkvctlTest(unittest.TestCase):
    def test_member_list_and_status_as_table_and_json(self):
        code, out, _ = ctl("member", "list")
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "NAME", "PEER", "URLS", "CLIENT", "URLS", "KIND"])
        self.assertEqual(sorted(l.split()[1] for l in lines[1:]), ["n1", "n2", "n3"])
        code, out, _ = ctl("status", "-o", "json")
        self.assertEqual(code, 0)
        rows = json.loads(out)
        self.assertEqual(len(rows), 3)
        self.assertEqual(sum(r["role"] == "leader" for r in rows), 1)
        self.assertTrue(all(r["reachable"] and r["lag"] >= 0 for r in rows))
        code, out, _ = ctl("status")
        self.assertEqual(out.splitlines()[0].split(),
                         ["ID", "NAME", "CLIENT", "PEER", "ROLE", "TERM", "COMMIT", "APPLIED",
                          "LAG"])

    def test_timeouts_change_everywhere_and_bad_ones_are_refused(self):
        code, out, err = ctl("timeouts", "set", "--heartbeat", "60", "--election-min", "600",
                             "--election-max", "1200")
        self.assertEqual((code, out), (0, "heartbeat 60 ms, election timeout [600, 1200] ms\n"),
                         err)
        for m in CLUSTER.members:
            wait_until(lambda: ctl("timeouts", "get", "-o", "json", endpoints=m.endpoint)[1] ==
                       '{"heartbeat_ms":60,"election_min_ms":600,"election_max_ms":1200}\n',
                       10, 0.1, f"{m.name} to apply the timeouts")
        # Values between ticks (10 ms) take effect rounded: the answer says what is in
        # force, and `timeouts get` on every member then says the same.
        code, out, err = ctl("timeouts", "set", "--heartbeat", "55", "--election-min", "301",
                             "--election-max", "607")
        self.assertEqual((code, out), (0, "heartbeat 60 ms, election timeout [300, 610] ms\n"),
                         err)
        for m in CLUSTER.members:
            wait_until(lambda: ctl("timeouts", "get", "-o", "json", endpoints=m.endpoint)[1] ==
                       '{"heartbeat_ms":60,"election_min_ms":300,"election_max_ms":610}\n',
                       10, 0.1, f"{m.name} to apply the rounded timeouts")
        code, _, err = ctl("timeouts", "set", "--heartbeat", "700", "--election-min", "600",
                           "--election-max", "1200")
        self.assertEqual(code, 1)
        self.assertIn("election timeout 600 ms must be at least 5 times the heartbeat interval "
                      "(700 ms)", err)
        # The refusal changed nothing, on any member.
        for m in CLUSTER.members:
            self.assertEqual(ctl("timeouts", "get", "-o", "json", endpoints=m.endpoint)[1],
                             '{"heartbeat_ms":60,"election_min_ms":300,"election_max_ms":610}\n')

    def test_leader_transfer_moves_leadership(self):
        rows = json.loads(ctl("status", "-o", "json")[1])
        target = next(r for r in rows if r["role"] != "leader")
        code, out, err = ctl("leader", "transfer", target["id"])
        self.assertEqual((code, out), (0, f"Leader is now {target['id']}\n"), err)
        rows = json.loads(ctl("status", "-o", "json")[1])
        self.assertEqual(next(r for r in rows if r["role"] == "leader")["id"], target["id"])

    def test_put_get_del(self):
        self.assertEqual(ctl("put", "ctl/a", "1")[1], "OK\n")
        self.assertEqual(ctl("put", "ctl/b", "2")[1], "OK\n")
        self.assertEqual(ctl("get", "ctl/a")[1], "ctl/a\n1\n")
        self.assertEqual(ctl("get", "ctl/", "--prefix")[1], "ctl/a\n1\nctl/b\n2\n")
        self.assertEqual(ctl("del", "ctl/", "--prefix")[1], "2\n")
        self.assertEqual(ctl("get", "ctl/a")[1], "")

    def test_errors_and_exit_codes(self):
        code, _, err = ctl("member", "remove", "zz")
        self.assertEqual(code, 2)
        self.assertIn('member ID "zz" is not a non-zero hexadecimal number', err)
        code, _, err = ctl("member", "promote", "1234")
        self.assertEqual(code, 1)
        self.assertIn("member not found", err)
        code, _, err = ctl("no-such-command")
        self.assertEqual(code, 2)
        code, _, err = ctl("get", "x", endpoints="127.0.0.1:1", )
        self.assertEqual(code, 1)
        self.assertIn("Error:", err)


    def test_an_unknown_command_is_named_and_nothing_runs(self):
        self.assertEqual(ctl("put", "probe/frob", "v")[0], 0)
        top = "member, leader, timeouts, status, limits, authz, health, put, get, del, version"
        for args, unknown, commands in [
                (["bogus"], "bogus", top),
                # A known command after an unknown word must not run as if it were not there.
                (["frob", "get"], "frob", top),
                (["frob", "get", "probe/frob"], "frob", top),
                (["-o", "json", "frob", "get", "probe/frob"], "frob", top),
                (["member", "bogus"], "member bogus", "list, add, remove, promote"),
                (["timeouts", "show"], "timeouts show", "get, set")]:
            code, out, err = ctl(*args)
            self.assertEqual((code, out), (2, ""), args)
            self.assertIn(f'raftkvctl: unknown command "{unknown}"\n', err)
            self.assertIn(f"Commands: {commands}\n", err)
        self.assertEqual(ctl("del", "probe/frob")[1], "1\n")

    def test_every_usage_error_exits_2_with_the_message_on_stderr(self):
        for args, message in [
                (["status", "--bogus"], "--bogus"),                       # unknown flag
                (["--bogus", "status"], "--bogus"),
                ([], "A subcommand is required"),                         # missing command
                (["member"], "A subcommand is required"),
                (["get"], "key is required"),                             # missing argument
                (["put", "k"], "value is required"),
                (["get", "a", "b"], "not expected: b"),                   # extra argument
                (["status", "extra"], "not expected: extra"),
                (["-o", "xml", "status"], "xml not in {table,json}"),     # bad value
                (["--timeout", "0", "status"], "--timeout"),
                (["timeouts", "set", "--heartbeat", "x", "--election-min", "600",
                  "--election-max", "1200"], "--heartbeat"),
                (["leader", "transfer", "xyz"], 'member ID "xyz" is not a non-zero hexadecimal')]:
            code, out, err = ctl(*args)
            self.assertEqual((code, out), (2, ""), args)
            self.assertIn(message, err, args)

    def test_help_exits_0(self):
        for args in (["--help"], ["member", "--help"], ["get", "--help"]):
            code, out, _ = ctl(*args)
            self.assertEqual(code, 0, args)
            self.assertIn("Usage:", out)

    def test_every_tool_and_the_server_say_their_version_and_commit(self):
        # The commit of the checkout the binaries were built from (12 digits, "-dirty"
        # when it had changes), or "unknown" outside git.
        repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        head = subprocess.run(["git", "-C", repo, "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True)
        bin_dir = os.path.dirname(CTL)
        answers = {}
        for tool, args in (("raftkvctl", ["version"]), ("raftkvctl", ["--version"]),
                           ("raftkv", ["--version"]), ("raftkv-bench", ["--version"])):
            p = subprocess.run([os.path.join(bin_dir, tool), *args], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual((p.returncode, p.stderr), (0, ""), (tool, args))
            m = re.fullmatch(tool + r" version: (\d+\.\d+\.\d+)\nGit SHA: (\S+)\n"
                             r"etcd API version: 3\.5\n", p.stdout)
            self.assertIsNotNone(m, (tool, args, p.stdout))
            if head.returncode == 0:
                self.assertRegex(m.group(2), "^" + head.stdout.strip() + "(-dirty)?$")
            answers[(tool, args[0])] = m.groups()
        self.assertEqual(len(set(answers.values())), 1, answers)
        version, commit = next(iter(answers.values()))
        # The server's /version: etcd's two fields and raftkv's own.
        with urllib.request.urlopen(CLUSTER.members[0].client_url + "/version",
                                    timeout=10) as r:
            self.assertEqual(json.loads(r.read()),
                             {"etcdserver": "3.5.0", "etcdcluster": "3.5.0", "raftkv": version,
                              "raftkvcommit": commit})


if __name__ == "__main__":
    unittest.main()
