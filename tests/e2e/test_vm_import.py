"""Issue 12, vm.import through the gateway, end to end: vm.import({sr}) answers {$sendTo: url}
(as xo-server); the client POSTs an XVA to it -> the gateway issues vm.importRelay (signed)
to the SR's pool agent -> the agent dials the gateway's relay endpoint with the single-use
ticket and reads the body, as fast as its host takes it, into PUT /import -> the POST's
answer is the new VM's id, as xo-server's handler writes it ({"jsonrpc":"2.0","id":0,
"result":id}). Two pools (pool B over HTTPS), one agent each.

1. xo-lib: a halted VM of pool A exported with vm.export, its file imported into pool B's
   SR (vm.import, then a POST with Content-Length): the new VM is in B's simulator with
   the source's disk checksums, and in the gateway's view; the URL works once (then 404).
2. A plain HTTP POST with a chunked body: pool B's VM into pool A's SR, the same checks.
3. A corrupted XVA: the POST answers 500 with XAPI's error; no VM, no VDI is left.
4. The upload cut after its whole XVA (a POST that promised more bytes, closed once pool B's
   host had finished the import task): the agent reports the import a success with the new
   VM, which is in pool B with the source's checksums (not a failure for a VM that exists).
5. A viewer's vm.import -> 2 (unauthorized); an unknown SR -> 1; unknown params -> 10.
6. A big VM (256 MiB of data), exported to a file, POSTed with Content-Length while pool
   B's host takes 64 MiB/s (import_rate): the import completes with the source's checksums,
   and the gateway's and the agent's peak RSS grew by less than 16 MiB (the body waits in
   the client, not in the gateway). The same file chunked is over the gateway's chunked cap
   (libwebsockets reads a chunked body as 100 MiB at most): 413, and nothing is left.
"""
import http.client
import json
import os
import socket
import time
import urllib.parse

import gw_harness as g
import harness
from test_agent_commands import regular_vms, vm_by_state
from test_gateway_commands import VIEWER, call
from test_vm_copy import (MIB, big_vm, digests, disks, shared_sr, start_stack, stop_cleanly,
                          vm_count, vm_hwm_kib)
from test_vm_export import export_url

PIECE = 1 << 20


def import_url(gw, sr, creds=g.ADMIN):
    r = call(gw, "vm.import", {"sr": sr}, creds)
    assert "result" in r and set(r["result"]) == {"$sendTo"}, r
    url = r["result"]["$sendTo"]
    assert url.startswith("/uploads/"), url
    return gw.url.rstrip("/") + url


def read_answer(c):
    """The POST's answer on connection @p c, which it closes: (status, its JSON or None)."""
    r = c.getresponse()
    status, body = r.status, r.read()
    c.close()
    return status, json.loads(body) if body else None


def post_chunked(url, pieces):
    """POST @p pieces (an iterable of bytes) with Transfer-Encoding: chunked:
    (status, the answer's JSON)."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300 * harness.SCALE)
    try:
        c.request("POST", u.path, body=pieces, encode_chunked=True,
                  headers={"Content-Type": "application/octet-stream"})
    except (BrokenPipeError, ConnectionResetError):
        pass  # answered before the body's end (a failure): the answer is still there to read
    return read_answer(c)


def post_file(url, path):
    """POST the file @p path with Content-Length, streamed: (status, the answer's JSON)."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300 * harness.SCALE)
    with open(path, "rb") as f:
        c.request("POST", u.path, body=f,
                  headers={"Content-Type": "application/octet-stream",
                           "Content-Length": str(os.path.getsize(path))})
    return read_answer(c)


def post_status(url, body):
    """POST @p body with Content-Length: the status only."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60 * harness.SCALE)
    try:
        c.request("POST", u.path, body=body)
        return c.getresponse().status
    finally:
        c.close()


def fetch(url, path):
    """A vm.export download into @p path."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300 * harness.SCALE)
    c.request("GET", u.path)
    r = c.getresponse()
    assert r.status == 200, r.status
    with open(path, "wb") as f:
        while True:
            piece = r.read(PIECE)
            if not piece:
                break
            f.write(piece)
    c.close()


def file_pieces(path):
    with open(path, "rb") as f:
        while True:
            piece = f.read(PIECE)
            if not piece:
                return
            yield piece


def check_imported(src_sim, src, dst_sim, new, gw):
    """The new VM is in the destination's truth, on its SR, with the source's disks, and in
    the gateway's view."""
    ts, td = src_sim.truth(), dst_sim.truth()
    orig = {r["uuid"]: r for r in ts["vm"].values()}[src]
    copy = {r["uuid"]: r for r in td["vm"].values()}.get(new)
    assert copy, (new, "not in the destination simulator")
    want, got = digests(src_sim, ts, orig), digests(dst_sim, td, copy)
    assert want and got == want, (want, got)
    assert all(td["sr"][td["vdi"][v]["SR"]]["uuid"] == shared_sr(dst_sim) for v in disks(td, copy))
    harness.wait_until(lambda: (g.get_all(gw.url).get(new) or {}).get("$pool") == dst_sim.pool_uuid,
                       30, what="the imported VM in the gateway's view")
    return copy


def check_xolib(st, sims, gw):
    a, b = sims
    src = vm_by_state(a, "Halted")
    path = st.path("a.xva")
    fetch(export_url(gw, {"vm": src}), path)
    t0 = time.monotonic()
    r = g.node("import", gw.url, *g.ADMIN, shared_sr(b), path)
    assert r["status"] == 200, r
    answer = r["answer"]
    assert answer.get("jsonrpc") == "2.0" and answer.get("id") == 0, answer
    new = answer["result"]
    check_imported(a, src, b, new, gw)
    log = gw.proc.log_text()
    assert "event=upload_opened" in log and "event=upload_done" in log, log[-2000:]
    print(f"xo-lib vm.import + POST: {src} of pool A -> {new} in pool B in "
          f"{time.monotonic() - t0:.1f} s, disk checksums equal, in the view")
    return path, src


def check_chunked(st, sims, gw):
    a, b = sims
    src = vm_by_state(b, "Halted")
    path = st.path("b.xva")
    fetch(export_url(gw, {"vm": src}), path)
    url = import_url(gw, shared_sr(a))
    status, answer = post_chunked(url, file_pieces(path))
    assert status == 200 and answer["id"] == 0, (status, answer)
    check_imported(b, src, a, answer["result"], gw)
    assert post_status(url, b"x" * 1000) == 404, "an upload URL serves once"
    print(f"chunked POST: {src} of pool B -> {answer['result']} in pool A, checksums equal; "
          "the URL serves once")


def check_corrupt(sims, gw, path):
    _, b = sims
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2] ^= 0xFF  # inside a disk's chunk: its checksum no longer matches
    before = vm_count(b)
    status, answer = post_chunked(import_url(gw, shared_sr(b)), [bytes(data)])
    assert status == 500 and "error" in answer, (status, answer)
    assert "IMPORT_ERROR" in json.dumps(answer), answer
    harness.wait_until(lambda: vm_count(b) == before, 30, what="nothing left of the import")
    print(f"a corrupted XVA: 500 {answer['error'].get('message')!r}; no VM, no VDI left")


def check_cut_after_end(sims, agents, gw, path, src):
    """@p path: check_xolib's export of pool A's VM @p src."""
    a, b = sims
    before, done0 = vm_count(b), agents[1].log_text().count("event=upload_done")
    u = urllib.parse.urlsplit(import_url(gw, shared_sr(b)))
    size = os.path.getsize(path)
    s = socket.create_connection((u.hostname, u.port), timeout=60 * harness.SCALE)
    try:
        s.sendall(f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: {size + 65536}"
                  "\r\nContent-Type: application/octet-stream\r\n\r\n".encode())
        with open(path, "rb") as f:
            while piece := f.read(PIECE):
                s.sendall(piece)
        harness.wait_until(
            lambda: any(t["name_label"] == "xo-agent import" and t["status"] == "success"
                        for t in b.truth().get("task", {}).values()),
            60 * harness.SCALE, what="pool B's import task ended in success")
    finally:
        s.close()  # 64 KiB short of what was promised: the relay ends in a break
    harness.wait_until(lambda: agents[1].log_text().count("event=upload_done") > done0,
                       60 * harness.SCALE, what="the agent's end of the import")
    line = [l for l in agents[1].log_text().splitlines() if "event=upload_done" in l][-1]
    assert "state=success" in line, line
    new = line.split(" vm=", 1)[1].split()[0]
    assert vm_count(b)[0] == before[0] + 1, (before, vm_count(b))
    check_imported(a, src, b, new, gw)
    print(f"the upload cut after the whole XVA, once XAPI's task had succeeded: the agent "
          f"reports success with VM {new}, in pool B with the source's checksums")


def check_errors(sims, gw):
    _, b = sims
    sr = shared_sr(b)
    r = call(gw, "vm.import", {"sr": sr}, VIEWER)
    assert r.get("error", {}).get("code") == 2, r
    r = call(gw, "vm.import", {"sr": "no-such-sr"})
    assert r.get("error", {}).get("code") == 1, r
    for params in ({}, {"sr": sr, "bogus": 1}, {"sr": 3}):
        r = call(gw, "vm.import", params)
        assert r.get("error", {}).get("code") == 10, (params, r)
    assert post_status(gw.url.rstrip("/") + "/uploads/" + "x" * 43, b"x") == 404
    print("vm.import errors: viewer 2, unknown SR 1, bad params 10; an unknown URL 404")


def check_big(st, sims, agents, gw):
    a, b = sims
    src = big_vm(a, 256)
    path = st.path("big.xva")
    fetch(export_url(gw, {"vm": src}), path)
    b.post(f"/sim/config?import_rate={64 * MIB}")
    hwm0 = (vm_hwm_kib(gw.proc), vm_hwm_kib(agents[1]))
    t0 = time.monotonic()
    try:
        status, answer = post_file(import_url(gw, shared_sr(b)), path)
    finally:
        b.post("/sim/config?import_rate=0")
    took = time.monotonic() - t0
    assert status == 200, (status, answer)
    check_imported(a, src, b, answer["result"], gw)
    hwm = (vm_hwm_kib(gw.proc), vm_hwm_kib(agents[1]))
    assert harness.SANITIZED or all(h - h0 < 16 * 1024 for h, h0 in zip(hwm, hwm0)), (hwm0, hwm)
    print(f"a 256 MiB VM ({os.path.getsize(path) >> 20} MiB of XVA) POSTed at 64 MiB/s: "
          f"{took:.1f} s, checksums equal; peak RSS gateway/agent {hwm0} -> {hwm} KiB")
    before = vm_count(b)
    status, answer = post_chunked(import_url(gw, shared_sr(b)), file_pieces(path))
    assert status == 413 and "Content-Length" in answer["error"], (status, answer)
    harness.wait_until(lambda: vm_count(b) == before, 30, what="nothing left of the import")
    os.unlink(path)
    print("the same XVA chunked (over the 100 MiB chunked cap): 413, nothing left")


def main():
    t0 = time.monotonic()
    with harness.Stack() as st:
        sims, agents, gw, _ = start_stack(st)
        check_errors(sims, gw)
        path, src = check_xolib(st, sims, gw)
        check_chunked(st, sims, gw)
        check_corrupt(sims, gw, path)
        check_cut_after_end(sims, agents, gw, path, src)
        check_big(st, sims, agents, gw)
        stop_cleanly(agents, gw)
    print(f"PASS ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
