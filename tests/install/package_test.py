#!/usr/bin/python3
"""The Debian packages (make package, cmake/package.cmake) on this machine: built with
CPack, installed with apt, the member started as the packaged unit starts it (with systemd
when it runs the machine; otherwise directly, as the raftkv user, with the packaged config
and $NOTIFY_SOCKET, so that its READY=1 is seen), a key put and got with etcdctl, the
library used from /usr, then removed (the data stays) and purged (it goes).

Also sd_notify on the build's own raftkv: READY=1 once it serves, STOPPING=1 on SIGTERM.

Usage: package_test.py BUILD_DIR SOURCE_DIR (as root: it installs packages)."""
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = SOURCE = None


def run(args, timeout=600, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Notifications:
    """A datagram socket for $NOTIFY_SOCKET: what a member tells systemd."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="raftkv-notify-")
        os.chmod(self.dir, 0o755)  # the raftkv user sends to it
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)

    def wait_for(self, word, timeout):
        """Every message until one holds `word` (a line such as READY=1), bounded."""
        deadline = time.monotonic() + timeout
        seen = []
        for _ in range(100):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            seen.append(msg)
            if word in msg.split("\n"):
                return seen
        raise AssertionError(f"no {word} within {timeout} s; got {seen}")

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def member_flags(client, peer):
    return ["--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{peer}"]


def etcdctl(port, *args):
    return run(["etcdctl", f"--endpoints=127.0.0.1:{port}", "--command-timeout=5s", *args],
               timeout=30, env=dict(os.environ, ETCDCTL_API="3"))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


class Notify(unittest.TestCase):
    def test_a_member_says_ready_once_it_serves_and_stopping_when_told_to_stop(self):
        notes = Notifications()
        data = tempfile.mkdtemp(prefix="raftkv-notify-data-")
        client, peer = free_port(), free_port()
        proc = subprocess.Popen(
            [os.path.join(BUILD, "bin", "raftkv"), "--data-dir", data,
             *member_flags(client, peer)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(os.environ, NOTIFY_SOCKET=notes.path))
        try:
            seen = notes.wait_for("READY=1", 30)
            self.assertIn(f"STATUS=serving clients on port {client}", seen[-1].split("\n"))
            # Ready means serving: the port answers at once.
            self.assertEqual(etcdctl(client, "put", "k", "v"), "OK\n")
            proc.send_signal(signal.SIGTERM)
            notes.wait_for("STOPPING=1", 20)
            self.assertEqual(proc.wait(timeout=20), 0)
        finally:
            stop(proc)
            notes.close()
            shutil.rmtree(data, ignore_errors=True)


@unittest.skipUnless(os.geteuid() == 0, "installing a package needs root")
class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="raftkv-package-")
        run(["cmake", "--build", BUILD, "--target", "raftkv_package_files"])
        run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"),
             "-B", cls.out], cwd=BUILD)
        cls.debs = {os.path.basename(p).split("_")[0]: p
                    for p in glob.glob(os.path.join(cls.out, "*.deb"))}

    @classmethod
    def tearDownClass(cls):
        # Whatever happened, nothing of the test stays installed.
        # (dpkg, not apt: apt refuses a name it no longer knows, and purges nothing.)
        subprocess.run(["dpkg", "--purge", *getattr(cls, "debs", {})], capture_output=True,
                       timeout=300)
        shutil.rmtree(cls.out, ignore_errors=True)

    def apt(self, *args):
        return run(["apt-get", "-y", "--no-install-recommends", *args], timeout=300,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))

    def test_install_serve_use_the_library_remove_and_purge(self):
        lib = next(name for name in self.debs if name.startswith("libraftkv"))
        self.assertEqual(sorted(self.debs), [lib, "raftkv", "raftkv-dev"])
        self.apt("install", self.debs["raftkv"], self.debs["raftkv-dev"], self.debs[lib])
        # What the package put in place.
        self.assertTrue(run(["/usr/bin/raftkv", "--version"]).startswith("raftkv version: "))
        for tool in ("raftkvctl", "raftkv-bench"):
            self.assertTrue(os.access(f"/usr/bin/{tool}", os.X_OK), tool)
            self.assertTrue(os.path.isfile(f"/usr/share/man/man1/{tool}.1.gz"), tool)
        with open("/lib/systemd/system/raftkv.service") as f:
            unit = f.read()
        for line in ("Type=notify", "User=raftkv",
                     "ExecStart=/usr/bin/raftkv --config-file /etc/raftkv/raftkv.toml"):
            self.assertIn(line + "\n", unit)
        with open("/etc/raftkv/raftkv.toml") as f:
            config = f.read()
        self.assertIn('\ndata-dir = "/var/lib/raftkv"\n', config)
        self.assertIn("\n# heartbeat-interval = 100\n", config)
        user = pwd.getpwnam("raftkv")
        st = os.stat("/var/lib/raftkv")
        self.assertEqual((st.st_uid, oct(st.st_mode & 0o777)), (user.pw_uid, "0o700"))

        # The member as the unit runs it.
        client, peer = free_port(), free_port()
        if os.path.isdir("/run/systemd/system"):
            # systemd runs this machine: the unit itself, its ports moved by a drop-in.
            dropin = "/run/systemd/system/raftkv.service.d"
            os.makedirs(dropin, exist_ok=True)
            with open(os.path.join(dropin, "test.conf"), "w") as f:
                f.write("[Service]\nExecStart=\nExecStart=/usr/bin/raftkv --config-file "
                        "/etc/raftkv/raftkv.toml " + " ".join(member_flags(client, peer)) + "\n")
            try:
                run(["systemctl", "daemon-reload"])
                run(["systemctl", "start", "raftkv"], timeout=90)  # returns on READY=1
                self.assertEqual(etcdctl(client, "put", "pkg", "ok"), "OK\n")
                self.assertEqual(etcdctl(client, "get", "pkg", "--print-value-only"), "ok\n")
                run(["systemctl", "stop", "raftkv"], timeout=90)
            finally:
                shutil.rmtree(dropin, ignore_errors=True)
                subprocess.run(["systemctl", "daemon-reload"], capture_output=True, timeout=60)
        else:
            notes = Notifications()
            proc = subprocess.Popen(
                ["/usr/bin/raftkv", "--config-file", "/etc/raftkv/raftkv.toml",
                 *member_flags(client, peer)],
                user="raftkv", group="raftkv", extra_groups=[], cwd="/",
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                env=dict(os.environ, NOTIFY_SOCKET=notes.path))
            try:
                notes.wait_for("READY=1", 30)
                self.assertEqual(etcdctl(client, "put", "pkg", "ok"), "OK\n")
                self.assertEqual(etcdctl(client, "get", "pkg", "--print-value-only"), "ok\n")
            finally:
                code = stop(proc)
                notes.close()
            self.assertEqual(code, 0, proc.stderr.read())
        # Its data is the raftkv user's, where the config says.
        wal = glob.glob("/var/lib/raftkv/**/*.wal", recursive=True) or \
            glob.glob("/var/lib/raftkv/*")
        self.assertTrue(wal)
        self.assertEqual(os.stat(wal[0]).st_uid, user.pw_uid)

        # The library from /usr: pkg-config and the core.
        with tempfile.TemporaryDirectory() as tmp:
            exe = os.path.join(tmp, "counter")
            flags = run(["pkg-config", "--cflags", "--libs", "raftkv-raft"]).split()
            run(["g++", os.path.join(SOURCE, "examples", "replicated_counter.cc"), "-o", exe,
                 *flags])
            self.assertIn("counter = 55", run([exe], timeout=60))
            # And the shared library, found by the dynamic linker without help.
            shared = os.path.join(tmp, "counter-shared")
            run(["g++", os.path.join(SOURCE, "examples", "replicated_counter.cc"), "-o", shared,
                 *run(["pkg-config", "--cflags", "--libs", "raftkv"]).split()])
            self.assertIn("libraftkv.so.", run(["ldd", shared]))
            self.assertIn("counter = 55", run([shared], timeout=60))

        # Removed: the programs go, the data and the edited config stay.
        self.apt("remove", "raftkv", "raftkv-dev", lib)
        self.assertFalse(os.path.exists("/usr/bin/raftkv"))
        self.assertFalse(os.path.exists("/usr/include/raftkv"))
        self.assertTrue(os.path.exists(wal[0]))
        self.assertTrue(os.path.isfile("/etc/raftkv/raftkv.toml"))
        # Purged: nothing stays, not even the user.
        # (dpkg: apt no longer knows raftkv-dev, which left nothing behind.)
        run(["dpkg", "--purge", "raftkv", "raftkv-dev", lib])
        self.assertFalse(os.path.exists("/var/lib/raftkv"))
        self.assertFalse(os.path.exists("/etc/raftkv"))
        self.assertRaises(KeyError, pwd.getpwnam, "raftkv")
        # dpkg knows none of the three any more (not even as config-files).
        left = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Status}\n", "*raftkv*"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual((left.returncode, left.stdout), (1, ""), left.stdout)


if __name__ == "__main__":
    BUILD, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"])
