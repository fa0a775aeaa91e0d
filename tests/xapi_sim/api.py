"""XAPI API semantics: sessions, generic class methods, event.from/inject, VM power operations,
tasks (sync and Async.*), messages, patches/updates, plugins, churn and faults."""
import hashlib
import json
import random
import threading
import time

import rfb
import wire
from poolgen import ALLOWED_OPS, Builder, dt, MiB
from simdb import ApiError, CLASSES, Store, Subs, make_token, now_dt, parse_token
from wire import DT, NULL_REF, EPOCH


class Dropped(Exception):
    """The client connection was dropped by a fault while a call was blocked."""


class EventFromResult:
    def __init__(self, events, counts, token, store):
        self.events = events          # (op, cls, ref, gen)
        self.counts = counts
        self.token = token
        self.store = store


class RecordsResult:
    def __init__(self, cls, items):
        self.cls = cls
        self.items = items            # [(ref, row)]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = 0
        self.by_method = {}
        self.events = 0
        self.bytes_exported = 0
        self.bytes_imported = 0
        self.event_from_calls = 0
        self.connections = 0
        self.console_keys = 0
        self.console_pointer = 0

    def call(self, m):
        with self.lock:
            self.calls += 1
            self.by_method[m] = self.by_method.get(m, 0) + 1

    def add(self, name, n):
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


# Run-time knobs of the simulator (POST /sim/config?name=value): name -> (type, default, doc).
KNOBS = {
    'console_stream': (bool, False, 'console sessions push framebuffer updates as fast as their client reads'),
}


VOID = ('void',)
T_STR = ('string',)
T_REF = ('ref', '')
T_REFSET = ('set', ('ref', ''))
T_INT = ('int',)


class Sim:
    def __init__(self, args, store, pool, builder, addresses):
        self.args = args
        self.store = store
        self.pool = pool
        self.builder = builder
        self.addresses = addresses          # host index -> IP
        self.master = 0
        self.stats = Stats()
        self.slow_ms = 0
        self.batch = args.event_batch_ms / 1000.0
        self.task_ms = args.task_ms
        self.vm_list = list(pool['vms'])
        self.vdi_content = {}
        self.rt_rng = store.rt_rng
        self.rt_builder = Builder(store, self.rt_rng, int(time.time()))
        self.conn_registry = None           # set by server
        self.host_updates = {}
        self.churn_lock = threading.Lock()
        self.consoles = rfb.Consoles()
        self.knobs = {k: default for k, (_, default, _) in KNOBS.items()}
        rng = random.Random(args.seed + 99)
        for h in pool['hosts']:
            self.host_updates[h] = [
                {'name': n, 'version': '%d.%d.%d' % (rng.randint(1, 9), rng.randint(0, 20), rng.randint(0, 9)),
                 'release': '%d.xcpng8.2' % rng.randint(1, 9), 'size': rng.randint(10000, 5000000),
                 'url': 'https://updates.xcp-ng.org/8/8.2/base/x86_64/%s.rpm' % n,
                 'description': 'Updated %s package' % n, 'license': 'GPLv2',
                 'changelog': {'date': 1704067200, 'author': 'Sim <sim@example.org>',
                               'description': '- Fix things in %s' % n}}
                for n in ('xapi-core', 'xen-hypervisor', 'sm')[:rng.randint(1, 3)]]
        self.methods = {}
        self._register()

    # ------------------------------------------------------------ knobs
    def set_knob(self, name, text):
        """Set a knob from its query-string text. Raises ValueError for an unknown name or a bad value."""
        if name not in KNOBS:
            raise ValueError('unknown knob %s' % name)
        tp = KNOBS[name][0]
        if tp is bool:
            if text.lower() not in ('1', '0', 'true', 'false'):
                raise ValueError('%s must be 0/1/true/false' % name)
            value = text.lower() in ('1', 'true')
        else:
            value = tp(text)
            if value < 0:
                raise ValueError('%s must be >= 0' % name)
        self.knobs[name] = value
        if name == 'console_stream':
            self.consoles.stream = value

    # ------------------------------------------------------------ helpers
    @property
    def master_ref(self):
        return self.pool['hosts'][self.master]

    def check_session(self, sid):
        if not isinstance(sid, str) or sid not in self.store.sessions:
            raise ApiError('SESSION_INVALID', sid)
        s = self.store.sessions[sid]
        s['last_active'] = time.time()
        return s

    def _register(self):
        m = self.methods
        m['session.login_with_password'] = (self.login, (2, 4), T_REF)
        m['session.logout'] = (self.logout, (1, 1), VOID)
        m['session.get_this_host'] = (lambda s, self_: self.store.sessions[s]['this_host'], (2, 2), T_REF)
        m['session.get_uuid'] = (lambda s, self_: self.store.sessions[s]['uuid'], (2, 2), T_STR)
        m['system.listMethods'] = (self.list_methods, (0, 0), ('set', T_STR))
        m['event.from'] = (self.event_from, (4, 4), ('event_from',))
        m['event.inject'] = (self.event_inject, (3, 3), T_STR)
        m['event.get_current_id'] = (lambda s: self.store.gen, (1, 1), T_INT)
        vm_ops = {
            'start': (self.vm_start, 4), 'start_on': (self.vm_start_on, 5), 'clean_shutdown': (self.vm_shutdown, 2),
            'hard_shutdown': (self.vm_hard_shutdown, 2), 'shutdown': (self.vm_shutdown, 2),
            'clean_reboot': (self.vm_reboot, 2), 'hard_reboot': (self.vm_hard_reboot, 2),
            'suspend': (self.vm_suspend, 2), 'resume': (self.vm_resume, 4), 'resume_on': (self.vm_resume_on, 5),
            'pause': (self.vm_pause, 2), 'unpause': (self.vm_unpause, 2),
        }
        for op, (fn, n) in vm_ops.items():
            m['VM.' + op] = (fn, (n, n), VOID)
        m['VM.snapshot'] = (self.vm_snapshot, (3, 4), ('ref', 'VM'))
        m['VM.clone'] = (self.vm_clone, (3, 3), ('ref', 'VM'))
        m['VM.copy'] = (self.vm_copy, (4, 4), ('ref', 'VM'))
        m['VM.destroy'] = (self.vm_destroy, (2, 2), VOID)
        m['VM.pool_migrate'] = (self.vm_pool_migrate, (4, 4), VOID)
        m['VDI.create'] = (self.vdi_create, (2, 2), ('ref', 'VDI'))
        m['VDI.destroy'] = (self.vdi_destroy, (2, 2), VOID)
        m['task.create'] = (self.task_create, (3, 3), ('ref', 'task'))
        m['task.destroy'] = (self.task_destroy, (2, 2), VOID)
        m['task.cancel'] = (self.task_cancel, (2, 2), VOID)
        m['task.set_progress'] = (lambda s, t, p: self.store.modify('task', t, {'progress': float(p)}), (3, 3), VOID)
        m['task.set_status'] = (lambda s, t, st: self.store.modify('task', t, {'status': st}), (3, 3), VOID)
        m['message.create'] = (self.message_create, (6, 6), ('ref', 'message'))
        m['message.destroy'] = (lambda s, r: self.store.delete('message', r), (2, 2), VOID)
        m['host.call_plugin'] = (self.call_plugin, (5, 5), T_STR)
        m['pool.designate_new_master'] = (self.designate_new_master, (2, 2), VOID)
        m['pool_patch.pool_apply'] = (self.patch_pool_apply, (2, 2), VOID)
        m['pool_patch.apply'] = (self.patch_apply, (3, 3), T_STR)
        m['pool_patch.precheck'] = (self.patch_precheck, (3, 3), T_STR)
        m['pool_patch.clean'] = (lambda s, p: None, (2, 2), VOID)
        m['pool_patch.pool_clean'] = (lambda s, p: None, (2, 2), VOID)
        m['pool_patch.destroy'] = (lambda s, p: self.store.delete('pool_patch', p), (2, 2), VOID)
        m['pool_update.introduce'] = (self.update_introduce, (2, 2), ('ref', 'pool_update'))
        m['pool_update.precheck'] = (self.update_precheck, (3, 3), ('enum', 'livepatch_status'))
        m['pool_update.apply'] = (self.update_apply, (3, 3), VOID)
        m['pool_update.pool_apply'] = (self.update_pool_apply, (2, 2), VOID)
        m['pool_update.pool_clean'] = (lambda s, u: None, (2, 2), VOID)
        m['pool_update.destroy'] = (lambda s, u: self.store.delete('pool_update', u), (2, 2), VOID)

    def list_methods(self):
        out = ['system.listMethods']
        for cls, ci in CLASSES.items():
            out += ['%s.get_all_records' % cls, '%s.get_all' % cls, '%s.get_record' % cls, '%s.get_by_uuid' % cls]
            if ci.has_name_label:
                out.append('%s.get_by_name_label' % cls)
            for f, tp, q in ci.fields:
                out.append('%s.get_%s' % (cls, f))
                if q == 'RW':
                    out.append('%s.set_%s' % (cls, f))
                    if tp[0] == 'map':
                        out += ['%s.add_to_%s' % (cls, f), '%s.remove_from_%s' % (cls, f)]
                    elif tp[0] == 'set':
                        out += ['%s.add_%s' % (cls, f), '%s.remove_%s' % (cls, f)]
        out += [k for k in self.methods if k not in out]
        return out

    # ------------------------------------------------------------ dispatch
    def dispatch(self, method, params, host_idx, conn):
        """Returns (value, type). Raises ApiError."""
        self.stats.call(method)
        if self.slow_ms:
            time.sleep(self.slow_ms / 1000.0)
        if host_idx != self.master and not method.startswith('system.'):
            raise ApiError('HOST_IS_SLAVE', self.addresses[self.master])
        if method.startswith('Async.'):
            return self.async_call(method[6:], params, host_idx)
        fn, tp, nargs, needs_session = self.resolve(method)
        lo, hi = nargs
        if not (lo <= len(params) <= hi):
            raise ApiError('MESSAGE_PARAMETER_COUNT_MISMATCH', method, hi, len(params))
        if needs_session:
            self.check_session(params[0])
        if method == 'event.from':
            return self.event_from(*params, conn=conn), tp
        if method == 'session.login_with_password':
            return self.login(*params, host_idx=host_idx), tp
        return fn(*params), tp

    def resolve(self, method):
        ent = self.methods.get(method)
        if ent is not None:
            fn, nargs, tp = ent
            return fn, tp, nargs, not (method.startswith('session.login') or method.startswith('system.'))
        cls, _, op = method.partition('.')
        ci = CLASSES.get(cls)
        if ci is None or not op:
            raise ApiError('MESSAGE_METHOD_UNKNOWN', method)
        st = self.store
        if op == 'get_all_records':
            def fn(s):
                with st.lock:
                    items = list(st.tables[cls].items())
                return RecordsResult(cls, items)
            return fn, ('recmap', cls), (1, 1), True
        if op == 'get_all':
            return (lambda s: list(st.tables[cls])), ('set', ('ref', cls)), (1, 1), True
        if op == 'get_record':
            return (lambda s, r: st.get_row(cls, r)), ('record', cls), (2, 2), True
        if op == 'get_by_uuid':
            def fn(s, u):
                r = st.by_uuid[cls].get(u)
                if r is None:
                    raise ApiError('UUID_INVALID', cls, u)
                return r
            return fn, ('ref', cls), (2, 2), True
        if op == 'get_by_name_label' and ci.has_name_label:
            i = ci.idx['name_label']
            return (lambda s, n: [r for r, row in list(st.tables[cls].items()) if row[i] == n]), \
                ('set', ('ref', cls)), (2, 2), True
        for prefix in ('get_', 'set_', 'add_to_', 'remove_from_', 'add_', 'remove_'):
            if op.startswith(prefix):
                f = op[len(prefix):]
                if f not in ci.idx:
                    continue
                tp = ci.types[f]
                if prefix == 'get_':
                    return (lambda s, r: st.get(cls, r, f)), tp, (2, 2), True
                if ci.qual[f] != 'RW':
                    break
                if prefix == 'set_':
                    def fn(s, r, v):
                        try:
                            v = wire.coerce(tp, v)
                        except (TypeError, ValueError):
                            raise ApiError('FIELD_TYPE_ERROR', f)
                        st.modify(cls, r, {f: v})
                    return fn, VOID, (3, 3), True
                if prefix == 'add_to_' and tp[0] == 'map':
                    def fn(s, r, k, v):
                        with st.lock:
                            if k in st.get(cls, r, f):
                                raise ApiError('MAP_DUPLICATE_KEY', cls, f, r, k)
                            st.map_put(cls, r, f, k, wire.coerce(tp[2], v))
                    return fn, VOID, (4, 4), True
                if prefix == 'remove_from_' and tp[0] == 'map':
                    return (lambda s, r, k: st.map_del(cls, r, f, k)), VOID, (3, 3), True
                if prefix == 'add_' and tp[0] == 'set':
                    return (lambda s, r, v: st.add_to_set(cls, r, f, wire.coerce(tp[1], v))), VOID, (3, 3), True
                if prefix == 'remove_' and tp[0] == 'set':
                    return (lambda s, r, v: st.remove_from_set(cls, r, f, v)), VOID, (3, 3), True
        raise ApiError('MESSAGE_METHOD_UNKNOWN', method)

    # ------------------------------------------------------------ sessions
    def login(self, user, password, version=None, originator=None, host_idx=0):
        if user != self.args.user or password != self.args.password:
            raise ApiError('SESSION_AUTHENTICATION_FAILED', user, 'Authentication failure')
        return self.new_session(user, originator)

    def new_session(self, user, originator=None):
        st = self.store
        with st.lock:
            ref = 'OpaqueRef:' + st.new_uuid(self.rt_rng)
            st.sessions[ref] = {'uuid': st.new_uuid(self.rt_rng), 'user': user, 'this_host': self.master_ref,
                                'originator': originator or '', 'last_active': time.time()}
        return ref

    def logout(self, sid):
        with self.store.lock:
            self.store.sessions.pop(sid, None)
            self.store.cond.notify_all()

    def invalidate_sessions(self):
        with self.store.lock:
            self.store.sessions.clear()
            self.store.cond.notify_all()

    # ------------------------------------------------------------ events
    def event_inject(self, s, cls, ref):
        st = self.store
        with st.lock:
            real = None
            for c in CLASSES:
                if ref in st.tables[c]:
                    real = c
                    break
            if real is None or real != cls:
                raise ApiError('HANDLE_INVALID', cls, ref)
            st.touch(cls, ref)
            return make_token(st.gen - 1, 0)

    def event_from(self, s, classes, token, timeout, conn=None):
        st = self.store
        self.stats.add('event_from_calls', 1)
        if not isinstance(classes, list):
            raise ApiError('FIELD_TYPE_ERROR', 'classes')
        since, since_msg = parse_token(token if isinstance(token, str) else str(token))
        subs = Subs([str(c) for c in classes])
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            timeout = 86400.0
        if not (timeout == timeout) or timeout > 86400 * 365:
            timeout = 86400.0
        deadline = time.monotonic() + timeout
        before = 0.0 if subs.task_only() else self.batch
        if before > 0:
            self._sleep_checked(before, s, conn)
        while True:
            with st.lock:
                if s not in st.sessions:
                    raise ApiError('SESSION_INVALID', s)
                if conn is not None and conn.dropped:
                    raise Dropped()
                if st.events_paused:
                    events, last, msg_gen = [], since, since_msg
                else:
                    events, last, msg_gen = st.collect(subs, since, since_msg)
                if events or time.monotonic() >= deadline:
                    counts = st.valid_ref_counts()
                    token = make_token(last, msg_gen)
                    break
                since, since_msg = last, msg_gen
                g0, m0, p0 = st.gen, st.msg_gen, st.events_paused
                while True:
                    rem = deadline - time.monotonic()
                    if rem <= 0:
                        break
                    if s not in st.sessions or (conn is not None and conn.dropped):
                        break
                    if (st.gen != g0 or st.msg_gen != m0) and not st.events_paused:
                        break
                    if p0 and not st.events_paused:
                        break
                    st.cond.wait(min(rem, 1.0))
                if s not in st.sessions:
                    raise ApiError('SESSION_INVALID', s)
                if conn is not None and conn.dropped:
                    raise Dropped()
            if self.batch > 0 and time.monotonic() < deadline:
                self._sleep_checked(self.batch, s, conn)
        self.stats.add('events', len(events))
        return EventFromResult(events, counts, token, st)

    def _sleep_checked(self, secs, s, conn):
        end = time.monotonic() + secs
        while True:
            rem = end - time.monotonic()
            if rem <= 0:
                return
            time.sleep(min(rem, 0.05))
            if conn is not None and conn.dropped:
                raise Dropped()

    # ------------------------------------------------------------ tasks
    def task_create(self, s, label, desc, status='pending'):
        st = self.store
        return st.create('task', {
            'name_label': label, 'name_description': desc, 'allowed_operations': ['cancel'],
            'current_operations': {}, 'created': now_dt(), 'finished': EPOCH, 'status': status,
            'resident_on': self.master_ref, 'progress': 0.0, 'type': '', 'result': '', 'error_info': [],
            'other_config': {}, 'subtask_of': NULL_REF, 'subtasks': [], 'backtrace': '()'}, rng=self.rt_rng)

    def task_destroy(self, s, t):
        self.store.delete('task', t)

    def task_cancel(self, s, t):
        st = self.store
        with st.lock:
            if st.get('task', t, 'status') == 'pending':
                st.modify('task', t, {'status': 'cancelling'})

    def task_finish(self, t, ok, result='', error=None):
        st = self.store
        try:
            with st.lock:
                if t not in st.tables['task']:
                    return
                if ok:
                    st.modify('task', t, {'status': 'success', 'progress': 1.0, 'finished': now_dt(),
                                          'result': result, 'allowed_operations': []})
                else:
                    st.modify('task', t, {'status': 'failure', 'progress': 1.0, 'finished': now_dt(),
                                          'error_info': [error.code] + error.params, 'allowed_operations': []})
        except ApiError:
            pass

    def async_call(self, method, params, host_idx):
        fn, tp, nargs, needs_session = self.resolve(method)
        if not needs_session or method.startswith('event.') or '.get_' in method:
            raise ApiError('MESSAGE_METHOD_UNKNOWN', 'Async.' + method)
        lo, hi = nargs
        if not (lo <= len(params) <= hi):
            raise ApiError('MESSAGE_PARAMETER_COUNT_MISMATCH', 'Async.' + method, hi, len(params))
        self.check_session(params[0])
        t = self.task_create(params[0], 'Async.' + method, '')
        st = self.store

        def run():
            steps = 3
            for i in range(1, steps + 1):
                time.sleep(self.task_ms / 1000.0 / (steps + 1))
                with st.lock:
                    if t not in st.tables['task']:
                        return
                    if st.get('task', t, 'status') == 'cancelling':
                        st.modify('task', t, {'status': 'cancelled', 'finished': now_dt(), 'allowed_operations': []})
                        return
                    st.modify('task', t, {'progress': round(i / (steps + 1.0), 3)})
            try:
                v = fn(*params)
                res = '' if tp[0] == 'void' else wire.xml_encoder(tp)(v)
                self.task_finish(t, True, res)
            except ApiError as e:
                self.task_finish(t, False, error=e)
            except Exception as e:   # bounded: report as an internal error
                self.task_finish(t, False, error=ApiError('INTERNAL_ERROR', repr(e)))
        threading.Thread(target=run, daemon=True).start()
        return t, ('ref', 'task')

    # ------------------------------------------------------------ VM power
    def _vm(self, vm, op, expected):
        st = self.store
        row = st.get_row('VM', vm)
        idx = CLASSES['VM'].idx
        if row[idx['is_a_template']]:
            raise ApiError('VM_IS_TEMPLATE', vm, op)
        if row[idx['is_control_domain']]:
            raise ApiError('OPERATION_NOT_ALLOWED', 'Operation %s is not allowed on a control domain' % op)
        ps = row[idx['power_state']]
        if ps not in expected:
            raise ApiError('VM_BAD_POWER_STATE', vm, expected[0].lower(), ps.lower())
        return row, idx

    def _pick_host(self, vm):
        """Where VM.start/resume put a VM: its affinity if it can run there, else a random host
        that can run it (enabled, live, sees its SRs, has the memory), as XAPI's choose_host."""
        aff = self.store.get('VM', vm, 'affinity')
        if aff in self.store.tables['host'] and self._run_error(vm, aff) is None:
            return aff
        hosts = [h for h in self.pool['hosts'] if self._run_error(vm, h) is None]
        if not hosts:
            raise ApiError('NO_HOSTS_AVAILABLE')
        return hosts[self.rt_rng.randrange(len(hosts))]

    # ------------------------------------------------------------ where a VM can run
    def host_memory_free(self, host):
        """memory_total minus the host's overhead and what its resident VMs use (dom0 included).
        host_metrics.memory_free is not maintained at run time; this is what the checks use."""
        st = self.store
        m = st.get('host', host, 'metrics')
        total = st.get('host_metrics', m, 'memory_total') if m in st.tables['host_metrics'] else 0
        used = st.get('host', host, 'memory_overhead')
        for vm in st.get('host', host, 'resident_VMs'):
            if vm in st.tables['VM']:
                used += st.get('VM', vm, 'memory_target') + st.get('VM', vm, 'memory_overhead')
        return total - used

    def vm_memory_required(self, vm):
        st = self.store
        return st.get('VM', vm, 'memory_static_max') + st.get('VM', vm, 'memory_overhead')

    def vm_srs(self, vm):
        st = self.store
        return sorted({st.get('VDI', vdi, 'SR') for vdi in self._vm_disks(vm)})

    def host_sees_sr(self, host, sr):
        st = self.store
        return any(st.get('PBD', p, 'SR') == sr and st.get('PBD', p, 'currently_attached')
                   for p in st.get('host', host, 'PBDs') if p in st.tables['PBD'])

    def host_live(self, host):
        st = self.store
        m = st.get('host', host, 'metrics')
        return m in st.tables['host_metrics'] and st.get('host_metrics', m, 'live')

    def _run_error(self, vm, host, memory=True):
        """Why `vm` cannot run on `host` (an ApiError), or None (Xapi_vm_helpers.assert_can_boot_here)."""
        st = self.store
        if not st.get('host', host, 'enabled'):
            return ApiError('HOST_DISABLED', host)
        if not self.host_live(host):
            return ApiError('HOST_NOT_LIVE')
        for sr in self.vm_srs(vm):
            if not self.host_sees_sr(host, sr):
                return ApiError('VM_REQUIRES_SR', vm, sr)
        if memory and st.get('VM', vm, 'resident_on') != host:
            need, free = self.vm_memory_required(vm), self.host_memory_free(host)
            if free < need:
                return ApiError('HOST_NOT_ENOUGH_FREE_MEMORY', need, free)
        return None

    def _assert_can_run(self, vm, host):
        self.store.get_row('host', host)
        err = self._run_error(vm, host)
        if err is not None:
            raise err

    def vm_pool_migrate(self, s, vm, host, options):
        st = self.store
        with st.lock:
            self._vm(vm, 'pool_migrate', ['Running'])
            self._assert_can_run(vm, host)
            self.migrate(vm, host)

    def migrate(self, vm, host):
        """Move a running VM: a new domain on `host`; its console is destroyed and created again
        with the new host's address when the host changes (xapi_xenops.ml update_vm consoles)."""
        st = self.store
        with st.lock:
            row, idx = st.get_row('VM', vm), CLASSES['VM'].idx
            old = row[idx['resident_on']]
            self.consoles.close_vm(vm)
            st.modify('VM', vm, {'resident_on': host, 'domid': self.rt_rng.randint(1, 30000)})
            if old == host:
                return
            if old in st.tables['host']:
                st.remove_from_set('host', old, 'resident_VMs', vm)
            st.add_to_set('host', host, 'resident_VMs', vm)
            for con in row[idx['consoles']]:
                if con in st.tables['console']:
                    st.delete('console', con)
            st.modify('VM', vm, {'consoles': [self._new_console(vm, host)]})

    def _new_console(self, vm, host):
        st = self.store
        addr = self.addresses[self.pool['hosts'].index(host)] if host in self.pool['hosts'] else '127.0.0.1'
        cu = st.new_uuid(self.rt_rng)
        return st.create('console', {'uuid': cu, 'protocol': 'rfb', 'VM': vm,
                                     'location': 'https://%s/console?uuid=%s' % (addr, cu),
                                     'other_config': {'vgaconsole': 'true'}}, rng=self.rt_rng)

    def _go_live(self, vm, host, power, new_domain=True):
        st = self.store
        with st.lock:
            row, idx = st.get_row('VM', vm), CLASSES['VM'].idx
            mem = row[idx['memory_static_max']]
            ch = {'power_state': power, 'resident_on': host, 'allowed_operations': ALLOWED_OPS[power],
                  'memory_target': mem}
            if new_domain:
                ch['domid'] = self.rt_rng.randint(1, 30000)
                ch['domarch'] = 'x64'
            st.modify('VM', vm, ch)
            m = row[idx['metrics']]
            if m in st.tables['VM_metrics'] and new_domain:
                st.modify('VM_metrics', m, {'memory_actual': mem, 'VCPUs_number': row[idx['VCPUs_at_startup']],
                                            'start_time': now_dt(), 'state': []})
            gm = row[idx['guest_metrics']]
            if gm in st.tables['VM_guest_metrics'] and new_domain:
                st.modify('VM_guest_metrics', gm, {'live': True, 'last_updated': now_dt()})
            if new_domain:
                for n, vbd in enumerate(row[idx['VBDs']]):
                    if vbd in st.tables['VBD']:
                        ud = st.get('VBD', vbd, 'userdevice')
                        st.modify('VBD', vbd, {'currently_attached': True,
                                               'device': 'xvd' + 'abcdefghijklmnop'[int(ud) % 16] if ud.isdigit() else 'xvda'})
                for vif in row[idx['VIFs']]:
                    if vif in st.tables['VIF']:
                        st.modify('VIF', vif, {'currently_attached': True})
                if not row[idx['consoles']]:
                    st.modify('VM', vm, {'consoles': [self._new_console(vm, host)]})
                if host in st.tables['host']:
                    st.add_to_set('host', host, 'resident_VMs', vm)

    def _go_down(self, vm, power):
        st = self.store
        with st.lock:
            row, idx = st.get_row('VM', vm), CLASSES['VM'].idx
            host = row[idx['resident_on']]
            self.consoles.close_vm(vm)
            for con in row[idx['consoles']]:
                if con in st.tables['console']:
                    st.delete('console', con)
            st.modify('VM', vm, {'power_state': power, 'resident_on': NULL_REF, 'allowed_operations': ALLOWED_OPS[power],
                                 'domid': -1, 'domarch': '', 'consoles': [], 'memory_target': 0})
            m = row[idx['metrics']]
            if m in st.tables['VM_metrics']:
                st.modify('VM_metrics', m, {'memory_actual': 0, 'VCPUs_number': 0, 'start_time': EPOCH})
            gm = row[idx['guest_metrics']]
            if gm in st.tables['VM_guest_metrics']:
                st.modify('VM_guest_metrics', gm, {'live': False})
            for vbd in row[idx['VBDs']]:
                if vbd in st.tables['VBD']:
                    st.modify('VBD', vbd, {'currently_attached': False, 'device': ''})
            for vif in row[idx['VIFs']]:
                if vif in st.tables['VIF']:
                    st.modify('VIF', vif, {'currently_attached': False})
            if host in st.tables['host']:
                st.remove_from_set('host', host, 'resident_VMs', vm)

    def vm_start(self, s, vm, paused=False, force=False):
        with self.store.lock:
            self._vm(vm, 'start', ['Halted'])
            self._go_live(vm, self._pick_host(vm), 'Paused' if wire.coerce(('bool',), paused) else 'Running')

    def vm_start_on(self, s, vm, host, paused=False, force=False):
        with self.store.lock:
            self._vm(vm, 'start_on', ['Halted'])
            self._assert_can_run(vm, host)
            self._go_live(vm, host, 'Paused' if wire.coerce(('bool',), paused) else 'Running')

    def vm_shutdown(self, s, vm):
        with self.store.lock:
            self._vm(vm, 'clean_shutdown', ['Running'])
            self._go_down(vm, 'Halted')

    def vm_hard_shutdown(self, s, vm):
        with self.store.lock:
            self._vm(vm, 'hard_shutdown', ['Running', 'Paused', 'Suspended'])
            self._go_down(vm, 'Halted')

    def vm_reboot(self, s, vm):
        with self.store.lock:
            self._vm(vm, 'clean_reboot', ['Running'])
            self._reboot(vm)

    def vm_hard_reboot(self, s, vm):
        with self.store.lock:
            self._vm(vm, 'hard_reboot', ['Running', 'Paused'])
            self._reboot(vm)

    def _reboot(self, vm):
        st = self.store
        self.consoles.close_vm(vm)         # a new domain, a new VNC server
        st.modify('VM', vm, {'domid': self.rt_rng.randint(1, 30000), 'power_state': 'Running',
                             'allowed_operations': ALLOWED_OPS['Running']})
        m = st.get('VM', vm, 'metrics')
        if m in st.tables['VM_metrics']:
            st.modify('VM_metrics', m, {'start_time': now_dt()})

    def vm_suspend(self, s, vm):
        with self.store.lock:
            self._vm(vm, 'suspend', ['Running'])
            self._go_down(vm, 'Suspended')

    def vm_resume(self, s, vm, paused=False, force=False):
        with self.store.lock:
            self._vm(vm, 'resume', ['Suspended'])
            self._go_live(vm, self._pick_host(vm), 'Paused' if wire.coerce(('bool',), paused) else 'Running')

    def vm_resume_on(self, s, vm, host, paused=False, force=False):
        with self.store.lock:
            self._vm(vm, 'resume_on', ['Suspended'])
            self._assert_can_run(vm, host)
            self._go_live(vm, host, 'Paused' if wire.coerce(('bool',), paused) else 'Running')

    def vm_pause(self, s, vm):
        with self.store.lock:
            self._vm(vm, 'pause', ['Running'])
            self.store.modify('VM', vm, {'power_state': 'Paused', 'allowed_operations': ALLOWED_OPS['Paused']})

    def vm_unpause(self, s, vm):
        with self.store.lock:
            self._vm(vm, 'unpause', ['Paused'])
            self.store.modify('VM', vm, {'power_state': 'Running', 'allowed_operations': ALLOWED_OPS['Running']})

    # ------------------------------------------------------------ VM lifecycle
    def create_vm(self, name, power='Halted', sr=None, network=None, disks=None, host=None):
        """Create a VM group at run time; disks: list of (name, virtual_size, physical_utilisation)."""
        st = self.store
        sr = sr or self.pool['shared_sr']
        network = network or self.pool['networks'][0]
        b = self.rt_builder
        b.base = int(time.time())
        n_disks = len(disks) if disks is not None else 1
        vm, objs = b.vm_group(name, 'Halted', NULL_REF, sr, network, n_disks=n_disks)
        di = 0
        with st.lock:
            for cls, ref, vals in objs:
                if cls == 'VDI' and disks is not None:
                    vals['name_label'], vals['virtual_size'], vals['physical_utilisation'] = disks[di]
                    di += 1
                st.create(cls, vals, ref=ref, rng=self.rt_rng)
                if cls == 'VDI':
                    st.add_to_set('SR', sr, 'VDIs', ref)
                elif cls == 'VIF':
                    st.add_to_set('network', network, 'VIFs', ref)
            self.vm_list.append(vm)
            if power != 'Halted':
                self._go_live(vm, host or self._pick_host(vm), 'Running')
                if power != 'Running':
                    self._go_down(vm, power) if power == 'Suspended' else \
                        st.modify('VM', vm, {'power_state': 'Paused', 'allowed_operations': ALLOWED_OPS['Paused']})
        return vm

    def vm_destroy(self, s, vm, with_vdis=False):
        st = self.store
        with st.lock:
            row, idx = st.get_row('VM', vm), CLASSES['VM'].idx
            if row[idx['is_control_domain']]:
                raise ApiError('OPERATION_NOT_ALLOWED', 'Cannot destroy a control domain')
            if not row[idx['is_a_template']] and row[idx['power_state']] != 'Halted':
                raise ApiError('VM_BAD_POWER_STATE', vm, 'halted', row[idx['power_state']].lower())
            for vbd in row[idx['VBDs']]:
                if vbd in st.tables['VBD']:
                    vdi = st.get('VBD', vbd, 'VDI')
                    st.delete('VBD', vbd)
                    if vdi in st.tables['VDI']:
                        st.remove_from_set('VDI', vdi, 'VBDs', vbd)
                        if with_vdis:
                            sr = st.get('VDI', vdi, 'SR')
                            st.delete('VDI', vdi)
                            if sr in st.tables['SR']:
                                st.remove_from_set('SR', sr, 'VDIs', vdi)
            for vif in row[idx['VIFs']]:
                if vif in st.tables['VIF']:
                    net = st.get('VIF', vif, 'network')
                    st.delete('VIF', vif)
                    if net in st.tables['network']:
                        st.remove_from_set('network', net, 'VIFs', vif)
            for con in row[idx['consoles']]:
                if con in st.tables['console']:
                    st.delete('console', con)
            for cls, f in (('VM_metrics', 'metrics'), ('VM_guest_metrics', 'guest_metrics')):
                r = row[idx[f]]
                if r in st.tables[cls]:
                    st.delete(cls, r)
            parent = row[idx['snapshot_of']]
            st.delete('VM', vm)
            if parent in st.tables['VM']:
                st.remove_from_set('VM', parent, 'snapshots', vm)
            try:
                self.vm_list.remove(vm)
            except ValueError:
                pass

    def _vm_disks(self, vm):
        st = self.store
        out = []
        for vbd in st.get('VM', vm, 'VBDs'):
            if vbd in st.tables['VBD'] and st.get('VBD', vbd, 'type') == 'Disk':
                vdi = st.get('VBD', vbd, 'VDI')
                if vdi in st.tables['VDI']:
                    out.append(vdi)
        return out

    def _copy_vm(self, vm, name, snapshot, sr=None):
        st = self.store
        with st.lock:
            row, idx = st.get_row('VM', vm), CLASSES['VM'].idx
            if row[idx['is_control_domain']]:
                raise ApiError('OPERATION_NOT_ALLOWED', 'Cannot snapshot a control domain')
            disks = []
            srs = []
            for vdi in self._vm_disks(vm):
                vr = st.get_row('VDI', vdi)
                vidx = CLASSES['VDI'].idx
                disks.append((vr[vidx['name_label']], vr[vidx['virtual_size']], vr[vidx['physical_utilisation']]))
                srs.append(vr[vidx['SR']])
            nets = [st.get('VIF', v, 'network') for v in row[idx['VIFs']] if v in st.tables['VIF']]
            new = self.create_vm(name, 'Halted', sr=sr or (srs[0] if srs else None),
                                 network=nets[0] if nets else None, disks=disks)
            ch = {'memory_static_max': row[idx['memory_static_max']], 'VCPUs_max': row[idx['VCPUs_max']],
                  'VCPUs_at_startup': row[idx['VCPUs_at_startup']], 'name_description': row[idx['name_description']],
                  'is_a_template': snapshot or row[idx['is_a_template']]}
            if snapshot:
                ch.update({'is_a_snapshot': True, 'snapshot_of': vm, 'snapshot_time': now_dt(),
                           'allowed_operations': ['destroy', 'clone', 'copy', 'export', 'revert']})
                self.vm_list.remove(new)
            st.modify('VM', new, ch)
            if snapshot:
                for nvdi, ovdi in zip(self._vm_disks(new), self._vm_disks(vm)):
                    st.modify('VDI', nvdi, {'is_a_snapshot': True, 'snapshot_of': ovdi, 'snapshot_time': now_dt()})
                    st.add_to_set('VDI', ovdi, 'snapshots', nvdi)
                st.add_to_set('VM', vm, 'snapshots', new)
            return new

    def vm_snapshot(self, s, vm, name, ignore_vdis=None):
        return self._copy_vm(vm, name, True)

    def vm_clone(self, s, vm, name):
        return self._copy_vm(vm, name, False)

    def vm_copy(self, s, vm, name, sr):
        return self._copy_vm(vm, name, False, sr=sr if sr != NULL_REF else None)

    # ------------------------------------------------------------ VDI
    def vdi_create(self, s, rec):
        st = self.store
        if not isinstance(rec, dict):
            raise ApiError('FIELD_TYPE_ERROR', 'args')
        sr = rec.get('SR', NULL_REF)
        st.get_row('SR', sr) if sr != NULL_REF else None
        if sr == NULL_REF:
            raise ApiError('HANDLE_INVALID', 'SR', sr)
        ci = CLASSES['VDI']
        vals = {'allowed_operations': ['clone', 'destroy', 'resize', 'update', 'copy', 'snapshot'],
                'managed': True, 'on_boot': 'persist', 'type': 'user'}
        for k in ('name_label', 'name_description', 'virtual_size', 'type', 'sharable', 'read_only',
                  'other_config', 'xenstore_data', 'sm_config', 'tags'):
            if k in rec:
                try:
                    vals[k] = wire.coerce(ci.types[k], rec[k])
                except (TypeError, ValueError):
                    raise ApiError('FIELD_TYPE_ERROR', k)
        with st.lock:
            vdi = st.create('VDI', vals, rng=self.rt_rng)
            st.add_to_set('SR', sr, 'VDIs', vdi)
        return vdi

    def vdi_destroy(self, s, vdi):
        st = self.store
        with st.lock:
            row = st.get_row('VDI', vdi)
            if row[CLASSES['VDI'].idx['VBDs']]:
                raise ApiError('VDI_IN_USE', vdi, 'destroy')
            sr = row[CLASSES['VDI'].idx['SR']]
            st.delete('VDI', vdi)
            if sr in st.tables['SR']:
                st.remove_from_set('SR', sr, 'VDIs', vdi)
        self.vdi_content.pop(vdi, None)

    # ------------------------------------------------------------ messages
    def message_create(self, s, name, priority, cls, obj_uuid, body):
        return self.store.create('message', {'name': name, 'priority': int(priority), 'cls': cls,
                                             'obj_uuid': obj_uuid, 'timestamp': now_dt(), 'body': body},
                                 rng=self.rt_rng)

    # ------------------------------------------------------------ pool / hosts
    def move_master(self, to=None, except_conn=None):
        hosts = self.pool['hosts']
        if to is None:
            to = (self.master + 1) % len(hosts)
        if not (0 <= to < len(hosts)):
            raise ApiError('HANDLE_INVALID', 'host', str(to))
        old = self.master
        self.master = to
        self.store.modify('pool', self.pool['pool'], {'master': hosts[to]})
        if self.conn_registry is not None and old != to:
            self.conn_registry.drop(host_idx=old, except_conn=except_conn)
        return to

    def designate_new_master(self, s, host):
        hosts = self.pool['hosts']
        if host not in hosts:
            raise ApiError('HANDLE_INVALID', 'host', host)
        self.move_master(hosts.index(host))

    def call_plugin(self, s, host, plugin, fn, args):
        st = self.store
        st.get_row('host', host)
        if plugin != 'updater.py':
            raise ApiError('XENAPI_MISSING_PLUGIN', plugin)
        if fn == 'check_update':
            return json.dumps(self.host_updates.get(host, []))
        if fn == 'update':
            pkgs = self.host_updates.get(host, [])
            wanted = (args or {}).get('packages')
            if wanted:
                names = set(wanted.split(','))
                done = [p for p in pkgs if p['name'] in names]
                self.host_updates[host] = [p for p in pkgs if p['name'] not in names]
            else:
                done = pkgs
                self.host_updates[host] = []
            if done:
                st.map_put('host', host, 'other_config', 'sim_last_update',
                           ','.join('%s-%s-%s' % (p['name'], p['version'], p['release']) for p in done))
            return ''
        if fn == 'query_installed':
            return json.dumps({})
        raise ApiError('XENAPI_PLUGIN_FAILURE', fn, 'NotFound', 'unknown function %s' % fn)

    # ------------------------------------------------------------ patches and updates
    @staticmethod
    def _meta_of(head, magic, sha):
        meta = {}
        if head.startswith(magic):
            try:
                line = head[len(magic):].split(b'\n', 1)[0]
                meta = json.loads(line.decode('utf-8'))
            except Exception:
                meta = {}
        u = sha[:32]
        meta.setdefault('uuid', '%s-%s-4%s-a%s-%s' % (u[:8], u[8:12], u[13:16], u[17:20], u[20:32]))
        meta.setdefault('name_label', 'sim-%s' % sha[:8])
        meta.setdefault('version', '1.0')
        meta.setdefault('after_apply_guidance', ['restartHost'])
        return meta

    def patch_upload(self, head, size, sha):
        st = self.store
        meta = self._meta_of(head, b'XOSIMPATCH\n', sha)
        with st.lock:
            if meta['uuid'] in st.by_uuid['pool_patch']:
                raise ApiError('PATCH_ALREADY_EXISTS', meta['uuid'])
            return st.create('pool_patch', {'uuid': meta['uuid'], 'name_label': meta['name_label'],
                                            'name_description': meta.get('name_description', ''),
                                            'version': meta['version'], 'size': size, 'pool_applied': False,
                                            'after_apply_guidance': meta['after_apply_guidance'],
                                            'pool_update': NULL_REF}, rng=self.rt_rng)

    def patch_precheck(self, s, patch, host):
        st = self.store
        st.get_row('pool_patch', patch)
        st.get_row('host', host)
        for hp in st.get('host', host, 'patches'):
            if hp in st.tables['host_patch'] and st.get('host_patch', hp, 'pool_patch') == patch:
                raise ApiError('PATCH_ALREADY_APPLIED', patch)
        return ''

    def patch_apply(self, s, patch, host):
        st = self.store
        with st.lock:
            self.patch_precheck(s, patch, host)
            pr = st.get_row('pool_patch', patch)
            ci = CLASSES['pool_patch']
            hp = st.create('host_patch', {'name_label': pr[ci.idx['name_label']], 'version': pr[ci.idx['version']],
                                          'host': host, 'applied': True, 'timestamp_applied': now_dt(),
                                          'size': pr[ci.idx['size']], 'pool_patch': patch}, rng=self.rt_rng)
            st.add_to_set('host', host, 'patches', hp)
            st.add_to_set('pool_patch', patch, 'host_patches', hp)
            applied_all = all(any(st.get('host_patch', x, 'pool_patch') == patch
                                  for x in st.get('host', h, 'patches') if x in st.tables['host_patch'])
                              for h in self.pool['hosts'])
            if applied_all:
                st.modify('pool_patch', patch, {'pool_applied': True})
        return ''

    def patch_pool_apply(self, s, patch):
        st = self.store
        with st.lock:
            st.get_row('pool_patch', patch)
            todo = []
            for h in self.pool['hosts']:
                try:
                    self.patch_precheck(s, patch, h)
                    todo.append(h)
                except ApiError:
                    pass
            if not todo:
                raise ApiError('PATCH_ALREADY_APPLIED', patch)
            for h in todo:
                self.patch_apply(s, patch, h)

    def update_introduce(self, s, vdi):
        st = self.store
        st.get_row('VDI', vdi)
        c = self.vdi_content.get(vdi)
        if not c or not c['size']:
            raise ApiError('INVALID_UPDATE', 'the VDI contains no update (nothing was uploaded to it)')
        meta = self._meta_of(c['head'], b'XOSIMUPDATE\n', c['sha256'])
        with st.lock:
            if meta['uuid'] in st.by_uuid['pool_update']:
                raise ApiError('UPDATE_ALREADY_EXISTS', meta['uuid'])
            return st.create('pool_update', {'uuid': meta['uuid'], 'name_label': meta['name_label'],
                                             'name_description': meta.get('name_description', ''),
                                             'version': meta['version'], 'installation_size': c['size'],
                                             'key': meta.get('key', ''),
                                             'after_apply_guidance': meta['after_apply_guidance'],
                                             'vdi': vdi, 'hosts': [], 'other_config': {},
                                             'enforce_homogeneity': False}, rng=self.rt_rng)

    def update_precheck(self, s, upd, host):
        st = self.store
        st.get_row('pool_update', upd)
        st.get_row('host', host)
        if upd in st.get('host', host, 'updates'):
            raise ApiError('UPDATE_ALREADY_APPLIED', upd)
        return 'ok'

    def update_apply(self, s, upd, host):
        st = self.store
        with st.lock:
            self.update_precheck(s, upd, host)
            st.add_to_set('host', host, 'updates', upd)
            st.add_to_set('pool_update', upd, 'hosts', host)

    def update_pool_apply(self, s, upd):
        st = self.store
        with st.lock:
            st.get_row('pool_update', upd)
            todo = [h for h in self.pool['hosts'] if upd not in st.get('host', h, 'updates')]
            if not todo:
                raise ApiError('UPDATE_ALREADY_APPLIED_IN_POOL', upd)
            for h in todo:
                self.update_apply(s, upd, h)

    # ------------------------------------------------------------ churn
    def churn(self, n, rate, seed):
        rng = random.Random(self.args.seed * 1000003 + seed)
        st = self.store
        start = time.monotonic()
        done = 0
        with self.churn_lock:
            for i in range(n):
                if rate > 0:
                    target = start + i / rate
                    d = target - time.monotonic()
                    if d > 0:
                        time.sleep(min(d, 5.0))
                try:
                    self._churn_one(rng)
                    done += 1
                except ApiError:
                    pass
        return done

    def _churn_one(self, rng):
        st = self.store
        x = rng.random()
        with st.lock:
            vms = self.vm_list
            if x < 0.30 and vms:
                vm = vms[rng.randrange(len(vms))]
                ps = st.get('VM', vm, 'power_state')
                if ps == 'Halted':
                    self._go_live(vm, self.pool['hosts'][rng.randrange(len(self.pool['hosts']))], 'Running')
                elif ps == 'Running':
                    y = rng.random()
                    if y < 0.5:
                        self._go_down(vm, 'Halted')
                    elif y < 0.65:
                        self._go_down(vm, 'Suspended')
                    elif y < 0.8:
                        st.modify('VM', vm, {'power_state': 'Paused', 'allowed_operations': ALLOWED_OPS['Paused']})
                    else:
                        self._reboot(vm)
                elif ps == 'Suspended':
                    self._go_live(vm, self.pool['hosts'][rng.randrange(len(self.pool['hosts']))], 'Running')
                else:
                    st.modify('VM', vm, {'power_state': 'Running', 'allowed_operations': ALLOWED_OPS['Running']})
            elif x < 0.50 and vms:
                vm = vms[rng.randrange(len(vms))]
                st.modify('VM', vm, {'name_label': 'vm-%08x' % rng.getrandbits(32)})
            elif x < 0.60 and vms:
                vm = vms[rng.randrange(len(vms))]
                m = st.get('VM', vm, 'metrics')
                if m in st.tables['VM_metrics']:
                    st.modify('VM_metrics', m, {'VCPUs_utilisation': {'0': round(rng.random(), 4),
                                                                      '1': round(rng.random(), 4)},
                                                'last_updated': now_dt()})
            elif x < 0.66:
                self.create_vm('churn-%08x' % rng.getrandbits(32),
                               power='Running' if rng.random() < 0.5 else 'Halted',
                               sr=self.pool['srs'][0], network=self.pool['networks'][rng.randrange(2)])
            elif x < 0.72 and len(vms) > 1:
                vm = vms[rng.randrange(len(vms))]
                if st.get('VM', vm, 'power_state') != 'Halted':
                    self._go_down(vm, 'Halted')
                self.vm_destroy(None, vm, with_vdis=True)
            elif x < 0.84:
                t = self.task_create(None, 'churn task', '')
                st.modify('task', t, {'progress': 0.5})
                if rng.random() < 0.8:
                    st.delete('task', t)
                else:
                    self.task_finish(t, True, '')
            elif x < 0.94:
                hosts = self.pool['hosts']
                h = hosts[rng.randrange(len(hosts))]
                self.message_create(None, rng.choice(['VM_STARTED', 'VM_SHUTDOWN', 'HOST_CLOCK_SKEW_DETECTED',
                                                      'ALARM']), rng.randint(1, 5), 'Host',
                                    st.get('host', h, 'uuid'), 'churn message %08x' % rng.getrandbits(32))
                if rng.random() < 0.3 and st.tables['message']:
                    old = next(iter(st.tables['message']))
                    st.delete('message', old)
            elif vms:
                vm = vms[rng.randrange(len(vms))]
                st.map_put('VM', vm, 'other_config', 'xo:churn', str(rng.getrandbits(20)))

    def destroy_vms(self, n):
        st = self.store
        done = 0
        with st.lock:
            for _ in range(n):
                if not self.vm_list:
                    break
                vm = self.vm_list[-1]
                if st.get('VM', vm, 'power_state') != 'Halted':
                    self._go_down(vm, 'Halted')
                self.vm_destroy(None, vm, with_vdis=True)
                done += 1
        return done
