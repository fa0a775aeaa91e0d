"""Issue 13, listing: pool.listMissingPatches through npm xo-lib -> xo-gateway -> signed
command -> each pool's xo-agent -> XAPI simulator, on both families.

1. XCP-ng 8.2.1 (2 hosts): every host's answer is what the host's updater.py plugin's
   check_update says, asked of the simulator directly.
2. XenServer 7.1.0 (update system) and 7.0.0 (legacy pool_patch), 2 hosts each: every
   host's answer is the catalogue's patches of its version minus the installed ones, in
   install order (a requirement before the patch that needs it), without the release
   upgrade, the paid patch (free hosts) or the patch that conflicts with an installed one;
   the catalogue comes from a local HTTPS server whose self-signed CA the agents trust.
3. REST (Xen Orchestra's GET /hosts/{id}/missing_patches and /pools/{id}/missing_patches):
   per host what JSON-RPC answers, per pool the hosts' lists merged, each patch once.
4. Caches (the xs70 agent; the others are configured to ask every time): the catalogue
   is fetched once; a host listed again within the minute gets the same answer, even after
   a patch was applied behind the agent's back, until an installation ends.
5. Failures: the updater plugin busy past the retry bound -> an error naming the lock;
   the catalogue unreachable -> an error naming its URL; a viewer -> unauthorized; an
   unknown host -> no such host.
"""
import json
import os
import re
import subprocess
import sys
import time
import xmlrpc.client

import gw_harness as g
import harness
from test_agent_commands import wait_consuming

TIMEOUT_MS = int(20000 * harness.SCALE)
VIEWER = ("view@x.org", "viewer pw")


def call(gw, method, params, creds=g.ADMIN, timeout=120):
    return g.node("call", gw.url, *creds, method, json.dumps(params), timeout=timeout)


class Xapi:
    """The simulator's XML-RPC API, for the truth a test compares with."""

    def __init__(self, sim):
        self.sim = sim
        self.x = xmlrpc.client.ServerProxy(sim.url, allow_none=True)
        self.sid = self.ok("session.login_with_password", "root", "password")

    def ok(self, method, *args):
        obj = self.x
        for part in method.split("."):
            obj = getattr(obj, part)
        r = obj(*(([self.sid] if hasattr(self, "sid") else []) + list(args)))
        assert r["Status"] == "Success", (method, r)
        return r["Value"]

    def put_legacy_patch(self, uuid, name):
        """Upload a legacy .xsupdate (the simulator's header) and apply it pool-wide."""
        import http.client
        import urllib.parse
        task = self.ok("task.create", "upload", "")
        u = urllib.parse.urlparse(self.sim.url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        body = b"XOSIMPATCH\n" + json.dumps({"uuid": uuid, "name_label": name}).encode() + \
            b"\n" + os.urandom(4096)
        c.request("PUT", f"/pool_patch_upload?session_id={self.sid}&task_id={task}", body=body)
        assert c.getresponse().status == 200
        c.close()
        harness.wait_until(lambda: self.ok("task.get_status", task) != "pending", 10,
                           what="patch upload task")
        ref = re.search(r"OpaqueRef:[0-9a-f-]+", self.ok("task.get_result", task)).group(0)
        self.ok("pool_patch.pool_apply", ref)


def host_uuids(sim):
    return sorted(h["uuid"] for h in sim.truth()["host"].values())


# ---------------------------------------------------------------- the catalogue

def uid(n):
    return f"00000000-0000-4000-8000-{n:012x}"


def patch_xml(uuid, name, requires=(), conflicts=(), stream=None, guidance="restartHost"):
    extra = f' update-stream="{stream}"' if stream else ""
    inner = ""
    if requires:
        inner += "<requiredpatches>" + "".join(
            f'<requiredpatch uuid="{r}"/>' for r in requires) + "</requiredpatches>"
    if conflicts:
        inner += "<conflictingpatches>" + "".join(
            f'<conflictingpatch uuid="{c}"/>' for c in conflicts) + "</conflictingpatches>"
    return (f'<patch uuid="{uuid}" name-label="{name}" name-description="{name} &amp; fixes" '
            f'url="https://support.example/{name}" patch-url="https://dl.example/{name}.zip" '
            f'timestamp="2024-01-0{len(name) % 9 + 1}T00:00:00Z" after-apply-guidance="{guidance}"'
            f'{extra}>{inner}</patch>')


def build_catalogue(www, installed_71, installed_70):
    """updates.xml for 7.1.0 and 7.0.0; returns the expected missing names per version."""
    p = {  # name -> (uuid, xml)
        "XS71E001": uid(0x711), "XS71E002": uid(0x712), "XS71E003": uid(0x713),
        "XS71E004": uid(0x714), "XS71E005": uid(0x715), "XS72": uid(0x720),
        "XS70E001": uid(0x701), "XS70E002": uid(0x702),
    }
    items = [
        patch_xml(installed_71, "XS71E000"),
        # listed before what it requires: the answer must put E001 first
        patch_xml(p["XS71E002"], "XS71E002", requires=[p["XS71E001"]], guidance="restartXAPI"),
        patch_xml(p["XS71E001"], "XS71E001"),
        patch_xml(p["XS71E003"], "XS71E003", conflicts=[installed_71]),
        patch_xml(p["XS71E004"], "XS71E004", stream="premium"),
        patch_xml(p["XS71E005"], "XS71E005", requires=[p["XS71E002"]]),
        patch_xml(p["XS72"], "XS72"),
        patch_xml(installed_70, "XS70E000"),
        patch_xml(p["XS70E001"], "XS70E001"),
        patch_xml(p["XS70E002"], "XS70E002", requires=[installed_70]),
    ]
    v71 = [installed_71] + [p[n] for n in ("XS71E002", "XS71E001", "XS71E003", "XS71E004",
                                           "XS71E005", "XS72")]
    v70 = [installed_70, p["XS70E001"], p["XS70E002"]]
    doc = ('<?xml version="1.0" encoding="UTF-8"?>\n<patchdata><patches>' + "".join(items) +
           '</patches><serverversions>'
           '<version value="7.1.0" name="XenServer 7.1" latest="false" timestamp="x">' +
           "".join(f'<patch uuid="{u}"/>' for u in v71) + '</version>'
           '<version value="7.0.0" name="XenServer 7.0" timestamp="y">' +
           "".join(f'<patch uuid="{u}"/>' for u in v70) + '</version>'
           '</serverversions></patchdata>\n')
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "updates.xml"), "w") as f:
        f.write(doc)
    return {"7.1.0": ["XS71E001", "XS71E002", "XS71E005"], "7.0.0": ["XS70E001", "XS70E002"]}


# ---------------------------------------------------------------- the stack

NO_CACHE = {"catalog_cache_s": "0", "list_debounce_s": "0"}


def start_stack(st, cached=(), watch=()):
    """The stack; the agents of the pools in `cached` keep the catalogue and debounce
    listings as by default, the others ask every time (tests that change the catalogue);
    those of the pools in `watch` keep their hosts' missing patches on their records."""
    k = st.start_kafka(partitions=16)  # one partition per pool: see the WRONG_POOL note in docs/patching.md
    sims = {
        "xcp": st.start_sim(vms=4, hosts=2, seed=41),
        "xs71": st.start_sim(vms=4, hosts=2, seed=42,
                             extra=("--family", "xenserver", "--product-version", "7.1.0")),
        "xs70": st.start_sim(vms=4, hosts=2, seed=43,
                             extra=("--family", "xenserver", "--product-version", "7.0.0")),
    }
    keys = st.path("keys")
    subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                   capture_output=True)
    users = st.path("users")
    for email, perm, pw in (("admin@admin.net", "admin", "admin"),
                            (VIEWER[0], "viewer", VIEWER[1])):
        subprocess.run([harness.binary("xo-gateway"), "useradd", "--users", users, "--email",
                        email, "--permission", perm], input=pw.encode(), check=True,
                       capture_output=True)
    www = st.path("www")
    os.makedirs(www)
    cat = st.spawn("catalog", [sys.executable,
                               os.path.join(harness.src_dir(), "tests", "e2e", "catalog_server.py"),
                               "--dir", www, "--cert-dir", st.path("tls")])
    cat_url = cat.wait_line(lambda l: l.startswith("listening: ")).split(" ", 1)[1].strip()
    ca = cat.wait_line(lambda l: l.startswith("ca: ")).split(" ", 1)[1].strip()
    cat.wait_line(lambda l: l == "ready")
    agent_extra = {
        "commands": {"public_keys": os.path.join(keys, "gateway.pub"), "max_expiry_ms": "120000"},
        "patches": {"catalog_url": cat_url + "/updates.xml", "ca_file": ca,
                    "busy_retries": "2", "busy_retry_ms": "200"},
    }
    agents = {name: st.start_agent(sim, k, name=f"agent-{name}", extra={
        **agent_extra, "patches": {**agent_extra["patches"],
                                   **({} if name in cached else NO_CACHE),
                                   **({"check_interval_s": "60"} if name in watch else {})}})
        for name, sim in sims.items()}
    gw = st.start_gateway(k, extra={
        "users": {"file": users},
        "commands": {"private_key": os.path.join(keys, "gateway.key"),
                     "timeout_ms": str(TIMEOUT_MS)}})
    for ag in agents.values():
        wait_consuming(ag)
    g.wait_synced(gw, [s.pool_uuid for s in sims.values()])
    return sims, agents, gw, www, cat


def check_xcp(gw, sim):
    x = Xapi(sim)
    for ref, h in sorted(sim.truth()["host"].items()):
        want = json.loads(x.ok("host.call_plugin", ref, "updater.py", "check_update", {}))
        assert want, "the simulator should have pending packages"
        got = call(gw, "pool.listMissingPatches", {"host": h["uuid"]})
        assert got.get("result") == want, (h["uuid"], got, want)
    print(f"xcp-ng: {len(want)} packages per host, as updater.py check_update says")


def check_xenserver(gw, sims, expected):
    for name, version in (("xs71", "7.1.0"), ("xs70", "7.0.0")):
        for uuid in host_uuids(sims[name]):
            got = call(gw, "pool.listMissingPatches", {"host": uuid})
            assert "result" in got, (name, got)
            names = [p["name"] for p in got["result"]]
            assert names == expected[version], (name, uuid, names, expected[version])
            first = got["result"][0]
            assert set(first) == {"date", "description", "documentationUrl", "guidance", "name",
                                  "url", "id", "uuid", "conflicts", "requirements", "paid",
                                  "upgrade"}, first
            assert first["description"] == f"{first['name']} & fixes", first
            assert first["id"] == first["uuid"] and first["paid"] is False, first
        print(f"{name}: {names} on every host")


def rest_get(gw, path):
    """(status, parsed body) of GET /rest/v0<path> as the admin."""
    st, body, _ = g.http_get(gw.url + "/rest/v0" + path, headers=g.basic(*g.ADMIN), timeout=120)
    return st, json.loads(body)


def merged(lists):
    """The hosts' lists as one, each patch once (by uuid, or name-version-release)."""
    out, seen = [], set()
    for lst in lists:
        for p in lst:
            key = p.get("uuid") or f"{p['name']}-{p['version']}-{p['release']}"
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out


def check_rest(gw, sims):
    """Xen Orchestra's REST routes answer what JSON-RPC answers: per host, and per pool the
    hosts' lists merged, each patch once."""
    for name, sim in sims.items():
        per_host = []
        for uuid in host_uuids(sim):
            want = call(gw, "pool.listMissingPatches", {"host": uuid})["result"]
            st, got = rest_get(gw, f"/hosts/{uuid}/missing_patches")
            assert st == 200 and got == want, (name, uuid, st, got, want)
            per_host.append(want)
        st, got = rest_get(gw, f"/pools/{sim.pool_uuid}/missing_patches")
        # the agent goes through its hosts in host.get_all's order: compare as sets
        canon = sorted(json.dumps(p, sort_keys=True) for p in merged(per_host))
        assert st == 200 and len(got) == len(canon), (name, st, got)
        assert sorted(json.dumps(p, sort_keys=True) for p in got) == canon, (name, got)
        assert got, name
        print(f"{name}: REST per host equals JSON-RPC; per pool {len(got)} patches, each once")
    st, got = rest_get(gw, "/hosts/no-such-host/missing_patches")
    assert st == 404, (st, got)
    st, _ = g.http_get(gw.url + "/rest/v0/pools/" + sims["xcp"].pool_uuid + "/missing_patches",
                       headers=g.basic(*VIEWER), timeout=60)[:2]
    assert st == 403, st


def fetches(agent):
    return agent.log_text().count("event=catalog_fetched")


def debounced(agent):
    return agent.log_text().count("event=list_missing_debounced")


def check_caches(gw, sims, agents, expected):
    """The xs70 agent keeps the catalogue (a day) and debounces listings (a minute per
    host): asked again, it fetches nothing and asks no host, even after a patch was applied
    behind its back; an installation's end (here one that has nothing to do) forgets the
    listings, not the catalogue."""
    sim, ag = sims["xs70"], agents["xs70"]
    h0 = host_uuids(sim)[0]
    n = fetches(ag)
    assert n >= 1, "the xs70 agent listed before: it fetched the catalogue"
    installed = Xapi(sim).ok("pool_patch.get_all_records")
    noop = {"pool": sim.pool_uuid, "patches": [next(iter(installed.values()))["uuid"]]}
    assert call(gw, "pool.installPatches", noop).get("result") is True  # forgets listings
    first = call(gw, "pool.listMissingPatches", {"host": h0})["result"]
    d = debounced(ag)
    again = call(gw, "pool.listMissingPatches", {"host": h0})["result"]
    assert again == first and [p["name"] for p in first] == expected["7.0.0"], (first, again)
    assert debounced(ag) == d + 1, "asked again within the minute: the same answer, no call"
    Xapi(sim).put_legacy_patch(first[0]["uuid"], first[0]["name"])  # behind the agent's back
    stale = call(gw, "pool.listMissingPatches", {"host": h0})["result"]
    assert stale == first and debounced(ag) == d + 2, "debounced: the same answer"
    noop["patches"] = [first[0]["uuid"]]  # installed now: a no-op, and listings forgotten
    assert call(gw, "pool.installPatches", noop).get("result") is True
    fresh = call(gw, "pool.listMissingPatches", {"host": h0})["result"]
    assert [p["name"] for p in fresh] == expected["7.0.0"][1:], fresh
    assert fetches(ag) == n, "the catalogue was fetched again within its day"
    print(f"xs70: catalogue fetched {n} time(s) in all; a host asked again within the minute "
          "gets the same answer; an installation's end forgets it")


def check_failures(gw, sims, cat):
    xcp = sims["xcp"]
    h0 = host_uuids(xcp)[0]
    host0 = next(r for r, h in xcp.truth()["host"].items() if h["uuid"] == h0)
    xcp.post(f"/sim/fault?kind=updater_busy&host={host0}&op=update&ms=0")
    try:
        got = call(gw, "pool.listMissingPatches", {"host": h0})
        assert "error" in got, got
        text = json.dumps(got["error"])
        assert "lock" in text and "busy" in text, got
    finally:
        xcp.post(f"/sim/fault?kind=updater_free&host={host0}")
    assert "result" in call(gw, "pool.listMissingPatches", {"host": h0})
    print("xcp-ng: a busy updater past the retry bound fails naming the lock; free, it answers")

    got = call(gw, "pool.listMissingPatches", {"host": h0}, creds=VIEWER)
    assert got.get("error", {}).get("code") == 2, got
    got = call(gw, "pool.listMissingPatches", {"host": "no-such-host"})
    assert got.get("error", {}).get("code") == 1, got

    xs = host_uuids(sims["xs71"])[0]
    cat.kill()
    got = call(gw, "pool.listMissingPatches", {"host": xs})
    assert "error" in got and "updates.xml" in json.dumps(got["error"]), got
    st, got = rest_get(gw, f"/pools/{sims['xs71'].pool_uuid}/missing_patches")
    assert st == 500 and "updates.xml" in json.dumps(got), (st, got)
    print("xenserver: an unreachable catalogue fails naming its URL")


def main():
    t0 = time.monotonic()
    with harness.Stack() as st:
        sims, agents, gw, www, cat = start_stack(st, cached=("xs70",))
        xs71 = Xapi(sims["xs71"])
        installed_71 = next(iter(xs71.ok("pool_update.get_all_records").values()))["uuid"]
        installed_70 = uid(0x700)
        Xapi(sims["xs70"]).put_legacy_patch(installed_70, "XS70E000")
        expected = build_catalogue(www, installed_71, installed_70)
        check_xcp(gw, sims["xcp"])
        check_xenserver(gw, sims, expected)
        check_rest(gw, sims)
        check_caches(gw, sims, agents, expected)
        check_failures(gw, sims, cat)
        for ag in agents.values():
            assert ag.stop() == 0, ag.log_text()[-2000:]
        assert gw.proc.stop() == 0, gw.proc.log_text()[-3000:]
    print(f"PASS ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
