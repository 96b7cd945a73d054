#!/usr/bin/python3
"""The chaos harness (docs/design/chaos.md): a raftkv (or etcd) cluster of real processes,
each in its own network namespace, under faults, with etcd's Go client recording what it
saw, checked for linearizability afterwards.

  chaos.py --mix short                       every nemesis once (make test)
  chaos.py --mix everything --seconds 1800   random faults for half an hour
  chaos.py --planted follower-local-read     a raftkv with a planted bug: must be caught
  chaos.py --target etcd ...                 the same against etcd 3.4

Exit: 0 no anomaly (planted: the bug was caught); 1 anomaly (planted: not caught);
2 inconclusive; 3 harness error; 77 skipped (no privileges or tools, unless
--require-privileges).
"""
import argparse
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import members  # noqa: E402
import nemesis  # noqa: E402
import topology  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# Each mix: members, nemeses, and whether they run in a fixed rotation (each once).
MIXES = {
    "short": (3, nemesis.ALL, True),
    "partitions": (5, ["partition-one", "partition-leader", "partition-majority",
                       "partition-bridge", "partition-one-way", "loss", "loss-one-way",
                       "delay"], False),
    "process": (3, ["kill", "kill-leader", "kill-majority", "kill-all", "pause",
                    "pause-leader"], False),
    "clock": (3, ["clock-skew", "clock-jump", "pause-leader", "partition-leader"], False),
    "disk": (3, ["slow-fsync", "fail-fsync", "kill-all", "kill"], False),
    "membership": (5, ["churn", "partition-one", "kill", "pause-leader"], False),
    "everything": (5, nemesis.ALL, False),
}
WORKLOADS = ["register", "append", "watch", "lease"]

# Planted bugs: the binary, the fault that exposes the bug, how often.
PLANTED = {
    "follower-local-read": ("raftkv-bug-follower-local-read", "partition-follower", 4),
    "ack-before-fsync": ("raftkv-bug-ack-before-fsync", "kill-all", 5),
    "leader-ignores-quorum-loss": ("raftkv-bug-leader-ignores-quorum-loss", "partition-leader",
                                   4),
}


def log(msg):
    print(f"chaos: {msg}", flush=True)


def bin_dir():
    return os.environ.get("RAFTKV_CHAOS_BIN", os.path.join(ROOT, "build", "bin"))


def missing_tools(args):
    need = {"ip": "iproute2", "tc": "iproute2", "nft": "nftables", "nsenter": "util-linux",
            "unshare": "util-linux", "etcdctl": "etcd-client"}
    if args.target == "etcd":
        need["etcd"] = "etcd-server"
    out = [f"{tool} (Debian package {pkg})" for tool, pkg in need.items()
           if shutil.which(tool) is None]
    for f in ["chaos-client", "chaos-check", binary_name(args)]:
        if args.target == "etcd" and f == "etcd":
            continue
        if not os.access(os.path.join(bin_dir(), f), os.X_OK):
            out.append(f"{os.path.join(bin_dir(), f)} (make build)")
    if any(x.startswith("clock-") for x in mix_nemeses(args)) and args.target == "raftkv" and \
            not os.path.exists(members.FAKETIME_LIB):
        out.append(f"{members.FAKETIME_LIB} (Debian package libfaketime)")
    return out


def binary_name(args):
    if args.planted:
        return PLANTED[args.planted][0] if not args.control else "raftkv-chaos"
    # raftkv with its storage on the fault-injecting file system (tests/chaos/fault_fs);
    # the same code as the release binary otherwise.
    return "raftkv-chaos" if args.target == "raftkv" else "etcd"


def binary_path(args):
    if args.target == "etcd":
        return shutil.which("etcd")
    return os.path.join(bin_dir(), binary_name(args))


def mix_nemeses(args):
    if args.planted:
        return []
    return MIXES[args.mix][1]


# In the random mixes, how often a step is two faults at once ("a+b": a starts, b starts a
# third of the way in, a heals at two thirds, b at the end), when the mix has a pair that
# may overlap (nemesis.compatible).
COMBINED = 0.4


def schedule(args, rng):
    """(nemesis, active seconds, healthy seconds after) in order; the nemesis may be a
    pair "a+b" that overlap."""
    if args.planted:
        _, fault, times = PLANTED[args.planted]
        if fault == "kill-all":  # down briefly, then long enough for acknowledged writes
            return [(fault, 1.0, 6.0)] * times
        return [(fault, 6.0, 3.0)] * times
    n, names, rotation = MIXES[args.mix]
    names = [x for x in names if args.target == "raftkv" or nemesis.applies_to_etcd(x)]
    if rotation:
        order = list(names)
        rng.shuffle(order)
        # ... and one pair at once, so the short mix runs a combined step too.
        pairs = [(a, b) for a in names for b in names if a < b and nemesis.compatible(a, b)]
        a, b = rng.choice(pairs)
        return [(x, 5.0, 2.0) for x in order] + [(f"{a}+{b}", 9.0, 2.0)]
    out, total = [], 0.0
    while total < args.seconds:
        active, healthy = rng.uniform(3, 12), rng.uniform(2, 6)
        first = rng.choice(names)
        partners = [x for x in names if nemesis.compatible(first, x)]
        if partners and rng.random() < COMBINED:
            active = rng.uniform(6, 18)
            first = f"{first}+{rng.choice(partners)}"
        out.append((first, active, healthy))
        total += active + healthy
    return out


class Run:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed if args.seed is not None else random.randrange(1, 1 << 31)
        self.rng = random.Random(self.seed)
        what = f"planted-{args.planted}{'-control' if args.control else ''}" if args.planted \
            else args.mix
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_dir = os.path.join(args.results, f"{stamp}-{what}-{args.target}-s{self.seed}")
        os.makedirs(self.run_dir)
        self.anomalies = []
        self.client = None
        self.expected_exits = set()

    def replay(self):
        a = self.args
        what = f"--planted {a.planted}" + (" --control" if a.control else "") if a.planted \
            else f"--mix {a.mix} --seconds {a.seconds}"
        return f"tests/chaos/harness/chaos.py {what} --target {a.target} --seed {self.seed}"

    def main(self):
        a = self.args
        log(f"seed {self.seed}; results in {self.run_dir}")
        log(f"replay: {self.replay()}")
        n = MIXES[a.mix][0] if not a.planted else 3
        self.topo = topology.Topology(os.urandom(3).hex(), n)
        extra = []
        if a.target == "raftkv":
            extra = ["--experimental-snapshot-catchup-entries", "500"]
        self.cluster = members.Cluster(self.topo, self.run_dir, a.target, binary_path(a), n,
                                       extra)
        sched = schedule(a, self.rng)
        if any("clock-" in x for x, _, _ in sched):
            for m in self.cluster.members:
                path = os.path.join(self.run_dir, "members", m.name, "faketime.rc")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write("+0\n")
                self.cluster.clock_files[m.name] = path
        self.nemesis_log = topology.NemesisLog(os.path.join(self.run_dir, "nemesis.jsonl"))
        try:
            return self.run(sched)
        except Exception:
            traceback.print_exc()
            return 3
        finally:
            self.teardown()

    def run(self, sched):
        a = self.args
        self.sched = sched
        self.topo.setup()
        with open(os.path.join(self.run_dir, "run.json"), "w") as f:
            json.dump({"seed": self.seed, "mix": a.mix, "planted": a.planted, "control": a.control,
                       "target": a.target, "binary": self.cluster.binary,
                       "members": len(self.cluster.members), "netem": self.topo.netem,
                       "schedule": sched}, f, indent=1)
        if not self.topo.netem:
            log("the kernel has no netem: 'delay' is a tbf throttle on the member's link")
        self.cluster.start()
        if not self.wait_leader(60):
            log("no leader within 60 s of starting the cluster")
            self.show_logs()
            return 3
        self.start_client()
        time.sleep(2)  # a little history before the first fault
        for name, active, healthy in sched:
            if "+" in name:
                first, second = name.split("+")
                a = self.start_fault(first)
                time.sleep(active / 3)
                b = self.start_fault(second)
                time.sleep(active / 3)
                self.heal_fault(a)
                time.sleep(active / 3)
                self.heal_fault(b)
            else:
                self.heal_fault(self.start_fault(name), after=active)
            if self.check_exits():
                break
            time.sleep(healthy)
        return self.finish()

    def wait_leader(self, within):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.cluster.leader() is not None:
                return True
            time.sleep(0.5)
        return False

    def start_client(self):
        a = self.args
        cmd = self.topo.exec_prefix() + [
            os.path.join(bin_dir(), "chaos-client"), "--endpoints", self.cluster.endpoints_flag(),
            "--history", os.path.join(self.run_dir, "history.jsonl"), "--seed", str(self.seed),
            "--rate", str(a.rate), "--workloads", a.workloads]
        self.client_log = open(os.path.join(self.run_dir, "client.log"), "w")
        self.client = subprocess.Popen(cmd, stdout=self.client_log, stderr=subprocess.STDOUT,
                                       preexec_fn=members._child_setup)

    def start_fault(self, name):
        if name == "partition-follower":
            nem = nemesis.Partition(self.cluster, self.rng, "one")
            leader = self.cluster.leader()
            followers = [m for m in self.cluster.members if m is not leader]
            nem.pick = lambda: self.rng.choice(followers)
        else:
            nem = nemesis.make(name, self.cluster, self.rng)
        fid = self.nemesis_log.new_id()
        cmds = []
        t0 = time.monotonic_ns()
        targets, detail = nem.start(cmds)
        t1 = time.monotonic_ns()
        self.nemesis_log.write(fid, name, "start", t0, t1, targets, detail, cmds)
        log(f"{name} {','.join(targets)} {detail}")
        return name, nem, fid, targets

    def heal_fault(self, started, after=0):
        name, nem, fid, targets = started
        time.sleep(after)
        cmds = []
        t0 = time.monotonic_ns()
        nem.heal(cmds)
        t1 = time.monotonic_ns()
        outcome = getattr(nem, "outcome", None)
        self.nemesis_log.write(fid, name, "heal", t0, t1, targets,
                               json.dumps(outcome) if outcome else "", cmds)
        if name == "churn" and outcome.get("removed") and not (
                outcome.get("stopped_by_itself") and outcome.get("added") and
                outcome.get("promoted")):
            self.anomalies.append(f"membership: {targets[0]} was removed but did not stop by "
                                  f"itself, or was not added back and promoted within the "
                                  f"bounds: {outcome}")
        if name == "fail-fsync" and outcome["fired"] and (
                not outcome["stopped"] or outcome["exit"] != -signal.SIGABRT):
            self.anomalies.append(f"fsync-failure-ignored: {targets[0]} {outcome}")

    def check_exits(self):
        """A member that exited without being killed is an anomaly."""
        for m in self.cluster.members:
            if m.proc is not None and m.proc.poll() is not None and m.starts > 0 and \
                    m.proc.returncode != -signal.SIGKILL and not m.may_abort and \
                    not m.removed:
                self.anomalies.append(f"unexpected-exit: {m.name} exited with "
                                      f"{m.proc.returncode}")
                self.show_logs([m])
                m.proc = None
                return True
        return False

    def heal_all(self):
        cmds = []
        for m in self.cluster.members:
            self.topo.unblock_all(m.slot, cmds)
            self.topo.clear_loss(m.slot, cmds)
            self.topo.clear_link(m.slot, cmds)
            if m.paused:
                m.resume()
            if m.name in self.cluster.clock_files:
                with open(self.cluster.clock_files[m.name], "w") as f:
                    f.write("+0\n")
            if not m.alive() and not m.removed:
                m.start()

    def finish(self):
        self.heal_all()
        if not self.cluster.wait_converged(90):
            self.anomalies.append("no-convergence-after-heal: the members did not agree on a "
                                  "leader and an applied index within 90 s of the final heal")
        self.client.send_signal(signal.SIGUSR1)
        try:
            code = self.client.wait(timeout=120)
        except subprocess.TimeoutExpired:
            log("the client did not finish its final reads within 120 s")
            return 3
        if code != 0:
            log(f"the client exited with {code}; see {self.run_dir}/client.log")
            return 3
        self.check_exits()
        self.cluster.stop()
        counts = self.count_ops()
        self.write_timeline()
        check = subprocess.run([os.path.join(bin_dir(), "chaos-check"), "all", "--run-dir",
                                self.run_dir], capture_output=True, text=True)
        print(check.stdout, end="")
        if check.returncode == 3:
            log(f"chaos-check could not read the run: {check.stderr.strip()}")
            return 3
        faults = self.count_faults()
        missing = sorted({x for name, _, _ in self.sched for x in name.split("+")} -
                         set(faults))
        if missing:
            self.anomalies.append(f"harness: scheduled faults never started: {missing}")
        log(f"operations: {counts}; faults: {faults}")
        if check.returncode == 1:
            self.anomalies.append("chaos-check found an anomaly (its report is above, and in "
                                  "check.txt)")
        if self.args.planted:
            return self.planted_verdict(check.returncode)
        thin = self.too_little()
        if thin:
            log("the run proves too little: " + "; ".join(thin))
            return 3
        for a in self.anomalies:
            log(f"ANOMALY {a}")
        if self.anomalies:
            log(f"replay: {self.replay()}")
            return 1
        return 2 if check.returncode == 2 else 0

    def planted_verdict(self, check_code):
        caught = check_code == 1
        if self.args.control:
            if caught or self.anomalies:
                log("the control run (no planted bug) reported an anomaly")
                return 1
            return 0
        if caught:
            log(f"planted bug {self.args.planted} caught")
            return 0
        log(f"planted bug {self.args.planted} NOT caught; replay: {self.replay()}")
        return 1

    def count_ops(self):
        counts = {}
        with open(os.path.join(self.run_dir, "history.jsonl")) as f:
            for line in f:
                op = json.loads(line)
                if "res" in op:
                    counts[op["res"]] = counts.get(op["res"], 0) + 1
        return counts

    # What a run must have done before its verdict means something, per workload.
    FLOORS = {"register": 1000, "append": 150, "append-multi-key": 50, "watch-events": 100,
              "lease-revoked": 3, "lease-unrevoked": 3}

    def too_little(self):
        """The floors a passing run did not reach (a run can pass by doing nothing)."""
        register = append = multi = 0
        events, granted, revoked = {}, set(), set()
        with open(os.path.join(self.run_dir, "history.jsonl")) as f:
            for line in f:
                op = json.loads(line)
                wl, ok = op.get("wl"), op.get("res") == "ok"
                if wl == "register" and ok and not op.get("final"):
                    register += 1
                elif wl == "append" and ok and not op.get("final"):
                    append += 1
                    multi += len({m["key"] for m in op.get("mops", [])}) > 1
                elif wl == "watch" and op.get("f") == "watch-events":
                    w = op.get("watcher", 0)
                    events[w] = events.get(w, 0) + len(op.get("events", []))
                elif wl == "lease" and ok and op.get("f") == "grant":
                    granted.add(op.get("lease"))
                elif wl == "lease" and ok and op.get("f") == "revoke":
                    revoked.add(op.get("lease"))
        workloads = self.args.workloads.split(",")
        floors = self.FLOORS if not self.args.planted else {"register": 100}
        out = []
        if "register" in workloads and register < floors["register"]:
            out.append(f"register: {register} ok operations (floor {floors['register']})")
        if "append" in workloads and not self.args.planted:
            if append < floors["append"]:
                out.append(f"append: {append} ok txns (floor {floors['append']})")
            if multi < floors["append-multi-key"]:
                out.append(f"append: {multi} ok multi-key txns "
                           f"(floor {floors['append-multi-key']})")
        if "watch" in workloads and not self.args.planted:
            low = {w: n for w, n in events.items() if n < floors["watch-events"]}
            if not events or low:
                out.append(f"watch: watchers below {floors['watch-events']} events: "
                           f"{low or 'no watcher at all'}")
        if "lease" in workloads and not self.args.planted:
            if len(revoked) < floors["lease-revoked"]:
                out.append(f"lease: {len(revoked)} leases revoked "
                           f"(floor {floors['lease-revoked']})")
            if len(granted - revoked) < floors["lease-unrevoked"]:
                out.append(f"lease: {len(granted - revoked)} leases left to expire "
                           f"(floor {floors['lease-unrevoked']})")
        return out

    def write_timeline(self):
        """timeline.txt: per second, each workload's ok/fail/info and the faults active."""
        ops, faults = [], []
        with open(os.path.join(self.run_dir, "history.jsonl")) as f:
            for line in f:
                op = json.loads(line)
                if "res" in op and op.get("t1"):
                    ops.append(op)
        with open(os.path.join(self.run_dir, "nemesis.jsonl")) as f:
            faults = [json.loads(line) for line in f]
        if not ops:
            return
        origin = min([o["t0"] for o in ops] + [e["t0"] for e in faults])
        sec = lambda t: int((t - origin) // 1_000_000_000)  # noqa: E731
        rows = {}
        for o in ops:
            row = rows.setdefault(sec(o["t1"]), {})
            c = row.setdefault(o.get("wl", "?"), {"ok": 0, "fail": 0, "info": 0})
            c[o["res"]] += 1
        spans, starts = [], {}
        for e in faults:
            if e["phase"] == "start":
                starts[e["id"]] = e
            elif e["id"] in starts:
                s0 = starts.pop(e["id"])
                spans.append((sec(s0["t0"]), sec(e["t1"]),
                              f"{s0['nemesis']}({','.join(s0['targets'])})"))
        last = max(rows)
        with open(os.path.join(self.run_dir, "timeline.txt"), "w") as f:
            f.write("second  workload ok/fail/info ...  | faults active\n")
            for t in range(0, last + 1):
                counts = "  ".join(f"{wl} {c['ok']}/{c['fail']}/{c['info']}"
                                   for wl, c in sorted(rows.get(t, {}).items())) or "-"
                active = " ".join(name for a, b, name in spans if a <= t <= b)
                f.write(f"{t:6d}  {counts}  | {active}\n")

    def count_faults(self):
        started, healed = {}, {}
        with open(os.path.join(self.run_dir, "nemesis.jsonl")) as f:
            for line in f:
                e = json.loads(line)
                d = started if e["phase"] == "start" else healed
                d[e["nemesis"]] = d.get(e["nemesis"], 0) + 1
        if started != healed:
            self.anomalies.append(f"harness: faults started {started} but healed {healed}")
        return started

    def show_logs(self, which=None):
        for m in which or self.cluster.members:
            path = os.path.join(m.dir, "log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    print(f"--- {m.name} log (last lines) ---\n{f.read()[-2500:]}")

    def teardown(self):
        if self.client is not None and self.client.poll() is None:
            self.client.kill()
            self.client.wait()
        self.cluster.stop()
        self.topo.teardown()
        self.nemesis_log.close()


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mix", choices=sorted(MIXES), default="short")
    p.add_argument("--planted", choices=sorted(PLANTED))
    p.add_argument("--control", action="store_true",
                   help="with --planted: the same run against raftkv without the bug")
    p.add_argument("--target", choices=["raftkv", "etcd"], default="raftkv")
    p.add_argument("--seconds", type=float, default=300, help="per mix (not short)")
    p.add_argument("--seed", type=int)
    p.add_argument("--rate", type=float, default=60,
                   help="operations per second per workload")
    p.add_argument("--workloads",
                   help="comma-separated workloads the client runs (default: all, "
                   f"{','.join(WORKLOADS)}; with --planted: register)")
    p.add_argument("--results", default=os.environ.get(
        "RAFTKV_CHAOS_RESULTS", os.path.join(ROOT, "build", "chaos-results")))
    p.add_argument("--require-privileges", action="store_true",
                   help="fail (exit 3) instead of skipping (77) without root or tools")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.planted and args.target != "raftkv":
        p.error("--planted runs raftkv builds only")
    if args.workloads is None:
        args.workloads = "register" if args.planted else ",".join(WORKLOADS)
    unknown = set(args.workloads.split(",")) - set(WORKLOADS)
    if unknown:
        p.error(f"--workloads: unknown {', '.join(sorted(unknown))}")
    if args.seconds <= 0 or args.rate <= 0:
        p.error("--seconds and --rate must be positive")
    return args


def main(argv):
    args = parse_args(argv)
    if args.inner:
        if not topology.private_namespace_ready():
            log("--inner outside the private namespace")
            return 3
        return Run(args).main()
    skip = 3 if args.require_privileges else 77
    missing = missing_tools(args)
    if missing:
        log("skipped: missing " + "; ".join(missing))
        return skip
    why = topology.probe_private_namespace()
    if why:
        log("skipped: needs root or unprivileged user namespaces with CAP_NET_ADMIN inside "
            f"them ({why})")
        return skip
    return topology.enter_private_namespace(
        [sys.executable, os.path.abspath(__file__), "--inner"] + argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
