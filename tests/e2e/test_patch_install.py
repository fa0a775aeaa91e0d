"""Issue 13, installing: pool.installPatches through npm xo-lib -> xo-gateway -> signed
command -> the pool's xo-agent, which downloads each patch zip from a local HTTPS
catalogue itself, unzips it as a stream and uploads its entry to the XAPI simulator.

0. The agents' watch (patches.check_interval_s) keeps each host's missing patches in the
   view as $missingPatches {count, names}: on XCP-ng equal to listMissingPatches at first;
   empty after each family's installation.
0. HA on (the simulator's pool.enable_ha): installPatches and rollingUpdate refused with
   xo-server's incorrectState error on ha_enabled, nothing done.
1. XCP-ng 8.2.1 (2 hosts): updater.py update on every host, the master first (the
   installation times xo-agent records say so, and the progress results: step `update`
   per host, the master first), then listMissingPatches answers [] on each.
2. XenServer 7.1.0 (update system): failures first, each leaving the simulator's state as
   it was (same updates, patches and VDIs; no temporary VDI): a precheck that fails (XAPI's
   error reaches the client), a truncated zip, a zip bomb, a zip without the ISO, a
   download that 404s, an entry whose CRC-32 does not match. Then every missing patch, requirements first: each update applied
   on every host, no temporary VDI left, listMissingPatches [] on each host; installing an
   installed patch again is a no-op. The progress results on xo.results (valid against its
   schema) name each step: download, upload with the bytes downloaded and uploaded (the
   whole ISO), a precheck per host, apply.
3. XenServer 7.0.0 (legacy pool_patch): the .xsupdate streamed to /pool_patch_upload and
   pool-applied; listMissingPatches [] on each host.
4. Last, failures that need the pools as they are then: the XCP-ng updater busy past the
   retry bound on the master (UPDATER_BUSY naming the lock, no host updated), the
   catalogue unreachable (PATCH_CATALOG_ERROR naming its URL); state unchanged.
"""
import io
import json
import os
import random
import threading
import time
import zipfile

import jsonschema

import gw_harness as g
import harness
from test_patch_list import Xapi, call, host_uuids, start_stack, uid

RND = random.Random(7)


def blob(n):
    return bytes(RND.getrandbits(8) for _ in range(n))


def update_iso(uuid, name, size=300_000, **extra):
    head = json.dumps(dict(uuid=uuid, name_label=name, **extra)).encode()
    return b"XOSIMUPDATE\n" + head + b"\n" + blob(size)


def legacy_xsupdate(uuid, name, size=200_000):
    head = json.dumps({"uuid": uuid, "name_label": name}).encode()
    return b"XOSIMPATCH\n" + head + b"\n" + blob(size)


def write_zip(www, name, entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in entries:
            z.writestr(n, data)
    with open(os.path.join(www, name), "wb") as f:
        f.write(buf.getvalue())
    return buf.getvalue()


def write_bad_crc_zip(www, name, entry, data):
    """A zip whose stored entry has one byte changed after its CRC-32 was computed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(entry, data)
    raw = bytearray(buf.getvalue())
    at = raw.find(data[-64:]) + 10
    raw[at] ^= 0xFF
    with open(os.path.join(www, name), "wb") as f:
        f.write(raw)


def catalogue(www, base, versions):
    """versions: {value: [(uuid, name, zip name, requires)]} -> updates.xml."""
    patches, vers = [], []
    for value, plist in versions.items():
        vers.append(f'<version value="{value}" name="XenServer {value}">' +
                    "".join(f'<patch uuid="{u}"/>' for u, *_ in plist) + "</version>")
        for u, name, zname, req in plist:
            r = ("<requiredpatches>" + "".join(f'<requiredpatch uuid="{x}"/>' for x in req) +
                 "</requiredpatches>") if req else ""
            patches.append(f'<patch uuid="{u}" name-label="{name}" name-description="{name}" '
                           f'patch-url="{base}/{zname}" url="{base}/doc/{name}" '
                           f'after-apply-guidance="restartHost">{r}</patch>')
    with open(os.path.join(www, "updates.xml"), "w") as f:
        f.write("<patchdata><patches>" + "".join(patches) + "</patches><serverversions>" +
                "".join(vers) + "</serverversions></patchdata>")


def state(sim):
    """What a failed install must leave as it was."""
    t = sim.truth()
    return {
        "updates": sorted((u["uuid"], tuple(sorted(u.get("hosts", []))))
                          for u in t.get("pool_update", {}).values()),
        "patches": sorted(p["uuid"] for p in t.get("pool_patch", {}).values()),
        "host_patches": len(t.get("host_patch", {})),
        "vdis": sorted(v["uuid"] for v in t["vdi"].values()),
    }


def temp_vdis(sim):
    return [v for v in sim.truth()["vdi"].values() if v.get("name_label") == "[XO] Patch ISO"]


def missing_everywhere(gw, sim):
    return {h: call(gw, "pool.listMissingPatches", {"host": h}).get("result")
            for h in host_uuids(sim)}


def host_view(gw, uuid):
    st, body, _ = g.http_get(f"{gw.url}/rest/v0/hosts/{uuid}", headers=g.basic(*g.ADMIN))
    assert st == 200, (st, body[:200])
    return json.loads(body)


def wait_summaries(gw, sim, want, what):
    """Every host's $missingPatches in the gateway's view, as the agent's watch keeps it,
    until it equals want(host uuid) ({count, names})."""
    def ok():
        return all(host_view(gw, h).get("$missingPatches") == want(h) for h in host_uuids(sim))
    harness.wait_until(ok, 90, interval=0.5, what=what)


def summary(patches):
    return {"count": len(patches),
            "names": [f"{p['name']}-{p['version']}-{p['release']}" if "release" in p
                      else p["name"] for p in patches]}


def check_ha_refused(gw, sim):
    """With HA on, pool.installPatches and pool.rollingUpdate are refused with xo-server's
    incorrectState on the pool's ha_enabled, and nothing is done; off again, they may run."""
    x = Xapi(sim)
    x.ok("pool.enable_ha", [], {})
    try:
        before = (state(sim), {r: h["other_config"] for r, h in sim.truth()["host"].items()})
        want = {"code": 25, "message": "incorrect state",
                "data": {"actual": True, "expected": False, "object": sim.pool_uuid,
                         "property": "ha_enabled"}}
        for method in ("pool.installPatches", "pool.rollingUpdate"):
            got = call(gw, method, {"pool": sim.pool_uuid})
            assert got.get("error") == want, (method, got)
        assert (state(sim), {r: h["other_config"] for r, h in sim.truth()["host"].items()}) \
            == before
    finally:
        x.ok("pool.disable_ha")
    print("HA on: installPatches and rollingUpdate refused with incorrectState (ha_enabled), "
          "nothing done")


def check_xcp(gw, sim, bootstrap):
    """The install runs on the agent's worker: other commands go on meanwhile."""
    # the window in which other commands must answer: part of the scenario, so stretched
    sim.post(f"/sim/config?updater_seconds={3 * harness.SCALE:g}")
    vm = next(v["uuid"] for v in sim.truth()["vm"].values()
              if not v["is_a_template"] and not v["is_control_domain"])
    done = {}
    th = threading.Thread(target=lambda: done.update(
        r=call(gw, "pool.installPatches", {"pool": sim.pool_uuid}), t=time.monotonic()))
    th.start()
    time.sleep(1.0 * harness.SCALE)
    t0 = time.monotonic()
    renamed = call(gw, "vm.set", {"id": vm, "name_label": "renamed during the update"})
    assert renamed.get("result") is True, renamed
    second = call(gw, "pool.installPatches", {"pool": sim.pool_uuid})
    assert "PATCH_INSTALL_RUNNING" in json.dumps(second), second
    t1 = time.monotonic()
    th.join(120 * harness.SCALE)
    got = done["r"]
    assert got.get("result") is True, got
    assert done["t"] > t1 > t0, "vm.set and the second install answered while it ran"
    sim.post("/sim/config?updater_seconds=0.3")
    print(f"xcp-ng: vm.set answered in {t1 - t0:.1f} s and a second install was refused while "
          "the install ran")
    hosts = sim.truth()["host"]
    master = sim.truth()["pool"]
    master_ref = next(iter(master.values()))["master"]
    times = {ref: float(h["other_config"]["rpm_patch_installation_time"]) for ref, h in hosts.items()}
    assert all(times[master_ref] <= t for t in times.values()), times
    for ref, h in hosts.items():
        assert h["other_config"].get("sim_last_update"), h["other_config"]
    left = missing_everywhere(gw, sim)
    assert all(v == [] for v in left.values()), left
    steps = [r for _, r in progress_of(bootstrap, sim.pool_uuid)]
    master_uuid = hosts[master_ref]["uuid"]
    assert [r["step"] for r in steps] == ["update"] * len(hosts), steps
    assert [r["host"] for r in steps][0] == master_uuid, steps
    assert sorted(r["host"] for r in steps) == sorted(h["uuid"] for h in hosts.values()), steps
    print(f"xcp-ng: updated on {len(hosts)} hosts, the master first (progress per host on "
          "xo.results too); nothing missing after")


def progress_of(bootstrap, pool):
    """The installation progress results of a pool on xo.results: [(bytes, result)], each
    message valid against the topic's schema."""
    with open(os.path.join(harness.src_dir(), "schemas", "xo.results.schema.json")) as f:
        schema = json.load(f)
    out = []
    for _, v, _ in harness.kcat_read(bootstrap, "xo.results"):
        m = json.loads(v) if v else {}
        if m.get("pool") == pool and m.get("state") == "progress" and \
                isinstance(m.get("result"), dict) and "step" in m["result"]:
            jsonschema.validate(m, schema)
            out.append((m["bytes"], m["result"]))
    return out


def check_xs_progress(bootstrap, gw_url, sim, patches):
    """Per patch: download, upload with its bytes (the whole ISO uploaded, the whole zip
    downloaded), a precheck on each host, apply; `bytes` is the bytes uploaded. The
    gateway's task of the installation shows its last step as XO's task infos."""
    steps = progress_of(bootstrap, sim.pool_uuid)
    hosts = host_uuids(sim)
    for uuid, iso_size, zip_size in patches:
        mine = [(b, r) for b, r in steps if r["patch"] == uuid]
        names = [r["step"] for _, r in mine]
        assert names[0] == "download" and "apply" in names, names
        assert names.index("upload") < names.index("precheck") < names.index("apply"), names
        assert sorted(r["host"] for _, r in mine if r["step"] == "precheck") == hosts, mine
        last_up = [(b, r) for b, r in mine if r["step"] == "upload"][-1]
        assert last_up[1]["uploaded"] == iso_size == last_up[0], (last_up, iso_size)
        # the zip's end (its central directory) need not have been read
        assert 0 < last_up[1]["downloaded"] <= zip_size, (last_up, zip_size)
        assert all(b == r["uploaded"] for b, r in mine), mine
    tasks = [t for t in json.loads(g.http_get(
        f"{gw_url}/rest/v0/tasks?fields=*", headers=g.basic(*g.ADMIN))[1])
        if t["properties"]["name"] == "pool.installPatches" and t["status"] == "success"
        and t["properties"]["pool"] == sim.pool_uuid and t.get("infos")]
    last = max(tasks, key=lambda t: t["end"])  # the installation's task shows its last step
    (info,) = last["infos"]
    uuid, iso_size, zip_size = patches[-1]
    assert info["message"] == "apply" and info["data"]["step"] == "apply", last
    assert info["data"]["patch"] == uuid and info["data"]["uploaded"] == iso_size, last
    assert 0 < info["data"]["downloaded"] <= zip_size, last
    print(f"xenserver 7.1: progress per step on xo.results, each patch's bytes downloaded "
          f"and uploaded ({', '.join(str(i) for _, i, _ in patches)})")


def expect_failure(gw, sim, params, needle):
    before = state(sim)
    got = call(gw, "pool.installPatches", params)
    assert "error" in got, got
    text = json.dumps(got["error"])
    assert needle in text, (needle, got)
    assert state(sim) == before, (state(sim), before)
    assert temp_vdis(sim) == []
    return got["error"]


def check_xs71(gw, sim, www, base, bootstrap):
    x = Xapi(sim)
    installed = next(iter(x.ok("pool_update.get_all_records").values()))["uuid"]
    e1, e2, bad, trunc, bomb, empty, gone, crc = (
        uid(0x7101), uid(0x7102), uid(0x71f1), uid(0x71f2), uid(0x71f3), uid(0x71f4),
        uid(0x71f5), uid(0x71f6))
    iso1, iso2 = update_iso(e1, "XS71E001"), update_iso(e2, "XS71E002")
    zip1 = len(write_zip(www, "E001.zip", [("README", b"read me"), ("XS71E001.iso", iso1)]))
    zip2 = len(write_zip(www, "E002.zip", [("XS71E002.iso", iso2)]))
    write_zip(www, "BAD.zip", [("bad.iso", update_iso(
        bad, "XS71EBAD", precheck_error=["UPDATE_PRECHECK_FAILED_UNKNOWN_ERROR", "sim says no"]))])
    data = write_zip(www, "TRUNC.zip", [("t.iso", update_iso(trunc, "XS71ETRN"))])
    with open(os.path.join(www, "TRUNC.zip"), "wb") as f:
        f.write(data[: len(data) // 2])
    write_zip(www, "BOMB.zip", [("b.iso", bytes(64 << 20))])
    write_zip(www, "EMPTY.zip", [("README", b"no iso")])
    write_bad_crc_zip(www, "CRC.zip", "c.iso", update_iso(crc, "XS71ECRC"))
    versions = {"7.1.0": [(installed, "XS71E000", "none.zip", []), (e2, "XS71E002", "E002.zip", [e1]),
                          (e1, "XS71E001", "E001.zip", []), (bad, "XS71EBAD", "BAD.zip", []),
                          (trunc, "XS71ETRN", "TRUNC.zip", []), (bomb, "XS71EBMB", "BOMB.zip", []),
                          (empty, "XS71EMTY", "EMPTY.zip", []), (gone, "XS71EGON", "GONE.zip", []),
                          (crc, "XS71ECRC", "CRC.zip", [])]}
    catalogue(www, base, versions)
    p = sim.pool_uuid
    err = expect_failure(gw, sim, {"pool": p, "patches": [bad]}, "UPDATE_PRECHECK_FAILED_UNKNOWN_ERROR")
    assert "sim says no" in json.dumps(err), err
    expect_failure(gw, sim, {"pool": p, "patches": [trunc]}, "truncated")
    expect_failure(gw, sim, {"pool": p, "patches": [bomb]}, "zip bomb")
    expect_failure(gw, sim, {"pool": p, "patches": [empty]}, "no .iso entry")
    expect_failure(gw, sim, {"pool": p, "patches": [gone]}, "GONE.zip")
    expect_failure(gw, sim, {"pool": p, "patches": [crc]}, "CRC")
    print("xenserver 7.1: precheck failure, truncated zip, zip bomb, no ISO, 404, bad CRC "
          "(the whole entry uploaded first): each an error, state unchanged, no temporary VDI")

    # the good catalogue: only what installs
    catalogue(www, base, {"7.1.0": versions["7.1.0"][:3]})
    before = missing_everywhere(gw, sim)
    assert all([m["name"] for m in v] == ["XS71E001", "XS71E002"] for v in before.values()), before
    got = call(gw, "pool.installPatches", {"hosts": host_uuids(sim)})  # the pool from its hosts
    assert got.get("result") is True, got
    t = sim.truth()
    all_hosts = sorted(t["host"])
    for u in (e1, e2):
        rec = next(r for r in t["pool_update"].values() if r["uuid"] == u)
        assert sorted(rec["hosts"]) == all_hosts, rec
    assert temp_vdis(sim) == []
    left = missing_everywhere(gw, sim)
    assert all(v == [] for v in left.values()), left
    before = state(sim)
    got = call(gw, "pool.installPatches", {"pool": p, "patches": [e1]})
    assert got.get("result") is True, got
    assert state(sim) == before
    check_xs_progress(bootstrap, gw.url, sim, [(e1, len(iso1), zip1), (e2, len(iso2), zip2)])
    print("xenserver 7.1: E001 then E002 applied on every host through a temporary VDI (gone); "
          "nothing missing after; installing E001 again is a no-op")


def check_late_failures(gw, sims, cat):
    """XCP-ng: the updater plugin busy past the retry bound on the master: UPDATER_BUSY
    naming the lock, no host updated. XenServer: the catalogue unreachable:
    PATCH_CATALOG_ERROR naming its URL. Both leave the pool as it was."""
    xcp = sims["xcp"]
    master = next(iter(xcp.truth()["pool"].values()))["master"]
    stamps = {r: h["other_config"].get("rpm_patch_installation_time")
              for r, h in xcp.truth()["host"].items()}
    xcp.post(f"/sim/fault?kind=updater_busy&host={master}&op=update&ms=0")
    try:
        err = expect_failure(gw, xcp, {"pool": xcp.pool_uuid}, "UPDATER_BUSY")
        assert "lock" in json.dumps(err), err
    finally:
        xcp.post(f"/sim/fault?kind=updater_free&host={master}")
    assert {r: h["other_config"].get("rpm_patch_installation_time")
            for r, h in xcp.truth()["host"].items()} == stamps
    cat.kill()
    expect_failure(gw, sims["xs71"], {"pool": sims["xs71"].pool_uuid}, "updates.xml")
    print("xcp-ng: a busy updater fails naming the lock, no host updated; xenserver: an "
          "unreachable catalogue fails naming its URL; state unchanged")


def check_xs70(gw, sim, www, base):
    legacy = uid(0x700)
    e1 = uid(0x7001)
    write_zip(www, "L1.zip", [("XS70E001.xsupdate", legacy_xsupdate(e1, "XS70E001")),
                              ("XS70E001-src.iso", b"sources")])
    versions = {"7.0.0": [(legacy, "XS70E000", "none.zip", []), (e1, "XS70E001", "L1.zip", [])],
                "7.1.0": []}
    catalogue(www, base, versions)
    Xapi(sim).put_legacy_patch(legacy, "XS70E000")
    got = call(gw, "pool.installPatches", {"pool": sim.pool_uuid})
    assert got.get("result") is True, got
    t = sim.truth()
    patch = next(r for r in t["pool_patch"].values() if r["uuid"] == e1)
    assert patch["pool_applied"] is True, patch
    left = missing_everywhere(gw, sim)
    assert all(v == [] for v in left.values()), left
    print("xenserver 7.0 (legacy): XS70E001 uploaded to /pool_patch_upload and pool-applied")


def main():
    t0 = time.monotonic()
    with harness.Stack() as st:
        sims, agents, gw, www, cat = start_stack(st, watch=("xcp", "xs71"))
        base = next(l.split(" ", 1)[1].strip() for l in cat.lines if l.startswith("listening: "))
        # the watch has put each host's summary in the view (xs71: no catalogue yet)
        missing = missing_everywhere(gw, sims["xcp"])
        assert all(missing.values()), missing
        wait_summaries(gw, sims["xcp"], lambda h: summary(missing[h]),
                       "xcp: $missingPatches on every host")
        print("xcp-ng: every host's $missingPatches in the view equals listMissingPatches")
        check_ha_refused(gw, sims["xcp"])
        check_xcp(gw, sims["xcp"], st.kafkas[0].bootstrap)
        wait_summaries(gw, sims["xcp"], lambda h: summary([]), "xcp: $missingPatches emptied")
        print("xcp-ng: after the install, every host's $missingPatches is empty")
        check_xs71(gw, sims["xs71"], www, base, st.kafkas[0].bootstrap)
        wait_summaries(gw, sims["xs71"], lambda h: summary([]), "xs71: $missingPatches emptied")
        print("xenserver 7.1: after the install, every host's $missingPatches is empty")
        check_xs70(gw, sims["xs70"], www, base)
        check_late_failures(gw, sims, cat)
        for ag in agents.values():
            assert ag.stop() == 0, ag.log_text()[-2000:]
        assert gw.proc.stop() == 0, gw.proc.log_text()[-3000:]
    print(f"PASS ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
