"""Several gateways on the same topics (issue 17 item 1): two xo-gateways, one xo-kafka-dev,
one agent, the XAPI simulator; the gateways share the users file and the signing key.

1. A token made with token.create on gw1 signs in on gw2 (JSON-RPC and REST cookie).
2. vm.start issued alternately through gw1 and gw2 on six halted VMs: every call answered
   once, by the gateway that issued it (no other answer arrives on either connection,
   each gateway counts only its own three successes), and run once (the simulator counts
   six Async.VM.start).
3. gw1 is SIGKILLed while its client's vm.start is in flight: that client gets an error
   (its connection closes); gw2's clients see nothing wrong (a call through gw2 succeeds
   during the outage, its xo-lib follower keeps up). The command itself ran at most once.
4. gw1 restarted: it serves the identical view (getAllObjects equal to gw2's, and both
   equal to /sim/truth), and the token from step 1 still signs in on it.
5. token.delete through gw2: the token stops working on gw1 too.
"""
import json
import os
import re
import shutil
import subprocess

import gw_harness as g
import harness
from test_agent_commands import power, vm_by_state, wait_consuming

TASK_MS = 1500  # each Async.VM.* task runs this long: the window to kill a gateway in
TIMEOUT_MS = int(8000 * harness.SCALE)


def signed_in(gw, creds=g.ADMIN, token=None):
    c = g.WsClient(gw.port, timeout=30)
    params = {"token": token} if token else {"email": creds[0], "password": creds[1]}
    r = c.call("session.signIn", params)
    if "error" in r:
        c.close()
        raise PermissionError(r["error"])
    return c


def quiet_answers(c, seconds):
    """Answers (messages with an id) that arrive on @c within @seconds: there must be none."""
    c.s.settimeout(seconds)
    extra = []
    try:
        while True:
            op, payload = c.recv_frame()
            if op == 8:
                break
            msg = json.loads(payload)
            if "id" in msg:
                extra.append(msg)
    except OSError:
        pass
    return extra


def async_starts(sim):
    return sim.stats()["calls_by_method"].get("Async.VM.start", 0)


def succeeded(gw):
    body = g.http_get(gw.url + "/metrics")[1].decode()
    for line in body.splitlines():
        if line.startswith('xo_gateway_commands_total{outcome="succeeded"}'):
            return int(line.split()[1])
    return 0


def start_haproxy(st, gws):
    """deploy/haproxy.cfg as shipped, but listening on loopback in front of @gws; None when
    HAProxy is not installed."""
    exe = shutil.which("haproxy")
    if not exe:
        return None
    with open(os.path.join(harness.src_dir(), "deploy", "haproxy.cfg")) as f:
        cfg = f.read()
    port = harness.free_port()
    cfg = cfg.replace("bind :8080", f"bind 127.0.0.1:{port}")
    cfg = re.sub(r"^    server gw1 .*\n    server gw2 .*$",
                 "\n".join(f"    server gw{i + 1} 127.0.0.1:{gw.port} check"
                           for i, gw in enumerate(gws)), cfg, flags=re.M)
    path = st.path("haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    st.spawn("haproxy", [exe, "-db", "-f", path])
    lb = harness.Gateway(None, port)
    harness.wait_until(lambda: g.http_get(lb.url + "/healthz", timeout=5)[0] == 200, 30,
                       what="HAProxy sees a healthy gateway")
    return lb


def view_diff(a, b, limit=5):
    """How two getAllObjects maps differ: ids on one side only, and for the first @limit
    objects on both, the fields whose values differ ([] when equal)."""
    out = [f"only in the first: {k}" for k in sorted(set(a) - set(b))]
    out += [f"only in the second: {k}" for k in sorted(set(b) - set(a))]
    for k in sorted(set(a) & set(b)):
        if a[k] != b[k] and len(out) < limit + 20:
            fields = sorted(f for f in set(a[k]) | set(b[k]) if a[k].get(f) != b[k].get(f))
            out.append(f"{a[k].get('type')} {k}: " + "; ".join(
                f"{f}: {json.dumps(a[k].get(f))[:200]} vs {json.dumps(b[k].get(f))[:200]}"
                for f in fields))
    return out


def same_views(gw_a, gw_b, last):
    last[:] = view_diff(g.get_all(gw_a.url), g.get_all(gw_b.url))
    return not last


def main():
    with harness.Stack() as st:
        k = st.start_kafka()
        sim = st.start_sim(vms=40, hosts=2, seed=41, extra=("--task-ms", str(TASK_MS)))
        keys = st.path("keys")
        subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                       capture_output=True)
        users = st.path("users")
        subprocess.run([harness.binary("xo-gateway"), "useradd", "--users", users, "--email",
                        "admin@admin.net", "--permission", "admin"], input=b"admin", check=True,
                       capture_output=True)
        ag = st.start_agent(sim, k, extra={"commands": {
            "public_keys": os.path.join(keys, "gateway.pub"), "max_expiry_ms": "60000"}})
        gw_extra = {"users": {"file": users},
                    "commands": {"private_key": os.path.join(keys, "gateway.key"),
                                 "timeout_ms": str(TIMEOUT_MS)}}
        gw1 = st.start_gateway(k, extra=gw_extra, name="gw1")
        gw2 = st.start_gateway(k, extra=gw_extra, name="gw2")
        wait_consuming(ag)
        for gw in (gw1, gw2):
            g.wait_synced(gw, [sim.pool_uuid])
            assert "event=tokens_shared" in gw.proc.log_text()

        # 1. a token from gw1 works on gw2
        c1 = signed_in(gw1)
        token = c1.call("token.create", {})["result"]
        c2 = harness.wait_until(lambda: signed_in(gw2, token=token), 10,
                                what="gw1's token accepted by gw2")
        st_, body, _ = g.http_get(gw2.url + "/rest/v0/vms?limit=1",
                                  headers={"Cookie": f"authenticationToken={token}"})
        assert st_ == 200, (st_, body)
        print("a token created on gw1 signs in on gw2 (JSON-RPC and REST)")
        lb = start_haproxy(st, (gw1, gw2))
        if lb:  # the sample load balancer: WebSocket JSON-RPC and REST through it
            for _ in range(4):
                c = signed_in(lb, token=token)
                r = c.call("xo.getAllObjects", {"filter": {"type": "pool"}})
                assert len(r["result"]) == 1, r
                c.close()
            print("deploy/haproxy.cfg in front of both: WebSocket sign-in with the token and "
                  "getAllObjects through it")
        else:
            print("HAProxy not installed: deploy/haproxy.cfg not exercised")

        # 2. vm.start alternately through both gateways: answered once, run once
        halted = vm_by_state(sim, "Halted", n=8)
        assert len(halted) == 8, halted
        starts0 = async_starts(sim)
        ok1, ok2 = succeeded(gw1), succeeded(gw2)
        for i, vm in enumerate(halted[:6]):
            c = (c1, c2)[i % 2]
            r = c.call("vm.start", {"id": vm}, id=100 + i)
            assert r.get("result") is True and r["id"] == 100 + i, (i, r)
        extra = quiet_answers(c1, 1.0 * harness.SCALE) + quiet_answers(c2, 1.0 * harness.SCALE)
        assert extra == [], extra
        assert async_starts(sim) == starts0 + 6, (async_starts(sim), starts0)
        assert all(power(sim, vm) == "Running" for vm in halted[:6])
        assert (succeeded(gw1) - ok1, succeeded(gw2) - ok2) == (3, 3)
        print("6 vm.start alternately through gw1/gw2: each answered once by its own gateway, "
              "each run once (simulator: +6 Async.VM.start)")

        # 3. gw1 killed during a call
        c1.s.settimeout(30 * harness.SCALE)
        c2.s.settimeout(30 * harness.SCALE)
        f2 = g.Follower(gw2.url)
        try:
            doomed, spare = halted[6], halted[7]
            starts0 = async_starts(sim)
            c1.send_frame(json.dumps({"jsonrpc": "2.0", "method": "vm.start",
                                      "params": {"id": doomed}, "id": 900}))
            harness.wait_until(lambda: async_starts(sim) > starts0, 10,
                               what="the doomed command to reach XAPI")
            gw1.proc.kill()  # SIGKILL to the process group
            try:
                answer = c1.recv_json()
                raise AssertionError(f"gw1 answered after SIGKILL: {answer}")
            except (ConnectionError, OSError):
                pass
            print("gw1 SIGKILLed during vm.start: its client's connection failed")
            r = c2.call("vm.start", {"id": spare}, id=901)
            assert r.get("result") is True, r
            harness.wait_until(lambda: f2.dump()["objects"][spare]["power_state"] == "Running",
                               20, what="gw2's follower sees the spare VM running")
            assert async_starts(sim) == starts0 + 2, (async_starts(sim), starts0)
            print("gw2 went on: a vm.start through it succeeded, its follower kept up; the "
                  "doomed command ran once")
        finally:
            f2.close()

        # 4. gw1 restarted serves the identical view; the token survived
        gw1b = st.start_gateway(k, extra=gw_extra, name="gw1-restarted", port=gw1.port)
        g.wait_synced(gw1b, [sim.pool_uuid])
        expected = g.expected_all([sim])
        harness.wait_until(lambda: not g.compare(expected, g.summarize(g.get_all(gw1b.url))),
                           60, interval=1.0, what="restarted gw1 == /sim/truth")
        diff = []
        try:
            harness.wait_until(lambda: same_views(gw1b, gw2, diff), 60, interval=1.0,
                               what="restarted gw1's view == gw2's view")
        except TimeoutError as e:
            raise AssertionError(f"{e}; restarted gw1 vs gw2: " + "\n".join(diff)) from None
        c1b = signed_in(gw1b, token=token)
        print("restarted gw1: identical view to gw2 and to the simulator; the token still "
              "signs in")

        # 5. token.delete on gw2 ends it on gw1 too
        r = c2.call("token.delete", {"tokens": [token]}, id=902)
        assert r.get("result") is True, r

        def refused():
            try:
                signed_in(gw1b, token=token).close()
                return False
            except PermissionError:
                return True
        harness.wait_until(refused, 10, what="the deleted token refused by gw1")
        print("token.delete on gw2: refused by gw1 too")
        for c in (c1b, c2):
            c.close()


if __name__ == "__main__":
    main()
