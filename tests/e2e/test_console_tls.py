"""Issue 11 over TLS end to end: a simulator serving HTTPS (its hosts' certificate pinned by
the agent, xapi.fingerprint), a gateway listening with TLS, a browser-like client on wss.

1. The agent opens the host's console as a WebSocket over TLS (pin checked) and dials the
   gateway's relay over wss, checking the gateway's certificate against
   console.gateway_ca_file: the client's frame equals the simulator's, via "websocket".
2. console.host_transport = connect: the same through TLS `CONNECT /console` with the
   session cookie (XAPI's older path), via "connect".
3. A gateway certificate the agent does not trust (console.gateway_fingerprint of another
   certificate): the agent refuses to relay, the client's socket closes 4503, and
   xo.results says RELAY_UNREACHABLE.
"""
import json
import os
import subprocess

import harness
import rfb_client as rc
from test_agent_commands import vm_by_state, wait_consuming
from test_console import direct_frame
from test_gateway_tls import make_cert


def rpc(conn, method, params, id_):
    conn.send(json.dumps({"jsonrpc": "2.0", "method": method, "params": params,
                          "id": id_}).encode(), opcode=1)
    while True:
        op, payload = conn._frame()
        msg = json.loads(payload)
        if msg.get("id") == id_:
            return msg


def token_over_tls(port):
    c = rc.WsConn("127.0.0.1", port, "/api/", tls=True)
    assert "result" in rpc(c, "session.signIn", {"username": "admin@admin.net",
                                                 "password": "admin"}, 1)
    tok = rpc(c, "token.create", {}, 2)["result"]
    c.close()
    return tok


def wait_live(port, pool):
    import ssl
    import urllib.request
    ctx = ssl._create_unverified_context()

    def live():
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", context=ctx,
                                    timeout=5) as r:
            return f'pool_agent_live{{pool="{pool}",state="live"}} 1' in r.read().decode()
    harness.wait_until(live, 60, what="agent live at the gateway")


def console_results(k):
    out = {}
    for _, v, _ in harness.kcat_read(k.bootstrap, "xo.results"):
        m = json.loads(v) if v else {}
        if isinstance(m.get("result"), dict) and m["result"].get("console") == "open":
            out[m["id"]] = m["result"]
        elif m.get("error", {}).get("code", "").startswith("RELAY"):
            out[m["id"]] = m["error"]
    return out


def session(port, sim, vm, tok):
    c = rc.through_gateway(port, vm, tok, tls=True)
    r = rc.Rfb(c)
    r.handshake()
    assert r.full_frame() == direct_frame(sim, vm)
    c.close()


def main():
    with harness.Stack() as st:
        k = st.start_kafka()
        sim = st.start_sim(vms=12, hosts=2, seed=7, extra=("--tls",))
        assert sim.fingerprint
        keys = st.path("keys")
        subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                       capture_output=True)
        cert, key = make_cert(st)
        other_cert, _ = make_cert_named(st, "other")
        port = harness.free_port()
        cfg = st.write_config("gw.conf", {
            "http": {"address": "127.0.0.1", "port": str(port), "tls_cert": cert,
                     "tls_key": key},
            "kafka": {"bootstrap.servers": k.bootstrap},
            "commands": {"private_key": os.path.join(keys, "gateway.key"),
                         # the pool's agent key (harness.Stack.agent_key), which signs the
                         # console.open results the agents below publish
                         "agent_keys": st.agent_keys_setting([sim.pool_uuid])}})
        st.spawn("gateway", [harness.binary("xo-gateway"), "--config", cfg])

        def agent(name, console):
            ag = st.start_agent(sim, k, name=name, extra={
                "commands": {"public_keys": os.path.join(keys, "gateway.pub")},
                "console": console})
            wait_consuming(ag)
            wait_live(port, sim.pool_uuid)
            return ag

        ag = agent("agent1", {"gateway_ca_file": cert})
        tok = token_over_tls(port)
        vms = vm_by_state(sim, "Running", n=3)
        session(port, sim, vms[0], tok)
        print("TLS: host console over wss (pinned), relay over wss (CA checked): frame ok")
        ag.stop()
        ag = agent("agent2", {"gateway_ca_file": cert, "host_transport": "connect"})
        session(port, sim, vms[1], tok)
        vias = {r.get("via") for r in console_results(k).values()}
        assert vias == {"websocket", "connect"}, vias
        print("TLS CONNECT /console with the session cookie: frame ok")
        ag.stop()
        with open(other_cert) as f:
            import ssl
            import hashlib
            pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()
        agent("agent3", {"gateway_fingerprint": pin})
        c = rc.through_gateway(port, vms[2], tok, tls=True)
        code, reason = c.wait_close()
        assert code == 4503 and "cannot reach" in reason, (code, reason)
        harness.wait_until(lambda: any(e.get("code") == "RELAY_UNREACHABLE"
                                       for e in console_results(k).values()), 20,
                           what="RELAY_UNREACHABLE on xo.results")
        print(f"a gateway certificate the agent does not trust: closed {code} '{reason}'")
    print("console_tls: all checks passed")


def make_cert_named(st, name):
    cert, key = st.path(f"{name}.crt"), st.path(f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


if __name__ == "__main__":
    main()
