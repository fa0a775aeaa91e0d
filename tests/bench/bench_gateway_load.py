#!/usr/bin/env python3
"""bench_gateway_load: cold start of xo-gateway on N object records produced synthetically
in the contract's format by xo-synth into xo-kafka-dev, beside its baseline: a plain C
consumer (baseline_json_consume) reading the same records from the same broker and parsing
each with json-c, building nothing. Baseline and gateway run back to back, --repeat times,
medians compared (ratios from one run count; the machine is shared and noisy).

Prints: records and produce time; per figure the gateway, the baseline and their ratio:
load time (consumer start -> every partition at its end, from the gateway's view_loaded
log line), CPU time until loaded (user+system, steadier than wall time), RSS after load
against an idle gateway with an empty view, bytes of RSS per object; and the targets.

With --vs-gateway PATH (another build's xo-gateway, e.g. main's), that gateway starts too,
beside this build's in every round (the two alternating which goes first), on the same records: a second set of rows, its
ratios to the same baseline, and this build's figures against it; --same-objects then
also compares both views object by object (xo-lib's getAllObjects, byte-equal JSON).

Default (short): --objects 200000 --repeat 1. The full run: --full (1,000,000 records,
--repeat 3). Needs: cmake --build BUILD --target benches."""
import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import bench_common as bc  # noqa: E402
import gw_harness as g  # noqa: E402
import harness  # noqa: E402

TARGET_RATIO = 1.5
TARGET_FULL_S = 10.0
TARGET_BYTES_PER_OBJECT = 1024


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    """User + system CPU seconds of a process: steadier than wall time on a shared machine."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_baseline(path, bootstrap):
    """(seconds, CPU seconds, records) of one baseline pass over the whole topic."""
    r = subprocess.run([path, "--bootstrap", bootstrap, "--topic", "xo.objects"],
                       capture_output=True, timeout=1800)
    out = r.stdout.decode()
    m = re.search(r"records=(\d+) parsed=(\d+) bytes=(\d+) ms=(\d+) cpu_s=([\d.]+)", out)
    if r.returncode != 0 or not m:
        raise bc.BenchError(f"baseline_json_consume failed: {r.stderr.decode().strip()}")
    return int(m.group(4)) / 1000, float(m.group(5)), int(m.group(1)), int(m.group(3))


def run_gateway(st, k, name, program=None):
    """One cold start; returns its figures and the running gateway (caller stops it)."""
    with open("/proc/loadavg") as f:
        loadavg = float(f.read().split()[0])
    t0 = time.monotonic()
    gw = st.start_gateway(k, name=name, program=program)
    g.wait_loaded(gw, timeout=1200)
    wall_s = time.monotonic() - t0
    load_cpu = cpu_s(gw.proc.p.pid)
    m = re.search(r"event=view_loaded objects=(\d+) .* ms=(\d+) bytes=(\d+) table_bytes=(\d+)",
                  gw.proc.log_text())
    if not m:
        raise bc.BenchError(f"{name}: no view_loaded line in its log")
    objects, load_ms, view_bytes, table_bytes = (int(x) for x in m.groups())
    r = re.search(r"event=view_loaded .* remaps=(\d+)", gw.proc.log_text())
    return {"wall_s": wall_s, "load_s": load_ms / 1000, "cpu_s": load_cpu, "objects": objects,
            "loadavg": loadavg,
            "view_bytes": view_bytes, "table_bytes": table_bytes,
            "remaps": int(r.group(1)) if r else None}, gw


def cold_start(st, k, name, program, last_round, fetch_all=False):
    """One gateway's cold start; in the last round also its RSS and /healthz once loaded
    (and, with fetch_all, every object as xo-lib's getAllObjects answers)."""
    fig, gw = run_gateway(st, k, name, program)
    if last_round:
        time.sleep(1.0)  # let the last settle finish
        fig["rss_kb"] = rss_kb(gw.proc.p.pid)
        st_, body, _ = g.http_get(gw.url + "/healthz")
        fig["healthz"] = json.loads(body)
        if fetch_all:
            fig["all"] = g.get_all(gw.url)
    gw.proc.stop()
    return fig


def measure(a, st, k, paths):
    """Baseline and gateway(s) back to back, a.repeat times: {label: [figures per round]}."""
    base, gws = [], {"gateway": []}
    if a.vs_gateway:
        gws["vs"] = []
    for i in range(a.repeat):
        base.append(run_baseline(paths["baseline_json_consume"], k.bootstrap))
        order = list(gws) if i % 2 == 0 else list(reversed(gws))  # alternate who goes first
        for label in order:
            program = a.vs_gateway if label == "vs" else None
            gws[label].append(cold_start(st, k, f"{label}-{i}", program, i == a.repeat - 1,
                                         a.same_objects))
    return base, gws


def print_rows(a, title, base, gws, base_rss):
    """One gateway's rows against the baseline; returns (load s, CPU s, bytes/object)."""
    b_s, b_cpu = bc.median([b[0] for b in base]), bc.median([b[1] for b in base])
    g_s, g_cpu = bc.median([x["load_s"] for x in gws]), bc.median([x["cpu_s"] for x in gws])
    g_wall = bc.median([x["wall_s"] for x in gws])
    last = gws[-1]
    objects = last["objects"]
    per_obj = (last["rss_kb"] - base_rss) * 1024 / objects
    h = last["healthz"]
    print(f"{title:36} {'gateway':>10} {'baseline':>10} {'ratio':>7}  target")
    print(f"{'load: seconds to the end':36} {g_s:10.2f} {b_s:10.2f} {g_s / b_s:6.2f}x  "
          f"<= {TARGET_RATIO}x" + (f", < {TARGET_FULL_S:.0f} s" if a.objects >= 1_000_000 else ""))
    print(f"{'load: CPU seconds (user+system)':36} {g_cpu:10.2f} {b_cpu:10.2f} "
          f"{g_cpu / max(b_cpu, 0.01):6.2f}x")
    print(f"{'load: records/s':36} {objects / g_s:10,.0f} {base[-1][2] / b_s:10,.0f}")
    print(f"{'start to /healthz loaded: seconds':36} {g_wall:10.2f}")
    print(f"{'RSS loaded / empty: MiB':36} {last['rss_kb'] / 1024:10.0f} {base_rss / 1024:10.0f}")
    print(f"{'RSS per object: bytes':36} {per_obj:10.0f} {'':10} {'':7}  <= "
          f"{TARGET_BYTES_PER_OBJECT}")
    print(f"{'  view strings / structs+tables':36} {last['view_bytes'] / objects:10.0f} "
          f"{last['table_bytes'] / objects:10.0f}")
    if len(gws) > 1:  # each round, to see the machine's noise behind the medians
        rounds = ", ".join(f"{x['load_s']:.1f}/{x['cpu_s']:.1f}" for x in gws)
        print(f"{'rounds: load s / CPU s':36} {rounds}")
        print(f"{'  baseline rounds':36} " + ", ".join(f"{b[0]:.1f}/{b[1]:.1f}" for b in base))
        print(f"{'  machine load average at each start':36} "
              + ", ".join(f"{x['loadavg']:.1f}" for x in gws))
    if last["remaps"] is not None:  # builds before the count was logged have none
        print(f"{'objects mapped again (remaps)':36} {last['remaps']:10,}")
    print(f"healthz: lag={h['lag']} malformed={h['malformed']} pools={len(h['pools'])} "
          f"objects={objects}")
    met = [g_s / b_s <= TARGET_RATIO, per_obj <= TARGET_BYTES_PER_OBJECT]
    if a.objects >= 1_000_000:  # xo-synth rounds the count down to whole pools
        met.append(g_s < TARGET_FULL_S)
    print("targets: " + ("met" if all(met) else "missed (see the ratio and target columns)"))
    return g_s, g_cpu, per_obj


def print_table(a, records, produce_s, base, gws, base_rss):
    mb = base[-1][3] / 2**20
    print(f"\nbench_gateway_load: {records} records ({mb:.0f} MiB of JSON) in {a.partitions} "
          f"partitions, {a.pools} pools; produced in {produce_s:.1f} s; median of {a.repeat} "
          "back-to-back run(s)")
    mine = print_rows(a, "this build", base, gws["gateway"], base_rss)
    if "vs" not in gws:
        return
    print()
    other = print_rows(a, f"vs: {a.vs_gateway}"[:36], base, gws["vs"], base_rss)
    print(f"\nthis build / vs: load {mine[0] / other[0]:.2f}x, CPU {mine[1] / other[1]:.2f}x, "
          f"RSS per object {mine[2]:.0f} / {other[2]:.0f} bytes")
    if a.same_objects:
        x, y = gws["gateway"][-1]["all"], gws["vs"][-1]["all"]
        differ = sum(1 for i in x.keys() | y.keys() if x.get(i) != y.get(i))
        print(f"getAllObjects: {len(x)} / {len(y)} objects, "
              + ("identical" if not differ else f"{differ} differ"))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=None, help="records to produce (200000)")
    ap.add_argument("--pools", type=int, default=128, help="pools (128)")
    ap.add_argument("--partitions", type=int, default=128, help="xo.objects partitions (128)")
    ap.add_argument("--repeat", type=int, default=None, help="baseline+gateway runs, median (1)")
    ap.add_argument("--full", action="store_true", help="1,000,000 records, --repeat 3")
    ap.add_argument("--vs-gateway", metavar="PATH", default=None,
                    help="another build's xo-gateway, alternating with this one in every round")
    ap.add_argument("--same-objects", action="store_true",
                    help="with --vs-gateway: compare both views' objects through xo-lib's "
                    "getAllObjects after the last round (runs of up to 300,000 records)")
    a = ap.parse_args()
    a.objects = a.objects or (1_000_000 if a.full else 200_000)
    a.repeat = max(1, a.repeat or (3 if a.full else 1))
    paths = bc.require("xo-synth", "xo-gateway", "xo-kafka-dev", "baseline_json_consume")
    if a.vs_gateway and not os.access(a.vs_gateway, os.X_OK):
        raise bc.BenchError(f"--vs-gateway {a.vs_gateway}: not an executable file")
    if a.same_objects and (not a.vs_gateway or a.objects > 300_000):
        raise bc.BenchError("--same-objects needs --vs-gateway and at most 300,000 records")
    with harness.Stack() as st:
        # xo-kafka-dev (librdkafka mock) keeps a bounded log per partition: spread the
        # records over many partitions so that none is trimmed before the gateway reads it.
        k = st.start_kafka(brokers=1, partitions=a.partitions)
        gw0 = st.start_gateway(k, name="gateway-empty")  # the RSS of an empty view
        g.wait_loaded(gw0)
        time.sleep(0.5)
        base_rss = rss_kb(gw0.proc.p.pid)
        gw0.proc.stop()

        t0 = time.monotonic()
        r = subprocess.run([paths["xo-synth"], "--bootstrap", k.bootstrap, "--pools",
                            str(a.pools), "--objects", str(a.objects)],
                           capture_output=True, timeout=1800)
        produce_s = time.monotonic() - t0
        m = re.search(r"records: (\d+)", r.stdout.decode())
        if r.returncode != 0 or not m:
            raise bc.BenchError(f"xo-synth failed: {r.stderr.decode().strip()}")
        records = int(m.group(1))
        base, gws = measure(a, st, k, paths)
    print_table(a, records, produce_s, base, gws, base_rss)


if __name__ == "__main__":
    bc.run_main(main)
