#!/usr/bin/env python3
"""bench_commands: VM actions through the command bus against the same actions straight on
XAPI (issue 6, issue 16 items 3 and 4).

Chain timed: npm xo-lib 0.9.0 -> xo-gateway (JSON-RPC vm.start) -> xo.commands (signed)
-> xo-agent (verify, accepted + commit overlapped, the VM's ref from its own event stream,
Async.VM.start, the task followed through event.from) -> XAPI simulator -> xo.results ->
xo-gateway -> xo-lib answer.

Latency (one call at a time, simulator --event-batch-ms 0 --task-ms 0), baselines from the
same run on the same simulator:
  - VM.start as one synchronous XML-RPC call (Python);
  - Async.VM.start, then task.get_status every 1 ms until it ended (Python);
  - the npm xen-api client's callAsync('VM.start') (what xo-server does; its event loop).
Each call of the chain is split into hops from timestamps (xo-lib send, the command's
`issued`, the `accepted` and `success` results' `ts`, the simulator's task log, the answer).

A last row times --idle-calls vm.start calls each after 1.5 s without a call (the
gateway's results consumer then starts fetching again).

Idle cost (--idle-s S): CPU used by the gateway, the broker and the agent over S seconds
with no call, 2 s after the latency calls (a short fetch wait costs empty fetches: the
gateway's results consumer only fetches while a command is pending, and 1 s after).

Concurrency (--burst N): N vm.start on N halted VMs sent at once through --connections
xo-lib connections, tasks of --burst-task-ms; with the agent at commands.concurrency
--concurrency, then restarted with 1 (one command after another), in the same run.

    python3 tests/bench/bench_commands.py             # short: 50 calls, burst of 20
    python3 tests/bench/bench_commands.py --full      # the figures of docs/benchmarks.md
    python3 tests/bench/bench_commands.py --burst-only --burst 100   # the concurrency rows

Loopback only; every process is started through harness.Stack and killed at the end.
"""
import argparse
import json
import os
import ssl
import subprocess
import sys
import time
import xmlrpc.client

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import bench_common  # noqa: E402  beside this script: errors as one line, never a traceback
import gw_harness as g  # noqa: E402
import harness  # noqa: E402
from test_agent_commands import regular_vms, vm_by_state, wait_consuming  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "commands_driver.mjs")
XEN_API_DIR = os.path.join(HERE, "..", "xapi_sim", "npm")


def ensure_xen_api():
    """The pinned npm xen-api client of the second baseline (npm ci on first use)."""
    if not os.path.isdir(os.path.join(XEN_API_DIR, "node_modules", "xen-api")):
        print("installing the pinned xen-api client (npm ci in tests/xapi_sim/npm) ...", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=XEN_API_DIR, check=True,
                       capture_output=True, timeout=300)


def pct(vals, p):
    s = sorted(vals)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def run_driver(*args, timeout):
    r = subprocess.run(["node", DRIVER, *args], capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("commands_driver: " + r.stderr.decode()[-2000:])
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def row(name, vals, base=None):
    ratio = f"{pct(vals, 99) / pct(base, 99):>6.2f}" if base else "     -"
    return (f"| {name:<52} | {len(vals):>5} | {pct(vals, 50):>8.2f} | {pct(vals, 99):>8.2f} "
            f"| {max(vals):>8.2f} | {ratio} |")


# ------------------------------------------------------------------ direct baselines

class Direct:
    """XML-RPC straight to the simulator (Python's xmlrpc.client, one kept-alive connection)."""

    def __init__(self, url):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.x = xmlrpc.client.ServerProxy(url, context=ctx if url.startswith("https") else None)
        self.sid = self.ok(self.x.session.login_with_password("root", "password", "1.0", "bench"))

    @staticmethod
    def ok(r):
        if r.get("Status") != "Success":
            raise RuntimeError(f"XAPI error: {r.get('ErrorDescription')}")
        return r.get("Value")

    def sync_start(self, ref):
        t0 = time.perf_counter()
        self.ok(self.x.VM.start(self.sid, ref, False, False))
        return (time.perf_counter() - t0) * 1000

    def async_start(self, ref, poll_s=0.001):
        t0 = time.perf_counter()
        task = self.ok(self.x.Async.VM.start(self.sid, ref, False, False))
        while self.ok(self.x.task.get_status(self.sid, task)) == "pending":
            time.sleep(poll_s)
        ms = (time.perf_counter() - t0) * 1000
        if self.ok(self.x.task.get_status(self.sid, task)) != "success":
            raise RuntimeError(f"Async.VM.start failed: {self.ok(self.x.task.get_error_info(self.sid, task))}")
        self.ok(self.x.task.destroy(self.sid, task))
        return ms

    def stop(self, ref):
        self.ok(self.x.VM.hard_shutdown(self.sid, ref))

    def times(self, ref, n, fn):
        out = []
        for _ in range(n):
            out.append(fn(ref))
            self.stop(ref)
        return out


# ------------------------------------------------------------------ hops

# The gateway's results consumer stops fetching 1 s after the last pending command: calls
# after a longer gap show what turning it on again costs.
IDLE_GAP_MS = 1500

CALLS_SHOWN = ("Async.VM.start", "event.from", "task.destroy", "session.login_with_password")

HOPS = ("xo-lib -> gateway signs (issued)", "issued -> agent publishes accepted",
        "accepted -> XAPI task created", "XAPI task runs", "task ended -> agent publishes success",
        "success -> xo-lib answer")


def hop_split(k, sim, calls):
    """The six hops in ms of each call (vm.start on VM uuid, sent at epoch ms, answered
    after ms), from the timestamps each side left: the call's command is the first vm.start
    on its VM issued after it was sent, its task the first Async.VM.start on that VM created
    after the command was issued."""
    cmds = [json.loads(v) for _, v, _ in harness.kcat_read(k.bootstrap, "xo.commands") if v]
    cmds = [c for c in cmds if c["op"] == "vm.start"]
    res = {}
    for _, v, _ in harness.kcat_read(k.bootstrap, "xo.results"):
        if v:
            r = json.loads(v)
            res.setdefault(r["id"], {})[r["state"]] = r["ts"]
    refs = regular_vms(sim)
    tasks = [t for t in sim.get("/sim/task_log")["tasks"] if t["method"] == "Async.VM.start"]
    hops = [[] for _ in HOPS]
    for vm_uuid, sent, ms in calls:
        # 1 ms of slack: command and result times are whole milliseconds
        c = next((c for c in cmds if c["args"].get("id") == vm_uuid and c["issued"] >= sent - 1),
                 None)
        r = res.get(c["id"], {}) if c else {}
        t = c and next((t for t in tasks if t["target"] == refs[vm_uuid][0] and t["end"]
                        and t["start"] * 1000 >= c["issued"] - 1), None)
        if not t or "accepted" not in r or "success" not in r:
            continue
        marks = [sent, c["issued"], r["accepted"], t["start"] * 1000, t["end"] * 1000,
                 r["success"], sent + ms]
        for h in range(len(HOPS)):
            hops[h].append(marks[h + 1] - marks[h])
    return hops


def print_hops(hops, chain_median, what="the calls"):
    print(f"\nwhere the chain's time goes (median of each hop over {what}; clocks of one "
          "machine, result and command times have 1 ms resolution)")
    print("| hop | median ms | p99 ms | max ms | share of chain median |")
    print("|---|---:|---:|---:|---:|")
    for name, vals in zip(HOPS, hops):
        if vals:
            print(f"| {name} | {pct(vals, 50):.2f} | {pct(vals, 99):.2f} | {max(vals):.2f} "
                  f"| {100 * pct(vals, 50) / chain_median:.0f}% |")


# ------------------------------------------------------------------ the run

def idle_cpu(procs, seconds):
    """% of one core each process used over @seconds of no calls."""
    before = {name: bench_common.cpu_s(p.p.pid) for name, p in procs}
    time.sleep(seconds)
    print(f"\nidle: CPU over {seconds:g} s with no call (% of one core)")
    print("| process | idle CPU |")
    print("|---|---:|")
    for name, p in procs:
        print(f"| {name} | {100 * (bench_common.cpu_s(p.p.pid) - before[name]) / seconds:.1f}% |")


def burst(gw, vms, a, op="vm.start", extra="{}"):
    return run_driver("burst", gw.url, *g.ADMIN, str(a.connections), op, extra, ",".join(vms),
                      timeout=120 + len(vms) * 5)


def latency(st, k, sim, gw, a, timeout):
    vm_direct, vm_gw = vm_by_state(sim, "Halted", n=2)
    ref = regular_vms(sim)[vm_direct][0]
    d = Direct(sim.url)
    sync = d.times(ref, a.calls, d.sync_start)
    polled = d.times(ref, a.calls, d.async_start)
    xenapi = run_driver("xenapi", sim.url, vm_direct, str(a.xenapi_calls), timeout=timeout)
    via = run_driver("xolib", gw.url, *g.ADMIN, vm_gw, str(a.calls), timeout=timeout)
    hops = hop_split(k, sim, [(vm_gw, at, ms) for at, ms in zip(via["start_at"], via["start_ms"])])
    after_idle = a.idle_calls and run_driver("xolib", gw.url, *g.ADMIN, vm_gw, str(a.idle_calls),
                                             str(IDLE_GAP_MS), timeout=timeout + a.idle_calls * 3)
    print(f"\nlatency: one call at a time, simulator --event-batch-ms 0 --task-ms 0, agent "
          f"commands.fetch_wait_ms {a.agent_fetch_wait_ms}; times in ms; "
          f"ratio = p99 / p99 of Async.VM.start + 1 ms polling")
    print("| path | calls | median | p99 | max | p99 ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    print(row("vm.start: xo-lib -> gateway -> Kafka -> agent -> XAPI", via["start_ms"], polled))
    print(row("VM.start: synchronous XML-RPC call (baseline)", sync, polled))
    print(row("Async.VM.start + task.get_status every 1 ms (baseline)", polled, polled))
    print(row("VM.start: xen-api callAsync (second baseline)", xenapi["start_ms"], polled))
    print(row("vm.stop force: xo-lib -> gateway -> ... -> agent", via["stop_ms"], polled))
    if after_idle:
        print(row(f"vm.start after {IDLE_GAP_MS / 1000:g} s without a call (chain)",
                  after_idle["start_ms"], polled))
    gap = pct(via["start_ms"], 99) - pct(polled, 99)
    print(f"\nchain p99 - Async baseline p99 = {gap:.1f} ms (target <= 10 ms: "
          f"{'met' if gap <= 10 else f'missed by {gap - 10:.1f} ms'})")
    print_hops(hops, pct(via["start_ms"], 50))
    return {vm_direct, vm_gw}


def concurrency(st, sim, k, gw, ag, keys, used, a):
    sim.post(f"/sim/config?task_ms={a.burst_task_ms:g}")
    vms = vm_by_state(sim, "Halted", n=a.burst + len(used), exclude=used)[:a.burst]
    if len(vms) < a.burst:
        raise RuntimeError(f"only {len(vms)} halted VMs for a burst of {a.burst}: raise --vms")
    rows = []
    for n in (a.concurrency, 1) if a.sequential else (a.concurrency,):
        if n != a.concurrency:  # the same agent id and group, one command at a time
            ag.stop()
            ag = start_agent(st, sim, k, keys, n, a, name=f"agent-c{n}")
            wait_consuming(ag)
        procs = (("simulator", sim.proc), ("xo-agent", ag), ("xo-gateway", gw.proc),
                 ("xo-kafka-dev", k.proc))
        before = [bench_common.cpu_s(p.p.pid) for _, p in procs]
        calls0 = sim.get("/sim/stats")["calls_by_method"]
        out = burst(gw, vms, a)
        out["cpu_ms"] = [(name, 1000 * (bench_common.cpu_s(p.p.pid) - b))
                         for (name, p), b in zip(procs, before)]
        calls = sim.get("/sim/stats")["calls_by_method"]
        out["xapi_calls"] = {m: c - calls0.get(m, 0) for m, c in calls.items()
                             if c > calls0.get(m, 0)}
        rows.append((n, out, hop_split(k, sim, list(zip(vms, out["at"], out["ms"])))))
        burst(gw, vms, a, "vm.stop", '{"force": true}')
    print(f"\nconcurrent commands: {a.burst} vm.start on {a.burst} halted VMs sent at once through "
          f"{a.connections} xo-lib connections; simulated tasks of {a.burst_task_ms:g} ms; each "
          f"call timed from its own send; times in ms")
    print("| agent commands.concurrency | calls | median | p99 | max | all answered after |")
    print("|---|---:|---:|---:|---:|---:|")
    for n, out, _ in rows:
        ms = out["ms"]
        print(f"| {n} | {len(ms)} | {pct(ms, 50):.0f} | {pct(ms, 99):.0f} | {max(ms):.0f} "
              f"| {out['wall_ms']:.0f} |")
    par = rows[0][1]["ms"]
    ratio = f"{pct(par, 99) / pct(rows[1][1]['ms'], 99):.2f}x" if len(rows) > 1 else "not run"
    print(f"\np99 concurrency {a.concurrency} / concurrency 1: {ratio} "
          f"(target p99 < 1000 ms: {'met' if pct(par, 99) < 1000 else 'missed'})")
    print("\nCPU used during each burst (ms of one core; the burst includes the xo-lib driver's "
          "start and sign-in)")
    print("| agent commands.concurrency | " + " | ".join(n for n, _ in rows[0][1]["cpu_ms"]) + " |")
    print("|---|" + "---:|" * len(rows[0][1]["cpu_ms"]))
    for n, out, _ in rows:
        print(f"| {n} | " + " | ".join(f"{ms:.0f}" for _, ms in out["cpu_ms"]) + " |")
    print("\nXAPI calls the simulator answered during each burst, per command")
    print("| agent commands.concurrency | all | " + " | ".join(CALLS_SHOWN) + " |")
    print("|---|---:|" + "---:|" * len(CALLS_SHOWN))
    for n, out, _ in rows:
        c, per = out["xapi_calls"], len(out["ms"])
        print(f"| {n} | {sum(c.values()) / per:.1f} | "
              + " | ".join(f"{c.get(m, 0) / per:.2f}" for m in CALLS_SHOWN) + " |")
    for n, out, hops in rows:
        print_hops(hops, pct(out["ms"], 50), f"the {len(out['ms'])} calls at concurrency {n}")


def start_agent(st, sim, k, keys, concurrency, a, name="agent"):
    return st.start_agent(sim, k, name=name, extra={
        "agent": {"id": f"agent-{sim.pool_uuid[:8]}"},
        "commands": {"public_keys": os.path.join(keys, "gateway.pub"),
                     "concurrency": str(concurrency),
                     "fetch_wait_ms": str(a.agent_fetch_wait_ms)}})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--full", action="store_true",
                    help="the documented run: --calls 500 --xenapi-calls 100 --burst 100 "
                    "--idle-calls 20 --idle-s 20")
    ap.add_argument("--calls", type=int, default=50, help="latency calls of each kind (default 50)")
    ap.add_argument("--xenapi-calls", type=int, default=20,
                    help="calls of the xen-api baseline (about 200 ms each; default 20)")
    ap.add_argument("--burst", type=int, default=20,
                    help="vm.start sent at once in the concurrency rows (default 20; 0: none)")
    ap.add_argument("--burst-task-ms", type=float, default=50.0,
                    help="the simulated task duration in the concurrency rows (default 50)")
    ap.add_argument("--connections", type=int, default=4, help="xo-lib connections of a burst")
    ap.add_argument("--concurrency", type=int, default=32,
                    help="the agent's commands.concurrency for the concurrent row (default 32, "
                    "the agent's)")
    ap.add_argument("--agent-fetch-wait-ms", type=int, default=1,
                    help="the agent's commands.fetch_wait_ms (default 1 here: the in-memory "
                    "broker holds an empty fetch that long; the agent's default is 10)")
    ap.add_argument("--idle-calls", type=int, default=5,
                    help=f"vm.start calls each after {IDLE_GAP_MS / 1000:g} s without a call "
                    "(default 5; 0: none)")
    ap.add_argument("--idle-s", type=float, default=5.0,
                    help="seconds of no call over which idle CPU is measured (default 5; "
                    "0: not measured)")
    ap.add_argument("--burst-only", action="store_true",
                    help="only the concurrency rows (no latency calls, no idle CPU)")
    ap.add_argument("--no-sequential", dest="sequential", action="store_false",
                    help="skip the concurrency 1 row (the agent restarted one command at a time)")
    ap.add_argument("--vms", type=int, default=0,
                    help="VMs in the simulated pool (default: enough halted ones for the burst)")
    a = ap.parse_args()
    if a.full:
        a.calls, a.xenapi_calls, a.burst, a.idle_calls, a.idle_s = 500, 100, 100, 20, 20.0
    if min(a.calls, a.xenapi_calls, a.connections, a.concurrency) < 1 \
            or min(a.burst, a.idle_calls, a.idle_s) < 0:
        raise SystemExit("error: --calls, --xenapi-calls, --connections and --concurrency must be "
                         ">= 1, --burst, --idle-calls and --idle-s >= 0")
    if a.burst_only and not a.burst:
        raise SystemExit("error: --burst-only needs --burst >= 1")
    vms = a.vms or max(20, 4 * a.burst + 10)  # 30% of a generated pool is halted
    g.ensure_node_modules()
    ensure_xen_api()
    timeout = 60 + a.calls * 5
    # many power changes republish full VM records (and tasks) on one partition: the
    # in-memory broker may drop its oldest xo.objects records, which the view (loaded at
    # start) and these round trips do not need
    with harness.Stack(allow_kafka_truncation=True) as st:
        k = st.start_kafka()
        sim = st.start_sim(vms=vms, hosts=2, seed=41,
                           extra=("--event-batch-ms", "0", "--task-ms", "0"))
        keys = st.path("keys")
        subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                       capture_output=True)
        ag = start_agent(st, sim, k, keys, a.concurrency, a)
        gw = st.start_gateway(k, extra={"commands": {
            "private_key": os.path.join(keys, "gateway.key")}})
        wait_consuming(ag)
        g.wait_synced(gw, [sim.pool_uuid])
        print(f"bench_commands: {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f} at start")
        used = set() if a.burst_only else latency(st, k, sim, gw, a, timeout)
        if a.idle_s and not a.burst_only:
            time.sleep(2)  # past the gateway's 1 s of fetching after the last command
            idle_cpu((("xo-gateway", gw.proc), ("xo-kafka-dev", k.proc), ("xo-agent", ag)),
                     a.idle_s)
        if a.burst:
            concurrency(st, sim, k, gw, ag, keys, used, a)


if __name__ == "__main__":
    bench_common.run_main(main)
