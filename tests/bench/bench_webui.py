#!/usr/bin/env python3
"""bench_webui: the web UI at the demo's scale (issue 14) -- two simulated pools, their
agents, xo-kafka-dev and the gateway; the page in Debian's chromium, headless
(tests/e2e/browser/webui_driver.mjs), beside an xo-lib client in the same run.

- sign-in -> full list painted: from the page's sign-in submit to the frame after the
  inventory is built from xo.getAllObjects (every VM counted, the rows in view drawn);
  --signins times, each a fresh sign-in. Baseline: the xo-lib client's signIn +
  getAllObjects in the same run.
- change on the simulator -> in the page: VM.set_name_label on a simulator (XML-RPC), the
  label carrying its wall-clock send time; the page stamps the label's arrival in the
  list's DOM (a MutationObserver on the rows, so the frame it is painted in), the xo-lib
  client stamps its `all` item. --changes changes, one every --interval-ms, over VMs whose
  rows are in view. Median and p99 of each, and page/xo-lib.
- smoothness: the page's frame intervals while the changes stream in, and while the list
  is scrolled through (one jump per frame).

Default (short): --vms 2000 (two pools, 3:1, as the demo's), --changes 40, --signins 2.
The issue's figures: --full (= --vms 10000 --pools 8 --changes 200 --signins 3): eight
pools of 1,250 on 64 partitions. xo-kafka-dev keeps about 5 MiB per partition and a pool's
objects share one partition: the demo's 3:1 split at 10,000 (a 7,500-VM pool) overflows
it and the gateway never finishes loading; four pools of 2,500 did not load within 600 s
either (the gateway's load is superlinear in the objects: docs/benchmarks.md).
Loopback only; every process is started through harness.Stack and stopped at the end.
"""
import argparse
import json
import os
import sys
import time
import xmlrpc.client

import bench_common as bc
from bench_common import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import gw_harness as g  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(HERE, "..", "e2e", "browser")
ADMIN = ("admin@admin.net", "admin")


class Browser:
    def __init__(self, st):
        self.proc = st.spawn("browser", ["node", os.path.join(BROWSER_DIR, "webui_driver.mjs")],
                             stdin=True)

    def step(self, op, **kw):
        n = len(self.proc.lines)
        self.proc.p.stdin.write((json.dumps(dict(kw, op=op)) + "\n").encode())
        self.proc.p.stdin.flush()
        line = harness.wait_until(
            lambda: next((l for l in self.proc.lines[n:] if l.startswith('{"')), None), 600, 0.01,
            f"browser step {op}")
        r = json.loads(line)
        if "error" in r:
            raise bc.BenchError(f"browser step {op}: {r['error'].splitlines()[0]}")
        return r.get("value")

    def wait(self, fn, arg=None, timeout_s=300):
        return self.step("wait", fn=fn, arg=arg, timeout=int(timeout_s * 1000))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


def sign_in(b, gw):
    b.step("goto", url=gw.url + "/")
    b.step("eval", fn="() => { document.cookie = 'token=; path=/; max-age=0'; }")
    b.step("goto", url=gw.url + "/")
    b.wait("() => !document.getElementById('signin').hidden", timeout_s=60)
    b.step("fill", sel="#signin-email", value=ADMIN[0])
    b.step("fill", sel="#signin-password", value=ADMIN[1])
    b.step("click", sel="#signin-form button[type=submit]")
    return b.wait("(n) => { const p = window.xoPage; return p.paintedAt && p.tree.vmCount === n &&"
                  " document.querySelectorAll('.row.vm').length > 0 && p.paintedAt - p.signInAt; }",
                  EXPECTED[0])


EXPECTED = [0]

# stamps each "lat:" label the first time it is in a row of the list
OBSERVE = """() => {
  window.latSeen = {};
  const stamp = (el) => {
    for (const n of el.querySelectorAll ? el.querySelectorAll('.name') : []) {
      const t = n.textContent;
      if (t.startsWith('lat:') && !(t in window.latSeen)) window.latSeen[t] = performance.timeOrigin + performance.now();
    }
  };
  new MutationObserver((ms) => { for (const m of ms) stamp(m.target.parentElement || m.target); })
    .observe(document.getElementById('tree'), {subtree: true, childList: true, characterData: true});
  window.frameGaps = [];
  let last = performance.now();
  const loop = (t) => { window.frameGaps.push(t - last); last = t; if (!window.stopFrames) requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  return true;
}"""

VISIBLE_VMS = """() => [...document.querySelectorAll('.row.vm')]
  .filter((r) => r.getBoundingClientRect().top > 0 && r.getBoundingClientRect().bottom < innerHeight)
  .map((r) => r.dataset.id)"""

SCROLL = """(frames) => new Promise((done) => {
  const t = window.xoPage.tree, gaps = []; let last = performance.now(), i = 0;
  const step = (now) => { gaps.push(now - last); last = now;
    t.el.scrollTop = (i++ * 997 * t.rowHeight) % Math.max(1, t.el.scrollHeight - t.el.clientHeight);
    if (i < frames) requestAnimationFrame(step); else done(gaps.slice(1)); };
  requestAnimationFrame(step);
})"""


def hosts_for(vms, per_host):
    """Hosts of a pool of that many VMs: about per_host VMs each, 2 to 64 (XAPI's pool size
    limit). The gateway maps a host's resident_VMs again on each of its VMs' changes, so a
    few hosts holding thousands of VMs each make its initial load quadratic (minutes at
    7,500 VMs on 4 hosts); real pools spread their VMs."""
    return max(2, min(64, vms // per_host))


def pool_sizes(vms, pools):
    """Two pools as the demo's (3:1); more: equal shares."""
    if pools == 2:
        return [vms * 3 // 4, vms - vms * 3 // 4]
    return [vms // pools + (1 if i < vms % pools else 0) for i in range(pools)]


def run(a):
    bc.require("xo-gateway", "xo-agent", "xo-kafka-dev")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        raise bc.BenchError(f"playwright-core is not installed: run 'npm ci' in {BROWSER_DIR} "
                            "(scripts/install-deps.sh does)")
    if not os.path.exists(os.environ.get("XO_CHROMIUM", "/usr/bin/chromium")):
        raise bc.BenchError("no /usr/bin/chromium (apt-get install chromium) and XO_CHROMIUM unset")
    sizes = pool_sizes(a.vms, a.pools)
    with harness.Stack() as st:
        # a pool's objects share one partition, and xo-kafka-dev keeps about 5 MiB of each:
        # enough partitions that the pools land on distinct ones (the seeds' pools do at 64)
        k = st.start_kafka(brokers=1, partitions=64)
        print(f"starting {len(sizes)} pools of {', '.join(map(str, sizes))} VMs...", file=sys.stderr,
              flush=True)
        t0 = time.monotonic()
        sims = [st.start_sim(vms=n, hosts=hosts_for(n, a.vms_per_host), seed=60 + i)
                for i, n in enumerate(sizes)]
        for s in sims:
            st.start_agent(s, k, name=f"agent-{s.pool_uuid[:8]}")
        gw = st.start_gateway(k)
        g.wait_synced(gw, [s.pool_uuid for s in sims], timeout=600)
        sync_s = time.monotonic() - t0
        print(f"synced in {sync_s:.0f} s", file=sys.stderr, flush=True)
        truth = [s.truth() for s in sims]
        refs = {}
        for s, t in zip(sims, truth):
            for ref, v in t["vm"].items():
                if not (v["is_a_template"] or v["is_control_domain"] or v["is_a_snapshot"]):
                    refs[v["uuid"]] = (s, ref)
        EXPECTED[0] = len(refs)
        xo = st.spawn("xolib", ["node", os.path.join(HERE, "webui_xolib_watch.mjs"), gw.url, *ADMIN],
                      stdin=True)
        ready = json.loads(xo.wait_line(lambda l: l.startswith('{"ready"'), timeout=600))
        b = Browser(st)
        b.step("viewport", width=1280, height=900)
        paint = [sign_in(b, gw) for _ in range(a.signins)]
        print(f"signed in {a.signins} times; streaming {a.changes} changes...", file=sys.stderr, flush=True)
        b.step("eval", fn=OBSERVE)
        visible = b.step("eval", fn=VISIBLE_VMS)[:10]
        if not visible:
            raise bc.BenchError("no VM row in view")
        proxies = {}
        sent = {}
        for i in range(a.changes):
            sim, ref = refs[visible[i % len(visible)]]
            if sim.url not in proxies:
                x = xmlrpc.client.ServerProxy(sim.url, allow_none=True)
                proxies[sim.url] = (x, x.session.login_with_password("root", "password")["Value"])
            x, sid = proxies[sim.url]
            t = time.time_ns() / 1e6
            label = f"lat:{t:.3f}:{i}"
            sent[label] = t
            x.VM.set_name_label(sid, ref, label)
            time.sleep(a.interval_ms / 1000)
        deadline = time.monotonic() + 60
        while True:
            page_seen = b.step("eval", fn="() => window.latSeen")
            if len(page_seen) >= len(sent) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        frames = b.step("eval", fn="() => { window.stopFrames = true; return window.frameGaps.slice(1); }")
        scroll = b.step("eval", fn=SCROLL, arg=a.scroll_frames)
        xo.p.stdin.write(b"report\n")
        xo.p.stdin.flush()
        xo_seen = json.loads(xo.wait_line(lambda l: l.startswith('{"seen"'), timeout=60))["seen"]
        xo.p.stdin.write(b"quit\n")
        xo.p.stdin.flush()
    page_lat = [page_seen[l] - t for l, t in sent.items() if l in page_seen]
    xo_lat = [xo_seen[l] - t for l, t in sent.items() if l in xo_seen]
    return {"vms": len(refs), "pools": sizes, "sync_s": sync_s, "hosts": [hosts_for(n, a.vms_per_host) for n in sizes], "paint_ms": paint, "xolib_load_ms": ready["load_ms"],
            "objects": ready["objects"], "sent": len(sent), "page": page_lat, "xolib": xo_lat,
            "frames": frames, "scroll": scroll}


def fmt(v):
    return "-" if v != v else f"{v:,.1f}"


def report(r):
    print(f"Web UI at {r['vms']:,} VMs (pools of {', '.join(f'{n:,}' for n in r['pools'])} VMs on "
          f"{', '.join(map(str, r['hosts']))} hosts; synced in {r['sync_s']:.0f} s; "
          f"{r['objects']:,} objects), chromium headless, loopback")
    print()
    print(f"{'measure':44} {'median':>9} {'p99':>9} {'max':>9} {'n':>5} {'ratio':>7}")
    pm, xm = bc.median(r["paint_ms"]), r["xolib_load_ms"]
    rows = [
        ("sign-in -> full list painted (ms)", r["paint_ms"], f"{pm / xm:.2f}x"),
        ("  xo-lib signIn + getAllObjects (ms)", [xm], "1x"),
        ("change on sim -> in the page (ms)", r["page"],
         f"{bc.median(r['page']) / bc.median(r['xolib']):.2f}x" if r["xolib"] else "-"),
        ("  change on sim -> xo-lib `all` (ms)", r["xolib"], "1x"),
        ("frame interval while changes stream (ms)", r["frames"], ""),
        ("frame interval while scrolling (ms)", r["scroll"], ""),
    ]
    for name, xs, ratio in rows:
        print(f"{name:44} {fmt(bc.median(xs)):>9} {fmt(pct(xs, 0.99)):>9} "
              f"{fmt(max(xs) if xs else float('nan')):>9} {len(xs):>5} {ratio:>7}")
    print()
    print(f"changes sent {r['sent']}: in the page {len(r['page'])}, at xo-lib {len(r['xolib'])}; "
          "ratio: the page's median over its baseline's (the xo-lib client in the same run)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--vms", type=int, default=2000, help="VMs over both pools (default 2000)")
    ap.add_argument("--changes", type=int, default=40, help="renames on the simulators (default 40)")
    ap.add_argument("--interval-ms", type=float, default=100, help="between two changes (default 100)")
    ap.add_argument("--pools", type=int, default=2,
                    help="simulated pools (default 2, sized 3:1 as the demo's; more: equal)")
    ap.add_argument("--vms-per-host", type=int, default=150,
                    help="VMs per simulated host (default 150; 2 to 64 hosts per pool)")
    ap.add_argument("--signins", type=int, default=2, help="sign-ins timed (default 2)")
    ap.add_argument("--scroll-frames", type=int, default=120, help="frames of scrolling (default 120)")
    ap.add_argument("--full", action="store_true", help="the issue's run: 10,000 VMs, 200 changes, 3 sign-ins")
    ap.add_argument("--json", help="also write the measurements as JSON to this file")
    a = ap.parse_args()
    if a.full:
        a.vms, a.pools, a.changes, a.signins = 10000, 8, 200, 3
    if a.vms < 8 * a.pools or a.pools < 2 or a.changes < 1 or a.signins < 1 or a.vms_per_host < 1:
        raise bc.BenchError("--pools must be at least 2, --vms at least 8 per pool, --changes, "
                            "--signins and --vms-per-host at least 1")
    r = run(a)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    report(r)


if __name__ == "__main__":
    bc.run_main(main)
