"""A small RFB 3.8 server (security type None, Raw encoding) showing a test pattern, and the
WebSocket framing used for the /console WebSocket handler."""
import base64
import hashlib
import struct
import time

W, H = 640, 480
# eight colour bars (white, yellow, cyan, green, magenta, red, blue, black) over the top 3/4,
# then a grey ramp: a pattern a test can recognise pixel by pixel.
BARS = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0)]


def pixel_at(x, y):
    if y < H * 3 // 4:
        return BARS[x * 8 // W]
    g = x * 255 // (W - 1)
    return (g, g, g)


def _make_frame():
    top = b''.join(bytes((b, g, r, 0)) * (W // 8) for r, g, b in BARS)
    ramp = b''.join(bytes((v, v, v, 0)) for v in (x * 255 // (W - 1) for x in range(W)))
    return top * (H * 3 // 4) + ramp * (H - H * 3 // 4)


FRAME = _make_frame()          # 32 bpp little-endian, red-shift 16, green-shift 8, blue-shift 0


class SockTransport:
    def __init__(self, rfile, sock):
        self.rfile = rfile
        self.sock = sock

    def recv_exact(self, n):
        b = self.rfile.read(n)
        if b is None or len(b) < n:
            raise EOFError()
        return b

    def send(self, data):
        self.sock.sendall(data)


def ws_accept_key(key):
    return base64.b64encode(hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode()


def _unmask(data, key):
    n = len(data)
    if not n:
        return data
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, 'little') ^ int.from_bytes(k, 'little')).to_bytes(n, 'little')


class WSTransport:
    """Server side of RFC 6455: reads masked client frames, writes unmasked binary frames."""

    def __init__(self, rfile, sock):
        self.rfile = rfile
        self.sock = sock
        self.buf = b''
        self.closed = False

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
            ln = struct.unpack('>Q', self._read(8))[0]
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
                try:
                    self._send_frame(0x8, data[:2])
                except OSError:
                    pass
                raise EOFError()
            if op == 0x9:
                self._send_frame(0xA, data)
                continue
            if op in (0x0, 0x1, 0x2):
                if op == 0x1:
                    data = base64.b64decode(data)     # "base64" subprotocol clients
                self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, op, data):
        n = len(data)
        if n < 126:
            hdr = struct.pack('>BB', 0x80 | op, n)
        elif n < 65536:
            hdr = struct.pack('>BBH', 0x80 | op, 126, n)
        else:
            hdr = struct.pack('>BBQ', 0x80 | op, 127, n)
        self.sock.sendall(hdr + data)

    def send(self, data):
        self._send_frame(0x2, data)


def serve_rfb(t, name, stats):
    """Run one RFB 3.8 session over transport t until the client goes away."""
    t.send(b'RFB 003.008\n')
    t.recv_exact(12)
    t.send(b'\x01\x01')                 # one security type: None
    if t.recv_exact(1) != b'\x01':
        t.send(struct.pack('>I', 1) + struct.pack('>I', 20) + b'unsupported security')
        return
    t.send(struct.pack('>I', 0))        # SecurityResult OK
    t.recv_exact(1)                     # ClientInit shared flag
    pf = struct.pack('>BBBBHHHBBB3x', 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
    nm = name.encode('utf-8')
    t.send(struct.pack('>HH', W, H) + pf + struct.pack('>I', len(nm)) + nm)
    dirty = None
    pointer = (0, 0)
    while True:
        mt = t.recv_exact(1)[0]
        if mt == 0:
            t.recv_exact(19)
        elif mt == 2:
            _, n = struct.unpack('>BH', t.recv_exact(3))
            t.recv_exact(4 * n)
        elif mt == 3:
            inc, x, y, w, h = struct.unpack('>BHHHH', t.recv_exact(9))
            if not inc:
                t.send(struct.pack('>BxH', 0, 1) + struct.pack('>HHHHi', 0, 0, W, H, 0) + FRAME)
            elif dirty is not None:
                px, py = dirty
                rw, rh = min(16, W - px), min(16, H - py)
                t.send(struct.pack('>BxH', 0, 1) + struct.pack('>HHHHi', px, py, rw, rh, 0) +
                       b'\xff\xff\xff\x00' * (rw * rh))
                dirty = None
            else:
                time.sleep(0.05)
                t.send(struct.pack('>BxH', 0, 0))
        elif mt == 4:
            t.recv_exact(7)
            stats.add('console_keys', 1)
            dirty = pointer
        elif mt == 5:
            _, x, y = struct.unpack('>BHH', t.recv_exact(5))
            pointer = (min(x, W - 1), min(y, H - 1))
            stats.add('console_pointer', 1)
            dirty = pointer
        elif mt == 6:
            t.recv_exact(3)
            n = struct.unpack('>I', t.recv_exact(4))[0]
            t.recv_exact(min(n, 1 << 20))
        else:
            return
