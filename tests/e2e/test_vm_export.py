"""Issue 12, vm.export through the gateway, end to end: npm xo-lib 0.9.0 -> xo-gateway
(vm.export answers {$getFrom: url}, as xo-server) -> the client GETs the URL -> the gateway
issues vm.exportRelay (signed) -> the VM's pool agent streams GET /export from its host into
the gateway's relay endpoint (the consoles' one, with a single-use ticket) -> the gateway
writes it as the response's body. Two pools (pool B over HTTPS), one agent each.

1. A halted VM: the downloaded file is byte for byte the simulator's own export (same
   SHA-256); the URL works once (then 404), an unknown one is 404; the gateway's log has
   the download's audit lines.
2. With compress "zstd": the file is zstd (its magic) and equals the simulator's zstd
   export.
3. A running VM of pool B: exported through a temporary snapshot, destroyed afterwards.
4. REST GET /rest/v0/vms/<id>.xva: redirected (302) to a download URL, the same file; a
   viewer gets 403.
5. Errors as xo-server gives them: a viewer -> 2 (unauthorized); an unknown VM -> 1; a
   missing vm, an unknown parameter -> 10; format "ova" -> 0 (not implemented).
6. A big VM (512 MiB of data): a client that stops reading holds the export back (the
   simulator's bytes_exported stays far below the VM's size: back-pressure from the client
   through the gateway and the agent to the host), then the download completes with the
   right checksum, and the gateway's and the agent's peak RSS grew by less than 16 MiB.
"""
import base64
import hashlib
import json
import ssl
import time
import urllib.error
import urllib.request
import xmlrpc.client

import gw_harness as g
import harness
from test_agent_commands import regular_vms, vm_by_state
from test_gateway_commands import VIEWER, call
from test_vm_copy import MIB, big_vm, start_stack, stop_cleanly, vm_hwm_kib

PIECE = 1 << 20


def sim_export(sim, vm, compression="false"):
    """SHA-256 and length of the simulator's own export of @p vm (by uuid)."""
    ctx = ssl._create_unverified_context() if sim.url.startswith("https") else None
    session = xmlrpc.client.ServerProxy(sim.url, context=ctx).session.login_with_password(
        "root", "password")["Value"]
    url = (f"{sim.url.rstrip('/')}/export?session_id={session}&uuid={vm}"
           f"&use_compression={compression}")
    with urllib.request.urlopen(url, timeout=300, context=ctx) as r:
        return digest(r)


def digest(r, stall_after=None, stall=None):
    h, n, first = hashlib.sha256(), 0, b""
    while True:
        piece = r.read(PIECE)
        if not piece:
            return h.hexdigest(), n, first
        if not first:
            first = piece[:8]
        h.update(piece)
        n += len(piece)
        if stall_after is not None and n >= stall_after and stall:
            stall()
            stall = None


def export_url(gw, params, creds=g.ADMIN):
    r = call(gw, "vm.export", params, creds)
    assert "result" in r and set(r["result"]) == {"$getFrom"}, r
    url = r["result"]["$getFrom"]
    assert url.startswith("/downloads/") and url.endswith(".xva"), url
    return gw.url.rstrip("/") + url


def download(url, **kw):
    with urllib.request.urlopen(url, timeout=300) as r:
        assert r.status == 200, r.status
        assert "attachment" in r.headers.get("content-disposition", ""), dict(r.headers)
        return digest(r, **kw)


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def check_halted(sims, gw):
    a, _ = sims
    vm = vm_by_state(a, "Halted")
    url = export_url(gw, {"vm": vm})
    got = download(url)
    want = sim_export(a, vm)
    assert got[:2] == want[:2], (got, want)
    assert http_status(url) == 404, "a download URL serves once"
    assert http_status(gw.url.rstrip("/") + "/downloads/" + "x" * 43 + "/f.xva") == 404
    log = gw.proc.log_text()
    assert "event=download_opened" in log and "event=download_closed" in log, log[-2000:]
    print(f"vm.export of a halted VM: {got[1]} bytes, SHA-256 equal to the simulator's export; "
          "the URL serves once")


def rest_get(gw, path, creds):
    """GET a REST path with HTTP Basic credentials (redirects followed): (status, response)."""
    auth = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
    req = urllib.request.Request(gw.url.rstrip("/") + path, headers={"Authorization": f"Basic {auth}"})
    try:
        return 200, urllib.request.urlopen(req, timeout=300)
    except urllib.error.HTTPError as e:
        return e.code, None


def check_rest(sims, gw):
    """REST GET /rest/v0/vms/<id>.xva (Xen Orchestra's spec has it): a redirect to a download
    URL, the same file; a viewer gets 403."""
    a, _ = sims
    vm = vm_by_state(a, "Halted")
    st, r = rest_get(gw, f"/rest/v0/vms/{vm}.xva", g.ADMIN)
    assert st == 200 and r.url.split("?")[0].rsplit("/", 2)[0].endswith("/downloads"), (st, r)
    with r:
        got = digest(r)
    assert got[:2] == sim_export(a, vm)[:2]
    st, _ = rest_get(gw, f"/rest/v0/vms/{vm}.xva", VIEWER)
    assert st == 403, st
    print(f"REST GET /rest/v0/vms/<id>.xva: redirected to a download, {got[1]} bytes equal to "
          "the simulator's export; a viewer gets 403")


def check_zstd(sims, gw):
    a, _ = sims
    vm = vm_by_state(a, "Halted")
    got = download(export_url(gw, {"vm": vm, "compress": "zstd"}))
    want = sim_export(a, vm, "zstd")
    assert got[2][:4] == b"\x28\xb5\x2f\xfd", got[2]
    assert got[:2] == want[:2], (got, want)
    print(f"vm.export with compress zstd: {got[1]} bytes of zstd, equal to the simulator's")


def check_running(sims, gw):
    _, b = sims
    vm = vm_by_state(b, "Running")
    before = len(regular_vms(b))
    got = download(export_url(gw, {"vm": vm}))
    assert got[1] > 0
    calls = b.get("/sim/stats")["calls_by_method"]
    assert calls.get("VM.snapshot", 0) + calls.get("Async.VM.snapshot", 0) >= 1, calls
    harness.wait_until(lambda: not [v for v in b.truth()["vm"].values()
                                    if v["name_label"] == "xo-agent transfer snapshot"],
                       30, what="the temporary snapshot destroyed")
    assert len(regular_vms(b)) == before
    print(f"vm.export of a running VM (pool B, HTTPS): {got[1]} bytes through a temporary "
          "snapshot, destroyed afterwards")


def check_errors(sims, gw):
    a, _ = sims
    vm = vm_by_state(a, "Halted")
    r = call(gw, "vm.export", {"vm": vm}, VIEWER)
    assert r.get("error", {}).get("code") == 2, r
    r = call(gw, "vm.export", {"vm": "no-such-vm"})
    assert r.get("error", {}).get("code") == 1, r
    for params in ({}, {"vm": vm, "bogus": 1}, {"vm": vm, "compress": 3}):
        r = call(gw, "vm.export", params)
        assert r.get("error", {}).get("code") == 10, (params, r)
    r = call(gw, "vm.export", {"vm": vm, "format": "ova"})
    assert r.get("error", {}).get("code") == 0, r
    print("vm.export errors: viewer 2, unknown VM 1, bad params 10, ova 0 (not implemented)")


def check_big(sims, agents, gw):
    a, _ = sims
    vm = big_vm(a, 512)
    want = sim_export(a, vm)
    hwm0 = (vm_hwm_kib(gw.proc), vm_hwm_kib(agents[0]))
    seen = {}

    def progress():
        """The export task's progress on the host (the share of the disk it has read)."""
        return [t["progress"] for t in a.truth()["task"].values()
                if t["name_label"] == "xo-agent export" and t["status"] == "pending"]

    def stall():
        time.sleep(3 * harness.SCALE)  # the client stops reading: everything upstream stops
        seen["exported"] = progress()
        time.sleep(1.5)
        seen["later"] = progress()

    got = download(export_url(gw, {"vm": vm}), stall_after=8 * MIB, stall=stall)
    assert got[:2] == want[:2], (got, want)
    hwm = (vm_hwm_kib(gw.proc), vm_hwm_kib(agents[0]))
    # held back: while the client read nothing the host's export stood still, at what the
    # buffers on the way (sockets, the gateway's queue) hold, far from the 512 MiB
    assert len(seen["exported"]) == 1 and seen["later"] == seen["exported"], seen
    assert seen["later"][0] < 0.25, seen
    assert harness.SANITIZED or all(h - h0 < 16 * 1024 for h, h0 in zip(hwm, hwm0)), (hwm0, hwm)
    print(f"a 512 MiB VM: {got[1]} bytes, SHA-256 equal; while the client stalled the host had "
          f"read {seen['later'][0]:.0%} of the disk and no more; peak RSS gateway/agent "
          f"{hwm0} -> {hwm} KiB")


def main():
    t0 = time.monotonic()
    with harness.Stack() as st:
        sims, agents, gw, _ = start_stack(st)
        check_errors(sims, gw)
        check_halted(sims, gw)
        check_zstd(sims, gw)
        check_rest(sims, gw)
        check_running(sims, gw)
        check_big(sims, agents, gw)
        stop_cleanly(agents, gw)
    print(f"PASS ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
