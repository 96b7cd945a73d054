"""Real raftkv processes on 127.0.0.1 for tests: start a cluster with etcd's flags, kill
and restart members by PID, add members, and always stop everything started.

Standard library only; run with Debian's /usr/bin/python3 (which also sees python3-etcd3).
Every wait is bounded in time and in count.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request


_handed_out = set()


def free_port():
    """A port free now and not handed out before by this process: the kernel may offer
    a just-closed port again, and two listeners of one member must never share one."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port found in 1000 tries")


def wait_until(pred, timeout=20.0, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    tries = 0
    while tries < 100000:
        tries += 1
        if pred():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def metric_value(text, name, labels=None):
    """The value of one series in Prometheus text, or None. `labels` must match exactly
    the label set written (in any order)."""
    want = dict(labels or {})
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if got == want:
            return float(m.group(4))
    return None


class Member:
    def __init__(self, name, root):
        self.name = name
        self.client_port = free_port()
        self.peer_port = free_port()
        self.metrics_port = free_port()
        self.data_dir = os.path.join(root, name)
        self.log_path = os.path.join(root, name + ".log")
        self.proc = None
        self.scheme = "http"  # of the client URL: https when the cluster serves TLS
        self.peer_scheme = "http"  # of the peer URL: https with peer TLS
        self.metrics_scheme = "http"

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self):
        return f"{self.peer_scheme}://127.0.0.1:{self.peer_port}"

    @property
    def client_url(self):
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def metrics_url(self):
        return f"{self.metrics_scheme}://127.0.0.1:{self.metrics_port}"

    def metric(self, name, labels=None):
        """The value of one series on this member's /metrics (plain HTTP), or None."""
        with urllib.request.urlopen(self.metrics_url + "/metrics", timeout=5) as r:
            return metric_value(r.read().decode(), name, labels)


class Cluster:
    """A cluster of `size` members of `binary` (default: build/bin/raftkv)."""

    def __init__(self, size=3, binary=None, extra_flags=(), token="raftkv-test",
                 heartbeat_ms=50, election_ms=500, client_scheme="http", ctl_flags=(),
                 peer_scheme="http", member_flags=None, metrics_scheme="http"):
        """client_scheme https with TLS flags in extra_flags serves clients over TLS;
        ctl_flags (--cacert, --cert, --key) go to every etcdctl call the harness makes;
        peer_scheme https with member_flags(name) (each member's --peer-cert-file...)
        runs the peer port over TLS; metrics_scheme https serves /metrics over TLS."""
        self.binary = binary or os.environ.get("RAFTKV_SERVER") or default_binary()
        self.root = tempfile.mkdtemp(prefix="raftkv-cluster-")
        self.token = token
        self.extra_flags = list(extra_flags)
        self.heartbeat_ms, self.election_ms = heartbeat_ms, election_ms
        self.client_scheme, self.ctl_flags = client_scheme, list(ctl_flags)
        self.peer_scheme, self.metrics_scheme = peer_scheme, metrics_scheme
        self.member_flags = member_flags or (lambda name: [])
        self.members = [self._member(f"n{i + 1}") for i in range(size)]
        self.initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def __enter__(self):
        try:
            for m in self.members:
                self._spawn(m, self.initial, "new")
            self.wait_ready(self.members)
        except BaseException:
            self.stop_all()
            raise
        return self

    def __exit__(self, *exc):
        self.stop_all()
        if exc[0] is None:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            print(f"cluster logs kept in {self.root}")
            for m in self.members:
                if os.path.exists(m.log_path):
                    with open(m.log_path) as f:
                        print(f"--- {m.name} ---\n{f.read()[-3000:]}")
        return False

    def _member(self, name):
        m = Member(name, self.root)
        m.scheme, m.peer_scheme = self.client_scheme, self.peer_scheme
        m.metrics_scheme = self.metrics_scheme
        return m

    def _spawn(self, m, initial, state):
        args = [self.binary, "--name", m.name, "--data-dir", m.data_dir,
                "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
                "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
                "--listen-metrics-urls", m.metrics_url,
                "--initial-cluster", initial, "--initial-cluster-state", state,
                "--initial-cluster-token", self.token,
                "--heartbeat-interval", str(self.heartbeat_ms),
                "--election-timeout", str(self.election_ms)] + self.extra_flags + \
            self.member_flags(m.name)
        log = open(m.log_path, "a")
        m.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        m.initial, m.state = initial, state

    def endpoints(self, members=None):
        return ",".join(m.endpoint for m in (members or self.live()))

    def live(self):
        return [m for m in self.members if m.proc is not None and m.proc.poll() is None]

    def etcdctl(self, *args, endpoints=None, timeout=20, stdin=None):
        env = dict(os.environ, ETCDCTL_API="3")
        p = subprocess.run(["etcdctl", "--endpoints=" + (endpoints or self.endpoints()),
                            "--command-timeout=5s", *self.ctl_flags, *args], input=stdin,
                           capture_output=True,
                           text=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr

    def etcdctl_steps(self, *steps):
        """Runs each etcdctl command (a tuple of its arguments) in turn; the first that
        fails raises, naming it."""
        for args in steps:
            code, _, err = self.etcdctl(*args)
            if code != 0:
                raise AssertionError(f"etcdctl {' '.join(args)}: {err}")

    def status(self, m):
        """(is_leader, raft_term, applied) of member m, or None when it does not answer."""
        code, out, _ = self.etcdctl("endpoint", "status", "-w", "json", endpoints=m.endpoint,
                                    timeout=10)
        if code != 0 or not out.strip():
            return None
        import json
        st = json.loads(out)[0]["Status"]
        # etcdctl's JSON leaves out fields that are zero (no leader yet, say).
        leader = st.get("leader", 0)
        return (leader != 0 and leader == st["header"].get("member_id"),
                st.get("raft_term", 0), st.get("raftAppliedIndex", 0))

    def health(self, m):
        """(HTTP status, JSON body) of m's /health, or None when it does not answer."""
        import json
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(m.metrics_url + "/health", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
        except OSError:
            return None

    def leader(self):
        for m in self.live():
            st = self.status(m)
            if st and st[0]:
                return m
        return None

    def wait_ready(self, members, timeout=30):
        wait_until(lambda: all(self.status(m) is not None for m in members) and
                   self.leader() is not None, timeout, 0.1, "every member to answer and a leader")

    def kill(self, m, sig=signal.SIGKILL):
        if m.proc is not None and m.proc.poll() is None:
            os.kill(m.proc.pid, sig)
            try:
                m.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(m.proc.pid, signal.SIGKILL)
                m.proc.wait(timeout=10)
        m.proc = None

    def restart(self, m):
        self._spawn(m, m.initial, m.state)

    def add_member(self, name, learner=False):
        """Adds a member through etcdctl and starts its process; returns it."""
        m = self._member(name)
        args = ["member", "add", name, "--peer-urls=" + m.peer_url]
        if learner:
            args.append("--learner")
        # etcd itself refuses changes until every member has been up for 5 s ("unhealthy
        # cluster"); raftkv does not, but the same harness drives both.
        for _ in range(40):
            code, out, err = self.etcdctl(*args)
            if code == 0 or "unhealthy cluster" not in err:
                break
            time.sleep(0.5)
        if code != 0:
            raise AssertionError(f"member add failed: {out}{err}")
        initial = ",".join(f"{x.name}={x.peer_url}" for x in self.live()) + f",{name}={m.peer_url}"
        self.members.append(m)
        self._spawn(m, initial, "existing")
        return m, out

    def member_id(self, m):
        import json
        code, out, _ = self.etcdctl("endpoint", "status", "-w", "json", endpoints=m.endpoint)
        if code != 0:
            return None
        return json.loads(out)[0]["Status"]["header"]["member_id"]

    def stop_all(self):
        for m in self.members:
            if m.proc is not None and m.proc.poll() is None:
                try:
                    os.kill(m.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for m in self.members:
            if m.proc is None:
                continue
            try:
                m.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(m.proc.pid, signal.SIGKILL)
                m.proc.wait(timeout=10)
            m.proc = None


def default_binary():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "build", "bin", "raftkv")


# The auth the suites share: users root (rootpw) and alice (alicepw), alice holding role
# app (READWRITE on the prefix app/), and auth on.
APP_AUTH_STEPS = (("user", "add", "root:rootpw"), ("user", "add", "alice:alicepw"),
                  ("role", "add", "app"),
                  ("role", "grant-permission", "app", "readwrite", "app/", "--prefix"),
                  ("user", "grant-role", "alice", "app"), ("auth", "enable"))


# ---- running one suite against raftkv and against etcd 3.4 ----

ETCD = "/usr/bin/etcd"


def raftkv_binary():
    return os.environ.get("RAFTKV_SERVER") or default_binary()


def etcd_release_run(cls):
    """A test class against etcd 3.4: skipped when it is not installed, and in the
    sanitizer build (whose run checks raftkv, not etcd)."""
    import unittest
    cls = unittest.skipIf(os.environ.get("RAFTKV_SANITIZED") == "1",
                          "the sanitizer build checks raftkv; etcd's run is the release "
                          "build's")(cls)
    return unittest.skipUnless(os.path.exists(ETCD), "etcd 3.4 is not installed")(cls)


def against_both(base, name):
    """`base`'s tests as two test classes: RaftkvNAME and Etcd34NAME (etcd_release_run).
    `base` reads the server binary from cls.binary()."""
    import unittest
    # The classes belong to `base`'s module, so that its setUpModule runs for them.
    raftkv = type("Raftkv" + name, (base, unittest.TestCase),
                  {"binary": staticmethod(raftkv_binary), "__module__": base.__module__})
    etcd = type("Etcd34" + name, (base, unittest.TestCase),
                {"binary": staticmethod(lambda: ETCD), "__module__": base.__module__})
    return raftkv, etcd_release_run(etcd)
