#!/usr/bin/env python3
"""bench_vm_copy: a VM copied across pools by vm.copy (xo-lib -> gateway -> two agents,
host -> agent -> TLS link -> agent -> host), against the same bytes moved between the same
two simulators by a raw pipe (GET /export streamed straight into PUT /import by one
socket loop, as `curl export | curl import` would) and by export to a file then import of
that file, in one run. Prints throughput, the ratios (issue 12's targets: >= 0.9x the raw
pipe, >= 1.8x export-then-import) and the peak RSS added to both agents and the gateway
(target <= 16 MiB per agent whatever the VM's size).

Default (CI-sized): --size-mib 256. The issue's figure: --full (4 GiB). Loopback only."""
import argparse
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import gw_harness as g  # noqa: E402
import bench_common  # noqa: E402
import harness  # noqa: E402
from test_vm_copy import MIB, big_vm, shared_sr, start_stack, vm_count  # noqa: E402

CLAIM = 1 << 50  # xo-server's Content-Length of an import


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024


# The destination simulator speaks HTTPS with its own self-signed certificate (as a real
# pool master does): these loopback connections do not verify it.
NO_VERIFY = ssl._create_unverified_context()


def login(sim):
    return xmlrpc.client.ServerProxy(sim.url, context=NO_VERIFY).session.login_with_password(
        "root", "password")["Value"]


def host_port(sim):
    hp = sim.url.split("//")[1].strip("/")
    h, p = hp.rsplit(":", 1)
    return h, int(p)


def sr_ref(sim, uuid):
    return next(r for r, rec in sim.truth()["sr"].items() if rec["uuid"] == uuid)


def put_import(sim, session, sr):
    """A socket with PUT /import sent and its 200 read: ready for the body."""
    s = socket.create_connection(host_port(sim))
    if sim.url.startswith("https:"):
        s = NO_VERIFY.wrap_socket(s, server_hostname=host_port(sim)[0])
    s.sendall((f"PUT /import?session_id={session}&sr_id={sr} HTTP/1.0\r\n"
               f"Content-Length: {CLAIM}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0], head
    return s


def finish_import(s):
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()


def export_url(sim, session, vm):
    return f"{sim.url.rstrip('/')}/export?session_id={session}&uuid={vm}&use_compression=false"


def raw_pipe(a, b, vm, sr):
    """GET /export into PUT /import, 64 KiB at a time, nothing stored."""
    sa, sb = login(a), login(b)
    t0 = time.monotonic()
    s = put_import(b, sb, sr_ref(b, sr))
    n = 0
    with urllib.request.urlopen(export_url(a, sa, vm), context=NO_VERIFY) as r:
        while True:
            chunk = r.read(65536)
            if not chunk:
                break
            s.sendall(chunk)
            n += len(chunk)
    finish_import(s)
    return time.monotonic() - t0, n


def export_then_import(a, b, vm, sr, tmp):
    sa, sb = login(a), login(b)
    path = os.path.join(tmp, "vm.xva")
    t0 = time.monotonic()
    subprocess.run(["curl", "-sSfk", "-o", path, export_url(a, sa, vm)], check=True)
    size = os.path.getsize(path)
    s = put_import(b, sb, sr_ref(b, sr))
    with open(path, "rb") as f:
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            s.sendall(chunk)
    finish_import(s)
    took = time.monotonic() - t0
    os.unlink(path)
    return took, size


def log_ts(line):
    """Seconds of a log line's ts=…Z (UTC, ms)."""
    ts = line.split("ts=")[1].split()[0]
    return time.mktime(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + float(ts[19:-1] or 0)


def vm_copy(gw, vm, sr):
    """The client's call (xo-lib start-up and sign-in included), and the gateway's own time
    from sending vm.importPrepare to the outcome of vm.exportTo."""
    t0 = time.monotonic()
    r = g.node("call", gw.url, *g.ADMIN, "vm.copy", json.dumps({"vm": vm, "sr": sr}),
               timeout=3600)
    took = time.monotonic() - t0
    assert "result" in r, r
    lines = gw.proc.log_text().splitlines()
    sent = [l for l in lines if "event=command_sent" in l and "op=vm.importPrepare" in l][-1]
    done = [l for l in lines if "event=command_done" in l and "op=vm.exportTo" in l][-1]
    return took, log_ts(done) - log_ts(sent)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=256, help="data on the VM's disk (MiB)")
    ap.add_argument("--full", action="store_true", help="the issue's run: a 4 GiB VM")
    ap.add_argument("--runs", type=int, default=1, help="runs of each way (best is kept)")
    args = ap.parse_args()
    bench_common.require("xo-gateway", "xo-agent", "xo-kafka-dev")  # a clear error first
    size = 4096 if args.full else args.size_mib
    with harness.Stack() as st, tempfile.TemporaryDirectory(prefix="xo-bench-") as tmp:
        sims, agents, gw, _ = start_stack(st)
        a, b = sims
        vm = big_vm(a, size)
        sr = shared_sr(b)
        base = {p.name: vm_hwm_mib(p.p.pid) for p in (*agents, gw.proc)}
        best = {"vm.copy (client)": 1e9, "vm.copy (gateway)": 1e9, "raw pipe": 1e9,
                "export then import": 1e9}
        nbytes = 0
        for _ in range(args.runs):
            before = vm_count(b)[0]
            client, gateway = vm_copy(gw, vm, sr)
            best["vm.copy (client)"] = min(best["vm.copy (client)"], client)
            best["vm.copy (gateway)"] = min(best["vm.copy (gateway)"], gateway)
            t, nbytes = raw_pipe(a, b, vm, sr)
            best["raw pipe"] = min(best["raw pipe"], t)
            t, _ = export_then_import(a, b, vm, sr, tmp)
            best["export then import"] = min(best["export then import"], t)
            assert vm_count(b)[0] == before + 3, "every way must have made a VM"
        peak = {p.name: vm_hwm_mib(p.p.pid) for p in (*agents, gw.proc)}
        print(f"VM of {size} MiB of data, XVA of {nbytes / MIB:.0f} MiB on the wire, "
              f"best of {args.runs}")
        print(f"{'way':<22}{'seconds':>10}{'MiB/s':>10}")
        for way, t in best.items():
            print(f"{way:<22}{t:>10.2f}{nbytes / MIB / t:>10.1f}")
        print("(client: the xo-lib call, node start-up and sign-in included; gateway: "
              "vm.importPrepare sent -> vm.exportTo outcome)")
        for who in ("client", "gateway"):
            t = best[f"vm.copy ({who})"]
            print(f"vm.copy ({who}) / raw pipe throughput: {best['raw pipe'] / t:.2f}x "
                  f"(target >= 0.9); / export-then-import: "
                  f"{best['export then import'] / t:.2f}x (target >= 1.8)")
        for name in peak:
            print(f"peak RSS {name:<14} {peak[name]:7.1f} MiB (+{peak[name] - base[name]:.1f} "
                  "during the copies)")


if __name__ == "__main__":
    bench_common.run_main(main)  # errors as one line, never a traceback
