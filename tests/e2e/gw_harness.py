"""Gateway-specific helpers for the e2e tests (on top of harness.py).

- node(): run tests/e2e/node/xo_client.js (the npm xo-lib client, pinned in
  package-lock.json, installed with `npm ci` on first use);
- Follower: an xo-lib client that keeps a copy of the view from `all` notifications;
- expected_from_truth(): what xo.getAllObjects must answer for a simulator's /sim/truth;
- WsClient: a minimal raw WebSocket client to send what xo-lib never would (malformed
  JSON, oversized frames);
- http_get(): plain HTTP with optional auth headers.
Every wait is bounded (harness.SCALE stretches them under sanitizers).
"""
import base64
import collections
import fcntl
import json
import os
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request

import harness

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
CLIENT = os.path.join(NODE_DIR, "xo_client.js")
ADMIN = ("admin@admin.net", "admin")


def ensure_node_modules():
    """npm ci on first use, under a lock on the directory: e2e tests run in parallel, and
    one test's `npm ci` (which deletes node_modules first) must not run under another's
    check or use of it (scripts/demo.sh takes the same lock)."""
    fd = os.open(NODE_DIR, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "xo-lib")):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                           capture_output=True, timeout=300)
    finally:
        os.close(fd)


def node(*args, timeout=120):
    """Run xo_client.js; returns the parsed JSON of its last stdout line."""
    ensure_node_modules()
    r = subprocess.run(["node", CLIENT, *args], capture_output=True, timeout=timeout * harness.SCALE)
    if r.returncode != 0:
        raise RuntimeError(f"xo_client {args[0]} failed: {r.stderr.decode()[-2000:]}")
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def get_all(url, creds=ADMIN, filter=None):
    args = ["snapshot", url, *creds]
    if filter is not None:
        args.append(json.dumps(filter))
    return node(*args)


class Follower:
    """xo-lib client following `all` notifications; dump() returns its copy."""

    def __init__(self, url, creds=ADMIN):
        ensure_node_modules()
        self.p = subprocess.Popen(["node", CLIENT, "follow", url, *creds], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self._cond = threading.Condition()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        self._wait(lambda l: l == "ready", 60)

    def _read(self):
        for raw in self.p.stdout:
            with self._cond:
                self.lines.append(raw.decode().rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _wait(self, pred, timeout, start=0):
        deadline = time.monotonic() + timeout * harness.SCALE
        with self._cond:
            while True:
                for l in self.lines[start:]:
                    if pred(l):
                        return l
                if self.p.poll() is not None:
                    raise RuntimeError("follower exited: " + self.p.stderr.read().decode()[-2000:])
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("follower: no answer")
                self._cond.wait(min(left, 0.5))

    def dump(self):
        n = len(self.lines)
        self.p.stdin.write(b"dump\n")
        self.p.stdin.flush()
        return json.loads(self._wait(lambda l: l.startswith("{"), 60, start=n))

    def close(self):
        try:
            self.p.stdin.write(b"quit\n")
            self.p.stdin.flush()
            self.p.wait(10)
        except Exception:
            self.p.kill()
            self.p.wait()


VM_TYPES = ("VM", "VM-controller", "VM-snapshot", "VM-template")
SIMPLE = {"pool": "pool", "host": "host", "sr": "SR", "pbd": "PBD", "vbd": "VBD", "vif": "VIF",
          "pif": "PIF", "network": "network", "message": "message", "task": "task"}


def _true(v):
    return v is True or v == "true" or v == 1


def expected_from_truth(truth, pool_uuid):
    """{xo_id: (type, name_label or None, power_state or None)} for one simulator."""
    out = {}
    for cls, records in truth.items():
        for ref, r in records.items():
            uuid = r.get("uuid") or ref
            if cls == "vm":
                if _true(r.get("is_control_domain")):
                    t = "VM-controller"
                elif _true(r.get("is_a_snapshot")):
                    t = "VM-snapshot"
                elif _true(r.get("is_a_template")):
                    t = "VM-template"
                else:
                    t = "VM"
                xid = uuid
                if t == "VM-template" and (_true(r.get("is_default_template")) or
                                           (r.get("other_config") or {}).get("default_template") == "true"):
                    xid = f"{pool_uuid}-{uuid}"
                out[xid] = (t, r.get("name_label"), r.get("power_state"))
            elif cls == "vdi":
                if _true(r.get("is_a_snapshot")):
                    t = "VDI-snapshot"
                elif "managed" in r and not _true(r.get("managed")):
                    t = "VDI-unmanaged"
                else:
                    t = "VDI"
                out[uuid] = (t, r.get("name_label"), None)
            elif cls in SIMPLE:
                out[uuid] = (SIMPLE[cls], r.get("name_label"), None)
    return out


def summarize(objects):
    """{id: (type, name_label-if-VM-like, power_state-if-VM)} of a getAllObjects map or dump."""
    out = {}
    for xid, o in objects.items():
        vm = o["type"] in VM_TYPES
        out[xid] = (o["type"], o.get("name_label") if vm else None, o.get("power_state") if vm else None)
    return out


def compare(expected, got):
    """Differences between two summaries (restricted to VM fields); [] when equal."""
    diffs = []
    ce = collections.Counter(t for t, _, _ in expected.values())
    cg = collections.Counter(t for t, _, _ in got.values())
    if ce != cg:
        diffs.append(f"counts differ: expected {dict(ce)} got {dict(cg)}")
    for xid, (t, name, ps) in expected.items():
        g = got.get(xid)
        if g is None:
            diffs.append(f"missing {t} {xid}")
        elif t in VM_TYPES and (g[0], g[1], g[2]) != (t, name, ps):
            diffs.append(f"{xid}: expected {(t, name, ps)} got {g}")
        elif g[0] != t:
            diffs.append(f"{xid}: expected type {t} got {g[0]}")
    for xid in got:
        if xid not in expected:
            diffs.append(f"unexpected {got[xid][0]} {xid}")
    return diffs


def expected_all(sims):
    exp = {}
    for s in sims:
        exp.update(expected_from_truth(s.truth(), s.pool_uuid))
    return exp


def strip_vm_fields(summary):
    return {k: (t, n if t in VM_TYPES else None, p if t in VM_TYPES else None)
            for k, (t, n, p) in summary.items()}


# ---- raw WebSocket, for what xo-lib would never send ----

class WsClient:
    def __init__(self, port, path="/api/", timeout=10, protocol=None, sock=None):
        """A WebSocket client of the gateway on port, over sock when given (an already
        connected socket: TLS-wrapped, or with its own buffer sizes)."""
        self.s = sock or socket.create_connection(("127.0.0.1", port),
                                                  timeout=timeout * harness.SCALE)
        key = base64.b64encode(os.urandom(16)).decode()
        named = f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol else ""
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n{named}"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(4096)
            if not chunk:
                raise ConnectionError("closed during handshake")
            head += chunk
        self.status = int(head.split(b" ", 2)[1])
        self.buf = head.split(b"\r\n\r\n", 1)[1]
        if self.status != 101:
            raise ConnectionError(f"handshake status {self.status}")

    def send_frame(self, payload, opcode=1, fin=True):
        if isinstance(payload, str):
            payload = payload.encode()
        mask = os.urandom(4)
        n = len(payload)
        hdr = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 1 << 20 else \
            _mask_fast(payload, mask)
        self.s.sendall(hdr + mask + masked)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        """(opcode, payload) of the next complete message (fragments joined)."""
        data = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            op = b0 & 0x0F
            payload = self._read(n)
            if op == 8:
                return 8, payload
            if op in (9, 10):
                continue
            data += payload
            if b0 & 0x80:
                return op, data

    def call_pipelined(self, calls, first_id=100):
        """Send every (method, params) call in one write without waiting, then read their
        answers: [answer] in the order they came."""
        frames = []
        for i, (method, params) in enumerate(calls):
            payload = json.dumps({"jsonrpc": "2.0", "method": method, "params": params,
                                  "id": first_id + i}).encode()
            assert len(payload) < 126
            frames.append(bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
        self.s.sendall(b"".join(frames))  # masked with a zero key: the payload unchanged
        return [self.recv_json() for _ in calls]

    def call(self, method, params=None, id=1):
        self.send_frame(json.dumps({"jsonrpc": "2.0", "method": method, "params": params or {}, "id": id}))
        return self.recv_json()

    def recv_json(self):
        while True:
            op, payload = self.recv_frame()
            if op == 8:
                raise ConnectionError(f"closed by server: {payload[:2].hex()} {payload[2:]!r}")
            msg = json.loads(payload)
            if "id" in msg:  # skip notifications
                return msg

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def _mask_fast(payload, mask):
    import itertools
    n = len(payload)
    m = int.from_bytes((mask * ((n + 3) // 4))[:n], "big")
    return (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big")


def http_get(url, headers=None, timeout=30):
    """(status, body bytes, headers)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout * harness.SCALE) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def wait_loaded(gw, timeout=60):
    def ok():
        st, body, _ = http_get(gw.url + "/healthz", timeout=5)
        return st == 200 and json.loads(body)["loaded"]
    harness.wait_until(ok, timeout, what="gateway view loaded")


def wait_synced(gw, pools, timeout=120):
    """Every pool's _sync marker and its agent's heartbeat read (the gateway serves a pool's
    objects only once a heartbeat announced the pool), nothing left to read."""
    def ok():
        st, body, _ = http_get(gw.url + "/healthz", timeout=5)
        h = json.loads(body)
        synced = {p["uuid"] for p in h["pools"] if p["synced"] and p.get("agent")}
        return h["lag"] == 0 and all(p in synced for p in pools)
    harness.wait_until(ok, timeout, what="pools synced and announced in the gateway")
