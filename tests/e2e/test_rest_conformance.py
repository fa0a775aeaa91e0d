"""The gateway's REST API against Xen Orchestra's own spec (@xen-orchestra/rest-api 0.39.0,
fetched by scripts/install-deps.sh; rest_spec.py says where), on the demo's pieces: two
simulators, two agents, xo-kafka-dev and a commands-enabled gateway.

1. What the gateway serves is what its /rest/v0/docs/swagger.json lists; every operation
   there must exist in XO's spec.
2. Every served operation is called (collections with each output form, objects, sub-
   collections, actions async and ?sync=true (a pool's rolling update too), PATCH, DELETE,
   tags, tasks with wait and watch, unknown ids, bad parameters); each status code must be
   one the spec lists for the operation, and each JSON body (NDJSON: each line) must
   validate against the spec's schema for that status; error bodies are XO's {error, data}.
3. docs/api.md's compatibility table has a row for each of the spec's operations, served
   ones marked conformant or different (why), the others not served (why).
The report (checked, passed, failed, not served with reasons, served count against the 29
of issue 15) is printed and written to <build>/rest-conformance.md. It must show 0 failures.
"""
import collections
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import gw_harness as g
import harness
import rest_spec
from test_agent_commands import regular_vms, vm_by_state, wait_consuming
from test_patch_list import Xapi

SERVED_BEFORE = 29  # issue 15: operations served before this work (of 127 tried)
BASE = "/rest/v0"
TAG = "conformance"


class Client:
    def __init__(self, gw):
        self.gw = gw
        self.auth = g.basic(*g.ADMIN)

    def call(self, method, path, query=None, body=None, timeout=60):
        """(status, content type, body text, headers)."""
        url = self.gw.url + BASE + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self.auth)
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, method=method, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout * harness.SCALE) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read().decode(), e.headers

    def json(self, path, query=None):
        st, _, text, _ = self.call("GET", path, query)
        assert st == 200, (path, st, text)
        return json.loads(text)


class Checker:
    """Calls, validates and records, per operation."""

    def __init__(self, client, validator):
        self.c = client
        self.v = validator
        self.results = collections.defaultdict(list)  # (METHOD, template) -> [(ok, what)]

    def record(self, op, ok, what):
        self.results[op].append((ok, what))
        if not ok:
            sys.stderr.write(f"FAIL {op[0]} {op[1]}: {what}\n")

    def check(self, op, path, query=None, body=None, expect=None):
        """One request of operation `op`; returns (status, parsed body or text)."""
        method, template = op
        st, ctype, text, headers = self.c.call(method, path, query, body)
        what = f"{method} {path}{'?' + urllib.parse.urlencode(query) if query else ''} -> {st}"
        problems = []
        if str(st) not in self.v.statuses(method, template):
            problems.append(f"status {st} not in the spec's {sorted(self.v.statuses(method, template))}")
        if expect is not None and st != expect:
            problems.append(f"expected {expect}: {text[:300]}")
        parsed = text
        if st == 204 and text:
            problems.append("204 with a body")
        elif st >= 400:
            try:
                parsed = json.loads(text)
                if not isinstance(parsed.get("error"), str) or set(parsed) - {"error", "data"}:
                    problems.append(f"error body is not {{error, data}}: {text[:200]}")
            except (ValueError, AttributeError):
                problems.append(f"error body is not JSON: {text[:200]}")
        elif text:
            parsed, more = self.validate_body(method, template, st, ctype, text, query)
            problems += more
        self.record(op, not problems, what + ("" if not problems else ": " + "; ".join(problems)))
        return st, parsed, headers

    def validate_body(self, method, template, st, ctype, text, query):
        schema = self.v.schema(method, template, st)
        q = query or {}
        if ctype.startswith("application/x-ndjson"):
            lines = [json.loads(l) for l in text.splitlines() if l]
            item = self.v.item_schema(schema) if schema else None
            errs = [e for l in lines for e in (self.v.errors(item, l) if item else [])]
            return lines, [f"ndjson line: {e}" for e in errs[:5]]
        if ctype.startswith("text/markdown"):
            errs = self.v.errors(schema, text) if schema else []
            return text, ([] if q.get("markdown") == "true" else ["markdown unasked"]) + errs
        if not ctype.startswith("application/json"):
            return text, [f"content type {ctype}"]
        body = json.loads(text)
        if schema is None:
            return body, ([] if st in (200, 201, 202) else [f"a body where the spec has none"])
        return body, self.v.errors(schema, body)


def start_stack(st):
    k = st.start_kafka()
    sims = [st.start_sim(vms=16, hosts=2, seed=51, extra=("--task-ms", "200")),
            st.start_sim(vms=10, hosts=2, seed=52, extra=("--task-ms", "200"))]
    keys = st.path("keys")
    subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                   capture_output=True)
    users = st.path("users")
    subprocess.run([harness.binary("xo-gateway"), "useradd", "--users", users, "--email",
                    g.ADMIN[0], "--permission", "admin"], input=g.ADMIN[1].encode(), check=True,
                   capture_output=True)
    agents = [st.start_agent(s, k, name=f"agent{i}", extra={
        "commands": {"public_keys": os.path.join(keys, "gateway.pub")}})
        for i, s in enumerate(sims)]
    gw = st.start_gateway(k, extra={"users": {"file": users},
                                    "commands": {"private_key": os.path.join(keys, "gateway.key"),
                                                 "timeout_ms": "20000"}})
    for a in agents:
        wait_consuming(a)
    g.wait_synced(gw, [s.pool_uuid for s in sims])
    return sims, gw


# ---- what the gateway serves ----

def served_operations(c, v, spec_ops):
    """[(METHOD, template)] from the gateway's own spec; each must be one of XO's."""
    st, _, text, _ = c.call("GET", "/docs/swagger.json")
    assert st == 200, (st, text[:300])
    own = json.loads(text)
    assert own.get("openapi", "").startswith("3."), own.get("openapi")
    served = [(m, p) for m, p in rest_spec.operations(own)
              if not own["paths"][p][m.lower()].get("x-xo-fleet-extension")]
    unknown = [op for op in served if op not in spec_ops]
    assert not unknown, f"served operations that XO's spec does not have: {unknown}"
    return served


# ---- one plan per kind of operation ----

COLLECTION_FIELDS = {"vms": "name_label,power_state", "hosts": "name_label,address",
                     "tasks": "status,properties", "messages": "name,time"}
FILTERS = {"vms": "power_state:Running", "tasks": "status:success", "hosts": "enabled?"}


def check_collection(ck, op, path, coll):
    """GET of a collection: hrefs, fields, *, ndjson, markdown, filter, limit, bad filter."""
    st, hrefs, _ = ck.check(op, path, expect=200)
    if st == 200 and not all(isinstance(h, str) and h.startswith(BASE + "/") for h in hrefs):
        ck.record(op, False, f"GET {path}: not a list of hrefs")
    fields = COLLECTION_FIELDS.get(coll, "id,type")
    ck.check(op, path, {"fields": fields}, expect=200)
    ck.check(op, path, {"fields": "*", "limit": "3"}, expect=200)
    ck.check(op, path, {"fields": fields, "ndjson": "true"}, expect=200)
    ck.check(op, path, {"fields": fields, "markdown": "true"}, expect=200)
    ck.check(op, path, {"fields": fields, "filter": FILTERS.get(coll, "!id:nothing")}, expect=200)
    st, limited, _ = ck.check(op, path, {"limit": "1"}, expect=200)
    if st == 200 and len(limited) > 1:
        ck.record(op, False, f"GET {path}?limit=1 answered {len(limited)}")
    ck.check(op, path, {"filter": "/unclosed"}, expect=400)
    ck.check(op, path, {"ndjson": "true", "markdown": "true"}, expect=400)
    return hrefs


def check_object(ck, op, coll, some_id):
    ck.check(op, f"/{coll}/{some_id}", expect=200)
    ck.check(op, f"/{coll}/00000000-0000-4000-8000-00000000dead", expect=404)


def wait_task(ck, task_id):
    op = ("GET", "/tasks/{id}")
    st, task, _ = ck.check(op, f"/tasks/{task_id}", {"wait": "true"}, expect=200)
    if st == 200 and task.get("status") == "pending":
        ck.record(op, False, "?wait=true answered a pending task")
    return task


def resident_on(sim, vm):
    """The uuid of the host the simulator runs `vm` on (None when halted)."""
    t = sim.truth()
    rec = regular_vms(sim)[vm][1]
    host = t["host"].get(rec.get("resident_on"))
    return host["uuid"] if host else None


def eventually(fn, timeout=10):
    """fn() until it is truthy (the view follows XAPI within moments); its last value."""
    deadline = time.monotonic() + timeout * harness.SCALE
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.1)


def act(ck, vm, action, body=None, sync=True, expect=None):
    op = ("POST", f"/vms/{{id}}/actions/{action}")
    q = {"sync": "true"} if sync else None
    return ck.check(op, f"/vms/{vm}/actions/{action}", q, body, expect=expect)


def movable_vm(sim):
    """A halted VM whose disks are all on shared SRs: it may start on any host (XAPI refuses
    VM_REQUIRES_SR on a host that does not see a local SR)."""
    t = sim.truth()
    for uuid, (_, rec) in sorted(regular_vms(sim).items()):
        if rec["power_state"] != "Halted":
            continue
        srs = [t["sr"].get(t["vdi"].get(t["vbd"][b]["VDI"], {}).get("SR"), {})
               for b in rec["VBDs"] if t["vbd"].get(b, {}).get("type") == "Disk"]
        if srs and all(sr.get("shared") for sr in srs):
            return uuid
    raise AssertionError("no halted VM with its disks on shared SRs in the simulator")


def check_vm_actions(ck, sims, served):
    sim = sims[0]
    vm = movable_vm(sim)
    hosts = [h for h in ck.c.json("/hosts", {"fields": "id,$pool"}) if h["$pool"] == sim.pool_uuid]

    def power():
        return regular_vms(sim)[vm][1]["power_state"]

    steps = [("start", {"hostId": hosts[-1]["id"]}, "Running"), ("pause", None, "Paused"),
             ("unpause", None, "Running"), ("suspend", None, "Suspended"),
             ("resume", None, "Running"), ("clean_reboot", None, "Running"),
             ("hard_reboot", None, "Running"), ("clean_shutdown", None, "Halted"),
             ("start", None, "Running"), ("hard_shutdown", None, "Halted")]
    for action, body, want in steps:
        if ("POST", f"/vms/{{id}}/actions/{action}") not in served:
            continue
        st, _, _ = act(ck, vm, action, body, expect=204)
        if st == 204 and power() != want:
            ck.record(("POST", f"/vms/{{id}}/actions/{action}"), False,
                      f"{action}: the simulated VM is {power()}, not {want}")
    # start's hostId reaches the agent: the VM runs where it was asked to, every time
    if ("POST", "/vms/{id}/actions/start") in served:
        for host in (hosts[0]["id"], hosts[-1]["id"]):
            if power() != "Halted":
                act(ck, vm, "hard_shutdown", expect=204)
            st, _, _ = act(ck, vm, "start", {"hostId": host}, expect=204)
            on = resident_on(sim, vm)
            ck.record(("POST", "/vms/{id}/actions/start"), on == host,
                      f"start hostId={host}: the simulator has it on {on}")
        # an incorrect state: start on a running VM (XAPI's VM_BAD_POWER_STATE)
        act(ck, vm, "start", expect=500)
        # asynchronously: 202, Location, the task to wait for
        st, body, headers = act(ck, vm, "clean_shutdown", sync=False, expect=202)
        if st == 202:
            loc = headers.get("Location")
            ok = loc == f"{BASE}/tasks/{body['taskId']}"
            ck.record(("POST", "/vms/{id}/actions/clean_shutdown"), ok, f"Location {loc}")
            task = wait_task(ck, body["taskId"])
            ck.record(("GET", "/tasks/{id}"), task.get("status") == "success" and power() == "Halted",
                      f"task {task.get('status')}, VM {power()}")
        act(ck, vm, "start", {"hostId": 42}, expect=400)
        act(ck, "00000000-0000-4000-8000-00000000dead", "start", expect=404)
    if ("POST", "/vms/{id}/actions/snapshot") in served:
        st, snap, headers = act(ck, vm, "snapshot", {"name_label": "conf-snap"}, expect=201)
        if st == 201:
            truth = {r["uuid"]: r for r in sim.truth()["vm"].values()}
            ok = truth.get(snap.get("id"), {}).get("name_label") == "conf-snap"
            ck.record(("POST", "/vms/{id}/actions/snapshot"), ok, f"snapshot {snap} in the simulator")
        st, body, _ = act(ck, vm, "snapshot", sync=False, expect=202)
        if st == 202:
            wait_task(ck, body["taskId"])
    return vm


def halt_unmovable(sim):
    """Halt the paused VMs and the running ones with a disk on a local SR: a rolling update
    cannot evacuate them (docs/patching.md)."""
    x, t = Xapi(sim), sim.truth()
    for ref, vm in t["vm"].items():
        if vm["is_a_template"] or vm["is_control_domain"] or \
                vm["power_state"] not in ("Running", "Paused"):
            continue
        srs = [t["sr"].get(t["vdi"].get(t["vbd"][b]["VDI"], {}).get("SR"), {})
               for b in vm["VBDs"] if t["vbd"].get(b, {}).get("VDI") in t["vdi"]]
        if vm["power_state"] == "Paused" or not all(sr.get("shared") for sr in srs):
            x.ok("VM.hard_shutdown", ref)


def check_pool_actions(ck, sims, served):
    """POST /pools/{id}/actions/rolling_update on the second pool (the VM checks use the
    first): 202 and a task that ends in success once every host was rebooted; then, nothing
    left to install, ?sync=true answers 204; an unknown pool 404; and the action is the
    pools' only: /vms/<id>/actions/rolling_update is 404."""
    op = ("POST", "/pools/{id}/actions/rolling_update")
    if op not in served:
        return
    sim = sims[1]
    sim.post("/sim/config?host_shutdown_delay_s=0.2&host_down_s=0.5&updater_seconds=0.1")
    halt_unmovable(sim)
    boots = {h["uuid"]: h["other_config"].get("boot_time") for h in sim.truth()["host"].values()}
    path = f"/pools/{sim.pool_uuid}/actions/rolling_update"
    st, body, headers = ck.check(op, path, expect=202)
    if st == 202:
        ck.record(op, headers.get("Location") == f"{BASE}/tasks/{body['taskId']}",
                  f"Location {headers.get('Location')}")
        task = wait_task(ck, body["taskId"])
        after = {h["uuid"]: h["other_config"].get("boot_time")
                 for h in sim.truth()["host"].values()}
        rebooted = all(after[h] != boots[h] for h in boots)
        ck.record(op, task.get("status") == "success" and rebooted,
                  f"task {task.get('status')}, every host rebooted: {rebooted}")
    ck.check(op, path, {"sync": "true"}, expect=204)
    ck.check(op, "/pools/00000000-0000-4000-8000-00000000dead/actions/rolling_update",
             {"sync": "true"}, expect=404)
    vm = next(iter(regular_vms(sim)))
    st, _, _, _ = ck.c.call("POST", f"/vms/{vm}/actions/rolling_update", {"sync": "true"})
    ck.record(op, st == 404, f"POST /vms/<id>/actions/rolling_update -> {st}")


def check_vm_changes(ck, sims, served, vm):
    sim = sims[0]
    if ("PATCH", "/vms/{id}") in served:
        op = ("PATCH", "/vms/{id}")
        ck.check(op, f"/vms/{vm}", body={"nameLabel": "conf-renamed",
                                         "nameDescription": "by the conformance test"},
                 expect=204)
        rec = regular_vms(sim)[vm][1]
        ck.record(op, (rec["name_label"], rec["name_description"]) ==
                  ("conf-renamed", "by the conformance test"), f"simulator: {rec['name_label']}")
        ck.check(op, f"/vms/{vm}", body={"nameLabel": 7}, expect=422)
        ck.check(op, f"/vms/{vm}", body={"power_state": "Running"}, expect=422)
        ck.check(op, "/vms/00000000-0000-4000-8000-00000000dead", body={"name_label": "x"},
                 expect=404)
    for coll in ("vms", "vm-snapshots", "vm-templates", "vm-controllers"):
        put, delete = ("PUT", f"/{coll}/{{id}}/tags/{{tag}}"), ("DELETE", f"/{coll}/{{id}}/tags/{{tag}}")
        if put not in served:
            continue
        target = vm if coll == "vms" else ck.c.json(f"/{coll}", {"limit": "1"})[0].rsplit("/", 1)[1]
        ck.check(put, f"/{coll}/{target}/tags/{TAG}", expect=204)
        ok = eventually(lambda: TAG in ck.c.json(f"/{coll}/{target}")["tags"])
        ck.record(put, ok, f"{TAG} in the tags after PUT: {ok}")
        ck.check(delete, f"/{coll}/{target}/tags/{TAG}", expect=204)
        ok = eventually(lambda: TAG not in ck.c.json(f"/{coll}/{target}")["tags"])
        ck.record(delete, ok, f"{TAG} gone from the tags after DELETE: {ok}")
        ck.check(put, f"/{coll}/00000000-0000-4000-8000-00000000dead/tags/{TAG}", expect=404)
    for coll in ("vm-snapshots", "vms", "vm-templates"):
        op = ("DELETE", f"/{coll}/{{id}}")
        if op not in served:
            continue
        if coll == "vm-snapshots":
            snaps = ck.c.json("/vm-snapshots", {"fields": "id,$snapshot_of"})
            mine = [s["id"] for s in snaps if s.get("$snapshot_of") == vm]
            if mine:
                ck.check(op, f"/vm-snapshots/{mine[0]}", expect=204)
        if coll == "vms":
            other = vm_by_state(sim, "Halted", n=2, exclude=(vm,))[0]
            ck.check(op, f"/vms/{other}", expect=204)
            ck.record(op, other not in regular_vms(sim), f"{other} still in the simulator")
        ck.check(op, f"/{coll}/00000000-0000-4000-8000-00000000dead", expect=404)


def check_tasks(ck, served, vm):
    if ("GET", "/tasks") in served:
        op = ("GET", "/tasks")
        check_collection(ck, op, "/tasks", "tasks")
        tasks = ck.c.json("/tasks", {"fields": "id,properties,status"})
        mine = [t for t in tasks if t["properties"].get("objectId") == vm]
        ck.record(op, len(mine) >= 2, f"{len(mine)} tasks of the actions on {vm}")
        ck.check(op, "/tasks", {"watch": "true"}, expect=400)
        check_watch(ck, vm)
    if ("GET", "/tasks/{id}") in served:
        op = ("GET", "/tasks/{id}")
        tid = ck.c.json("/tasks")[0].rsplit("/", 1)[1]
        ck.check(op, f"/tasks/{tid}", expect=200)
        ck.check(op, "/tasks/00000000-0000-4000-8000-00000000dead", expect=404)
    if ("DELETE", "/tasks/{id}") in served:
        op = ("DELETE", "/tasks/{id}")
        tid = ck.c.json("/tasks", {"filter": "status:success"})[0].rsplit("/", 1)[1]
        ck.check(op, f"/tasks/{tid}", expect=204)
        st, _, _, _ = ck.c.call("GET", f"/tasks/{tid}")
        ck.record(op, st == 404, f"GET after DELETE: {st}")
        ck.check(op, "/tasks/00000000-0000-4000-8000-00000000dead", expect=404)
    if ("DELETE", "/tasks") in served:
        ck.check(("DELETE", "/tasks"), "/tasks", expect=204)
        left = ck.c.json("/tasks", {"fields": "status"})
        ck.record(("DELETE", "/tasks"), all(t["status"] == "pending" for t in left),
                  f"{len(left)} tasks left, all pending")


def check_watch(ck, vm):
    """GET /tasks?watch=true&ndjson=true streams ["update", task] lines as tasks change."""
    op = ("GET", "/tasks")
    gw = ck.c.gw
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=30 * harness.SCALE)
    auth = ck.c.auth["Authorization"]
    s.sendall((f"GET {BASE}/tasks?watch=true&ndjson=true&fields=id,status,properties HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nAuthorization: {auth}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, buf = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ")[1])
    ok = status == 200 and b"x-ndjson" in head.lower()
    # an action now: its task must arrive as an update line (chunk framing, if any, is cut)
    ck.c.call("POST", f"/vms/{vm}/actions/start", {"sync": "true"})
    deadline = time.monotonic() + 20 * harness.SCALE
    lines = []
    while time.monotonic() < deadline and not any(
            l[0] == "update" and l[1].get("properties", {}).get("objectId") == vm
            and l[1].get("status") == "success" for l in lines):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
        text = re.sub(rb"\r\n[0-9a-fA-F]+\r\n", b"", b"\r\n" + buf) if b"\r\n" in buf else buf
        lines = [json.loads(l) for l in text.split(b"\n") if l.strip().startswith(b"[")]
    s.close()
    item = ck.v.item_schema(ck.v.schema("GET", "/tasks", 200))
    errs = [e for l in lines if l[0] == "update" for e in ck.v.errors(item, l[1])]
    good = ok and any(l[0] == "update" and l[1].get("status") == "success" for l in lines)
    ck.record(op, good and not errs, f"watch: status {status}, {len(lines)} lines {errs[:3]}")


def check_sub_collections(ck, served, ids):
    subs = [(m, t) for m, t in served if m == "GET" and re.match(r"^/[^/]+/\{id\}/[a-z-]+$", t)]
    for op in subs:
        coll, sub = op[1].split("/")[1], op[1].split("/")[3]
        parent = ids.get(coll)
        if not parent:
            ck.record(op, False, f"no {coll} object to try")
            continue
        st, items, _ = ck.check(op, f"/{coll}/{parent}/{sub}", expect=200)
        ck.check(op, f"/{coll}/{parent}/{sub}", {"fields": "*"}, expect=200)
        ck.check(op, f"/{coll}/{parent}/{sub}", {"ndjson": "true", "fields": "id"}, expect=200)
        ck.check(op, f"/{coll}/00000000-0000-4000-8000-00000000dead/{sub}", expect=404)
        if sub == "vdis" and st == 200 and coll == "vms":
            ck.record(op, len(items) > 0, f"{len(items)} VDIs of VM {parent}")


def check_missing_patches(ck, sims, served):
    """GET /hosts/{id}/missing_patches and /pools/{id}/missing_patches: asked of the agent
    (the simulators are XCP-ng: updater.py's pending packages), the spec's XcpPatches."""
    sim = sims[0]
    host = sorted(h["uuid"] for h in sim.truth()["host"].values())[0]
    for coll, some in (("hosts", host), ("pools", sim.pool_uuid)):
        op = ("GET", f"/{coll}/{{id}}/missing_patches")
        if op not in served:
            continue
        st, items, _ = ck.check(op, f"/{coll}/{some}/missing_patches", expect=200)
        ck.record(op, st == 200 and isinstance(items, list) and len(items) > 0
                  and all("name" in p and "version" in p for p in items),
                  f"{len(items) if isinstance(items, list) else items} packages of {coll} {some}")
        ck.check(op, f"/{coll}/00000000-0000-4000-8000-00000000dead/missing_patches",
                 expect=404)


def check_formats(ck, served, ids):
    for op in served:
        if op[0] == "GET" and op[1].endswith("{id}.{format}"):
            coll = op[1].split("/")[1]
            ck.check(op, f"/{coll}/{ids[coll]}.nope", expect=422)


def check_all(c, v, sims, served):
    ck = Checker(c, v)
    ids = {}
    # the actions first: their snapshots (and the snapshots' disks) are objects to list
    vm = check_vm_actions(ck, sims, served)
    check_pool_actions(ck, sims, served)
    eventually(lambda: c.json("/vm-snapshots") and c.json("/vdi-snapshots"))
    simple = [op for op in served if op[0] == "GET" and re.match(r"^/[a-z-]+$", op[1])]
    for op in simple:
        coll = op[1][1:]
        if coll == "ping":
            st, body, _ = ck.check(op, "/ping", expect=200)
            continue
        if coll == "tasks":
            continue  # after the actions
        hrefs = check_collection(ck, op, op[1], coll)
        if hrefs:
            ids[coll] = hrefs[0].rsplit("/", 1)[1]
    ids["vms"] = vm
    for op in served:
        if op[0] == "GET" and re.match(r"^/[a-z-]+/\{id\}$", op[1]):
            coll = op[1].split("/")[1]
            if coll == "tasks":
                continue
            if coll in ids:
                check_object(ck, op, coll, ids[coll])
            else:
                ck.record(op, False, f"no {coll} object in the view to try")
    check_sub_collections(ck, served, ids)
    check_missing_patches(ck, sims, served)
    check_formats(ck, served, ids)
    check_tasks(ck, served, vm)
    check_vm_changes(ck, sims, served, vm)
    if ("GET", "/docs/swagger.json") in served:
        ck.check(("GET", "/docs/swagger.json"), "/docs/swagger.json", expect=200)
    for op in served:
        if op not in ck.results:
            ck.record(op, False, "served but never called by this test")
    return ck


# ---- docs/api.md's compatibility table ----

ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \| (conformant|different|not served) \|"
                 r" ?(.*?) ?\|$")


def docs_table():
    rows = {}
    with open(os.path.join(harness.src_dir(), "docs", "api.md")) as f:
        for line in f:
            m = ROW.match(line.strip())
            if m:
                rows[(m.group(1), m.group(2))] = (m.group(3), m.group(4).strip())
    return rows


def check_docs(spec_ops, served):
    rows = docs_table()
    problems = []
    for op in spec_ops:
        if op not in rows:
            problems.append(f"docs/api.md: no row for {op[0]} {op[1]}")
            continue
        kind, why = rows[op]
        if (op in served) != (kind != "not served"):
            problems.append(f"docs/api.md: {op[0]} {op[1]} is '{kind}' but the gateway "
                            f"{'serves' if op in served else 'does not serve'} it")
        if kind != "conformant" and not why:
            problems.append(f"docs/api.md: {op[0]} {op[1]} '{kind}' without a reason")
    extra = [op for op in rows if op not in spec_ops]
    problems += [f"docs/api.md: {op[0]} {op[1]} is not in the spec" for op in extra]
    return rows, problems


def report(ck, spec_ops, served, rows):
    lines = [f"# REST conformance against @xen-orchestra/rest-api {rest_spec.VERSION}", ""]
    passed = [op for op in served if all(ok for ok, _ in ck.results[op])]
    failed = [op for op in served if op not in passed]
    n_req = sum(len(r) for r in ck.results.values())
    lines.append(f"Spec operations: {len(spec_ops)}. Served by the gateway: {len(served)} "
                 f"(was {SERVED_BEFORE} before issue 15). Checked: {len(served)} operations, "
                 f"{n_req} checks. Passed: {len(passed)}. Failed: {len(failed)}.")
    lines += ["", "## Served", "", "| operation | checks | result |", "|---|---|---|"]
    for op in served:
        bad = [w for ok, w in ck.results[op] if not ok]
        lines.append(f"| `{op[0]} {op[1]}` | {len(ck.results[op])} | "
                     f"{'pass' if not bad else 'FAIL: ' + bad[0][:200]} |")
    lines += ["", "## Not served", "", "| operation | reason |", "|---|---|"]
    for op in spec_ops:
        if op not in served:
            lines.append(f"| `{op[0]} {op[1]}` | {rows.get(op, ('', 'NO ROW IN docs/api.md'))[1]} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(harness.build_dir(), "rest-conformance.md"), "w") as f:
        f.write(text)
    return passed, failed, text


def main():
    spec = rest_spec.load()
    v = rest_spec.Validator(spec)
    spec_ops = rest_spec.operations(spec)
    t0 = time.monotonic()
    with harness.Stack() as st:
        sims, gw = start_stack(st)
        c = Client(gw)
        served = served_operations(c, v, spec_ops)
        ck = check_all(c, v, sims, served)
        rows, doc_problems = check_docs(spec_ops, served)
        passed, failed, text = report(ck, spec_ops, served, rows)
    for p in doc_problems[:40]:
        print(p)
    print("\n".join(l for l in text.splitlines() if not l.startswith("| `") or "FAIL" in l))
    print(f"report: {os.path.join(harness.build_dir(), 'rest-conformance.md')}")
    assert not failed, f"{len(failed)} served operations failed"
    assert not doc_problems, f"{len(doc_problems)} problems in docs/api.md's table"
    assert len(served) > SERVED_BEFORE
    print(f"PASS ({time.monotonic() - t0:.0f} s): {len(served)} served (was {SERVED_BEFORE}), "
          f"{len(passed)} passed, 0 failures")


if __name__ == "__main__":
    main()
