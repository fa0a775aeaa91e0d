"""Issue 6, gateway side, end to end: npm xo-lib 0.9.0 -> xo-gateway -> xo.commands (signed)
-> xo-agent -> XAPI simulator -> xo.results -> xo-gateway -> xo-lib, and the REST actions.

1. Every vm.* method changes the simulated VM as XAPI would, answers with the result, and
   the change reaches an xo-lib follower as an `all` notification; the XAPI tasks of the
   running operations appear in the view while they run.
2. Errors as xo-server gives them: vm.start on a running VM -> code 13 vmBadPowerState
   {objectId, expected, actual}; a viewer -> 2; an unknown VM -> 1; a bad param -> 10.
3. REST: POST /rest/v0/vms/<id>/actions/<name> -> 202 + Location, GET the task until
   success; ?sync=true answers the outcome; a viewer gets 403.
4. An agent killed with SIGKILL right after `accepted` and restarted does not execute the
   command (the client gets the timeout error, accepted: true).
5. A command issued while the pool's agent is down times out at the client and is not
   executed when the agent comes back after its expiry (rejected EXPIRED on xo.results).
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import gw_harness as g
import harness
from test_agent_commands import POWER_OPS, power, regular_vms, vm_by_state, wait_consuming

VIEWER = ("view@x.org", "viewer pw")
# The command lifetime is also the deadline of every successful call: stretched under
# sanitizers (harness.SCALE), where a round trip through five processes can take seconds.
TIMEOUT_MS = int(3000 * harness.SCALE)
SKEW_MS = 500
# How long XAPI answers take while the agent is killed after `accepted`: the window in
# which the test must see `accepted` and kill it (stretched likewise).
SLOW_MS = int(3000 * harness.SCALE)


def call(gw, method, params, creds=g.ADMIN):
    return g.node("call", gw.url, *creds, method, json.dumps(params))


def ok(gw, method, params, creds=g.ADMIN):
    r = call(gw, method, params, creds)
    assert "result" in r, (method, params, r)
    return r["result"]


def http(method, url, creds=g.ADMIN, body=None):
    req = urllib.request.Request(url, method=method, data=body,
                                 headers=dict(g.basic(*creds), **{"Content-Type": "application/json"}))
    try:
        with urllib.request.urlopen(req, timeout=30 * harness.SCALE) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def async_calls(sim):
    """Calls only a command execution makes (as in test_agent_commands)."""
    return {m: n for m, n in sim.stats()["calls_by_method"].items()
            if m.startswith("Async.") or m == "VM.get_by_uuid"}


def results(k):
    out = {}
    for key, value, _ in harness.kcat_read(k.bootstrap, "xo.results"):
        if value is not None:
            out.setdefault(key, []).append(json.loads(value))
    return out


def follower_sees(f, pred, what, timeout=20):
    last = {}

    def check():
        nonlocal last
        last = f.dump()
        return pred(last)
    try:
        harness.wait_until(check, timeout, interval=0.2, what=what)
    except TimeoutError:
        sys.stderr.write(json.dumps(last)[:3000] + "\n")
        raise
    return last


def vm_in(d, uuid):
    return d["objects"].get(uuid) or {}


def start_stack(st):
    k = st.start_kafka()
    sim = st.start_sim(vms=24, hosts=2, seed=31, extra=("--task-ms", "400"))
    keys = st.path("keys")
    subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                   capture_output=True)
    users = st.path("users")
    for email, perm, pw in (("admin@admin.net", "admin", "admin"), (VIEWER[0], "viewer", VIEWER[1])):
        subprocess.run([harness.binary("xo-gateway"), "useradd", "--users", users, "--email",
                        email, "--permission", perm], input=pw.encode(), check=True,
                       capture_output=True)
    agent_extra = {"commands": {"public_keys": os.path.join(keys, "gateway.pub"),
                                "clock_skew_ms": str(SKEW_MS), "max_expiry_ms": "60000"}}
    ag = st.start_agent(sim, k, extra=agent_extra)
    gw = st.start_gateway(k, extra={
        "users": {"file": users},
        "commands": {"private_key": os.path.join(keys, "gateway.key"),
                     "timeout_ms": str(TIMEOUT_MS), "clock_skew_ms": str(SKEW_MS)}})
    wait_consuming(ag)
    g.wait_synced(gw, [sim.pool_uuid])
    return k, sim, ag, gw, agent_extra


def check_methods(gw, sim, f):
    running = vm_by_state(sim, "Running", n=4)
    halted = vm_by_state(sim, "Halted", n=4)
    vm = running[0]
    for method, params, want, xapi in POWER_OPS:
        n = async_calls(sim).get(xapi, 0)
        assert ok(gw, method, dict(params, id=vm)) is True, method
        assert power(sim, vm) == want, (method, power(sim, vm))
        assert async_calls(sim).get(xapi, 0) == n + 1, (method, xapi)
        follower_sees(f, lambda d: vm_in(d, vm).get("power_state") == want,
                      f"`all` shows {method} -> {want}")
    print("vm.pause/unpause/suspend/resume/restart(+force)/stop(+force)/start: simulator "
          "and `all` agree")

    # tasks of the running operations were in the view (xo-lib saw them enter, pending)
    d = f.dump()
    names = {t["name_label"] for t in d["tasks"] if t["status"] == "pending"}
    for name in ("Async.VM.start", "Async.VM.clean_reboot", "Async.VM.clean_shutdown"):
        assert name in names, (name, names)
    print(f"XAPI tasks seen pending through `all`: {sorted(names)}")

    snap = ok(gw, "vm.snapshot", {"id": running[1], "name": "snap-xolib"})
    truth = {r["uuid"]: r for r in sim.truth()["vm"].values()}
    assert truth[snap]["is_a_snapshot"] and truth[snap]["name_label"] == "snap-xolib"
    follower_sees(f, lambda d: vm_in(d, snap).get("type") == "VM-snapshot"
                  and vm_in(d, snap).get("name_label") == "snap-xolib", "`all` shows the snapshot")

    assert ok(gw, "vm.set", {"id": halted[0], "name_label": "renamed-xolib",
                             "name_description": "via xo-lib"}) is True
    rec = regular_vms(sim)[halted[0]][1]
    assert (rec["name_label"], rec["name_description"]) == ("renamed-xolib", "via xo-lib")
    follower_sees(f, lambda d: vm_in(d, halted[0]).get("name_label") == "renamed-xolib",
                  "`all` shows vm.set")

    ref, rec = regular_vms(sim)[halted[1]]
    t = sim.truth()
    disks = [t["vbd"][b]["VDI"] for b in rec["VBDs"] if t["vbd"][b]["type"] == "Disk"]
    assert ok(gw, "vm.delete", {"id": halted[1], "delete_disks": True}) is True
    t = sim.truth()
    assert ref not in t["vm"] and disks and not any(v in t["vdi"] for v in disks)
    follower_sees(f, lambda d: halted[1] not in d["objects"], "`all` exit for vm.delete")
    print("vm.snapshot (returns the snapshot id), vm.set, vm.delete(delete_disks): simulator "
          "and `all` agree")
    return running, halted


def check_errors(gw, sim, running, halted):
    r = call(gw, "vm.start", {"id": running[2]})
    want = {"code": 13, "message": "VM state is running but should be halted",
            "data": {"objectId": running[2], "expected": "halted", "actual": "running"}}
    assert r.get("error") == want, r
    print(f"vm.start on a running VM -> {json.dumps(r['error'])}")
    n = async_calls(sim)
    r = call(gw, "vm.start", {"id": halted[2]}, creds=VIEWER)
    assert r["error"]["code"] == 2, r
    assert power(sim, halted[2]) == "Halted" and async_calls(sim) == n
    r = call(gw, "vm.start", {"id": "00000000-0000-4000-8000-000000000000"})
    assert r["error"]["code"] == 1, r
    r = call(gw, "vm.stop", {"id": running[2], "forced": True})
    assert r["error"]["code"] == 10, r
    r = call(gw, "vm.start", {})
    assert r["error"]["code"] == 10, r
    print("viewer -> 2, unknown VM -> 1, bad params -> 10; nothing reached XAPI")


def check_rest(gw, sim, running, halted):
    base = f"{gw.url}/rest/v0/vms"
    vm = running[3]
    status, hdrs, body = http("POST", f"{base}/{vm}/actions/clean_shutdown")
    assert status == 202, (status, body)
    loc = hdrs.get("Location") or hdrs.get("location")
    assert loc == f"/rest/v0/tasks/{body['taskId']}", (loc, body)

    def done():
        s, _, task = http("GET", gw.url + loc)
        return task if s == 200 and task["status"] != "pending" else None
    task = harness.wait_until(done, 20, interval=0.1, what="REST task done")
    # XO's task shape: a void action has no result
    assert task["status"] == "success" and "result" not in task, task
    assert task["properties"]["method"] == "vm.stop" and task["properties"]["objectId"] == vm
    assert power(sim, vm) == "Halted"
    status, _, body = http("POST", f"{base}/{vm}/actions/start?sync=true")
    assert (status, body) == (204, None), (status, body)
    assert power(sim, vm) == "Running"
    status, hdrs, body = http("POST", f"{base}/{vm}/actions/snapshot?sync=true",
                              body=json.dumps({"name_label": "rest-snap"}).encode())
    assert status == 201 and set(body) == {"id"}, (status, body)
    assert (hdrs.get("Location") or hdrs.get("location")) == f"/rest/v0/vm-snapshots/{body['id']}"
    snap = body["id"]
    assert {r["uuid"]: r for r in sim.truth()["vm"].values()}[snap]["name_label"] == "rest-snap"
    status, _, body = http("POST", f"{base}/{vm}/actions/start?sync=true")
    assert status == 500 and body == {
        "error": "VM state is running but should be halted",
        "data": {"objectId": vm, "expected": "halted", "actual": "running"}}, (status, body)
    status, _, body = http("POST", f"{base}/{vm}/actions/hard_shutdown", creds=VIEWER)
    assert status == 403, (status, body)
    status, _, _ = http("GET", f"{base}/{vm}/actions/start")
    assert status == 405
    assert power(sim, vm) == "Running"
    print("REST: 202 + Location -> task success; ?sync=true -> 204, 201 {id} for a snapshot "
          "(500 {error, data} on a bad power state); viewer 403")


def check_sigkill(k, sim, ag, gw, st, agent_extra, halted):
    # A fresh agent: its worker logs in to XAPI on its first command, and the slowed
    # simulator holds that login: the window between `accepted` and the first call in which
    # the agent is killed. (A worker already logged in calls Async.VM.start a few ms after
    # `accepted`, on the VM's ref from its event stream: XAPI would have the call, and the
    # contract then says the command may have run.)
    assert ag.stop() == 0, ag.log_text()[-2000:]
    ag = st.start_agent(sim, k, name="agent1b", extra=agent_extra)
    wait_consuming(ag)
    vm = halted[3]
    before = async_calls(sim).get("Async.VM.start", 0)
    seen = set(results(k))
    sim.post(f"/sim/fault?kind=slow&ms={SLOW_MS}")
    p = subprocess.Popen(["node", g.CLIENT, "call", gw.url, *g.ADMIN, "vm.start",
                          json.dumps({"id": vm})], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def accepted():
        return [cid for cid, rs in results(k).items()
                if cid not in seen and rs[0]["state"] == "accepted"]
    cid = harness.wait_until(accepted, 20, interval=0.05, what="accepted")[0]
    ag.kill()
    sim.post("/sim/fault?kind=slow&ms=0")
    out, err = p.communicate(timeout=60 * harness.SCALE)
    r = json.loads(out.decode().strip().splitlines()[-1])
    e = r.get("error", {})
    assert e.get("code") == 21 and e["data"]["code"] == "COMMAND_TIMEOUT" \
        and e["data"]["accepted"] is True and e["data"]["commandId"] == cid, r
    ag2 = st.start_agent(sim, k, name="agent2", extra=agent_extra)
    wait_consuming(ag2)
    time.sleep(1.0)
    states = [x["state"] for x in results(k)[cid]]
    assert states[0] == "accepted" and "success" not in states and "failure" not in states, states
    assert power(sim, vm) == "Halted"
    assert async_calls(sim).get("Async.VM.start", 0) == before
    print(f"SIGKILL after accepted: client got {e['data']['code']} after {r['ms']} ms "
          f"(accepted: true); restarted agent did not run it (states {states})")
    return ag2


def check_agent_down(k, sim, ag2, gw, st, agent_extra, running):
    vm = running[2]
    ag2.kill()
    before = async_calls(sim).get("Async.VM.pause", 0)
    seen = set(results(k))
    t0 = time.monotonic()
    r = call(gw, "vm.pause", {"id": vm})
    took = time.monotonic() - t0
    e = r.get("error", {})
    assert e.get("code") == 21 and e["data"]["code"] == "COMMAND_TIMEOUT" \
        and e["data"]["accepted"] is False, r
    cid = e["data"]["commandId"]
    ag3 = st.start_agent(sim, k, name="agent3", extra=agent_extra)
    wait_consuming(ag3)
    rs = harness.wait_until(lambda: results(k).get(cid), 20, interval=0.2,
                            what="the expired command's rejection")
    assert [x["state"] for x in rs] == ["rejected"] and rs[0]["error"]["code"] == "EXPIRED", rs
    assert cid not in seen
    assert power(sim, vm) == "Running"
    assert async_calls(sim).get("Async.VM.pause", 0) == before
    # the restarted agent serves new commands
    assert ok(gw, "vm.pause", {"id": vm}) is True and power(sim, vm) == "Paused"
    print(f"agent down: client got COMMAND_TIMEOUT after {took:.1f} s (timeout_ms {TIMEOUT_MS} "
          f"+ skew {SKEW_MS}); the agent back later rejected it EXPIRED; not executed")
    return ag3


def check_metrics(gw):
    status, body, _ = g.http_get(gw.url + "/metrics")
    assert status == 200, status
    counts = {}
    for line in body.decode().splitlines():
        if line.startswith("xo_gateway_commands_total{"):
            counts[line.split('"')[1]] = int(line.split()[-1])
    assert counts.get("submitted", 0) >= 10 and counts.get("succeeded", 0) >= 8, counts
    assert counts.get("failed", 0) >= 1 and counts.get("timed_out", 0) >= 2, counts
    print(f"metrics: commands {counts}")


def results_fetching(gw):
    status, body, _ = g.http_get(gw.url + "/metrics")
    assert status == 200, status
    for line in body.decode().splitlines():
        if line.startswith("xo_gateway_command_results_fetching "):
            return int(line.split()[-1])
    raise AssertionError("no xo_gateway_command_results_fetching in /metrics")


def check_results_idle(gw, sim):
    """With no command pending the results consumer stops fetching (no empty fetches while
    idle); the next command turns it on again and its outcome is not missed."""
    harness.wait_until(lambda: results_fetching(gw) == 0, 10, what="results consumer idle")
    vm = vm_by_state(sim, "Halted")
    assert ok(gw, "vm.start", {"id": vm}) is True
    assert power(sim, vm) == "Running", power(sim, vm)
    assert ok(gw, "vm.stop", {"id": vm, "force": True}) is True
    print("results consumer: idle without pending commands, answers the next one")


def main():
    t0 = time.monotonic()
    with harness.Stack() as st:
        k, sim, ag, gw, agent_extra = start_stack(st)
        f = g.Follower(gw.url)
        try:
            running, halted = check_methods(gw, sim, f)
        finally:
            f.close()
        check_errors(gw, sim, running, halted)
        check_rest(gw, sim, running, halted)
        ag2 = check_sigkill(k, sim, ag, gw, st, agent_extra, halted)
        ag3 = check_agent_down(k, sim, ag2, gw, st, agent_extra, running)
        check_metrics(gw)
        check_results_idle(gw, sim)
        assert ag3.stop() == 0, ag3.log_text()[-2000:]
        assert gw.proc.stop() == 0, gw.proc.log_text()[-3000:]
    print(f"PASS ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
