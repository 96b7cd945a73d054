#!/usr/bin/python3
"""TLS on the client and peer ports, with etcd's flags, against raftkv and against etcd 3.4
with the same certificates and flags (so that the expectations are etcd's): a 3-member
cluster that requires client certificates, and whose members authenticate each other by
certificate, serves etcdctl, python3-etcd3 and raftkvctl; a client without a
certificate, or trusting another CA, is refused; a process holding a member's valid
certificate cannot speak for another member, nor one with another CA's certificate for
any (raftkv); bad files stop raftkv's start with one line naming the flag, the file and
the reason.

Certificates are made with the `openssl` command in a temporary directory.
Run: /usr/bin/python3 tests/compat/tls_test.py [-v]   (RAFTKV_SERVER picks the binary)
"""
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster import (APP_AUTH_STEPS, ETCD, Cluster, against_both,  # noqa: E402
                     etcd_release_run, free_port, raftkv_binary, wait_until)

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Certs:
    """A CA, a server certificate for 127.0.0.1 signed by it, a client certificate
    (CN alice), a peer certificate for each of members n1 to n4 (CN its name, for
    127.0.0.1), a second CA with a client of its own, an expired and a not yet valid
    server certificate, and a key that matches nothing."""

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
                                  ("other-client", "other-ca", "client", "mallory"),
                                  ("n1", "ca", "server", "n1"), ("n2", "ca", "server", "n2"),
                                  ("n3", "ca", "server", "n3"), ("n4", "ca", "server", "n4"),
                                  ("server2", "ca", "server", "raftkv"),
                                  ("n1b", "ca", "server", "n1"),
                                  ("bob", "ca", "client", "bob")):
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
                    "policy = any\nunique_subject = no\n[any]\ncommonName = supplied\n")
        with open(os.path.join(d, "ca-db", "serial"), "w") as f:
            f.write("01\n")
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                "-in", "server.csr", "-out", "expired.pem", "-startdate", "20200101000000Z",
                "-enddate", "20200102000000Z", "-notext", cwd=d)
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                "-in", "server.csr", "-out", "future.pem", "-startdate", "20990101000000Z",
                "-enddate", "20990102000000Z", "-notext", cwd=d)
        openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", "stray.key", cwd=d)

    def path(self, name):
        return os.path.join(self.dir, name)

    def server_flags(self):
        return ["--cert-file", self.path("server.pem"), "--key-file", self.path("server.key"),
                "--trusted-ca-file", self.path("ca.pem"), "--client-cert-auth"]

    def peer_flags(self, name):
        return ["--peer-cert-file", self.path(f"{name}.pem"), "--peer-key-file",
                self.path(f"{name}.key"), "--peer-trusted-ca-file", self.path("ca.pem"),
                "--peer-client-cert-auth"]

    def client_flags(self, client="client", ca="ca"):
        return ["--cacert", self.path(f"{ca}.pem"), "--cert", self.path(f"{client}.pem"),
                "--key", self.path(f"{client}.key")]


CERTS = None


def setUpModule():
    global CERTS
    CERTS = Certs()


def tearDownModule():
    shutil.rmtree(CERTS.dir, ignore_errors=True)


PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto", "raftkv")


def peer_pb2():
    """raftkv's peer protocol messages, compiled by protoc into the certificates' directory
    (the forger below speaks it as a raw gRPC client)."""
    out = os.path.join(CERTS.dir, "pb")
    if not os.path.exists(os.path.join(out, "peer_pb2.py")):
        os.makedirs(out, exist_ok=True)
        subprocess.run(["protoc", "-I", PROTO_DIR, "--python_out=" + out, "peer.proto"],
                       check=True, capture_output=True, timeout=60)
    if out not in sys.path:
        sys.path.insert(0, out)
    import peer_pb2 as pb
    return pb


class Forger:
    """A process on the machine that opens a member's peer port with some certificate (or
    none) and claims to be whichever member it likes."""

    def __init__(self, peer_port, cert=None, ca="ca"):
        import grpc
        self.grpc, self.pb = grpc, peer_pb2()
        def read(name):
            with open(CERTS.path(name), "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(f"{ca}.pem"),
            private_key=read(f"{cert}.key") if cert else None,
            certificate_chain=read(f"{cert}.pem") if cert else None)
        self.channel = grpc.secure_channel(f"127.0.0.1:{peer_port}", creds)

    def close(self):
        self.channel.close()

    def stream(self, frames):
        """Sends `frames` on one peer stream: (status code, StreamRefusal reason name)."""
        call = self.channel.stream_unary(
            "/raftkv.peer.Peer/Stream", request_serializer=self.pb.PeerFrame.SerializeToString,
            response_deserializer=self.pb.StreamAck.FromString)
        try:
            call(iter(frames), timeout=10)
            return self.grpc.StatusCode.OK, None
        except self.grpc.RpcError as e:
            why = self.pb.StreamRefusal()
            for key, value in e.trailing_metadata() or ():
                if key == "grpc-status-details-bin":
                    why.ParseFromString(value)
            return e.code(), self.pb.StreamRefusal.Reason.Name(why.reason)

    def forward(self, cluster_id, sender, payload):
        call = self.channel.unary_unary(
            "/raftkv.peer.Peer/Forward",
            request_serializer=self.pb.ForwardRequest.SerializeToString,
            response_deserializer=self.pb.ForwardResponse.FromString)
        try:
            call(self.pb.ForwardRequest(cluster_id=cluster_id, **{"from": sender},
                                        payload=payload), timeout=10)
            return self.grpc.StatusCode.OK
        except self.grpc.RpcError as e:
            return e.code()

    def attack_frames(self, cluster_id, sender, to, term, last_index):
        """A vote request and a heartbeat at term+10, and an append of a forged entry."""
        pb = self.pb
        votes = pb.PeerFrame(cluster_id=cluster_id, **{"from": sender})
        vote = votes.messages.add(to=to, term=term + 10, **{"from": sender})
        vote.request_vote.last_log.term, vote.request_vote.last_log.index = term + 10, 1 << 40
        hb = votes.messages.add(to=to, term=term + 10, **{"from": sender})
        hb.heartbeat.commit = last_index
        append = votes.messages.add(to=to, term=term, **{"from": sender})
        append.append_entries.prev.term, append.append_entries.prev.index = term, last_index
        append.append_entries.entries.add(term=term, index=last_index + 1, type=0,
                                          data=b"forged")
        append.append_entries.commit = last_index + 1
        return [votes]


class TlsBase:
    """The same tests against the binary `binary()` names."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, binary=cls.binary(), extra_flags=CERTS.server_flags(),
                              client_scheme="https", ctl_flags=CERTS.client_flags(),
                              peer_scheme="https", member_flags=CERTS.peer_flags).__enter__()

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
        peer_urls = sorted(u for m in json.loads(out)["members"] for u in m["peerURLs"])
        self.assertEqual(peer_urls, sorted(m.peer_url for m in self.cluster.members))
        self.assertTrue(all(u.startswith("https://127.0.0.1:") for u in peer_urls), peer_urls)

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

    def test_a_member_joins_and_leaves_over_peer_tls(self):
        c = self.cluster
        m, _ = c.add_member("n4")
        try:
            c.wait_ready([m])
            self.assertEqual(self.ctl("put", "tls/joined", "4")[1], "OK\n")
            # n4 has it from the log, over its authenticated peer stream.
            wait_until(lambda: c.etcdctl("get", "tls/joined", "--print-value-only",
                                         "--consistency=s", endpoints=m.client_url)[1]
                       == "4\n", 20, 0.2, "n4 to apply the put")
        finally:
            member_id = c.member_id(m)
            for _ in range(40):  # etcd refuses changes until its members are up 5 s
                code, out, err = self.ctl("member", "remove", format(member_id, "x"))
                if code == 0 or "unhealthy cluster" not in err:
                    break
                time.sleep(0.5)
            self.assertEqual(code, 0, out + err)
            c.kill(m, signal.SIGTERM)
            c.members.remove(m)

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
        return raftkv_binary()

    def raftkvctl(self, *args, flags=None):
        ctl = os.path.join(os.path.dirname(self.binary()), "raftkvctl")
        p = subprocess.run([ctl, "--endpoints", ",".join(m.client_url for m in self.cluster.live()),
                            *(CERTS.client_flags() if flags is None else flags), *args],
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def statuses(self):
        """Each member's (member id, term, leader, revision, cluster id, raft index), from
        its own answer, in the order of cluster.members."""
        code, text, err = self.ctl("endpoint", "status", "-w", "json")
        self.assertEqual(code, 0, err)
        by_port = {int(e["Endpoint"].rsplit(":", 1)[1]): e["Status"] for e in json.loads(text)}
        out = []
        for m in self.cluster.members:
            st = by_port[m.client_port]
            out.append((st["header"]["member_id"], st["raftTerm"], st["leader"],
                        st["header"]["revision"], st["header"]["cluster_id"], st["raftIndex"]))
        return out

    def test_a_peer_certificate_speaks_only_for_its_own_member(self):
        self.assertEqual(self.ctl("put", "tls/peer", "before")[1], "OK\n")
        before = self.statuses()
        ids = {m.name: s[0] for m, s in zip(self.cluster.members, before)}
        cluster_id, term = before[0][4], max(s[1] for s in before)
        last_index = max(s[5] for s in before)
        n3 = self.cluster.members[2]
        # n1's valid certificate, claiming to be n2, on n3's peer port: the stream is
        # refused on its first frame, and the forwarded request too.
        forger = Forger(n3.peer_port, cert="n1")
        try:
            frames = forger.attack_frames(cluster_id, ids["n2"], ids["n3"], term, last_index)
            self.assertEqual(forger.stream(frames),
                             (forger.grpc.StatusCode.FAILED_PRECONDITION, "WRONG_CERTIFICATE"))
            self.assertEqual(forger.forward(cluster_id, ids["n2"], b"forged"),
                             forger.grpc.StatusCode.PERMISSION_DENIED)
            # The control: the same certificate speaking for its own member is heard.
            own = forger.pb.PeerFrame(cluster_id=cluster_id, **{"from": ids["n1"]})
            self.assertEqual(forger.stream([own]), (forger.grpc.StatusCode.OK, None))
        finally:
            forger.close()
        # Another CA's certificate (three times), or none: refused at the handshake, and
        # logged once per error and 10 s.
        with open(n3.log_path) as f:
            lines_before = len(f.readlines())
        for cert in ("other-client", "other-client", None, "other-client"):
            forger = Forger(n3.peer_port, cert=cert)
            try:
                frames = forger.attack_frames(cluster_id, ids["n2"], ids["n3"], term, last_index)
                self.assertEqual(forger.stream(frames)[0], forger.grpc.StatusCode.UNAVAILABLE)
            finally:
                forger.close()
        # Nothing moved: no member reached the forged term, the leader is the same, the
        # data is the same on every member.
        after = self.statuses()
        self.assertTrue(all(s[1] < term + 10 for s in after), after)
        self.assertEqual({s[2] for s in after}, {before[0][2]}, (before, after))
        self.assertEqual(self.ctl("get", "tls/peer", "--print-value-only")[1], "before\n")
        def same_hash():  # once every member has applied the last write
            code, out, err = self.ctl("endpoint", "hashkv", "-w", "json", "--cluster")
            self.assertEqual(code, 0, err)
            return len({h["HashKV"]["hash"] for h in json.loads(out)}) == 1
        wait_until(same_hash, 20, 0.2, "the same hashkv on every member")
        # n3 said what it refused and why; each failed handshake once (within 10 s).
        with open(n3.log_path) as f:
            lines = [json.loads(line) for line in f if line.startswith("{")]
        refused = [x for x in lines if x["msg"] == "refused peer stream"]
        self.assertTrue([r for r in refused if r.get("reason") == "certificate" and
                         "belongs to member n1" in r.get("detail", "")], refused)
        with open(n3.log_path) as f:
            since = [json.loads(line) for line in f.readlines()[lines_before:]
                     if line.startswith("{")]
        handshakes = [x["error"] for x in since if x["msg"] == "TLS handshake failed"]
        self.assertEqual(len([h for h in handshakes if "certificate verify failed" in h]), 1,
                         handshakes)
        # (The client port's refusals earlier may hold this one back: the same line.)
        self.assertLessEqual(
            len([h for h in handshakes if "peer did not return a certificate" in h]), 1,
            handshakes)

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

    def test_the_tools_shut_grpc_down_themselves_before_they_exit(self):
        # gRPC's final shutdown must be the tool's own, blocking, on its main thread. It
        # used to be the release of the last channel, which may happen on one of gRPC's
        # threads: the shutdown then ran on a thread of its own while the process exited, and
        # an ASan-built raftkvctl reported OpenSSL's allocations as leaks and exited 1 after
        # a successful call (one TLS call in about 300 under load; CI failed on it).
        bin_dir = os.path.dirname(self.binary())
        endpoints = ",".join(m.client_url for m in self.cluster.live())
        env = dict(os.environ, GRPC_VERBOSITY="DEBUG", GRPC_TRACE="api")
        for args in (["raftkvctl", "--endpoints", endpoints, *CERTS.client_flags(), "status"],
                     ["raftkv-bench", "--endpoints", endpoints, *CERTS.client_flags(),
                      "--duration", "0.2", "--clients", "2", "--no-progress"]):
            for _ in range(3):
                p = subprocess.run([os.path.join(bin_dir, args[0]), *args[1:]], env=env,
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr[-3000:])
                shutdowns = [line for line in p.stderr.splitlines() if "grpc_shutdown" in line]
                self.assertTrue(shutdowns, args[0])
                self.assertIn("grpc_shutdown_blocking(void)", shutdowns[-1], (args[0], shutdowns))
                self.assertNotIn("spawns clean-up thread", p.stderr, args[0])

    def test_the_status_page_reaches_every_member_over_tls(self):
        import urllib.request

        def all_up():
            with urllib.request.urlopen(self.cluster.members[0].metrics_url + "/v1/status",
                                        timeout=5) as r:
                doc = json.loads(r.read())
            return [m["up"] for m in doc["members"]] == [True] * 3
        wait_until(all_up, 20, 0.2, "every member up on the status page")


@etcd_release_run
class Etcd34Tls(TlsBase, unittest.TestCase):
    @staticmethod
    def binary():
        return ETCD


def served_certificate(port, client="client", tls12_cipher=None):
    """The DER certificate a TLS port presents to a new connection (with a client
    certificate, which a port with --client-cert-auth requires); with `tls12_cipher`, the
    connection offers TLS 1.2 and that cipher only."""
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=CERTS.path("ca.pem"))
    ctx.load_cert_chain(CERTS.path(f"{client}.pem"), CERTS.path(f"{client}.key"))
    ctx.set_alpn_protocols(["h2"])
    if tls12_cipher:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(tls12_cipher)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


def der(name):
    import ssl
    with open(CERTS.path(f"{name}.pem")) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class Rotation(unittest.TestCase):
    """Certificates replaced on disk while the cluster runs: new connections get the new
    ones, a bad replacement is refused and the old set stays, SIGHUP re-reads; the
    cluster stays up throughout. Each member's TLS files are its own copies here."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="raftkv-rotation-")
        for name in ("server.pem", "server.key", "n1.pem", "n1.key", "n2.pem", "n2.key",
                     "n3.pem", "n3.key"):
            shutil.copy(CERTS.path(name), os.path.join(self.dir, name))
        # The TLS keys of a TOML config file, as the flags'.
        with open(os.path.join(self.dir, "tls.toml"), "w") as f:
            f.write(f'cert-file = "{self.file("server.pem")}"\n'
                    f'key-file = "{self.file("server.key")}"\n'
                    f'trusted-ca-file = "{CERTS.path("ca.pem")}"\n'
                    'client-cert-auth = true\n'
                    f'peer-trusted-ca-file = "{CERTS.path("ca.pem")}"\n'
                    'peer-client-cert-auth = true\n')
        self.cluster = Cluster(
            3, binary=raftkv_binary(),
            extra_flags=["--config-file", self.file("tls.toml")], client_scheme="https",
            ctl_flags=CERTS.client_flags(), peer_scheme="https", metrics_scheme="https",
            member_flags=lambda name: ["--peer-cert-file", self.file(f"{name}.pem"),
                                       "--peer-key-file", self.file(f"{name}.key")]).__enter__()

    def tearDown(self):
        self.cluster.__exit__(None, None, None)
        shutil.rmtree(self.dir, ignore_errors=True)

    def file(self, name):
        return os.path.join(self.dir, name)

    def replace(self, name, source):
        """Replaces a file the way a rotation tool does: a new file renamed over it."""
        tmp = self.file(name + ".new")
        shutil.copy(CERTS.path(source), tmp)
        os.replace(tmp, self.file(name))

    def log(self, m):
        with open(m.log_path) as f:
            return [json.loads(line) for line in f if line.startswith("{")]

    def still_up(self, key):
        c = self.cluster
        code, out, err = c.etcdctl("put", key, "v")
        self.assertEqual((code, out), (0, "OK\n"), err)
        for m in c.members:  # every member has it, read from itself
            wait_until(lambda: c.etcdctl("get", key, "--print-value-only", "--consistency=s",
                                         endpoints=m.client_url)[1] == "v\n",
                       20, 0.2, f"{m.name} to apply {key}")

    def test_replaced_certificates_serve_new_connections_and_bad_ones_are_refused(self):
        c = self.cluster
        n1 = c.members[0]
        self.assertEqual(served_certificate(n1.client_port), der("server"))
        self.assertEqual(served_certificate(n1.peer_port, client="n2"), der("n1"))
        self.assertEqual(served_certificate(n1.metrics_port), der("server"))
        # The https metrics port (the client port's certificate and CA, as etcd's).
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=CERTS.path("ca.pem"))
        ctx.load_cert_chain(CERTS.path("client.pem"), CERTS.path("client.key"))
        with urllib.request.urlopen(n1.metrics_url + "/health", context=ctx, timeout=5) as r:
            self.assertEqual(json.loads(r.read())["health"], "true")
        with urllib.request.urlopen(n1.metrics_url + "/metrics", context=ctx, timeout=5) as r:
            self.assertIn(b"etcd_server_has_leader 1", r.read())
        no_cert = ssl.create_default_context(cafile=CERTS.path("ca.pem"))
        with self.assertRaises(OSError):  # the handshake, or the first read, fails
            with urllib.request.urlopen(n1.metrics_url + "/health", context=no_cert,
                                        timeout=5) as r:
                r.read()
        # The client port's certificate and key, replaced (key first, as a tool might:
        # the pair is reloaded once both have settled).
        self.replace("server.key", "server2.key")
        self.replace("server.pem", "server2.pem")
        wait_until(lambda: served_certificate(n1.client_port) == der("server2"), 20, 0.2,
                   "the new client certificate on n1")
        wait_until(lambda: served_certificate(n1.metrics_port) == der("server2"), 20, 0.2,
                   "the new certificate on n1's metrics port")
        self.still_up("rotation/client")
        # n1's peer certificate, replaced: n1's peer port presents the new one, and the
        # others accept it (n1 still has the writes).
        self.replace("n1.key", "n1b.key")
        self.replace("n1.pem", "n1b.pem")
        wait_until(lambda: served_certificate(n1.peer_port, client="n2") == der("n1b"), 20,
                   0.2, "the new peer certificate on n1")
        self.still_up("rotation/peer")
        # A key that matches nothing: refused, named, and the set in force stays.
        self.replace("server.key", "stray.key")
        def refused():
            return [x for x in self.log(n1) if x["msg"].startswith("refused new TLS files")]
        wait_until(refused, 20, 0.2, "n1 to refuse the bad key")
        self.assertIn(f"--key-file {self.file('server.key')}: does not match the certificate",
                      refused()[0]["error"])
        self.assertEqual(served_certificate(n1.client_port), der("server2"))
        self.still_up("rotation/refused")
        # SIGHUP re-reads at once (here: the bad key again, refused again), and is no stop.
        before = len(refused())
        os.kill(n1.proc.pid, signal.SIGHUP)
        wait_until(lambda: len(refused()) > before, 20, 0.2, "n1 to re-read on SIGHUP")
        self.assertIsNone(n1.proc.poll())
        self.assertTrue([x for x in self.log(n1) if x["msg"] == "reloaded TLS files"])


class ClientIdentity(unittest.TestCase):
    """With --client-cert-auth, the client certificate's CN is the client's identity (the
    limits' key, "user:CN"): a limit set for user alice holds alice to it, bob is free."""

    def test_the_certificate_common_name_is_the_client(self):
        with Cluster(1, binary=raftkv_binary(),
                     extra_flags=CERTS.server_flags() + [
                         "--limits-client", "user:alice:requests_per_second=0.01,burst=1"],
                     client_scheme="https", ctl_flags=CERTS.client_flags("bob")) as c:
            def put(client):
                p = subprocess.run(["etcdctl", "--endpoints=" + c.endpoints(),
                                    "--command-timeout=3s", *CERTS.client_flags(client),
                                    "put", "who", client], capture_output=True, text=True,
                                   timeout=30, env=dict(os.environ, ETCDCTL_API="3"))
                return p.returncode, p.stdout + p.stderr
            self.assertEqual(put("client"), (0, "OK\n"))  # alice's burst of one
            code, out = put("client")
            self.assertNotEqual(code, 0, out)
            self.assertIn("user:alice", out)
            self.assertEqual(put("bob"), (0, "OK\n"))
            self.assertEqual(put("bob"), (0, "OK\n"))


class CipherSuitesBase:
    """--cipher-suites (Go's names) narrows TLS 1.2 to those suites; TLS 1.3 clients
    (etcdctl) are served as before."""

    def test_only_the_named_tls12_suites_are_accepted(self):
        import ssl
        # (etcd 3.4 needs an AES-128-GCM suite in the list for HTTP/2, or it panics.)
        with Cluster(1, binary=self.binary(), extra_flags=CERTS.server_flags() + [
                "--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
                client_scheme="https", ctl_flags=CERTS.client_flags()) as c:
            port = c.members[0].client_port
            self.assertEqual(served_certificate(port, tls12_cipher="ECDHE-ECDSA-AES128-GCM-SHA256"),
                             der("server"))
            with self.assertRaises(ssl.SSLError):
                served_certificate(port, tls12_cipher="ECDHE-ECDSA-AES256-GCM-SHA384")
            self.assertEqual(c.etcdctl("put", "cipher", "ok")[:2], (0, "OK\n"))


RaftkvCipherSuites, Etcd34CipherSuites = against_both(CipherSuitesBase, "CipherSuites")


class TlsVersions(unittest.TestCase):
    """--tls-min-version TLS1.3 turns TLS 1.2 away on every TLS port (client, peer,
    metrics); TLS 1.3 clients and members are served. (etcd 3.4 has no such flag; 3.5's
    means the same.) The control, TLS 1.2 accepted by default: CipherSuites above."""

    def test_tls13_only(self):
        import ssl
        with Cluster(3, binary=raftkv_binary(),
                     extra_flags=CERTS.server_flags() + ["--tls-min-version", "TLS1.3"],
                     client_scheme="https", ctl_flags=CERTS.client_flags(), peer_scheme="https",
                     member_flags=CERTS.peer_flags, metrics_scheme="https") as c:
            m = c.members[0]
            for port, client in ((m.client_port, "client"), (m.peer_port, "n2"),
                                 (m.metrics_port, "client")):
                with self.subTest(port=port):
                    with self.assertRaises(ssl.SSLError):
                        served_certificate(port, client=client,
                                           tls12_cipher="ECDHE-ECDSA-AES128-GCM-SHA256")
                    self.assertTrue(served_certificate(port, client=client))
            self.assertEqual(c.etcdctl("put", "tls13", "ok")[:2], (0, "OK\n"))


class ForwardedIdentity(unittest.TestCase):
    """A write a follower forwards carries its client's identity (the certificate's CN) in
    the entry: the leader, and every member, apply it knowing who sent it (the audit line
    at debug; RBAC, issue 16, checks it)."""

    def test_the_leader_knows_the_client_of_a_forwarded_write(self):
        with Cluster(3, binary=raftkv_binary(),
                     extra_flags=CERTS.server_flags() + ["--log-level", "debug"],
                     client_scheme="https", ctl_flags=CERTS.client_flags("bob"),
                     peer_scheme="https", member_flags=CERTS.peer_flags) as c:
            leader = c.leader()
            follower = next(m for m in c.members if m is not leader)
            for client, member, key in (("client", follower, "forwarded"),
                                        ("bob", leader, "direct")):
                p = subprocess.run(["etcdctl", "--endpoints=" + member.client_url,
                                    "--command-timeout=5s", *CERTS.client_flags(client),
                                    "put", key, "v"], capture_output=True, text=True,
                                   timeout=30, env=dict(os.environ, ETCDCTL_API="3"))
                self.assertEqual((p.returncode, p.stdout), (0, "OK\n"), p.stderr)

            def applied(m):
                with open(m.log_path) as f:
                    return [json.loads(line) for line in f
                            if '"applying command"' in line and '"op":"put"' in line]
            for m in c.members:  # each applies both, knowing who sent each
                wait_until(lambda: len(applied(m)) >= 2, 20, 0.2, f"{m.name} to apply both")
                self.assertEqual(sorted(x["user"] for x in applied(m)), ["alice", "bob"],
                                 applied(m))


class MixedListenersBase:
    """One listen list with an https and an http URL (etcd's way): each is served, the
    https one with TLS, the http one in plaintext; on the peer and metrics ports too."""

    def test_each_url_of_a_mixed_list_is_served_with_its_scheme(self):
        tls_port, plain_port, peer_tls, peer_plain, metrics_tls, metrics_plain = (
            free_port() for _ in range(6))
        with tempfile.TemporaryDirectory() as d:
            proc = subprocess.Popen(
                [self.binary(), "--name", "m1", "--data-dir", os.path.join(d, "data"),
                 "--listen-client-urls",
                 f"https://127.0.0.1:{tls_port},http://127.0.0.1:{plain_port}",
                 "--advertise-client-urls", f"https://127.0.0.1:{tls_port}",
                 "--listen-peer-urls",
                 f"https://127.0.0.1:{peer_tls},http://127.0.0.1:{peer_plain}",
                 "--initial-advertise-peer-urls", f"https://127.0.0.1:{peer_tls}",
                 "--initial-cluster", f"m1=https://127.0.0.1:{peer_tls}",
                 "--listen-metrics-urls",
                 f"https://127.0.0.1:{metrics_tls},http://127.0.0.1:{metrics_plain}",
                 "--cert-file", CERTS.path("server.pem"), "--key-file", CERTS.path("server.key"),
                 "--peer-cert-file", CERTS.path("n1.pem"), "--peer-key-file",
                 CERTS.path("n1.key")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                def ctl(endpoint, *flags_and_args):
                    p = subprocess.run(["etcdctl", "--endpoints=" + endpoint,
                                        "--command-timeout=3s", *flags_and_args],
                                       capture_output=True, text=True, timeout=30,
                                       env=dict(os.environ, ETCDCTL_API="3"))
                    return p.returncode, p.stdout
                tls_url = f"https://127.0.0.1:{tls_port}"
                wait_until(lambda: ctl(tls_url, "--cacert", CERTS.path("ca.pem"), "put", "mixed",
                                       "1") == (0, "OK\n"), 30, 0.2, "a put over https")
                self.assertEqual(ctl(f"http://127.0.0.1:{plain_port}", "get", "mixed",
                                     "--print-value-only"), (0, "1\n"))
                self.assertNotEqual(ctl(f"http://127.0.0.1:{tls_port}", "get", "mixed")[0], 0)
                # The peer list: TLS on the first URL, plaintext on the second.
                self.assertEqual(served_certificate(peer_tls, client="n2"), der("n1"))
                import socket
                import ssl
                socket.create_connection(("127.0.0.1", peer_plain), timeout=5).close()
                with self.assertRaises((ssl.SSLError, ConnectionResetError)):  # but not TLS
                    served_certificate(peer_plain, client="n2")
                # The metrics list: /health over https and over http.
                import urllib.request
                ctx = ssl.create_default_context(cafile=CERTS.path("ca.pem"))
                for url, context in ((f"https://127.0.0.1:{metrics_tls}/health", ctx),
                                     (f"http://127.0.0.1:{metrics_plain}/health", None)):
                    with urllib.request.urlopen(url, context=context, timeout=5) as r:
                        self.assertEqual(json.loads(r.read())["health"], "true", url)
            finally:
                proc.terminate()
                proc.wait(timeout=20)


RaftkvMixedListeners, Etcd34MixedListeners = against_both(MixedListenersBase, "MixedListeners")


class AuthOverTlsBase:
    """etcd's auth over client TLS with --client-cert-auth: python3-etcd3 with `user` and
    `password` (it sends credentials only over TLS), and a certificate's CN as the user
    when a client sends no token, as etcd does."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, binary=cls.binary(), extra_flags=CERTS.server_flags(),
                              client_scheme="https", ctl_flags=CERTS.client_flags()).__enter__()
        # The client certificate's CN is alice: she sets auth up while it is off.
        cls.cluster.etcdctl_steps(*APP_AUTH_STEPS)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def python_client(self, **auth):
        import etcd3
        m = self.cluster.members[1]
        return etcd3.client(host="127.0.0.1", port=m.client_port, ca_cert=CERTS.path("ca.pem"),
                            cert_key=CERTS.path("bob.key"), cert_cert=CERTS.path("bob.pem"),
                            timeout=10, **auth)

    def test_python3_etcd3_with_user_and_password(self):
        client = self.python_client(user="alice", password="alicepw")
        try:
            client.put("app/py", "from python")
            self.assertEqual(client.get("app/py")[0], b"from python")
            with self.assertRaises(Exception) as refused:
                client.put("other", "x")
            self.assertIn("permission denied", str(refused.exception).lower() +
                          repr(refused.exception).lower())
        finally:
            client.close()
        with self.assertRaises(Exception) as wrong:
            self.python_client(user="alice", password="nope")
        self.assertIn("authentication failed", repr(wrong.exception))

    def test_a_certificates_cn_is_the_user_without_a_token(self):
        # alice's certificate: her grants; bob's (CN bob, no such user): none.
        code, out, err = self.cluster.etcdctl("put", "app/cert", "1")
        self.assertEqual((code, out), (0, "OK\n"), err)
        code, out, err = self.cluster.etcdctl("put", "other", "1")
        self.assertNotEqual(code, 0, out)
        self.assertIn("permission denied", err)
        bob = CERTS.client_flags("bob")
        p = subprocess.run(["etcdctl", "--endpoints=" + self.cluster.endpoints(), *bob, "get",
                            "app/cert"], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"))
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("permission denied", p.stderr)


RaftkvAuthOverTls, Etcd34AuthOverTls = against_both(AuthOverTlsBase, "AuthOverTls")


class RaftkvMetricsCertAuth(unittest.TestCase):
    """--metrics-require-auth on an https metrics port: a client certificate's CN is the
    user the policy asks about view_metrics (raftkv only: etcd has no such flag)."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3, binary=raftkv_binary(),
                              extra_flags=CERTS.server_flags() + ["--metrics-require-auth"],
                              client_scheme="https", ctl_flags=CERTS.client_flags(),
                              metrics_scheme="https").__enter__()
        # alice (the client certificate's CN) is a cluster_viewer; bob is no user at all.
        cls.cluster.etcdctl_steps(("user", "add", "root:rootpw"), ("user", "add", "alice:pw"),
                                  ("role", "add", "cluster_viewer"),
                                  ("user", "grant-role", "alice", "cluster_viewer"),
                                  ("auth", "enable"))

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def get(self, path, client):
        import ssl
        import urllib.error
        import urllib.request
        ctx = ssl.create_default_context(cafile=CERTS.path("ca.pem"))
        ctx.load_cert_chain(CERTS.path(f"{client}.pem"), CERTS.path(f"{client}.key"))
        try:
            with urllib.request.urlopen(self.cluster.members[1].metrics_url + path,
                                        context=ctx, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_a_certificates_user_needs_view_metrics(self):
        code, body = self.get("/metrics", "client")
        self.assertEqual(code, 200, body)
        self.assertIn("etcd_server_has_leader 1", body)
        code, body = self.get("/metrics", "bob")
        self.assertEqual(code, 403, body)
        self.assertIn("user bob (roles: none) may not view_metrics on cluster", body)
        self.assertEqual(self.get("/health", "bob")[0], 200)


class BadFiles(unittest.TestCase):
    """Each stops raftkv's start with exit 2 and one line naming the flag, file and reason."""

    def start(self, *flags, client_scheme="https", peer_scheme="http"):
        client, peer = free_port(), free_port()
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run(
                [raftkv_binary(), "--data-dir",
                 os.path.join(d, "data"), "--listen-client-urls",
                 f"{client_scheme}://127.0.0.1:{client}",
                 "--listen-peer-urls", f"{peer_scheme}://127.0.0.1:{peer}", "--initial-cluster",
                 f"default={peer_scheme}://127.0.0.1:{peer}", *flags],
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
            (["--cert-file", c("future.pem"), "--key-file", c("server.key")],
             f"--cert-file {c('future.pem')}: the certificate is not valid before Jan  1 "
             "00:00:00 2099 GMT"),
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

    def test_each_bad_peer_file_is_named_with_its_peer_flag(self):
        c = CERTS.path
        cases = [
            ([], "https needs --peer-cert-file and --peer-key-file"),
            (["--peer-cert-file", c("n1.pem"), "--peer-key-file", c("n2.key")],
             f"--peer-key-file {c('n2.key')}: does not match the certificate in "
             f"--peer-cert-file {c('n1.pem')}"),
            (["--peer-cert-file", c("expired.pem"), "--peer-key-file", c("server.key")],
             f"--peer-cert-file {c('expired.pem')}: the certificate expired on"),
            (["--peer-cert-file", c("n1.pem"), "--peer-key-file", c("n1.key"),
              "--peer-trusted-ca-file", c("other-ca.pem")],
             f"--peer-cert-file {c('n1.pem')}: is not signed by --peer-trusted-ca-file "
             f"{c('other-ca.pem')}"),
            (["--peer-cert-file", c("n1.pem"), "--peer-key-file", c("n1.key"),
              "--peer-client-cert-auth"], "--peer-client-cert-auth needs --peer-trusted-ca-file"),
        ]
        for flags, message in cases:
            with self.subTest(flags=flags):
                self.assertIn(message, self.start(*flags, client_scheme="http",
                                                  peer_scheme="https"))


if __name__ == "__main__":
    unittest.main()
