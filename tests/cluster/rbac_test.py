#!/usr/bin/python3
"""RBAC over cluster operations on real processes: a 3-member cluster started with
--authz-model-file/--authz-policy-file (the default policy of config/authz), auth on, and
users holding cluster_admin, cluster_operator, cluster_viewer or no role (etcd roles of
those names). Every action is tried by every user through etcdctl or raftkvctl, on the
leader and on a follower; each is allowed or refused exactly as the policy says, a refusal
names the user and the action, and a refused change changes nothing. Then the policy is
replaced through `raftkvctl authz set` and every member enforces the new one; a malformed
policy is refused naming its file and line, and the one in force stays.

Run: /usr/bin/python3 tests/cluster/rbac_test.py [-v]   (RAFTKV_SERVER picks the binary)
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, raftkv_binary, wait_until  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
AUTHZ = os.path.join(HERE, "..", "..", "config", "authz")
CTL = os.path.join(os.path.dirname(raftkv_binary()), "raftkvctl")
PW = "pw"
USERS = {"admin": "cluster_admin", "operator": "cluster_operator", "viewer": "cluster_viewer",
         "nobody": None}

# The default policy (config/authz/policy.csv), action by action.
ALLOWED = {
    "add_node": {"admin"},
    "remove_node": {"admin"},
    "promote_node": {"admin"},
    "update_node": {"admin"},
    "transfer_leader": {"admin", "operator"},
    "change_config": {"admin", "operator"},
    "compact": {"admin", "operator"},
    "defragment": {"admin", "operator"},
    "alarm": {"admin", "operator"},
    "view_status": {"admin", "operator", "viewer"},
    "manage_auth": {"admin"},
}


class RbacTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, extra_flags=[
            "--authz-model-file", os.path.join(AUTHZ, "model.conf"),
            "--authz-policy-file", os.path.join(AUTHZ, "policy.csv"),
            "--bcrypt-cost", "4", "--metrics-require-auth"]).__enter__()
        c = cls.cluster
        c.wait_ready(c.members)
        steps = [("user", "add", "root:" + PW)]
        for user, role in USERS.items():
            steps.append(("user", "add", f"{user}:{PW}"))
            if role:
                steps += [("role", "add", role), ("user", "grant-role", user, role)]
        steps.append(("auth", "enable"))
        c.etcdctl_steps(*steps)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def raftkvctl(self, *args, user=None, endpoint=None):
        flags = [f"--user={user}:{PW}"] if user else []
        p = subprocess.run([CTL, "--endpoints", endpoint or self.cluster.endpoints(), *flags,
                            *args], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout + p.stderr

    def etcdctl(self, *args, user=None, endpoint=None):
        flags = [f"--user={user}:{PW}"] if user else []
        code, out, err = self.cluster.etcdctl(*flags, *args, endpoints=endpoint)
        return code, out + err

    def deactivate_alarms(self, user, endpoint):
        """Maintenance.Alarm DEACTIVATE through a raw gRPC stub (etcdctl's `alarm disarm`
        sends none while no alarm is raised); the token from Authenticate."""
        import grpc
        from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc  # Debian's python3-etcd3
        with grpc.insecure_channel(endpoint) as ch:
            try:
                token = rpc_pb2_grpc.AuthStub(ch).Authenticate(
                    rpc_pb2.AuthenticateRequest(name=user, password=PW), timeout=10).token
                rpc_pb2_grpc.MaintenanceStub(ch).Alarm(
                    rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.DEACTIVATE),
                    metadata=[("token", token)], timeout=10)
                return 0, ""
            except grpc.RpcError as e:
                return 1, e.details()

    def attempt(self, action, user, endpoint):
        """Tries `action` as `user` on `endpoint`; (exit code, output). Targets are chosen
        so that an allowed attempt changes nothing either (an unknown member id, a peer
        URL already in use, the timeouts in force)."""
        peer_in_use = self.cluster.members[0].peer_url
        e = dict(user=user, endpoint=endpoint)
        return {
            "add_node": lambda: self.etcdctl("member", "add", "x", "--learner",
                                             "--peer-urls=" + peer_in_use, **e),
            "remove_node": lambda: self.etcdctl("member", "remove", "1234", **e),
            "promote_node": lambda: self.etcdctl("member", "promote", "1234", **e),
            "update_node": lambda: self.etcdctl("member", "update", "1234",
                                                "--peer-urls=http://127.0.0.1:9", **e),
            "transfer_leader": lambda: self.raftkvctl("leader", "transfer", "1234", **e),
            "change_config": lambda: self.raftkvctl("timeouts", "set", "--heartbeat", "50",
                                                    "--election-min", "500",
                                                    "--election-max", "1000", **e),
            "compact": lambda: self.etcdctl("compaction", "1", **e),
            "defragment": lambda: self.etcdctl("defrag", **e),
            "alarm": lambda: self.deactivate_alarms(user, endpoint),
            "view_status": lambda: self.raftkvctl("timeouts", "get", **e),
            "manage_auth": lambda: self.etcdctl("user", "list", **e),
        }[action]()

    def members(self):
        code, out = self.etcdctl("member", "list", "-w", "json")
        self.assertEqual(code, 0, out)
        return sorted(m["ID"] for m in json.loads(out)["members"])

    def test_1_the_flags_policy_is_in_force_on_every_member(self):
        for m in self.cluster.members:
            code, out = self.raftkvctl("authz", "get", "-o", "json", user="root",
                                       endpoint=m.endpoint)
            self.assertEqual(code, 0, out)
            a = json.loads(out)
            self.assertEqual(a["revision"], 1, out)  # set once, from the first member's flags
            self.assertTrue(a["policy_name"].endswith("policy.csv"), out)

    def test_2_every_role_against_every_action_on_the_leader_and_a_follower(self):
        leader = self.cluster.leader()
        follower = next(m for m in self.cluster.members if m is not leader)
        before = self.members()
        for where, m in (("leader", leader), ("follower", follower)):
            for action, allowed in ALLOWED.items():
                for user in USERS:
                    with self.subTest(action=action, user=user, at=where):
                        code, out = self.attempt(action, user, m.endpoint)
                        if user in allowed:
                            self.assertNotIn("permission denied", out)
                        else:
                            self.assertNotEqual(code, 0, out)
                            self.assertIn("permission denied", out)
                            self.assertIn(f"user {user} ", out)
                            self.assertIn(f"may not {action} on cluster", out)
                # root may do everything, as in etcd.
                code, out = self.attempt(action, "root", m.endpoint)
                self.assertNotIn("permission denied", out, f"root {action} at {where}")
        # Nothing the refusals (or the harmless allowed attempts) asked for happened.
        self.assertEqual(self.members(), before)
        code, out = self.raftkvctl("timeouts", "get", user="root")
        self.assertIn("heartbeat 50 ms, election timeout [500, 1000] ms", out)

    def test_2b_refused_operations_reach_no_log(self):
        """etcd's cluster calls refused to viewer, through raw gRPC with one token (the
        tools authenticate on every run, and a simple token is a log entry)."""
        import grpc
        from etcd3.etcdrpc import rpc_pb2 as pb, rpc_pb2_grpc as rpc

        def commit():
            code, out = self.raftkvctl("status", "-o", "json")
            self.assertEqual(code, 0, out)
            return max(m["commit"] for m in json.loads(out) if "commit" in m)

        m = self.cluster.members[2]
        with grpc.insecure_channel(m.endpoint) as ch:
            token = rpc.AuthStub(ch).Authenticate(
                pb.AuthenticateRequest(name="viewer", password=PW), timeout=10).token
            md = [("token", token)]
            cluster, maint, auth, kv = (rpc.ClusterStub(ch), rpc.MaintenanceStub(ch),
                                        rpc.AuthStub(ch), rpc.KVStub(ch))
            calls = [
                lambda: cluster.MemberAdd(pb.MemberAddRequest(peerURLs=["http://127.0.0.1:9"]),
                                          metadata=md, timeout=10),
                lambda: cluster.MemberRemove(pb.MemberRemoveRequest(ID=1234), metadata=md,
                                             timeout=10),
                lambda: cluster.MemberUpdate(pb.MemberUpdateRequest(
                    ID=1234, peerURLs=["http://127.0.0.1:9"]), metadata=md, timeout=10),
                lambda: maint.MoveLeader(pb.MoveLeaderRequest(targetID=1234), metadata=md,
                                         timeout=10),
                lambda: maint.Defragment(pb.DefragmentRequest(), metadata=md, timeout=10),
                lambda: maint.Alarm(pb.AlarmRequest(action=pb.AlarmRequest.ACTIVATE,
                                                    alarm=pb.NOSPACE), metadata=md, timeout=10),
                lambda: kv.Compact(pb.CompactionRequest(revision=1), metadata=md, timeout=10),
                lambda: auth.UserAdd(pb.AuthUserAddRequest(name="eve", password="x"),
                                     metadata=md, timeout=10),
                lambda: auth.RoleAdd(pb.AuthRoleAddRequest(name="eve"), metadata=md,
                                     timeout=10),
            ]
            # The cluster is quiet once its members have published themselves.
            before = commit()
            wait_until(lambda: commit() == before, timeout=5, what="a quiet log")
            before = commit()
            for call in calls:
                with self.assertRaises(grpc.RpcError) as refused:
                    call()
                self.assertEqual(refused.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
                self.assertIn("user viewer (roles: cluster_viewer) may not",
                              refused.exception.details())
            self.assertEqual(commit(), before)

    def test_3_no_user_is_refused_with_etcds_message(self):
        code, out = self.etcdctl("member", "remove", "1234")
        self.assertNotEqual(code, 0)
        self.assertIn("etcdserver: user name is empty", out)
        code, out = self.raftkvctl("timeouts", "get")
        self.assertNotEqual(code, 0)
        self.assertIn("etcdserver: user name is empty", out)

    def test_4_a_replaced_policy_applies_on_every_member_and_a_bad_one_changes_nothing(self):
        d = tempfile.mkdtemp(prefix="raftkv-authz-")
        model = os.path.join(AUTHZ, "model.conf")
        policy = os.path.join(d, "policy.csv")
        with open(os.path.join(AUTHZ, "policy.csv")) as f:
            text = f.read()
        with open(policy, "w") as f:
            f.write(text + "\np, cluster_viewer, cluster, change_config, allow\n")
        code, out = self.raftkvctl("authz", "set", model, policy, user="viewer")
        self.assertIn("may not manage_auth on cluster", out)
        code, out = self.raftkvctl("authz", "set", model, policy, user="admin")
        self.assertEqual(code, 0, out)
        self.assertIn("revision 2", out)
        for m in self.cluster.members:
            wait_until(lambda: self.attempt("change_config", "viewer", m.endpoint)[0] == 0,
                       timeout=10, what=f"{m.name} to let viewer change_config")
        bad = os.path.join(d, "bad.csv")
        with open(bad, "w") as f:
            f.write("p, cluster_viewer, cluster, view_status, allow\np, admin, cluster\n")
        code, out = self.raftkvctl("authz", "set", model, bad, user="admin")
        self.assertNotEqual(code, 0)
        self.assertIn(bad + ":2:", out)
        code, out = self.raftkvctl("authz", "get", user="admin")
        self.assertIn("revision 2", out)
        self.assertEqual(self.attempt("change_config", "viewer", self.cluster.members[2].endpoint)[0],
                         0)


    def test_5_metrics_require_view_metrics_and_health_stays_open(self):
        import base64
        import urllib.error
        import urllib.request

        def get(path, user=None, m=None):
            m = m or self.cluster.members[1]
            req = urllib.request.Request(f"{m.metrics_url}{path}")
            if user:
                cred = base64.b64encode(f"{user}:{PW}".encode()).decode()
                req.add_header("Authorization", "Basic " + cred)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        leader = self.cluster.leader()
        follower = next(m for m in self.cluster.members if m is not leader)
        for m in (leader, follower):
            self.assertEqual(get("/health", m=m)[0], 200)
            code, body = get("/metrics", m=m)
            self.assertEqual(code, 401)
            self.assertIn("user name is empty", body)
            for user in ("viewer", "operator", "admin", "root"):
                code, body = get("/metrics", user, m=m)
                self.assertEqual(code, 200, f"{user}: {body}")
                self.assertIn("etcd_server_has_leader", body)
            code, body = get("/metrics", "nobody", m=m)
            self.assertEqual(code, 403)
            self.assertIn("may not view_metrics on cluster", body)
            self.assertEqual(get("/v1/status", "nobody", m=m)[0], 403)
            self.assertEqual(get("/v1/status", "viewer", m=m)[0], 200)
            code, body = get("/metrics", "ghost", m=m)
            self.assertEqual(code, 401)
            self.assertIn("authentication failed", body)

if __name__ == "__main__":
    unittest.main()
