#!/usr/bin/env python3
"""bench_commands: round-trip time of a VM action through the command bus (issue 6).

Chain timed: npm xo-lib 0.9.0 -> xo-gateway (JSON-RPC vm.start) -> xo.commands (signed)
-> xo-agent (verify, accepted + commit, VM.get_by_uuid, Async.VM.start, task polling) ->
XAPI simulator -> xo.results -> xo-gateway -> xo-lib answer.
Baseline, same run and same simulator: the npm xen-api client (what xo-server uses) calling
callAsync('VM.start') straight on the simulator.

Both loops run one call at a time on one halted VM: vm.start (timed), then a hard shutdown
to reset it (timed too, reported as a second row). Simulator: --event-batch-ms 0 and
--task-ms (default 0: the XAPI task ends at once, so the figures are the system's own
overhead). Prints median, p99 and max per path and the ratio gateway/direct.

    python3 tests/bench/bench_commands.py            # 50 calls of each
    python3 tests/bench/bench_commands.py --calls 500

Loopback only; every process is started through harness.Stack and killed at the end.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import gw_harness as g  # noqa: E402
import harness  # noqa: E402
from test_agent_commands import vm_by_state, wait_consuming  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "commands_driver.mjs")


def pct(vals, p):
    s = sorted(vals)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def run_driver(*args, timeout):
    r = subprocess.run(["node", DRIVER, *args], capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode()[-2000:])
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def row(name, vals):
    return (f"| {name:<44} | {len(vals):>5} | {pct(vals, 50):>8.1f} | {pct(vals, 99):>8.1f} "
            f"| {max(vals):>8.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--calls", type=int, default=50, help="calls of each kind (default 50)")
    ap.add_argument("--task-ms", type=float, default=0.0,
                    help="the simulator's Async task duration (default 0)")
    ap.add_argument("--vms", type=int, default=20, help="VMs in the simulated pool")
    ap.add_argument("--agent-fetch-wait-ms", type=int, default=10,
                    help="the agent's kafka fetch.wait.max.ms (librdkafka default 500)")
    a = ap.parse_args()
    g.ensure_node_modules()
    timeout = 60 + a.calls * 5
    # 2 x --calls power changes republish full VM records (and tasks) on one partition: the
    # in-memory broker may drop its oldest xo.objects records, which the view (loaded at
    # start) and these round trips do not need
    with harness.Stack(allow_kafka_truncation=True) as st:
        k = st.start_kafka()
        sim = st.start_sim(vms=a.vms, hosts=2, seed=41,
                           extra=("--event-batch-ms", "0", "--task-ms", str(a.task_ms)))
        keys = st.path("keys")
        subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                       capture_output=True)
        # fetch.wait.max.ms: librdkafka's default (500) makes the mock broker hold an empty
        # fetch that long; the gateway's consumer already uses 10 (view_consumer.c)
        ag = st.start_agent(sim, k, extra={
            "commands": {"public_keys": os.path.join(keys, "gateway.pub")},
            "kafka": {"fetch.wait.max.ms": str(a.agent_fetch_wait_ms)}})
        gw = st.start_gateway(k, extra={"commands": {
            "private_key": os.path.join(keys, "gateway.key")}})
        wait_consuming(ag)
        g.wait_synced(gw, [sim.pool_uuid])
        vm_direct, vm_gw = vm_by_state(sim, "Halted", n=2)
        direct = run_driver("xenapi", sim.url, vm_direct, str(a.calls), timeout=timeout)
        via = run_driver("xolib", gw.url, *g.ADMIN, vm_gw, str(a.calls), timeout=timeout)
        calls = sim.stats()["calls_by_method"]
    print(f"\nbench_commands: {a.calls} calls each, one at a time; simulator --event-batch-ms 0 "
          f"--task-ms {a.task_ms:g}; agent task poll 0-100 ms (backing off), fetch.wait.max.ms "
          f"{a.agent_fetch_wait_ms}; times in ms")
    print("| path | calls | median | p99 | max |")
    print("|---|---:|---:|---:|---:|")
    print(row("vm.start: xo-lib -> gateway -> Kafka -> agent", via["start_ms"]))
    print(row("VM.start: xen-api callAsync -> simulator", direct["start_ms"]))
    print(row("vm.stop force: xo-lib -> gateway -> ... -> agent", via["stop_ms"]))
    print(row("VM.hard_shutdown: xen-api callAsync -> simulator", direct["stop_ms"]))
    print(f"\nvm.start ratio gateway/direct: median "
          f"{pct(via['start_ms'], 50) / pct(direct['start_ms'], 50):.1f}x, p99 "
          f"{pct(via['start_ms'], 99) / pct(direct['start_ms'], 99):.1f}x")
    print(f"simulator saw Async.VM.start x{calls.get('Async.VM.start', 0)}, "
          f"Async.VM.hard_shutdown x{calls.get('Async.VM.hard_shutdown', 0)}")


if __name__ == "__main__":
    import bench_common  # beside this script: errors as one line, never a traceback

    bench_common.run_main(main)
