"""Bench: many pools, each with its own agent process, on one machine.

Simulated pools are served by tests/bench/multi_sim.py (several small pools per Python
process); every pool gets its own xo-agent process, as on a real estate; one xo-kafka-dev
and xo-gateway. Measures:
  - time until the gateway shows every pool synced with a live agent;
  - agent RSS idle, and under churn (mean and max over all agents);
  - gateway cold start: a second gateway started on the loaded topics, start -> view loaded
    -> every pool synced; its RSS, and RSS per pool and per object above an empty gateway;
  - notification latency while every pool churns (the gateway's own histogram: the
    agent's record timestamp -> the `all` notification queued to a signed-in xo-lib client),
    changes per second, and whether the gateway kept up (lag at the end);
  - Kafka partitions needed: pools per partition for several counts (from the real pool
    uuids and the contract's partition function) and xo.objects bytes per partition.
Default: a short run (20 pools); --full: 500 pools and 500 agents (docs/benchmarks.md).
Usage: python3 tests/bench/bench_many_pools.py [--full] [--pools N] [--vms V] ...
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import gw_harness as g  # noqa: E402
import harness  # noqa: E402
from bench_common import cpu_s  # noqa: E402  (beside this script)

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class SimPool:
    """What Stack.start_agent needs of a simulator: its URL and pool uuid."""

    def __init__(self, uuid, url):
        self.pool_uuid = uuid
        self.url = url
        self.fingerprint = None


def start_sims(st, pools, per_sim, vms, hosts):
    out, procs = [], []
    for first in range(0, pools, per_sim):
        n = min(per_sim, pools - first)
        p = st.spawn("sims", [sys.executable, os.path.join(HERE, "multi_sim.py"), "--pools", str(n),
                              "--first-seed", str(10000 + first), "--vms", str(vms),
                              "--hosts", str(hosts)])
        procs.append(p)
    for p in procs:
        p.wait_line(lambda l: l == "ready", timeout=300)
        for line in p.lines:
            if line.startswith("pool: "):
                _, uuid, url = line.split()
                out.append(SimPool(uuid, url))
    return out, procs


def healthz(gw):
    return json.loads(g.http_get(gw.url + "/healthz", timeout=30)[1])


def wait_all_synced(gw, uuids, timeout):
    want = set(uuids)

    def ok():
        h = healthz(gw)
        good = {p["uuid"] for p in h["pools"] if p["synced"] and p["agent"]
                and p["agent"]["state"] == "live"}
        return h if want <= good and h["lag"] == 0 else None
    return harness.wait_until(ok, timeout, interval=1.0, what=f"{len(want)} pools synced and live")


def histogram(gw):
    body = g.http_get(gw.url + "/metrics", timeout=30)[1].decode()
    buckets = [(float("inf") if m.group(1) == "+Inf" else float(m.group(1)), int(m.group(2)))
               for m in re.finditer(r'xo_gateway_notification_latency_seconds_bucket\{le="([^"]+)"\} (\d+)', body)]
    count = int(re.search(r"xo_gateway_notification_latency_seconds_count (\d+)", body).group(1))
    return buckets, count


def quantile(before, after, q):
    """Upper bound of the bucket holding quantile q of the observations between two reads."""
    delta = [(le, a - b) for (le, a), (_, b) in zip(after, before)]
    total = delta[-1][1]
    if total <= 0:
        return None
    for le, c in delta:
        if c >= q * total:
            return le
    return float("inf")


def cpu_by_role(roles):
    """{role: CPU seconds} for {role: [Proc]}."""
    return {r: sum(cpu_s(p.p.pid) for p in procs) for r, procs in roles.items()}


def cpu_row(row, what, before, after, seconds):
    share = ", ".join(f"{r} {(after[r] - before[r]) / seconds:.2f}" for r in after)
    row(f"CPU {what} (cores: busy seconds per second)", share)


def post(url):
    req = urllib.request.Request(url, method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def agent_rss(agents):
    v = [rss_kb(a.p.pid) / 1024 for a in agents if a.alive()]
    return (sum(v) / len(v), max(v)) if v else (0, 0)


def murmur2(data):
    m, seed = 0x5bd1e995, 0x9747b28c
    h = (seed ^ len(data)) & 0xffffffff
    n = len(data) & ~3
    for i in range(0, n, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xffffffff
        k ^= k >> 24
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    rest = len(data) & 3
    if rest == 3:
        h ^= data[n + 2] << 16
    if rest >= 2:
        h ^= data[n + 1] << 8
    if rest >= 1:
        h ^= data[n]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h


def partition(uuid, count):
    return (murmur2(uuid.encode()) & 0x7fffffff) % count


def bytes_per_partition(k, topic):
    out = subprocess.run(["kcat", "-C", "-b", k.bootstrap, "-t", topic, "-o", "beginning", "-e",
                          "-q", "-f", "%p %S\n"], capture_output=True, timeout=600,
                         check=True).stdout.decode()
    per = collections.Counter()
    for line in out.splitlines():
        p, size = line.split()
        per[int(p)] += max(0, int(size))
    return per


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the issue's run: 500 pools, 60 s churn")
    ap.add_argument("--pools", type=int, default=20)
    ap.add_argument("--pools-per-sim", type=int, default=50, help="pools per simulator process")
    ap.add_argument("--vms", type=int, default=4, help="VMs per pool")
    ap.add_argument("--hosts", type=int, default=1, help="hosts per pool")
    ap.add_argument("--partitions", type=int, default=64)
    ap.add_argument("--brokers", type=int, default=3, help="xo-kafka-dev brokers")
    ap.add_argument("--churn-rate", type=float, default=0.5, help="changes per second per pool")
    ap.add_argument("--churn-seconds", type=int, default=20)
    a = ap.parse_args()
    if a.full:
        a.pools, a.churn_seconds = 500, 60
    rows = []

    def row(name, value):
        rows.append((name, value))
        print(f"{name:<48} {value}", flush=True)

    with harness.Stack(allow_kafka_truncation=False) as st:
        k = st.start_kafka(brokers=a.brokers, partitions=a.partitions)
        gw = st.start_gateway(k, name="gateway")
        g.wait_loaded(gw)
        time.sleep(0.5)
        base_rss = rss_kb(gw.proc.p.pid) / 1024
        row("gateway RSS, empty view (MiB)", f"{base_rss:.1f}")

        t0 = time.monotonic()
        sims, sim_procs = start_sims(st, a.pools, a.pools_per_sim, a.vms, a.hosts)
        row("simulator processes / pools", f"{len(sim_procs)} / {len(sims)}")
        row("simulated pools started (s)", f"{time.monotonic() - t0:.1f}")
        t0 = time.monotonic()
        agents = [st.start_agent(s, k, name=f"agent{i:03d}") for i, s in enumerate(sims)]
        h = wait_all_synced(gw, [s.pool_uuid for s in sims], timeout=120 + a.pools)
        row("agents started -> every pool synced, live (s)", f"{time.monotonic() - t0:.1f}")
        objects = h["objects"]
        row("objects in the view", f"{objects} ({objects / len(sims):.0f} per pool)")
        roles = {"agents": agents, "gateway": [gw.proc], "simulators": sim_procs,
                 "kafka-dev": [k.proc]}
        c0 = cpu_by_role(roles)
        time.sleep(10)
        cpu_row(row, "idle, 10 s", c0, cpu_by_role(roles), 10)
        mean, mx = agent_rss(agents)
        row("agent RSS idle, mean / max (MiB)", f"{mean:.1f} / {mx:.1f}")
        row("agent RSS idle, all agents (MiB)", f"{mean * len(agents):.0f}")
        row("simulator RSS, all processes (MiB)",
            f"{sum(rss_kb(p.p.pid) for p in sim_procs) / 1024:.0f}")
        row("xo-kafka-dev RSS (MiB)", f"{rss_kb(k.proc.p.pid) / 1024:.0f}")

        # gateway cold start on the loaded topics
        t0 = time.monotonic()
        gw2 = st.start_gateway(k, name="gateway-cold")
        g.wait_loaded(gw2, timeout=600)
        loaded_s = time.monotonic() - t0
        wait_all_synced(gw2, [s.pool_uuid for s in sims], timeout=600)
        synced_s = time.monotonic() - t0
        time.sleep(1)
        rss2 = rss_kb(gw2.proc.p.pid) / 1024
        records = healthz(gw2)["records"]
        row("gateway cold start: view loaded (s)", f"{loaded_s:.2f} ({records} records)")
        row("gateway cold start: every pool synced (s)", f"{synced_s:.2f}")
        row("gateway RSS loaded (MiB)", f"{rss2:.1f}")
        row("gateway RSS per pool (KiB)", f"{(rss2 - base_rss) * 1024 / len(sims):.1f}")
        row("gateway RSS per object (bytes)", f"{(rss2 - base_rss) * 1048576 / max(1, objects):.0f}")
        gw2.proc.stop()

        # every pool churning, a signed-in xo-lib client following `all`
        f = g.Follower(gw.url)
        try:
            before, n0 = histogram(gw)
            per_pool = max(1, int(a.churn_rate * a.churn_seconds))
            c0 = cpu_by_role(roles)
            t0 = time.monotonic()
            for s in sims:
                post(f"{s.url}sim/churn?n={per_pool}&rate={a.churn_rate}&async=1")
            rss_samples = []
            while time.monotonic() - t0 < a.churn_seconds:
                time.sleep(min(5, a.churn_seconds / 3))
                rss_samples.append(agent_rss(agents))
            cpu_row(row, f"churning, {a.churn_seconds} s", c0, cpu_by_role(roles),
                    time.monotonic() - t0)
            h = wait_all_synced(gw, [s.pool_uuid for s in sims], timeout=300)
            drain_s = time.monotonic() - t0 - a.churn_seconds
            after, n1 = histogram(gw)
        finally:
            f.close()
        row("churn: changes asked (all pools)", f"{per_pool * len(sims)} at "
            f"{a.churn_rate * len(sims):.0f}/s for {a.churn_seconds} s")
        row("churn: notifications observed", f"{n1 - n0} ({(n1 - n0) / a.churn_seconds:.0f}/s)")
        row("churn: latency p50 / p90 / p99 (s, bucket bound)",
            " / ".join(f"{quantile(before, after, q)}" for q in (0.5, 0.9, 0.99)))
        row("churn: caught up after the end (s)", f"{max(0.0, drain_s):.1f}, lag {h['lag']}")
        row("agent RSS under churn, mean / max (MiB)",
            f"{max(m for m, _ in rss_samples):.1f} / {max(x for _, x in rss_samples):.1f}")
        row("gateway RSS after churn (MiB)", f"{rss_kb(gw.proc.p.pid) / 1024:.1f}")

        # Kafka partitions needed
        uuids = [s.pool_uuid for s in sims]
        for count in (6, 12, 24, 48, 64, 128):
            per = collections.Counter(partition(u, count) for u in uuids)
            row(f"partitions {count:>3}: pools per partition max / mean",
                f"{max(per.values())} / {len(uuids) / count:.1f}")
        per_bytes = bytes_per_partition(k, "xo.objects")
        row(f"xo.objects bytes per partition ({a.partitions}) max / mean (KiB)",
            f"{max(per_bytes.values()) / 1024:.0f} / {sum(per_bytes.values()) / a.partitions / 1024:.0f}")
    print(json.dumps(dict(rows)))


if __name__ == "__main__":
    import bench_common  # beside this script: errors as one line, never a traceback

    bench_common.run_main(main)
