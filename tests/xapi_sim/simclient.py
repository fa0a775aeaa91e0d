"""Test helpers: start a simulator subprocess and talk XML-RPC / JSON-RPC / control API to it."""
import http.client
import json
import os
import re
import ssl
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
