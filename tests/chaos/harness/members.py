"""Members of the cluster under test: raftkv or etcd processes, each in its slot's
network namespace, started, killed, paused and restarted by pid."""
import ctypes
import json
import os
import resource
import signal
import subprocess
import time

PR_SET_PDEATHSIG = 1
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _child_setup():
    # Dies with the harness; no core files from the SIGKILLs and SIGABRTs to come.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Member:
    def __init__(self, cluster, slot):
        self.cluster = cluster
        self.slot = slot
        self.name = f"m{slot}"
        self.address = cluster.topology.address(slot)
        self.client_url = f"http://{self.address}:2379"
        self.peer_url = f"http://{self.address}:2380"
        self.metrics_url = f"http://{self.address}:2381"
        self.dir = os.path.join(cluster.run_dir, "members", self.name)
        self.data_dir = os.path.join(self.dir, "data")
        self.proc = None
        self.paused = False
        self.state = "new"
        self.starts = 0
        self.may_abort = False  # a failed fsync was injected: it must stop by itself
        self.removed = False    # removed from the cluster: it stops by itself

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        c = self.cluster
        args = [c.binary, "--name", self.name, "--data-dir", self.data_dir,
                "--listen-client-urls", self.client_url, "--advertise-client-urls",
                self.client_url, "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--listen-metrics-urls", self.metrics_url,
                "--initial-cluster", c.initial_cluster(), "--initial-cluster-state", self.state,
                "--initial-cluster-token", "chaos", "--heartbeat-interval", "100",
                "--election-timeout", "1000", "--snapshot-count", "2000"] + c.extra_flags
        if c.target == "raftkv":
            # A snapshot every 2,000 entries however large the store (etcd's rule): taken,
            # sent and installed under the faults as often as before raftkv's size rule.
            args += ["--snapshot-log-percent", "0"]
        env = dict(os.environ)
        env.update(c.member_env(self))
        log = open(os.path.join(self.dir, "log"), "a")
        log.write(f"--- start {self.starts + 1} at {time.monotonic_ns()}\n")
        log.flush()
        self.proc = subprocess.Popen(c.topology.exec_prefix(self.slot) + args, stdout=log,
                                     stderr=subprocess.STDOUT, env=env, preexec_fn=_child_setup)
        log.close()
        self.paused = False
        self.starts += 1

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self):
        if self.paused:
            self.resume()
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.paused = False

    def status(self, timeout=3):
        """etcdctl endpoint status from the clients' namespace, or None."""
        p = subprocess.run(self.cluster.topology.exec_prefix() +
                           ["etcdctl", f"--endpoints={self.client_url}",
                            f"--command-timeout={timeout}s", "--dial-timeout=2s",
                            "endpoint", "status", "-w", "json"],
                           capture_output=True, text=True, timeout=timeout + 10)
        if p.returncode != 0:
            return None
        try:
            return json.loads(p.stdout)[0]["Status"]
        except (ValueError, KeyError, IndexError):
            return None


class Cluster:
    def __init__(self, topology, run_dir, target, binary, n, extra_flags=None):
        self.topology = topology
        self.run_dir = run_dir
        self.target = target
        self.binary = binary
        self.extra_flags = extra_flags or []
        self.members = [Member(self, slot) for slot in range(1, n + 1)]
        self.clock_files = {}

    def initial_cluster(self):
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def faults_file(self, member):
        return os.path.join(member.dir, "faults")

    def write_faults(self, member, text):
        """raftkv-chaos's file-system faults for one member (tests/chaos/fault_fs)."""
        path = self.faults_file(member)
        os.makedirs(member.dir, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)

    def member_env(self, member):
        env = {}
        if self.target == "raftkv":
            # Every raftkv chaos build stores its data on the fault-injecting file system;
            # lazy: a SIGKILL loses what was not fsynced, as a power loss does.
            if not os.path.exists(self.faults_file(member)):
                self.write_faults(member, "lazy=1\n")
            env["RAFTKV_CHAOS_FAULTS"] = self.faults_file(member)
        if member.name in self.clock_files:
            # The wall clock only: raftkv's timeouts read the monotonic clock, which
            # libfaketime could only fake inconsistently (docs/design/chaos.md, section 0).
            env.update({
                "LD_PRELOAD": FAKETIME_LIB,
                "FAKETIME_TIMESTAMP_FILE": self.clock_files[member.name],
                "FAKETIME_CACHE_DURATION": "1",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                "FAKETIME_NO_CACHE": "0",
            })
        return env

    def etcdctl(self, args, endpoints=None, timeout=5):
        """etcdctl from the clients' namespace: (exit code, stdout, stderr)."""
        eps = endpoints or [m for m in self.members if m.alive() and not m.paused]
        p = subprocess.run(self.topology.exec_prefix() +
                           ["etcdctl", "--endpoints=" + ",".join(m.client_url for m in eps),
                            f"--command-timeout={timeout}s", "--dial-timeout=2s"] + args,
                           capture_output=True, text=True, timeout=timeout + 20)
        return p.returncode, p.stdout, p.stderr.strip()

    def member_list(self, endpoints=None):
        """The cluster's members as etcdctl prints them, or None."""
        code, out, _ = self.etcdctl(["member", "list", "-w", "json"], endpoints)
        if code != 0:
            return None
        try:
            return json.loads(out).get("members", [])
        except ValueError:
            return None

    def endpoints_flag(self):
        return ",".join(f"{m.name}={m.client_url}" for m in self.members)

    def start(self):
        for m in self.members:
            m.start()
        for m in self.members:
            m.state = "existing"

    def leader(self):
        """The member the majority names as leader, or None."""
        ids = {}
        for m in self.members:
            if not m.alive() or m.paused:
                continue
            st = m.status()
            if st is not None:
                ids[m.name] = st
        votes = {}
        for st in ids.values():
            votes[st.get("leader", 0)] = votes.get(st.get("leader", 0), 0) + 1
        for name, st in ids.items():
            leader = st.get("leader", 0)
            if leader != 0 and st["header"]["member_id"] == leader and \
                    votes.get(leader, 0) * 2 > len(self.members):
                return next(m for m in self.members if m.name == name)
        return None

    def wait_converged(self, within):
        """Every member up and naming one leader, and each has applied what the leader
        had committed when they first agreed (clients may still be writing): True, or
        False after `within` seconds."""
        deadline = time.monotonic() + within
        target = None
        while time.monotonic() < deadline:
            sts = [m.status() for m in self.members]
            if all(st is not None for st in sts):
                leaders = {st.get("leader", 0) for st in sts}
                if len(leaders) == 1 and 0 not in leaders:
                    if target is None:
                        target = max(st.get("raftIndex", 0) for st in sts)
                    if all(st.get("raftAppliedIndex", 0) >= target for st in sts):
                        return True
            time.sleep(0.5)
        return False

    def stop(self):
        for m in self.members:
            if m.paused:
                m.resume()
            m.signal(signal.SIGKILL)
        for m in self.members:
            if m.proc is not None:
                try:
                    m.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
