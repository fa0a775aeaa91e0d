"""HTTP is served off the thread of the JSON-RPC sessions (http.session_thread, the
default; transport/http_server.c, acceptor.c): while that thread is stalled, /healthz,
/metrics and REST are answered, and a JSON-RPC call made meanwhile is answered once it
runs again. xo-kafka-dev -> xo-gateway (no pool is needed to ask these).

The stall is the gateway's test hook XO_TEST_GATEWAY_STALL_SESSIONS=<file>: while the
file exists, the sessions' thread stops after each service pass, holding nothing (as a
thread busy feeding clients would between its callbacks), and logs event=test_stall
state=begin when it does, which the test waits for. Off unless that variable is set; no
client can reach it.

1. Split (the default): the gateway says session_thread=true. A signed-in xo-lib client
   (raw WebSocket) is on the sessions' thread. Stall: every /healthz, /metrics and REST
   call on fresh connections is answered (within a generous bound: the stall lasts far
   longer); the client's call made during the stall is not answered while it lasts, and
   is once it ends. Speed (normal build only, harness.CHECK_SPEED): /healthz p50 under
   50 ms, the issue's target, while stalled.
2. The contrast, that shows the stall holds the thread it should: http.session_thread =
   false, one thread for everything: the same stall holds /healthz until it ends.
"""
import json
import os
import socket
import statistics
import threading
import time
import unittest

import gw_harness as g
import harness

PROBES = 15
HEALTHZ_P50_MS = 50
ANSWER_S = 5  # "answered while stalled": the stall lasts until the probes are done


def timed_get(url, headers=None):
    t0 = time.monotonic()
    st, body, _ = g.http_get(url, headers=headers, timeout=ANSWER_S)
    return st, body, (time.monotonic() - t0) * 1000


def stall(gw, path):
    """Stall the sessions' thread; returns once the gateway says it is stalled."""
    before = gw.proc.log_text().count("event=test_stall state=begin")
    open(path, "w").close()
    harness.wait_until(
        lambda: gw.proc.log_text().count("event=test_stall state=begin") > before, 30,
        what="the sessions' thread stalled")


def signed_in_client(gw):
    ws = g.WsClient(gw.port)
    r = ws.call("session.signIn", {"email": g.ADMIN[0], "password": g.ADMIN[1]}, id=1)
    assert "result" in r, r
    return ws


class CallInBackground(threading.Thread):
    """One JSON-RPC call whose answer is awaited on its own thread."""

    def __init__(self, ws, method):
        super().__init__(daemon=True)
        self.ws, self.method, self.answer, self.at = ws, method, None, None

    def run(self):
        try:
            self.answer = self.ws.call(self.method, {}, id=7)
        except (OSError, ConnectionError, ValueError) as e:
            self.answer = {"error": repr(e)}
        self.at = time.monotonic()


class GatewaySplit(unittest.TestCase):
    def start(self, st, k, split):
        path = st.path(f"stall-{split}")
        gw = st.start_gateway(k, name=f"gateway-{split}",
                              extra={"http": {"session_thread": str(split).lower()}},
                              env={"XO_TEST_GATEWAY_STALL_SESSIONS": path})
        return gw, path

    def test_http_answered_while_sessions_stall(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1, partitions=3)
            gw, stall_file = self.start(st, k, True)
            self.assertIn("session_thread=true", gw.proc.log_text())
            ws = signed_in_client(gw)
            ws.s.settimeout(120 * harness.SCALE)  # its answer waits for the stall's end
            stall(gw, stall_file)
            call = CallInBackground(ws, "session.getUser")
            call.start()
            healthz, rest, metrics = [], [], []
            for _ in range(PROBES):
                code, body, ms = timed_get(gw.url + "/healthz")
                self.assertIn(code, (200, 503))
                self.assertIn("status", json.loads(body))
                healthz.append(ms)
                code, body, ms = timed_get(gw.url + "/rest/v0/vms", g.basic(*g.ADMIN))
                self.assertEqual(code, 200, body[:200])
                self.assertIsInstance(json.loads(body), list)
                rest.append(ms)
                code, body, ms = timed_get(gw.url + "/metrics")
                self.assertEqual(code, 200)
                metrics.append(ms)
            self.assertIsNone(call.answer, "a JSON-RPC call was answered during the stall")
            released = time.monotonic()
            os.unlink(stall_file)
            call.join(30 * harness.SCALE)
            self.assertIsNotNone(call.answer, "the call went unanswered after the stall")
            self.assertIn("result", call.answer)
            self.assertGreaterEqual(call.at, released)
            ws.close()
            p50 = statistics.median(healthz)
            print(f"stalled sessions: /healthz p50/max {p50:.1f}/{max(healthz):.1f} ms, "
                  f"REST p50 {statistics.median(rest):.1f} ms, /metrics p50 "
                  f"{statistics.median(metrics):.1f} ms")
            if harness.CHECK_SPEED:
                self.assertLess(p50, HEALTHZ_P50_MS)

    def test_one_thread_stalls_http_too(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1, partitions=3)
            gw, stall_file = self.start(st, k, False)
            self.assertIn("session_thread=false", gw.proc.log_text())
            stall(gw, stall_file)
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=10 * harness.SCALE)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(2)
            with self.assertRaises(socket.timeout):  # nothing comes while the stall lasts
                s.recv(1)
            os.unlink(stall_file)
            s.settimeout(30 * harness.SCALE)
            self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 "), "/healthz after the stall")
            s.close()


if __name__ == "__main__":
    unittest.main()
