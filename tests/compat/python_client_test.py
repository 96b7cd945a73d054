#!/usr/bin/python3
"""Debian's python3-etcd3 against a 3-node raftkv cluster: put, get, prefix, transaction,
watch and leases, as a Python application would use them.

Run: /usr/bin/python3 tests/compat/python_client_test.py [-v]   (RAFTKV_SERVER as in
etcdctl_test.py; /usr/bin/etcd passes the same tests)
"""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import Cluster, wait_until  # noqa: E402

import etcd3  # noqa: E402

CLUSTER = None


def setUpModule():
    global CLUSTER
    CLUSTER = Cluster(3).__enter__()


def tearDownModule():
    CLUSTER.__exit__(None, None, None)


def client(i=0):
    return etcd3.client(host="127.0.0.1", port=CLUSTER.members[i].client_port, timeout=5)


class PythonClientTest(unittest.TestCase):
    def test_put_get_and_prefix_from_different_members(self):
        client(0).put("py/a", "1")
        client(1).put("py/b", "2")
        value, meta = client(2).get("py/a")
        self.assertEqual(value, b"1")
        self.assertEqual(meta.key, b"py/a")
        self.assertEqual(meta.version, 1)
        got = sorted((m.key, v) for v, m in client(1).get_prefix("py/"))
        self.assertEqual(got, [(b"py/a", b"1"), (b"py/b", b"2")])
        self.assertTrue(client(0).delete("py/a"))
        self.assertEqual(client(2).get("py/a"), (None, None))

    def test_transaction_compares_and_chooses_a_branch(self):
        c = client(0)
        c.put("pytxn", "old")
        ok, _ = c.transaction(compare=[c.transactions.value("pytxn") == "old"],
                              success=[c.transactions.put("pytxn", "new")],
                              failure=[c.transactions.get("pytxn")])
        self.assertTrue(ok)
        ok, responses = c.transaction(compare=[c.transactions.value("pytxn") == "old"],
                                      success=[c.transactions.put("pytxn", "newer")],
                                      failure=[c.transactions.get("pytxn")])
        self.assertFalse(ok)
        self.assertEqual(responses[0][0][0], b"new")
        ok, _ = c.transaction(compare=[c.transactions.version("pytxn") > 1],
                              success=[], failure=[])
        self.assertTrue(ok)

    def test_watch_delivers_puts_and_deletes_in_order(self):
        events = []
        done = threading.Event()

        def callback(response):
            for e in response.events:
                events.append((type(e).__name__, e.key, e.value))
            if len(events) >= 3:
                done.set()

        c = client(2)
        watch_id = c.add_watch_callback("pywatch", callback)
        try:
            time.sleep(0.3)
            client(0).put("pywatch", "x")
            client(1).put("pywatch", "y")
            client(0).delete("pywatch")
            self.assertTrue(done.wait(10), events)
            self.assertEqual(events[:3], [("PutEvent", b"pywatch", b"x"),
                                          ("PutEvent", b"pywatch", b"y"),
                                          ("DeleteEvent", b"pywatch", b"")])
        finally:
            c.cancel_watch(watch_id)

    def test_lease_refresh_and_revoke_take_the_attached_key(self):
        c = client(1)
        lease = c.lease(30)
        c.put("pylease", "v", lease=lease)
        self.assertEqual(lease.granted_ttl, 30)
        self.assertGreater(lease.remaining_ttl, 0)
        self.assertEqual([k for k in lease.keys], [b"pylease"])
        refreshed = list(lease.refresh())
        self.assertEqual(refreshed[0].TTL, 30)
        lease.revoke()
        wait_until(lambda: client(0).get("pylease") == (None, None), 10, 0.05, "the key to go")

    def test_status_and_members(self):
        st = client(0).status()
        self.assertTrue(st.version.startswith("3."))
        self.assertIsNotNone(st.leader)
        names = sorted(m.name for m in client(0).members)
        self.assertEqual(names, ["n1", "n2", "n3"])


if __name__ == "__main__":
    unittest.main()
