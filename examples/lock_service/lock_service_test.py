"""The lock service example end to end: three member processes on 127.0.0.1, a lock that
survives the SIGKILL of its leader with the same owner and fencing token, a lease that
expires without renewals (the next grant carries a larger token), and membership changes
made through the library (remove a member; add a fourth as a learner, then promote it).

Standard library only; run with /usr/bin/python3. LOCK_SERVICE names the binary. Every
wait is bounded in time and count, and every process started is stopped by its PID.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

BINARY = os.environ.get("LOCK_SERVICE", "build/bin/lock_service")


def free_port(taken):
    """A port the kernel calls free now, never one handed out before in this run."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port
    raise RuntimeError("no free port found in 1000 tries")


def wait_until(pred, what, timeout=20.0, step=0.05):
    """Returns pred()'s first true value; fails after `timeout` seconds or 10000 tries."""
    deadline = time.monotonic() + timeout
    for _ in range(10000):
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            break
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class LockCluster:
    """Members 1..4 get ports up front (the example's peer directory is static); 1..3
    form the first cluster, 4 can join later."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="lock-service-")
        taken = set()
        self.peer = {i: f"127.0.0.1:{free_port(taken)}" for i in range(1, 5)}
        self.http = {i: f"127.0.0.1:{free_port(taken)}" for i in range(1, 5)}
        self.procs = {}

    def start(self, i, voters="1,2,3"):
        peers = ",".join(f"{j}={a}" for j, a in self.peer.items())
        cmd = [BINARY, "serve", "--id", str(i), "--data", os.path.join(self.root, f"m{i}"),
               "--http", self.http[i], "--peers", peers]
        if voters:
            cmd += ["--voters", voters]
        log = open(os.path.join(self.root, f"m{i}.log"), "wb")
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(timeout=10)

    def stop_all(self):
        """SIGTERM, a bounded wait, then SIGKILL: by PID, every process started."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def status(self, i):
        """Member i's status as a dict (id, leader, term, voters, learners, applied,
        snapshot), or None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://{self.http[i]}/status", timeout=1) as r:
                words = r.read().decode().split()
        except OSError:
            return None
        return dict(w.split("=", 1) for w in words)

    def leader(self, among):
        """The leader every live member of `among` agrees on, or None."""
        seen = {self.status(i)["leader"] if self.status(i) else None for i in among}
        if len(seen) == 1 and None not in seen and "0" not in seen:
            leader = int(seen.pop())
            return leader if leader in among else None
        return None

    def client(self, members, *request):
        """Runs the example's client mode; returns its output's first line."""
        out = subprocess.run(
            [BINARY, "client", "--members", ",".join(self.http[i] for i in members), *request],
            capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise AssertionError(f"client {request} failed ({out.returncode}): "
                                 f"{out.stdout}{out.stderr}")
        return out.stdout.strip()

    def dump_logs(self):
        for i in self.procs:
            path = os.path.join(self.root, f"m{i}.log")
            with open(path, errors="replace") as f:
                sys.stderr.write(f"--- member {i} ---\n{f.read()[-3000:]}\n")


class LockServiceTest(unittest.TestCase):
    def setUp(self):
        self.c = LockCluster()
        self.addCleanup(shutil.rmtree, self.c.root, True)
        self.addCleanup(self.c.stop_all)  # runs first: every process stops, even on failure

    def test_lock_survives_failover_expires_and_membership_changes(self):
        try:
            self.check_lock_service()
        except BaseException:
            self.c.dump_logs()
            raise

    def check_lock_service(self):
        c = self.c
        for i in (1, 2, 3):
            c.start(i)
        leader = wait_until(lambda: c.leader([1, 2, 3]), "a leader")
        everyone = [1, 2, 3]

        # A grant carries a fencing token; another owner is refused and told who holds it.
        granted = c.client(everyone, "acquire", "db", "alice", "3000").split()
        self.assertEqual(granted[0], "granted", granted)
        token = int(granted[1])
        self.assertEqual(c.client(everyone, "acquire", "db", "bob", "3000"),
                         f"held alice {token}")
        self.assertEqual(c.client(everyone, "renew", "db", "alice", str(token)),
                         f"renewed {token}")
        renewed_at = time.monotonic()

        # The leader dies. The lock is replicated state: the new leader holds it for the
        # same owner under the same token (a new leader gives every lease a full TTL).
        c.kill(leader)
        alive = [i for i in everyone if i != leader]
        new_leader = wait_until(lambda: c.leader(alive), "a new leader")
        self.assertNotEqual(new_leader, leader)
        self.assertEqual(c.client([new_leader], "show", "db"), f"held alice {token}")
        self.assertEqual(c.client(alive, "acquire", "db", "bob", "3000"), f"held alice {token}")

        # Nobody renews: the new leader expires the lease through the log, and the next
        # grant's token is larger, so a storage service fencing on tokens refuses alice.
        wait_until(lambda: c.client(alive, "show", "db") == "free", "the lease to expire")
        self.assertGreaterEqual(time.monotonic() - renewed_at, 3.0)  # never before its TTL
        self.assertEqual(c.client(alive, "renew", "db", "alice", str(token)), "lost")
        regranted = c.client(alive, "acquire", "db", "bob", "60000").split()
        self.assertEqual(regranted[0], "granted", regranted)
        self.assertGreater(int(regranted[1]), token)

        # Membership from the library's side: the dead member is removed (remove_node),
        # a fourth joins as a learner (add_node) and is promoted once it has the lock table
        # (promote_node). Then it serves the same locks.
        self.assertEqual(c.client(alive, "remove", str(leader)), "ok")
        wait_until(lambda: all(c.status(i)["voters"] == ",".join(map(str, alive))
                               for i in alive), "the removal applied on both members")
        # Enough renewals that the leader snapshots past them and keeps no log behind
        # the snapshot (the example's settings): member 4 is sent the lock table whole.
        for _ in range(25):
            self.assertEqual(c.client(alive, "renew", "db", "bob", regranted[1]),
                             f"renewed {regranted[1]}")
        wait_until(lambda: int(c.status(new_leader)["snapshot"]) >= 20, "a snapshot")
        c.start(4, voters=None)
        self.assertEqual(c.client(alive, "add-learner", "4"), "ok")
        wait_until(lambda: (c.status(4) or {}).get("learners") == "4", "member 4 as a learner")
        wait_until(lambda: int(c.status(4)["applied"]) >= int(c.status(new_leader)["applied"]),
                   "member 4 to catch up")
        self.assertGreaterEqual(int(c.status(4)["snapshot"]), 20)  # restored from it
        self.assertEqual(c.client(alive, "promote", "4"), "ok")
        members = sorted(alive + [4])
        wait_until(lambda: c.status(4)["voters"] == ",".join(map(str, members)),
                   "member 4 as a voter")
        self.assertEqual(c.client([4], "show", "db"), f"held bob {regranted[1]}")
        self.assertEqual(c.client([4], "release", "db", "bob", regranted[1]), "released")
        self.assertEqual(c.client(members, "show", "db"), "free")


if __name__ == "__main__":
    unittest.main()
