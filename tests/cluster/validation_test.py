#!/usr/bin/python3
"""Issue 17's validator on a real 3-member raftkv cluster: every refusal names what was
wrong and changes nothing. For each bad MemberAdd, MemberUpdate and KV request, sent as
raw gRPC (etcdctl checks some URLs itself), the code and message are checked, and so are
the member list and the raft index on the member asked and on the leader before and after.
Also: the cluster-size limits, and membership calls through a follower that read their
own writes (a member added there could once not be removed there at once).

Run with Debian's /usr/bin/python3 (python3-grpcio, python3-etcd3's generated stubs).
"""
import os
import sys
import unittest

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, free_port  # noqa: E402

# python3-etcd3's stubs predate learners: MemberAddRequest.isLearner is field 2, appended
# to the serialized request (a bool set to true).
LEARNER_FIELD = b"\x10\x01"

IA = grpc.StatusCode.INVALID_ARGUMENT
FP = grpc.StatusCode.FAILED_PRECONDITION


class ValidationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, extra_flags=["--max-txn-ops", "8", "--max-voters", "3"]).__enter__()
        cls.channels = {}

    @classmethod
    def tearDownClass(cls):
        for ch in cls.channels.values():
            ch.close()
        cls.cluster.__exit__(None, None, None)

    def channel(self, m):
        if m.name not in self.channels:
            self.channels[m.name] = grpc.insecure_channel(m.endpoint)
        return self.channels[m.name]

    def members(self, m):
        r = rpc_pb2_grpc.ClusterStub(self.channel(m)).MemberList(
            rpc_pb2.MemberListRequest(), timeout=10)
        # Serialized, so the fields these stubs do not know (isLearner) are compared too.
        return sorted(x.SerializeToString() for x in r.members)

    def state(self, m):
        """The member list and raft index on `m` and on the leader."""
        leader = self.cluster.leader()
        out = []
        for x in (m, leader):
            status = rpc_pb2_grpc.MaintenanceStub(self.channel(x)).Status(
                rpc_pb2.StatusRequest(), timeout=10)
            out.append((x.name, self.members(x), status.raftIndex))
        return out

    def add_learner(self, m, url):
        call = self.channel(m).unary_unary(
            "/etcdserverpb.Cluster/MemberAdd",
            request_serializer=lambda r: r.SerializeToString() + LEARNER_FIELD,
            response_deserializer=rpc_pb2.MemberAddResponse.FromString)
        return call(rpc_pb2.MemberAddRequest(peerURLs=[url]), timeout=10)

    def follower(self):
        leader = self.cluster.leader()
        return next(m for m in self.cluster.members if m is not leader)

    def refused(self, m, call, code, message):
        """`call` fails with `code` and a message starting with `message`; nothing changed."""
        before = self.state(m)
        with self.assertRaises(grpc.RpcError) as e:
            call()
        self.assertEqual(e.exception.code(), code, e.exception.details())
        self.assertTrue(e.exception.details().startswith(message),
                        f"{e.exception.details()!r} does not start with {message!r}")
        self.assertEqual(self.state(m), before)
        return e.exception.details()

    def test_bad_member_adds_are_refused_naming_the_url_and_change_nothing(self):
        m = self.follower()
        stub = rpc_pb2_grpc.ClusterStub(self.channel(m))
        taken = self.cluster.members[0].peer_url
        bad = "etcdserver: given member URLs are invalid: "
        for urls, code, message in [
                (["http://my host:5555"], IA, bad + 'URL "http://my host:5555": host "my host"'),
                (["http://::1:5555"], IA, bad + 'URL "http://::1:5555": too many'),
                (["http://127.0.0.1:0"], IA, bad + 'URL "http://127.0.0.1:0": port "0"'),
                (["http://u:p@127.0.0.1:5555"], IA, bad + 'URL "http://u:p@127.0.0.1:5555": user'),
                (["http://bad_host:5555"], IA, bad + 'URL "http://bad_host:5555": host'),
                (["http://127.0.0.1:5555/x"], IA, bad + 'URL "http://127.0.0.1:5555/x": nothing'),
                ([], IA, bad + "no peer URL is given"),
                (["http://127.0.0.1:5555", "http://127.0.0.1:5555"], IA,
                 bad + "peer URL http://127.0.0.1:5555 is given twice"),
                ([taken], FP, "etcdserver: Peer URLs already exists")]:
            with self.subTest(urls=urls):
                self.refused(m, lambda: stub.MemberAdd(
                    rpc_pb2.MemberAddRequest(peerURLs=urls), timeout=10), code, message)

    def test_bad_member_updates_are_refused_and_change_nothing(self):
        m = self.follower()
        stub = rpc_pb2_grpc.ClusterStub(self.channel(m))
        listed = stub.MemberList(rpc_pb2.MemberListRequest(), timeout=10).members
        ids = [x.ID for x in listed]
        for mid, urls, code, message in [
                (ids[0], [listed[1].peerURLs[0]], FP, "etcdserver: Peer URLs already exists"),
                (ids[0], ["http://127.0.0.1:0"], IA,
                 "etcdserver: given member URLs are invalid: "),
                (ids[0], [], IA, "etcdserver: given member URLs are invalid: no peer URL"),
                (12345, ["http://127.0.0.1:5555"], grpc.StatusCode.NOT_FOUND,
                 "etcdserver: member not found")]:
            with self.subTest(id=mid, urls=urls):
                self.refused(m, lambda: stub.MemberUpdate(
                    rpc_pb2.MemberUpdateRequest(ID=mid, peerURLs=urls), timeout=10), code, message)

    def test_the_cluster_size_limits_hold(self):
        m = self.follower()
        stub = rpc_pb2_grpc.ClusterStub(self.channel(m))
        # --max-voters 3: no fourth voter.
        self.refused(m, lambda: stub.MemberAdd(rpc_pb2.MemberAddRequest(
            peerURLs=[f"http://127.0.0.1:{free_port()}"]), timeout=10), FP,
            "etcdserver: too many members in cluster: the cluster has 3 voting members, the "
            "most --max-voters allows (3)")
        # etcd 3.5's default of one learner: a learner is added (it never starts, and does
        # not count in the quorum), a second is refused.
        added = self.add_learner(m, f"http://127.0.0.1:{free_port()}")
        try:
            self.refused(m, lambda: self.add_learner(m, f"http://127.0.0.1:{free_port()}"), FP,
                         "etcdserver: too many learner members in cluster")
        finally:
            stub.MemberRemove(rpc_pb2.MemberRemoveRequest(ID=added.member.ID), timeout=10)

    def test_membership_calls_through_a_follower_read_their_own_writes(self):
        m = self.follower()
        stub = rpc_pb2_grpc.ClusterStub(self.channel(m))
        for i in range(10):
            with self.subTest(round=i):
                added = self.add_learner(m, f"http://127.0.0.1:{free_port()}")
                self.assertIn(added.member.ID, [x.ID for x in added.members])
                # At once, on the same follower: it knows the member it just added.
                removed = stub.MemberRemove(
                    rpc_pb2.MemberRemoveRequest(ID=added.member.ID), timeout=10)
                self.assertNotIn(added.member.ID, [x.ID for x in removed.members])

    def test_malformed_kv_requests_never_reach_the_log(self):
        m = self.follower()
        kv = rpc_pb2_grpc.KVStub(self.channel(m))
        lease = rpc_pb2_grpc.LeaseStub(self.channel(m))

        def put(key):
            return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=b"v"))

        nine = rpc_pb2.TxnRequest(success=[put(b"k%d" % i) for i in range(9)])
        twice = rpc_pb2.TxnRequest(success=[put(b"a"), put(b"a")])
        target = rpc_pb2.TxnRequest(compare=[rpc_pb2.Compare(key=b"a", target=99)],
                                    success=[put(b"a")])
        for what, call, code, message in [
                ("a txn over --max-txn-ops 8", lambda: kv.Txn(nine, timeout=10), IA,
                 "etcdserver: too many operations in txn request"),
                ("a key put twice", lambda: kv.Txn(twice, timeout=10), IA,
                 "etcdserver: duplicate key given in txn request"),
                ("compare target 99", lambda: kv.Txn(target, timeout=10), IA,
                 "raftkv: compare target 99 is not one of"),
                ("a put of an empty key",
                 lambda: kv.Put(rpc_pb2.PutRequest(key=b"", value=b"v"), timeout=10), IA,
                 "etcdserver: key is not provided"),
                ("a delete of an empty key",
                 lambda: kv.DeleteRange(rpc_pb2.DeleteRangeRequest(key=b""), timeout=10), IA,
                 "etcdserver: key is not provided"),
                ("ignore_value with a value",
                 lambda: kv.Put(rpc_pb2.PutRequest(key=b"a", value=b"v", ignore_value=True),
                                timeout=10), IA, "etcdserver: value is provided"),
                ("a lease TTL over etcd's maximum",
                 lambda: lease.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=9000000001), timeout=10),
                 grpc.StatusCode.OUT_OF_RANGE, "etcdserver: too large lease TTL")]:
            with self.subTest(what):
                self.refused(m, call, code, message)
        # The same txn at the limit is fine.
        eight = rpc_pb2.TxnRequest(success=[put(b"k%d" % i) for i in range(8)])
        self.assertTrue(kv.Txn(eight, timeout=10).succeeded)


if __name__ == "__main__":
    unittest.main()
