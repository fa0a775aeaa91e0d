"""Test helpers: start a simulator subprocess and talk XML-RPC / JSON-RPC / control API to it."""
import http.client
import json
import os
import re
import ssl
import struct
import subprocess
import sys
import time
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, 'xapi_sim.py')


class SimProc:
    def __init__(self, *args, timeout=60):
        self.proc = subprocess.Popen([sys.executable, SIM, '--port', '0'] + [str(a) for a in args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.hosts = []
        self.fingerprint = None
        end = time.monotonic() + timeout
        while True:
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError('simulator not ready')
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError('simulator exited: %s' % self.proc.stderr.read())
            line = line.strip()
            if line.startswith('listening: '):
                self.url = line[len('listening: '):]
            elif line.startswith('fingerprint: '):
                self.fingerprint = line.split(' ', 1)[1]
            elif line.startswith('host: '):
                _, uuid, url, role = line.split(' ')
                self.hosts.append((uuid, url, role))
            elif line.startswith('pool: '):
                self.pool_uuid = line.split(' ', 1)[1]
            elif line == 'ready':
                break
        m = re.match(r'(https?)://([0-9.]+):(\d+)/', self.url)
        self.tls = m.group(1) == 'https'
        self.host = m.group(2)
        self.port = int(m.group(3))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass

    def conn(self, host=None, timeout=30):
        host = host or self.host
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(host, self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection(host, self.port, timeout=timeout)

    def control(self, method, path):
        c = self.conn()
        try:
            c.request(method, path)
            r = c.getresponse()
            return json.loads(r.read().decode())
        finally:
            c.close()

    def truth(self):
        return self.control('GET', '/sim/truth')

    def stats(self):
        return self.control('GET', '/sim/stats')


class XmlRpc:
    """Keep-alive XML-RPC client returning the XAPI {Status, Value} struct decoded by xmlrpc.client."""

    def __init__(self, sim, host=None, timeout=30):
        self.c = sim.conn(host, timeout)

    def call(self, method, *params):
        body = xmlrpc.client.dumps(tuple(params), method, allow_none=False).encode()
        self.c.request('POST', '/', body, {'Content-Type': 'text/xml'})
        r = self.c.getresponse()
        data = r.read()
        return xmlrpc.client.loads(data)[0][0]

    def ok(self, method, *params):
        r = self.call(method, *params)
        if r['Status'] != 'Success':
            raise AssertionError('%s failed: %r' % (method, r))
        return r['Value']

    def close(self):
        self.c.close()


class JsonRpc:
    def __init__(self, sim, host=None, timeout=30):
        self.c = sim.conn(host, timeout)
        self.n = 0

    def raw(self, method, *params):
        self.n += 1
        self.c.request('POST', '/jsonrpc', json.dumps({'jsonrpc': '2.0', 'method': method, 'params': list(params),
                                                       'id': self.n}), {'Content-Type': 'application/json'})
        r = self.c.getresponse()
        return json.loads(r.read().decode())

    def ok(self, method, *params):
        r = self.raw(method, *params)
        if 'error' in r:
            raise AssertionError('%s failed: %r' % (method, r))
        return r['result']

    def close(self):
        self.c.close()


class RfbClient:
    """A minimal RFB 3.8 viewer for tests, over CONNECT (raw) or XAPI's WebSocket."""

    def __init__(self, sim, path, sid, host=None, websocket=False, protocols='binary', timeout=10, cookie=False):
        import base64
        import socket
        self.ws = websocket
        self.sock = socket.create_connection((host or sim.host, sim.port), timeout)
        self.f = self.sock.makefile('rb')
        self.buf = b''
        self.ws_frames = []          # payload sizes of the WebSocket frames received
        if websocket:
            key = base64.b64encode(os.urandom(16)).decode()
            proto = 'Sec-WebSocket-Protocol: %s\r\n' % protocols if protocols else ''
            self.sock.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                               'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%sCookie: session_id=%s\r\n\r\n'
                               % (path, key, proto, sid)).encode())
        elif cookie:
            self.sock.sendall(('CONNECT %s HTTP/1.0\r\nCookie: session_id=%s\r\n\r\n' % (path, sid)).encode())
        else:
            sep = '&' if '?' in path else '?'
            self.sock.sendall(('CONNECT %s%ssession_id=%s HTTP/1.0\r\n\r\n' % (path, sep, sid)).encode())
        self.status = self.f.readline().decode('latin-1').strip()
        self.headers = {}
        while True:
            line = self.f.readline().decode('latin-1').strip()
            if not line:
                break
            k, _, v = line.partition(':')
            self.headers[k.strip().lower()] = v.strip()

    def ok(self):
        return self.status.split(' ')[1] in ('200', '101')

    def recv(self, n):
        while len(self.buf) < n:
            if self.ws:
                h = self.f.read(2)
                if len(h) < 2:
                    raise EOFError()
                ln = h[1] & 0x7f
                if ln == 126:
                    ln = struct.unpack('>H', self.f.read(2))[0]
                elif ln == 127:
                    ln = struct.unpack('>Q', self.f.read(8))[0]
                if h[0] != 0x82:
                    raise AssertionError('not a final binary frame: %r' % h)
                data = self.f.read(ln)
                self.ws_frames.append(ln)
            else:
                data = self.f.read1(65536) if hasattr(self.f, 'read1') else self.f.read(1)
            if not data:
                raise EOFError()
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data, opcode=0x82):
        if self.ws:
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            n = len(data)
            hdr = struct.pack('>BB', opcode, 0x80 | n) if n < 126 else struct.pack('>BBH', opcode, 0x80 | 126, n)
            self.sock.sendall(hdr + mask + masked)
        else:
            self.sock.sendall(data)

    def handshake(self):
        assert self.recv(12) == b'RFB 003.008\n'
        self.send(b'RFB 003.008\n')
        assert self.recv(2) == b'\x01\x01'
        self.send(b'\x01')
        assert self.recv(4) == b'\x00\x00\x00\x00'
        self.send(b'\x01')
        self.width, self.height = struct.unpack('>HH', self.recv(4))
        self.pixel_format = self.recv(16)
        n = struct.unpack('>I', self.recv(4))[0]
        self.name = self.recv(n).decode()
        return self.name

    def set_pixel_format(self, bpp=32, depth=24, big_endian=0, rshift=16, gshift=8, bshift=0, maxes=(255, 255, 255)):
        self.send(struct.pack('>B3xBBBBHHHBBB3x', 0, bpp, depth, big_endian, 1, *maxes, rshift, gshift, bshift))

    def readable(self, timeout):
        """Whether something arrives within `timeout` seconds."""
        import select
        return bool(self.buf) or bool(select.select([self.sock], [], [], timeout)[0])

    def request(self, incremental=False, x=0, y=0, w=None, h=None):
        self.send(struct.pack('>BBHHHH', 3, 1 if incremental else 0, x, y,
                              self.width if w is None else w, self.height if h is None else h))

    def key(self, keysym, down=True):
        self.send(struct.pack('>BBxxI', 4, 1 if down else 0, keysym))

    def pointer(self, x, y, mask=0):
        self.send(struct.pack('>BBHH', 5, mask, x, y))

    def read_update(self, bpp=4):
        """One FramebufferUpdate: [(x, y, w, h, pixels)]."""
        hdr = self.recv(4)
        assert hdr[0] == 0, hdr
        rects = []
        for _ in range(struct.unpack('>H', hdr[2:])[0]):
            x, y, w, h, enc = struct.unpack('>HHHHi', self.recv(12))
            assert enc == 0
            rects.append((x, y, w, h, self.recv(w * h * bpp)))
        return rects

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass
