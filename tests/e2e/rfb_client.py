"""A raw WebSocket + RFB 3.8 client for the console tests and bench: what noVNC does on
/api/consoles/<id>, byte for byte, with the refusals made visible (HTTP status before the
upgrade, close code and reason after). Also opens the simulator's own /console directly
(the baseline of the bench). Standard library only; loopback only."""
import base64
import os
import socket
import ssl
import struct
import time
import xmlrpc.client

import harness


class Refused(Exception):
    """The upgrade was answered with an HTTP status, not 101."""

    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body


class Closed(Exception):
    """The server closed the WebSocket (code and reason of its close frame)."""

    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


class WsConn:
    def __init__(self, host, port, path, headers=None, protocol=None, timeout=10, tls=False):
        self.s = socket.create_connection((host, port), timeout=timeout * harness.SCALE)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl._create_unverified_context()
            self.s = ctx.wrap_socket(self.s, server_hostname=host)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        if protocol:
            extra += f"Sec-WebSocket-Protocol: {protocol}\r\n"
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n{extra}"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.s.recv(4096)
            if not chunk:
                raise Refused(0, head)
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ", 2)[1])
        self.headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip()
                        for l in lines[1:] if ":" in l}
        if self.status != 101:
            body = self.buf
            try:
                self.s.settimeout(2)
                while len(body) < int(self.headers.get("content-length", "0")):
                    chunk = self.s.recv(4096)
                    if not chunk:
                        break
                    body += chunk
            except OSError:
                pass
            self.s.close()
            raise Refused(self.status, body.decode("utf-8", "replace").strip())
        self.data = b""      # payload bytes received, not yet consumed
        self.closed = None

    def send(self, payload, opcode=2):
        mask = os.urandom(4)
        n = len(payload)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        m = int.from_bytes((mask * ((n + 3) // 4))[:n], "big") if n else 0
        body = (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big") if n else b""
        self.s.sendall(hdr + mask + body)

    def _raw(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise Closed(1006, "connection lost")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _frame(self):
        b0, b1 = self._raw(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._raw(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._raw(8))[0]
        if b1 & 0x80:
            key = self._raw(4)
            payload = bytes(a ^ key[i % 4] for i, a in enumerate(self._raw(n)))
        else:
            payload = self._raw(n)
        return b0 & 0x0F, payload

    def read(self, n):
        """Exactly n payload bytes (across frames)."""
        while len(self.data) < n:
            op, payload = self._frame()
            if op == 8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.closed = (code, payload[2:].decode("utf-8", "replace"))
                raise Closed(*self.closed)
            if op in (0, 1, 2):
                self.data += payload
        out, self.data = self.data[:n], self.data[n:]
        return out

    def wait_close(self, timeout=20):
        """The close frame's (code, reason), reading and dropping data until then."""
        self.s.settimeout(timeout * harness.SCALE)
        try:
            while True:
                self.read(len(self.data) + 1)
        except Closed as e:
            return e.code, e.reason

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Rfb:
    """RFB 3.8, security None, Raw encoding, 32 bpp as the server announces it."""

    def __init__(self, ws):
        self.ws = ws
        self.width = self.height = 0
        self.name = ""
        self.bpp = 4

    def handshake(self, encodings=(0, -223)):
        version = self.ws.read(12)
        assert version.startswith(b"RFB 003."), version
        self.ws.send(b"RFB 003.008\n")
        n = self.ws.read(1)[0]
        types = self.ws.read(n)
        assert 1 in types, types
        self.ws.send(b"\x01")
        assert struct.unpack(">I", self.ws.read(4))[0] == 0
        self.ws.send(b"\x01")  # shared
        w, h = struct.unpack(">HH", self.ws.read(4))
        pf = self.ws.read(16)
        nlen = struct.unpack(">I", self.ws.read(4))[0]
        self.name = self.ws.read(nlen).decode("utf-8", "replace")
        self.width, self.height, self.bpp = w, h, pf[0] // 8
        if encodings:
            self.ws.send(struct.pack(">BxH", 2, len(encodings)) +
                         b"".join(struct.pack(">i", e) for e in encodings))
        return version

    def request(self, incremental=False, rect=None):
        x, y, w, h = rect or (0, 0, self.width, self.height)
        self.ws.send(struct.pack(">BBHHHH", 3, 1 if incremental else 0, x, y, w, h))

    def read_update(self):
        """One FramebufferUpdate: [(x, y, w, h, encoding, data)]; skips Bell/cut text."""
        while True:
            t = self.ws.read(1)[0]
            if t == 0:
                break
            if t == 2:
                continue
            if t == 3:
                self.ws.read(3)
                self.ws.read(struct.unpack(">I", self.ws.read(4))[0])
                continue
            raise AssertionError(f"unexpected server message {t}")
        self.ws.read(1)
        n = struct.unpack(">H", self.ws.read(2))[0]
        rects = []
        for _ in range(n):
            x, y, w, h, enc = struct.unpack(">HHHHi", self.ws.read(12))
            data = b""
            if enc == 0:
                data = self.ws.read(w * h * self.bpp)
            elif enc == -223:
                self.width, self.height = w, h
            else:
                raise AssertionError(f"unexpected encoding {enc}")
            rects.append((x, y, w, h, enc, data))
        return rects

    def full_frame(self):
        """A non-incremental request for the whole screen, and its pixels."""
        self.request(False)
        frame = bytearray(self.width * self.height * self.bpp)
        got = 0
        while got < self.width * self.height:
            for x, y, w, h, enc, data in self.read_update():
                if enc != 0:
                    continue
                for row in range(h):
                    at = ((y + row) * self.width + x) * self.bpp
                    frame[at:at + w * self.bpp] = data[row * w * self.bpp:(row + 1) * w * self.bpp]
                got += w * h
        return bytes(frame)

    def key(self, keysym, down=True):
        self.ws.send(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def type_text(self, text):
        for ch in text:
            self.key(ord(ch), True)
            self.key(ord(ch), False)

    def pointer(self, x, y, mask=0):
        self.ws.send(struct.pack(">BBHH", 5, mask, x, y))


# ---- the two ways in ----

def through_gateway(gw_port, vm_id, token, protocol="binary", timeout=10, tls=False,
                    cookie_name="token"):
    headers = {"Cookie": f"{cookie_name}={token}"} if token else {}
    return WsConn("127.0.0.1", gw_port, f"/api/consoles/{vm_id}", headers=headers,
                  protocol=protocol, timeout=timeout, tls=tls)


def sim_session(sim):
    proxy = xmlrpc.client.ServerProxy(sim.url.rstrip("/") + "/", allow_none=True,
                                      context=ssl._create_unverified_context()
                                      if sim.url.startswith("https") else None)
    r = proxy.session.login_with_password("root", "password", "1.0", "test")
    assert r["Status"] == "Success", r
    return proxy, r["Value"]


def xapi(sim, method, *args):
    """One XAPI call on the simulator (XML-RPC), returning Value or raising."""
    proxy, sid = sim_session(sim)
    fn = proxy
    for part in method.split("."):
        fn = getattr(fn, part)
    r = fn(sid, *args)
    if r["Status"] != "Success":
        raise RuntimeError(f"{method}: {r['ErrorDescription']}")
    return r["Value"]


def straight_to_sim(sim, vm_uuid, timeout=10):
    """The simulator's /console as XAPI serves it, for the VM's current host."""
    proxy, sid = sim_session(sim)
    truth = sim.truth()
    vm = next(r for r in truth["vm"].values() if r["uuid"] == vm_uuid)
    con = next(truth["console"][c] for c in vm["consoles"] if c in truth["console"]
               and truth["console"][c]["protocol"] == "rfb")
    host = con["location"].split("://", 1)[1].split("/", 1)[0] or "127.0.0.1"
    port = int(sim.url.rsplit(":", 1)[1].strip("/"))
    path = "/" + con["location"].split("://", 1)[1].split("/", 1)[1]
    return WsConn(host, port, path, headers={"Cookie": f"session_id={sid}"}, protocol="binary",
                  timeout=timeout, tls=sim.url.startswith("https"))


def wait_for(fn, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout * harness.SCALE
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError(what)
