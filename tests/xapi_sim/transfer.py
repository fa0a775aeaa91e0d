"""The bulk HTTP handlers of a host: GET /export, PUT /import and PUT /import_raw_vdi, with
XAPI's redirects, early response headers, compression and task handling (ocaml/xapi/
export.ml, import.ml, import_raw_vdi.ml, xapi_http.ml).

A mixin of xapi_sim.Handler: it uses the handler's socket, request reader and helpers. The
XVA format itself is xva.py; disk content is vdisk.py."""
import hashlib
import shutil
import subprocess
import threading
import time
import zlib
from urllib.parse import urlencode

import tarstream
import xva
from simdb import ApiError, now_dt

ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'
GZIP_MAGIC = b'\x1f\x8b'
DRAIN_IDLE_S = 2.0
DRAIN_MAX = 64 << 20


PIECE = 1 << 20


def pieces(read, n=PIECE):
    """The non-empty pieces read(n) returns until it returns b'' (the end of a body)."""
    while True:
        b = read(n)
        if not b:
            return
        yield b


class Pace:
    """Holds a stream to the rate of a knob (bytes per second, 0 = unlimited), read at every
    step so that a change applies at once: how long a host's disk or network takes."""

    def __init__(self, sim, knob):
        self.sim, self.knob = sim, knob
        self.t0, self.done = time.monotonic(), 0

    def step(self, n):
        self.done += n
        rate = self.sim.knobs[self.knob]
        if rate > 0:
            wait = self.t0 + self.done / float(rate) - time.monotonic()
            if wait > 0:
                time.sleep(wait)


class Source:
    """read_exact(n) over a function returning the next piece of bytes (b'' at the end)."""

    def __init__(self, pull, first=b''):
        self.pull = pull
        self.buf = bytearray(first)

    def read_any(self, n=PIECE):
        """What is buffered, else the next piece (b'' at the end)."""
        if self.buf:
            out = bytes(self.buf[:n])
            del self.buf[:n]
            return out
        return self.pull()

    def read_exact(self, n):
        while len(self.buf) < n:
            b = self.pull()
            if not b:
                raise EOFError()
            if not self.buf and len(b) == n:
                return b                    # the piece is the answer: no copy
            self.buf += b
        with memoryview(self.buf) as view:  # one copy out (a slice then bytes() would be two)
            out = bytes(view[:n])
        del self.buf[:n]
        return out


def gunzip_pull(pull):
    """Decompress gzip members (several, as gzip -d does) from pull()."""
    state = {'d': zlib.decompressobj(31), 'eof': False}

    def next_piece():
        while True:
            if state['eof']:
                return b''
            b = pull()
            d = state['d']
            if not b:
                state['eof'] = True
                return d.flush()
            try:
                out = d.decompress(b)
                while d.eof and d.unused_data:
                    rest = d.unused_data
                    d = state['d'] = zlib.decompressobj(31)
                    out += d.decompress(rest)
            except zlib.error:
                state['eof'] = True          # gzip -d stops at corrupt data: the reader meets the end
                return b''
            if out:
                return out
    return next_piece


class Zstd:
    """The zstd command line as a filter: feed() in a thread, read from stdout."""

    def __init__(self, args):
        exe = shutil.which('zstd')
        if exe is None:
            raise ApiError('INTERNAL_ERROR', 'zstd is not installed (scripts/install-deps.sh installs it)')
        self.p = subprocess.Popen([exe, '-q', '-c'] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)

    def feed_from(self, chunks):
        def run():
            try:
                for b in chunks:
                    self.p.stdin.write(b)
            except (OSError, ValueError):
                pass
            finally:
                try:
                    self.p.stdin.close()
                except OSError:
                    pass
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def read(self, n=65536):
        return self.p.stdout.read1(n) if hasattr(self.p.stdout, 'read1') else self.p.stdout.read(n)

    def close(self):
        try:
            self.p.kill()
        except OSError:
            pass
        self.p.wait()
        for f in (self.p.stdin, self.p.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass


class Transfers:
    """GET /export, PUT /import, PUT /import_raw_vdi (mixed into xapi_sim.Handler)."""

    # -- common
    def _here(self):
        return self.sim.pool['hosts'][self.conn.host_idx]

    def _redirect(self, host, path, query):
        """302 to the same path and query on another host (https, no port: as XAPI writes it)."""
        url = 'https://%s%s?%s' % (self.sim.store.get('host', host, 'address'), path, urlencode(query, safe=':'))
        self.sock.sendall(('HTTP/1.1 302 Found\r\nLocation: %s\r\nConnection: close\r\n'
                           'Content-Length: 0\r\n\r\n' % url).encode('latin-1'))
        return False

    def _host_for(self, srs):
        """A live host that sees every SR in `srs` (Xapi_vm_helpers.choose_host), or None."""
        ok = [h for h in self.sim.pool['hosts']
              if self.sim.host_live(h) and all(self.sim.host_sees_sr(h, sr) for sr in srs)]
        return ok[self.sim.rt_rng.randrange(len(ok))] if ok else None

    def _sees_sr(self, sr):
        here = self._here()
        return self.sim.host_live(here) and self.sim.host_sees_sr(here, sr)

    def _redirect_to_sr(self, sr, task, path, query):
        """A PUT for an SR this host cannot see goes to a live host that can (302), or fails its
        task with NO_HOSTS_AVAILABLE and answers nothing."""
        target = self._host_for([sr])
        if target is None:
            self._task_done(task, False, error=ApiError('NO_HOSTS_AVAILABLE'))
            return False
        return self._redirect(target, path, query)

    def _own_task(self, task, label):
        """XAPI runs a handler without task_id under a task of its own, destroyed at the end."""
        if task and task in self.sim.store.tables['task']:
            return task, False
        return self.sim.task_create(None, label, ''), True

    def _end_task(self, task, own, ok, result='', error=None):
        self.sim.task_finish(task, ok, result, error)
        if own:
            try:
                self.sim.store.delete('task', task)
            except ApiError:
                pass

    def _task_cancel_requested(self, task):
        st = self.sim.store
        return task in st.tables['task'] and st.get('task', task, 'status') == 'cancelling'

    def _task_cancelled(self, task):
        st = self.sim.store
        with st.lock:
            if task in st.tables['task']:
                st.modify('task', task, {'status': 'cancelled', 'finished': now_dt(), 'allowed_operations': []})

    def _end_cancelled(self, task, own):
        """A handler stopped by task.cancel: its task ends cancelled (its own task goes)."""
        self._task_cancelled(task)
        if own:
            try:
                self.sim.store.delete('task', task)
            except ApiError:
                pass

    def _progress_fn(self, task):
        last = [0.0]

        def progress(done, total):
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                self._task_progress(task, min(0.99, done / float(total or 1)))
        return progress

    def _find_vm(self, query):
        st = self.sim.store
        if 'ref' in query:
            return query['ref'] if query['ref'] in st.tables['VM'] else None
        return st.by_uuid['VM'].get(query.get('uuid', ''))

    # -- GET /export
    def export(self, query, headers, keep):
        sim = self.sim
        st = sim.store
        sim.stats.call('HTTP GET /export')
        sid, task = self._session_task(query, headers)
        if sid is None:
            return self._forbidden(keep)
        vm = self._find_vm(query)
        if vm is None:
            err = ApiError('HANDLE_INVALID', 'VM', query['ref']) if 'ref' in query else \
                ApiError('UUID_INVALID', 'VM', query.get('uuid', ''))
            self._task_done(task, False, error=err)
            self.send_simple('500 Internal Error', err.code, ctype='text/html', keep=False)
            return False
        here = self._here()
        with st.lock:
            srs = sim.vm_srs(vm)
            local_ok = sim.host_live(here) and all(sim.host_sees_sr(here, sr) for sr in srs)
            target = None if local_ok else self._host_for(srs)
        if not local_ok:
            if target is None:
                # export.ml fails the task and answers nothing
                self._task_done(task, False, error=ApiError('NO_HOSTS_AVAILABLE'))
                return False
            return self._redirect(target, '/export', query)
        preserve = query.get('preserve_power_state', '').lower() == 'true'
        with st.lock:
            ps = st.get('VM', vm, 'power_state')
            allowed = ps in ('Halted', 'Suspended') or self.srv.args.export_running
            if allowed:
                task, own = self._own_task(task, 'VM.export')
                exp = xva.Export(sim, vm, here, preserve)
                st.map_put('VM', vm, 'current_operations', task, 'export')
        if not allowed:
            self._task_done(task, False, error=ApiError('VM_BAD_POWER_STATE', vm, 'halted, suspended', ps.lower()))
            self.send_simple('500 Internal Error', 'VM_BAD_POWER_STATE', ctype='text/html', keep=False)
            return False
        comp = (query.get('use_compression') or 'false').lower()
        try:
            ok, err = self._send_export(exp, task, comp)
        finally:
            try:
                st.map_del('VM', vm, 'current_operations', task)
            except ApiError:
                pass
        if ok is None:
            self._end_cancelled(task, own)
        else:
            self._end_task(task, own, ok, '', err)
        return False

    def _send_export(self, exp, task, comp):
        """Stream the XVA. Returns (True, None), (False, ApiError) or (None, None) if cancelled."""
        sim = self.sim
        sent = [0]
        cancelled = [False]

        def keep_going():
            if self._task_cancel_requested(task):
                cancelled[0] = True
            return not cancelled[0]

        def throttled(chunks):
            pace = Pace(sim, 'export_rate')
            for b in chunks:
                yield b
                pace.step(len(b))

        def send(b):
            self.sock.sendall(b)
            sent[0] += len(b)

        zstd = None
        try:
            if comp == 'zstd':
                zstd = Zstd(['-1'])
            sv = sim.store.get('host', self._here(), 'software_version')
            self.sock.sendall(('HTTP/1.0 200 OK\r\nConnection: close\r\nCache-Control: no-cache, no-store\r\n'
                               'task-id: %s\r\nServer: xapi/%s\r\nContent-Type: application/octet-stream\r\n'
                               'Content-Disposition: attachment; filename="export.xva"\r\n\r\n'
                               % (task, sv.get('xapi', '1.20'))).encode('latin-1'))
            chunks = throttled(exp.stream(self._progress_fn(task), keep_going))
            if zstd is not None:
                zstd.feed_from(chunks)
                while True:
                    b = zstd.read()
                    if not b:
                        break
                    send(b)
            elif comp in ('true', 'gzip'):
                co = zlib.compressobj(1, zlib.DEFLATED, 31)
                for b in chunks:
                    c = co.compress(b)
                    if c:
                        send(c)
                if not cancelled[0]:
                    send(co.flush())
            else:
                for b in chunks:
                    send(b)
        except OSError as e:
            return False, ApiError('CLIENT_ERROR', 'INTERNAL_ERROR: [ Unix.Unix_error(Unix.%s, "write", "") ]'
                                   % ('EPIPE' if getattr(e, 'errno', 0) == 32 else 'ECONNRESET'))
        except ApiError as e:
            return False, e
        except Exception as e:      # vdisk.ContentLost and the like
            return False, ApiError('VDI_IO_ERROR', 'Device I/O error: %r' % (e,))
        finally:
            if zstd is not None:
                zstd.close()
            sim.stats.add('bytes_exported', sent[0])
        if cancelled[0]:
            return None, None
        return True, None

    # -- body of a PUT (XAPI reads no chunked body; Xen Orchestra sends 1 PiB and closes)
    def _put_reader(self, headers, pace=None):
        """read(k) of the body (b'' at its end) and the count of bytes read; with a Pace,
        at its rate."""
        n = int(headers.get('content-length', '-1') or -1)
        remaining = [n if n >= 0 else 1 << 62]
        counter = [0]

        def read(k=PIECE):
            k = min(k, remaining[0])
            if k <= 0:
                return b''
            try:
                b = self.rfile.read1(k) if hasattr(self.rfile, 'read1') else self.rfile.read(k)
            except OSError:
                b = b''
            remaining[0] -= len(b)
            counter[0] += len(b)
            if not b:
                remaining[0] = 0
            elif pace is not None:
                pace.step(len(b))
            return b
        return read, counter

    def _drain(self, read):
        """Read what the client still sends after the handler is done (bounded), so closing
        does not reset a connection whose last bytes are still in flight."""
        try:
            self.sock.settimeout(DRAIN_IDLE_S)
            total = 0
            for b in pieces(read):
                total += len(b)
                if total >= DRAIN_MAX:
                    break
        except (OSError, ValueError):
            pass

    def _ok_headers(self, task, space=''):
        return ('HTTP/1.1 200 OK\r\nConnection: close\r\nCache-Control: no-cache, no-store\r\n'
                'task-id:%s%s\r\nContent-Type: application/octet-stream\r\n\r\n' % (space, task)).encode('latin-1')

    def _refuse_encoding(self, task, headers):
        """The raw upload handlers read no chunked (or other encoded) body: 404."""
        self._task_done(task, False, error=ApiError('INTERNAL_ERROR', 'Cannot handle encoding: %s'
                                                    % headers['transfer-encoding']))
        return self._finish_put('404 Not Found', 'chunked')

    def _send_ok(self, task, own):
        """The 200 before the body is read (import.ml); False (task failed) if the client left."""
        try:
            self.sock.sendall(self._ok_headers(task))
            return True
        except OSError:
            self._end_task(task, own, False, error=ApiError('CLIENT_ERROR', 'connection closed'))
            return False

    def _new_vdi(self, sid, sr, n, task, own):
        """The VDI an upload without one creates (n bytes); None (task failed, 500) if refused."""
        try:
            return self.sim.vdi_create(sid, {'name_label': 'Imported VDI', 'SR': sr, 'virtual_size': n,
                                             'type': 'user'})
        except ApiError as e:
            self._end_task(task, own, False, error=e)
            self._finish_put('500 Internal Error', e.code)
            return None

    def _upload_into(self, vdi, task, read, counter):
        """The 200 then the body into the VDI; (ok, error). bytes_imported counts the body."""
        done = self.sim.upload_started(vdi)
        try:
            self.sock.sendall(self._ok_headers(task))
            return self._receive_raw(vdi, read)
        except OSError:
            return False, ApiError('CLIENT_ERROR', 'connection closed')
        finally:
            done()
            self.sim.stats.add('bytes_imported', counter[0])

    def _sr_of_request(self, query):
        st = self.sim.store
        if query.get('sr_id'):
            return query['sr_id']
        if query.get('sr_uuid'):
            return st.by_uuid['SR'].get(query['sr_uuid'], query['sr_uuid'])
        return None

    # -- PUT /import
    def put_import(self, query, headers):
        sim = self.sim
        st = sim.store
        sim.stats.call('HTTP PUT /import')
        sid, task = self._session_task(query, headers)
        if sid is None:
            return self._forbidden()
        sr = self._sr_of_request(query) or st.get('pool', sim.pool['pool'], 'default_SR')
        if sr not in st.tables['SR']:
            err = ApiError('HANDLE_INVALID', 'SR', sr) if self._sr_of_request(query) else \
                ApiError('DEFAULT_SR_NOT_FOUND', sr)
            self._task_done(task, False, error=err)
            return self._finish_put('500 Internal Error', err.code)
        if not self._sees_sr(sr):
            return self._redirect_to_sr(sr, task, '/import', query)
        if st.get('SR', sr, 'content_type') == 'iso':
            self._task_done(task, False, error=ApiError('SR_OPERATION_NOT_SUPPORTED'))
            return self._finish_put('400 Bad Request', 'SR_OPERATION_NOT_SUPPORTED')
        if headers.get('transfer-encoding'):
            self._task_done(task, False, error=ApiError('IMPORT_ERROR_CANNOT_HANDLE_CHUNKED'))
            return self._finish_put('403 Forbidden', 'IMPORT_ERROR_CANNOT_HANDLE_CHUNKED')
        task, own = self._own_task(task, 'VM.import')
        self._task_progress(task, 0.0)
        read, counter = self._put_reader(headers, Pace(sim, 'import_rate'))
        if not self._send_ok(task, own):       # before reading, as import.ml
            return False
        imp = xva.Import(sim, sr, task, restore=query.get('restore') == 'true',
                         force=query.get('force') == 'true', progress=self._progress_fn(task))
        zstd = None
        try:
            reader, size, zstd = self._open_archive(read)
            vms = imp.run(reader, size)
            result = '<value><array><data>%s</data></array></value>' % ''.join('<value>%s</value>' % v for v in vms)
            self._end_task(task, own, True, result)
        except ApiError as e:
            if e.code == 'TASK_CANCELLED':      # the task ends cancelled, not failed
                self._end_cancelled(task, own)
            else:
                self._end_task(task, own, False, error=e)
        finally:
            if zstd is not None:
                zstd.close()
            self._drain(read)
            sim.stats.add('bytes_imported', counter[0])
        return False

    def _open_archive(self, read):
        """import.ml with_open_archive: the first 512 bytes must be the header of ova.xml, else
        the stream is decompressed (zstd if it starts with zstd's magic, else gzip) and read again.
        Returns (tar reader after the ova.xml header, size of ova.xml, zstd process or None)."""
        body = Source(read)
        try:
            first = body.read_exact(tarstream.BLOCK)
        except EOFError:
            first, body.buf = bytes(body.buf), bytearray()   # shorter than a block: maybe compressed
        try:
            name, size, _ = tarstream.parse_header(first)
        except (tarstream.TarError, EOFError):
            name = None
        if name == xva.OVA:
            return tarstream.Reader(body.read_exact), size, None
        # what the body source already holds comes first, then the rest of the body
        first += bytes(body.buf)
        zstd = None
        if first[:4] == ZSTD_MAGIC:
            zstd = Zstd(['-d'])

            def body():
                yield first
                yield from pieces(read)
            zstd.feed_from(body())
            pull = zstd.read
        elif first[:2] == GZIP_MAGIC:
            sent = [False]

            def raw():
                if not sent[0]:
                    sent[0] = True
                    return first
                return read(PIECE)
            pull = gunzip_pull(raw)
        else:
            # gzip -d refuses it: the tar reader meets the end of its output at once
            raise ApiError('IMPORT_ERROR_PREMATURE_EOF')
        reader = tarstream.Reader(Source(pull).read_exact)
        try:
            try:
                entry = reader.next()
            except EOFError:
                raise ApiError('IMPORT_ERROR_PREMATURE_EOF')
            except tarstream.TarError as e:
                raise xva.xapi_failure('Failure("%s")' % e)
            if entry is None or entry[0] != xva.OVA:
                raise ApiError('IMPORT_ERROR_UNEXPECTED_FILE', xva.OVA, entry[0] if entry else '')
        except ApiError:
            if zstd is not None:
                zstd.close()
            raise
        return reader, entry[1], zstd

    # -- PUT /pool_patch_upload
    def put_patch(self, query, headers):
        """An update ISO (update system, XenServer 7.1+ and XCP-ng: xapi_pool_patch.ml
        pool_patch_upload_handler) goes into a new VDI on the default SR like /import_raw_vdi,
        then pool_update.introduce; the task result is the mirroring pool_patch's ref. A legacy
        .xsupdate (XOSIMPATCH header, or any body before 7.1) makes a pool_patch directly."""
        sim = self.sim
        st = sim.store
        sim.stats.call('HTTP PUT /pool_patch_upload')
        sid, task = self._session_task(query, headers)
        if sid is None:
            return self._forbidden()
        if headers.get('transfer-encoding'):
            return self._refuse_encoding(task, headers)
        task, own = self._own_task(task, 'Uploading update')
        read, counter = self._put_reader(headers)
        body = Source(read)
        try:
            head = body.read_exact(len(b'XOSIMPATCH\n'))
        except EOFError:
            head = bytes(body.buf)
        body.buf[0:0] = head
        if not sim.is_legacy_patch(head):
            return self._patch_as_update(query, headers, task, own, body, counter, sid)
        if not self._send_ok(task, own):
            return False
        h = hashlib.sha256()
        first = b''
        size = 0
        for b in pieces(body.read_any):
            h.update(b)
            size += len(b)
            if len(first) < 65536:
                first += b[:65536 - len(first)]
        sim.stats.add('bytes_imported', counter[0])
        if size == 0:
            self._end_task(task, own, False, error=ApiError('INVALID_PATCH', 'empty upload'))
            return False
        try:
            patch = sim.patch_upload(first, size, h.hexdigest())
            self._end_task(task, own, True, '<value>%s</value>' % patch)
        except ApiError as e:
            self._end_task(task, own, False, error=e)
        return False

    def _patch_as_update(self, query, headers, task, own, body, counter, sid):
        sim = self.sim
        st = sim.store
        n = int(headers.get('content-length', '-1') or -1)
        sr = self._sr_of_request(query) or st.get('pool', sim.pool['pool'], 'default_SR')
        if n < 0 or sr not in st.tables['SR']:
            self._end_task(task, own, False, error=ApiError('INTERNAL_ERROR', 'Not enough info supplied to import'))
            return self._finish_put('400 Bad Request', 'Not enough info supplied to import')
        vdi = self._new_vdi(sid, sr, n, task, own)
        if vdi is None:
            return False
        ok, err = self._upload_into(vdi, task, body.read_any, counter)
        if ok:
            try:
                upd = sim.update_introduce(sid, vdi)
                patch = sim._patch_of_update(upd)
                # xapi_pool_patch.ml sets the plain ref as the result (no XML-RPC value)
                self._end_task(task, own, True, patch)
                return False
            except ApiError as e:
                err = e
        try:
            sim.vdi_destroy(sid, vdi)
        except ApiError:
            pass
        self._end_task(task, own, False, error=err)
        return False

    # -- PUT /import_raw_vdi
    def put_raw_vdi(self, query, headers):
        sim = self.sim
        st = sim.store
        sim.stats.call('HTTP PUT /import_raw_vdi')
        sid, task = self._session_task(query, headers)
        if sid is None:
            return self._forbidden()
        vdi = query.get('vdi') or ''
        if vdi and vdi not in st.tables['VDI']:
            vdi = st.by_uuid['VDI'].get(vdi, vdi)
        fmt = query.get('format', 'raw')
        sr = st.get('VDI', vdi, 'SR') if vdi in st.tables['VDI'] else self._sr_of_request(query)
        if vdi and vdi not in st.tables['VDI']:
            self._task_done(task, False, error=ApiError('HANDLE_INVALID', 'VDI', vdi))
            return self._finish_put('500 Internal Error', 'HANDLE_INVALID')
        if sr is None or sr not in st.tables['SR']:
            self._task_done(task, False, error=ApiError('VDI_MISSING'))
            return self._finish_put('400 Bad Request', 'VDI_MISSING')
        if not self._sees_sr(sr):
            return self._redirect_to_sr(sr, task, '/import_raw_vdi', query)
        if fmt not in ('raw', 'vhd'):
            self._task_done(task, False, error=ApiError('INTERNAL_ERROR', 'Unknown format ' + fmt))
            return self._finish_put('404 Not Found', 'unknown format')
        if headers.get('transfer-encoding'):
            return self._refuse_encoding(task, headers)
        task, own = self._own_task(task, 'Importing raw VDI')
        read, counter = self._put_reader(headers)
        if not vdi:
            n = int(headers.get('content-length', '-1') or -1)
            if fmt != 'raw' or n < 0:
                self._end_task(task, own, False, error=ApiError('INTERNAL_ERROR',
                                                                'Not enough info supplied to import'))
                return self._finish_put('400 Bad Request', 'Not enough info supplied to import')
            vdi = self._new_vdi(sid, sr, n, task, own)
            if vdi is None:
                return False
        ok, err = self._upload_into(vdi, task, read, counter)
        self._end_task(task, own, ok, '<value>%s</value>' % vdi if ok else '', err)
        return False

    def _receive_raw(self, vdi, read):
        """Write the body into the VDI's content from offset 0 (vhd is stored as it comes)."""
        sim = self.sim
        st = sim.store
        size = st.get('VDI', vdi, 'virtual_size')
        disk = sim.disk(vdi)
        disk.budget = sim.raw_budget
        h = hashlib.sha256()
        offset = 0
        for b in pieces(read):
            if offset + len(b) > size:
                return False, ApiError('VDI_IO_ERROR', 'Device I/O error')
            disk.write(offset, b)
            h.update(b)
            offset += len(b)
        sim.vdi_content[vdi] = {'size': offset, 'sha256': h.hexdigest()}
        try:
            st.modify('VDI', vdi, {'physical_utilisation': offset})
        except ApiError:
            pass
        return True, None

