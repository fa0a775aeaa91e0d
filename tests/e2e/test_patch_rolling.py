"""Issue 13, rolling pool update: pool.rollingUpdate through npm xo-lib on 3-host pools with
running VMs (paused ones and those on local storage halted first: they cannot move).

1. Plain: every host updated and rebooted once, the master first; every VM that ran still
   runs (on some host); no checkpoint left; listMissingPatches [] on every host.
2. The agent killed (SIGKILL) in the middle of the second host (after its evacuation,
   during its update) and started again: the new agent resumes from the checkpoint in the
   pool's other_config, under the same command id, and the client's call still answers
   true; each host evacuated and rebooted exactly once (the simulator's call counts).
3. Started with REST (POST /rest/v0/pools/<id>/actions/rolling_update: 202 and the
   command's task id), the gateway restarted in the middle: the agent goes on; the update
   ends (checkpoint gone, every host rebooted once) and xo.results holds accepted ...
   success, once.
4. XenServer 7.1 (a catalogue of two patches): installed pool-wide first, then every host
   rebooted in turn; no reboot left pending, no temporary VDI.
"""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import gw_harness as g
import harness
from test_agent_commands import wait_consuming
from test_patch_list import VIEWER, Xapi, call

TIMEOUT_MS = int(180000 * harness.SCALE)
KEY = "xo:rolling_update"


def prepare(sim):
    """Halt the paused VMs and the running ones whose disks are on a local SR (neither can
    be evacuated); return the running others' uuids."""
    x, t = Xapi(sim), sim.truth()
    shared = {ref for ref, sr in t["sr"].items() if sr.get("shared")}
    running = []
    for ref, vm in t["vm"].items():
        if vm["is_a_template"] or vm["is_control_domain"]:
            continue
        if vm["power_state"] == "Paused":  # cannot be evacuated (VM_BAD_POWER_STATE)
            x.ok("VM.hard_shutdown", ref)
        if vm["power_state"] != "Running":
            continue
        srs = {t["vdi"][t["vbd"][b]["VDI"]]["SR"] for b in vm["VBDs"]
               if t["vbd"][b]["VDI"] in t["vdi"]}
        if srs <= shared:
            running.append(vm["uuid"])
        else:
            x.ok("VM.hard_shutdown", ref)
    assert len(running) >= 3, running
    return running


def pool_rec(sim):
    return next(iter(sim.truth()["pool"].values()))


def checkpoint(sim):
    text = pool_rec(sim)["other_config"].get(KEY)
    return json.loads(text) if text else None


def boot_times(sim):
    return {h["uuid"]: h["other_config"].get("boot_time") for h in sim.truth()["host"].values()}


def check_done(gw, sim, running, boots_before, what):
    t = sim.truth()
    calls = sim.stats()["calls_by_method"]
    for method in ("host.reboot", "host.evacuate"):
        assert calls.get(method, 0) == len(t["host"]), (what, method, calls.get(method))
    after = boot_times(sim)
    assert all(after[h] != boots_before[h] for h in after), (what, boots_before, after)
    assert checkpoint(sim) is None, (what, checkpoint(sim))
    state = {vm["uuid"]: vm["power_state"] for vm in t["vm"].values()}
    assert all(state[u] == "Running" for u in running), (what, state)
    for h in boots_before:
        assert call(gw, "pool.listMissingPatches", {"host": h}).get("result") == [], (what, h)


def master_uuid(sim):
    t = sim.truth()
    return t["host"][pool_rec(sim)["master"]]["uuid"]


def rolling_hosts(agent_log):
    """Host uuids in the order the agent(s) worked on them."""
    out = []
    for line in agent_log.splitlines():
        if "event=rolling_host" in line:
            h = line.split("host=")[1].split()[0]
            if h not in out:
                out.append(h)
    return out


def start_stack(st):
    k = st.start_kafka(partitions=16)  # one partition per pool: see the WRONG_POOL note in docs/patching.md
    sims = [st.start_sim(vms=24, hosts=3, seed=61 + i) for i in range(3)]
    sims.append(st.start_sim(vms=24, hosts=3, seed=64,
                             extra=("--family", "xenserver", "--product-version", "7.1.0")))
    for s in sims:
        s.post("/sim/config?host_shutdown_delay_s=0.3&host_down_s=1.5")
    keys = st.path("keys")
    subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                   capture_output=True)
    users = st.path("users")
    for email, perm, pw in (("admin@admin.net", "admin", "admin"),
                            (VIEWER[0], "viewer", VIEWER[1])):
        subprocess.run([harness.binary("xo-gateway"), "useradd", "--users", users, "--email",
                        email, "--permission", perm], input=pw.encode(), check=True,
                       capture_output=True)
    cat = st.spawn("catalog", [sys.executable, os.path.join(harness.src_dir(), "tests", "e2e",
                                                           "catalog_server.py"),
                               "--dir", st.path("www"), "--cert-dir", st.path("tls"),
                               "--demo", "7.1.0"])
    base = cat.wait_line(lambda l: l.startswith("listening: ")).split(" ", 1)[1].strip()
    ca = cat.wait_line(lambda l: l.startswith("ca: ")).split(" ", 1)[1].strip()
    cat.wait_line(lambda l: l == "ready")
    agent_extra = {
        "commands": {"public_keys": os.path.join(keys, "gateway.pub"), "max_expiry_ms": "600000"},
        "patches": {"busy_retry_ms": "300", "reboot_timeout_s": "120",
                    "catalog_url": base + "/updates.xml", "ca_file": ca},
    }
    agents = [st.start_agent(s, k, extra=agent_extra, name=f"agent{i}") for i, s in enumerate(sims)]
    gw_extra = {"users": {"file": users},
                "commands": {"private_key": os.path.join(keys, "gateway.key"),
                             "timeout_ms": str(TIMEOUT_MS)}}
    gw = st.start_gateway(k, extra=gw_extra)
    for ag in agents:
        wait_consuming(ag)
    g.wait_synced(gw, [s.pool_uuid for s in sims])
    return k, sims, agents, gw, gw_extra, agent_extra


def in_thread(fn):
    box = {}
    th = threading.Thread(target=lambda: box.update(r=fn()))
    th.start()
    return th, box


def plain(gw, sim, ag):
    running, boots = prepare(sim), boot_times(sim)
    got = call(gw, "pool.rollingUpdate", {"pool": sim.pool_uuid})
    assert got.get("result") is True, got
    order = rolling_hosts(ag.log_text())
    assert order[0] == master_uuid(sim) and len(order) == 3, order
    check_done(gw, sim, running, boots, "plain")
    print(f"plain: 3 hosts updated and rebooted, the master first; {len(running)} VMs running")


def agent_killed(st, k, gw, sim, ag, agent_extra):
    running, boots = prepare(sim), boot_times(sim)
    sim.post(f"/sim/config?updater_seconds={2 * harness.SCALE:g}")  # the window to kill in
    th, box = in_thread(lambda: call(gw, "pool.rollingUpdate", {"pool": sim.pool_uuid},
                                     timeout=TIMEOUT_MS / 1000 + 60))
    harness.wait_until(lambda: (checkpoint(sim) or {}).get("index") == 1 and
                       checkpoint(sim).get("step") == "evacuated", 60,
                       interval=0.05, what="the second host evacuated")
    ag.kill()
    cp = checkpoint(sim)
    print(f"agent killed at {cp['index']}/{cp['step']}")
    ag2 = st.start_agent(sim, k, extra=agent_extra, name="agent1")
    th.join(TIMEOUT_MS / 1000 + 90)
    assert box.get("r", {}).get("result") is True, box
    assert "event=rolling_resume" in ag2.log_text(), ag2.log_text()[-3000:]
    order = rolling_hosts(ag.log_text() + ag2.log_text())
    assert order[0] == master_uuid(sim) and len(order) == 3, order
    sim.post("/sim/config?updater_seconds=0.3")
    check_done(gw, sim, running, boots, "agent killed")
    print("agent killed mid second host: resumed by the next agent, each host rebooted once, "
          "the client's call answered true")
    return ag2


def rest_post(url):
    req = urllib.request.Request(url, method="POST", data=b"", headers=g.basic(*g.ADMIN))
    with urllib.request.urlopen(req, timeout=30 * harness.SCALE) as r:
        return r.status, json.loads(r.read())


def gateway_restarted(st, k, gw, gw_extra, sim):
    """Started through REST (202 and a task id), the gateway restarted in the middle."""
    running, boots = prepare(sim), boot_times(sim)
    status, body = rest_post(f"{gw.url}/rest/v0/pools/{sim.pool_uuid}/actions/rolling_update")
    assert status == 202 and body.get("taskId"), (status, body)
    harness.wait_until(lambda: (checkpoint(sim) or {}).get("index", 0) >= 1, 60,
                       interval=0.05, what="the first host done")
    command = checkpoint(sim)["command"]
    assert command == body["taskId"], (command, body)
    assert gw.proc.stop() == 0
    gw2 = st.start_gateway(k, extra=gw_extra, name="gateway2", port=gw.port)
    g.wait_synced(gw2, [sim.pool_uuid])
    harness.wait_until(lambda: checkpoint(sim) is None, 120, interval=0.2,
                       what="the rolling update's end")
    check_done(gw2, sim, running, boots, "gateway restarted")
    states = [json.loads(v)["state"] for key, v, _ in harness.kcat_read(k.bootstrap, "xo.results")
              if key == command and v]
    assert states[0] == "accepted" and states[-1] == "success", states
    assert states.count("success") == 1 and "failure" not in states, states
    print("gateway restarted mid update: the agent went on to the end, each host rebooted once")
    return gw2


def xenserver(gw, sim):
    """XenServer: the catalogue's patches pool-wide first, then each host rebooted."""
    running, boots = prepare(sim), boot_times(sim)
    before = {h: call(gw, "pool.listMissingPatches", {"host": h}).get("result") for h in boots}
    assert all(len(v) == 2 for v in before.values()), before
    got = call(gw, "pool.rollingUpdate", {"pool": sim.pool_uuid})
    assert got.get("result") is True, got
    t = sim.truth()
    for rec in t["pool_update"].values():
        assert sorted(rec["hosts"]) == sorted(t["host"]), rec
    assert all(not h["updates_requiring_reboot"] for h in t["host"].values())
    assert [v for v in t["vdi"].values() if v.get("name_label") == "[XO] Patch ISO"] == []
    check_done(gw, sim, running, boots, "xenserver")
    print("xenserver: 2 catalogue patches applied pool-wide, then 3 hosts rebooted in turn; "
          "no reboot pending, no temporary VDI")


def main():
    t0 = time.monotonic()
    with harness.Stack() as st:
        k, sims, agents, gw, gw_extra, agent_extra = start_stack(st)
        plain(gw, sims[0], agents[0])
        agents[1] = agent_killed(st, k, gw, sims[1], agents[1], agent_extra)
        gw = gateway_restarted(st, k, gw, gw_extra, sims[2])
        xenserver(gw, sims[3])
        for ag in agents:
            assert ag.stop() == 0, ag.log_text()[-2000:]
        assert gw.proc.stop() == 0, gw.proc.log_text()[-3000:]
    print(f"PASS ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
