#!/usr/bin/env python3
"""Bench of the XAPI simulator (tests/xapi_sim): start-up time and peak memory for a pool of
--vms VMs, the empty-token event.from dump (XML-RPC), and the sustained churn rate the simulator
reaches while one client follows event.from.

Usage: python3 tests/bench/bench_sim.py [--vms 2000] [--hosts 4] [--churn-ops 10000]
(full run: --vms 10000). Loopback only; every wait is bounded.
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, '..', 'xapi_sim', 'xapi_sim.py')


def vm_hwm_mib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def rpc(conn, method, *params):
    body = xmlrpc.client.dumps(tuple(params), method).encode()
    conn.request('POST', '/', body, {'Content-Type': 'text/xml'})
    r = conn.getresponse()
    data = r.read()
    return data, xmlrpc.client.loads(data)[0][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--vms', type=int, default=2000, help='VMs in the pool (default 2000; full run 10000)')
    ap.add_argument('--hosts', type=int, default=4)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--churn-ops', type=int, default=10000, help='changes applied by /sim/churn (default 10000)')
    ap.add_argument('--timeout', type=float, default=600, help='overall bound in seconds')
    a = ap.parse_args()
    deadline = time.monotonic() + a.timeout
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, SIM, '--port', '0', '--hosts', str(a.hosts), '--vms', str(a.vms),
                          '--seed', str(a.seed), '--event-batch-ms', '0'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        internal = None
        while True:
            if time.monotonic() > deadline:
                raise SystemExit('simulator not ready in time')
            line = p.stdout.readline()
            if not line:
                raise SystemExit('simulator exited: ' + p.stderr.read())
            line = line.strip()
            if line.startswith('listening: '):
                url = line.split(' ', 1)[1]
            elif line.startswith('startup: '):
                internal = float(line.split()[1])
            elif line == 'ready':
                break
        startup = time.monotonic() - t0
        host, port = url.split('//')[1].rstrip('/').split(':')
        port = int(port)
        c = http.client.HTTPConnection(host, port, timeout=max(10, deadline - time.monotonic()))
        _, r = rpc(c, 'session.login_with_password', 'root', 'password')
        sid = r['Value']
        # empty-token dump
        t1 = time.monotonic()
        body = xmlrpc.client.dumps((sid, ['*'], '', 5.0), 'event.from').encode()
        c.request('POST', '/', body, {'Content-Type': 'text/xml'})
        resp = c.getresponse()
        nbytes = 0
        while True:
            b = resp.read(1 << 20)
            if not b:
                break
            nbytes += len(b)
        dump_s = time.monotonic() - t1
        # parse a second dump only to get the token and object count (not timed)
        data, r = rpc(c, 'event.from', sid, ['*'], '', 5.0)
        token = r['Value']['token']
        n_events = len(r['Value']['events'])
        del data, r
        hwm_after_dump = vm_hwm_mib(p.pid)

        # churn with one follower
        received = [0]
        last_token = [token]
        stop = threading.Event()

        def follower():
            fc = http.client.HTTPConnection(host, port, timeout=120)
            tok = token
            while not stop.is_set() and time.monotonic() < deadline:
                _, rr = rpc(fc, 'event.from', sid, ['*'], tok, 1.0)
                v = rr['Value']
                received[0] += len(v['events'])
                tok = v['token']
                last_token[0] = tok
            fc.close()
        th = threading.Thread(target=follower, daemon=True)
        th.start()
        cc = http.client.HTTPConnection(host, port, timeout=max(10, deadline - time.monotonic()))
        cc.request('GET', '/sim/stats')
        changes0 = json.loads(cc.getresponse().read())['changes']
        t2 = time.monotonic()
        cc.request('POST', '/sim/churn?n=%d&rate=0&seed=1' % a.churn_ops)
        churn = json.loads(cc.getresponse().read())
        churn_s = time.monotonic() - t2
        cc.request('GET', '/sim/stats')
        stats = json.loads(cc.getresponse().read())
        gen = stats['generation']
        while int(last_token[0].split(',')[0]) < gen and time.monotonic() < deadline:
            time.sleep(0.01)
        follow_s = time.monotonic() - t2
        stop.set()
        th.join(5)
        hwm = vm_hwm_mib(p.pid)
        rows = [
            ('VMs', '%d (%d objects in the dump)' % (a.vms, n_events)),
            ('start-up, process spawn to ready (s)', '%.2f' % startup),
            ('start-up, pool generation only (s)', '%.2f' % (internal or 0)),
            ('peak RSS after dump, VmHWM (MiB)', '%.0f' % hwm_after_dump),
            ('peak RSS at end, VmHWM (MiB)', '%.0f' % hwm),
            ('empty-token event.from dump, XML-RPC (s)', '%.2f' % dump_s),
            ('empty-token event.from dump size (bytes)', '%d (%.1f MiB)' % (nbytes, nbytes / 1048576.0)),
            ('churn ops applied', '%d in %.2f s = %.0f ops/s' % (churn['done'], churn_s, churn['done'] / churn_s)),
            ('DB changes (events) produced by churn', '%d = %.0f changes/s' % (stats['changes'] - changes0, (stats['changes'] - changes0) / churn_s)),
            ('events received by the follower', '%d in %.2f s = %.0f events/s' % (received[0], follow_s,
                                                                                  received[0] / follow_s)),
        ]
        w = max(len(k) for k, _ in rows)
        print('%-*s  %s' % (w, 'metric', 'value'))
        print('-' * (w + 40))
        for k, v in rows:
            print('%-*s  %s' % (w, k, v))
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


if __name__ == '__main__':
    import bench_common  # beside this script: errors as one line, never a traceback

    bench_common.run_main(main)
