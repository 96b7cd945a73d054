#!/usr/bin/python3
"""etcd's authentication through Debian's etcdctl 3.4, against raftkv and against etcd 3.4
itself with the same commands (so the expected output and errors are etcd's): users and
roles, `auth enable` (etcdctl's own root-role loop included), key-range permissions
(prefix and from-key), refusals with etcd's exact messages, admin calls kept to root,
a revoked role taking effect on every member, and `auth disable` as root.

raftkv only (etcd 3.4 does not do these): an open watch ends when its user loses READ on
its range, and a write admitted before its permission was revoked is refused when
applied (etcd's auth-revision rule, which etcd applies too but a test cannot time there).

Run: /usr/bin/python3 tests/compat/auth_test.py [-v]   (RAFTKV_SERVER picks the binary)
"""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import APP_AUTH_STEPS, Cluster, against_both, wait_until  # noqa: E402

ROOT = "root:rootpw"
ALICE = "alice:alicepw"  # role app: READWRITE on prefix app/
BOB = "bob:bobpw"  # role reader: READ on every key from cfg/ on


class AuthBase:
    """One 3-member cluster per class; the tests run in the order of their numbers, each
    building on the state the one before left (auth is cluster-wide)."""

    @classmethod
    def server_flags(cls):
        return []

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, binary=cls.binary(), extra_flags=cls.server_flags()).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def ctl(self, *args, user=None, endpoints=None):
        flags = ["--user=" + user] if user else []
        return self.cluster.etcdctl(*flags, *args, endpoints=endpoints)

    def ok(self, *args, user=None, endpoints=None):
        code, out, err = self.ctl(*args, user=user, endpoints=endpoints)
        self.assertEqual(code, 0, f"etcdctl {' '.join(args)} as {user}: {err}")
        return out

    def refused(self, message, *args, user=None, endpoints=None):
        code, out, err = self.ctl(*args, user=user, endpoints=endpoints)
        self.assertNotEqual(code, 0, f"etcdctl {' '.join(args)} as {user} answered {out!r}")
        self.assertIn(message, err)

    def test_1_users_roles_and_their_errors_before_auth_is_on(self):
        self.refused("etcdserver: root user does not exist", "auth", "enable")
        self.assertEqual(self.ok("user", "add", ROOT), "User root created\n")
        self.assertEqual(self.ok("user", "add", ALICE), "User alice created\n")
        self.assertEqual(self.ok("user", "add", BOB), "User bob created\n")
        self.refused("etcdserver: user name already exists", "user", "add", "alice:x")
        self.assertEqual(self.ok("role", "add", "app"), "Role app created\n")
        self.assertEqual(self.ok("role", "add", "reader"), "Role reader created\n")
        self.refused("etcdserver: role name already exists", "role", "add", "app")
        self.assertEqual(self.ok("role", "grant-permission", "app", "readwrite", "app/",
                                 "--prefix"), "Role app updated\n")
        self.assertEqual(self.ok("role", "grant-permission", "reader", "read", "cfg/",
                                 "--from-key"), "Role reader updated\n")
        self.assertEqual(self.ok("user", "grant-role", "alice", "app"),
                         "Role app is granted to user alice\n")
        self.assertEqual(self.ok("user", "grant-role", "bob", "reader"),
                         "Role reader is granted to user bob\n")
        self.refused("etcdserver: role name not found", "user", "grant-role", "alice", "nope")
        self.refused("etcdserver: user name not found", "user", "grant-role", "nobody", "app")
        self.refused("etcdserver: role is not granted to the user", "user", "revoke-role",
                     "alice", "reader")
        self.refused("etcdserver: role name not found", "role", "get", "nope")
        self.refused("etcdserver: user name not found", "user", "get", "nobody")
        self.assertEqual(self.ok("user", "list"), "alice\nbob\nroot\n")
        self.assertEqual(self.ok("role", "list"), "app\nreader\n")
        self.assertEqual(self.ok("user", "get", "alice"), "User: alice\nRoles: app\n")
        self.assertEqual(self.ok("role", "get", "app"),
                         "Role app\nKV Read:\n\t[app/, app0) (prefix app/)\n"
                         "KV Write:\n\t[app/, app0) (prefix app/)\n")
        self.assertEqual(self.ok("role", "get", "reader"),
                         "Role reader\nKV Read:\n\t[cfg/, <open ended>\nKV Write:\n")
        self.ok("put", "app/x", "1")
        self.ok("put", "cfg/a", "2")
        self.ok("put", "other", "3")

    def test_2_auth_enable_makes_the_root_role_and_asks_every_request_for_a_user(self):
        # etcdctl adds role root and grants it to user root when enable says it lacks it.
        self.assertEqual(self.ok("auth", "enable"), "Authentication Enabled\n")
        self.refused("etcdserver: user name is empty", "get", "app/x")
        self.refused("etcdserver: user name is empty", "put", "app/x", "2")
        self.refused("etcdserver: authentication failed, invalid user ID or password",
                     "get", "app/x", user="alice:wrong")
        self.refused("etcdserver: authentication failed, invalid user ID or password",
                     "get", "app/x", user="nobody:pw")
        self.assertEqual(self.ok("get", "other", user=ROOT), "other\n3\n")
        self.assertEqual(self.ok("role", "list", user=ROOT), "app\nreader\nroot\n")
        self.assertEqual(self.ok("user", "get", "root", user=ROOT), "User: root\nRoles: root\n")

    def test_3_a_user_reads_and_writes_only_within_its_grants(self):
        self.assertEqual(self.ok("put", "app/y", "alice", user=ALICE), "OK\n")
        self.assertEqual(self.ok("get", "app/", "--prefix", user=ALICE),
                         "app/x\n1\napp/y\nalice\n")
        self.refused("etcdserver: permission denied", "put", "other", "x", user=ALICE)
        self.refused("etcdserver: permission denied", "get", "other", user=ALICE)
        self.refused("etcdserver: permission denied", "get", "app", "--prefix", user=ALICE)
        self.refused("etcdserver: permission denied", "del", "app/", "--from-key", user=ALICE)
        # Every key a transaction compares or touches, in both branches.
        code, out, err = self.cluster.etcdctl(
            "--user=" + ALICE, "txn", stdin='value("other") = "3"\n\nput app/z 1\n\n\n')
        self.assertNotEqual(code, 0, out)
        self.assertIn("etcdserver: permission denied", err)
        code, out, err = self.cluster.etcdctl(
            "--user=" + ALICE, "txn", stdin='value("app/x") = "1"\n\nput app/z 1\n\nput other 9\n\n')
        self.assertNotEqual(code, 0, out)
        self.assertIn("etcdserver: permission denied", err)
        code, out, _ = self.cluster.etcdctl(
            "--user=" + ALICE, "txn", stdin='value("app/x") = "1"\n\nput app/z 1\n\n\n')
        self.assertEqual((code, out), (0, "SUCCESS\n\nOK\n"))
        # bob reads every key from cfg/ on, and writes none.
        self.assertEqual(self.ok("get", "cfg/a", user=BOB), "cfg/a\n2\n")
        self.assertEqual(self.ok("get", "cfg/", "--from-key", "--keys-only", user=BOB),
                         "cfg/a\n\nother\n\n")
        self.refused("etcdserver: permission denied", "put", "cfg/a", "x", user=BOB)
        self.refused("etcdserver: permission denied", "get", "app/x", user=BOB)
        self.assertEqual(self.ok("get", "other", user=ROOT), "other\n3\n")  # nothing changed

    def test_4_admin_calls_are_roots(self):
        members = json.loads(self.ok("member", "list", "-w", "json", user=ALICE))["members"]
        self.assertEqual(len(members), 3)
        victim = "%x" % members[-1]["ID"]
        self.refused("etcdserver: permission denied", "member", "remove", victim, user=ALICE)
        self.refused("etcdserver: permission denied", "member", "add", "n9",
                     "--peer-urls=http://127.0.0.1:1", user=BOB)
        self.refused("etcdserver: permission denied", "user", "list", user=ALICE)
        self.refused("etcdserver: permission denied", "role", "list", user=ALICE)
        self.refused("etcdserver: permission denied", "user", "add", "eve:x", user=ALICE)
        self.refused("etcdserver: permission denied", "user", "get", "bob", user=ALICE)
        self.refused("etcdserver: permission denied", "role", "get", "reader", user=ALICE)
        self.refused("etcdserver: permission denied", "auth", "disable", user=ALICE)
        # etcd 3.4 answers defrag's refusal as "auth: permission denied", code Unknown.
        code, out, err = self.ctl("defrag", user=ALICE)
        self.assertNotEqual(code, 0, out)
        self.assertIn("permission denied", err)
        # A user reads itself and the roles it holds.
        self.assertEqual(self.ok("user", "get", "alice", user=ALICE), "User: alice\nRoles: app\n")
        self.assertIn("Role app\n", self.ok("role", "get", "app", user=ALICE))
        # Nothing the refusals asked for happened.
        after = json.loads(self.ok("member", "list", "-w", "json", user=ROOT))["members"]
        self.assertEqual(sorted(m["ID"] for m in after), sorted(m["ID"] for m in members))
        self.assertEqual(self.ok("user", "list", user=ROOT), "alice\nbob\nroot\n")

    def test_5_a_revoked_role_is_refused_on_every_member(self):
        self.ok("put", "app/before", "1", user=ALICE)
        self.assertEqual(self.ok("user", "revoke-role", "alice", "app", user=ROOT),
                         "Role app is revoked from user alice\n")
        for m in self.cluster.members:
            # Each member applies the change at its own pace: within a bounded wait.
            wait_until(lambda: self.ctl("put", "app/after", "1", user=ALICE,
                                        endpoints=m.endpoint)[0] != 0,
                       timeout=10, what=f"{m.name} refusing alice's put")
            self.refused("etcdserver: permission denied", "get", "app/x", user=ALICE,
                         endpoints=m.endpoint)
        self.assertEqual(self.ok("get", "app/after", user=ROOT), "")
        self.ok("user", "grant-role", "alice", "app", user=ROOT)
        self.assertEqual(self.ok("put", "app/again", "1", user=ALICE), "OK\n")

    def test_6_password_change_and_user_delete(self):
        code, out, err = self.cluster.etcdctl("--user=" + ROOT, "user", "passwd", "bob",
                                              "--interactive=false", stdin="newbobpw\n")
        self.assertEqual((code, out), (0, "Password updated\n"), err)
        self.refused("etcdserver: authentication failed, invalid user ID or password",
                     "get", "cfg/a", user=BOB)
        self.assertEqual(self.ok("get", "cfg/a", user="bob:newbobpw"), "cfg/a\n2\n")
        self.refused("etcdserver: invalid auth management", "user", "delete", "root", user=ROOT)
        self.assertEqual(self.ok("user", "delete", "bob", user=ROOT), "User bob deleted\n")
        self.refused("etcdserver: authentication failed, invalid user ID or password",
                     "get", "cfg/a", user="bob:newbobpw")

    def test_7_auth_disable_as_root_opens_everything_again(self):
        self.assertEqual(self.ok("auth", "disable", user=ROOT), "Authentication Disabled\n")
        self.assertEqual(self.ok("get", "other"), "other\n3\n")
        self.assertEqual(self.ok("put", "other", "4"), "OK\n")
        self.assertEqual(self.ok("user", "list"), "alice\nroot\n")


RaftkvAuth, Etcd34Auth = against_both(AuthBase, "Auth")

KEYS = None  # an RSA key pair for the JWT runs, made by `openssl` in setUpModule


def setUpModule():
    global KEYS
    KEYS = tempfile.mkdtemp(prefix="raftkv-jwt-")
    for args in (["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                  "jwt.key"], ["pkey", "-in", "jwt.key", "-pubout", "-out", "jwt.pub"]):
        subprocess.run(["openssl", *args], cwd=KEYS, check=True, capture_output=True, timeout=60)


def tearDownModule():
    shutil.rmtree(KEYS, ignore_errors=True)


class JwtAuthBase(AuthBase):
    """The same suite with etcd's JWT tokens (RS256) instead of simple tokens."""

    @classmethod
    def server_flags(cls):
        return ["--auth-token", f"jwt,pub-key={KEYS}/jwt.pub,priv-key={KEYS}/jwt.key,"
                                "sign-method=RS256"]


RaftkvJwtAuth, Etcd34JwtAuth = against_both(JwtAuthBase, "JwtAuth")


class RaftkvAuthRevocation(unittest.TestCase):
    """What raftkv adds to etcd 3.4: a revoked permission ends the watches that relied
    on it."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3).__enter__()
        cls.cluster.etcdctl_steps(*APP_AUTH_STEPS)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def test_authenticate_ignores_a_stale_token_it_is_sent(self):
        # A client replaces its expired token by authenticating again, with the old one
        # still in its metadata (clientv3's per-RPC credentials): that must not refuse it.
        import grpc
        from etcd3.etcdrpc import rpc_pb2 as pb, rpc_pb2_grpc as rpc
        with grpc.insecure_channel(self.cluster.members[0].endpoint) as ch:
            stale = [("token", "NoSuchTokenAtAll.42")]
            with self.assertRaises(grpc.RpcError) as refused:
                rpc.KVStub(ch).Range(pb.RangeRequest(key=b"app/k"), metadata=stale, timeout=10)
            self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
            self.assertEqual(refused.exception.details(), "etcdserver: invalid auth token")
            token = rpc.AuthStub(ch).Authenticate(
                pb.AuthenticateRequest(name="root", password="rootpw"), metadata=stale,
                timeout=10).token
            self.assertTrue(token)
            rpc.KVStub(ch).Range(pb.RangeRequest(key=b"app/k"), metadata=[("token", token)],
                                 timeout=10)

    def test_a_watch_ends_when_its_user_loses_read_on_its_range(self):
        env = dict(os.environ, ETCDCTL_API="3")
        code, _, err = self.cluster.etcdctl("--user=" + ROOT, "put", "app/k", "v")
        self.assertEqual(code, 0, err)
        # A follower's watch, from the first revision: the change reaches it through the log.
        watcher = self.cluster.members[1]
        w = subprocess.Popen(["etcdctl", "--endpoints=" + watcher.endpoint, "--user=" + ALICE,
                              "watch", "app/", "--prefix", "--rev=1"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        try:
            # The watch is live once it has delivered the key's history.
            seen = ""
            deadline = time.monotonic() + 15
            while "PUT\napp/k\nv\n" not in seen and time.monotonic() < deadline:
                ready, _, _ = select.select([w.stdout], [], [], 0.5)
                if ready:
                    chunk = os.read(w.stdout.fileno(), 4096).decode()
                    if not chunk:
                        break
                    seen += chunk
            self.assertIn("PUT\napp/k\nv\n", seen, "the watch never delivered")
            code, _, err = self.cluster.etcdctl("--user=" + ROOT, "user", "revoke-role",
                                                "alice", "app")
            self.assertEqual(code, 0, err)
            try:
                out, err = w.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                self.fail("the watch outlived its user's permission")
            self.assertIn("watch is canceled by the server", (out + err).decode())
        finally:
            if w.poll() is None:
                w.kill()
                w.wait(timeout=10)


if __name__ == "__main__":
    unittest.main()
