#!/usr/bin/env python3
"""bench_console: the console proxy (issue 11) beside the simulator's own console, one run.

Paths, same simulator, same client code (tests/e2e/rfb_client.py):
  gateway  client -> xo-gateway /api/consoles/<id> -> relay -> xo-agent -> simulator /console
  direct   client -> simulator /console (WebSocket, subprotocol binary, session cookie)

1. Key -> update round trip: a KeyEvent (the simulator echoes the key on the VM's screen)
   and an incremental FramebufferUpdateRequest, timed until the update has arrived; one at
   a time. Median, p99, max, and the median added by gateway + agent.
2. Bulk throughput: the simulator streams full 640x480x32 frames as fast as the client
   reads (/sim/config console_stream=1); the client reads raw bytes for --seconds. MB/s
   and the ratio gateway/direct.
3. Memory per open console: --consoles consoles opened through the gateway (handshake
   and one full frame each), RSS of the gateway and of the agent before, right after, and
   once the consoles are idle (idle buffers are given back after about a second).

Targets (issue 11): added median latency under 1 ms on loopback, throughput >= 0.8x direct.

    python3 tests/bench/bench_console.py            # short: 200 keys, 3 s, 20 consoles
    python3 tests/bench/bench_console.py --full     # 2000 keys, 10 s, 100 consoles

Loopback only; every process is started through harness.Stack and killed at the end.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import bench_common  # noqa: E402
import harness  # noqa: E402
import rfb_client as rc  # noqa: E402
from test_agent_commands import regular_vms, wait_consuming  # noqa: E402
from test_console import token, wait_agent_live  # noqa: E402
from test_console_scale import rss  # noqa: E402
import gw_harness as g  # noqa: E402


def pct(vals, p):
    s = sorted(vals)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def start(st, vms):
    k = st.start_kafka()
    sim = st.start_sim(vms=vms, hosts=2, seed=3, extra=("--event-batch-ms", "0"))
    keys = st.path("keys")
    subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                   capture_output=True)
    ag = st.start_agent(sim, k, extra={"commands": {"public_keys": os.path.join(keys, "gateway.pub")}})
    gw = st.start_gateway(k, extra={"commands": {"private_key": os.path.join(keys, "gateway.key")},
                                    "console": {"max_per_user": "1000"}, "log": {"level": "warn"}})
    wait_consuming(ag)
    g.wait_synced(gw, [sim.pool_uuid])
    wait_agent_live(gw, sim.pool_uuid)
    return sim, ag, gw


def open_gw(gw, vm, tok):
    c = rc.through_gateway(gw.port, vm, tok)
    r = rc.Rfb(c)
    r.handshake()
    return c, r


def open_direct(sim, vm):
    c = rc.straight_to_sim(sim, vm)
    r = rc.Rfb(c)
    r.handshake()
    return c, r


def round_trips(r, n):
    """Key down + incremental request -> the update; n times. Milliseconds."""
    out = []
    r.full_frame()
    for i in range(n):
        key = ord("a") + i % 26
        t0 = time.perf_counter()
        r.key(key, True)
        r.request(True)
        r.read_update()
        out.append((time.perf_counter() - t0) * 1000)
        r.key(key, False)
    return out


def throughput(sim, conn, r, seconds):
    """Bytes per second the client receives while the simulator streams full frames."""
    r.full_frame()
    sim.post("/sim/config?console_stream=1")
    buf = bytearray(1 << 20)
    try:
        r.request(True)
        n, t0 = 0, time.perf_counter()
        end = t0 + 0.5  # warm-up
        while time.perf_counter() < end:
            conn.s.recv_into(buf)
        t0 = time.perf_counter()
        end = t0 + seconds
        while time.perf_counter() < end:
            n += conn.s.recv_into(buf)
        rate = n / (time.perf_counter() - t0)
    finally:
        sim.post("/sim/config?console_stream=0")
        conn.close()
    return rate


def memory(sim, ag, gw, tok, vms):
    before = rss(gw.proc), rss(ag)
    conns = []
    for vm in vms:
        c = rc.through_gateway(gw.port, vm, tok, timeout=60)
        r = rc.Rfb(c)
        r.handshake()
        r.full_frame()
        conns.append(c)
    active = rss(gw.proc), rss(ag)      # each has just relayed a full frame
    time.sleep(2.0)                     # idle buffers are given back after about a second
    idle = rss(gw.proc), rss(ag)
    for c in conns:
        c.close()
    return ([(a - b) / len(vms) for a, b in zip(active, before)],
            [(a - b) / len(vms) for a, b in zip(idle, before)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--keys", type=int, default=200, help="key round trips per path (200)")
    ap.add_argument("--seconds", type=float, default=3.0, help="streaming time per path (3)")
    ap.add_argument("--consoles", type=int, default=20, help="consoles for the memory row (20)")
    ap.add_argument("--rounds", type=int, default=2, help="streaming runs per path, best kept (2)")
    ap.add_argument("--full", action="store_true", help="2000 keys, 10 s, 100 consoles")
    a = ap.parse_args()
    bench_common.require("xo-gateway", "xo-agent", "xo-kafka-dev")  # a clear error first
    if a.full:
        a.keys, a.seconds, a.consoles, a.rounds = 2000, 10.0, 100, 3
    with harness.Stack() as st:
        sim, ag, gw = start(st, vms=max(40, a.consoles * 2))
        tok = token(gw, ("admin@admin.net", "admin"))
        running = [u for u, (_, r) in sorted(regular_vms(sim).items()) if r["power_state"] == "Running"]
        via_gw, direct = running[0], running[1]

        cg, rg = open_gw(gw, via_gw, tok)
        cd, rd = open_direct(sim, direct)
        lat_d = round_trips(rd, a.keys)
        lat_g = round_trips(rg, a.keys)
        cg.close()
        cd.close()
        # streaming: one session at a time (stream mode makes every open session stream),
        # alternating paths, best of --rounds each (the machine may be shared)
        tp_d, tp_g = [], []
        for _ in range(a.rounds):
            tp_d.append(throughput(sim, *open_direct(sim, direct), a.seconds))
            tp_g.append(throughput(sim, *open_gw(gw, via_gw, tok), a.seconds))
        tp_d, tp_g = max(tp_d), max(tp_g)
        mem = memory(sim, ag, gw, tok, running[2:2 + a.consoles])

    added = pct(lat_g, 50) - pct(lat_d, 50)
    print(f"\nconsole bench: {a.keys} key round trips and {a.seconds:g} s of streaming per "
          f"path (best of {a.rounds}), {a.consoles} consoles for memory (loopback)\n")
    print("| path | keys | median ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for name, v in (("direct (simulator's /console)", lat_d), ("gateway + agent relay", lat_g)):
        print(f"| {name} | {len(v)} | {pct(v, 50):.3f} | {pct(v, 99):.3f} | {max(v):.3f} |")
    print(f"\nadded median latency: {added:.3f} ms (target < 1 ms: "
          f"{'met' if added < 1 else 'NOT met'})\n")
    print("| path | MB/s | ratio |")
    print("|---|---:|---:|")
    print(f"| direct | {tp_d / 1e6:.1f} | 1.00 |")
    print(f"| gateway + agent relay | {tp_g / 1e6:.1f} | {tp_g / tp_d:.2f} |")
    print(f"\nthroughput ratio {tp_g / tp_d:.2f} (target >= 0.8: "
          f"{'met' if tp_g / tp_d >= 0.8 else 'NOT met'})\n")
    print("| memory per open console (RSS) | after a full frame, KiB | idle, KiB |")
    print("|---|---:|---:|")
    print(f"| gateway | {mem[0][0] / 1024:.0f} | {mem[1][0] / 1024:.0f} |")
    print(f"| agent | {mem[0][1] / 1024:.0f} | {mem[1][1] / 1024:.0f} |")


if __name__ == "__main__":
    bench_common.run_main(main)  # errors as one line, never a traceback
