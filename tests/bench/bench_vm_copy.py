#!/usr/bin/env python3
"""bench_vm_copy: a VM copied across pools by vm.copy (xo-lib -> gateway -> two agents,
host -> agent -> TLS link -> agent -> host), against the same bytes moved between the same
two simulators by a raw pipe (GET /export streamed straight into PUT /import by one
socket loop, as `curl export | curl import` would) and by export to a file then import of
that file, in one run. Prints the median time and throughput of each way, the ratios
(issue 12's targets: >= 0.9x the raw pipe, >= 1.8x export-then-import) and the peak RSS of
both agents and the gateway (target <= 16 MiB added per agent whatever the VM's size).

Two conditions, each labelled in the output:
- unthrottled: the simulators run as fast as the machine lets them. Both Python
  simulators, both agents and the client share the cores, so this measures the CPU cost of
  each way on this machine as much as the way itself;
- host-bound (--rate-mib R): every simulator's /export and /import held to R MiB/s (the
  knobs export_rate and import_rate), the same for every way: a real host is bounded by its
  disk and network, not by the orchestrator's CPU.

Default (CI-sized): --size-mib 256, one run, no throttled run. The issue's figures: --full
(4 GiB, 3 runs unthrottled, then one host-bound run at 100 MiB/s). Pool B speaks HTTPS, as
in e2e.vm_copy: the raw pipe and the import of the file go over TLS too. Loopback only."""
import argparse
import hashlib
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
import harness  # noqa: E402
from bench_common import BenchError, median, require, run_main  # noqa: E402
from test_vm_copy import MIB, big_vm, shared_sr, start_stack, vm_count  # noqa: E402

CLAIM = 1 << 50  # xo-server's Content-Length of an import
PIECE = 1 << 20  # what the raw pipe and the file import move per system call
WAYS = ("vm.copy (client)", "vm.copy (gateway)", "raw pipe", "export then import")
DOWNLOADS = ("vm.export (gateway)", "direct export")


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024


def tls_context():
    """The simulators' certificates are self-signed: checked by fingerprint (pinned)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def pinned(sim, s):
    """Refuse a TLS peer whose certificate is not the simulator's."""
    got = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
    if sim.fingerprint and got != sim.fingerprint.replace(":", "").lower():
        raise BenchError(f"{sim.url}: certificate fingerprint {got} is not the simulator's")
    return s


def connect(sim):
    hp = sim.url.split("//")[1].strip("/")
    host, port = hp.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=600)
    if sim.url.startswith("https"):
        s = pinned(sim, tls_context().wrap_socket(s))
    return s


def login(sim):
    ctx = tls_context() if sim.url.startswith("https") else None
    return xmlrpc.client.ServerProxy(sim.url, context=ctx).session.login_with_password(
        "root", "password")["Value"]


def sr_ref(sim, uuid):
    return next(r for r, rec in sim.truth()["sr"].items() if rec["uuid"] == uuid)


def put_import(sim, session, sr):
    """A socket with PUT /import sent as xo-server sends it and its 200 read: ready for the
    body."""
    s = connect(sim)
    s.sendall((f"PUT /import?session_id={session}&sr_id={sr} HTTP/1.0\r\n"
               f"Content-Length: {CLAIM}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        more = s.recv(1)
        if not more:
            raise BenchError(f"{sim.url}: /import closed before its answer")
        head += more
    if b" 200 " not in head.split(b"\r\n")[0]:
        raise BenchError(f"{sim.url}: /import answered {head.splitlines()[0]!r}")
    return s


def finish_import(s):
    """The body's end: a close (TLS close_notify too), then what XAPI still says."""
    if isinstance(s, ssl.SSLSocket):
        try:
            s = s.unwrap()  # close_notify; XAPI answers by closing when the import is over
        except (ssl.SSLError, OSError):
            s.close()
            return
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()


def export_url(sim, session, vm):
    return f"{sim.url.rstrip('/')}/export?session_id={session}&uuid={vm}&use_compression=false"


def open_export(sim, session, vm):
    ctx = tls_context() if sim.url.startswith("https") else None
    return urllib.request.urlopen(export_url(sim, session, vm), timeout=600, context=ctx)


def raw_pipe(a, b, vm, sr):
    """GET /export into PUT /import, a piece at a time, nothing stored."""
    sa, sb = login(a), login(b)
    t0 = time.monotonic()
    s = put_import(b, sb, sr_ref(b, sr))
    n = 0
    with open_export(a, sa, vm) as r:
        while True:
            piece = r.read(PIECE)
            if not piece:
                break
            s.sendall(piece)
            n += len(piece)
    finish_import(s)
    return time.monotonic() - t0, n


def export_then_import(a, b, vm, sr, tmp):
    """curl to a file, then the file into PUT /import."""
    sa, sb = login(a), login(b)
    path = os.path.join(tmp, "vm.xva")
    t0 = time.monotonic()
    subprocess.run(["curl", "-sSfk", "-o", path, export_url(a, sa, vm)], check=True)
    size = os.path.getsize(path)
    s = put_import(b, sb, sr_ref(b, sr))
    with open(path, "rb") as f:
        while True:
            piece = f.read(PIECE)
            if not piece:
                break
            s.sendall(piece)
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
    if "result" not in r:
        raise BenchError(f"vm.copy failed: {json.dumps(r)[:300]}")
    lines = gw.proc.log_text().splitlines()
    sent = [l for l in lines if "event=command_sent" in l and "op=vm.importPrepare" in l][-1]
    done = [l for l in lines if "event=command_done" in l and "op=vm.exportTo" in l][-1]
    return took, log_ts(done) - log_ts(sent)


def drain(r):
    n = 0
    while True:
        piece = r.read(PIECE)
        if not piece:
            return n
        n += len(piece)


def direct_export(sim, vm):
    """GET /export from the host into nothing: the download's baseline."""
    session = login(sim)
    t0 = time.monotonic()
    with open_export(sim, session, vm) as r:
        n = drain(r)
    return time.monotonic() - t0, n


def gateway_export(gw, vm):
    """vm.export through xo-lib (node start-up included), then the GET of its URL."""
    t0 = time.monotonic()
    r = g.node("call", gw.url, *g.ADMIN, "vm.export", json.dumps({"vm": vm}), timeout=600)
    if "$getFrom" not in (r.get("result") or {}):
        raise BenchError(f"vm.export failed: {json.dumps(r)[:300]}")
    with urllib.request.urlopen(gw.url.rstrip("/") + r["result"]["$getFrom"], timeout=600) as d:
        n = drain(d)
    return time.monotonic() - t0, n


def set_rate(sims, rate):
    for sim in sims:
        sim.post(f"/sim/config?export_rate={rate}&import_rate={rate}")


def measure(label, sims, gw, vm, sr, tmp, runs):
    """Every way @p runs times, interleaved; the times of each way and the XVA's size."""
    a, b = sims
    times = {w: [] for w in WAYS}
    nbytes = 0
    for i in range(runs):
        before = vm_count(b)[0]
        client, gateway = vm_copy(gw, vm, sr)
        times["vm.copy (client)"].append(client)
        times["vm.copy (gateway)"].append(gateway)
        t, nbytes = raw_pipe(a, b, vm, sr)
        times["raw pipe"].append(t)
        t, _ = export_then_import(a, b, vm, sr, tmp)
        times["export then import"].append(t)
        if vm_count(b)[0] != before + 3:
            raise BenchError("a way did not make its VM on the destination")
        for way, fn in (("vm.export (gateway)", lambda: gateway_export(gw, vm)),
                        ("direct export", lambda: direct_export(a, vm))):
            t, n = fn()
            if n != nbytes:
                raise BenchError(f"{way}: {n} bytes, the export has {nbytes}")
            times.setdefault(way, []).append(t)
        print(f"  {label}: run {i + 1}/{runs} done", file=sys.stderr, flush=True)
    return times, nbytes


def report(label, times, nbytes, runs):
    med = {w: median(ts) for w, ts in times.items() if w in WAYS}
    pipe, eti = med["raw pipe"], med["export then import"]
    print(f"\n{label}: XVA of {nbytes / MIB:.0f} MiB, median of {runs} run(s)")
    print(f"{'way':<22}{'seconds':>10}{'MiB/s':>10}{'/ raw pipe':>12}{'/ exp+imp':>12}")
    for way, t in med.items():
        print(f"{way:<22}{t:>10.2f}{nbytes / MIB / t:>10.1f}{pipe / t:>11.2f}x{eti / t:>11.2f}x")
    if all(w in times for w in DOWNLOADS):
        gw_t, direct = (median(times[w]) for w in DOWNLOADS)
        print(f"{'vm.export (gateway)':<22}{gw_t:>10.2f}{nbytes / MIB / gw_t:>10.1f}"
              f"   {direct / gw_t:.2f}x the direct export ({direct:.2f} s, "
              f"{nbytes / MIB / direct:.1f} MiB/s; xo-lib start-up included)")
    for who in ("client", "gateway"):
        t = med[f"vm.copy ({who})"]
        r1, r2 = pipe / t, eti / t
        print(f"vm.copy ({who}): {r1:.2f}x the raw pipe (target >= 0.9: "
              f"{'met' if r1 >= 0.9 else 'not met'}), {r2:.2f}x export-then-import "
              f"(target >= 1.8: {'met' if r2 >= 1.8 else 'not met'})")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=256, help="data on the VM's disk (MiB)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each way (the median is kept)")
    ap.add_argument("--rate-mib", type=float, default=0,
                    help="also a host-bound run: every /export and /import at this many MiB/s")
    ap.add_argument("--link-zstd", action="store_true",
                    help="zstd on the agents' link (transfer.link_zstd on the source agent)")
    ap.add_argument("--full", action="store_true",
                    help="the issue's run: 4 GiB, 3 runs, then a host-bound run at 100 MiB/s")
    args = ap.parse_args()
    if args.full:
        args.size_mib, args.runs = 4096, max(args.runs, 3)
        args.rate_mib = args.rate_mib or 100
    if args.size_mib < 1 or args.runs < 1 or args.rate_mib < 0:
        raise BenchError("--size-mib and --runs must be positive, --rate-mib not negative")
    require("xo-gateway", "xo-agent")
    with harness.Stack() as st, tempfile.TemporaryDirectory(prefix="xo-bench-") as tmp:
        sims, agents, gw, _ = start_stack(st, link_zstd=(args.link_zstd, False))
        vm = big_vm(sims[0], args.size_mib)
        sr = shared_sr(sims[1])
        procs = (*agents, gw.proc)
        base = {p.name: vm_hwm_mib(p.p.pid) for p in procs}
        print(f"VM with {args.size_mib} MiB of data; link zstd "
              f"{'on' if args.link_zstd else 'off'}; load average at start "
              f"{os.getloadavg()[0]:.2f}")
        label = "unthrottled (CPU-bound: simulators, agents and client share the cores)"
        times, nbytes = measure("unthrottled", sims, gw, vm, sr, tmp, args.runs)
        report(label, times, nbytes, args.runs)
        if args.rate_mib:
            set_rate(sims, int(args.rate_mib * MIB))
            label = (f"host-bound (every /export and /import at {args.rate_mib:g} MiB/s, "
                     "the same for every way)")
            times, nbytes = measure("host-bound", sims, gw, vm, sr, tmp, 1)
            set_rate(sims, 0)
            report(label, times, nbytes, 1)
        peak = {p.name: vm_hwm_mib(p.p.pid) for p in procs}
        print()
        for name in peak:
            print(f"peak RSS {name:<14} {peak[name]:7.1f} MiB (+{peak[name] - base[name]:.1f} "
                  "during the copies; target <= +16 for an agent)")
        print("(client: the xo-lib call, node start-up and sign-in included; gateway: "
              "vm.importPrepare sent -> vm.exportTo outcome)")


if __name__ == "__main__":
    run_main(main)
