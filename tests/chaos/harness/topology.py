"""The chaos harness's network: one namespace per member slot and one for the clients,
joined by a bridge in a hub namespace, so faults are real network faults (nft drops in a
member's input path, tc qdiscs on its link). Nothing is added to the root namespace; all
of it lives in a private mount namespace (see chaos.py) and goes away with the run.
"""
import json
import os
import subprocess
import sys
import time

SUBNET = "10.218.0"
CLIENT_SLOT = 100

NFT_TABLE = """table inet rkvchaos {
  set blocked { type ipv4_addr; }
  set lossy { type ipv4_addr; }
  chain degrade {
  }
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr @blocked drop
    jump degrade
  }
}
"""


# Prints a URL's body (nothing when it cannot be read within a second).
FETCH = """
import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=1).read().decode())
except OSError:
    pass
"""


class CommandError(Exception):
    pass


def run(cmd, stdin=None, check=True, log=None):
    """Runs one command; a failure raises with the command and its stderr."""
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    if log is not None:
        log.append(" ".join(cmd))
    if check and p.returncode != 0:
        raise CommandError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


class Topology:
    def __init__(self, run_id, slots):
        self.run_id = run_id
        self.slots = slots          # member slots 1..slots
        self.namespaces = []        # created, in order
        self.netem = False

    def ns(self, slot):
        return f"rkvc-{self.run_id}-m{slot}"

    @property
    def client_ns(self):
        return f"rkvc-{self.run_id}-cl"

    @property
    def hub(self):
        return f"rkvc-{self.run_id}-hub"

    @staticmethod
    def address(slot):
        return f"{SUBNET}.{10 + slot}"

    def setup(self):
        self._add_ns(self.hub)
        run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.hub, "link", "set", "br0", "up"])
        for slot in range(1, self.slots + 1):
            self._attach(self.ns(slot), f"veth-m{slot}", self.address(slot))
            run(["ip", "netns", "exec", self.ns(slot), "nft", "-f", "-"], stdin=NFT_TABLE)
        self._attach(self.client_ns, "veth-cl", f"{SUBNET}.{CLIENT_SLOT}")
        # Delay wants netem, which some kernels lack; a tbf throttle stands in there.
        probe = run(["tc", "-n", self.ns(1), "qdisc", "add", "dev", "eth0", "root", "netem",
                     "delay", "1ms"], check=False)
        self.netem = probe.returncode == 0
        if self.netem:
            run(["tc", "-n", self.ns(1), "qdisc", "del", "dev", "eth0", "root"])

    def _add_ns(self, name):
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def _attach(self, name, port, address):
        self._add_ns(name)
        run(["ip", "-n", self.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0",
             "netns", name])
        run(["ip", "-n", self.hub, "link", "set", port, "master", "br0", "up"])
        run(["ip", "-n", name, "addr", "add", f"{address}/24", "dev", "eth0"])
        run(["ip", "-n", name, "link", "set", "eth0", "up"])

    def teardown(self):
        for name in reversed(self.namespaces):
            run(["ip", "netns", "del", name], check=False)
        self.namespaces = []

    def exec_prefix(self, slot=None):
        """nsenter into a member's (or, with None, the clients') network namespace; it
        execs, so the child's pid is the program's pid."""
        name = self.client_ns if slot is None else self.ns(slot)
        return ["nsenter", f"--net=/run/netns/{name}", "--"]

    def fetch(self, url, slot=None):
        """The body of a GET of `url` from a member's namespace (None: the clients'), or ''
        when it cannot be read within a second. Python's own client: no curl needed."""
        return run(self.exec_prefix(slot) + [sys.executable, "-c", FETCH, url], check=False).stdout

    # ---- faults ----
    def nft(self, slot, command, log):
        run(["ip", "netns", "exec", self.ns(slot), "nft"] + command.split(), log=log)

    def block(self, slot, from_slots, log):
        """slot drops every packet from from_slots."""
        if from_slots:
            addrs = ", ".join(self.address(s) for s in from_slots)
            self.nft(slot, f"add element inet rkvchaos blocked {{ {addrs} }}", log)

    def unblock_all(self, slot, log):
        self.nft(slot, "flush set inet rkvchaos blocked", log)

    def lossy(self, slot, from_slots, percent, log):
        addrs = ", ".join(self.address(s) for s in from_slots)
        self.nft(slot, f"add element inet rkvchaos lossy {{ {addrs} }}", log)
        self.nft(slot, "add rule inet rkvchaos degrade ip saddr @lossy numgen random mod 100 < "
                 f"{percent} drop", log)

    def clear_loss(self, slot, log):
        self.nft(slot, "flush chain inet rkvchaos degrade", log)
        self.nft(slot, "flush set inet rkvchaos lossy", log)

    def slow_link(self, slot, log):
        """Delay on the member's link: netem where the kernel has it, else a tbf throttle
        (queueing delay under load)."""
        if self.netem:
            cmd = ["netem", "delay", "80ms", "40ms", "distribution", "normal"]
        else:
            cmd = ["tbf", "rate", "256kbit", "burst", "16kb", "latency", "400ms"]
        run(["tc", "-n", self.ns(slot), "qdisc", "replace", "dev", "eth0", "root"] + cmd, log=log)
        return "netem" if self.netem else "tbf"

    def clear_link(self, slot, log):
        run(["tc", "-n", self.ns(slot), "qdisc", "del", "dev", "eth0", "root"], check=False,
            log=log)


def private_namespace_ready():
    """Inside the private mount namespace chaos.py made: /run/netns is our own tmpfs."""
    return os.environ.get("RKVC_PRIVATE_NS") == "1"


MOUNT_NETNS = "mkdir -p /run/netns && mount -t tmpfs -o size=1m,mode=0755 rkvc-netns /run/netns"
MOUNT_RUN = "mount -t tmpfs -o size=4m rkvc-run /run && mkdir -p /run/netns"
PROBE = ("ip netns add rkvc-probe && ip -n rkvc-probe link add vprobe type veth peer name vprobe1 && "
         "ip netns exec rkvc-probe nft add table inet rkvprobe && "
         "ip -n rkvc-probe link add br0 type bridge")


def _unshare_prefix():
    if os.geteuid() == 0:
        return ["unshare", "--mount", "--propagation", "private"], MOUNT_NETNS
    # Without root: a user namespace in which we are root, if the kernel allows it.
    return (["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"],
            MOUNT_RUN)


def probe_private_namespace():
    """Whether namespaces, veths, bridges and nft work here: '' if so, else why not."""
    prefix, mount = _unshare_prefix()
    try:
        p = subprocess.run(prefix + ["sh", "-c", f"{mount} && {PROBE}"], capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return "" if p.returncode == 0 else (p.stderr.strip() or f"exit {p.returncode}")


def enter_private_namespace(argv):
    """Re-executes argv in a private mount namespace whose /run/netns is a tmpfs of its
    own: every namespace the run creates is invisible outside and freed when the last
    process of the run exits, even if the harness is killed. Returns the exit code."""
    prefix, mount = _unshare_prefix()
    env = dict(os.environ, RKVC_PRIVATE_NS="1")
    return subprocess.call(prefix + ["sh", "-c", f'{mount} && exec "$@"', "chaos"] + argv,
                           env=env)


def enter_or_skip(path, argv, name):
    """For a test file started outside the private namespace: re-executes `path` with
    `argv` inside one and returns its exit code, or 77 (skipped, saying why) where
    namespaces cannot be made here."""
    why = probe_private_namespace()
    if why:
        print(f"{name}: skipped: no network namespaces here ({why})")
        return 77
    return enter_private_namespace([sys.executable, os.path.abspath(path)] + argv)


def monotonic_ns():
    return time.monotonic_ns()


class NemesisLog:
    """nemesis.jsonl: every fault's start and heal, on the clients' clock."""

    def __init__(self, path):
        self.f = open(path, "w")
        self.next_id = 0

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def write(self, fault_id, nemesis, phase, t0, t1, targets, detail, cmds):
        self.f.write(json.dumps({"id": fault_id, "nemesis": nemesis, "phase": phase, "t0": t0,
                                 "t1": t1, "targets": targets, "detail": detail,
                                 "cmds": cmds}) + "\n")
        self.f.flush()

    def close(self):
        self.f.close()
