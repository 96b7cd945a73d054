"""Faults: each nemesis starts one fault and heals it. start() returns the targets and a
detail for nemesis.jsonl; heal() undoes exactly what start() did. Every command run is
logged with the fault."""
import os
import shutil
import signal
import subprocess
import time


class Nemesis:
    name = ""

    def __init__(self, cluster, rng):
        self.cluster = cluster
        self.topology = cluster.topology
        self.rng = rng

    def others(self, member):
        return [m for m in self.cluster.members if m is not member]

    def pick(self):
        return self.rng.choice(self.cluster.members)

    def pick_leader(self):
        leader = self.cluster.leader()
        return leader if leader is not None else self.pick()


class Partition(Nemesis):
    """Sides that cannot reach each other; `bridge` members reach both."""

    def __init__(self, cluster, rng, kind):
        super().__init__(cluster, rng)
        self.kind = kind
        self.name = f"partition-{kind}"

    def sides(self):
        members = list(self.cluster.members)
        if self.kind == "one":
            target = self.pick()
            return [[target], self.others(target)], []
        if self.kind == "leader":
            target = self.pick_leader()
            return [[target], self.others(target)], []
        self.rng.shuffle(members)
        if self.kind == "majority":
            half = len(members) // 2
            return [members[:half], members[half:]], []
        # bridge: two sides that only the bridge member reaches both of
        bridge = members[0]
        rest = members[1:]
        half = len(rest) // 2
        return [rest[:half], rest[half:]], [bridge]

    def start(self, log):
        sides, bridges = self.sides()
        a, b = sides
        for m in a:
            self.topology.block(m.slot, [x.slot for x in b], log)
        for m in b:
            self.topology.block(m.slot, [x.slot for x in a], log)
        detail = " | ".join(",".join(m.name for m in side) for side in sides)
        if bridges:
            detail += f" (bridge {bridges[0].name})"
        return [m.name for m in a], detail

    def heal(self, log):
        for m in self.cluster.members:
            self.topology.unblock_all(m.slot, log)


class OneWay(Nemesis):
    """B stops hearing A; A still hears B."""
    name = "partition-one-way"

    def start(self, log):
        a = self.pick_leader()
        b = self.rng.choice(self.others(a))
        self.topology.block(b.slot, [a.slot], log)
        return [b.name], f"{b.name} drops everything from {a.name}"

    def heal(self, log):
        for m in self.cluster.members:
            self.topology.unblock_all(m.slot, log)


class Loss(Nemesis):
    name = "loss"

    def start(self, log):
        target = self.pick()
        percent = self.rng.choice([10, 25, 40])
        others = self.others(target)
        self.topology.lossy(target.slot, [m.slot for m in others], percent, log)
        for m in others:
            self.topology.lossy(m.slot, [target.slot], percent, log)
        return [target.name], f"{percent}% of packets to and from it dropped"

    def heal(self, log):
        for m in self.cluster.members:
            self.topology.clear_loss(m.slot, log)


class OneWayLoss(Nemesis):
    """B loses some of what A sends it; A hears all of B (an asymmetric, lossy link)."""
    name = "loss-one-way"

    def start(self, log):
        a = self.pick_leader()
        b = self.rng.choice(self.others(a))
        percent = self.rng.choice([25, 50, 75])
        self.topology.lossy(b.slot, [a.slot], percent, log)
        return [b.name], f"{b.name} drops {percent}% of the packets from {a.name}"

    def heal(self, log):
        for m in self.cluster.members:
            self.topology.clear_loss(m.slot, log)


class SlowLink(Nemesis):
    name = "delay"

    def start(self, log):
        self.target = self.pick_leader()
        how = self.topology.slow_link(self.target.slot, log)
        return [self.target.name], ("netem delay 80ms +-40ms" if how == "netem" else
                                    "tbf 256kbit, 400 ms queue (the kernel has no netem)")

    def heal(self, log):
        for m in self.cluster.members:
            self.topology.clear_link(m.slot, log)


class Kill(Nemesis):
    """SIGKILL, restarted at heal with the same flags and data."""

    def __init__(self, cluster, rng, leader=False, count=1):
        super().__init__(cluster, rng)
        self.leader = leader
        self.count = count
        self.name = "kill-leader" if leader else ("kill" if count == 1 else f"kill-{count}")
        self.targets = []

    def start(self, log):
        if self.leader:
            self.targets = [self.pick_leader()]
        else:
            self.targets = self.rng.sample(self.cluster.members, self.count)
        for m in self.targets:
            if m.alive():
                log.append(f"kill -KILL {m.proc.pid}")
                m.signal(signal.SIGKILL)
        for m in self.targets:
            m.kill()  # reaps it
        return [m.name for m in self.targets], ""

    def heal(self, log):
        for m in self.targets:
            if not m.alive():
                m.start()
                log.append(f"started {m.name}: pid {m.proc.pid}")


class Pause(Nemesis):
    """SIGSTOP for the fault's duration (longer than an election timeout), then SIGCONT."""

    def __init__(self, cluster, rng, leader=False):
        super().__init__(cluster, rng)
        self.leader = leader
        self.name = "pause-leader" if leader else "pause"
        self.target = None

    def start(self, log):
        self.target = self.pick_leader() if self.leader else self.pick()
        log.append(f"kill -STOP {self.target.proc.pid}")
        self.target.pause()
        return [self.target.name], ""

    def heal(self, log):
        if self.target is not None:
            log.append(f"kill -CONT {self.target.proc.pid}")
            self.target.resume()


class ClockSkew(Nemesis):
    """The member's wall clock jumps (libfaketime re-reads its file every second)."""
    name = "clock-skew"

    def write(self, member, offset, log):
        path = self.cluster.clock_files[member.name]
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.rename(tmp, path)
        log.append(f"echo {offset} > {path}")

    def start(self, log):
        target = self.pick_leader()
        offset = self.rng.choice(["+7", "-7", "+60", "-60", "+3600", "-3600"])
        self.write(target, offset, log)
        return [target.name], f"wall clock {offset} s"

    def heal(self, log):
        for m in self.cluster.members:
            self.write(m, "+0", log)


class SlowFsync(Nemesis):
    """Every fsync of one member (often the leader) takes 200-1500 ms."""
    name = "slow-fsync"

    def start(self, log):
        self.target = self.pick_leader()
        ms = self.rng.choice([200, 500, 1500])
        self.cluster.write_faults(self.target, f"lazy=1\nfsync_delay_ms={ms}\n")
        log.append(f"{self.target.name} faults: fsync_delay_ms={ms}")
        return [self.target.name], f"every fsync waits {ms} ms"

    def heal(self, log):
        self.cluster.write_faults(self.target, "lazy=1\n")
        log.append(f"{self.target.name} faults: none")


class FailFsync(Nemesis):
    """The next fsync of one member fails (its unsynced bytes are gone): the member must
    stop rather than go on without them, and recover from its disk when restarted."""
    name = "fail-fsync"

    def start(self, log):
        self.target = self.pick_leader()
        self.target.may_abort = True
        self.cluster.write_faults(self.target, "lazy=1\nfsync_fail=once\n")
        log.append(f"{self.target.name} faults: fsync_fail=once")
        return [self.target.name], "the next fsync fails"

    def heal(self, log):
        fired = os.path.exists(self.cluster.faults_file(self.target) + ".fired")
        self.cluster.write_faults(self.target, "lazy=1\n")
        if fired:
            os.rename(self.cluster.faults_file(self.target) + ".fired",
                      self.cluster.faults_file(self.target) + f".fired.{time.monotonic_ns()}")
        m = self.target
        stopped = not m.alive()
        if fired and not stopped:
            # Give it the rest of its 10 s to notice.
            deadline = time.monotonic() + 10
            while m.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            stopped = not m.alive()
        code = None if m.proc is None else m.proc.returncode
        log.append(f"{m.name}: fired={fired} stopped={stopped} exit={code}")
        self.outcome = {"fired": fired, "stopped": stopped, "exit": code}
        if stopped:
            m.start()
            log.append(f"started {m.name}: pid {m.proc.pid}")
        m.may_abort = False


class Churn(Nemesis):
    """Membership change while clients run: a member (sometimes the leader) is removed,
    stops by itself, and comes back with an empty data directory at the same address,
    first as a learner, then promoted once it has caught up."""
    name = "churn"

    def __init__(self, cluster, rng):
        super().__init__(cluster, rng)
        self.outcome = {}

    def retry(self, args, endpoints, within, log):
        deadline = time.monotonic() + within
        while True:
            code, out, err = self.cluster.etcdctl(args, endpoints)
            log.append(f"etcdctl {' '.join(args)}: exit {code} {err[-200:]}")
            if code == 0 or time.monotonic() > deadline:
                return code == 0, out
            time.sleep(1)

    def listing(self, endpoints, within=30):
        """The member list, asked until some member answers (None after `within` s)."""
        deadline = time.monotonic() + within
        while True:
            listed = self.cluster.member_list(endpoints)
            if listed is not None or time.monotonic() > deadline:
                return listed
            time.sleep(1)

    def find(self, members, peer_url):
        for m in members or []:
            if peer_url in m.get("peerURLs", []):
                return m
        return None

    def start(self, log):
        self.target = t = self.pick_leader() if self.rng.random() < 0.3 else self.pick()
        others = self.others(t)
        entry = self.find(self.cluster.member_list(others), t.peer_url)
        if entry is None:
            self.outcome["removed"] = False
            return [t.name], "not found in the member list: nothing done"
        t.removed = True
        ok, _ = self.retry(["member", "remove", f"{entry['ID']:x}"], others, 20, log)
        if not ok:
            # A remove that timed out may still have committed (the retries then answer
            # "member not found"): the member list decides.
            listed = self.listing(others)
            ok = listed is not None and self.find(listed, t.peer_url) is None
            log.append(f"member list after the failed removes: removed={ok}")
        self.outcome["removed"] = ok
        if not ok:
            t.removed = False
            return [t.name], "member remove failed for 20 s: nothing done"
        deadline = time.monotonic() + 20
        while t.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.outcome["stopped_by_itself"] = not t.alive()
        self.outcome["exit"] = None if t.proc is None else t.proc.poll()
        if t.alive():
            self.post_mortem(t)
        t.kill()
        # Kept for a post-mortem; the member comes back empty.
        if os.path.exists(t.data_dir):
            os.rename(t.data_dir, f"{t.data_dir}.removed.{time.monotonic_ns()}")
        return [t.name], f"removed (id {entry['ID']:x})"

    def post_mortem(self, t):
        """What a removed member that did not stop was doing: its threads and its sockets."""
        out = os.path.join(os.path.dirname(t.data_dir), f"not-stopped.{time.monotonic_ns()}.txt")
        cmds = [t.cluster.topology.exec_prefix(t.slot) + ["ss", "-tnpio"]]
        if shutil.which("gdb"):
            cmds.append(["gdb", "-p", str(t.proc.pid), "-batch", "-ex", "thread apply all bt"])
        with open(out, "w") as f:
            for c in cmds:
                f.write("$ " + " ".join(c) + "\n")
                f.flush()
                try:
                    subprocess.run(c, stdout=f, stderr=subprocess.STDOUT, timeout=60)
                except (OSError, subprocess.TimeoutExpired) as e:
                    f.write(f"failed: {e}\n")

    def heal(self, log):
        t = self.target
        if not self.outcome.get("removed"):
            return
        others = self.others(t)
        ok, _ = self.retry(["member", "add", t.name, f"--peer-urls={t.peer_url}", "--learner"],
                           others, 30, log)
        if not ok:
            # As for the remove: an add that timed out may have committed.
            ok = self.find(self.listing(others), t.peer_url) is not None
            log.append(f"member list after the failed adds: added={ok}")
        self.outcome["added"] = ok
        if not ok:
            return
        t.state = "existing"
        t.removed = False
        t.start()
        log.append(f"started {t.name} (learner): pid {t.proc.pid}")
        # A learner is promoted once it has caught up; both servers refuse before that.
        deadline = time.monotonic() + 60
        promoted = False
        while not promoted and time.monotonic() < deadline:
            entry = self.find(self.cluster.member_list(others), t.peer_url)
            if entry is not None and not entry.get("isLearner"):
                promoted = True
                break
            if entry is not None:
                promoted, _ = self.retry(["member", "promote", f"{entry['ID']:x}"], others, 0,
                                         log)
            if not promoted:
                time.sleep(1)
        self.outcome["promoted"] = promoted


class ClockJump(ClockSkew):
    """The wall clock jumps forward, then back twice as far while the member runs."""
    name = "clock-jump"

    def start(self, log):
        target = self.pick_leader()
        step = self.rng.choice([30, 600])
        self.write(target, f"+{step}", log)
        time.sleep(2)
        self.write(target, f"-{step}", log)
        return [target.name], f"wall clock +{step} s, 2 s later -{step} s"


def make(name, cluster, rng):
    table = {
        "partition-one": lambda: Partition(cluster, rng, "one"),
        "partition-leader": lambda: Partition(cluster, rng, "leader"),
        "partition-majority": lambda: Partition(cluster, rng, "majority"),
        "partition-bridge": lambda: Partition(cluster, rng, "bridge"),
        "partition-one-way": lambda: OneWay(cluster, rng),
        "loss": lambda: Loss(cluster, rng),
        "loss-one-way": lambda: OneWayLoss(cluster, rng),
        "delay": lambda: SlowLink(cluster, rng),
        "kill": lambda: Kill(cluster, rng),
        "kill-leader": lambda: Kill(cluster, rng, leader=True),
        "kill-majority": lambda: Kill(cluster, rng, count=len(cluster.members) // 2 + 1),
        "kill-all": lambda: Kill(cluster, rng, count=len(cluster.members)),
        "pause": lambda: Pause(cluster, rng),
        "pause-leader": lambda: Pause(cluster, rng, leader=True),
        "clock-skew": lambda: ClockSkew(cluster, rng),
        "clock-jump": lambda: ClockJump(cluster, rng),
        "slow-fsync": lambda: SlowFsync(cluster, rng),
        "fail-fsync": lambda: FailFsync(cluster, rng),
        "churn": lambda: Churn(cluster, rng),
    }
    return table[name]()


ALL = ["partition-one", "partition-leader", "partition-majority", "partition-bridge",
       "partition-one-way", "loss", "loss-one-way", "delay", "kill", "kill-leader",
       "kill-majority", "kill-all", "pause", "pause-leader", "clock-skew", "clock-jump", "slow-fsync", "fail-fsync", "churn"]


# What each nemesis touches. Two faults may be active at once only if they touch nothing in
# common: each heals everything of its kind (a partition's heal unblocks every member),
# and a process may not be killed and paused by two faults at once. Churn is alone: its
# heal (adding the member back) needs the quorum another fault could take away.
FAMILIES = {
    "partition-one": {"block"}, "partition-leader": {"block"}, "partition-majority": {"block"},
    "partition-bridge": {"block"}, "partition-one-way": {"block"},
    "loss": {"loss"}, "loss-one-way": {"loss"}, "delay": {"link"},
    "kill": {"process"}, "kill-leader": {"process"}, "kill-majority": {"process"},
    "kill-all": {"process"}, "pause": {"process"}, "pause-leader": {"process"},
    "clock-skew": {"clock"}, "clock-jump": {"clock"},
    "slow-fsync": {"disk"}, "fail-fsync": {"disk", "process"},
    "churn": {"block", "loss", "link", "process", "clock", "disk", "membership"},
}


def compatible(a, b):
    """Whether faults a and b may be active at the same time."""
    return not FAMILIES[a] & FAMILIES[b]


def applies_to_etcd(name):
    """Clock and disk faults need libfaketime or raftkv-chaos's file system, which etcd
    (Go: the vDSO clock, raw syscalls) does not go through."""
    return name not in ("clock-skew", "clock-jump", "slow-fsync", "fail-fsync")
