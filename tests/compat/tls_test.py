#!/usr/bin/python3
"""TLS on the client port, with etcd's flags, against raftkv and against etcd 3.4 with the
same certificates and flags (so that the expectations are etcd's): a 3-member cluster
that requires client certificates serves etcdctl, python3-etcd3 and raftkvctl; a client
without a certificate, or trusting another CA, is refused; bad files stop raftkv's start
with one line naming the flag, the file and the reason.

Certificates are made with the `openssl` command in a temporary directory.
Run: /usr/bin/python3 tests/compat/tls_test.py [-v]   (RAFTKV_SERVER picks the binary)
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
from cluster import Cluster, default_binary, free_port, wait_until  # noqa: E402

ETCD = "/usr/bin/etcd"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Certs:
    """A CA, a server certificate for 127.0.0.1 signed by it, a client certificate
    (CN alice), a second CA with a client of its own, an expired server certificate and
    a key that matches nothing."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="raftkv-tls-")
        d = self.dir
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("[server]\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n"
                    "extendedKeyUsage = serverAuth, clientAuth\n"
                    "[client]\nextendedKeyUsage = clientAuth\n")
        for ca in ("ca", "other-ca"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                    "-subj", f"/CN={ca}", cwd=d)
        for name, ca, ext, cn in (("server", "ca", "server", "raftkv"),
                                  ("client", "ca", "client", "alice"),
                                  ("other-client", "other-ca", "client", "mallory")):
            openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
                    f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                    "-extfile", "ext.cnf", "-extensions", ext, cwd=d)
        # Expired: `openssl ca` takes explicit dates.
        os.makedirs(os.path.join(d, "ca-db"))
        open(os.path.join(d, "ca-db", "index.txt"), "w").close()
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = test\n[test]\ndir = ca-db\ndatabase = ca-db/index.txt\n"
                    "new_certs_dir = ca-db\nserial = ca-db/serial\ndefault_md = sha256\n"
                    "policy = any\n[any]\ncommonName = supplied\n")
        with open(os.path.join(d, "ca-db", "serial"), "w") as f:
            f.write("01\n")
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                "-in", "server.csr", "-out", "expired.pem", "-startdate", "20200101000000Z",
                "-enddate", "20200102000000Z", "-notext", cwd=d)
        openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", "stray.key", cwd=d)

    def path(self, name):
        return os.path.join(self.dir, name)

    def server_flags(self):
        return ["--cert-file", self.path("server.pem"), "--key-file", self.path("server.key"),
                "--trusted-ca-file", self.path("ca.pem"), "--client-cert-auth"]

    def client_flags(self, client="client", ca="ca"):
        return ["--cacert", self.path(f"{ca}.pem"), "--cert", self.path(f"{client}.pem"),
                "--key", self.path(f"{client}.key")]


CERTS = None


def setUpModule():
    global CERTS
    CERTS = Certs()


def tearDownModule():
    shutil.rmtree(CERTS.dir, ignore_errors=True)


class TlsBase:
    """The same tests against the binary `binary()` names."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, binary=cls.binary(), extra_flags=CERTS.server_flags(),
                              client_scheme="https", ctl_flags=CERTS.client_flags()).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def ctl(self, *args, flags=None):
        c = self.cluster
        p = subprocess.run(["etcdctl", "--endpoints=" + c.endpoints(), "--command-timeout=3s",
                            *(CERTS.client_flags() if flags is None else flags), *args],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"))
        return p.returncode, p.stdout, p.stderr

    def test_etcdctl_with_a_client_certificate_puts_gets_txns_watches_and_lists(self):
        self.assertEqual(self.ctl("put", "tls/a", "1")[1], "OK\n")
        self.assertEqual(self.ctl("get", "tls/a")[1], "tls/a\n1\n")
        txn = subprocess.run(
            ["etcdctl", "--endpoints=" + self.cluster.endpoints(), *CERTS.client_flags(), "txn"],
            input='value("tls/a") = "1"\n\nput tls/b 2\n\n\n', capture_output=True, text=True,
            timeout=30, env=dict(os.environ, ETCDCTL_API="3"))
        self.assertEqual((txn.returncode, txn.stdout), (0, "SUCCESS\n\nOK\n"), txn.stderr)
        self.assertEqual(self.ctl("get", "tls/b", "--print-value-only")[1], "2\n")
        # A watch sees a put: put until it does (it may start after the first), bounded.
        w = subprocess.Popen(["etcdctl", "--endpoints=" + self.cluster.endpoints(),
                              *CERTS.client_flags(), "watch", "tls/w"], stdout=subprocess.PIPE,
                             env=dict(os.environ, ETCDCTL_API="3"))
        seen = b""
        try:
            deadline = time.monotonic() + 20
            for _ in range(100):
                if b"seen\n" in seen or time.monotonic() > deadline:
                    break
                self.assertEqual(self.ctl("put", "tls/w", "seen")[0], 0)
                ready, _, _ = select.select([w.stdout], [], [], 0.5)
                if ready:
                    seen += os.read(w.stdout.fileno(), 4096)
        finally:
            w.kill()
            w.wait(timeout=10)
            w.stdout.close()
        self.assertTrue(seen.startswith(b"PUT\ntls/w\nseen\n"), seen)
        code, out, _ = self.ctl("member", "list", "-w", "json")
        self.assertEqual(code, 0)
        urls = sorted(u for m in json.loads(out)["members"] for u in m["clientURLs"])
        self.assertEqual(urls, sorted(m.client_url for m in self.cluster.members))
        self.assertTrue(all(u.startswith("https://127.0.0.1:") for u in urls), urls)

    def test_python3_etcd3_with_its_certificate_options(self):
        import etcd3
        m = self.cluster.members[0]
        client = etcd3.client(host="127.0.0.1", port=m.client_port,
                              ca_cert=CERTS.path("ca.pem"), cert_key=CERTS.path("client.key"),
                              cert_cert=CERTS.path("client.pem"), timeout=10)
        try:
            client.put("tls/py", "from python")
            self.assertEqual(client.get("tls/py")[0], b"from python")
        finally:
            client.close()

    def test_a_client_without_a_certificate_or_trusting_another_ca_is_refused(self):
        no_cert = self.ctl("get", "tls/a", flags=["--cacert", CERTS.path("ca.pem")])
        self.assertNotEqual(no_cert[0], 0, no_cert)
        other_ca = self.ctl("get", "tls/a", flags=CERTS.client_flags("other-client", "other-ca"))
        self.assertNotEqual(other_ca[0], 0, other_ca)
        plaintext = self.ctl("get", "tls/a", flags=[])
        self.assertNotEqual(plaintext[0], 0, plaintext)


class RaftkvTls(TlsBase, unittest.TestCase):
    @staticmethod
    def binary():
        return os.environ.get("RAFTKV_SERVER") or default_binary()

    def raftkvctl(self, *args, flags=None):
        ctl = os.path.join(os.path.dirname(self.binary()), "raftkvctl")
        p = subprocess.run([ctl, "--endpoints", ",".join(m.client_url for m in self.cluster.live()),
                            *(CERTS.client_flags() if flags is None else flags), *args],
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def test_raftkvctl_status_and_leader_transfer_over_tls(self):
        code, out, err = self.raftkvctl("status", "-o", "json")
        self.assertEqual(code, 0, err)
        rows = json.loads(out)
        self.assertEqual(len(rows), 3)
        target = next(r for r in rows if r["role"] != "leader")
        code, out, err = self.raftkvctl("leader", "transfer", target["id"])
        self.assertEqual((code, out), (0, f"Leader is now {target['id']}\n"), err)
        # Without its client certificate, raftkvctl is refused like etcdctl.
        code, _, err = self.raftkvctl("status", flags=["--cacert", CERTS.path("ca.pem"),
                                                       "--timeout", "1000"])
        self.assertNotEqual(code, 0)

    def test_raftkvctl_and_raftkv_bench_take_etcdctls_tls_flags(self):
        # --insecure-skip-tls-verify: no CA, the server's certificate is not checked.
        code, out, err = self.raftkvctl("status", "-o", "json", flags=[
            "--insecure-skip-tls-verify", "--cert", CERTS.path("client.pem"),
            "--key", CERTS.path("client.key")])
        self.assertEqual(code, 0, err)
        self.assertEqual(len(json.loads(out)), 3)
        # A --cert without its --key, and a file that cannot be read: usage errors naming it.
        code, _, err = self.raftkvctl("status", flags=["--cert", CERTS.path("client.pem")])
        self.assertEqual(code, 2)
        self.assertIn("--cert and --key go together", err)
        code, _, err = self.raftkvctl("status", flags=["--cacert", CERTS.path("none.pem")])
        self.assertEqual(code, 2)
        self.assertIn(f"--cacert {CERTS.path('none.pem')}: cannot be read", err)
        bench = os.path.join(os.path.dirname(self.binary()), "raftkv-bench")
        p = subprocess.run([bench, "--endpoints", self.cluster.members[0].client_url,
                            *CERTS.client_flags(), "--duration", "0.5", "--clients", "2",
                            "--conns", "1", "--no-progress", "-o", "json"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        result = json.loads(p.stdout)
        self.assertGreater(result["ops"], 0, result)
        self.assertEqual(result["errors"], 0, result)

    def test_the_status_page_reaches_every_member_over_tls(self):
        import urllib.request

        def all_up():
            with urllib.request.urlopen(self.cluster.members[0].metrics_url + "/v1/status",
                                        timeout=5) as r:
                doc = json.loads(r.read())
            return [m["up"] for m in doc["members"]] == [True] * 3
        wait_until(all_up, 20, 0.2, "every member up on the status page")


@unittest.skipUnless(os.path.exists(ETCD), "etcd 3.4 is not installed")
@unittest.skipIf(os.environ.get("RAFTKV_SANITIZED") == "1",
                 "the sanitizer build checks raftkv; etcd's run is the release build's")
class Etcd34Tls(TlsBase, unittest.TestCase):
    @staticmethod
    def binary():
        return ETCD


class BadFiles(unittest.TestCase):
    """Each stops raftkv's start with exit 2 and one line naming the flag, file and reason."""

    def start(self, *flags):
        client, peer = free_port(), free_port()
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run(
                [os.environ.get("RAFTKV_SERVER") or default_binary(), "--data-dir",
                 os.path.join(d, "data"), "--listen-client-urls", f"https://127.0.0.1:{client}",
                 "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-cluster",
                 f"default=http://127.0.0.1:{peer}", *flags],
                capture_output=True, text=True, timeout=30)
            self.assertFalse(os.path.exists(os.path.join(d, "data")), "nothing was written")
        self.assertEqual(p.returncode, 2, p.stderr)
        return p.stderr

    def test_each_bad_file_is_named_with_its_flag_and_reason(self):
        c = CERTS.path
        cases = [
            ([], "https needs --cert-file and --key-file"),
            (["--cert-file", c("missing.pem"), "--key-file", c("server.key")],
             f"--cert-file {c('missing.pem')}: cannot be read"),
            (["--cert-file", c("server.key"), "--key-file", c("server.key")],
             f"--cert-file {c('server.key')}: holds no PEM certificate"),
            (["--cert-file", c("server.pem"), "--key-file", c("stray.key")],
             f"--key-file {c('stray.key')}: does not match the certificate in --cert-file "
             f"{c('server.pem')}"),
            (["--cert-file", c("expired.pem"), "--key-file", c("server.key")],
             f"--cert-file {c('expired.pem')}: the certificate expired on Jan  2 00:00:00 2020 "
             "GMT"),
            (["--cert-file", c("server.pem"), "--key-file", c("server.key"),
              "--trusted-ca-file", c("other-ca.pem")],
             f"--cert-file {c('server.pem')}: is not signed by --trusted-ca-file "
             f"{c('other-ca.pem')}"),
            (["--cert-file", c("server.pem"), "--key-file", c("server.key"),
              "--client-cert-auth"], "--client-cert-auth needs --trusted-ca-file"),
        ]
        for flags, message in cases:
            with self.subTest(flags=flags):
                self.assertIn(message, self.start(*flags))


if __name__ == "__main__":
    unittest.main()
