"""Issue 11, the console proxy, end to end with a raw RFB client (tests/e2e/rfb_client.py):
XAPI simulator <- xo-agent (console relay, dials back) -> xo-gateway /api/console-relay <->
/api/consoles/<id> <- client.

1. Refused before the upgrade with an HTTP status: no cookie (401), a viewer's token (403),
   an unknown VM (404), a halted VM (409), other_config.disable_pv_vnc = "1" (403), a
   cookie over limits.max_header_bytes (431, with its reason phrase).
2. A session: subprotocol `binary` answered when offered, none offered works too (routed by
   path), the `authenticationToken` cookie works; version, security None, ServerInit with
   the VM's name, a full framebuffer update equal to the simulator's own console's, key
   and pointer events counted by the simulator (/sim/stats); the session outlives the
   gateway's WebSocket sign-in deadline (timeouts.signin_s: a console is authenticated by its
   cookie at the upgrade); console.open results on xo.results (accepted, success, closed
   with duration and bytes), valid against the schema and signed by the pool's agent key
   (xo-sig verified), none refused by the gateway.
3. The VM rebooted, then moved to the other host, during one session: the client's socket
   stays open and its next full update shows the VM again (the session is resumed on the
   new console, no fresh ServerInit); the VM halted: the socket closes 4409 with a reason.
4. Tickets, read from xo.commands as anyone with Kafka access could: the relay refuses no
   ticket, a ticket presented for another console (and that ticket is then spent: its
   console closes), a replayed ticket, and an expired one (its browser closed 4503).
5. The token a console was opened with is checked as a JSON-RPC session's is: deleted by
   token.delete, deleted by a session.signOut of a session signed in with it, or expired,
   each open console closes 4401 and the token is refused at the next upgrade (401).
6. The agent killed during a session: the client's socket closes 4503 with a reason; the
   gateway's /metrics shows no console left open; refusals counted by reason. The gateway
   then stops cleanly (the sanitizer build checks it leaked nothing).
"""
import json
import os
import signal
import subprocess
import sys
import time

import gw_harness as g
import harness
import rfb_client as rc
from test_agent_commands import regular_vms, sign_command_bin, vm_by_state, wait_consuming

VIEWER = ("view@x.org", "viewer pw")
TICKET_TTL_MS = 4000
SIGNIN_S = int(3 * harness.SCALE)  # the gateway's timeouts.signin_s: consoles outlive it
GW_URL = [None]
SCHEMAS = os.path.join(harness.src_dir(), "schemas")


def start_stack(st, sim_vms=12):
    k = st.start_kafka()
    sim = st.start_sim(vms=sim_vms, hosts=2, seed=11)
    keys = st.path("keys")
    subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                   capture_output=True)
    users = st.path("users")
    for email, perm, pw in (("admin@admin.net", "admin", "admin"), (VIEWER[0], "viewer", VIEWER[1])):
        subprocess.run([harness.binary("xo-gateway"), "useradd", "--users", users, "--email",
                        email, "--permission", perm], input=pw.encode(), check=True,
                       capture_output=True)
    agent_extra = {"commands": {"public_keys": os.path.join(keys, "gateway.pub"),
                                "max_expiry_ms": "60000"}}
    ag = st.start_agent(sim, k, extra=agent_extra)
    gw = st.start_gateway(k, extra={
        "users": {"file": users},
        "commands": {"private_key": os.path.join(keys, "gateway.key"), "timeout_ms": "20000"},
        "console": {"ticket_ttl_ms": str(TICKET_TTL_MS)},
        "timeouts": {"signin_s": str(SIGNIN_S)}})
    wait_consuming(ag)
    g.wait_synced(gw, [sim.pool_uuid])
    wait_agent_live(gw, sim.pool_uuid)
    return k, sim, ag, gw, agent_extra


def wait_agent_live(gw, pool, timeout=30):
    """The gateway has seen the pool's agent live (consoles are refused 503 before)."""
    def live():
        _, body, _ = g.http_get(gw.url + "/metrics")
        return f'xo_gateway_pool_agent_live{{pool="{pool}",state="live"}} 1' in body.decode()
    harness.wait_until(live, timeout, what="the pool's agent live at the gateway")


def token(gw, creds, **params):
    ws = g.WsClient(gw.port)
    r = ws.call("session.signIn", {"username": creds[0], "password": creds[1]})
    assert "result" in r, r
    tok = ws.call("token.create", params)["result"]
    ws.close()
    return tok


def refused(gw, vm, tok, **kw):
    try:
        c = rc.through_gateway(gw.port, vm, tok, **kw)
    except rc.Refused as e:
        return e.status, e.body
    c.close()
    raise AssertionError(f"console of {vm} accepted")


def vm_ref(sim, uuid):
    return regular_vms(sim)[uuid][0]


def open_console(gw, vm, tok, protocol="binary", cookie_name="token"):
    c = rc.through_gateway(gw.port, vm, tok, protocol=protocol, cookie_name=cookie_name)
    r = rc.Rfb(c)
    r.handshake()
    return c, r


def direct_frame(sim, vm):
    d = rc.straight_to_sim(sim, vm)
    r = rc.Rfb(d)
    r.handshake()
    frame = r.full_frame()
    d.close()
    return frame


def console_stats(sim, vm):
    return sim.stats()["consoles"].get(vm, {})


def check_refusals(gw, sim, admin, viewer, running, halted):
    st, body = refused(gw, running[0], None)
    assert st == 401 and "sign in" in body, (st, body)
    st, body = refused(gw, running[0], "z" * 43)
    assert st == 401 and "invalid" in body, (st, body)
    st, body = refused(gw, running[0], viewer)
    assert st == 403 and "permission" in body, (st, body)
    st, body = refused(gw, "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", admin)
    assert st == 404 and "no such VM" in body, (st, body)
    st, body = refused(gw, halted, admin)
    assert st == 409 and "Halted" in body, (st, body)
    rc.xapi(sim, "VM.add_to_other_config", vm_ref(sim, running[5]), "disable_pv_vnc", "1")
    harness.wait_until(lambda: refused(gw, running[5], admin)[0] == 403, 20,
                       what="disable_pv_vnc reaches the gateway")
    st, body = refused(gw, running[5], admin)
    assert "disabled" in body, body
    st, body = refused(gw, running[0], "x" * 20000)  # a Cookie over limits.max_header_bytes
    assert st == 431 and "Too Large" in body, (st, body)
    print("refused before the upgrade: no cookie 401, bad token 401, viewer 403, unknown VM "
          "404, halted VM 409, disable_pv_vnc 403, headers too large 431")


def check_session(gw, sim, admin, vm):
    keys0 = console_stats(sim, vm).get("keys", 0)
    c, r = open_console(gw, vm, admin)
    assert c.headers.get("sec-websocket-protocol") == "binary", c.headers
    name = regular_vms(sim)[vm][1]["name_label"]
    assert r.name == name and (r.width, r.height) == (640, 480), (r.name, r.width, r.height)
    frame = r.full_frame()
    assert frame == direct_frame(sim, vm), "the framebuffer differs from the simulator's"
    # past the sign-in deadline of a WebSocket (a console signed in with its cookie)
    time.sleep(SIGNIN_S + 1)
    r.type_text("xo")
    r.pointer(100, 120, 1)
    r.pointer(100, 120, 0)
    rc.wait_for(lambda: console_stats(sim, vm).get("keys", 0) >= keys0 + 4, 10, "keys counted")
    s = console_stats(sim, vm)
    assert s["last_keysyms"][-2:] == [ord("x"), ord("o")], s
    assert s["pointer_events"] >= 2, s
    r.request(True)            # typed text is echoed on the screen: an update follows
    assert r.read_update(), "no update after typing"
    c.close()
    # no subprotocol (routed by path), and the REST cookie name
    c, r = open_console(gw, vm, admin, protocol=None, cookie_name="authenticationToken")
    assert "sec-websocket-protocol" not in c.headers, c.headers
    assert r.full_frame() == direct_frame(sim, vm)
    c.close()
    print(f"session: binary answered, none offered works, ServerInit '{r.name}', full frame "
          f"equals the simulator's, keys and pointer counted after {SIGNIN_S + 1} s open "
          "(past timeouts.signin_s)")


def results_of(k, op="console.open"):
    cmds = {json.loads(v)["id"]: json.loads(v) for _, v, _ in harness.kcat_read(k.bootstrap, "xo.commands") if v}
    out = {}
    for key, v, _ in harness.kcat_read(k.bootstrap, "xo.results"):
        if v and key and cmds.get(key.decode() if isinstance(key, bytes) else key, {}).get("op") == op:
            out.setdefault(json.loads(v)["id"], []).append(json.loads(v))
    return cmds, out


def check_signed(st, k, pool):
    """Every console.open result was signed by the pool's agent key over its exact bytes,
    and the gateway refused none of the results it read."""
    priv, _, kid = st.agent_key(pool)
    cmds = {json.loads(v)["id"]: json.loads(v)["op"]
            for _, v, _ in harness.kcat_read(k.bootstrap, "xo.commands") if v}
    seen = set()
    for key, v, hdrs in harness.kcat_read(k.bootstrap, "xo.results"):
        key = key.decode() if isinstance(key, bytes) else key
        if not v or cmds.get(key) != "console.open":
            continue
        state = json.loads(v)["state"]
        assert hdrs.get("xo-key") == kid, (state, hdrs)
        assert hdrs.get("xo-sig") == sign(priv, v)["xo-sig"], f"{state}: bad signature"
        seen.add(state)
    assert {"accepted", "success", "closed"} <= seen, seen
    _, body, _ = g.http_get(GW_URL[0] + "/metrics")
    refused = [l for l in body.decode().splitlines()
               if l.startswith("xo_gateway_command_results_refused_total") and
               not l.endswith(" 0")]
    assert not refused, refused
    print(f"xo.results: console.open's accepted, success and closed signed by the agent's key "
          f"{kid}; the gateway refused no result")


def sign(priv, value):
    """xo-sig and xo-key of value signed with a private key file (Ed25519: deterministic)."""
    out = subprocess.run([sign_command_bin(), "--sign-stdin", priv], input=value,
                         capture_output=True, check=True, timeout=30).stdout.decode()
    return dict(l.split("=", 1) for l in out.splitlines())


def check_results(k, vm):
    import jsonschema
    with open(os.path.join(SCHEMAS, "xo.results.schema.json")) as f:
        validator = jsonschema.Draft202012Validator(json.load(f))

    def closed_two():
        _, res = results_of(k)
        return [r for r in res.values() if [m["state"] for m in r] == ["accepted", "success", "closed"]]
    done = harness.wait_until(lambda: len(closed_two()) >= 2 and closed_two(), 20,
                              what="two audited sessions")
    for msgs in done:
        for m in msgs:
            errors = [e.message for e in validator.iter_errors(m)]
            assert not errors, (m, errors)
        opened, closed = msgs[1]["result"], msgs[2]["result"]
        assert opened["console"] == "open" and opened["vm"] == vm and opened["via"] == "websocket"
        assert closed["console"] == "closed" and closed["bytes_to_client"] > 640 * 480 * 4
        assert closed["duration_ms"] >= 0 and msgs[2]["bytes"] > closed["bytes_to_client"]
    # the REST task of a console.open hides its ticket
    cmds, _ = results_of(k)
    cid = done[0][0]["id"]
    assert cmds[cid]["args"]["ticket"] != "(hidden)"
    st_, body, _ = g.http_get(f"{GW_URL[0]}/rest/v0/tasks/{cid}",
                              g.basic("admin@admin.net", "admin"))
    assert st_ == 200 and json.loads(body)["properties"]["params"]["ticket"] == "(hidden)", body
    print("xo.results: accepted, success {console: open}, closed {duration, bytes}; valid; the "
          "REST task hides the ticket")


def movable(sim, uuid):
    """A running VM whose disks are all on shared storage (VM.pool_migrate can move it)."""
    t = sim.truth()
    ref = vm_ref(sim, uuid)
    vdis = [t["vbd"][b]["VDI"] for b in t["vm"][ref]["VBDs"] if t["vbd"][b]["VDI"] in t["vdi"]]
    return all(t["sr"][t["vdi"][v]["SR"]]["shared"] for v in vdis)


def check_follow(gw, sim, admin, vm):
    c, r = open_console(gw, vm, admin)
    before = r.full_frame()
    ref = vm_ref(sim, vm)
    rc.xapi(sim, "VM.clean_reboot", ref)
    time.sleep(0.3)
    after = r.full_frame()  # same socket, no handshake: the agent resumed on the new console
    assert after == direct_frame(sim, vm) and len(after) == len(before)
    k0 = console_stats(sim, vm).get("keys", 0)
    r.type_text("r")
    rc.wait_for(lambda: console_stats(sim, vm).get("keys", 0) >= k0 + 2, 10, "keys after reboot")
    # move it to the other host: a new console object, on another address
    truth = sim.truth()
    here = truth["vm"][ref]["resident_on"]
    other = next(h for h in truth["host"] if h != here)
    loc0 = next(truth["console"][x]["location"] for x in truth["vm"][ref]["consoles"])
    rc.xapi(sim, "VM.pool_migrate", ref, other, {})
    loc1 = next(sim.truth()["console"][x]["location"] for x in sim.truth()["vm"][ref]["consoles"])
    assert loc0.split("/")[2] != loc1.split("/")[2], (loc0, loc1)
    assert r.full_frame() == direct_frame(sim, vm)
    k1 = console_stats(sim, vm).get("keys", 0)
    r.type_text("m")
    rc.wait_for(lambda: console_stats(sim, vm).get("keys", 0) >= k1 + 2, 10, "keys after move")
    print(f"VM rebooted, then moved ({loc0.split('/')[2]} -> {loc1.split('/')[2]}): the "
          "session went on, same socket, no new handshake")
    rc.xapi(sim, "VM.hard_shutdown", ref)
    code, reason = c.wait_close()
    assert code == 4409 and "halted" in reason, (code, reason)
    c.close()
    rc.xapi(sim, "VM.start", ref, False, False)
    print(f"VM halted: closed {code} '{reason}'")
    return c


def relay(gw, vm, ticket):
    headers = {"Authorization": f"Bearer {ticket}"} if ticket else {}
    return rc.WsConn("127.0.0.1", gw.port, f"/api/console-relay/{vm}", headers=headers,
                     protocol="xo-console-relay")


def relay_refused(gw, vm, ticket):
    try:
        relay(gw, vm, ticket).close()
    except rc.Refused as e:
        return e.status
    raise AssertionError("relay accepted")


def ticket_of(k, vm, seen):
    """The newest console.open ticket for @p vm not in @p seen (read from xo.commands)."""
    def find():
        for _, v, _ in reversed(harness.kcat_read(k.bootstrap, "xo.commands")):
            m = json.loads(v) if v else {}
            if m.get("op") == "console.open" and m["args"]["id"] == vm and \
                    m["args"]["ticket"] not in seen:
                return m["args"]["ticket"]
        return None
    return harness.wait_until(find, 20, what="console.open on xo.commands")


def check_tickets(k, gw, sim, ag, admin, vms):
    a, b, d = vms[:3]
    used = set()
    # a ticket the agent used already: replayed
    c, r = open_console(gw, a, admin)
    t_used = ticket_of(k, a, used)
    used.add(t_used)
    assert relay_refused(gw, a, t_used) == 403
    c.close()
    assert relay_refused(gw, a, None) == 403
    assert relay_refused(gw, a, "x" * 43) == 403
    ag.signal(signal.SIGSTOP)  # the agent takes nothing: tickets stay unused
    try:
        ca = rc.through_gateway(gw.port, a, admin)
        cb = rc.through_gateway(gw.port, b, admin)
        ta = ticket_of(k, a, used)
        used.add(ta)
        tb = ticket_of(k, b, used)
        used.add(tb)
        # a's ticket on b's relay: refused, and spent (a's browser is told)
        assert relay_refused(gw, b, ta) == 403
        assert relay_refused(gw, a, ta) == 403
        code, reason = ca.wait_close()
        assert code == 4503 and "another console" in reason, (code, reason)
        # b's ticket works once on its own console (what a stolen ticket allows: one
        # session's relay until the agent or expiry spends it), then is spent
        thief = relay(gw, b, tb)
        thief.send(b"RFB 003.008\n")
        assert cb.read(12) == b"RFB 003.008\n"
        assert relay_refused(gw, b, tb) == 403
        thief.close()
        code, reason = cb.wait_close()
        assert code == 4503, (code, reason)
        # an expired one
        cd = rc.through_gateway(gw.port, d, admin)
        td = ticket_of(k, d, used)
        used.add(td)
        code, reason = cd.wait_close(timeout=TICKET_TTL_MS / 1000 + 10)
        assert code == 4503 and "did not connect" in reason, (code, reason)
        assert relay_refused(gw, d, td) == 403
    finally:
        ag.signal(signal.SIGCONT)
    print("relay refused: no ticket, a bad one, a replayed one, another console's (then "
          "spent: its browser closed 4503), an expired one (browser closed 4503 first); a "
          "stolen live ticket relays that one session only")


def metrics(gw):
    _, body, _ = g.http_get(gw.url + "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("xo_gateway_console"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def check_token_gone(gw, vm):
    """A console ends when its token stops being valid, however that happens."""
    admin_ws = g.WsClient(gw.port)
    assert "result" in admin_ws.call("session.signIn", {"username": "admin@admin.net",
                                                        "password": "admin"})
    creds = ("admin@admin.net", "admin")
    ttl_ms = int(6000 * harness.SCALE)
    toks = {"deleted": token(gw, creds), "signed_out": token(gw, creds),
            "expired": token(gw, creds, expiresIn=ttl_ms)}
    conns = {}
    for why, tok in toks.items():
        c, r = open_console(gw, vm, tok)
        r.full_frame()
        conns[why] = c
    assert admin_ws.call("token.delete", {"token": toks["deleted"]}).get("result") is True
    holder = g.WsClient(gw.port)
    assert "result" in holder.call("session.signIn", {"token": toks["signed_out"]})
    assert holder.call("session.signOut", {}).get("result") is True
    holder.close()
    admin_ws.close()
    for why, c in conns.items():
        code, reason = c.wait_close(timeout=ttl_ms / 1000 + 20)
        assert code == 4401 and "signed out" in reason, (why, code, reason)
        c.close()
        st_, body = refused(gw, vm, toks[why])
        assert st_ == 401 and "invalid" in body, (why, st_, body)
    harness.wait_until(lambda: metrics(gw).get("xo_gateway_consoles_open") == 0, 10,
                       what="the three consoles closed")
    assert metrics(gw).get('xo_gateway_console_refusals_total{reason="token_gone"}', 0) >= 3
    print("token deleted, signed out, expired: each console closed 4401, the token refused (401)")


def check_agent_killed(st, k, sim, ag, gw, admin, vm, agent_extra):
    c, r = open_console(gw, vm, admin)
    r.full_frame()
    ag.kill()
    code, reason = c.wait_close()
    assert code == 4503 and "agent" in reason, (code, reason)
    c.close()
    harness.wait_until(lambda: metrics(gw).get("xo_gateway_consoles_open") == 0, 10,
                       what="no console left open")
    m = metrics(gw)
    assert m['xo_gateway_console_bytes_total{direction="to_client"}'] > 640 * 480 * 4 * 4, m
    for why in ("no_cookie", "viewer", "unknown_vm", "not_running", "disabled",
                "relay_bad_ticket", "relay_wrong_console", "agent_timeout", "agent_gone"):
        assert m.get(f'xo_gateway_console_refusals_total{{reason="{why}"}}', 0) >= 1, (why, m)
    print(f"agent killed: closed {code} '{reason}'; /metrics: 0 open, refusals by reason")
    ag2 = st.start_agent(sim, k, extra=agent_extra, name="agent2")
    wait_consuming(ag2)
    harness.wait_until(lambda: refused_or_open(gw, vm, admin), 30, what="agent back")
    return ag2


def refused_or_open(gw, vm, admin):
    try:
        c, r = open_console(gw, vm, admin)
    except (rc.Refused, rc.Closed):
        return False
    r.full_frame()
    c.close()
    return True


def main():
    with harness.Stack() as st:
        k, sim, ag, gw, agent_extra = start_stack(st)
        GW_URL[0] = gw.url
        admin, viewer = token(gw, ("admin@admin.net", "admin")), token(gw, VIEWER)
        running = vm_by_state(sim, "Running", n=6)
        halted = vm_by_state(sim, "Halted")
        check_refusals(gw, sim, admin, viewer, running, halted)
        check_session(gw, sim, admin, running[0])
        check_results(k, running[0])
        check_signed(st, k, sim.pool_uuid)
        mover = next(v for v in running[1:5] if movable(sim, v))
        check_follow(gw, sim, admin, mover)
        check_tickets(k, gw, sim, ag, admin, [v for v in running[1:5] if v != mover][:3])
        check_token_gone(gw, running[0])
        ag2 = check_agent_killed(st, k, sim, ag, gw, admin, running[0], agent_extra)
        ag2.stop()
        code = gw.proc.stop()
        assert code == 0, f"gateway exited {code}"
        assert "LeakSanitizer" not in gw.proc.log_text() and "ERROR: AddressSanitizer" not in \
            gw.proc.log_text()
    print("console: all checks passed")


if __name__ == "__main__":
    main()
