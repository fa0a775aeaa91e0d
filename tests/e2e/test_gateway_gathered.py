"""Several queued WebSocket messages written in one send (transport/ws_sessions.c,
write_gathered): the frames a client gets that way are intact and in order.

1. Pipelined calls: eleven JSON-RPC calls in one TCP segment (five small ones, one whose
   answer is larger than a gathered write, five small ones) are answered in order, every
   answer whole, through both write paths (gathered, and one large message in chunks); the
   gateway counts gathered sends (xo_gateway_ws_gathered_sends_total).
2. A client behind: a signed-in client with a small receive buffer stops reading while
   thousands of VMs are renamed (xo-synth --rename: one notification larger than the
   socket's buffers) and then small pools arrive one by one (small notifications queued
   behind it), then reads: every message is a whole `all` notification (JSON), for every
   VM the last name it got is the VM's final name (xo-server's clients see the latest state
   of every object), and some of the small ones were sent gathered.
"""
import json
import re
import socket
import subprocess
import time

import gw_harness as g
import harness

S = harness.SCALE
RENAMES = 3000
# five small answers, one larger than a gathered write (written in chunks), five small ones
PIPELINED = [("system.getVersion", {})] * 5 + [("xo.getAllObjects", {})] + \
    [("system.getVersion", {})] * 5
SMALL_POOLS = 6


def metric(gw, name):
    _, body, _ = g.http_get(gw.url + "/metrics")
    m = re.search(r"^" + re.escape(name) + r" (\d+)", body.decode(), re.M)
    return int(m.group(1)) if m else 0


def synth(k, st, extra=(), objects=20000, seed=7):
    summary = st.path(f"synth-{seed}.json")
    out = subprocess.run([harness.binary("xo-synth"), "--bootstrap", k.bootstrap, "--pools", "1",
                          "--objects", str(objects), "--seed", str(seed), "--summary", summary,
                          *extra],
                         capture_output=True, check=True, timeout=120 * S).stdout.decode()
    pools = [l.split()[1] for l in out.splitlines() if l.startswith("pool: ")]
    with open(summary) as f:
        return pools, json.load(f)


def check_pipelined(gw):
    ws = g.WsClient(gw.port)
    assert "result" in ws.call("session.signIn", {"email": g.ADMIN[0], "password": g.ADMIN[1]})
    sends0 = metric(gw, "xo_gateway_ws_gathered_sends_total")
    answers = ws.call_pipelined(PIPELINED)
    ws.close()
    calls = PIPELINED
    assert [a["id"] for a in answers] == list(range(100, 100 + len(calls))), \
        [a["id"] for a in answers]
    assert all("result" in a for a in answers), [a for a in answers if "result" not in a][:1]
    big = len(json.dumps(answers[5]["result"]))
    assert big > 64 * 1024, f"getAllObjects answered only {big} bytes: not a chunked write"
    sends = metric(gw, "xo_gateway_ws_gathered_sends_total") - sends0
    print(f"  pipelined: {len(calls)} answers in order (getAllObjects {big} bytes), "
          f"{sends} gathered sends")
    assert sends >= 1, "no answers were gathered into one send"


def check_behind(gw, k, st):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30 * S)
    s.connect(("127.0.0.1", gw.port))
    ws = g.WsClient(gw.port, sock=s)
    assert "result" in ws.call("session.signIn", {"email": g.ADMIN[0], "password": g.ADMIN[1]})
    msgs0 = metric(gw, "xo_gateway_ws_gathered_messages_total")
    # not reading while the pool is dumped again with renames (a notification far larger
    # than the socket's buffers: written in chunks, the client stays behind), then while
    # small pools arrive one by one (small notifications queued behind it)
    def sent_after(step):  # each step its own notification: wait for the gateway's flush
        n = metric(gw, "xo_gateway_notifications_total")
        out = step()
        harness.wait_until(lambda: metric(gw, "xo_gateway_notifications_total") > n, 30, 0.02,
                           "notification sent")
        return out

    _, summary = sent_after(lambda: synth(k, st, ["--rename", str(RENAMES)]))
    final = {vm: v["name_label"] for vm, v in summary["vms"].items()}
    for seed in range(100, 100 + SMALL_POOLS):
        _, small = sent_after(lambda: synth(k, st, objects=12, seed=seed))
        final.update({vm: v["name_label"] for vm, v in small["vms"].items()})
    got, notifications = {}, 0
    deadline = time.monotonic() + 60 * S
    while time.monotonic() < deadline and any(got.get(vm) != name for vm, name in final.items()):
        op, payload = ws.recv_frame()
        # text (0 for a message of several frames: WsClient returns its last frame's opcode)
        assert op in (0, 1), f"opcode {op}"
        msg = json.loads(payload)  # every message whole
        if msg.get("method") != "all":
            continue
        notifications += 1
        if msg["params"]["type"] == "enter":
            for oid, o in msg["params"]["items"].items():
                if o.get("type") == "VM":
                    got[oid] = o.get("name_label")
    ws.close()
    wrong = [vm for vm, name in final.items() if got.get(vm) != name]
    gathered = metric(gw, "xo_gateway_ws_gathered_messages_total") - msgs0
    print(f"  behind: {notifications} notifications read, {len(final)} VMs, "
          f"{gathered} messages sent gathered")
    assert not wrong, f"{len(wrong)} VMs without their final name, e.g. {wrong[:3]}"
    assert gathered >= 2, "the client behind never got messages gathered into one send"


def main():
    with harness.Stack() as st:
        k = st.start_kafka()
        pools, _ = synth(k, st)
        gw = st.start_gateway(k)
        g.wait_synced(gw, pools)
        check_pipelined(gw)
        check_behind(gw, k, st)
        st_, _, _ = g.http_get(gw.url + "/healthz")
        assert st_ == 200 and gw.proc.alive(), "the gateway did not survive"
        assert gw.proc.stop() == 0, gw.proc.log_text()[-3000:]
    print("PASS")


if __name__ == "__main__":
    main()
