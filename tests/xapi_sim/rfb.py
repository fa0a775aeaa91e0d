"""VM consoles: the RFB 3.8 server each simulated VM runs (security type None, Raw encoding),
the two transports XAPI offers on /console (raw after CONNECT, and XAPI's WebSocket proxy),
and the registry of console sessions and per-VM counters.

It does not parse HTTP or check sessions (xapi_sim.py does) and draws nothing itself
(rfbscreen.py does)."""
import base64
import hashlib
import socket
import struct
import threading

from rfbscreen import H, W, PixelFormat, Screen

WS_BLOCK = 1024      # XAPI's wsproxy reads the VNC socket 1024 bytes at a time: one frame each


class SockTransport:
    """Raw RFB over the socket (the CONNECT path)."""

    def __init__(self, rfile, sock):
        self.rfile = rfile
        self.sock = sock
        self.wlock = threading.Lock()

    def recv_exact(self, n):
        b = self.rfile.read(n)
        if b is None or len(b) < n:
            raise EOFError()
        return b

    def send(self, data):
        with self.wlock:
            self.sock.sendall(data)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def ws_accept_key(key):
    return base64.b64encode(hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()


def _unmask(data, key):
    n = len(data)
    if not n:
        return data
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, 'little') ^ int.from_bytes(k, 'little')).to_bytes(n, 'little')


class WSTransport:
    """RFB over WebSocket as XAPI's wsproxy (ocaml/wsproxy) does it, quirks included:
    - every server frame is a binary frame (0x82) of at most 1024 payload bytes;
    - the payload of every client frame except close is RFB data, whatever its opcode: text
      frames are not base64-decoded, and a ping's payload goes to the VNC server (no pong);
    - a close frame ends the session without a close frame in reply;
    - a 127 length marker is followed by a 4-byte length (not 8 as RFC 6455 says)."""

    def __init__(self, rfile, sock):
        self.rfile = rfile
        self.sock = sock
        self.buf = b''
        self.wlock = threading.Lock()

    def _read(self, n):
        b = self.rfile.read(n)
        if b is None or len(b) < n:
            raise EOFError()
        return b

    def _frame(self):
        h = self._read(2)
        op = h[0] & 0x0f
        masked = h[1] & 0x80
        ln = h[1] & 0x7f
        if ln == 126:
            ln = struct.unpack('>H', self._read(2))[0]
        elif ln == 127:
            ln = struct.unpack('>I', self._read(4))[0]
        if ln > 16 << 20:
            raise EOFError()
        key = self._read(4) if masked else None
        data = self._read(ln)
        if key:
            data = _unmask(data, key)
        return op, data

    def recv_exact(self, n):
        while len(self.buf) < n:
            op, data = self._frame()
            if op == 0x8:
                raise EOFError()
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data):
        parts = []
        for i in range(0, len(data), WS_BLOCK):
            chunk = data[i:i + WS_BLOCK]
            n = len(chunk)
            parts.append((struct.pack('>BB', 0x82, n) if n < 126 else struct.pack('>BBH', 0x82, 126, n)) + chunk)
        with self.wlock:
            self.sock.sendall(b''.join(parts))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Consoles:
    """Console screens, open sessions and counters, per VM. `stream` is the /sim/config knob:
    when on, every session pushes framebuffer updates as fast as its client reads them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.screens = {}             # VM ref -> Screen
        self.sessions = {}            # VM ref -> set of Session
        self.counters = {}            # VM uuid -> dict
        self.stream = False

    def screen(self, vm, uuid, name):
        with self.lock:
            s = self.screens.get(vm)
            if s is None or s.name != name:
                s = self.screens[vm] = Screen(uuid, name)
            return s

    def counter(self, uuid, name):
        with self.lock:
            c = self.counters.get(uuid)
            if c is None:
                c = self.counters[uuid] = {'name': name, 'connections': 0, 'active': 0, 'keys': 0,
                                           'pointer_events': 0, 'updates_sent': 0, 'bytes_sent': 0,
                                           'last_keysyms': []}
            c['name'] = name
            return c

    def count(self, c, **kw):
        with self.lock:
            for k, v in kw.items():
                c[k] += v

    def snapshot(self):
        with self.lock:
            return {u: dict(c, last_keysyms=list(c['last_keysyms'])) for u, c in self.counters.items()}

    def close_vm(self, vm):
        """The VM's VNC server went away (shutdown, suspend, reboot, migration): its console
        connections close, as qemu's do."""
        with self.lock:
            victims = list(self.sessions.get(vm, ()))
            self.screens.pop(vm, None)
        for s in victims:
            s.close()
        return len(victims)

    def serve(self, t, vm, uuid, name, stats):
        """Run one console session for VM `vm` over transport t until either side closes."""
        sess = Session(self, t, self.screen(vm, uuid, name), self.counter(uuid, name), stats)
        with self.lock:
            self.sessions.setdefault(vm, set()).add(sess)
        self.count(sess.counter, connections=1, active=1)
        try:
            sess.run()
        finally:
            sess.close()
            with self.lock:
                self.sessions.get(vm, set()).discard(sess)
            self.count(sess.counter, active=-1)


class Session:
    """One RFB client. The connection's thread reads client messages; a writer thread sends
    framebuffer updates: for a full request at once, for an incremental one as soon as the
    screen changes (as qemu does, never an empty update), and continuously in stream mode."""

    def __init__(self, hub, t, screen, counter, stats):
        self.hub = hub
        self.t = t
        self.screen = screen
        self.counter = counter
        self.stats = stats
        self.fmt = PixelFormat()
        self.cond = threading.Condition()
        self.alive = True
        self.full = None              # pending non-incremental request region
        self.incremental = None       # pending incremental request region
        self.sent_version = 0

    def close(self):
        with self.cond:
            self.alive = False
            self.cond.notify_all()
        self.t.close()

    def run(self):
        t = self.t
        t.send(b'RFB 003.008\n')
        t.recv_exact(12)
        t.send(b'\x01\x01')                 # one security type: None
        if t.recv_exact(1) != b'\x01':
            t.send(struct.pack('>I', 1) + struct.pack('>I', 20) + b'unsupported security')
            return
        t.send(struct.pack('>I', 0))        # SecurityResult OK
        t.recv_exact(1)                     # ClientInit shared flag
        pf = struct.pack('>BBBBHHHBBB3x', 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
        nm = self.screen.name.encode('utf-8')
        t.send(struct.pack('>HH', W, H) + pf + struct.pack('>I', len(nm)) + nm)
        writer = threading.Thread(target=self._writer, daemon=True)
        writer.start()
        try:
            self._reader()
        finally:
            self.close()

    # -- client messages
    def _reader(self):
        t = self.t
        while self.alive:
            mt = t.recv_exact(1)[0]
            if mt == 0:                                   # SetPixelFormat
                fmt = PixelFormat.unpack(t.recv_exact(19)[3:])
                if not fmt.supported():
                    return
                with self.cond:
                    self.fmt = fmt
            elif mt == 2:                                 # SetEncodings (Raw is always allowed)
                _, n = struct.unpack('>BH', t.recv_exact(3))
                t.recv_exact(4 * n)
            elif mt == 3:                                 # FramebufferUpdateRequest
                inc, x, y, w, h = struct.unpack('>BHHHH', t.recv_exact(9))
                region = _clip(x, y, w, h)
                with self.cond:
                    if inc:
                        self.incremental = region
                    else:
                        self.full = region
                    self.cond.notify_all()
            elif mt == 4:                                 # KeyEvent
                down, keysym = struct.unpack('>B2xI', t.recv_exact(7))
                self._count_key(keysym, down)
                self.screen.key(keysym, down)
                self._poke()
            elif mt == 5:                                 # PointerEvent
                _, x, y = struct.unpack('>BHH', t.recv_exact(5))
                self.hub.count(self.counter, pointer_events=1)
                self.stats.add('console_pointer', 1)
                self.screen.point(x, y)
                self._poke()
            elif mt == 6:                                 # ClientCutText
                t.recv_exact(3)
                n = struct.unpack('>I', t.recv_exact(4))[0]
                t.recv_exact(min(n, 1 << 20))
            else:                                         # qemu drops clients sending unknown messages
                return

    def _count_key(self, keysym, down):
        with self.hub.lock:
            c = self.counter
            c['keys'] += 1
            if down:
                c['last_keysyms'] = (c['last_keysyms'] + [keysym])[-32:]
        self.stats.add('console_keys', 1)

    def _poke(self):
        """The screen changed: wake every session of this VM."""
        with self.hub.lock:
            sessions = [s for ss in self.hub.sessions.values() for s in ss if s.screen is self.screen]
        for s in sessions:
            with s.cond:
                s.cond.notify_all()

    # -- updates
    def _writer(self):
        try:
            while True:
                with self.cond:
                    while self.alive and not self._ready():
                        self.cond.wait(0.2)
                    if not self.alive:
                        return
                    full, self.full = self.full, None
                    fmt = self.fmt
                if full is not None:
                    version = self.screen.version
                    self._send_rect(full, fmt)
                    self.sent_version = max(self.sent_version, version)
                    continue
                if self.hub.stream:
                    self.screen.next_frame()
                    version = self.screen.version
                    self._send_rect((0, 0, W, H), fmt)
                    self.sent_version = version
                    self._poke()
                    continue
                version, box = self.screen.since(self.sent_version)
                with self.cond:
                    region = self.incremental
                if box is None or region is None:
                    continue
                rect = _intersect(box, region)
                self.sent_version = version       # changes outside the region are not wanted
                if rect is None:
                    continue
                with self.cond:
                    self.incremental = None
                self._send_rect(rect, fmt)
        except (OSError, EOFError):
            self.close()

    def _ready(self):
        if self.full is not None or self.hub.stream:
            return True
        return self.incremental is not None and self.screen.version > self.sent_version

    def _send_rect(self, rect, fmt):
        x, y, w, h = rect
        data = (struct.pack('>BxH', 0, 1) + struct.pack('>HHHHi', x, y, w, h, 0) + self.screen.rect(x, y, w, h, fmt))
        self.t.send(data)
        self.hub.count(self.counter, updates_sent=1, bytes_sent=len(data))


def _clip(x, y, w, h):
    x, y = min(x, W), min(y, H)
    return (x, y, max(0, min(w, W - x)), max(0, min(h, H - y)))


def _intersect(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)
