#!/usr/bin/env python3
"""XAPI simulator: one process simulates one pool (a master and N hosts).

Usage: python3 tests/xapi_sim/xapi_sim.py --port P --hosts H --vms N --seed S [--tls]
       [--user U --password W] [--event-batch-ms MS] ...
See tests/xapi_sim/README.md for the wire protocol, the control API (/sim/*) and limits.
"""
import argparse
import hashlib
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wire                                   # noqa: E402
import rfb                                    # noqa: E402
from simdb import ApiError, CLASSES, Store, make_token    # noqa: E402
from poolgen import FAMILIES, build_pool, software_version   # noqa: E402
from api import Sim, Dropped, EventFromResult, RecordsResult   # noqa: E402
from transfer import Transfers                 # noqa: E402

MAX_HEADER = 64 * 1024
MAX_RPC_BODY = 64 << 20         # XAPI limits RPC bodies too (http_limit_max_rpc_size)
CHUNK_CHARS = 256 * 1024


class Conn:
    def __init__(self, sock, host_idx, peer):
        self.sock = sock
        self.host_idx = host_idx
        self.peer = peer
        self.dropped = False


class Registry:
    def __init__(self, store):
        self.lock = threading.Lock()
        self.conns = set()
        self.store = store

    def add(self, c):
        with self.lock:
            self.conns.add(c)

    def remove(self, c):
        with self.lock:
            self.conns.discard(c)

    def drop(self, host_idx=None, except_conn=None):
        with self.lock:
            victims = [c for c in self.conns if c is not except_conn and (host_idx is None or c.host_idx == host_idx)]
        for c in victims:
            c.dropped = True
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.store.wake_all()
        return len(victims)


class BadRequest(Exception):
    pass


# ---------------------------------------------------------------- response encoding
def _event_head(op, cls_l, ref, gen):
    return ('<value><struct><member><name>id</name><value>%d</value></member>'
            '<member><name>timestamp</name><value>0.0</value></member>'
            '<member><name>class</name><value>%s</value></member>'
            '<member><name>operation</name><value>%s</value></member>'
            '<member><name>ref</name><value>%s</value></member>') % (gen, cls_l, op, ref)


def xml_chunks(value, tp):
    yield wire.xml_response_head()
    if isinstance(value, RecordsResult):
        ser = CLASSES[value.cls].xml
        yield '<value><struct>'
        for ref, row in value.items:
            yield '<member><name>' + ref + '</name>' + ser(row) + '</member>'
        yield '</struct></value>'
    elif isinstance(value, EventFromResult):
        tables = value.store.tables
        yield '<value><struct><member><name>events</name><value><array><data>'
        for op, cls, ref, gen in value.events:
            ci = CLASSES[cls]
            if op == 'del':
                yield _event_head(op, ci.lname, ref, gen) + '</struct></value>'
            else:
                row = tables[cls].get(ref)
                if row is None:
                    continue
                yield (_event_head(op, ci.lname, ref, gen) + '<member><name>snapshot</name>' + ci.xml(row)
                       + '</member></struct></value>')
        yield ('</data></array></value></member><member><name>valid_ref_counts</name><value><struct>'
               + ''.join('<member><name>%s</name><value><i4>%d</i4></value></member>' % kv
                         for kv in value.counts.items())
               + '</struct></value></member><member><name>token</name><value>' + value.token
               + '</value></member></struct></value>')
    else:
        yield wire.xml_encoder(tp)(value)
    yield wire.XML_RESPONSE_TAIL


def json_value_chunks(value, tp):
    dumps = wire.json_dumps
    if isinstance(value, RecordsResult):
        names = CLASSES[value.cls].names
        yield '{'
        first = True
        for ref, row in value.items:
            yield ('' if first else ',') + dumps(ref) + ':' + dumps(dict(zip(names, row)))
            first = False
        yield '}'
    elif isinstance(value, EventFromResult):
        tables = value.store.tables
        yield '{"events":['
        first = True
        for op, cls, ref, gen in value.events:
            ci = CLASSES[cls]
            ev = {'id': str(gen), 'timestamp': '0.0', 'class': ci.lname, 'operation': op, 'ref': ref}
            if op != 'del':
                row = tables[cls].get(ref)
                if row is None:
                    continue
                ev['snapshot'] = dict(zip(ci.names, row))
            yield ('' if first else ',') + dumps(ev)
            first = False
        yield '],"valid_ref_counts":' + dumps(value.counts) + ',"token":' + dumps(value.token) + '}'
    elif tp[0] == 'record':
        yield dumps(dict(zip(CLASSES[tp[1]].names, value)))
    elif tp[0] == 'void':
        yield '""'
    else:
        yield dumps(value)


def json_chunks(value, tp, rid, v2):
    yield '{"jsonrpc":"2.0","result":' if v2 else '{"result":'
    yield from json_value_chunks(value, tp)
    yield (',"id":' + wire.json_dumps(rid) + '}') if v2 else (',"error":null,"id":' + wire.json_dumps(rid) + '}')


def json_error(code, params, rid, v2):
    if v2:
        return wire.json_dumps({'jsonrpc': '2.0', 'error': {'code': 1, 'message': code, 'data': params}, 'id': rid})
    return wire.json_dumps({'result': None, 'error': [code] + params, 'id': rid})


# ---------------------------------------------------------------- HTTP connection handling
class Handler(Transfers):
    def __init__(self, srv, conn, rfile):
        self.srv = srv
        self.sim = srv.sim
        self.conn = conn
        self.sock = conn.sock
        self.rfile = rfile

    # -- low level
    def send_simple(self, status, body=b'', ctype='text/plain', keep=True, extra=None):
        if isinstance(body, str):
            body = body.encode('utf-8')
        h = ['HTTP/1.1 %s' % status, 'Content-Type: %s' % ctype, 'Content-Length: %d' % len(body)]
        if not keep:
            h.append('Connection: close')
        for k, v in (extra or {}).items():
            h.append('%s: %s' % (k, v))
        self.sock.sendall(('\r\n'.join(h) + '\r\n\r\n').encode('latin-1') + body)

    def send_streamed(self, status, ctype, chunks, keep, http11, extra_headers=()):
        """Buffer up to max_buffer bytes and send with Content-Length; beyond that stream
        with chunked transfer-encoding (HTTP/1.1) or until close (HTTP/1.0)."""
        limit = self.srv.max_buffer
        pieces = []
        total = 0
        pend = []
        plen = 0
        streaming = False

        def head(extra):
            h = ['HTTP/1.1 %s' % status, 'Content-Type: %s' % ctype,
                 'Access-Control-Allow-Origin: *', 'Access-Control-Allow-Headers: X-Requested-With']
            h.extend(extra_headers)
            h.extend(extra)
            return ('\r\n'.join(h) + '\r\n\r\n').encode('latin-1')

        def emit(b):
            if http11:
                self.sock.sendall(b'%x\r\n' % len(b) + b + b'\r\n')
            else:
                self.sock.sendall(b)

        for s in chunks:
            pend.append(s)
            plen += len(s)
            if plen >= CHUNK_CHARS:
                b = ''.join(pend).encode('utf-8')
                pend = []
                plen = 0
                if streaming:
                    emit(b)
                    continue
                pieces.append(b)
                total += len(b)
                if total > limit:
                    streaming = True
                    if http11:
                        self.sock.sendall(head(['Transfer-Encoding: chunked'] + ([] if keep else ['Connection: close'])))
                    else:
                        self.sock.sendall(head(['Connection: close']))
                        keep = False
                    for p in pieces:
                        emit(p)
                    pieces = []
        b = ''.join(pend).encode('utf-8')
        if streaming:
            if b:
                emit(b)
            if http11:
                self.sock.sendall(b'0\r\n\r\n')
            return keep
        pieces.append(b)
        total += len(b)
        self.sock.sendall(head(['Content-Length: %d' % total] + ([] if keep else ['Connection: close'])))
        for p in pieces:
            if p:
                self.sock.sendall(p)
        return keep

    def read_body(self, headers, limit):
        te = headers.get('transfer-encoding', '').lower()
        if 'chunked' in te:
            out = []
            size = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise BadRequest('truncated chunked body')
                n = int(line.split(b';')[0].strip() or b'0', 16)
                if n == 0:
                    while True:
                        l2 = self.rfile.readline(MAX_HEADER)
                        if l2 in (b'\r\n', b'\n', b''):
                            break
                    break
                size += n
                if size > limit:
                    raise BadRequest('body too large')
                out.append(self.rfile.read(n))
                self.rfile.readline(16)
            return b''.join(out)
        n = int(headers.get('content-length', '0') or 0)
        if n > limit:
            raise BadRequest('body too large')
        b = self.rfile.read(n) if n else b''
        if len(b) < n:
            raise BadRequest('truncated body')
        return b

    # -- main loop
    def run(self):
        while not self.conn.dropped:
            line = self.rfile.readline(MAX_HEADER)
            if not line:
                return
            if line in (b'\r\n', b'\n'):
                continue
            try:
                method, target, version = line.decode('latin-1').rstrip('\r\n').split(' ', 2)
            except ValueError:
                self.send_simple('400 Bad Request', 'bad request line', keep=False)
                return
            headers = {}
            hsize = 0
            while True:
                hl = self.rfile.readline(MAX_HEADER)
                hsize += len(hl)
                if not hl or hl in (b'\r\n', b'\n'):
                    break
                if hsize > MAX_HEADER:
                    self.send_simple('431 Request Header Fields Too Large', keep=False)
                    return
                k, _, v = hl.decode('latin-1').partition(':')
                headers[k.strip().lower()] = v.strip()
            http11 = version.upper() == 'HTTP/1.1'
            conn_hdr = headers.get('connection', '').lower()
            keep = ('close' not in conn_hdr) if http11 else ('keep-alive' in conn_hdr)
            u = urlsplit(target)
            path = u.path
            query = {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
            try:
                keep = self.route(method.upper(), path, query, headers, keep, http11)
            except BadRequest as e:
                self.send_simple('400 Bad Request', str(e), keep=False)
                return
            if not keep:
                return

    def route(self, method, path, query, headers, keep, http11):
        if path.startswith('/sim/'):
            if method == 'POST' or method == 'PUT':
                self.read_body(headers, 1 << 20)
            return self.control(method, path, query, keep)
        if method == 'POST' and path in ('/', '/RPC2', '/xmlrpc'):
            body = self.read_body(headers, MAX_RPC_BODY)
            return self.xmlrpc(body, keep, http11)
        if method == 'POST' and path == '/jsonrpc':
            body = self.read_body(headers, MAX_RPC_BODY)
            return self.jsonrpc(body, keep, http11)
        if method == 'OPTIONS':
            self.send_simple('200 OK', '', keep=keep, extra={'Access-Control-Allow-Origin': '*',
                                                             'Access-Control-Allow-Headers': 'X-Requested-With'})
            return keep
        p = path.rstrip('/') or '/'
        if method == 'GET' and p == '/export':
            return self.export(query, headers, keep)
        if method == 'PUT' and p == '/import':
            return self.put_import(query, headers)
        if method == 'PUT' and p == '/import_raw_vdi':
            return self.put_raw_vdi(query, headers)
        if method == 'PUT' and p == '/pool_patch_upload':
            return self.put_patch(query, headers)
        if p == '/console' and (method == 'CONNECT' or (method == 'GET' and 'websocket' in headers.get('upgrade', '').lower())):
            return self.console(method, query, headers)
        if method in ('POST', 'PUT'):
            # drain small bodies to keep the connection usable
            if int(headers.get('content-length', '0') or 0) <= (1 << 20):
                self.read_body(headers, 1 << 20)
            else:
                keep = False
        self.send_simple('404 Not Found', 'not found', keep=keep)
        return keep

    # -- RPC
    def _call(self, name, params):
        return self.sim.dispatch(name, params, self.conn.host_idx, self.conn)

    def xmlrpc(self, body, keep, http11):
        try:
            params, name = xmlrpc.client.loads(body, use_builtin_types=True)
        except Exception:
            self.send_simple('200 OK', wire.xml_failure('INTERNAL_ERROR', ['cannot parse XML-RPC request']),
                             ctype='text/xml', keep=keep)
            return keep
        params = list(params)
        try:
            value, tp = self._call(name, params)
        except ApiError as e:
            self.send_simple('200 OK', wire.xml_failure(e.code, e.params), ctype='text/xml', keep=keep)
            return keep
        except Dropped:
            return False
        if name == 'system.listMethods':
            s = ('<?xml version="1.0"?><methodResponse><params><param>' + wire.xml_encoder(tp)(value)
                 + '</param></params></methodResponse>')
            self.send_simple('200 OK', s, ctype='text/xml', keep=keep)
            return keep
        return self.send_streamed('200 OK', 'text/xml', xml_chunks(value, tp), keep, http11)

    def jsonrpc(self, body, keep, http11):
        try:
            req = json.loads(body.decode('utf-8'))
            name = req['method']
            v2 = req.get('jsonrpc') == '2.0'
            params = req.get('params') or []
            if isinstance(params, dict):
                params = [params]
            rid = req.get('id')
        except Exception:
            self.send_simple('200 OK', json_error('INTERNAL_ERROR', ['cannot parse JSON-RPC request'], None, True),
                             ctype='application/json', keep=keep)
            return keep
        try:
            value, tp = self._call(name, list(params))
        except ApiError as e:
            self.send_simple('200 OK', json_error(e.code, e.params, rid, v2), ctype='application/json', keep=keep)
            return keep
        except Dropped:
            return False
        return self.send_streamed('200 OK', 'application/json', json_chunks(value, tp, rid, v2), keep, http11)

    # -- HTTP handlers helpers
    def _session_task(self, query, headers):
        cookies = {}
        for part in headers.get('cookie', '').split(';'):
            k, _, v = part.strip().partition('=')
            if k:
                cookies[k] = v
        sid = cookies.get('session_id') or query.get('session_id')
        task = cookies.get('task_id') or query.get('task_id')
        auth = headers.get('authorization', '')
        if not sid and auth.lower().startswith('basic '):
            import base64
            try:
                u, _, p = base64.b64decode(auth[6:]).decode().partition(':')
                sid = self.sim.login(u, p)
            except (ApiError, ValueError, UnicodeDecodeError):
                sid = None
        if not sid or sid not in self.sim.store.sessions:
            return None, task
        return sid, task

    def _forbidden(self, keep=False):
        self.send_simple('403 Forbidden', 'invalid session', keep=keep)
        return keep

    def _task_progress(self, task, p):
        st = self.sim.store
        if task and task in st.tables['task']:
            try:
                st.modify('task', task, {'progress': round(p, 3)})
            except ApiError:
                pass

    def _task_done(self, task, ok, result='', error=None):
        if task:
            self.sim.task_finish(task, ok, result, error)

    def _host_of(self, text):
        """A host ref from its index, uuid, ref or address (ValueError if none)."""
        hosts = self.sim.pool['hosts']
        if text.isdigit() and int(text) < len(hosts):
            return hosts[int(text)]
        for i, h in enumerate(hosts):
            if text in (h, self.sim.store.get('host', h, 'uuid'), self.sim.addresses[i]):
                return h
        raise ValueError('unknown host %s' % text)

    def _find_ref(self, cls, text):
        """A ref of `cls` from a ref or uuid (or name_label); ValueError if none."""
        st = self.sim.store
        if text in st.tables[cls]:
            return text
        if text in st.by_uuid[cls]:
            return st.by_uuid[cls][text]
        if CLASSES[cls].has_name_label:
            for ref, row in st.tables[cls].items():
                if row[CLASSES[cls].idx['name_label']] == text:
                    return ref
        raise ValueError('no %s %r' % (cls, text))

    def _finish_put(self, status, body=''):
        try:
            self.send_simple(status, body, keep=False)
        except OSError:
            pass
        return False

    # -- console (ocaml/xapi/console.ml)
    def _console_of_request(self, query):
        """The console asked for: `uuid` (a VM's, else a console's) or `ref` (a VM's or a
        console's); a VM means its rfb console. None when there is none, as XAPI's Failure."""
        st = self.sim.store
        ref = query.get('ref')
        if 'uuid' in query:
            ref = st.by_uuid['VM'].get(query['uuid']) or st.by_uuid['console'].get(query['uuid'])
        if not ref:
            return None
        if ref in st.tables['VM']:
            for con in st.get('VM', ref, 'consoles'):
                if con in st.tables['console'] and st.get('console', con, 'protocol') == 'rfb':
                    return con
            return None
        return ref if ref in st.tables['console'] else None

    def console(self, method, query, headers):
        """CONNECT: raw RFB after 200; GET with Upgrade: websocket: XAPI's wsproxy. The VM must
        be Running and resident on the host that received the request, else 500."""
        self.sim.stats.call('HTTP %s /console' % method)
        sid, task = self._session_task(query, headers)
        if sid is None:
            return self._forbidden()
        st = self.sim.store
        with st.lock:
            con = self._console_of_request(query)
            vm = st.get('console', con, 'VM') if con else None
            here = self.sim.pool['hosts'][self.conn.host_idx]
            ok = (vm in st.tables['VM'] and st.get('VM', vm, 'power_state') == 'Running'
                  and st.get('VM', vm, 'resident_on') == here)
            if ok:
                uuid, name = st.get('VM', vm, 'uuid'), st.get('VM', vm, 'name_label')
        if not ok:
            self._task_done(task, False, error=ApiError('INTERNAL_ERROR', 'Console.Failure'))
            self.send_simple('500 Internal Error', 'no console of a VM running on this host', ctype='text/html',
                             keep=False)
            return False
        if method == 'CONNECT':
            # XAPI also sends "Connection: keep-alive" and "Cache-Control: no-cache, no-store"
            self.sock.sendall(b'HTTP/1.1 200 OK\r\n\r\n')
            t = rfb.SockTransport(self.rfile, self.sock)
        else:
            key = headers.get('sec-websocket-key')
            if not key:
                self.send_simple('501 Not Implemented', 'websocket upgrade failed', keep=False)
                return False
            # XAPI answers "binary" whatever the client offered (ocaml/libs/http-lib/ws_helpers.ml)
            h = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade',
                 'Sec-WebSocket-Accept: %s' % rfb.ws_accept_key(key), 'Sec-WebSocket-Protocol: binary']
            self.sock.sendall(('\r\n'.join(h) + '\r\n\r\n').encode())
            t = rfb.WSTransport(self.rfile, self.sock)
        try:
            self.sim.consoles.serve(t, vm, uuid, name, self.sim.stats)
        except (EOFError, OSError, struct.error):
            pass
        self._task_done(task, True, '')
        return False

    # -- control API
    def control(self, method, path, query, keep):
        sim = self.sim
        st = sim.store
        name = path[len('/sim/'):].rstrip('/')

        def reply(obj, status='200 OK'):
            self.send_simple(status, wire.json_dumps(obj), ctype='application/json', keep=keep)
            return keep
        try:
            if name == 'truth' and method == 'GET':
                with st.lock:
                    snap = {c: [(r, row[:]) for r, row in st.tables[c].items()] for c in CLASSES}
                    token = make_token(st.gen, st.msg_gen)

                def chunks():
                    first = True
                    yield '{'
                    for c, items in snap.items():
                        ci = CLASSES[c]
                        yield ('' if first else ',') + wire.json_dumps(ci.lname) + ':{'
                        first = False
                        f2 = True
                        for r, row in items:
                            yield ('' if f2 else ',') + wire.json_dumps(r) + ':' + \
                                wire.json_dumps(dict(zip(ci.names, row)))
                            f2 = False
                        yield '}'
                    yield '}'
                return self.send_streamed('200 OK', 'application/json', chunks(), keep, True,
                                          extra_headers=['X-Sim-Token: %s' % token])
            if name == 'stats' and method == 'GET':
                s = sim.stats
                with s.lock:
                    out = {'calls': s.calls, 'calls_by_method': dict(s.by_method), 'events': s.events,
                           'bytes_exported': s.bytes_exported, 'bytes_imported': s.bytes_imported,
                           'sessions': len(st.sessions), 'event_from_calls': s.event_from_calls,
                           'event_from_by_subscription': dict(s.event_from_by_subscription),
                           'connections': len(self.srv.registry.conns), 'generation': st.gen,
                           'changes': st.changes, 'console_keys': s.console_keys,
                           'console_pointer_events': s.console_pointer, 'consoles': sim.consoles.snapshot(),
                           'objects': {CLASSES[c].lname: len(st.tables[c]) for c in CLASSES},
                           'master': sim.addresses[sim.master]}
                return reply(out)
            if name == 'task_log' and method == 'GET':
                return reply({'tasks': sim.stats.tasks()})
            if name == 'info' and method == 'GET':
                return reply(self.srv.info())
            if name == 'churn' and method == 'POST':
                n = int(query.get('n', '100'))
                rate = float(query.get('rate', '0'))
                seed = int(query.get('seed', '0'))
                if n < 0 or n > 10000000:
                    return reply({'error': 'n out of range'}, '400 Bad Request')
                if query.get('async') in ('1', 'true'):
                    threading.Thread(target=sim.churn, args=(n, rate, seed), daemon=True).start()
                    return reply({'started': n})
                t0 = time.monotonic()
                done = sim.churn(n, rate, seed)
                return reply({'done': done, 'seconds': round(time.monotonic() - t0, 3)})
            if name == 'config':
                if method == 'POST':
                    for k, v in query.items():
                        sim.set_knob(k, v)
                return reply(dict(sim.knobs))
            if name == 'vdi_checksum' and method == 'GET':
                vdi = self._find_ref('VDI', query.get('vdi', ''))
                d = sim.disk(vdi)
                return reply({'vdi': vdi, 'uuid': st.get('VDI', vdi, 'uuid'), 'virtual_size': d.virtual_size,
                              'allocated': d.allocated(), 'digest': d.digest(), 'nonzero_chunks': len(d.nonzero()),
                              'lost_chunks': sum(1 for c in d.chunks.values() if c[0] == 'lost')})
            if name == 'vdi_content' and method == 'POST':
                vdi = self._find_ref('VDI', query.get('vdi', ''))
                size = int(query.get('virtual_size', st.get('VDI', vdi, 'virtual_size')))
                allocated = int(query.get('allocated', '0'))
                seed = query.get('seed') or st.get('VDI', vdi, 'uuid')
                sim.set_disk(vdi, size, allocated, seed)
                d = sim.disk(vdi)
                return reply({'vdi': vdi, 'virtual_size': d.virtual_size, 'allocated': d.allocated(),
                              'digest': d.digest()})
            if name == 'host_memory' and method == 'POST':
                host = self._host_of(query.get('host', ''))
                m = st.get('host', host, 'metrics')
                total = int(query['total'])
                with st.lock:
                    st.modify('host_metrics', m, {'memory_total': total})
                    st.modify('host_metrics', m, {'memory_free': max(0, sim.host_memory_free(host))})
                return reply({'host': host, 'memory_total': total, 'free': sim.host_memory_free(host)})
            if name == 'sr_space' and method == 'POST':
                sr = self._find_ref('SR', query.get('sr', ''))
                sim.set_sr_free(sr, int(query['free']))
                used, size = st.get('SR', sr, 'physical_utilisation'), st.get('SR', sr, 'physical_size')
                return reply({'sr': sr, 'physical_size': size, 'physical_utilisation': used, 'free': size - used})
            if name == 'destroy_vms' and method == 'POST':
                return reply({'done': sim.destroy_vms(int(query.get('n', '1')))})
            if name == 'fault' and method == 'POST':
                kind = query.get('kind', '')
                if kind == 'trim_deleted':
                    st.trim_deleted()
                elif kind == 'invalidate_sessions':
                    sim.invalidate_sessions()
                elif kind == 'drop_connections':
                    n = self.srv.registry.drop(except_conn=self.conn)
                    return reply({'ok': True, 'kind': kind, 'dropped': n})
                elif kind == 'slow':
                    sim.slow_ms = max(0, int(query.get('ms', '0')))
                elif kind == 'pause_events':
                    with st.lock:
                        st.events_paused = True
                elif kind == 'resume_events':
                    with st.lock:
                        st.events_paused = False
                        st.wake_all()
                elif kind in ('updater_busy', 'updater_free'):
                    host = self._host_of(query.get('host', '0'))
                    if kind == 'updater_busy':
                        sim.updater_busy(host, query.get('op', 'update'), float(query.get('ms', '0')) / 1000.0)
                    else:
                        sim.updater_free(host)
                elif kind == 'move_master':
                    to = query.get('host')
                    idx = None
                    if to is not None:
                        hosts = sim.pool['hosts']
                        if to.isdigit():
                            idx = int(to)
                        else:
                            for i, h in enumerate(hosts):
                                if to in (h, st.get('host', h, 'uuid'), sim.addresses[i]):
                                    idx = i
                        if idx is None:
                            return reply({'error': 'unknown host %s' % to}, '400 Bad Request')
                    i = sim.move_master(idx, except_conn=self.conn)
                    return reply({'ok': True, 'kind': kind, 'master': sim.addresses[i],
                                  'master_uuid': st.get('host', sim.pool['hosts'][i], 'uuid')})
                else:
                    return reply({'error': 'unknown fault kind %r' % kind}, '400 Bad Request')
                return reply({'ok': True, 'kind': kind})
        except (ValueError, ApiError) as e:
            return reply({'error': str(e)}, '400 Bad Request')
        return reply({'error': 'unknown control endpoint %s %s' % (method, path)}, '404 Not Found')


# ---------------------------------------------------------------- server
class Server:
    def __init__(self, args):
        self.args = args
        self.max_buffer = args.max_buffer_mb << 20
        t0 = time.monotonic()
        self.store = Store(args.seed)
        first = args.bind
        self.addresses = [first] + ['127.0.0.%d' % (i + 1) for i in range(1, args.hosts)]
        if first != '127.0.0.1':
            self.addresses = [first] + ['127.0.0.%d' % (i + 1) for i in range(1, args.hosts)]
        product = software_version(args.family, args.product_version, args.platform_version)
        pool, builder = build_pool(self.store, args.hosts, args.vms, args.seed, self.addresses, product)
        self.sim = Sim(args, self.store, pool, builder, self.addresses)
        self.registry = Registry(self.store)
        self.sim.conn_registry = self.registry
        self.sim.server = self
        self.listen_lock = threading.Lock()
        self.startup_seconds = time.monotonic() - t0
        self.ctx = None
        self.fingerprint = None
        if args.tls:
            self._setup_tls()
        self.listeners = []

    def _setup_tls(self):
        a = self.args
        cert, key = a.cert, a.key
        if not cert:
            d = tempfile.mkdtemp(prefix='xapi-sim-tls-')
            cert, key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
            san = ','.join('IP:%s' % x for x in self.addresses)
            subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
                            '-days', '365', '-subj', '/CN=xapi-sim', '-addext', 'subjectAltName=%s' % san],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.ctx = ctx
        with open(cert) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        self.fingerprint = hashlib.sha256(der).hexdigest()

    def bind(self):
        port = self.args.port
        for attempt in range(20):
            socks = []
            try:
                p = port
                for addr in self.addresses:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((addr, p))
                    s.listen(128)
                    p = s.getsockname()[1]
                    socks.append(s)
                self.port = p
                self.listeners = socks
                return
            except OSError:
                for s in socks:
                    s.close()
                if port != 0:
                    raise
        raise OSError('could not bind all host addresses')

    def url(self, i):
        return '%s://%s:%d/' % ('https' if self.ctx else 'http', self.addresses[i], self.port)

    def info(self):
        st = self.store
        return {'pool': st.get('pool', self.sim.pool['pool'], 'uuid'), 'pool_ref': self.sim.pool['pool'],
                'master': self.addresses[self.sim.master], 'port': self.port, 'tls': bool(self.ctx),
                'fingerprint': self.fingerprint, 'startup_seconds': round(self.startup_seconds, 3),
                'hosts': [{'uuid': st.get('host', h, 'uuid'), 'ref': h, 'address': self.addresses[i],
                           'url': self.url(i), 'master': i == self.sim.master, 'up': i not in self.sim.down}
                          for i, h in enumerate(self.sim.pool['hosts'])]}

    def serve(self):
        for i, s in enumerate(self.listeners):
            threading.Thread(target=self._accept, args=(s, i), daemon=True).start()

    def host_down(self, idx):
        """Host `idx` stops answering: its listening socket closes (connections are refused) and
        its open connections drop."""
        with self.listen_lock:
            s, self.listeners[idx] = self.listeners[idx], None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)      # wakes the accept() blocked in its thread
            except OSError:
                pass
            s.close()
        self.registry.drop(host_idx=idx)

    def host_up(self, idx):
        """Host `idx` listens again on its address and the same port."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(50):
            try:
                s.bind((self.addresses[idx], self.port))
                break
            except OSError:
                time.sleep(0.1)
        s.listen(128)
        with self.listen_lock:
            self.listeners[idx] = s
        threading.Thread(target=self._accept, args=(s, idx), daemon=True).start()

    def _accept(self, lsock, idx):
        while True:
            try:
                s, peer = lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._conn, args=(s, idx, peer), daemon=True).start()

    def _conn(self, s, idx, peer):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ctx is not None:
            try:
                s.settimeout(30)
                s = self.ctx.wrap_socket(s, server_side=True)
                s.settimeout(None)
            except (OSError, ssl.SSLError):
                s.close()
                return
        c = Conn(s, idx, peer)
        self.registry.add(c)
        self.sim.stats.add('connections', 1)
        rf = s.makefile('rb', buffering=65536)
        try:
            Handler(self, c, rf).run()
        except (OSError, ValueError, ssl.SSLError):
            pass
        except Exception as e:      # never let a bad request kill the process
            sys.stderr.write('xapi-sim: connection error: %r\n' % (e,))
        finally:
            self.registry.remove(c)
            try:
                rf.close()
                s.close()
            except OSError:
                pass


def main(argv=None):
    ap = argparse.ArgumentParser(description='XAPI pool simulator (see tests/xapi_sim/README.md)')
    ap.add_argument('--port', type=int, default=0, help='TCP port (0 = pick a free one); every host uses it')
    ap.add_argument('--bind', default='127.0.0.1', help='address of the first host (default 127.0.0.1); '
                    'host i (i>=1) listens on 127.0.0.<i+1>')
    ap.add_argument('--hosts', type=int, default=1)
    ap.add_argument('--vms', type=int, default=10)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--tls', action='store_true')
    ap.add_argument('--cert')
    ap.add_argument('--key')
    ap.add_argument('--user', default='root')
    ap.add_argument('--password', default='password')
    ap.add_argument('--event-batch-ms', type=float, default=50.0,
                    help="XAPI's event.from batching delay (default 50, 0 for benches)")
    ap.add_argument('--task-ms', type=float, default=300.0, help='duration of an Async.* task (default 300 ms)')
    ap.add_argument('--max-buffer-mb', type=int, default=64,
                    help='responses up to this size are sent with Content-Length, bigger ones chunked (default 64)')
    ap.add_argument('--export-running', action='store_true', help='allow /export of running VMs')
    ap.add_argument('--family', choices=sorted(FAMILIES), default='xcp-ng',
                    help='product of the hosts: xcp-ng (default) or xenserver')
    ap.add_argument('--product-version', help='software_version product_version (default 8.2.1)')
    ap.add_argument('--platform-version', help='software_version platform_version (default: from the product; '
                    'below 2.1.1 is the legacy pool_patch world, XenServer before 7.1)')
    args = ap.parse_args(argv)
    if args.hosts < 1 or args.hosts > 250 or args.vms < 0:
        ap.error('--hosts must be 1..250 and --vms >= 0')
    srv = Server(args)
    srv.bind()
    srv.serve()
    out = sys.stdout
    out.write('listening: %s\n' % srv.url(0))
    if srv.fingerprint:
        out.write('fingerprint: %s\n' % srv.fingerprint)
    st = srv.store
    for i, h in enumerate(srv.sim.pool['hosts']):
        out.write('host: %s %s %s\n' % (st.get('host', h, 'uuid'), srv.url(i), 'master' if i == srv.sim.master else 'slave'))
    out.write('pool: %s\n' % st.get('pool', srv.sim.pool['pool'], 'uuid'))
    out.write('startup: %.3f s\n' % srv.startup_seconds)
    out.write('ready\n')
    out.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.is_set():
        stop.wait(1.0)
    for s in srv.listeners:
        if s is not None:
            s.close()
    os._exit(0)


if __name__ == '__main__':
    main()
