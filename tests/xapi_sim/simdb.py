"""The simulated XAPI database: classes, rows, generations, deleted-object windows,
messages, and the deterministic pool generator."""
import bisect
import random
import threading
import time
from collections import OrderedDict

import schema
import wire
from wire import DT, NULL_REF

# XAPI trims each table's list of deleted rows: it grows to 512 entries then keeps the 256
# most recent (ocaml/database/db_cache_types.ml, Table.remove).
DELETED_UPPER = 512
DELETED_LOWER = 256
MESSAGE_LIMIT = 10000          # xapi_globs message_limit
MESSAGE_DELETED_KEEP = 1024


class ClassInfo:
    def __init__(self, name, fields):
        self.name = name
        self.lname = name.lower()
        self.fields = [(f, wire.parse_type(t), q) for f, t, q in fields]
        self.names = [f for f, _, _ in self.fields]
        self.types = {f: tp for f, tp, _ in self.fields}
        self.qual = {f: q for f, _, q in self.fields}
        self.idx = {f: i for i, f in enumerate(self.names)}
        self.n = len(self.fields)
        self.tmpl = [wire.default_value(tp) for _, tp, _ in self.fields]
        self.xml = wire.compile_record_xml([(f, tp) for f, tp, _ in self.fields])
        wire.RECORD_XML[name] = self.xml
        self.has_name_label = 'name_label' in self.idx

    def to_dict(self, row):
        return dict(zip(self.names, row))


CLASSES = {name: ClassInfo(name, fields) for name, fields in schema.CLASSES.items()}
BY_LOWER = {c.lname: c for c in CLASSES.values()}
# Tables whose rows generate events through the DB generation (messages are special, as in XAPI)
DB_TABLES = [c for c in CLASSES if c != 'message']


class ApiError(Exception):
    def __init__(self, code, *params):
        Exception.__init__(self, code)
        self.code = code
        self.params = [str(p) for p in params]


def now_dt(t=None):
    return DT(time.strftime('%Y%m%dT%H:%M:%SZ', time.gmtime(time.time() if t is None else t)))


class Waiter:
    """One blocked event.from, woken only by a change its subscriptions match (or by
    Store.wake_all). XAPI's waiters cost nothing while they sleep; a Python thread woken for
    every change of the pool does: with 100 tasks followed at once, each change woke 100
    threads, which fought for the GIL and the lock, and the simulator's 50 ms tasks took
    150 ms."""
    __slots__ = ('subs', 'cond')

    def __init__(self, subs, lock):
        self.subs = subs
        self.cond = threading.Condition(lock)


class Store:
    def __init__(self, seed):
        self.lock = threading.RLock()
        self.waiters = set()                 # Waiter of each blocked event.from (under lock)
        self.gen = 0
        self.tables = {c: {} for c in CLASSES}
        self.by_uuid = {c: {} for c in CLASSES}
        self.recent = OrderedDict()          # (cls, ref) -> None, ordered by last modification
        self.deleted = {c: [(0, 0, '')] for c in CLASSES}   # oldest first: (created, deleted, ref)
        self.msg_gen = 0
        self.msg_log = []                    # (msg_gen, ref) of created messages, ascending
        self.msg_deleted = []                # (msg_gen, ref) ascending
        self.rng = random.Random(seed)
        self.rt_rng = random.Random(seed * 7919 + 17)
        self.events_paused = False
        self.sessions = {}                   # session ref -> dict
        self.changes = 0

    # ------------------------------------------------------------ ids
    def new_uuid(self, rng=None):
        r = (rng or self.rng).getrandbits(128)
        r = (r & ~(0xf000 << 64)) | (0x4000 << 64)
        r = (r & ~(0xc000 << 48)) | (0x8000 << 48)
        h = '%032x' % r
        return '%s-%s-%s-%s-%s' % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])

    def new_ref(self, rng=None):
        return 'OpaqueRef:' + self.new_uuid(rng)

    # ------------------------------------------------------------ rows
    def _bump(self):
        self.gen += 1
        self.changes += 1
        return self.gen

    def create(self, cls, values, ref=None, rng=None):
        ci = CLASSES[cls]
        row = ci.tmpl.copy()
        idx = ci.idx
        for k, v in values.items():
            row[idx[k]] = v
        if not row[idx['uuid']]:
            row[idx['uuid']] = self.new_uuid(rng)
        if ref is None:
            ref = self.new_ref(rng)
        with self.lock:
            if cls == 'message':
                self.msg_gen += 1
                row.append(self.msg_gen)
                row.append(self.msg_gen)
                self.tables[cls][ref] = row
                self.by_uuid[cls][row[idx['uuid']]] = ref
                self.msg_log.append((self.msg_gen, ref))
                if len(self.tables[cls]) > MESSAGE_LIMIT:
                    # XAPI garbage-collects the oldest messages beyond message_limit
                    oldest = min(self.tables[cls].items(), key=lambda kv: kv[1][-2])[0]
                    self.delete(cls, oldest)
            else:
                g = self._bump()
                row.append(g)
                row.append(g)
                self.tables[cls][ref] = row
                self.by_uuid[cls][row[idx['uuid']]] = ref
                self.recent[(cls, ref)] = None
            self._wake(cls, ref)
        return ref

    def bulk_create(self, cls, rows_refs):
        """Fast path for start-up: rows are complete lists (without created/modified)."""
        ci = CLASSES[cls]
        uidx = ci.idx['uuid']
        tbl = self.tables[cls]
        byu = self.by_uuid[cls]
        rec = self.recent
        for ref, row in rows_refs:
            self.gen += 1
            row.append(self.gen)
            row.append(self.gen)
            tbl[ref] = row
            byu[row[uidx]] = ref
            rec[(cls, ref)] = None

    def get_row(self, cls, ref):
        row = self.tables[cls].get(ref)
        if row is None:
            raise ApiError('HANDLE_INVALID', cls, ref)
        return row

    def get(self, cls, ref, field):
        return self.get_row(cls, ref)[CLASSES[cls].idx[field]]

    def modify(self, cls, ref, changes):
        """changes: {field: new value}. Values must be fresh objects (never mutated later)."""
        with self.lock:
            row = self.get_row(cls, ref)
            idx = CLASSES[cls].idx
            for k, v in changes.items():
                row[idx[k]] = v
            if cls == 'message':
                return
            row[-1] = self._bump()
            self.recent.move_to_end((cls, ref))
            self._wake(cls, ref)

    def touch(self, cls, ref):
        self.modify(cls, ref, {})

    def delete(self, cls, ref):
        with self.lock:
            row = self.tables[cls].pop(ref, None)
            if row is None:
                raise ApiError('HANDLE_INVALID', cls, ref)
            self.by_uuid[cls].pop(row[CLASSES[cls].idx['uuid']], None)
            if cls == 'message':
                self.msg_gen += 1
                self.msg_deleted.append((self.msg_gen, ref))
                if len(self.msg_deleted) > MESSAGE_DELETED_KEEP:
                    del self.msg_deleted[:len(self.msg_deleted) - MESSAGE_DELETED_KEEP // 2]
            else:
                g = self._bump()
                self.recent.pop((cls, ref), None)
                dl = self.deleted[cls]
                dl.append((row[-2], g, ref))
                if len(dl) >= DELETED_UPPER:
                    del dl[:len(dl) - DELETED_LOWER - 1]
            self._wake(cls, ref)

    def trim_deleted(self):
        """Forget every remembered delete, as XAPI's trimming eventually does."""
        with self.lock:
            for c in self.deleted:
                self.deleted[c] = [(0, 0, '')]
            self.msg_deleted = []

    def add_to_set(self, cls, ref, field, value):
        with self.lock:
            cur = self.get(cls, ref, field)
            if value not in cur:
                self.modify(cls, ref, {field: cur + [value]})

    def remove_from_set(self, cls, ref, field, value):
        with self.lock:
            cur = self.get(cls, ref, field)
            if value in cur:
                self.modify(cls, ref, {field: [x for x in cur if x != value]})

    def map_put(self, cls, ref, field, key, value):
        with self.lock:
            cur = dict(self.get(cls, ref, field))
            cur[key] = value
            self.modify(cls, ref, {field: cur})

    def map_del(self, cls, ref, field, key):
        with self.lock:
            cur = self.get(cls, ref, field)
            if key in cur:
                cur = dict(cur)
                del cur[key]
                self.modify(cls, ref, {field: cur})

    # ------------------------------------------------------------ events
    def _wake(self, cls, ref):
        """A change of (cls, ref): wake the event.from calls it concerns. Must hold the lock."""
        for w in self.waiters:
            if w.subs.matches(cls, ref):
                w.cond.notify()

    def wake_all(self):
        """Sessions, connections or the event pause changed: every waiter looks again."""
        with self.lock:
            for w in self.waiters:
                w.cond.notify()

    def valid_ref_counts(self):
        d = {c.lower(): len(self.tables[c]) for c in DB_TABLES}
        d['session'] = len(self.sessions)
        return d

    def collect(self, subs, since, since_msg):
        """Mirror of xapi_event.ml from_inner/collect_events. Must hold the lock.
        Returns (events, last, msg_gen) with events as (op, cls, ref, gen)."""
        creates, mods, dels = [], [], []
        last = since
        match = subs.matches
        tables = self.tables
        for key in reversed(self.recent):
            cls, ref = key
            row = tables[cls][ref]
            m = row[-1]
            if m <= since:
                break
            if match(cls, ref):
                if m > last:
                    last = m
                if row[-2] > since:
                    creates.append(('add', cls, ref, row[-2]))
                else:
                    mods.append(('mod', cls, ref, m))
        for cls in DB_TABLES:
            if not subs.table_matches(cls):
                continue
            for created, d, ref in reversed(self.deleted[cls]):
                if d <= since:
                    break
                if match(cls, ref):
                    if d > last:
                        last = d
                    if created <= since:
                        dels.append(('del', cls, ref, d))
        msgs = []
        msg_gen = since_msg
        if subs.table_matches('message'):
            msg_gen = self.msg_gen
            i = bisect.bisect_right(self.msg_log, (since_msg, '\uffff'))
            mt = tables['message']
            for g, ref in self.msg_log[i:]:
                if ref in mt:
                    msgs.append(('add', 'message', ref, 0))
            i = bisect.bisect_right(self.msg_deleted, (since_msg, '\uffff'))
            for g, ref in self.msg_deleted[i:]:
                msgs.append(('del', 'message', ref, 0))
        creates.reverse()
        mods.reverse()
        dels.reverse()
        return msgs + creates + mods + dels, last, msg_gen


class Subs:
    """event.from subscriptions: "*", "<class>" or "<class>/<ref>" (class case-insensitive)."""

    def __init__(self, classes):
        self.all = False
        self.classes = set()
        self.objects = set()
        for x in classes:
            if x == '*':
                self.all = True
                continue
            parts = x.split('/', 1)
            if len(parts) == 1:
                self.classes.add(parts[0].lower())
            else:
                self.objects.add((parts[0].lower(), parts[1]))
        self.obj_classes = {c for c, _ in self.objects}
        self._lc = {}

    def _lower(self, cls):
        lc = self._lc.get(cls)
        if lc is None:
            lc = self._lc[cls] = cls.lower()
        return lc

    def table_matches(self, cls):
        if self.all:
            return True
        lc = self._lower(cls)
        return lc in self.classes or lc in self.obj_classes

    def matches(self, cls, ref):
        if self.all:
            return True
        lc = self._lower(cls)
        return lc in self.classes or (lc, ref) in self.objects

    def task_only(self):
        return (not self.all) and all(c == 'task' for c in self.classes | self.obj_classes)


def parse_token(token):
    if token == '':
        return 0, 0
    parts = token.split(',')
    if len(parts) != 2:
        raise ApiError('EVENT_FROM_TOKEN_PARSE_FAILURE', token)
    try:
        vals = []
        for p in parts:
            p2 = p.strip()
            if not p2 or not (p2.lstrip('+-').isdigit()) or p2 != p:
                raise ValueError(p)
            vals.append(int(p2))
        return vals[0], vals[1]
    except ValueError:
        raise ApiError('EVENT_FROM_TOKEN_PARSE_FAILURE', token)


def make_token(a, b):
    return '%020d,%020d' % (a, b)
