"""Issue 10, item 6, end to end: the gateway does not trust the topics blindly.

Two simulated pools (A and B) with their agents, and a gateway with commands; then a Kafka
writer that is none of them writes with kcat, as anyone with write access to the topics
could:
1. records keyed for pool A on pool B's partition (an object, a tombstone of a real VM, a
   heartbeat): refused and counted (wrong_partition), the view unchanged;
2. records of a pool no agent announced: /healthz says `degraded` (pool `no_agent`,
   `held`), their objects are not served, and the gateway is `ok` again once they are gone;
3. a VM with a 900 KB name_label: served with the name cut as the agents cut it, counted;
   a record over limits.max_record_bytes: refused, counted;
4. token records on xo.tokens for the admin (a token the writer knows): unsigned, signed by
   an unknown key or by an agent key, tampered, oversized, keyed by something else than a
   digest: each refused and counted by reason, the token refused; the same record signed
   by the gateway key (the control) makes its token work;
5. results for a pending command of pool A (its agent stopped, so no genuine result comes):
   unsigned, signed by an unknown key, by pool B's agent key (for pool A, and for pool B
   naming A's command), tampered, on the wrong partition: each refused and counted by
   reason; the command times out, nothing ran.
Every scenario ends with the gateway's view (xo-lib) equal to the simulators' truth.
Each check fails on a gateway that trusts the topics (it asserts what that gateway gets
wrong); every wait is bounded.
"""
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time

import gw_harness as g
import harness
from test_agent_commands import sign_command_bin, vm_by_state, wait_consuming

PARTS = 6
# The command's lifetime is part of the scenario: the forged results must all be read while
# it is pending (a result for a finished command is not looked at), so it is stretched under
# sanitizers (harness.SCALE) like every command lifetime of the e2e tests.
TIMEOUT_MS = int(4000 * harness.SCALE)
SKEW_MS = 500
PHANTOM = "00000000-0000-4000-8000-00000000feed"


# ---------------------------------------------------------------- writing as a Kafka writer
def produce(k, topic, partition, key, value, headers=None):
    """One record with kcat: value bytes/str, or None for a tombstone (kcat skips an empty
    line, so a tombstone is written as "key|" with -K and -Z)."""
    argv = ["kcat", "-P", "-b", k.bootstrap, "-t", topic, "-p", str(partition),
            "-X", "message.max.bytes=4000000"]
    if value is None:
        argv += ["-Z", "-K", "|"]
        data = key.encode() + b"|"
    else:
        argv += ["-k", key]
        data = value.encode() if isinstance(value, str) else value
    for name, v in (headers or {}).items():
        argv += ["-H", f"{name}={v}"]
    assert b"\n" not in data
    subprocess.run(argv, input=data + b"\n", check=True, timeout=60 * harness.SCALE)


def object_value(pool, cls, ref, snapshot):
    return json.dumps({"v": 1, "pool": pool, "class": cls, "ref": ref,
                       "uuid": snapshot.get("uuid"), "op": "add", "event_id": 1,
                       "ts": int(time.time() * 1000), "gen": 1, "snapshot": snapshot},
                      separators=(",", ":"))


def vm_snapshot(uuid, name, **extra):
    return dict({"uuid": uuid, "name_label": name, "name_description": "",
                 "power_state": "Halted", "is_a_template": False, "is_control_domain": False,
                 "is_a_snapshot": False, "other_config": {}, "tags": []}, **extra)


def sign(key, value):
    """xo-sig and xo-key headers of value signed with a private key file."""
    out = subprocess.run([sign_command_bin(), "--sign-stdin", key], input=value.encode(),
                         capture_output=True, check=True, timeout=30).stdout.decode()
    return dict(l.split("=", 1) for l in out.splitlines())


def result_value(cid, pool, state="success"):
    return json.dumps({"v": 1, "id": cid, "pool": pool, "agent": "forger", "state": state,
                       "progress": 1, "bytes": 0, "ts": int(time.time() * 1000),
                       "result": True}, separators=(",", ":"))


# ---------------------------------------------------------------- reading the gateway
def healthz(gw):
    return json.loads(g.http_get(gw.url + "/healthz")[1])


def metrics(gw):
    out = {}
    for line in g.http_get(gw.url + "/metrics")[1].decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def wait_metric(gw, name, at_least, what):
    """Wait until the gateway counts what it must; a gateway without the check never does."""
    last = {}

    def counted():
        nonlocal last
        last = metrics(gw)
        return last.get(name, 0) >= at_least
    try:
        harness.wait_until(counted, 20, interval=0.2, what=what)
    except TimeoutError:
        raise AssertionError(f"{what}: {name} = {last.get(name)} (want >= {at_least})")


def wait_either(fn, what, timeout=20):
    """Wait until fn() is truthy (what this gateway does, or what a trusting one does)."""
    return harness.wait_until(fn, timeout, interval=0.2, what=what)


def rest(gw, method, path, body=None):
    import urllib.error
    import urllib.request
    req = urllib.request.Request(gw.url + path, method=method, data=body,
                                 headers=dict(g.basic(*g.ADMIN)))
    try:
        with urllib.request.urlopen(req, timeout=30 * harness.SCALE) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def view_equals_truth(gw, sims, what):
    want = g.expected_all(sims)
    diffs = []

    def equal():
        nonlocal diffs
        diffs = g.compare(want, g.summarize(g.get_all(gw.url)))
        return not diffs
    try:
        harness.wait_until(equal, 30, interval=0.5, what=what)
    except TimeoutError:
        raise AssertionError(f"{what}: view != truth: {diffs[:8]}")
    print(f"view == truth after {what}")


# ---------------------------------------------------------------- the stack
def start_sims(st):
    """Two pools on different partitions (seeds tried in order, bounded)."""
    a = st.start_sim(vms=8, hosts=1, seed=41)
    for seed in range(42, 52):
        b = st.start_sim(vms=6, hosts=1, seed=seed)
        if harness.pool_partition(b.pool_uuid, PARTS) != harness.pool_partition(a.pool_uuid, PARTS):
            return a, b
        b.proc.kill()
    raise AssertionError("no second pool on another partition")


def start_stack(st):
    k = st.start_kafka(partitions=PARTS)
    sim_a, sim_b = start_sims(st)
    keys = st.path("keys")
    subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                   capture_output=True, timeout=30)
    agent_extra = {"commands": {"public_keys": os.path.join(keys, "gateway.pub"),
                                "clock_skew_ms": str(SKEW_MS), "max_expiry_ms": "60000"}}
    ag_a = st.start_agent(sim_a, k, name="agent-a", extra=agent_extra)
    ag_b = st.start_agent(sim_b, k, name="agent-b", extra=agent_extra)
    gw = st.start_gateway(k, extra={"commands": {"private_key": os.path.join(keys, "gateway.key"),
                                                 "timeout_ms": str(TIMEOUT_MS),
                                                 "clock_skew_ms": str(SKEW_MS)}})
    wait_consuming(ag_a)
    wait_consuming(ag_b)
    g.wait_synced(gw, [sim_a.pool_uuid, sim_b.pool_uuid])
    assert healthz(gw)["status"] == "ok", healthz(gw)
    return k, sim_a, sim_b, ag_a, gw


# ---------------------------------------------------------------- the scenarios
def check_wrong_partition(k, gw, sim_a, sim_b):
    a, b = sim_a.pool_uuid, sim_b.pool_uuid
    pb = harness.pool_partition(b, PARTS)
    forged = "f0f0f0f0-0000-4000-8000-00000000a001"
    real = vm_by_state(sim_a, "Running")
    real_ref = next(ref for ref, r in sim_a.truth()["vm"].items() if r["uuid"] == real)
    produce(k, "xo.objects", pb, f"{a}/vm/OpaqueRef:forged-partition",
            object_value(a, "vm", "OpaqueRef:forged-partition", vm_snapshot(forged, "forged")))
    produce(k, "xo.objects", pb, f"{a}/vm/{real_ref}", None, {"xo-op": "del"})
    produce(k, "xo.agents", pb, a, json.dumps(
        {"v": 1, "agent": "forger", "version": "0", "pool": a, "master": "http://x",
         "state": "error", "error": "forged", "ts": int(time.time() * 1000), "since": 0, "gen": 0,
         "last_event_id": 0, "last_event_ts": 0,
         "counters": {"events": 0, "published": 0, "resyncs": 0, "xapi_errors": 0,
                      "kafka_failed": 0, "commands": 0}}, separators=(",", ":")))
    refused = 'xo_gateway_records_refused_total{reason="wrong_partition"}'
    wait_either(lambda: metrics(gw).get(refused, 0) >= 3
                or rest(gw, "GET", f"/rest/v0/vms/{forged}")[0] == 200
                or rest(gw, "GET", f"/rest/v0/vms/{real}")[0] == 404,
                "the misplaced records read")
    assert rest(gw, "GET", f"/rest/v0/vms/{forged}")[0] == 404, "a misplaced VM is served"
    assert rest(gw, "GET", f"/rest/v0/vms/{real}")[0] == 200, "a misplaced tombstone applied"
    pool_a = next(p for p in healthz(gw)["pools"] if p["uuid"] == a)
    assert pool_a["agent"]["state"] == "live", f"a misplaced heartbeat applied: {pool_a}"
    wait_metric(gw, refused, 3, "records keyed for pool A on pool B's partition counted")
    assert "event=record_refused reason=wrong_partition" in gw.proc.log_text()
    print("pool A's object, tombstone and heartbeat on pool B's partition: refused, counted")


def check_phantom_pool(k, gw):
    pp = harness.pool_partition(PHANTOM, PARTS)
    vm = "f0f0f0f0-0000-4000-8000-00000000feed"
    records = [(f"{PHANTOM}/pool/OpaqueRef:phantom", object_value(
                   PHANTOM, "pool", "OpaqueRef:phantom",
                   {"uuid": PHANTOM, "name_label": "phantom", "name_description": "",
                    "master": "OpaqueRef:NULL", "default_SR": "OpaqueRef:NULL",
                    "other_config": {}, "tags": []})),
               (f"{PHANTOM}/vm/OpaqueRef:phantom-vm", object_value(
                   PHANTOM, "vm", "OpaqueRef:phantom-vm", vm_snapshot(vm, "phantom vm")))]
    for key, value in records:
        produce(k, "xo.objects", pp, key, value)

    def degraded():
        h = healthz(gw)
        p = [p for p in h["pools"] if p["uuid"] == PHANTOM]
        return h if h["status"] == "degraded" and p and p[0]["objects"] == 2 else None
    try:
        h = harness.wait_until(degraded, 20, interval=0.2, what="/healthz degraded")
    except TimeoutError:
        raise AssertionError(f"a pool without agent is not reported: {healthz(gw)}")
    p = next(p for p in h["pools"] if p["uuid"] == PHANTOM)
    assert (p["status"], p["held"], p["agent"]) == ("no_agent", True, None), p
    assert any(PHANTOM in r for r in h["reasons"]), h["reasons"]
    assert metrics(gw)["xo_gateway_pools_without_agent"] == 1
    assert rest(gw, "GET", f"/rest/v0/vms/{vm}")[0] == 404
    assert vm not in g.get_all(gw.url) and PHANTOM not in g.get_all(gw.url)
    print(f"phantom pool: /healthz degraded ({h['reasons'][0]}), its objects not served")
    for key, _ in records:
        produce(k, "xo.objects", pp, key, None, {"xo-op": "del"})
    harness.wait_until(lambda: healthz(gw)["status"] == "ok", 20, interval=0.2,
                       what="/healthz ok once the phantom records are deleted")


def check_size_caps(k, gw, sim_a):
    a = sim_a.pool_uuid
    pa = harness.pool_partition(a, PARTS)
    big, huge = "f0f0f0f0-0000-4000-8000-000000000900", "f0f0f0f0-0000-4000-8000-000000001100"
    name = "n" * (900 * 1024)
    produce(k, "xo.objects", pa, f"{a}/vm/OpaqueRef:big",
            object_value(a, "vm", "OpaqueRef:big", vm_snapshot(big, name)))
    produce(k, "xo.objects", pa, f"{a}/vm/OpaqueRef:huge", object_value(
        a, "vm", "OpaqueRef:huge", vm_snapshot(huge, "huge", tags=["t" * 1000] * 1100)))
    too_large = 'xo_gateway_records_refused_total{reason="too_large"}'
    wait_either(lambda: rest(gw, "GET", f"/rest/v0/vms/{big}")[0] == 200
                and (metrics(gw).get(too_large, 0) >= 1
                     or rest(gw, "GET", f"/rest/v0/vms/{huge}")[0] == 200),
                "the oversized records read")
    obj = rest(gw, "GET", f"/rest/v0/vms/{big}")[2]
    want = "n" * 1024 + f"...[truncated {len(name)} bytes]"
    assert obj["name_label"] == want, f"name_label served with {len(obj['name_label'])} bytes"
    assert rest(gw, "GET", f"/rest/v0/vms/{huge}")[0] == 404, "a 1.1 MB record is served"
    wait_metric(gw, "xo_gateway_record_fields_truncated_total", 1, "900 KB name_label counted")
    wait_metric(gw, too_large, 1, "record over limits.max_record_bytes counted")
    print(f"900 KB name_label served as {len(want)} bytes; a 1.1 MB record refused")
    produce(k, "xo.objects", pa, f"{a}/vm/OpaqueRef:big", None, {"xo-op": "del"})
    harness.wait_until(lambda: rest(gw, "GET", f"/rest/v0/vms/{big}")[0] == 404, 20,
                       interval=0.2, what="the cut VM deleted")


def token_value(email, now_ms):
    """A live token record's value for the user of that email (user id: users.c)."""
    d = hashlib.sha256(email.encode()).hexdigest()
    uid = f"{d[0:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}"
    return json.dumps({"v": 1, "user": uid, "expires": now_ms + 3600 * 1000, "issued": now_ms},
                      separators=(",", ":"))


def token_works(gw, token):
    return g.http_get(gw.url + "/rest/v0/pools",
                      headers={"Authorization": f"Bearer {token}"})[0] == 200


def check_forged_tokens(st, k, gw, sim_a):
    """Token records are signed over "<digest>\n<value>" by a gateway key; a writer without
    one cannot mint a token, whatever it signs with."""
    now = int(time.time() * 1000)
    value = token_value(g.ADMIN[0], now)
    rogue = (st.path("rogue-tokens.key"), st.path("rogue-tokens.pub"))
    subprocess.run([sign_command_bin(), "--genkey", *rogue], check=True, capture_output=True)
    gw_key, agent_key = os.path.join(st.path("keys"), "gateway.key"), st.agent_key(sim_a.pool_uuid)[0]
    forged = secrets.token_urlsafe(32)
    digest = hashlib.sha256(forged.encode()).hexdigest()
    other = token_value("someone@else.net", now)
    forgeries = [
        ("signature", digest, value, {}),
        ("signature", digest, value, sign(rogue[0], f"{digest}\n{value}")),
        ("signature", digest, value, sign(agent_key, f"{digest}\n{value}")),
        ("signature", digest, value, sign(gw_key, f"{digest}\n{other}")),  # tampered
        ("too_large", digest, value[:-1] + "," + '"pad":"' + "x" * 1100 + '"}',
         sign(gw_key, f"{digest}\n{value}")),
        ("bad_key", forged, value, sign(gw_key, f"{forged}\n{value}")),
    ]
    for _, key, v, headers in forgeries:
        produce(k, "xo.tokens", 0, key, v, headers)
    want = {}
    for reason, *_ in forgeries:
        want[reason] = want.get(reason, 0) + 1
    name = 'xo_gateway_token_records_refused_total{{reason="{}"}}'
    wait_either(lambda: all(metrics(gw).get(name.format(r), 0) >= n for r, n in want.items())
                or token_works(gw, forged), "the forged token records read")
    assert not token_works(gw, forged), "a forged token record minted a token"
    for reason, n in want.items():
        wait_metric(gw, name.format(reason), n, f"forged token records refused as {reason}")
    # the control: the same record signed by the gateway key is applied
    genuine = secrets.token_urlsafe(32)
    gdigest = hashlib.sha256(genuine.encode()).hexdigest()
    produce(k, "xo.tokens", 0, gdigest, value, sign(gw_key, f"{gdigest}\n{value}"))
    wait_either(lambda: token_works(gw, genuine), "a token record signed by the gateway key")
    assert not token_works(gw, forged)
    assert "event=token_record_refused" in gw.proc.log_text()
    print("forged token records (unsigned, unknown key, agent key, tampered, oversized, bad "
          "key) refused; the gateway-signed control applied")


def check_forged_results(st, k, gw, sim_a, sim_b, ag_a):
    a, b = sim_a.pool_uuid, sim_b.pool_uuid
    pa, pb = harness.pool_partition(a, PARTS), harness.pool_partition(b, PARTS)
    key_a, key_b = st.agent_key(a)[0], st.agent_key(b)[0]
    rogue = (st.path("rogue.key"), st.path("rogue.pub"))
    subprocess.run([sign_command_bin(), "--genkey", *rogue], check=True, capture_output=True)
    vm = vm_by_state(sim_a, "Halted")
    assert ag_a.stop() == 0  # no genuine result can come: the forgeries are alone
    calls = sim_a.stats()["calls_by_method"].get("Async.VM.start", 0)

    status, hdrs, body = rest(gw, "POST", f"/rest/v0/vms/{vm}/actions/start")
    assert status == 202, (status, body)
    cid = body["taskId"]
    ok = result_value(cid, a)
    other = result_value(cid, b)  # once: the value carries a timestamp, signed as sent
    forgeries = [
        ("signature_missing", pa, ok, {}),
        ("unknown_key", pa, ok, sign(rogue[0], ok)),
        ("key_not_for_pool", pa, ok, sign(key_b, ok)),  # pool B's agent speaking for A
        ("wrong_pool", pb, other, sign(key_b, other)),
        ("signature_invalid", pa, ok.replace('"progress":1', '"progress":1.0'), sign(key_a, ok)),
        ("wrong_partition", pb, ok, sign(key_a, ok)),
    ]
    for _, partition, value, headers in forgeries:
        produce(k, "xo.results", partition, cid, value, headers)

    def finished():
        s, _, t = rest(gw, "GET", f"/rest/v0/tasks/{cid}")
        return t if s == 200 and t["status"] != "pending" else None
    task = harness.wait_until(finished, (TIMEOUT_MS + SKEW_MS) / 1000 + 20, interval=0.2,
                              what="the command's outcome")
    assert task["state"] == "timeout", f"a forged result completed the command: {task}"
    # XO's task shape (docs/api.md, Tasks): a failure's XO error object is its `result`
    assert task["result"]["data"]["code"] == "COMMAND_TIMEOUT", task
    for reason, *_ in forgeries:
        wait_metric(gw, f'xo_gateway_command_results_refused_total{{reason="{reason}"}}', 1,
                    f"forged result refused as {reason}")
    assert sim_a.stats()["calls_by_method"].get("Async.VM.start", 0) == calls
    assert g.summarize(g.get_all(gw.url))[vm][2] == "Halted"
    assert "event=result_refused reason=key_not_for_pool" in gw.proc.log_text()
    print("forged results (unsigned, unknown key, pool B's key, tampered, misplaced) refused; "
          "the command timed out, nothing ran")


def main():
    t0 = time.monotonic()
    with harness.Stack() as st:
        k, sim_a, sim_b, ag_a, gw = start_stack(st)
        view_equals_truth(gw, [sim_a, sim_b], "start")
        check_wrong_partition(k, gw, sim_a, sim_b)
        view_equals_truth(gw, [sim_a, sim_b], "records on the wrong partition")
        check_phantom_pool(k, gw)
        view_equals_truth(gw, [sim_a, sim_b], "a phantom pool")
        check_size_caps(k, gw, sim_a)
        view_equals_truth(gw, [sim_a, sim_b], "oversized records")
        check_forged_tokens(st, k, gw, sim_a)
        check_forged_results(st, k, gw, sim_a, sim_b, ag_a)
        view_equals_truth(gw, [sim_a, sim_b], "forged results")
        assert gw.proc.alive()
    print(f"OK ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        import traceback
        traceback.print_exc()
        sys.exit(1)
