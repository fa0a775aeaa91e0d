"""The fan-out shares the service thread fairly (transport/write_turns.c): while 400
signed-in clients are fed 1,000 changes/s with no event batching (each change its own
notification to every client: more than the gateway can write, so every client falls
behind and the writes of a service pass are cut by its budget), every client still ends
with every VM's last label (nobody starved, nothing lost, none dropped, no message
corrupted), /healthz and new clients' sign-ins are all answered meanwhile, and - a speed
assertion, normal build only (harness.CHECK_SPEED) - the median /healthz within 80 ms and
the median sign-in (connect, WebSocket handshake, session.signIn: two more round trips
through the service loop) within 180 ms. Measured here: 23 and 52 ms at load average 4 to
5 on 2 cores, 13 to 30 and 32 to 57 ms beside a CI run (load 3 to 8); on the branch
point, where one service pass wrote to every client before the next request was read, 108
and 269 ms. The issue's target is 50 ms; the margins are for a loaded CI machine, and
either bound still fails the branch point. The tails on such a machine are the CPU's (the
service thread runnable but waiting for a core) and are not asserted: see
docs/benchmarks.md.
Drives tests/bench/bench_gateway_latency.py (one row)."""
import json
import os
import subprocess
import sys
import unittest

import harness

CLIENTS = 400
HEALTHZ_P50_MS = 80
SIGNIN_P50_MS = 180


class GatewayFanFair(unittest.TestCase):
    def test_clients_fed_fairly_while_http_is_answered(self):
        out = os.path.join(harness.BUILD, "fanfair-rows.json")
        bench = os.path.join(harness.src_dir(), "tests", "bench", "bench_gateway_latency.py")
        r = subprocess.run([sys.executable, bench, "--clients", str(CLIENTS), "--batch-ms", "0",
                            "--seconds", "8", "--json", out],
                           capture_output=True, text=True, timeout=600 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-3000:])
        with open(out) as f:
            row = json.load(f)[0]
        hz, si = row["healthz"], row["signin"]
        print(f"fan-out: {CLIENTS} clients, {row['raw_samples']} labels received, "
              f"p50={row['p50']:.1f} ms, final labels missing={row['final_missing']} of "
              f"{row['final_vms']} VMs x clients, drain={row['drain_s']:.1f} s, "
              f"closed={row['closed']}, corrupt={row['corrupt']}; /healthz p50/p99/max "
              f"{hz['p50']}/{hz['p99']}/{hz['max']} ms ({hz['samples']} samples); sign-in "
              f"p50/p99/max {si['p50']}/{si['p99']}/{si['max']} ms ({si['samples']} samples)")
        self.assertEqual(row["corrupt"], 0, row.get("corrupt_sample"))
        self.assertEqual(row["closed"], 0)
        self.assertGreater(row["final_vms"], 0)
        self.assertEqual(row["final_missing"], 0, "a client never got some VM's last label")
        self.assertEqual(hz["errors"], 0, "/healthz went unanswered")
        self.assertEqual(si["errors"], 0, "a sign-in went unanswered")
        self.assertGreater(hz["samples"], 0)
        self.assertGreater(si["samples"], 0)
        if harness.CHECK_SPEED:
            self.assertLess(hz["p50"], HEALTHZ_P50_MS)
            self.assertLess(si["p50"], SIGNIN_P50_MS)


if __name__ == "__main__":
    unittest.main(verbosity=2)
