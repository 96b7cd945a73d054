#!/usr/bin/python3
"""The chaos network does what the nemeses claim: a block drops a member's packets from
the blocked addresses (and only those: clients still reach it), a one-way block drops one
direction, loss drops some packets, and nothing is left behind. Runs in the harness's
private namespace (exit 77 where it cannot: no root and no user namespaces)."""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import topology  # noqa: E402

RECEIVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(1.5)
n = 0
try:
    while True:
        s.recv(100)
        n += 1
except socket.timeout:
    pass
print(n)
"""
SENDER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"x", (sys.argv[1], 9999))
    time.sleep(0.002)
"""


class TopologyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.topo = topology.Topology(os.urandom(3).hex(), 3)
        cls.topo.setup()

    @classmethod
    def tearDownClass(cls):
        cls.topo.teardown()
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert "rkvc-" not in left, f"namespaces left behind: {left}"

    def datagrams(self, sender, receiver, count=200):
        """How many of `count` UDP datagrams from slot `sender` (None: the clients'
        namespace) reach slot `receiver`."""
        t = self.topo
        recv = subprocess.Popen(t.exec_prefix(receiver) + [sys.executable, "-c", RECEIVER,
                                                           t.address(receiver)],
                                stdout=subprocess.PIPE, text=True)
        # Send once the receiver is bound (ss in its namespace lists the port).
        for _ in range(100):
            probe = subprocess.run(t.exec_prefix(receiver) + ["ss", "-lun"], capture_output=True,
                                   text=True).stdout
            if ":9999" in probe:
                break
            time.sleep(0.05)
        else:
            self.fail("the receiver did not bind within 5 s")
        subprocess.run(t.exec_prefix(sender) + [sys.executable, "-c", SENDER,
                                                t.address(receiver), str(count)], check=True,
                       timeout=30)
        out, _ = recv.communicate(timeout=30)
        return int(out.strip())

    def test_a_block_drops_the_blocked_member_only_and_heals(self):
        t, cmds = self.topo, []
        self.assertEqual(self.datagrams(2, 1, 20), 20)
        t.block(1, [2], cmds)
        self.assertEqual(self.datagrams(2, 1, 20), 0)
        self.assertEqual(self.datagrams(3, 1, 20), 20)      # another member
        self.assertEqual(self.datagrams(None, 1, 20), 20)   # the clients
        self.assertEqual(self.datagrams(1, 2, 20), 20)      # the other direction: one way
        t.unblock_all(1, cmds)
        self.assertEqual(self.datagrams(2, 1, 20), 20)
        self.assertTrue(all("nft" in c for c in cmds), cmds)

    def test_loss_drops_some_packets_and_heals(self):
        t, cmds = self.topo, []
        t.lossy(3, [1], 40, cmds)
        got = self.datagrams(1, 3, 300)
        # 40% loss on 300 datagrams: all or none arriving has probability below 1e-60.
        self.assertGreater(got, 0)
        self.assertLess(got, 300)
        self.assertEqual(self.datagrams(2, 3, 20), 20)
        t.clear_loss(3, cmds)
        self.assertEqual(self.datagrams(1, 3, 50), 50)

    def test_a_slow_link_is_installed_and_removed(self):
        t, cmds = self.topo, []
        kind = t.slow_link(2, cmds)
        qdisc = subprocess.run(["tc", "-n", t.ns(2), "qdisc", "show", "dev", "eth0"],
                               capture_output=True, text=True).stdout
        self.assertIn(kind, qdisc)
        t.clear_link(2, cmds)
        qdisc = subprocess.run(["tc", "-n", t.ns(2), "qdisc", "show", "dev", "eth0"],
                               capture_output=True, text=True).stdout
        self.assertNotIn(kind, qdisc)


def main():
    if topology.private_namespace_ready():
        unittest.main()
    code = topology.enter_or_skip(__file__, sys.argv[1:], "topology_test")
    if code == 0:
        # The private namespace took every namespace of the run with it.
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        if "rkvc-" in left:
            print(f"topology_test: namespaces visible outside the run: {left}")
            return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
