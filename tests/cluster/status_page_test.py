"""The status page of the metrics listener in headless Chromium against a real 3-member
cluster: the page shows three members and one leader; after SIGKILL of the leader it shows
a new leader, the killed member as down, and the change in its event list. Also checks the
fields of /v1/status. Chromium is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages separated by NUL bytes on fds 3 and 4), so the
same page stays open across the kill; a screenshot goes to build/test-artifacts/.

Run with Debian's /usr/bin/python3; RAFTKV_SERVER names the binary.
"""
import base64
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
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = os.environ.get("RAFTKV_TEST_ARTIFACTS") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "build", "test-artifacts")


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


class Chromium:
    """Headless Chromium with one page, driven over --remote-debugging-pipe."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="raftkv-chromium-")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()

        def wire_fds():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-pipe",
             "--user-data-dir=" + self.profile, "--window-size=1280,900", "about:blank"],
            # fds 3 and 4 are kept open past preexec_fn (the others are closed after it).
            preexec_fn=wire_fds, pass_fds=tuple(sorted({3, 4, to_child_r, from_child_w})),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(to_child_r)
        os.close(from_child_w)
        self.next_id = 0
        self.buffer = b""
        self.session = None

    def call(self, method, params=None, session=True, timeout=20.0):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise AssertionError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.from_child], [], [], left)
            if ready:
                chunk = os.read(self.from_child, 1 << 16)
                if not chunk:
                    raise AssertionError("chromium closed its DevTools pipe")
                self.buffer += chunk
        raise AssertionError(f"no answer to {method} within {timeout}s")

    def open(self, url):
        target = self.call("Target.createTarget", {"url": url}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise AssertionError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def stop(self):
        for fd in (self.to_child, self.from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the browser's children
            self.proc.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


# What the rendered page shows, read from its DOM's data attributes.
PAGE_STATE = """!document.getElementById("charts-missing") ? "null" : JSON.stringify({
  polls: Number(document.body.dataset.polls || 0),
  rows: [...document.querySelectorAll('#members tbody tr')].map(tr => ({
    id: tr.dataset.memberId, name: tr.dataset.name, up: tr.dataset.up,
    role: tr.dataset.role, leader: tr.dataset.leader,
    health: tr.querySelector('[data-field=health]').textContent})),
  events: [...document.querySelectorAll('#events li')].map(li => ({
    kind: li.dataset.kind, old: li.dataset.old, new: li.dataset.new, text: li.textContent})),
  chartsMissing: !document.getElementById('charts-missing').hidden,
  summary: document.getElementById('summary').textContent,
})"""


class StatusPageTest(unittest.TestCase):
    def page_state(self, browser):
        return json.loads(browser.evaluate(PAGE_STATE))

    def wait_page(self, browser, pred, what, timeout=15.0):
        last = {}

        def check():
            last["s"] = self.page_state(browser)
            return last["s"] is not None and pred(last["s"])
        try:
            cluster.wait_until(check, timeout, 0.25, what)
        except AssertionError:
            raise AssertionError(f"{what}; the page showed {json.dumps(last.get('s'))}")
        return last["s"]

    def test_status_json_fields(self):
        with cluster.Cluster(3) as c:
            st = {}

            def three_up():
                st["v"] = get_json(c.members[0].metrics_url + "/v1/status")
                return (len(st["v"]["members"]) == 3 and
                        all(m["up"] for m in st["v"]["members"]) and st["v"]["leader"] != "")
            cluster.wait_until(three_up, 15, 0.2, "/v1/status to show three members up")
            st = st["v"]
            self.assertIsInstance(st["now_ms"], int)
            self.assertEqual(len(st["self"]), 16)
            self.assertEqual(sorted(m["name"] for m in st["members"]), ["n1", "n2", "n3"])
            leaders = [m for m in st["members"] if m["role"] == "leader"]
            self.assertEqual(len(leaders), 1)
            self.assertEqual(leaders[0]["id"], st["leader"])
            for m in st["members"]:
                self.assertEqual(len(m["id"]), 16)
                self.assertTrue(m["client_urls"][0].startswith("http://127.0.0.1:"))
                for f in ("term", "commit", "applied", "last_index", "lag"):
                    self.assertIsInstance(m[f], int, f)
                self.assertEqual(m["leader"], st["leader"])
                self.assertIn("health", m)  # null until a member answers Admin.Health
                if m["health"] is not None:
                    self.assertTrue(0 <= m["health"]["score"] <= 100)
                    self.assertIsInstance(m["health"]["reasons"], list)
            # A killed member is reported down within one deadline, the others still up.
            victim = next(x for x in c.members[1:])
            c.kill(victim)
            t0 = time.monotonic()
            st = get_json(c.members[0].metrics_url + "/v1/status")
            self.assertLess(time.monotonic() - t0, 2.5)
            down = [m for m in st["members"] if not m["up"]]
            self.assertEqual([m["name"] for m in down], [victim.name])
            self.assertNotEqual(down[0]["error"], "")
            self.assertIsNone(down[0]["role"])

    def test_page_follows_a_leader_kill(self):
        with cluster.Cluster(3) as c:
            leader = c.leader()
            self.assertIsNotNone(leader)
            # The page of a member that survives the kill, so one page sees it all.
            viewer = next(m for m in c.members if m is not leader)
            browser = Chromium()
            try:
                browser.open(viewer.metrics_url + "/")
                s = self.wait_page(
                    browser, lambda s: len(s["rows"]) == 3 and
                    all(r["up"] == "true" for r in s["rows"]) and
                    sum(r["role"] == "leader" for r in s["rows"]) == 1,
                    "the page to show three members up and one leader")
                self.assertEqual(sorted(r["name"] for r in s["rows"]), ["n1", "n2", "n3"])
                self.assertEqual(sum(r["leader"] == "true" for r in s["rows"]), 1)
                # Every member answers Admin.Health: a score, not "n/a".
                s = self.wait_page(browser, lambda s: all(r["health"].strip().isdigit()
                                                          for r in s["rows"]),
                                   "every member's health score on the page")
                shown = next(r for r in s["rows"] if r["role"] == "leader")
                self.assertEqual(shown["name"], leader.name)
                self.assertFalse(s["chartsMissing"], "chart.js should load from libjs-chart.js")
                old_id = shown["id"]

                c.kill(leader)
                s = self.wait_page(
                    browser, lambda s: any(r["id"] == old_id and r["up"] == "false" and
                                           r["role"] == "down" for r in s["rows"]) and
                    sum(r["role"] == "leader" and r["up"] == "true" for r in s["rows"]) == 1 and
                    any(e["kind"] == "change" and e["old"] == old_id for e in s["events"]),
                    "the page to show a new leader and the old one down", timeout=15)
                new = next(r for r in s["rows"] if r["role"] == "leader")
                self.assertNotEqual(new["id"], old_id)
                change = next(e for e in s["events"] if e["kind"] == "change")
                self.assertEqual(change["new"], new["id"])
                self.assertIn("\u2192", change["text"])
                # A few polls more, so the charts have points for the screenshot.
                polls = s["polls"]
                self.wait_page(browser, lambda s: s["polls"] >= polls + 2, "two more polls")
                os.makedirs(ARTIFACTS, exist_ok=True)
                path = os.path.join(ARTIFACTS, "status-page.png")
                browser.screenshot(path)
                self.assertGreater(os.path.getsize(path), 1000)
                print(f"screenshot: {path}")
            finally:
                browser.stop()


if __name__ == "__main__":
    unittest.main()
