"""Issue 11 at scale and under a stalled client, on the demo's shape (two simulated pools of
3 and 2 hosts, one agent each, one gateway):

1. 100 consoles open at once across both pools, each showing its own VM's framebuffer
   (ServerInit names the VM; the 100 frames are all different; every tenth equals the
   simulator's own console byte for byte); memory per open console at the gateway and at
   each agent measured (RSS) and kept under a fixed bound.
2. A client that stops reading while the simulator streams full-frame updates: the
   simulator soon stops sending (its bytes_sent stalls: the agent stopped reading the
   host), gateway and agent RSS stay under the bound; when the client reads again the
   stream flows again: a stall shorter than the gateway's timeouts.send_s does not end the
   console. A client that then stops reading for good is closed by the gateway once
   timeouts.send_s passes (counted as stalled), and its console ends.
(RSS bounds are checked on the normal build only: sanitizers inflate memory.)
"""
import hashlib
import os
import subprocess
import threading
import time

import gw_harness as g
import harness
import rfb_client as rc
from test_agent_commands import regular_vms, wait_consuming
from test_console import direct_frame, token, wait_agent_live

N_CONSOLES = 100
PER_CONSOLE_BOUND = 1 << 20      # bytes of RSS per open console, gateway or agent
STALL_BOUND = 12 << 20           # RSS growth while one client stalls a stream
SANITIZED = os.environ.get("XO_SANITIZE") == "1"
STALL_S = 5 * harness.SCALE      # how long the client stops reading, then reads again
SEND_S = int(2 * STALL_S)        # the gateway's timeouts.send_s: longer than that stall


def rss(proc):
    with open(f"/proc/{proc.p.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def start_demo(st):
    k = st.start_kafka()
    sims = [st.start_sim(vms=100, hosts=3, seed=1), st.start_sim(vms=100, hosts=2, seed=2)]
    keys = st.path("keys")
    subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                   capture_output=True)
    agents = [st.start_agent(s, k, name=f"agent{i}", extra={
        "commands": {"public_keys": os.path.join(keys, "gateway.pub")}})
        for i, s in enumerate(sims)]
    gw = st.start_gateway(k, extra={
        "commands": {"private_key": os.path.join(keys, "gateway.key")},
        "console": {"max_per_user": "200"}, "timeouts": {"send_s": str(SEND_S)}})
    for a in agents:
        wait_consuming(a)
    g.wait_synced(gw, [s.pool_uuid for s in sims])
    for s in sims:
        wait_agent_live(gw, s.pool_uuid)
    return k, sims, agents, gw


def open_many(gw, tok, targets):
    """Open every console at once (one thread each); returns {vm: (conn, rfb, frame)}."""
    out, errors = {}, []

    def one(sim, vm):
        try:
            c = rc.through_gateway(gw.port, vm, tok, timeout=60)
            r = rc.Rfb(c)
            r.handshake()
            out[vm] = (c, r, r.full_frame(), sim)
        except Exception as e:  # reported below
            errors.append((vm, repr(e)))
    threads = [threading.Thread(target=one, args=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300 * harness.SCALE)
    assert not errors, errors[:5]
    return out


def check_hundred(sims, agents, gw, tok):
    targets = []
    for s in sims:
        vms = regular_vms(s)
        targets += [(s, u) for u, (_, r) in sorted(vms.items()) if r["power_state"] == "Running"]
    targets = targets[:N_CONSOLES]
    assert len(targets) == N_CONSOLES, len(targets)
    assert {id(s) for s, _ in targets} == {id(s) for s in sims}, "consoles in both pools"
    before = [rss(gw.proc)] + [rss(a) for a in agents]
    t0 = time.monotonic()
    opened = open_many(gw, tok, targets)
    took = time.monotonic() - t0
    after = [rss(gw.proc)] + [rss(a) for a in agents]
    hashes = set()
    for i, (vm, (c, r, frame, sim)) in enumerate(sorted(opened.items())):
        assert r.name == regular_vms(sim)[vm][1]["name_label"], (vm, r.name)
        hashes.add(hashlib.sha256(frame).hexdigest())
        if i % 10 == 0:
            assert frame == direct_frame(sim, vm), f"console of {vm} shows another framebuffer"
    assert len(hashes) == N_CONSOLES, f"only {len(hashes)} distinct framebuffers"
    _, body, _ = g.http_get(gw.url + "/metrics")
    assert f"xo_gateway_consoles_open {N_CONSOLES}" in body.decode()
    per = [(a - b) / N_CONSOLES for a, b in zip(after, before)]
    print(f"{N_CONSOLES} consoles open at once in {took:.1f} s across {len(sims)} pools, each its "
          f"own VM's framebuffer; RSS per console: gateway {per[0] / 1024:.0f} KiB, agents "
          + ", ".join(f"{p / 1024:.0f} KiB" for p in per[1:]))
    if not SANITIZED:
        for p in per:
            assert p < PER_CONSOLE_BOUND, per
    for c, *_ in opened.values():
        c.close()
    harness.wait_until(lambda: f"xo_gateway_consoles_open 0" in
                       g.http_get(gw.url + "/metrics")[1].decode(), 30, what="all closed")


def bytes_sent(sim, vm):
    return sim.stats()["consoles"].get(vm, {}).get("bytes_sent", 0)


def check_stall(sims, agents, gw, tok):
    sim = sims[0]
    vm = next(u for u, (_, r) in sorted(regular_vms(sim).items()) if r["power_state"] == "Running")
    agent = agents[0]
    c = rc.through_gateway(gw.port, vm, tok)
    r = rc.Rfb(c)
    r.handshake()
    r.full_frame()
    base = [rss(gw.proc), rss(agent)]
    sim.post("/sim/config?console_stream=1")
    try:
        r.request(True)
        r.read_update()          # the stream flows
        # stop reading: the simulator must stop sending soon (every buffer on the way full)
        time.sleep(STALL_S * 3 / 5)
        s1 = bytes_sent(sim, vm)
        time.sleep(STALL_S * 2 / 5)
        s2 = bytes_sent(sim, vm)
        grown = [rss(gw.proc) - base[0], rss(agent) - base[1]]
        assert s2 - s1 <= 2 * 640 * 480 * 4, f"the host kept streaming: {s2 - s1} bytes in 2 s"
        print(f"stalled client: the simulator stopped streaming ({s2 - s1} bytes in 2 s after "
              f"{s1 / 1e6:.1f} MB); RSS growth gateway {grown[0] / 1024:.0f} KiB, agent "
              f"{grown[1] / 1024:.0f} KiB")
        if not SANITIZED:
            assert max(grown) < STALL_BOUND, grown
        # read again: it flows again
        c.s.settimeout(20 * harness.SCALE)
        for _ in range(20):
            r.read_update()
        rc.wait_for(lambda: bytes_sent(sim, vm) > s2 + 10 * 640 * 480 * 4, 20, "stream resumed")
        print(f"reading again after {STALL_S:.0f} s (timeouts.send_s = {SEND_S} s): the stream "
              "flows again")
        check_dropped(gw, c)
    finally:
        sim.post("/sim/config?console_stream=0")
        c.close()


def gateway_counts(gw):
    """(connections closed as stalled, consoles open) from the gateway's /metrics."""
    _, body, _ = g.http_get(gw.url + "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if not line.startswith("#") and " " in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return (out.get('xo_gateway_connections_closed_total{reason="stalled"}', 0),
            out.get("xo_gateway_consoles_open", -1))


def check_dropped(gw, c):
    """Stop reading for good: the gateway closes the console after timeouts.send_s."""
    assert gateway_counts(gw) == (0, 1), "a stall shorter than timeouts.send_s was closed"
    t0 = time.monotonic()
    harness.wait_until(lambda: gateway_counts(gw) == (1, 0), SEND_S + 30, interval=0.5,
                       what="the stalled console closed by timeouts.send_s")
    took = time.monotonic() - t0
    c.s.settimeout(10 * harness.SCALE)
    try:  # what the kernel still held, then the end (a reset, or EOF)
        while c.s.recv(1 << 20):
            pass
    except OSError:
        pass
    print(f"stalled for good: closed by the gateway after {took:.0f} s (timeouts.send_s = "
          f"{SEND_S} s), counted as stalled")


def main():
    with harness.Stack() as st:
        _, sims, agents, gw = start_demo(st)
        tok = token(gw, ("admin@admin.net", "admin"))
        check_hundred(sims, agents, gw, tok)
        check_stall(sims, agents, gw, tok)
    print("console_scale: all checks passed")


if __name__ == "__main__":
    main()
