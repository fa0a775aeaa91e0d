"""Unit/integration tests of the XAPI simulator (python3 -m unittest discover -s tests/xapi_sim -p 'test_*.py')."""
import base64
import hashlib
import http.client
import io
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import tarfile
import threading
import time
import unittest
import xmlrpc.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclient import RfbClient, SimProc, XmlRpc, JsonRpc   # noqa: E402
import rfbscreen                                          # noqa: E402

TOKEN_RE = re.compile(r'^\d{20},\d{20}$')


class Base(unittest.TestCase):
    ARGS = ['--hosts', '3', '--vms', '40', '--seed', '11', '--event-batch-ms', '10', '--task-ms', '120']

    @classmethod
    def setUpClass(cls):
        cls.sim = SimProc(*cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def login(self, host=None):
        x = XmlRpc(self.sim, host)
        sid = x.ok('session.login_with_password', 'root', 'password', '1.0', 'test')
        return x, sid

    def event_from(self, x, sid, classes, token, timeout):
        return x.call('event.from', sid, classes, token, float(timeout))


class TestProtocol(Base):
    def test_login_errors(self):
        x = XmlRpc(self.sim)
        r = x.call('session.login_with_password', 'root', 'nope')
        self.assertEqual(r['Status'], 'Failure')
        self.assertEqual(r['ErrorDescription'][0], 'SESSION_AUTHENTICATION_FAILED')
        sid = x.ok('session.login_with_password', 'root', 'password')
        self.assertTrue(sid.startswith('OpaqueRef:'))
        self.assertEqual(x.call('VM.get_all', 'OpaqueRef:bogus')['ErrorDescription'],
                         ['SESSION_INVALID', 'OpaqueRef:bogus'])
        self.assertEqual(x.call('VM.frobnicate', sid)['ErrorDescription'][0], 'MESSAGE_METHOD_UNKNOWN')
        self.assertEqual(x.call('VM.get_record', sid, 'OpaqueRef:nope')['ErrorDescription'],
                         ['HANDLE_INVALID', 'VM', 'OpaqueRef:nope'])
        x.ok('session.logout', sid)
        self.assertEqual(x.call('VM.get_all', sid)['ErrorDescription'][0], 'SESSION_INVALID')
        x.close()

    def test_representations(self):
        x, sid = self.login()
        j = JsonRpc(self.sim)
        jsid = j.ok('session.login_with_password', 'root', 'password')
        vms = x.ok('VM.get_all_records', sid)
        ref = next(r for r, v in vms.items() if v['power_state'] == 'Running' and not v['is_control_domain'])
        xr = vms[ref]
        jr = j.ok('VM.get_record', jsid, ref)
        # XML-RPC: int64 as untyped <value> (a string), bool, double, dateTime; JSON-RPC: numbers
        self.assertIsInstance(xr['memory_static_max'], str)
        self.assertIsInstance(jr['memory_static_max'], int)
        self.assertEqual(int(xr['memory_static_max']), jr['memory_static_max'])
        self.assertIsInstance(xr['HVM_shadow_multiplier'], float)
        self.assertIsInstance(xr['is_a_template'], bool)
        self.assertIsInstance(xr['snapshot_time'], xmlrpc.client.DateTime)
        self.assertEqual(jr['snapshot_time'], '19700101T00:00:00Z')
        self.assertEqual(xr['snapshot_time'].value, jr['snapshot_time'])
        self.assertEqual(xr['affinity'], 'OpaqueRef:NULL')
        self.assertIsInstance(xr['VBDs'], list)
        self.assertIsInstance(xr['other_config'], dict)
        # truth is the JSON-RPC get_record representation
        truth = self.sim.truth()
        self.assertEqual(truth['vm'][ref], jr)
        self.assertEqual(set(truth), {'pool', 'host', 'host_metrics', 'host_patch', 'vm', 'vm_metrics',
                                      'vm_guest_metrics', 'sr', 'pbd', 'vdi', 'vbd', 'vif', 'pif', 'network',
                                      'console', 'task', 'message', 'pool_patch', 'pool_update'})
        # raw XML check of an int64 field and of valid_ref_counts i4
        body = xmlrpc.client.dumps((sid, ref), 'VM.get_memory_static_max').encode()
        c = self.sim.conn()
        c.request('POST', '/', body, {'Content-Type': 'text/xml'})
        raw = c.getresponse().read().decode()
        self.assertIn('<name>Value</name><value>%d</value>' % jr['memory_static_max'], raw)
        body = xmlrpc.client.dumps((sid, ['pool'], '', 0.1), 'event.from').encode()
        c.request('POST', '/', body, {'Content-Type': 'text/xml'})
        raw = c.getresponse().read().decode()
        self.assertRegex(raw, r'<member><name>vm</name><value><i4>\d+</i4></value></member>')
        c.close()
        # JSON-RPC v1 and v2 error shapes
        e2 = j.raw('session.login_with_password', 'root', 'bad')
        self.assertEqual(e2['error']['message'], 'SESSION_AUTHENTICATION_FAILED')
        self.assertEqual(e2['error']['data'], ['root', 'Authentication failure'])
        x.close()
        j.close()

    def test_event_from_semantics(self):
        x, sid = self.login()
        r = self.event_from(x, sid, ['*'], '', 5)['Value']
        truth = self.sim.truth()
        n_objects = sum(len(v) for k, v in truth.items())
        self.assertTrue(TOKEN_RE.match(r['token']), r['token'])
        self.assertTrue(all(e['operation'] == 'add' for e in r['events']))
        self.assertGreaterEqual(len(r['events']), n_objects - 5)
        ev = r['events'][0]
        self.assertEqual(set(ev), {'id', 'timestamp', 'class', 'operation', 'ref', 'snapshot'})
        self.assertTrue(all(e['class'] == e['class'].lower() for e in r['events']))
        self.assertNotIn('message', r['valid_ref_counts'])
        self.assertEqual(r['valid_ref_counts']['vm'], len(truth['vm']))
        token = r['token']
        # timeout really waits when nothing changes
        t0 = time.monotonic()
        r2 = self.event_from(x, sid, ['vm'], token, 0.6)['Value']
        self.assertGreaterEqual(time.monotonic() - t0, 0.55)
        self.assertEqual(r2['events'], [])
        # a change made while blocked wakes the call
        x2, sid2 = self.login()
        vm = next(r for r, v in truth['vm'].items() if not v['is_control_domain'] and not v['is_a_template'])
        res = {}
        th = threading.Thread(target=lambda: res.setdefault('r', self.event_from(x2, sid2, ['vm/' + vm], token, 20)))
        th.start()
        time.sleep(0.3)
        x.ok('VM.set_name_label', sid, vm, 'changed-name')
        th.join(10)
        evs = res['r']['Value']['events']
        self.assertEqual([(e['operation'], e['ref']) for e in evs], [('mod', vm)])
        self.assertEqual(evs[0]['snapshot']['name_label'], 'changed-name')
        # deletes: no snapshot
        before = self.event_from(x, sid, ['vm'], res['r']['Value']['token'], 0.1)['Value']['token']
        self.sim.control('POST', '/sim/destroy_vms?n=1')
        d = self.event_from(x, sid, ['vm', 'vbd'], before, 5)['Value']
        dels = [e for e in d['events'] if e['operation'] == 'del']
        self.assertTrue(dels)
        self.assertTrue(all('snapshot' not in e for e in dels))
        # inject returns a token and produces a mod of the object
        pool = list(truth['pool'])[0]
        tok = x.ok('event.inject', sid, 'pool', pool)
        self.assertTrue(TOKEN_RE.match(tok))
        ev = self.event_from(x, sid, ['pool'], tok, 5)['Value']['events']
        self.assertEqual([(e['class'], e['operation']) for e in ev], [('pool', 'mod')])
        x.close()
        x2.close()

    def test_bad_tokens(self):
        x, sid = self.login()
        for bad in ('garbage', '1,2,3', 'abc,1', '12', ',', '1,'):
            r = self.event_from(x, sid, ['*'], bad, 1)
            self.assertEqual(r['ErrorDescription'], ['EVENT_FROM_TOKEN_PARSE_FAILURE', bad], bad)
        self.assertEqual(self.event_from(x, sid, ['vm'], '1,0', 0.01)['Status'], 'Success')
        x.close()

    def test_async_task_progress(self):
        x, sid = self.login()
        vms = x.ok('VM.get_all_records', sid)
        vm = next(r for r, v in vms.items() if v['power_state'] == 'Halted' and not v['is_a_template'])
        task = x.ok('Async.VM.start', sid, vm, False, False)
        seen = set()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            t = x.ok('task.get_record', sid, task)
            seen.add(t['progress'])
            if t['status'] != 'pending':
                break
            time.sleep(0.01)
        self.assertEqual(t['status'], 'success')
        self.assertGreater(len(seen), 2)
        self.assertEqual(x.ok('VM.get_power_state', sid, vm), 'Running')
        bad = x.ok('Async.VM.start', sid, vm, False, False)
        end = time.monotonic() + 10
        while time.monotonic() < end and x.ok('task.get_status', sid, bad) == 'pending':
            time.sleep(0.02)
        self.assertEqual(x.ok('task.get_error_info', sid, bad), ['VM_BAD_POWER_STATE', vm, 'halted', 'running'])
        x.close()

    def test_task_log_shows_overlap_and_order(self):
        x, sid = self.login()
        vms = x.ok('VM.get_all_records', sid)
        halted = [r for r, v in sorted(vms.items()) if v['power_state'] == 'Halted'
                  and not v['is_a_template'] and not v['is_control_domain']][:2]
        before = len(self.sim.control('GET', '/sim/task_log')['tasks'])
        tasks = [x.ok('Async.VM.start', sid, vm, False, False) for vm in halted]
        end = time.monotonic() + 10
        while time.monotonic() < end and any(x.ok('task.get_status', sid, t) == 'pending' for t in tasks):
            time.sleep(0.01)
        log = self.sim.control('GET', '/sim/task_log')['tasks'][before:]
        self.assertEqual([(e['task'], e['method'], e['target']) for e in log],
                         [(t, 'Async.VM.start', vm) for t, vm in zip(tasks, halted)])
        a, b = log
        self.assertLess(a['start'], a['end'])
        # both were started before either ended: the log shows them overlap
        self.assertLess(b['start'], a['end'])
        # the task_ms knob: tasks started afterwards take that long (120 ms here otherwise)
        self.assertEqual(self.sim.control('POST', '/sim/config?task_ms=600')['task_ms'], 600.0)
        try:
            t = x.ok('Async.VM.hard_shutdown', sid, halted[0])
            end = time.monotonic() + 10
            while time.monotonic() < end and x.ok('task.get_status', sid, t) == 'pending':
                time.sleep(0.01)
        finally:
            self.sim.control('POST', '/sim/config?task_ms=120')
        last = self.sim.control('GET', '/sim/task_log')['tasks'][-1]
        self.assertEqual((last['task'], last['method']), (t, 'Async.VM.hard_shutdown'))
        # the whole of task_ms (its last quarter once ran short: 450 ms for 600)
        self.assertGreaterEqual(last['end'] - last['start'], 0.595)
        x.close()

    def test_event_from_wakes_each_waiter_for_its_own_objects(self):
        """Many event.from blocked at once, each on one task (as an agent's command workers
        follow theirs): each returns with its own task's changes, not another's, and one on
        the message class returns when a message is created while only tasks change."""
        x, sid = self.login()
        vms = x.ok('VM.get_all_records', sid)
        halted = [r for r, v in sorted(vms.items()) if v['power_state'] == 'Halted'
                  and not v['is_a_template'] and not v['is_control_domain']][:8]
        tasks = [x.ok('Async.VM.start', sid, vm, False, False) for vm in halted]
        msg_token = self.event_from(x, sid, ['message'], '', 0.01)['Value']['token']
        ends, errors = {}, []

        def follow(task):
            c = XmlRpc(self.sim)
            try:
                token, status = '', 'pending'
                end = time.monotonic() + 20
                while status == 'pending' and time.monotonic() < end:
                    v = c.ok('event.from', sid, ['task/' + task], token, 5.0)
                    token = v['token']
                    for ev in v['events']:
                        if ev['ref'] != task:
                            errors.append(('foreign event', task, ev['ref']))
                        elif ev['operation'] != 'del':
                            status = ev['snapshot']['status']
                ends[task] = status
            except Exception as e:   # reported below, in the test's thread
                errors.append((task, repr(e)))
            finally:
                c.close()

        threads = [threading.Thread(target=follow, args=(t,)) for t in tasks]
        for t in threads:
            t.start()
        m = XmlRpc(self.sim)
        got = {}

        def wait_message():
            got['v'] = m.ok('event.from', sid, ['message'], msg_token, 10.0)

        waiter = threading.Thread(target=wait_message)
        waiter.start()
        time.sleep(0.05)   # not synchronisation: the message must merely come while tasks run
        t0 = time.monotonic()
        x.ok('message.create', sid, 'VM_STARTED', '5', 'VM', vms[halted[0]]['uuid'], 'test')
        waiter.join(15)
        for t in threads:
            t.join(30)
        self.assertFalse(waiter.is_alive())
        self.assertLess(time.monotonic() - t0, 8.0)   # woken by the message, not the 10 s wait
        self.assertEqual([e['class'] for e in got['v']['events']], ['message'])
        self.assertEqual(errors, [])
        self.assertEqual(ends, {t: 'success' for t in tasks})
        m.close()
        x.close()

    def test_power_rules(self):
        x, sid = self.login()
        vms = x.ok('VM.get_all_records', sid)
        vm = next(r for r, v in vms.items() if v['power_state'] == 'Running' and not v['is_control_domain'])
        self.assertEqual(x.call('VM.unpause', sid, vm)['ErrorDescription'], ['VM_BAD_POWER_STATE', vm, 'paused', 'running'])
        self.assertEqual(x.call('VM.destroy', sid, vm)['ErrorDescription'][0], 'VM_BAD_POWER_STATE')
        x.ok('VM.pause', sid, vm)
        x.ok('VM.unpause', sid, vm)
        x.ok('VM.suspend', sid, vm)
        self.assertEqual(x.ok('VM.get_consoles', sid, vm), [])
        x.ok('VM.resume', sid, vm, False, False)
        self.assertEqual(len(x.ok('VM.get_consoles', sid, vm)), 1)
        x.ok('VM.clean_reboot', sid, vm)
        x.ok('VM.clean_shutdown', sid, vm)
        self.assertEqual(x.ok('VM.get_resident_on', sid, vm), 'OpaqueRef:NULL')
        snap = x.ok('VM.snapshot', sid, vm, 'snap')
        self.assertEqual(x.ok('VM.get_snapshot_of', sid, snap), vm)
        x.ok('VM.destroy', sid, snap)
        tmpl = next(r for r, v in vms.items() if v['is_a_template'])
        self.assertEqual(x.call('VM.start', sid, tmpl, False, False)['ErrorDescription'], ['VM_IS_TEMPLATE', tmpl, 'start'])
        x.close()

    def test_determinism(self):
        a = SimProc('--vms', '25', '--seed', '99', '--hosts', '2')
        b = SimProc('--vms', '25', '--seed', '99', '--hosts', '2')
        try:
            self.assertEqual(a.truth(), b.truth())
            self.assertEqual(a.pool_uuid, b.pool_uuid)
        finally:
            a.stop()
            b.stop()

    def test_big_response_chunked_and_keepalive(self):
        s = SimProc('--vms', '300', '--max-buffer-mb', '1')
        try:
            c = s.conn()
            x = XmlRpc(s)
            sid = x.ok('session.login_with_password', 'root', 'password')
            body = xmlrpc.client.dumps((sid,), 'VM.get_all_records').encode()
            for _ in range(2):       # same keep-alive connection twice
                c.request('POST', '/', body, {'Content-Type': 'text/xml'})
                r = c.getresponse()
                self.assertEqual(r.getheader('Transfer-Encoding'), 'chunked')
                v = xmlrpc.client.loads(r.read())[0][0]['Value']
                self.assertGreater(len(v), 300)
            body = xmlrpc.client.dumps((sid,), 'pool.get_all_records').encode()
            c.request('POST', '/', body, {'Content-Type': 'text/xml'})
            r = c.getresponse()
            self.assertIsNotNone(r.getheader('Content-Length'))
            r.read()
            c.close()
        finally:
            s.stop()


class TestFaults(Base):
    def test_trim_deleted_misses_deletes_silently(self):
        x, sid = self.login()
        r = self.event_from(x, sid, ['vm'], '', 5)['Value']
        copy = {e['ref'] for e in r['events']}
        token = r['token']
        victims = self.sim.control('POST', '/sim/destroy_vms?n=3')
        self.assertEqual(victims['done'], 3)
        self.sim.control('POST', '/sim/fault?kind=trim_deleted')
        r2 = self.event_from(x, sid, ['vm'], token, 1)['Value']
        for e in r2['events']:
            if e['operation'] == 'del':
                copy.discard(e['ref'])
            else:
                copy.add(e['ref'])
        self.assertFalse([e for e in r2['events'] if e['operation'] == 'del'])
        self.assertNotEqual(r2['valid_ref_counts']['vm'], len(copy))
        self.assertEqual(r2['valid_ref_counts']['vm'], len(copy) - 3)
        # control: without trimming, deletes do arrive
        t3 = r2['token']
        self.sim.control('POST', '/sim/destroy_vms?n=1')
        r3 = self.event_from(x, sid, ['vm'], t3, 5)['Value']
        self.assertEqual(len([e for e in r3['events'] if e['operation'] == 'del']), 1)
        x.close()

    def test_deleted_window_bounded_like_xapi(self):
        x, sid = self.login()
        token = self.event_from(x, sid, ['task'], '', 1)['Value']['token']
        for i in range(600):
            t = x.ok('task.create', sid, 'x%d' % i, '')
            x.ok('task.destroy', sid, t)
        # created and destroyed since the token: nothing to report at all
        self.assertEqual(self.event_from(x, sid, ['task'], token, 0.1)['Value']['events'], [])
        x.close()

    def test_invalidate_sessions_blocked_event_from(self):
        x, sid = self.login()
        token = self.event_from(x, sid, ['vm'], '', 5)['Value']['token']
        x2 = XmlRpc(self.sim)
        res = {}
        th = threading.Thread(target=lambda: res.setdefault('r', x2.call('event.from', sid, ['vm'], token, 30.0)))
        th.start()
        time.sleep(0.4)
        t0 = time.monotonic()
        self.sim.control('POST', '/sim/fault?kind=invalidate_sessions')
        th.join(10)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(res['r']['ErrorDescription'], ['SESSION_INVALID', sid])
        self.assertEqual(x.call('VM.get_all', sid)['ErrorDescription'], ['SESSION_INVALID', sid])
        x.close()
        x2.close()

    def test_drop_connections(self):
        x, sid = self.login()
        token = self.event_from(x, sid, ['vm'], '', 5)['Value']['token']
        res = {}

        def blocked():
            try:
                res['r'] = x.call('event.from', sid, ['vm'], token, 30.0)
            except Exception as e:
                res['e'] = e
        th = threading.Thread(target=blocked)
        th.start()
        time.sleep(0.4)
        out = self.sim.control('POST', '/sim/fault?kind=drop_connections')
        th.join(10)
        self.assertFalse(th.is_alive())
        self.assertIn('e', res)
        self.assertGreaterEqual(out['dropped'], 1)
        x.close()

    def test_slave_and_move_master(self):
        master_ip = self.sim.hosts[0][1].split('//')[1].split(':')[0]
        slave_ip = self.sim.hosts[1][1].split('//')[1].split(':')[0]
        s = XmlRpc(self.sim, slave_ip)
        self.assertEqual(s.call('session.login_with_password', 'root', 'password')['ErrorDescription'],
                         ['HOST_IS_SLAVE', master_ip])
        out = self.sim.control('POST', '/sim/fault?kind=move_master&host=1')
        self.assertEqual(out['master'], slave_ip)
        m = XmlRpc(self.sim, master_ip)
        self.assertEqual(m.call('session.login_with_password', 'root', 'password')['ErrorDescription'],
                         ['HOST_IS_SLAVE', slave_ip])
        s2 = XmlRpc(self.sim, slave_ip)
        sid = s2.ok('session.login_with_password', 'root', 'password')
        pool = s2.ok('pool.get_all_records', sid)
        hosts = s2.ok('host.get_all_records', sid)
        master = list(pool.values())[0]['master']
        self.assertEqual(hosts[master]['address'], slave_ip)
        self.sim.control('POST', '/sim/fault?kind=move_master&host=0')
        s2.close()
        s.close()
        m.close()

    def test_pause_resume_and_slow(self):
        x, sid = self.login()
        token = self.event_from(x, sid, ['vm'], '', 5)['Value']['token']
        self.sim.control('POST', '/sim/fault?kind=pause_events')
        vm = x.ok('VM.get_all', sid)[-1]
        x.ok('VM.set_name_label', sid, vm, 'while-paused')
        r = self.event_from(x, sid, ['vm'], token, 0.5)['Value']
        self.assertEqual(r['events'], [])
        self.sim.control('POST', '/sim/fault?kind=resume_events')
        r = self.event_from(x, sid, ['vm'], token, 5)['Value']
        self.assertIn(vm, [e['ref'] for e in r['events']])
        self.sim.control('POST', '/sim/fault?kind=slow&ms=300')
        t0 = time.monotonic()
        x.ok('VM.get_all', sid)
        self.assertGreaterEqual(time.monotonic() - t0, 0.28)
        self.sim.control('POST', '/sim/fault?kind=slow&ms=0')
        x.close()

    def test_stats_and_churn(self):
        before = self.sim.stats()
        out = self.sim.control('POST', '/sim/churn?n=50&rate=500&seed=3')
        self.assertEqual(out['done'], 50)
        self.assertGreaterEqual(out['seconds'], 0.08)
        after = self.sim.stats()
        self.assertGreater(after['changes'], before['changes'])
        for k in ('calls', 'calls_by_method', 'events', 'bytes_exported', 'bytes_imported', 'sessions'):
            self.assertIn(k, after)
        self.assertEqual(self.sim.control('POST', '/sim/churn?n=5&async=1'), {'started': 5})


class TestHttpHandlers(Base):
    ARGS = ['--hosts', '2', '--vms', '12', '--seed', '5', '--event-batch-ms', '0', '--task-ms', '50']

    def test_export_import_roundtrip(self):
        x, sid = self.login()
        vms = x.ok('VM.get_all_records', sid)
        vm = next(r for r, v in vms.items() if v['power_state'] == 'Halted' and not v['is_a_template'] and v['VBDs'])
        size = 0
        for vbd in vms[vm]['VBDs']:
            v = x.ok('VBD.get_record', sid, vbd)
            if v['type'] == 'Disk':
                size += int(x.ok('VDI.get_physical_utilisation', sid, v['VDI']))
        task = x.ok('task.create', sid, 'export', '')
        c = self.sim.conn()
        c.request('GET', '/export?ref=%s&use_compression=false&task_id=%s' % (vm, task),
                  headers={'Cookie': 'session_id=%s' % sid})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        data = r.read()
        self.assertGreater(len(data), size)
        # an XVA: ova.xml, then each disk's non-zero 1 MiB chunks (and its first and last) each
        # followed by its .xxhash file, then the end-of-archive blocks
        members = tarfile.open(fileobj=io.BytesIO(data)).getmembers()
        self.assertEqual(members[0].name, 'ova.xml')
        chunks = [m for m in members[1:] if not m.name.endswith('.xxhash')]
        self.assertEqual([m.name + '.xxhash' for m in chunks], [m.name for m in members[2::2]])
        self.assertGreaterEqual(sum(m.size for m in chunks), size)
        self.assertEqual(len(data), 512 + -(-members[0].size // 512) * 512 + sum(m.size + 1536 for m in chunks) + 1024)
        self.assertEqual(x.ok('task.get_status', sid, task), 'success')
        c.close()
        # export is deterministic
        c = self.sim.conn()
        c.request('GET', '/export?uuid=%s&session_id=%s' % (vms[vm]['uuid'], sid))
        self.assertEqual(hashlib.sha256(c.getresponse().read()).digest(), hashlib.sha256(data).digest())
        c.close()
        sr = x.ok('pool.get_default_SR', sid, x.ok('pool.get_all', sid)[0])
        token = self.event_from(x, sid, ['vm', 'vdi'], '', 5)['Value']['token']
        # import the way Xen Orchestra does: 1 PiB content-length, close the socket when done
        task2 = x.ok('task.create', sid, 'import', '')
        s = socket.create_connection((self.sim.host, self.sim.port), 10)
        s.sendall(('PUT /import?session_id=%s&task_id=%s&sr_id=%s HTTP/1.1\r\nHost: x\r\n'
                   'Content-Length: 1125899906842624\r\n\r\n' % (sid, task2, sr)).encode())
        for i in range(0, len(data), 65536):
            s.sendall(data[i:i + 65536])
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        # XAPI answers before reading the body: read the whole answer before closing, or the
        # close resets the connection and aborts an import still reading (as on a real host)
        resp = b''
        while b'\r\n\r\n' not in resp:
            b = s.recv(4096)
            if not b:
                break
            resp += b
        s.close()
        self.assertTrue(resp.startswith(b'HTTP/1.1 200'), resp)
        end = time.monotonic() + 10
        while time.monotonic() < end and x.ok('task.get_status', sid, task2) == 'pending':
            time.sleep(0.02)
        self.assertEqual(x.ok('task.get_status', sid, task2), 'success')
        new_vm = re.search(r'OpaqueRef:[0-9a-f-]+', x.ok('task.get_result', sid, task2)).group(0)
        self.assertEqual(x.ok('VM.get_name_label', sid, new_vm), vms[vm]['name_label'])
        evs = self.event_from(x, sid, ['vm', 'vdi'], token, 5)['Value']['events']
        self.assertIn(('vm', 'add', new_vm), [(e['class'], e['operation'], e['ref']) for e in evs])
        self.assertTrue(any(e['class'] == 'vdi' and e['operation'] == 'add' for e in evs))
        st = self.sim.stats()
        self.assertGreaterEqual(st['bytes_exported'], 2 * len(data))
        self.assertGreaterEqual(st['bytes_imported'], len(data))
        # a corrupted stream is refused
        task3 = x.ok('task.create', sid, 'import', '')
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0xff
        c = self.sim.conn()
        c.request('PUT', '/import?session_id=%s&task_id=%s' % (sid, task3), body=bytes(bad))
        # XAPI answers 200 before reading the body: the failure is the task's
        self.assertEqual(c.getresponse().status, 200)
        rec = self._wait_task(x, sid, task3)
        self.assertEqual(rec['status'], 'failure')
        self.assertEqual(rec['error_info'][0], 'IMPORT_ERROR')
        self.assertIn('checksum failed', rec['error_info'][1])
        c.close()
        # gzip export imports too
        c = self.sim.conn()
        c.request('GET', '/export?ref=%s&use_compression=true&session_id=%s' % (vm, sid))
        gz = c.getresponse().read()
        self.assertEqual(gz[:2], b'\x1f\x8b')
        c.close()
        c = self.sim.conn()
        c.request('PUT', '/import?session_id=%s' % sid, body=gz)
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        # bad session
        c = self.sim.conn()
        c.request('GET', '/export?ref=%s&session_id=OpaqueRef:bad' % vm)
        self.assertEqual(c.getresponse().status, 403)
        c.close()
        x.close()

    def _rfb_handshake(self, recv, send):
        self.assertEqual(recv(12), b'RFB 003.008\n')
        send(b'RFB 003.008\n')
        self.assertEqual(recv(2), b'\x01\x01')
        send(b'\x01')
        self.assertEqual(recv(4), b'\x00\x00\x00\x00')
        send(b'\x01')
        w, h = struct.unpack('>HH', recv(4))
        recv(16)
        n = struct.unpack('>I', recv(4))[0]
        name = recv(n).decode()
        send(struct.pack('>BBHHHH', 3, 0, 0, 0, w, h))
        hdr = recv(4)
        self.assertEqual(hdr[0], 0)
        self.assertEqual(struct.unpack('>H', hdr[2:])[0], 1)
        x, y, rw, rh, enc = struct.unpack('>HHHHi', recv(12))
        fb = recv(rw * rh * 4)
        # colour bars: white at the left, blue in the 7th bar (BGRX little endian)
        self.assertEqual(fb[0:4], b'\xff\xff\xff\x00')
        self.assertEqual(fb[(w * 13 // 16) * 4:(w * 13 // 16) * 4 + 4], b'\xff\x00\x00\x00')
        send(struct.pack('>BBxxI', 4, 1, 0x61))
        send(struct.pack('>BBHH', 5, 0, 10, 10))
        return name

    def _running_console(self, x, sid):
        vms = x.ok('VM.get_all_records', sid)
        vm = next(r for r, v in vms.items() if v['power_state'] == 'Running' and v['consoles'])
        return vms[vm]['name_label'], vms[vm]['consoles'][0]

    def test_console_connect(self):
        x, sid = self.login()
        name, con = self._running_console(x, sid)
        keys0 = self.sim.stats()['console_keys']
        s = socket.create_connection((self.sim.host, self.sim.port), 10)
        s.sendall(('CONNECT /console?ref=%s&session_id=%s HTTP/1.0\r\n\r\n' % (con, sid)).encode())
        f = s.makefile('rb')
        self.assertEqual(f.readline(), b'HTTP/1.1 200 OK\r\n')
        self.assertEqual(f.readline(), b'\r\n')
        got = self._rfb_handshake(lambda n: f.read(n), s.sendall)
        self.assertEqual(got, name)
        end = time.monotonic() + 5
        while time.monotonic() < end and self.sim.stats()['console_keys'] == keys0:
            time.sleep(0.05)
        self.assertGreater(self.sim.stats()['console_keys'], keys0)
        s.close()
        x.close()

    def test_console_websocket(self):
        x, sid = self.login()
        name, con = self._running_console(x, sid)
        uuid = x.ok('console.get_uuid', sid, con)
        s = socket.create_connection((self.sim.host, self.sim.port), 10)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(('GET /console?uuid=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                   'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n'
                   'Cookie: session_id=%s\r\n\r\n' % (uuid, key, sid)).encode())
        f = s.makefile('rb')
        self.assertIn(b'101', f.readline())
        hdrs = {}
        while True:
            line = f.readline().decode().strip()
            if not line:
                break
            k, _, v = line.partition(':')
            hdrs[k.lower()] = v.strip()
        self.assertEqual(hdrs['sec-websocket-protocol'], 'binary')
        self.assertEqual(hdrs['sec-websocket-accept'],
                         base64.b64encode(hashlib.sha1((key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').encode()).digest()).decode())
        buf = bytearray()

        def recv(n):
            while len(buf) < n:
                h = f.read(2)
                ln = h[1] & 0x7f
                if ln == 126:
                    ln = struct.unpack('>H', f.read(2))[0]
                elif ln == 127:
                    ln = struct.unpack('>Q', f.read(8))[0]
                self.assertEqual(h[0], 0x82)
                buf.extend(f.read(ln))
            out = bytes(buf[:n])
            del buf[:n]
            return out

        def send(data):
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            s.sendall(struct.pack('>BB', 0x82, 0x80 | len(data)) + mask + masked)
        self.assertEqual(self._rfb_handshake(recv, send), name)
        s.close()
        x.close()

    def _put(self, path, data):
        c = self.sim.conn()
        c.request('PUT', path, body=data)
        st = c.getresponse().status
        c.close()
        return st

    def _wait_task(self, x, sid, t):
        end = time.monotonic() + 10
        while time.monotonic() < end and x.ok('task.get_status', sid, t) == 'pending':
            time.sleep(0.02)
        return x.ok('task.get_record', sid, t)

    def test_patches_and_updates(self):
        x, sid = self.login()
        hosts = x.ok('host.get_all', sid)
        # legacy XenServer patch
        t = x.ok('task.create', sid, 'upload', '')
        patch = b'XOSIMPATCH\n{"name_label": "XS71E001", "version": "1.0"}\n' + os.urandom(100000)
        self.assertEqual(self._put('/pool_patch_upload?session_id=%s&task_id=%s' % (sid, t), patch), 200)
        rec = self._wait_task(x, sid, t)
        self.assertEqual(rec['status'], 'success')
        pref = re.search(r'OpaqueRef:[0-9a-f-]+', rec['result']).group(0)
        self.assertEqual(x.ok('pool_patch.get_name_label', sid, pref), 'XS71E001')
        x.ok('pool_patch.pool_apply', sid, pref)
        self.assertTrue(x.ok('pool_patch.get_pool_applied', sid, pref))
        for h in hosts:
            hp = x.ok('host.get_patches', sid, h)
            self.assertTrue(any(x.ok('host_patch.get_pool_patch', sid, p) == pref for p in hp))
        self.assertEqual(x.call('pool_patch.pool_apply', sid, pref)['ErrorDescription'][0], 'PATCH_ALREADY_APPLIED')
        # ISO into a VDI, then pool_update.introduce / precheck / pool_apply
        sr = x.ok('pool.get_default_SR', sid, x.ok('pool.get_all', sid)[0])
        vdi = x.ok('VDI.create', sid, {'name_label': 'upd', 'SR': sr, 'virtual_size': '10000000', 'type': 'user',
                                       'sharable': False, 'read_only': False, 'other_config': {}})
        iso = b'XOSIMUPDATE\n{"name_label": "XS82E042", "version": "2.0"}\n' + os.urandom(50000)
        self.assertEqual(self._put('/import_raw_vdi?format=raw&vdi=%s&session_id=%s' % (vdi, sid), iso), 200)
        upd = x.ok('pool_update.introduce', sid, vdi)
        self.assertEqual(x.ok('pool_update.get_name_label', sid, upd), 'XS82E042')
        self.assertEqual(x.ok('pool_update.precheck', sid, upd, hosts[0]), 'ok')
        x.ok('pool_update.pool_apply', sid, upd)
        for h in hosts:
            self.assertIn(upd, x.ok('host.get_updates', sid, h))
        self.assertEqual(x.call('pool_update.precheck', sid, upd, hosts[0])['ErrorDescription'][0],
                         'UPDATE_ALREADY_APPLIED')
        # XCP-ng updater plugin
        pk = json.loads(x.ok('host.call_plugin', sid, hosts[0], 'updater.py', 'check_update', {}))
        self.assertTrue(pk and all('name' in p and 'version' in p for p in pk))
        x.ok('host.call_plugin', sid, hosts[0], 'updater.py', 'update', {})
        self.assertEqual(json.loads(x.ok('host.call_plugin', sid, hosts[0], 'updater.py', 'check_update', {})), [])
        self.assertIn('sim_last_update', x.ok('host.get_other_config', sid, hosts[0]))
        x.close()


class TestConsole(Base):
    """The console of each VM (rfb.py, rfbscreen.py) and where XAPI serves it."""
    ARGS = ['--hosts', '3', '--vms', '24', '--seed', '7', '--event-batch-ms', '0', '--task-ms', '50']

    def running_vms(self, x, sid, shared=True):
        vms = x.ok('VM.get_all_records', sid)
        out = []
        for ref, v in vms.items():
            if v['power_state'] != 'Running' or v['is_control_domain'] or not v['consoles']:
                continue
            srs = set()
            for vbd in v['VBDs']:
                vdi = x.ok('VBD.get_VDI', sid, vbd)
                if vdi != 'OpaqueRef:NULL':
                    srs.add(x.ok('VDI.get_SR', sid, vdi))
            if not shared or all(x.ok('SR.get_shared', sid, sr) for sr in srs):
                out.append((ref, v))
        return out

    def location_host(self, x, sid, con):
        loc = x.ok('console.get_location', sid, con)
        m = re.match(r'^https://([0-9.]+)/console\?uuid=([0-9a-f-]{36})$', loc)
        self.assertIsNotNone(m, loc)
        self.assertEqual(m.group(2), x.ok('console.get_uuid', sid, con))
        return m.group(1)

    def open_console(self, x, sid, con, **kw):
        ip = self.location_host(x, sid, con)
        c = RfbClient(self.sim, '/console?ref=%s' % con, sid, host=ip, **kw)
        self.assertTrue(c.ok(), c.status)
        c.handshake()
        return c

    @staticmethod
    def pixel(rects, x, y):
        for rx, ry, w, h, data in rects:
            if rx <= x < rx + w and ry <= y < ry + h:
                o = ((y - ry) * w + (x - rx)) * 4
                return data[o:o + 4]
        return None

    def test_screen_identifies_the_vm(self):
        x, sid = self.login()
        (vm1, r1), (vm2, r2) = self.running_vms(x, sid, shared=False)[:2]
        frames = []
        for vm, rec in ((vm1, r1), (vm2, r2)):
            c = self.open_console(x, sid, rec['consoles'][0])
            self.assertEqual(c.name, rec['name_label'])
            c.request()
            rects = c.read_update()
            self.assertEqual(rects[0][:4], (0, 0, 640, 480))
            # the background of the VM area is derived from its uuid
            r, g, b = rfbscreen.background_of(rec['uuid'])
            self.assertEqual(self.pixel(rects, 630, 180), bytes((b, g, r, 0)))
            # the barcode row spells the uuid, most significant bit first
            bits = ''.join('1' if self.pixel(rects, i * 5 + 2, 338)[0] == 255 else '0' for i in range(128))
            self.assertEqual('%032x' % int(bits, 2), rec['uuid'].replace('-', ''))
            # colour bars above, grey ramp below, whatever the VM
            self.assertEqual(self.pixel(rects, 0, 0), b'\xff\xff\xff\x00')
            self.assertEqual(self.pixel(rects, 639, 479), b'\xff\xff\xff\x00')
            frames.append(rects[0][4])
            c.close()
        self.assertNotEqual(hashlib.sha256(frames[0]).digest(), hashlib.sha256(frames[1]).digest())
        x.close()

    def test_pixel_format_and_region(self):
        x, sid = self.login()
        vm, rec = self.running_vms(x, sid, shared=False)[0]
        c = self.open_console(x, sid, rec['consoles'][0])
        c.set_pixel_format(rshift=0, gshift=8, bshift=16)     # what noVNC asks for
        c.request(x=400, y=0, w=40, h=10)                       # the red bar (5th) region only
        rects = c.read_update()
        self.assertEqual(rects[0][:4], (400, 0, 40, 10))
        self.assertEqual(rects[0][4][:4], b'\xff\x00\x00\x00')  # red in byte 0 now
        c.set_pixel_format(bpp=16, depth=16, rshift=11, gshift=5, bshift=0, maxes=(31, 63, 31))   # RGB565
        c.request(x=480, y=0, w=2, h=1)                         # the blue bar
        rects = c.read_update(bpp=2)
        self.assertEqual(struct.unpack('<H', rects[0][4][:2])[0], 0x001f)
        c.close()
        x.close()

    def test_keys_and_pointer_counted_per_vm(self):
        x, sid = self.login()
        vm, rec = self.running_vms(x, sid, shared=False)[0]
        before = self.sim.stats()['consoles'].get(rec['uuid'], {'keys': 0, 'pointer_events': 0})
        c = self.open_console(x, sid, rec['consoles'][0])
        c.request()
        c.read_update()
        # an incremental request is not answered while nothing changes (as qemu)
        c.request(incremental=True)
        self.assertFalse(c.readable(0.4))
        for ch in 'hi':
            c.key(ord(ch))
            c.key(ord(ch), down=False)
        rects = c.read_update()
        self.assertEqual(rects[0][1], rfbscreen.TYPED_Y)     # the typed line was redrawn
        c.pointer(100, 300)
        c.pointer(120, 310, mask=1)
        c.request(incremental=True)
        rects = c.read_update()
        self.assertEqual(self.pixel(rects, 121, 311), b'\xff\xff\xff\x00')
        end = time.monotonic() + 5
        while time.monotonic() < end:
            now = self.sim.stats()['consoles'][rec['uuid']]
            if now['pointer_events'] - before['pointer_events'] >= 2:
                break
            time.sleep(0.05)
        self.assertEqual(now['keys'] - before['keys'], 4)
        self.assertEqual(now['pointer_events'] - before['pointer_events'], 2)
        self.assertEqual(now['last_keysyms'][-2:], [ord('h'), ord('i')])
        self.assertEqual(now['active'], 1)
        self.assertEqual(now['name'], rec['name_label'])
        c.close()
        x.close()

    def test_stream_knob_pushes_as_fast_as_read(self):
        x, sid = self.login()
        vm, rec = self.running_vms(x, sid, shared=False)[1]
        self.assertEqual(self.sim.control('POST', '/sim/config?console_stream=1')['console_stream'], True)
        try:
            c = self.open_console(x, sid, rec['consoles'][0])
            time.sleep(1.0)          # a client that does not read: the socket buffers bound what is sent
            stalled = self.sim.stats()['consoles'][rec['uuid']]['bytes_sent']
            self.assertLess(stalled, 64 << 20)
            for _ in range(20):     # unsolicited full frames keep coming as the client reads
                self.assertEqual(c.read_update()[0][:4], (0, 0, 640, 480))
            flowing = self.sim.stats()['consoles'][rec['uuid']]
            self.assertGreater(flowing['bytes_sent'], stalled)
            self.assertGreaterEqual(flowing['updates_sent'], 20)
        finally:
            self.sim.control('POST', '/sim/config?console_stream=0')
        c.close()
        x.close()

    def test_location_follows_the_host(self):
        x, sid = self.login()
        hosts = x.ok('host.get_all_records', sid)
        ip_of = {h: r['address'] for h, r in hosts.items()}
        vm, rec = self.running_vms(x, sid, shared=True)[0]
        con = rec['consoles'][0]
        here = rec['resident_on']
        self.assertEqual(self.location_host(x, sid, con), ip_of[here])
        other = next(h for h in hosts if h != here)
        # another host refuses the console of a VM that is not resident there (XAPI: 500)
        c = RfbClient(self.sim, '/console?ref=%s' % con, sid, host=ip_of[other])
        self.assertTrue(c.status.startswith('HTTP/1.1 500'), c.status)
        c.close()
        # the VM's uuid also names its console; the session may come in a cookie
        c = RfbClient(self.sim, '/console?uuid=%s' % rec['uuid'], sid, host=ip_of[here], cookie=True)
        self.assertEqual(c.handshake(), rec['name_label'])
        c.close()
        c = RfbClient(self.sim, '/console?uuid=%s' % rec['uuid'], 'OpaqueRef:bad', host=ip_of[here], cookie=True)
        self.assertTrue(c.status.startswith('HTTP/1.1 403'), c.status)
        c.close()
        viewer = self.open_console(x, sid, con)
        token = self.event_from(x, sid, ['console'], '', 5)['Value']['token']
        x.ok('VM.pool_migrate', sid, vm, other, {'live': 'true'})
        self.assertRaises((EOFError, OSError), lambda: [viewer.recv(1) for _ in range(2)])
        viewer.close()
        self.assertEqual(x.ok('VM.get_resident_on', sid, vm), other)
        self.assertNotIn(vm, x.ok('host.get_resident_VMs', sid, here))
        new = x.ok('VM.get_consoles', sid, vm)
        self.assertEqual(len(new), 1)
        self.assertNotEqual(new[0], con)
        self.assertEqual(self.location_host(x, sid, new[0]), ip_of[other])
        evs = self.event_from(x, sid, ['console'], token, 5)['Value']['events']
        self.assertIn(('del', con), [(e['operation'], e['ref']) for e in evs])
        self.assertIn(('add', new[0]), [(e['operation'], e['ref']) for e in evs])
        c = self.open_console(x, sid, new[0])
        self.assertEqual(c.name, rec['name_label'])
        c.close()
        # paused: the console object stays but XAPI refuses to connect
        x.ok('VM.pause', sid, vm)
        c = RfbClient(self.sim, '/console?ref=%s' % new[0], sid, host=ip_of[other])
        self.assertTrue(c.status.startswith('HTTP/1.1 500'), c.status)
        c.close()
        x.ok('VM.unpause', sid, vm)
        # halted: the console is gone
        x.ok('VM.hard_shutdown', sid, vm)
        self.assertEqual(x.call('console.get_record', sid, new[0])['ErrorDescription'][0], 'HANDLE_INVALID')
        c = RfbClient(self.sim, '/console?ref=%s' % new[0], sid, host=ip_of[other])
        self.assertTrue(c.status.startswith('HTTP/1.1 500'), c.status)
        c.close()
        # migration errors, as XAPI's
        self.assertEqual(x.call('VM.pool_migrate', sid, vm, here, {})['ErrorDescription'],
                         ['VM_BAD_POWER_STATE', vm, 'running', 'halted'])
        local_vm = next(r for r, v in self.running_vms(x, sid, shared=False)
                        if (r, v) not in self.running_vms(x, sid, shared=True))
        lhost = x.ok('VM.get_resident_on', sid, local_vm)
        err = x.call('VM.pool_migrate', sid, local_vm, next(h for h in hosts if h != lhost), {})['ErrorDescription']
        self.assertEqual(err[0], 'VM_REQUIRES_SR')
        x.close()

    def test_websocket_is_xapi_wsproxy(self):
        x, sid = self.login()
        vm, rec = self.running_vms(x, sid, shared=False)[2]
        con = rec['consoles'][0]
        ip = self.location_host(x, sid, con)
        # "binary" is answered even when the client offers no subprotocol
        c = RfbClient(self.sim, '/console?ref=%s' % con, sid, host=ip, websocket=True, protocols=None)
        self.assertTrue(c.status.startswith('HTTP/1.1 101'), c.status)
        self.assertEqual(c.headers['sec-websocket-protocol'], 'binary')
        c.handshake()
        c.request()
        rects = c.read_update()
        self.assertEqual(rects[0][:4], (0, 0, 640, 480))
        # the frame came as many binary frames of at most 1024 bytes
        self.assertGreater(len(c.ws_frames), 1000)
        self.assertLessEqual(max(c.ws_frames), 1024)
        # a text frame's payload is RFB data as is (no base64), like a binary one
        c.send(struct.pack('>BBxxI', 4, 1, ord('z')), opcode=0x81)
        c.request(incremental=True)
        c.read_update()
        self.assertEqual(self.sim.stats()['consoles'][rec['uuid']]['last_keysyms'][-1], ord('z'))
        c.close()
        # no Sec-WebSocket-Key: 501
        s = socket.create_connection((ip, self.sim.port), 10)
        s.sendall(('GET /console?ref=%s HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                   'Cookie: session_id=%s\r\n\r\n' % (con, sid)).encode())
        self.assertTrue(s.recv(100).startswith(b'HTTP/1.1 501'))
        s.close()
        x.close()


P32, P64 = 2654435761, 11400714785074694797


class TestXxh64(unittest.TestCase):
    """XXH64 (xxh64.py) against the official vectors of xxHash's xsum_sanity_check.c."""
    VECTORS = [(0, 0, 0xEF46DB3751D8E999), (0, P32, 0xAC75FDA2929B17EF), (1, 0, 0xE934A84ADB052768),
               (1, P32, 0x5014607643A9B4C3), (4, 0, 0x9136A0DCA57457EE), (14, 0, 0x8282DCC4994E35C8),
               (14, P32, 0xC3BD6BF63DEB6DF0), (222, 0, 0xB641AE8CB691C174), (222, P32, 0x20CB8AB7AE10C14A)]

    @staticmethod
    def sanity_buffer(n):
        out, gen = bytearray(n), P32
        for i in range(n):
            out[i] = gen >> 56
            gen = (gen * P64) & ((1 << 64) - 1)
        return bytes(out)

    def test_vectors(self):
        import xxh64
        buf = self.sanity_buffer(222)
        for n, seed, want in self.VECTORS:
            self.assertEqual(xxh64.xxh64_py(buf[:n], seed), want, (n, seed))
            self.assertEqual(xxh64.xxh64(buf[:n], seed), want, (n, seed))
            if xxh64.backend() == 'libxxhash':
                self.assertEqual(xxh64.xxh64_c(buf[:n], seed), want)
        # every tail length (stripes, 8-, 4- and 1-byte tails) agrees with the C library when present
        data = os.urandom(4096 + 31)
        if xxh64.backend() == 'libxxhash':
            for n in list(range(0, 70)) + [1000, 4096 + 31]:
                self.assertEqual(xxh64.xxh64_py(data[:n]), xxh64.xxh64_c(data[:n]), n)
        # what XAPI writes in a chunk's .xxhash file: "%016LX"
        self.assertEqual(xxh64.xva_checksum(b''), 'EF46DB3751D8E999')
        self.assertRegex(xxh64.xva_checksum(data), r'^[0-9A-F]{16}$')

    def test_sparse_generated_disk(self):
        import vdisk
        d = vdisk.Disk.generated('seed-1', 4 << 30, 3 << 20)       # 4 GiB, 3 MiB of data
        self.assertEqual(d.nonzero(), [0, 1365, 2730])
        self.assertEqual(d.allocated(), 3 << 20)
        self.assertEqual(d.chunk(7), bytes(1 << 20))
        c = d.chunk(1365)
        self.assertEqual(vdisk.parse_gen(c), ('seed-1', 1365))
        e = vdisk.Disk(4 << 30)
        self.assertEqual(e.write(1365 << 20, c), 1 << 20)             # what an import does
        self.assertEqual(e.write(0, d.chunk(0)), 1 << 20)             # (write: allocated grew by)
        self.assertEqual(e.write(2730 << 20, d.chunk(2730)), 1 << 20)
        self.assertEqual(e.write(5 << 20, bytes(1 << 20)), 0)         # zeros are not stored
        self.assertEqual(e.write(1365 << 20, c), 0)                   # rewritten: no growth
        self.assertEqual(e.allocated(), 3 << 20)
        self.assertEqual(e.chunks, d.chunks)
        f = vdisk.Disk(3 << 20)
        self.assertEqual(f.write(100, b'x'), 1 << 20)                 # a partial write allocates its chunk
        self.assertEqual(f.write(0, bytes(1 << 20)), -(1 << 20))      # zeroing it frees it
        self.assertEqual((f.allocated(), f.nonzero()), (0, []))
        for data, zero in ((b'', True), (bytes(9), True), (b'\0' * 7 + b'\1', False),
                           (b'\1' + bytes(7), False), (bytes(3) + b'\1' + bytes(3), False)):
            self.assertEqual(vdisk.is_zero(data), zero, data)
        self.assertEqual(e.digest(), d.digest())
        self.assertNotEqual(vdisk.Disk.generated('seed-2', 4 << 30, 3 << 20).digest(), d.digest())


class TestXva(Base):
    """GET /export and PUT /import as XAPI's (export.ml, import.ml, stream_vdi.ml)."""
    ARGS = ['--hosts', '2', '--vms', '12', '--seed', '21', '--event-batch-ms', '0', '--task-ms', '50']

    def vm_on(self, x, sid, shared=True, power='Halted', exclude=()):
        vms = x.ok('VM.get_all_records', sid)
        for ref, v in vms.items():
            if v['power_state'] != power or v['is_a_template'] or v['is_control_domain'] or ref in exclude:
                continue
            srs = {x.ok('VDI.get_SR', sid, x.ok('VBD.get_VDI', sid, b)) for b in v['VBDs']
                   if x.ok('VBD.get_type', sid, b) == 'Disk'}
            if srs and all(x.ok('SR.get_shared', sid, sr) == shared for sr in srs):
                return ref, v, sorted(srs)
        raise AssertionError('no such VM')

    def disks_of(self, x, sid, vm):
        return [x.ok('VBD.get_VDI', sid, b) for b in x.ok('VM.get_VBDs', sid, vm)
                if x.ok('VBD.get_type', sid, b) == 'Disk']

    def export(self, sid, vm, query='', host=None):
        c = self.sim.conn(host)
        c.request('GET', '/export?ref=%s&session_id=%s%s' % (vm, sid, query))
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def put(self, path, body, headers=None, host=None):
        c = self.sim.conn(host)
        c.request('PUT', path, body=body, headers=headers or {})
        r = c.getresponse()
        r.read()
        c.close()
        return r

    def wait(self, x, sid, task):
        end = time.monotonic() + 20
        while time.monotonic() < end and x.ok('task.get_status', sid, task) in ('pending', 'cancelling'):
            time.sleep(0.02)
        return x.ok('task.get_record', sid, task)

    def counts(self):
        o = self.sim.stats()['objects']
        return o['vm'], o['vdi'], o['vbd'], o['vif']

    def test_export_is_an_xva(self):
        x, sid = self.login()
        vm, rec, _ = self.vm_on(x, sid)
        task = x.ok('task.create', sid, 'export', '')
        r, data = self.export(sid, vm, '&task_id=%s' % task)
        self.assertEqual((r.status, r.version), (200, 10))                 # HTTP/1.0, until close
        self.assertEqual(r.getheader('task-id'), task)
        self.assertEqual(r.getheader('Content-Disposition'), 'attachment; filename="export.xva"')
        self.assertIsNone(r.getheader('Content-Length'))
        self.assertEqual(self.wait(x, sid, task)['status'], 'success')
        self.assertEqual(x.ok('VM.get_current_operations', sid, vm), {})
        tf = tarfile.open(fileobj=io.BytesIO(data))
        members = tf.getmembers()
        self.assertEqual(members[0].name, 'ova.xml')
        ova = xmlrpc.client.loads('<methodResponse><params><param>%s</param></params></methodResponse>'
                                  % tf.extractfile('ova.xml').read().decode())[0][0]
        self.assertEqual(ova['version']['export_vsn'], '2')
        self.assertEqual((ova['version']['xapi_major'], ova['version']['xapi_minor']), ('1', '20'))
        objs = {o['id']: o for o in ova['objects']}
        self.assertEqual(sorted({o['class'] for o in ova['objects']}),
                         ['SR', 'VBD', 'VDI', 'VIF', 'VM', 'VM_guest_metrics', 'VM_metrics', 'network'])
        vmo = next(o for o in ova['objects'] if o['class'] == 'VM')
        snap = vmo['snapshot']
        self.assertEqual((snap['uuid'], snap['name_label'], snap['power_state']), (rec['uuid'], rec['name_label'], 'Halted'))
        self.assertEqual(snap['consoles'], [])
        self.assertEqual(snap['memory_static_max'], str(rec['memory_static_max']))    # int64 as a string
        self.assertTrue(all(re.match(r'^Ref:\d+$', v) for v in snap['VBDs'] + snap['VIFs']))
        for vbd in snap['VBDs']:
            self.assertEqual(objs[vbd]['snapshot']['VM'], vmo['id'])
        # a halted VM's NULL resident_on was numbered like any reference (export.ml does so)
        self.assertRegex(snap['resident_on'], r'^Ref:\d+$')
        self.assertNotIn(snap['resident_on'], objs)
        # one disk: every non-zero chunk and the first and the last, each with its XXH64
        vdi = self.disks_of(x, sid, vm)[0]
        info = self.sim.control('GET', '/sim/vdi_checksum?vdi=%s' % vdi)
        vdio = next(o for o in ova['objects'] if o['class'] == 'VDI')
        prefix = vdio['id']
        names = [m.name for m in members[1:]]
        chunks = [n for n in names if not n.endswith('.xxhash')]
        last = -(-info['virtual_size'] // (1 << 20)) - 1
        self.assertEqual(chunks[0], '%s/00000000' % prefix)
        self.assertEqual(chunks[-1], '%s/%08d' % (prefix, last))
        self.assertEqual(len(chunks), info['nonzero_chunks'] + 1)                  # + the zero last chunk
        self.assertEqual(names[1::2], [c + '.xxhash' for c in chunks])
        import xxh64
        for c in chunks[:2] + chunks[-1:]:
            body = tf.extractfile(c).read()
            self.assertEqual(tf.extractfile(c + '.xxhash').read().decode(), '%016X' % xxh64.xxh64_py(body))
        self.assertEqual(tf.extractfile(chunks[-1]).read(), bytes(1 << 20))
        # a running VM cannot be exported
        run, _, _ = self.vm_on(x, sid, power='Running')
        t2 = x.ok('task.create', sid, 'export', '')
        r, _ = self.export(sid, run, '&task_id=%s' % t2)
        self.assertEqual(r.status, 500)
        self.assertEqual(self.wait(x, sid, t2)['error_info'], ['VM_BAD_POWER_STATE', run, 'halted, suspended', 'running'])
        x.close()

    def test_roundtrip_and_compressions(self):
        x, sid = self.login()
        vm, rec, srs = self.vm_on(x, sid)
        src_vdi = self.disks_of(x, sid, vm)[0]
        src_digest = self.sim.control('GET', '/sim/vdi_checksum?vdi=%s' % src_vdi)['digest']
        _, raw = self.export(sid, vm)
        _, gz = self.export(sid, vm, '&use_compression=gzip')
        _, zs = self.export(sid, vm, '&use_compression=zstd')
        self.assertEqual(gz[:2], b'\x1f\x8b')
        self.assertEqual(zs[:4], b'\x28\xb5\x2f\xfd')
        import gzip
        self.assertEqual(gzip.decompress(gz), raw)
        self.assertEqual(subprocess.run(['zstd', '-d', '-c'], input=zs, capture_output=True).stdout, raw)
        before = self.sim.stats()
        token = self.event_from(x, sid, ['vm', 'vdi', 'task'], '', 5)['Value']['token']
        for body in (raw, gz, zs):
            task = x.ok('task.create', sid, 'import', '')
            r = self.put('/import?session_id=%s&task_id=%s&sr_id=%s' % (sid, task, srs[0]), body)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader('task-id'), task)
            t = self.wait(x, sid, task)
            self.assertEqual(t['status'], 'success', t['error_info'])
            self.assertEqual(t['other_config'].get('object_creation'), 'complete')
            new = re.fullmatch(r'<value><array><data><value>(OpaqueRef:[0-9a-f-]+)</value></data></array></value>',
                               t['result']).group(1)
            nrec = x.ok('VM.get_record', sid, new)
            self.assertEqual((nrec['name_label'], nrec['power_state'], nrec['memory_static_max'], nrec['VCPUs_max']),
                             (rec['name_label'], 'Halted', rec['memory_static_max'], rec['VCPUs_max']))
            self.assertNotEqual(nrec['uuid'], rec['uuid'])
            self.assertNotEqual(nrec['other_config']['mac_seed'], rec['other_config']['mac_seed'])
            self.assertEqual(nrec['current_operations'], {})
            self.assertEqual(len(nrec['VBDs']), len(rec['VBDs']))
            self.assertEqual(len(nrec['VIFs']), len(rec['VIFs']))
            self.assertEqual(x.ok('VIF.get_network', sid, nrec['VIFs'][0]), x.ok('VIF.get_network', sid, rec['VIFs'][0]))
            new_vdi = self.disks_of(x, sid, new)[0]
            self.assertNotEqual(new_vdi, src_vdi)
            self.assertEqual(x.ok('VDI.get_SR', sid, new_vdi), srs[0])
            self.assertEqual(self.sim.control('GET', '/sim/vdi_checksum?vdi=%s' % new_vdi)['digest'], src_digest)
            # and it exports to the same disk chunks again
            _, again = self.export(sid, new)
            self.assertEqual([m.name.split('/')[1] for m in tarfile.open(fileobj=io.BytesIO(again)).getmembers()[1:]],
                             [m.name.split('/')[1] for m in tarfile.open(fileobj=io.BytesIO(raw)).getmembers()[1:]])
        after = self.sim.stats()
        self.assertGreaterEqual(after['bytes_imported'] - before['bytes_imported'], len(raw) + len(gz) + len(zs))
        evs = self.event_from(x, sid, ['vm', 'vdi', 'task'], token, 5)['Value']['events']
        self.assertEqual(len([e for e in evs if e['class'] == 'vm' and e['operation'] == 'add']), 3)
        x.close()

    def test_import_failures_leave_nothing(self):
        x, sid = self.login()
        vm, rec, srs = self.vm_on(x, sid)
        _, raw = self.export(sid, vm)
        start = self.counts()

        def failed_import(body, query='', headers=None, status=200):
            task = x.ok('task.create', sid, 'import', '')
            r = self.put('/import?session_id=%s&task_id=%s%s' % (sid, task, query), body, headers)
            self.assertEqual(r.status, status)
            t = self.wait(x, sid, task)
            self.assertEqual(t['status'], 'failure')
            self.assertEqual(self.counts(), start)
            return t['error_info']

        # a checksum that does not match
        bad = bytearray(raw)
        first_chunk = tarfile.open(fileobj=io.BytesIO(raw)).getmembers()[1]
        bad[first_chunk.offset_data + 100] ^= 0x01
        err = failed_import(bytes(bad))
        self.assertEqual(err[0], 'IMPORT_ERROR')
        self.assertRegex(err[1], r'^INTERNAL_ERROR: \[ Stream_vdi\.Invalid_checksum\("Block Ref:\d+/00000000 checksum '
                                 r'failed: original = [0-9A-F]{16}; recomputed = [0-9A-F]{16}"\) \]$')
        # force=true imports it anyway
        task = x.ok('task.create', sid, 'import', '')
        self.put('/import?session_id=%s&task_id=%s&force=true' % (sid, task), bytes(bad))
        self.assertEqual(self.wait(x, sid, task)['status'], 'success')
        x.ok('VM.destroy', sid, re.search(r'OpaqueRef:[0-9a-f-]+', x.ok('task.get_result', sid, task)).group(0))
        start = self.counts()          # VM.destroy keeps the VDI
        # truncated in the middle of a disk: premature end of file
        self.assertEqual(failed_import(raw[:len(raw) // 2]), ['IMPORT_ERROR_PREMATURE_EOF'])
        # not an archive at all, or an empty body (Xen Orchestra's redirect probe)
        self.assertEqual(failed_import(b'hello' * 200), ['IMPORT_ERROR_PREMATURE_EOF'])
        self.assertEqual(failed_import(b''), ['IMPORT_ERROR_PREMATURE_EOF'])
        # a compressed archive cut in the middle, and one whose first file is not ova.xml
        import gzip
        _, gz = self.export(sid, vm, '&use_compression=gzip')
        self.assertEqual(failed_import(gz[:len(gz) // 2]), ['IMPORT_ERROR_PREMATURE_EOF'])
        odd = gzip.compress(tarfile_bytes([('hello.txt', b'hi')]))
        self.assertEqual(failed_import(odd), ['IMPORT_ERROR_UNEXPECTED_FILE', 'ova.xml', 'hello.txt'])
        # chunked transfer-encoding: 403, as XAPI
        self.assertEqual(failed_import(iter([raw[:1000]]), headers={'Transfer-Encoding': 'chunked'}, status=403),
                         ['IMPORT_ERROR_CANNOT_HANDLE_CHUNKED'])
        # an ISO SR: 400
        iso = next(r for r, v in x.ok('SR.get_all_records', sid).items() if v['content_type'] == 'iso')
        self.assertEqual(failed_import(raw[:512], '&sr_id=%s' % iso, status=400), ['SR_OPERATION_NOT_SUPPORTED'])
        x.close()

    def test_sr_full(self):
        x, sid = self.login()
        vm, rec, srs = self.vm_on(x, sid)
        _, raw = self.export(sid, vm)
        data = sum(1 for m in tarfile.open(fileobj=io.BytesIO(raw)).getmembers()[1:] if not m.name.endswith('.xxhash'))
        start = self.counts()
        shared = srs[0]
        # a file SR fills as data arrives: the import fails in the middle of the disk
        space = self.sim.control('POST', '/sim/sr_space?sr=%s&free=%d' % (shared, (data - 2) << 20))
        self.assertEqual(space['free'], (data - 2) << 20)
        task = x.ok('task.create', sid, 'import', '')
        self.put('/import?session_id=%s&task_id=%s&sr_id=%s' % (sid, task, shared), raw)
        t = self.wait(x, sid, task)
        self.assertEqual(t['error_info'][0], 'SR_FULL')
        self.assertEqual(int(t['error_info'][2]), space['physical_size'])
        self.assertGreater(int(t['error_info'][1]), int(t['error_info'][2]))
        self.assertEqual(self.counts(), start)
        self.assertEqual(int(x.ok('SR.get_physical_utilisation', sid, shared)), space['physical_utilisation'])
        self.sim.control('POST', '/sim/sr_space?sr=%s&free=%d' % (shared, 1 << 40))
        # an LVM SR allocates the whole virtual size when the VDI is created
        lvm = next(r for r, v in x.ok('SR.get_all_records', sid).items() if v['type'] == 'lvm'
                   and self.sim.hosts[0][0] in [x.ok('host.get_uuid', sid, x.ok('PBD.get_host', sid, p)) for p in v['PBDs']])
        self.sim.control('POST', '/sim/sr_space?sr=%s&free=%d' % (lvm, 1 << 20))
        task = x.ok('task.create', sid, 'import', '')
        self.put('/import?session_id=%s&task_id=%s&sr_id=%s' % (sid, task, lvm), raw)
        t = self.wait(x, sid, task)
        self.assertEqual(t['error_info'][0], 'SR_FULL')
        self.assertEqual(self.counts(), start)
        self.sim.control('POST', '/sim/sr_space?sr=%s&free=%d' % (lvm, 1 << 40))
        task = x.ok('task.create', sid, 'import', '')
        self.put('/import?session_id=%s&task_id=%s&sr_id=%s' % (sid, task, lvm), raw)
        self.assertEqual(self.wait(x, sid, task)['status'], 'success')
        new_vdi = self.disks_of(x, sid, re.search(r'OpaqueRef:[0-9a-f-]+', x.ok('task.get_result', sid, task)).group(0))[0]
        self.assertEqual(x.ok('VDI.get_physical_utilisation', sid, new_vdi), x.ok('VDI.get_virtual_size', sid, new_vdi))
        x.close()

    def test_redirects_to_the_host_of_a_local_sr(self):
        x, sid = self.login()
        master_ip = self.sim.hosts[0][1].split('//')[1].split(':')[0]
        slave_ip = self.sim.hosts[1][1].split('//')[1].split(':')[0]
        vm, rec, srs = self.vm_on(x, sid, shared=False)
        owner = x.ok('PBD.get_host', sid, x.ok('SR.get_PBDs', sid, srs[0])[0])
        owner_ip = x.ok('host.get_address', sid, owner)
        other_ip = master_ip if owner_ip == slave_ip else slave_ip
        r, _ = self.export(sid, vm, '&use_compression=false', host=other_ip)
        self.assertEqual(r.status, 302)
        loc = r.getheader('Location')
        self.assertTrue(loc.startswith('https://%s/export?' % owner_ip), loc)
        self.assertIn('ref=%s' % vm, loc)
        r, data = self.export(sid, vm, host=owner_ip)
        self.assertEqual(r.status, 200)
        self.assertEqual(data[:7], b'ova.xml')
        r = self.put('/import?session_id=%s&sr_id=%s' % (sid, srs[0]), b'', host=other_ip)
        self.assertEqual(r.status, 302)
        self.assertTrue(r.getheader('Location').startswith('https://%s/import?' % owner_ip))
        task = x.ok('task.create', sid, 'import', '')
        r = self.put('/import?session_id=%s&task_id=%s&sr_id=%s' % (sid, task, srs[0]), data, host=owner_ip)
        self.assertEqual(self.wait(x, sid, task)['status'], 'success')
        x.close()

    def test_big_sparse_disk_streams_in_bounded_memory(self):
        x, sid = self.login()
        vm, rec, srs = self.vm_on(x, sid)
        vdi = self.disks_of(x, sid, vm)[0]
        info = self.sim.control('POST', '/sim/vdi_content?vdi=%s&virtual_size=%d&allocated=%d'
                                % (vdi, 4 << 30, 24 << 20))
        self.assertEqual((info['virtual_size'], info['allocated']), (4 << 30, 24 << 20))
        rss0 = rss_kib(self.sim.proc.pid)
        # pipe the export straight into an import, the way an agent relays it
        src = self.sim.conn()
        src.request('GET', '/export?ref=%s&session_id=%s' % (vm, sid))
        r = src.getresponse()
        task = x.ok('task.create', sid, 'import', '')
        dst = socket.create_connection((self.sim.host, self.sim.port), 10)
        dst.sendall(('PUT /import?session_id=%s&task_id=%s HTTP/1.1\r\nHost: x\r\n'
                     'Content-Length: 1125899906842624\r\n\r\n' % (sid, task)).encode())
        moved = 0
        while True:
            b = r.read(1 << 16)
            if not b:
                break
            dst.sendall(b)
            moved += len(b)
        src.close()
        dst.shutdown(socket.SHUT_WR)
        t = self.wait(x, sid, task)
        dst.close()
        self.assertEqual(t['status'], 'success', t['error_info'])
        self.assertGreater(moved, 24 << 20)
        self.assertLess(moved, 32 << 20)                   # zeros were skipped
        new_vdi = self.disks_of(x, sid, re.search(r'OpaqueRef:[0-9a-f-]+', t['result']).group(0))[0]
        got = self.sim.control('GET', '/sim/vdi_checksum?vdi=%s' % new_vdi)
        self.assertEqual((got['virtual_size'], got['digest']), (4 << 30, info['digest']))
        self.assertLess(rss_kib(self.sim.proc.pid) - rss0, 96 << 10)
        x.close()

    def test_throttle_cancel_and_disconnect(self):
        x, sid = self.login()
        vm, rec, _ = self.vm_on(x, sid)
        vdi = self.disks_of(x, sid, vm)[0]
        self.sim.control('POST', '/sim/vdi_content?vdi=%s&allocated=%d' % (vdi, 16 << 20))
        self.assertEqual(self.sim.control('POST', '/sim/config?export_rate=%d' % (4 << 20))['export_rate'], 4 << 20)
        try:
            task = x.ok('task.create', sid, 'export', '')
            c = self.sim.conn()
            c.request('GET', '/export?ref=%s&session_id=%s&task_id=%s' % (vm, sid, task))
            r = c.getresponse()
            t0 = time.monotonic()
            got = len(r.read(3 << 20))
            self.assertGreaterEqual(time.monotonic() - t0, 0.4)          # 3 MiB at 4 MiB/s
            self.assertEqual(x.ok('VM.get_current_operations', sid, vm), {task: 'export'})
            x.ok('task.cancel', sid, task)
            rest = r.read()
            c.close()
            self.assertEqual(self.wait(x, sid, task)['status'], 'cancelled')
            self.assertLess(got + len(rest), 16 << 20)
            self.assertEqual(x.ok('VM.get_current_operations', sid, vm), {})
            # a client that goes away: the task fails
            task = x.ok('task.create', sid, 'export', '')
            s = socket.create_connection((self.sim.host, self.sim.port), 10)
            s.sendall(('GET /export?ref=%s&session_id=%s&task_id=%s HTTP/1.1\r\n\r\n' % (vm, sid, task)).encode())
            s.recv(65536)
            s.close()
            t = self.wait(x, sid, task)
            self.assertEqual((t['status'], t['error_info'][0]), ('failure', 'CLIENT_ERROR'))
        finally:
            self.sim.control('POST', '/sim/config?export_rate=0')
        x.close()

    def test_import_rate(self):
        """import_rate holds an /import body to its bytes per second (a lower bound on the time:
        a loaded machine only makes it longer), and the import still succeeds."""
        x, sid = self.login()
        vm, rec, srs = self.vm_on(x, sid)
        vdi = self.disks_of(x, sid, vm)[0]
        self.sim.control('POST', '/sim/vdi_content?vdi=%s&allocated=%d' % (vdi, 6 << 20))
        _, raw = self.export(sid, vm)
        self.assertEqual(self.sim.control('POST', '/sim/config?import_rate=%d' % (4 << 20))['import_rate'], 4 << 20)
        try:
            task = x.ok('task.create', sid, 'import', '')
            t0 = time.monotonic()
            r = self.put('/import?session_id=%s&task_id=%s&sr_id=%s' % (sid, task, srs[0]), raw)
            self.assertEqual(r.status, 200)
            t = self.wait(x, sid, task)
            self.assertGreaterEqual(time.monotonic() - t0, len(raw) / float(4 << 20) * 0.9)
            self.assertEqual(t['status'], 'success', t)
        finally:
            self.sim.control('POST', '/sim/config?import_rate=0')
        x.close()

    def test_import_cancel(self):
        """task.cancel of an import half way: the import stops, its task ends cancelled and
        nothing it created is left."""
        x, sid = self.login()
        vm, rec, srs = self.vm_on(x, sid)
        vdi = self.disks_of(x, sid, vm)[0]
        self.sim.control('POST', '/sim/vdi_content?vdi=%s&allocated=%d' % (vdi, 8 << 20))
        _, raw = self.export(sid, vm)
        start = self.counts()
        self.sim.control('POST', '/sim/config?import_rate=%d' % (2 << 20))
        try:
            task = x.ok('task.create', sid, 'import', '')
            def put():
                try:
                    self.put('/import?session_id=%s&task_id=%s&sr_id=%s' % (sid, task, srs[0]), raw)
                except (OSError, http.client.HTTPException):
                    pass                    # the host may stop reading: the task says why
            t = threading.Thread(target=put)
            t.start()
            end = time.monotonic() + 20
            while time.monotonic() < end and x.ok('task.get_progress', sid, task) < 0.1:
                time.sleep(0.05)
            x.ok('task.cancel', sid, task)
            self.assertEqual(self.wait(x, sid, task)['status'], 'cancelled')
            self.sim.control('POST', '/sim/config?import_rate=0')
            t.join(30)
            self.assertEqual(self.counts(), start)
        finally:
            self.sim.control('POST', '/sim/config?import_rate=0')
        x.close()

    def test_restore_keeps_the_uuid(self):
        x, sid = self.login()
        vm, rec, srs = self.vm_on(x, sid)
        _, raw = self.export(sid, vm)
        # the VM exists and is halted: restore replaces it, keeping its uuid
        task = x.ok('task.create', sid, 'import', '')
        self.put('/import?session_id=%s&task_id=%s&restore=true' % (sid, task), raw)
        t = self.wait(x, sid, task)
        self.assertEqual(t['status'], 'success', t['error_info'])
        new = re.search(r'OpaqueRef:[0-9a-f-]+', t['result']).group(0)
        self.assertNotEqual(new, vm)
        self.assertEqual(x.ok('VM.get_uuid', sid, new), rec['uuid'])
        self.assertEqual(x.ok('VM.get_other_config', sid, new)['mac_seed'], rec['other_config']['mac_seed'])
        self.assertEqual(x.call('VM.get_record', sid, vm)['ErrorDescription'][0], 'HANDLE_INVALID')
        # running: refused
        x.ok('VM.start', sid, new, False, False)
        task = x.ok('task.create', sid, 'import', '')
        self.put('/import?session_id=%s&task_id=%s&restore=true' % (sid, task), raw)
        self.assertEqual(self.wait(x, sid, task)['error_info'], ['VM_BAD_POWER_STATE', new, 'halted', 'running'])
        x.close()


def tarfile_bytes(files):
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode='w', format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


class TestHa(Base):
    """pool.enable_ha / disable_ha as xapi_ha.ml answers a client."""

    def test_enable_disable(self):
        x, sid = self.login()
        pool = x.ok('pool.get_all', sid)[0]
        srs = x.ok('SR.get_all_records', sid)
        local = next(r for r, v in srs.items() if not v['shared'] and v['content_type'] != 'iso')
        self.assertFalse(x.ok('pool.get_ha_enabled', sid, pool))
        self.assertEqual(x.call('pool.disable_ha', sid)['ErrorDescription'], ['HA_NOT_ENABLED'])
        self.assertEqual(x.call('pool.enable_ha', sid, [local], {})['ErrorDescription'],
                         ['CANNOT_CREATE_STATE_FILE'])
        self.assertFalse(x.ok('pool.get_ha_enabled', sid, pool))
        x.ok('pool.enable_ha', sid, [], {'timeout': '60'})
        rec = x.ok('pool.get_record', sid, pool)
        self.assertTrue(rec['ha_enabled'])
        self.assertEqual(rec['ha_configuration'], {'timeout': '60'})
        self.assertEqual(rec['allowed_operations'], ['ha_disable'])
        self.assertEqual(len(rec['ha_statefiles']), 1)
        vdi = x.ok('VDI.get_record', sid, rec['ha_statefiles'][0])
        self.assertEqual(vdi['type'], 'ha_statefile')
        self.assertEqual(vdi['SR'], rec['default_SR'])
        self.assertTrue(x.ok('SR.get_shared', sid, vdi['SR']))
        self.assertEqual(x.call('pool.enable_ha', sid, [], {})['ErrorDescription'], ['HA_IS_ENABLED'])
        x.ok('pool.disable_ha', sid)
        rec = x.ok('pool.get_record', sid, pool)
        self.assertFalse(rec['ha_enabled'])
        self.assertEqual((rec['ha_statefiles'], rec['allowed_operations']), ([], ['ha_enable']))
        self.assertEqual(x.call('VDI.get_by_uuid', sid, vdi['uuid'])['ErrorDescription'][0],
                         'UUID_INVALID')     # the statefile is gone
        x.close()


class TestHosts(Base):
    """Host lifecycle (hostops.py) as xapi_host.ml: disable/enable, evacuate, reboot, restart_agent."""
    ARGS = ['--hosts', '3', '--vms', '18', '--seed', '31', '--event-batch-ms', '0', '--task-ms', '30']

    def setUp(self):
        self.sim.control('POST', '/sim/config?host_shutdown_delay_s=0.2&host_down_s=1.0&agent_restart_s=0.5')

    def hosts(self, x, sid):
        return sorted(x.ok('host.get_all_records', sid).items(), key=lambda kv: kv[1]['address'])

    def guests(self, x, sid, host):
        return [v for v in x.ok('host.get_resident_VMs', sid, host) if not x.ok('VM.get_is_control_domain', sid, v)]

    def wait_for(self, fn, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                v = fn()
                if v:
                    return v
            except (OSError, AssertionError, xmlrpc.client.Error, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise AssertionError('timed out')

    def refused(self, ip):
        try:
            socket.create_connection((ip, self.sim.port), 2).close()
            return False
        except OSError:
            return True

    def test_disable_enable_evacuate(self):
        x, sid = self.login()
        (h0, r0), (h1, r1), (h2, r2) = self.hosts(x, sid)
        for vm in self.guests(x, sid, h1):          # paused guests cannot be evacuated
            if x.ok('VM.get_power_state', sid, vm) == 'Paused':
                x.ok('VM.unpause', sid, vm)
        moving = self.guests(x, sid, h1)
        self.assertTrue(moving)
        self.assertEqual(x.call('host.reboot', sid, h1)['ErrorDescription'], ['HOST_NOT_DISABLED'])
        x.ok('host.disable', sid, h1)
        self.assertFalse(x.ok('host.get_enabled', sid, h1))
        self.assertIn('reboot', x.ok('host.get_allowed_operations', sid, h1))
        self.assertEqual(x.call('VM.pool_migrate', sid, moving[0], h1, {})['ErrorDescription'], ['HOST_DISABLED', h1])
        halted = next(v for v, rec in x.ok('VM.get_all_records', sid).items()
                      if rec['power_state'] == 'Halted' and not rec['is_a_template'] and not rec['is_a_snapshot'])
        self.assertEqual(x.call('VM.start_on', sid, halted, h1, False, False)['ErrorDescription'], ['HOST_DISABLED', h1])
        # not enough memory anywhere else: nothing moves
        for h in (h0, h2):
            self.sim.control('POST', '/sim/host_memory?host=%s&total=%d' % (h, 8 << 30))
        err = x.call('host.evacuate', sid, h1)['ErrorDescription']
        self.assertEqual(err[0], 'HOST_NOT_ENOUGH_FREE_MEMORY')
        self.assertIn(err[1], moving)
        prevent = x.ok('host.get_vms_which_prevent_evacuation', sid, h1)
        self.assertEqual({v[0] for v in prevent.values()}, {'HOST_NOT_ENOUGH_FREE_MEMORY'})
        self.assertEqual(x.call('host.assert_can_evacuate', sid, h1)['ErrorDescription'][0], 'CANNOT_EVACUATE_HOST')
        self.assertEqual(sorted(self.guests(x, sid, h1)), sorted(moving))
        for h in (h0, h2):
            self.sim.control('POST', '/sim/host_memory?host=%s&total=%d' % (h, 256 << 30))
        # no other enabled host
        x.ok('host.disable', sid, h0)
        x.ok('host.disable', sid, h2)
        err = x.call('host.evacuate', sid, h1)['ErrorDescription']
        self.assertEqual(err[0], 'NO_HOSTS_AVAILABLE')
        x.ok('host.enable', sid, h0)
        x.ok('host.enable', sid, h2)
        # host 0 holds the VMs on local storage: they cannot leave it
        local = [v for v in self.guests(x, sid, h0) if x.ok('VM.get_power_state', sid, v) == 'Running']
        if local:
            self.assertEqual(x.call('host.evacuate', sid, h0)['ErrorDescription'][0], 'VM_REQUIRES_SR')
        task = x.ok('Async.host.evacuate', sid, h1)
        end = time.monotonic() + 10
        while time.monotonic() < end and x.ok('task.get_status', sid, task) == 'pending':
            time.sleep(0.02)
        self.assertEqual(x.ok('task.get_status', sid, task), 'success', x.ok('task.get_error_info', sid, task))
        self.assertEqual(self.guests(x, sid, h1), [])
        for vm in moving:
            where = x.ok('VM.get_resident_on', sid, vm)
            self.assertIn(where, (h0, h2))
            con = x.ok('VM.get_consoles', sid, vm)[0]
            self.assertIn('https://%s/console' % x.ok('host.get_address', sid, where), x.ok('console.get_location', sid, con))
        x.ok('host.enable', sid, h1)
        self.assertTrue(x.ok('host.get_enabled', sid, h1))
        self.assertNotIn('reboot', x.ok('host.get_allowed_operations', sid, h1))
        x.close()

    def test_reboot_a_slave(self):
        x, sid = self.login()
        (h0, _), (h1, _), (h2, r2) = self.hosts(x, sid)
        ip2 = r2['address']
        boot0 = float(r2['other_config']['boot_time'])
        before = self.guests(x, sid, h2)
        x.ok('host.disable', sid, h2)
        token = self.event_from(x, sid, ['host_metrics'], '', 5)['Value']['token']
        x.ok('host.reboot', sid, h2)
        self.assertEqual(x.call('host.enable', sid, h2)['ErrorDescription'], ['HOST_DISABLED_UNTIL_REBOOT', h2])
        self.wait_for(lambda: self.refused(ip2))
        metrics = x.ok('host.get_metrics', sid, h2)
        self.assertFalse(x.ok('host_metrics.get_live', sid, metrics))
        self.assertEqual(x.call('host.call_plugin', sid, h2, 'updater.py', 'check_update', {})['ErrorDescription'],
                         ['HOST_OFFLINE', h2])
        # its guests went elsewhere or were shut down
        self.assertEqual(self.guests(x, sid, h2), [])
        for vm in before:
            self.assertTrue(x.ok('VM.get_resident_on', sid, vm) in (h0, h1) or
                            x.ok('VM.get_power_state', sid, vm) == 'Halted')
        self.wait_for(lambda: x.ok('host.get_enabled', sid, h2))
        self.assertTrue(x.ok('host_metrics.get_live', sid, metrics))
        self.assertFalse(self.refused(ip2))
        oc = x.ok('host.get_other_config', sid, h2)
        self.assertGreater(float(oc['boot_time']), boot0)
        self.assertEqual(oc['boot_time'], oc['agent_start_time'])
        self.assertEqual(x.ok('host.get_current_operations', sid, h2), {})
        lives = [e['snapshot']['live'] for e in self.event_from(x, sid, ['host_metrics/' + metrics], token, 5)['Value']['events']]
        self.assertTrue(lives)                  # live went false then true (events may collapse)
        x.close()

    def test_reboot_the_master_loses_sessions(self):
        x, sid = self.login()
        (h0, r0), _, _ = self.hosts(x, sid)
        master_ip = r0['address']
        for vm in self.guests(x, sid, h0):
            if x.ok('VM.get_power_state', sid, vm) == 'Paused':
                x.ok('VM.unpause', sid, vm)
        x.ok('host.disable', sid, h0)
        x.ok('host.reboot', sid, h0)
        self.wait_for(lambda: self.refused(master_ip))
        self.wait_for(lambda: not self.refused(master_ip))
        x.close()
        x2 = XmlRpc(self.sim, master_ip)
        self.assertEqual(x2.call('VM.get_all', sid)['ErrorDescription'], ['SESSION_INVALID', sid])
        sid2 = x2.ok('session.login_with_password', 'root', 'password')
        self.assertEqual(self.guests(x2, sid2, h0), [])       # local VMs were shut down
        self.wait_for(lambda: x2.ok('host.get_enabled', sid2, h0))
        x2.close()

    def test_restart_agent(self):
        x, sid = self.login()
        (h0, r0), (h1, r1), _ = self.hosts(x, sid)
        agent0 = r1['other_config']['agent_start_time']
        x.ok('host.restart_agent', sid, h1)
        self.wait_for(lambda: self.refused(r1['address']))
        self.wait_for(lambda: not self.refused(r1['address']))
        oc = x.ok('host.get_other_config', sid, h1)
        self.assertNotEqual(oc['agent_start_time'], agent0)
        self.assertEqual(oc['boot_time'], r1['other_config']['boot_time'])
        self.assertEqual(x.ok('pool.get_all', sid)[0], x.ok('pool.get_all', sid)[0])    # a slave: sessions live on
        # the master's agent: its sessions are gone when it comes back
        x.ok('host.restart_agent', sid, h0)
        self.wait_for(lambda: self.refused(r0['address']))
        self.wait_for(lambda: not self.refused(r0['address']))
        x2 = XmlRpc(self.sim)
        self.assertEqual(x2.call('VM.get_all', sid)['ErrorDescription'], ['SESSION_INVALID', sid])
        x2.close()
        x.close()


class TestPatching(Base):
    """pool_patch, pool_update and XCP-ng's updater.py (patching.py)."""
    ARGS = ['--hosts', '2', '--vms', '4', '--seed', '41', '--event-batch-ms', '0', '--task-ms', '30']

    def upload_iso(self, x, sid, iso):
        sr = x.ok('pool.get_default_SR', sid, x.ok('pool.get_all', sid)[0])
        vdi = x.ok('VDI.create', sid, {'name_label': 'update', 'SR': sr, 'virtual_size': str(len(iso)), 'type': 'user',
                                       'sharable': False, 'read_only': False, 'other_config': {}})
        task = x.ok('task.create', sid, 'upload', '')
        c = self.sim.conn()
        c.request('PUT', '/import_raw_vdi?format=raw&vdi=%s&session_id=%s&task_id=%s' % (vdi, sid, task), body=iso)
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        end = time.monotonic() + 10
        while time.monotonic() < end and x.ok('task.get_status', sid, task) == 'pending':
            time.sleep(0.02)
        self.assertEqual(x.ok('task.get_result', sid, task), '<value>%s</value>' % vdi)
        return vdi

    def test_update_system(self):
        import patching
        x, sid = self.login()
        hosts = x.ok('host.get_all', sid)
        uuid = '7f3b2c1d-5e4f-4a6b-8c9d-0e1f2a3b4c5d'
        iso = patching.make_update_iso(uuid, 'XS82ECU1042', '1.1', 'restartHost,restartXAPI', size=5 << 20,
                                       description='Hotfix 42')
        vdi = self.upload_iso(x, sid, iso)
        upd = x.ok('pool_update.introduce', sid, vdi)
        rec = x.ok('pool_update.get_record', sid, upd)
        self.assertEqual((rec['uuid'], rec['name_label'], rec['name_description'], rec['version'], rec['vdi']),
                         (uuid, 'XS82ECU1042', 'Hotfix 42', '1.1', vdi))
        self.assertEqual(rec['after_apply_guidance'], ['restartHost', 'restartXAPI'])
        self.assertEqual(int(rec['installation_size']), 5 << 20)
        self.assertEqual(rec['key'], 'RPM-GPG-KEY-XS')
        # the pool_patch that mirrors it: bytes 4-7 of the uuid zeroed
        patch = x.ok('pool_patch.get_by_uuid', sid, '7f3b2c1d-0000-0000-8c9d-0e1f2a3b4c5d')
        self.assertEqual(x.ok('pool_patch.get_pool_update', sid, patch), upd)
        self.assertEqual(x.ok('pool_update.introduce', sid, vdi), upd)          # again: the same update
        vdi2 = self.upload_iso(x, sid, iso)
        self.assertEqual(x.call('pool_update.introduce', sid, vdi2)['ErrorDescription'], ['UPDATE_ALREADY_EXISTS', uuid])
        # precheck: dom0 space
        self.sim.control('POST', '/sim/config?dom0_free_mb=1')
        self.assertEqual(x.call('pool_update.precheck', sid, upd, hosts[0])['ErrorDescription'],
                         ['UPDATE_PRECHECK_FAILED_OUT_OF_SPACE', 'XS82ECU1042', str(1 << 20), str(5 << 20)])
        self.sim.control('POST', '/sim/config?dom0_free_mb=4096')
        self.assertEqual(x.ok('pool_update.precheck', sid, upd, hosts[0]), 'ok')
        x.ok('pool_update.apply', sid, upd, hosts[0])
        self.assertEqual(x.call('pool_update.apply', sid, upd, hosts[0])['ErrorDescription'], ['UPDATE_ALREADY_APPLIED', upd])
        x.ok('pool_update.pool_apply', sid, upd)
        self.assertEqual(x.call('pool_update.pool_apply', sid, upd)['ErrorDescription'],
                         ['UPDATE_ALREADY_APPLIED_IN_POOL', upd])
        for h in hosts:
            self.assertIn(upd, x.ok('host.get_updates', sid, h))
            self.assertIn(upd, x.ok('host.get_updates_requiring_reboot', sid, h))
            hp = [p for p in x.ok('host.get_patches', sid, h) if x.ok('host_patch.get_pool_patch', sid, p) == patch]
            self.assertEqual(len(hp), 1)
            self.assertTrue(x.ok('host_patch.get_applied', sid, hp[0]))
        self.assertEqual(sorted(x.ok('pool_update.get_hosts', sid, upd)), sorted(hosts))
        self.assertEqual(x.call('pool_update.destroy', sid, upd)['ErrorDescription'], ['UPDATE_IS_APPLIED'])
        x.ok('pool_update.pool_clean', sid, upd)
        self.assertEqual(x.ok('pool_update.get_vdi', sid, upd), 'OpaqueRef:NULL')
        self.assertEqual(x.call('VDI.get_record', sid, vdi)['ErrorDescription'][0], 'HANDLE_INVALID')
        # a VDI without update.xml
        bad = self.upload_iso(x, sid, b'not an iso' * 1000)
        self.assertEqual(x.call('pool_update.introduce', sid, bad)['ErrorDescription'],
                         ['INVALID_UPDATE', 'missing update document (update.xml) in the package.'])
        # a fresh update, cleaned before use
        other = self.upload_iso(x, sid, patching.make_update_iso('1a2b3c4d-1111-4222-8333-944455556666', 'XS82E043'))
        upd2 = x.ok('pool_update.introduce', sid, other)
        x.ok('pool_update.pool_clean', sid, upd2)
        self.assertEqual(x.call('pool_update.precheck', sid, upd2, hosts[0])['ErrorDescription'], ['CANNOT_FIND_UPDATE'])
        x.ok('pool_update.destroy', sid, upd2)
        self.assertEqual(x.call('pool_patch.get_by_uuid', sid, '1a2b3c4d-0000-0000-8333-944455556666')['ErrorDescription'][0],
                         'UUID_INVALID')
        x.close()

    def test_pool_patch_upload_of_an_update_iso(self):
        import patching
        x, sid = self.login()
        iso = patching.make_update_iso('2b3c4d5e-6f70-4182-9a3b-4c5d6e7f8091', 'XS82E050', guidance='restartXAPI')
        task = x.ok('task.create', sid, 'upload', '')
        c = self.sim.conn()
        c.request('PUT', '/pool_patch_upload?session_id=%s&task_id=%s' % (sid, task), body=iso)
        self.assertEqual(c.getresponse().status, 200)
        c.close()
        end = time.monotonic() + 10
        while time.monotonic() < end and x.ok('task.get_status', sid, task) == 'pending':
            time.sleep(0.02)
        rec = x.ok('task.get_record', sid, task)
        self.assertEqual(rec['status'], 'success', rec['error_info'])
        patch = rec['result']
        self.assertRegex(patch, r'^OpaqueRef:[0-9a-f-]+$')                  # the plain ref, as XAPI sets it
        self.assertEqual(x.ok('pool_patch.get_uuid', sid, patch), '2b3c4d5e-0000-0000-9a3b-4c5d6e7f8091')
        upd = x.ok('pool_patch.get_pool_update', sid, patch)
        self.assertEqual(x.ok('pool_update.get_name_label', sid, upd), 'XS82E050')
        self.assertEqual(x.ok('pool_patch.precheck', sid, patch, x.ok('host.get_all', sid)[0]), '')
        x.ok('pool_patch.pool_apply', sid, patch)
        self.assertTrue(x.ok('pool_patch.get_pool_applied', sid, patch))
        for h in x.ok('host.get_all', sid):
            self.assertIn(upd, x.ok('host.get_updates', sid, h))
            self.assertNotIn(upd, x.ok('host.get_updates_requiring_reboot', sid, h))    # restartXAPI only
        self.assertEqual(x.call('pool_patch.pool_apply', sid, patch)['ErrorDescription'][0], 'UPDATE_ALREADY_APPLIED')
        x.close()

    def test_updater_plugin(self):
        x, sid = self.login()
        h = x.ok('host.get_all', sid)[0]
        pk = json.loads(x.ok('host.call_plugin', sid, h, 'updater.py', 'check_update', {}))
        self.assertTrue(pk)
        for p in pk:
            self.assertEqual(set(p), {'name', 'version', 'release', 'description', 'changelog', 'url', 'size', 'license'})
        # the plugin is busy with another operation: '-1', as XenAPIPlugin.Failure
        self.sim.control('POST', '/sim/fault?kind=updater_busy&host=0&op=update')
        err = x.call('host.call_plugin', sid, h, 'updater.py', 'check_update', {})['ErrorDescription']
        self.assertEqual(err[:2], ['-1', 'The updater plugin is busy (current operation: update)'])
        self.assertEqual(x.call('host.call_plugin', sid, h, 'updater.py', 'update', {})['ErrorDescription'][:2],
                         ['-1', 'Update already in progress'])
        self.sim.control('POST', '/sim/fault?kind=updater_free&host=0')
        # an update waits (up to 10 s) for a check_update to finish
        self.sim.control('POST', '/sim/fault?kind=updater_busy&host=0&op=check_update&ms=300')
        token = self.event_from(x, sid, ['task'], '', 5)['Value']['token']
        seen = {}
        watcher = XmlRpc(self.sim)
        th = threading.Thread(target=lambda: seen.setdefault('r', watcher.call('event.from', sid, ['task'], token, 10.0)))
        th.start()
        t0 = time.monotonic()
        out = json.loads(x.ok('host.call_plugin', sid, h, 'updater.py', 'update', {}))
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        th.join(10)
        watcher.close()
        # yum runs under a task 'Update host <name> (<uuid>)' (then destroyed)
        added = [e['snapshot']['name_label'] for e in seen['r']['Value']['events'] if e['operation'] == 'add']
        self.assertEqual(added, ['Update host %s (%s)' % (x.ok('host.get_name_label', sid, h), x.ok('host.get_uuid', sid, h))])
        self.assertEqual(out['returncode'], 0)
        self.assertEqual(out['command'][:4], ['yum', 'update', '--disablerepo=*', '--enablerepo=xcp-ng-base,xcp-ng-updates'])
        self.assertIn(pk[0]['name'], out['stdout'])
        self.assertFalse([t for t in x.ok('task.get_all', sid)
                          if x.ok('task.get_name_label', sid, t).startswith('Update host')])
        self.assertEqual(json.loads(x.ok('host.call_plugin', sid, h, 'updater.py', 'check_update', {})), [])
        inst = json.loads(x.ok('host.call_plugin', sid, h, 'updater.py', 'query_installed',
                               {'packages': '%s,nothere' % pk[0]['name']}))
        self.assertEqual(inst, {pk[0]['name']: '%s-%s-%s.x86_64' % (pk[0]['name'], pk[0]['version'], pk[0]['release']),
                                'nothere': ''})
        self.assertEqual(x.call('host.call_plugin', sid, h, 'updater.py', 'install', {})['ErrorDescription'][:2],
                         ['-1', 'Missing or empty argument `packages`'])
        self.assertEqual(x.call('host.call_plugin', sid, h, 'updater.py', 'frobnicate', {})['ErrorDescription'],
                         ['UNKNOWN_XENAPI_PLUGIN_FUNCTION', 'frobnicate'])
        self.assertEqual(x.call('host.call_plugin', sid, h, 'nope.py', 'x', {})['ErrorDescription'],
                         ['XENAPI_MISSING_PLUGIN', 'nope.py'])
        x.close()

    def test_legacy_xenserver(self):
        s = SimProc('--family', 'xenserver', '--product-version', '7.0.0', '--hosts', '2', '--vms', '2')
        try:
            x = XmlRpc(s)
            sid = x.ok('session.login_with_password', 'root', 'password')
            h = x.ok('host.get_all', sid)[0]
            sv = x.ok('host.get_software_version', sid, h)
            self.assertEqual((sv['product_brand'], sv['product_version'], sv['platform_version']),
                             ('XenServer', '7.0.0', '2.1.0'))
            self.assertEqual(x.ok('pool_update.get_all', sid), [])
            self.assertEqual(x.call('host.call_plugin', sid, h, 'updater.py', 'check_update', {})['ErrorDescription'],
                             ['XENAPI_MISSING_PLUGIN', 'updater.py'])
            task = x.ok('task.create', sid, 'upload', '')
            c = s.conn()
            c.request('PUT', '/pool_patch_upload?session_id=%s&task_id=%s' % (sid, task), body=os.urandom(50000))
            self.assertEqual(c.getresponse().status, 200)
            c.close()
            end = time.monotonic() + 10
            while time.monotonic() < end and x.ok('task.get_status', sid, task) == 'pending':
                time.sleep(0.02)
            patch = re.search(r'OpaqueRef:[0-9a-f-]+', x.ok('task.get_result', sid, task)).group(0)
            self.assertEqual(x.ok('pool_patch.get_pool_update', sid, patch), 'OpaqueRef:NULL')
            self.assertEqual(x.ok('pool_patch.apply', sid, patch, h), '')
            self.assertEqual(x.call('pool_patch.precheck', sid, patch, h)['ErrorDescription'], ['PATCH_ALREADY_APPLIED', patch])
            x.ok('pool_patch.pool_apply', sid, patch)
            self.assertTrue(x.ok('pool_patch.get_pool_applied', sid, patch))
            self.assertEqual(len(x.ok('pool_patch.get_host_patches', sid, patch)), 2)
            x.close()
        finally:
            s.stop()


class TestTls(unittest.TestCase):
    def test_tls_fingerprint(self):
        s = SimProc('--tls', '--vms', '3', '--user', 'admin', '--password', 'secret')
        try:
            self.assertTrue(s.url.startswith('https://'))
            self.assertRegex(s.fingerprint, r'^[0-9a-f]{64}$')
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with socket.create_connection((s.host, s.port), 10) as raw:
                with ctx.wrap_socket(raw) as t:
                    der = t.getpeercert(binary_form=True)
            self.assertEqual(hashlib.sha256(der).hexdigest(), s.fingerprint)
            x = XmlRpc(s)
            self.assertEqual(x.call('session.login_with_password', 'root', 'password')['ErrorDescription'][0],
                             'SESSION_AUTHENTICATION_FAILED')
            x.ok('session.login_with_password', 'admin', 'secret')
            x.close()
        finally:
            s.stop()


if __name__ == '__main__':
    unittest.main()
