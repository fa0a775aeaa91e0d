"""Hostile clients against the gateway's transport (issue 10): bounded memory per
connection, a deadline on every connection state, every answer with its reason phrase.
Each check reproduces one finding of the issue, through the real listener on loopback:

- a viewer that stops reading and keeps calling xo.getAllObjects: the gateway's RSS stays
  under limits.client_queue_bytes plus a small constant, and the connection is closed
  (socket reset, not left ESTABLISHED) and counted in /metrics;
- calls in flight per connection are bounded: vm.* calls waiting for their commands are at
  most limits.max_calls_in_flight, the next ones wait (all are answered in the end);
- CONNECT and unknown methods answered (405/501) and closed, a hundred at once;
- deadlines: a connection that sends nothing, headers trickled, a POST or PATCH body
  trickled (408), a WebSocket that never signs in (idle or busy): closed after their
  timeouts.*; a body over the limit is refused at once (413), whatever the method;
- a REST ?watch=true stream is open on purpose: idle past every deadline, still streaming;
- 431 for oversized headers and 414 for an oversized URL (also far past the limits);
- the reason phrase of every status provoked, 429 from the sign-in throttle included.

Bounded in time (about a minute, stretched under sanitizers). Pointed at an older build
(XO_BUILD_DIR=...), settings that build does not know are left out, so each check runs
against its defaults and fails on its own finding.
"""
import base64
import json
import os
import re
import socket
import subprocess
import threading
import time

import gw_harness as g
import harness

SANITIZED = os.environ.get("XO_SANITIZE") == "1"
QUEUE = 4 << 20  # limits.client_queue_bytes of the test's gateway
# RSS allowed beyond QUEUE: the answer being built when the bound is hit (one copy of the
# view's JSON plus buffer growth), libwebsockets' chunk, allocator slack
RSS_SLACK = 24 << 20
DEADLINE = 2  # seconds: every timeouts.* of the test's gateway
MAX_URL, MAX_HEADER, IN_FLIGHT = 2048, 4096, 4
CMD_TIMEOUT_MS = 1000
VIEWER = ("view@x.org", "viewer pw")
ADMIN = ("admin@admin.net", "admin")
S = harness.SCALE


def known_settings():
    out = subprocess.run([harness.binary("xo-gateway"), "--print-config-docs"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return set(re.findall(r"^\| `([a-z_.]+)`", out, re.M))


def gateway_settings(keys):
    wanted = {
        "users": {"file": None},
        "limits": {"client_queue_bytes": QUEUE, "max_calls_in_flight": IN_FLIGHT,
                   "max_url_bytes": MAX_URL, "max_header_bytes": MAX_HEADER},
        "timeouts": {"headers_s": DEADLINE, "body_s": DEADLINE, "keepalive_s": DEADLINE,
                     "signin_s": DEADLINE, "send_s": 30},
        "commands": {"private_key": os.path.join(keys, "gateway.key"),
                     "timeout_ms": CMD_TIMEOUT_MS, "clock_skew_ms": 0},
    }
    known = known_settings()
    out = {}
    for section, kv in wanted.items():
        for k, v in kv.items():
            if f"{section}.{k}" in known:
                out.setdefault(section, {})[k] = str(v)
    return out


def synth(k, st):
    """Synthetic pools in Kafka: (pool uuids, the expected view's summary)."""
    summary = st.path("synth.json")
    out = subprocess.run([harness.binary("xo-synth"), "--bootstrap", k.bootstrap, "--pools",
                          "2", "--objects", "4000", "--seed", "10", "--summary", summary],
                         capture_output=True, check=True, timeout=120).stdout.decode()
    pools = [l.split()[1] for l in out.splitlines() if l.startswith("pool: ")]
    return pools, json.load(open(summary))


def add_users(st):
    users = st.path("users")
    for (email, pw), perm in ((ADMIN, "admin"), (VIEWER, "viewer")):
        subprocess.run([harness.binary("xo-gateway"), "useradd", "--users", users, "--email",
                        email, "--permission", perm], input=(pw + "\n").encode(),
                       capture_output=True, timeout=30, check=True)
    return users


# ---- probes ----

def rss(gw):
    with open(f"/proc/{gw.proc.p.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


def metric(gw, name):
    _, body, _ = g.http_get(gw.url + "/metrics")
    m = re.search(r"^" + re.escape(name) + r" (\d+)", body.decode(), re.M)
    return int(m.group(1)) if m else 0


def established(gw_port, client_port):
    """Is the gateway's side of this loopback connection still ESTABLISHED?"""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, remote, state = f[1], f[2], f[3]
            if (int(local.split(":")[1], 16) == gw_port and
                    int(remote.split(":")[1], 16) == client_port and state == "01"):
                return True
    return False


def read_until_closed(s, timeout):
    """(bytes read, closed?) reading until the peer closes or resets, or timeout."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def connect(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10 * S)
    s.connect(("127.0.0.1", port))
    return s


def ws_on(s, port):
    """A gw_harness.WsClient over an already connected socket."""
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /api/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed during handshake")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:80]
    ws = g.WsClient.__new__(g.WsClient)
    ws.s, ws.buf, ws.status = s, head.split(b"\r\n\r\n", 1)[1], 101
    return ws


def status_line(data):
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def request(port, data, timeout=10):
    """Send raw bytes; (status line, closed?) of the answer."""
    s = connect(port)
    try:
        s.sendall(data)
        got, closed = read_until_closed(s, timeout * S)
        return status_line(got), closed
    finally:
        s.close()


def call_ok(port, creds, method="system.getVersion"):
    ws = g.WsClient(port)
    try:
        r = ws.call("session.signIn", {"email": creds[0], "password": creds[1]})
        assert "result" in r, r
        return ws.call(method)
    finally:
        ws.close()


# ---- the checks, one per finding ----

def check_queue_bound(gw):
    """A viewer that stops reading and calls xo.getAllObjects 150 times."""
    ws = g.WsClient(gw.port)
    ws.call("session.signIn", {"email": VIEWER[0], "password": VIEWER[1]})
    ws.send_frame(json.dumps({"jsonrpc": "2.0", "method": "xo.getAllObjects", "params": {}, "id": 0}))
    _, payload = ws.recv_frame()
    ws.close()
    answer = len(payload)
    dropped0 = metric(gw, 'xo_gateway_connections_closed_total{reason="queue"}')
    base = rss(gw)

    s = connect(gw.port, rcvbuf=65536)
    ws = ws_on(s, gw.port)
    assert "result" in ws.call("session.signIn", {"email": VIEWER[0], "password": VIEWER[1]})
    client_port = s.getsockname()[1]
    msg = json.dumps({"jsonrpc": "2.0", "method": "xo.getAllObjects", "params": {}, "id": 1})
    sent = [0]

    def flood():
        try:
            for _ in range(150):
                ws.send_frame(msg)
                sent[0] += 1
        except OSError:
            pass  # the gateway closed the connection

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    peak, closed_at = base, None
    start = time.monotonic()
    while time.monotonic() - start < 20 * S:
        peak = max(peak, rss(gw))
        if metric(gw, 'xo_gateway_connections_closed_total{reason="queue"}') > dropped0:
            closed_at = time.monotonic() - start
            break
        time.sleep(0.05)
    peak = max(peak, rss(gw))
    t.join(10 * S)
    _, client_saw_close = read_until_closed(s, 10 * S)
    still = established(gw.port, client_port)
    s.close()
    grew = peak - base
    print(f"  answer {answer} bytes; {sent[0]} calls sent; RSS +{grew >> 20} MiB "
          f"(bound {QUEUE >> 20} MiB + {RSS_SLACK >> 20}); closed after "
          f"{closed_at if closed_at is None else round(closed_at, 1)} s")
    assert closed_at is not None, "the non-reading client was not disconnected (not counted)"
    assert client_saw_close, "the client's socket was not closed"
    assert not still, "the gateway's side of the connection is still ESTABLISHED"
    if not SANITIZED:  # ASan keeps freed memory in quarantine: RSS means nothing there
        assert grew < QUEUE + RSS_SLACK, f"RSS grew {grew >> 20} MiB"
    assert metric(gw, "xo_gateway_clients_dropped_total") >= 1


def check_calls_in_flight(gw, vm_id):
    """12 vm.start calls whose commands no agent answers: at most IN_FLIGHT wait at once."""
    ws = g.WsClient(gw.port, timeout=30)
    assert "result" in ws.call("session.signIn", {"email": ADMIN[0], "password": ADMIN[1]})
    for i in range(12):
        ws.send_frame(json.dumps({"jsonrpc": "2.0", "method": "vm.start",
                                  "params": {"id": vm_id}, "id": 100 + i}))
    most = 0
    answers = {}
    start = time.monotonic()
    ws.s.settimeout(0.1)
    while len(answers) < 12 and time.monotonic() - start < 20 * S:
        most = max(most, metric(gw, "xo_gateway_commands_pending"))
        try:
            r = ws.recv_json()
            answers[r["id"]] = r
        except socket.timeout:
            pass
    ws.close()
    took = time.monotonic() - start
    print(f"  12 calls answered: {len(answers)} in {took:.1f} s; at most {most} pending at once")
    assert len(answers) == 12, f"only {len(answers)} of 12 calls answered"
    assert all("error" in r for r in answers.values()), answers
    assert most <= IN_FLIGHT, f"{most} commands in flight on one connection (limit {IN_FLIGHT})"


def check_refused_methods(gw):
    """CONNECT (a hundred at once) and an unknown method: answered, then closed."""
    socks = [connect(gw.port) for _ in range(100)]
    for s in socks:
        s.sendall(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n")
    deadline = time.monotonic() + 5 * S  # one deadline for all of them
    results = [read_until_closed(s, max(0.05, deadline - time.monotonic())) for s in socks]
    for s in socks:
        s.close()
    lines = {status_line(d) for d, _ in results}
    closed = sum(c for _, c in results)
    print(f"  CONNECT x100: {lines}, {closed} closed")
    assert lines == {"HTTP/1.1 405 Method Not Allowed"}, lines
    assert closed == 100, f"{100 - closed} CONNECT connections left open"
    line, closed = request(gw.port, b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    assert line == "HTTP/1.1 501 Not Implemented" and closed, (line, closed)


def check_header_deadline(gw):
    """A connection that sends nothing, and one that trickles its headers."""
    s = connect(gw.port)
    start = time.monotonic()
    _, closed = read_until_closed(s, (DEADLINE + 4) * S)
    idle = time.monotonic() - start
    s.close()
    assert closed, f"a silent connection still open after {idle:.1f} s"
    s = connect(gw.port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    start = time.monotonic()
    closed = False
    while time.monotonic() - start < (DEADLINE + 4) * S and not closed:
        try:
            s.sendall(b"a")
        except OSError:
            closed = True
            break
        _, closed = read_until_closed(s, 0.25)
    slow = time.monotonic() - start
    s.close()
    print(f"  silent connection closed after {idle:.1f} s; trickled headers after {slow:.1f} s")
    assert closed, f"trickled headers still read after {slow:.1f} s"


def check_body_deadline(gw, vm_id, target=None):
    """A POST announcing 60,000 bytes and sending one every 0.2 s: 408, closed. (The
    issue's 100,000 bytes are over the body limit: 413 at once, see the phrases.) Any
    method with a body keeps the deadline: `target` is another method and path."""
    s = connect(gw.port)
    auth = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    target = target or f"POST /rest/v0/vms/{vm_id}/actions/start"
    s.sendall((f"{target} HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Basic {auth}\r\nContent-Type: application/json\r\n"
               "Content-Length: 60000\r\n\r\n").encode())
    start = time.monotonic()
    got, closed = b"", False
    while time.monotonic() - start < (DEADLINE + 5) * S and not closed:
        try:
            s.sendall(b" ")
        except OSError:
            closed = True
            break
        data, closed = read_until_closed(s, 0.2)
        got += data
    took = time.monotonic() - start
    s.close()
    print(f"  trickled body ({target.split()[0]}): {status_line(got) or 'no answer'}, "
          f"closed after {took:.1f} s")
    assert closed, f"a trickled {target.split()[0]} body still read after {took:.1f} s"
    assert not got or status_line(got) == "HTTP/1.1 408 Request Timeout", got[:80]


def check_watch_stream(gw, vm_id):
    """GET /rest/v0/tasks?watch=true is open on purpose: idle past every deadline (headers,
    body, keep-alive: DEADLINE each), it is not closed, and a new task still arrives."""
    auth = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    s = connect(gw.port)
    client_port = s.getsockname()[1]
    s.sendall((f"GET /rest/v0/tasks?watch=true&ndjson=true&fields=id,properties HTTP/1.1\r\n"
               f"Host: x\r\nAuthorization: Basic {auth}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, f"closed before the stream's headers: {head[:80]}"
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    assert status_line(head) == "HTTP/1.1 200 OK", head[:80]
    idle = 2 * DEADLINE + 1
    data, closed = read_until_closed(s, idle * S)
    still = established(gw.port, client_port)
    line, _ = request(gw.port, (f"POST /rest/v0/vms/{vm_id}/actions/pause HTTP/1.1\r\n"
                                f"Host: x\r\nConnection: close\r\n"
                                f"Authorization: Basic {auth}\r\n\r\n").encode())
    got, deadline = rest + data, time.monotonic() + 10 * S
    while vm_id.encode() not in got and time.monotonic() < deadline and not closed:
        more, closed = read_until_closed(s, 0.5)
        got += more
    s.close()
    updates = got.count(b'["update",')
    print(f"  watch stream: idle {idle} s, open: {not closed and still}; action {line}; "
          f"{updates} update lines")
    assert not closed and still, f"the idle watch stream was closed within {idle} s"
    assert line == "HTTP/1.1 202 Accepted", line
    assert b'["update",' in got and vm_id.encode() in got, got[:200]


def check_signin_deadline(gw):
    """WebSockets that never sign in, idle or busy, are closed; a signed-in one is not."""
    signed = g.WsClient(gw.port)
    assert "result" in signed.call("session.signIn", {"email": VIEWER[0], "password": VIEWER[1]})
    idle, busy = g.WsClient(gw.port), g.WsClient(gw.port)
    start = time.monotonic()
    closed = {"idle": None, "busy": None}
    while time.monotonic() - start < (DEADLINE + 4) * S and None in closed.values():
        try:
            if closed["busy"] is None:
                busy.call("system.getVersion")
        except (ConnectionError, OSError):
            closed["busy"] = time.monotonic() - start
        if closed["idle"] is None:
            _, c = read_until_closed(idle.s, 0.3)
            if c:
                closed["idle"] = time.monotonic() - start
    idle.close()
    busy.close()
    print(f"  not signed in: closed after {closed}")
    assert None not in closed.values(), f"WebSocket not signed in still open: {closed}"
    assert signed.call("system.getVersion")["result"], "the signed-in client was closed"
    signed.close()


def check_oversized(gw):
    """431 for headers over the limit, 414 for a URL over it, also far past them."""
    cases = [
        (b"Cookie: a=" + b"x" * (MAX_HEADER + 100), "431 Request Header Fields Too Large"),
        (b"Cookie: a=" + b"x" * (60000), "431 Request Header Fields Too Large"),
        (b"User-Agent: " + b"u" * (MAX_HEADER // 2) + b"\r\nReferer: " + b"r" * (MAX_HEADER // 2),
         "431 Request Header Fields Too Large"),
    ]
    for header, want in cases:
        line, closed = request(gw.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header +
                               b"\r\n\r\n")
        assert line == "HTTP/1.1 " + want and closed, (len(header), line, closed)
    for n in (MAX_URL + 100, 200000):
        line, closed = request(gw.port, b"GET /rest/v0/vms/" + b"a" * n +
                               b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert line == "HTTP/1.1 414 URI Too Long" and closed, (n, line, closed)
    print("  431 for headers over the limit (up to 60,000 bytes), 414 for URLs up to 200,000")
    st, _, _ = g.http_get(gw.url + "/healthz", {"Cookie": "a=" + "x" * (MAX_HEADER // 2)})
    assert st == 200, st
    # a query argument the gateway cannot hold is refused, never dropped: a filter that was
    # ignored would answer the whole collection
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin@admin.net:admin").decode()}
    for query in ("filter=" + "a" * 5000, "&".join(f"a{i}=1" for i in range(40))):
        st, body, _ = g.http_get(gw.url + "/rest/v0/vms?" + query, auth)
        assert (st == 400 and b"query arguments" in body) or st == 414, (query[:16], st, body[:80])


def check_reason_phrases(gw, vm_id):
    """Every status the gateway answers carries its reason phrase (429 included)."""
    auth = "Authorization: Basic " + base64.b64encode(b"admin@admin.net:admin").decode()
    cases = [
        ("GET /healthz", "", 200, "OK"),
        ("GET /nope", "", 404, "Not Found"),
        ("GET /rest/v0/vms", "", 401, "Unauthorized"),
        ("GET /rest/v0/vms?limit=abc", auth, 400, "Bad Request"),
        ("PUT /rest/v0/vms", auth + "\r\nContent-Length: 0", 405, "Method Not Allowed"),
        (f"POST /rest/v0/vms/{vm_id}/actions/start", auth + "\r\nTransfer-Encoding: chunked",
         411, "Length Required"),
        (f"POST /rest/v0/vms/{vm_id}/actions/start", auth + "\r\nContent-Length: 9999999",
         413, "Content Too Large"),
        (f"POST /rest/v0/vms/{vm_id}/actions/start", auth + "\r\nContent-Length: 2", 202,
         "Accepted"),
        # the other methods with a body (PATCH, PUT, DELETE) are refused alike
        (f"PATCH /rest/v0/vms/{vm_id}", auth + "\r\nTransfer-Encoding: chunked", 411,
         "Length Required"),
        (f"PUT /rest/v0/vms/{vm_id}/tags/t", auth + "\r\nContent-Length: 9999999", 413,
         "Content Too Large"),
        (f"DELETE /rest/v0/vms/{vm_id}", auth + "\r\nContent-Length: many", 400,
         "Bad Request"),
        # no Content-Length and no Transfer-Encoding: an empty body (curl -X POST)
        (f"POST /rest/v0/vms/{vm_id}/actions/start", auth, 202, "Accepted"),
    ]
    for target, headers, code, reason in cases:
        extra = (headers + "\r\n") if headers else ""
        body = "{}" if "Content-Length: 2" in headers else ""
        line, _ = request(gw.port, f"{target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                   f"{extra}\r\n{body}".encode(), timeout=15)
        assert line == f"HTTP/1.1 {code} {reason}", (target, line)
    # the sign-in throttle: wrong passwords from one address until 429
    bad = "Authorization: Basic " + base64.b64encode(b"view@x.org:wrong").decode()
    lines = []
    for _ in range(8):
        line, _ = request(gw.port, f"GET /rest/v0/vms HTTP/1.1\r\nHost: x\r\nConnection: close"
                                   f"\r\n{bad}\r\n\r\n".encode())
        lines.append(line)
        if "429" in line:
            break
    assert lines[-1] == "HTTP/1.1 429 Too Many Requests", lines
    print(f"  reason phrases: {len(cases) + 1} statuses, 429 included")


def main():
    checks = []
    with harness.Stack() as st:
        k = st.start_kafka()
        pools, summary = synth(k, st)
        keys = st.path("keys")
        subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                       capture_output=True, timeout=30)
        extra = gateway_settings(keys)
        if "users" in extra:
            extra["users"]["file"] = add_users(st)
        # commands need agent keys trusted for the pools (commands.agent_keys); no agent runs
        # here, so no result ever comes: the vm.* calls wait, as the checks want
        gw = st.start_gateway(k, extra=extra, agent_pools=pools)
        g.wait_synced(gw, pools)
        vm_id = next(iter(summary["vms"]))
        checks = [
            ("queue bound", lambda: check_queue_bound(gw)),
            ("calls in flight", lambda: check_calls_in_flight(gw, vm_id)),
            ("CONNECT and unknown methods", lambda: check_refused_methods(gw)),
            ("header deadline", lambda: check_header_deadline(gw)),
            ("body deadline", lambda: check_body_deadline(gw, vm_id)),
            ("body deadline (PATCH)",
             lambda: check_body_deadline(gw, vm_id, f"PATCH /rest/v0/vms/{vm_id}")),
            ("watch stream outlives the deadlines", lambda: check_watch_stream(gw, vm_id)),
            ("sign-in deadline", lambda: check_signin_deadline(gw)),
            ("431 and 414", lambda: check_oversized(gw)),
            ("reason phrases", lambda: check_reason_phrases(gw, vm_id)),  # last: throttles
        ]
        failed = []
        for name, fn in checks:
            t0 = time.monotonic()
            try:
                fn()
                print(f"ok   {name} ({time.monotonic() - t0:.1f} s)")
            except Exception as e:  # run every check: each is one finding of the issue
                failed.append(name)
                print(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {type(e).__name__}: {e}")
        st_, _, _ = g.http_get(gw.url + "/healthz")
        assert st_ == 200 and gw.proc.alive(), "the gateway did not survive"
        assert not failed, f"failed: {', '.join(failed)}"
        # and stops cleanly (under sanitizers: no leak, no error on the way out)
        assert gw.proc.stop() == 0, gw.proc.log_text()[-3000:]
    print("PASS")


if __name__ == "__main__":
    main()
