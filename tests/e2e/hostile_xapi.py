"""A scripted, hostile XAPI endpoint for robustness tests: it speaks enough XML-RPC to log
in, then answers event.from with a planned sequence of bad answers (malformed XML, wrong
types, oversized strings, truncated bodies) before behaving. Loopback only; stdlib only.
Usage as a module: HostileXapi(plan).start() -> url; .calls lists (method, step)."""
import http.server
import threading
import xml.sax.saxutils as su

POOL = "5e1ec7ed-0000-4000-8000-000000000001"


def v(x):
    if isinstance(x, bool):
        return f"<value><boolean>{int(x)}</boolean></value>"
    if isinstance(x, int):
        return f"<value><i4>{x}</i4></value>"
    if isinstance(x, dict):
        return "<value><struct>" + "".join(
            f"<member><name>{su.escape(k)}</name>{v(y)}</member>" for k, y in x.items()) + \
            "</struct></value>"
    if isinstance(x, list):
        return "<value><array><data>" + "".join(v(y) for y in x) + "</data></array></value>"
    return f"<value>{su.escape(str(x))}</value>"


def ok(value):
    return ("<?xml version='1.0'?><methodResponse><params><param>"
            + v({"Status": "Success", "Value": value}) + "</param></params></methodResponse>")


def vm(ref, name):
    return {"uuid": f"uuid-{ref}", "name_label": name, "power_state": "Halted",
            "memory_static_max": "1073741824"}


def dump(huge=False, malformed=False):
    events = [{"id": "1", "timestamp": "0.0", "class": "pool", "operation": "add",
               "ref": "OpaqueRef:pool", "snapshot": {"uuid": POOL, "name_label": "hostile"}},
              {"id": "2", "timestamp": "0.0", "class": "vm", "operation": "add",
               "ref": "OpaqueRef:vm1", "snapshot": vm("vm1", "normal")},
              {"id": "3", "timestamp": "0.0", "class": "vm", "operation": "add",
               "ref": "OpaqueRef:vm2",
               "snapshot": vm("vm2", ("x" * (3 << 20)) if huge else "small")}]
    if malformed:
        events.append({"id": "4", "timestamp": "0.0", "class": "vm", "operation": "add",
                       "ref": "OpaqueRef:bad", "snapshot": "not a struct"})
        events.append({"id": "5", "operation": "mod"})
    return ok({"events": events, "valid_ref_counts": {"pool": 1, "vm": 2},
               "token": "00000000000000000010,00000000000000000000"})


# What each successive event.from call answers (the last entry repeats forever).
DEFAULT_PLAN = [
    ("dump-huge-and-malformed-events", lambda: dump(huge=True, malformed=True)),
    ("malformed-xml", lambda: "<?xml version='1.0'?><methodResponse><params><param><value><struct>"
                              "<member><name>Status</name><value>Success</va"),
    ("wrong-types", lambda: ok({"events": "not an array", "valid_ref_counts": [1, 2],
                                "token": 12})),
    ("not-xml-rpc", lambda: "<html><body>502 Bad Gateway</body></html>"),
    ("dump", lambda: dump()),
    ("idle", lambda: ok({"events": [], "valid_ref_counts": {"pool": 1, "vm": 2},
                         "token": "00000000000000000010,00000000000000000000"})),
]


class HostileXapi:
    def __init__(self, plan=None):
        self.plan = plan or DEFAULT_PLAN
        self.calls = []
        self.step = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                method = body.split("<methodName>", 1)[-1].split("</methodName>", 1)[0]
                reply = outer.answer(method)
                data = reply.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/"

    def answer(self, method):
        with self.lock:
            if method == "event.from":
                name, fn = self.plan[min(self.step, len(self.plan) - 1)]
                self.step += 1
                self.calls.append((method, name))
                return fn()
            self.calls.append((method, None))
        if method == "session.login_with_password":
            return ok("OpaqueRef:session")
        if method == "pool.get_all_records":
            return ok({"OpaqueRef:pool": {"uuid": POOL, "name_label": "hostile"}})
        if method == "host.get_all_records":
            return ok({})
        return ok("")

    def start(self):
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.srv.shutdown()
