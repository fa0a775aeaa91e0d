"""Bench: cold start of xo-gateway on N object records (default 1,000,000) produced
synthetically in the contract's format by xo-synth into xo-kafka-dev.
Prints: records, produce time, gateway load time (consumer start -> every partition at
its end, from the gateway's own view_loaded log line and /healthz), the gateway's CPU time
until loaded (steadier than wall time on a shared machine), RSS after load, RSS
of an idle gateway with an empty view, and bytes of RSS per object.
Usage: python3 tests/bench/bench_gateway_load.py [--objects N] [--pools P]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import gw_harness as g  # noqa: E402
import harness  # noqa: E402


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--pools", type=int, default=128)
    ap.add_argument("--partitions", type=int, default=128)
    a = ap.parse_args()
    with harness.Stack() as st:
        # xo-kafka-dev (librdkafka mock) keeps a bounded log per partition: spread the
        # records over many partitions so that none is trimmed before the gateway reads it.
        k = st.start_kafka(brokers=1, partitions=a.partitions)
        # baseline: a gateway on empty topics
        gw0 = st.start_gateway(k, name="gateway-empty")
        g.wait_loaded(gw0)
        time.sleep(0.5)
        base_rss = rss_kb(gw0.proc.p.pid)
        gw0.proc.stop()

        t0 = time.monotonic()
        out = subprocess.run([harness.binary("xo-synth"), "--bootstrap", k.bootstrap, "--pools",
                              str(a.pools), "--objects", str(a.objects)],
                             capture_output=True, check=True, timeout=1800).stdout.decode()
        produce_s = time.monotonic() - t0
        records = int(re.search(r"records: (\d+)", out).group(1))

        t0 = time.monotonic()
        gw = st.start_gateway(k, name="gateway-1m")
        g.wait_loaded(gw, timeout=1200)
        wall_s = time.monotonic() - t0
        load_cpu_s = cpu_s(gw.proc.p.pid)
        log = gw.proc.log_text()
        m = re.search(r"event=view_loaded objects=(\d+) .* ms=(\d+) bytes=(\d+) table_bytes=(\d+)", log)
        objects, load_ms, view_bytes, table_bytes = (int(x) for x in m.groups())
        time.sleep(1.0)  # let the last settle finish
        rss = rss_kb(gw.proc.p.pid)
        st_, body, _ = g.http_get(gw.url + "/healthz")
        h = json.loads(body)
        # one getAllObjects of everything, timed (the answer is ~1 GB of JSON: skipped when big)
        print(f"records produced           {records} in {produce_s:.1f} s "
              f"({records / produce_s:,.0f}/s, xo-synth -> xo-kafka-dev)")
        print(f"gateway cold start         {load_ms / 1000:.2f} s to load {objects} objects "
              f"({objects / (load_ms / 1000):,.0f} records/s); start to /healthz loaded: {wall_s:.2f} s")
        print(f"gateway CPU                {load_cpu_s:.2f} s user+system until loaded "
              f"({objects / max(load_cpu_s, 0.01):,.0f} records per CPU second)")
        print(f"gateway RSS                {rss / 1024:.0f} MiB loaded, {base_rss / 1024:.0f} MiB empty")
        print(f"RSS per object             {(rss - base_rss) * 1024 / objects:.0f} bytes "
              f"(view strings {view_bytes / objects:.0f} B + structs/tables {table_bytes / objects:.0f} B per object)")
        print(f"healthz                    lag={h['lag']} malformed={h['malformed']} pools={len(h['pools'])}")


if __name__ == "__main__":
    main()
