#!/usr/bin/env python3
"""bench_patch: installing one XenServer patch (update system) through xo-agent, whose
download -> unzip -> upload is one stream, against the sequential way (download the zip to a
file, unzip the ISO to a file, upload the file), for a 20 MiB and a 200 MiB patch.

Every transfer uses libcurl (the agent, and the curl CLI for the others) against the same
loopback servers: the HTTPS catalogue (tests/e2e/catalog_server.py) and the XAPI
simulator's /import_raw_vdi. Reported per size: download alone, upload alone, sequential,
pipelined (the agent's stream: from its patch_install log line to its uploaded line), the
ratio pipelined / the slower of download and upload alone (target <= 1.1), and the agent's
peak RSS (VmHWM; a fresh agent per size, so the two peaks compare).

    bench_patch.py [--sizes 5,20] [--repeat 1]   a short run
    bench_patch.py --full                         20 and 200 MiB, 3 runs each (the figures
                                                  of docs/benchmarks.md)

Each figure is the median of the runs; the ratio is the median of each run's ratio.
"""
import argparse
import io
import json
import os
import random
import re
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import gw_harness as g  # noqa: E402
import bench_common  # noqa: E402
import harness  # noqa: E402
from test_agent_commands import wait_consuming  # noqa: E402
from test_patch_list import Xapi, call, uid  # noqa: E402


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_zip(path, uuid, name, mib):
    """A zip holding <name>.iso: the simulator's update header, then incompressible bytes
    (written to a seekable file, so its local header carries the sizes)."""
    rnd = random.Random(mib)
    head = b"XOSIMUPDATE\n" + json.dumps({"uuid": uuid, "name_label": name}).encode() + b"\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open(f"{name}.iso", "w", force_zip64=False) as f:
            f.write(head)
            left = (mib << 20) - len(head)
            while left > 0:
                n = min(left, 4 << 20)
                f.write(rnd.randbytes(n))
                left -= n
    return mib << 20


def curl(*args):
    t = time.monotonic()
    subprocess.run(["curl", "-sS", "--fail", *args], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t


def new_vdi(x, sim, size):
    t = sim.truth()
    sr = next(ref for ref, r in t["sr"].items() if r.get("shared") and r.get("content_type") != "iso")
    return x.ok("VDI.create", {"name_label": "bench", "name_description": "", "SR": sr,
                               "virtual_size": str(size), "type": "user", "sharable": False,
                               "read_only": False, "other_config": {}, "xenstore_data": {},
                               "sm_config": {}, "tags": []})


def upload_url(sim, x, vdi):
    return f"{sim.url.rstrip('/')}/import_raw_vdi?format=raw&vdi={vdi}&session_id={x.sid}"


def log_ts(line):
    m = re.match(r"ts=(\S+)", line)
    return time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) + \
        float("0." + m.group(1)[20:23])


def pipelined_seconds(agent_log, cmd_marker="event=patch_install"):
    lines = agent_log.splitlines()
    start = next(l for l in lines if cmd_marker in l)
    end = next(l for l in lines if "event=uploaded" in l)
    return log_ts(end) - log_ts(start)


def run_size(st, k, sim, gw, keys, www, base, ca, mib, rep):
    """One run for one size: a patch of its own (an installed one would be a no-op)."""
    x = Xapi(sim)
    uuid, name = uid(0xbe0000 + mib * 64 + rep), f"XS71EB{mib:03d}R{rep}"
    zpath = os.path.join(www, f"{name}.zip")
    size = make_zip(zpath, uuid, name, mib)
    with open(os.path.join(www, "updates.xml"), "w") as f:
        f.write(f'<patchdata><patches><patch uuid="{uuid}" name-label="{name}" '
                f'patch-url="{base}/{name}.zip"/></patches><serverversions>'
                f'<version value="7.1.0"><patch uuid="{uuid}"/></version>'
                f'</serverversions></patchdata>')
    tmp = st.path(f"seq-{mib}-{rep}")
    os.makedirs(tmp)
    # download alone, upload alone (the ISO from the page cache), then the sequential way
    dl = curl("--cacert", ca, "-o", "/dev/null", f"{base}/{name}.zip")
    with zipfile.ZipFile(zpath) as z:
        z.extract(f"{name}.iso", tmp)
    iso = os.path.join(tmp, f"{name}.iso")
    vdi = new_vdi(x, sim, size)
    up = curl("-T", iso, "-H", "Expect:", upload_url(sim, x, vdi))
    x.ok("VDI.destroy", vdi)
    os.remove(iso)
    t0 = time.monotonic()
    curl("--cacert", ca, "-o", os.path.join(tmp, "p.zip"), f"{base}/{name}.zip")
    with zipfile.ZipFile(os.path.join(tmp, "p.zip")) as z:
        z.extract(f"{name}.iso", tmp)
    vdi = new_vdi(x, sim, size)
    curl("-T", iso, "-H", "Expect:", upload_url(sim, x, vdi))
    seq = time.monotonic() - t0
    x.ok("VDI.destroy", vdi)
    for fn in os.listdir(tmp):
        os.remove(os.path.join(tmp, fn))
    # pipelined: a fresh agent, so that its peak RSS is this size's
    ag = st.start_agent(sim, k, name=f"agent-{mib}-{rep}", extra={
        "commands": {"public_keys": os.path.join(keys, "gateway.pub"), "max_expiry_ms": "600000"},
        "patches": {"catalog_url": base + "/updates.xml", "ca_file": ca}})
    wait_consuming(ag)
    g.wait_synced(gw, [sim.pool_uuid])
    got = call(gw, "pool.installPatches", {"pool": sim.pool_uuid, "patches": [uuid]})
    assert got.get("result") is True, got
    pipe = pipelined_seconds(ag.log_text())
    hwm = vm_hwm_mib(ag.p.pid)
    assert ag.stop() == 0
    os.remove(zpath)
    return {"mib": mib, "download": dl, "upload": up, "sequential": seq, "pipelined": pipe,
            "ratio": pipe / max(dl, up), "hwm_mib": hwm}


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def summarize(mib, runs):
    keys = ("download", "upload", "sequential", "pipelined", "ratio", "hwm_mib")
    return {"mib": mib, "runs": len(runs), **{k: median([r[k] for r in runs]) for k in keys}}


def bench(a):
    bench_common.require("xo-gateway", "xo-agent", "xo-kafka-dev")  # a clear error first
    g.ensure_node_modules()
    rows = []
    with harness.Stack() as st:
        k = st.start_kafka()
        sim = st.start_sim(vms=2, hosts=1, seed=5,
                           extra=("--family", "xenserver", "--product-version", "7.1.0"))
        sim.post("/sim/config?raw_budget_mb=1024")
        keys = st.path("keys")
        subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                       capture_output=True)
        users = st.path("users")
        subprocess.run([harness.binary("xo-gateway"), "useradd", "--users", users, "--email",
                        "admin@admin.net", "--permission", "admin"], input=b"admin",
                       check=True, capture_output=True)
        www = st.path("www")
        os.makedirs(www)
        cat = st.spawn("catalog", [sys.executable, os.path.join(
            harness.src_dir(), "tests", "e2e", "catalog_server.py"), "--dir", www,
            "--cert-dir", st.path("tls")])
        base = cat.wait_line(lambda l: l.startswith("listening: ")).split(" ", 1)[1].strip()
        ca = cat.wait_line(lambda l: l.startswith("ca: ")).split(" ", 1)[1].strip()
        gw = st.start_gateway(k, agent_pools=(sim.pool_uuid,), extra={  # agents start later
            "users": {"file": users}, "commands": {
                "private_key": os.path.join(keys, "gateway.key"), "timeout_ms": "600000"}})
        for mib in a.sizes:
            runs = [run_size(st, k, sim, gw, keys, www, base, ca, mib, rep)
                    for rep in range(a.repeat)]
            rows.append(summarize(mib, runs))
    return rows


def sizes(text):
    try:
        out = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes are MiB integers, comma-separated")
    if not out or any(m < 1 or m > 4096 for m in out):
        raise argparse.ArgumentTypeError(f"{text!r}: each size between 1 and 4096 MiB")
    return out


def main():
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--sizes", type=sizes, default=[5, 20], help="patch sizes in MiB (5,20)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size (1); medians shown")
    ap.add_argument("--full", action="store_true",
                    help="the figures' run: 20 and 200 MiB, 3 runs each")
    a = ap.parse_args()
    if a.full:
        a.sizes, a.repeat = [20, 200], 3
    if a.repeat < 1:
        ap.error("--repeat: at least 1")
    try:
        rows = bench(a)
    except (OSError, subprocess.CalledProcessError, AssertionError, TimeoutError,
            bench_common.BenchError) as e:
        sys.exit(f"bench_patch: failed: {e}")
    print("\nbench_patch: one XenServer update-system patch, loopback, seconds "
          "(medians of each size's runs)")
    print("| patch | runs | download alone | upload alone | sequential | pipelined | "
          "pipelined / slower alone | agent peak RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mib']} MiB | {r['runs']} | {r['download']:.2f} | {r['upload']:.2f} | "
              f"{r['sequential']:.2f} | {r['pipelined']:.2f} | {r['ratio']:.2f}x | "
              f"{r['hwm_mib']:.1f} MiB |")
    if len(rows) > 1:
        lo, hi = rows[0], rows[-1]
        print(f"peak RSS {hi['mib']} MiB / {lo['mib']} MiB: {hi['hwm_mib'] / lo['hwm_mib']:.2f}x; "
              f"pipelined / sequential at {hi['mib']} MiB: "
              f"{hi['pipelined'] / hi['sequential']:.2f}x")


if __name__ == "__main__":
    main()
