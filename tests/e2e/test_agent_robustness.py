"""xo-agent's behaviour in front of bad peers and operators: hostile XAPI answers, wrong
credentials, wrong TLS fingerprint, unreachable master, unreachable Kafka, bad config, and
a clean SIGTERM shutdown. Each case checks the exit code or the logs an operator reads."""
import json
import os
import signal
import subprocess
import time
import unittest

import harness
from hostile_xapi import POOL, HostileXapi


class Fake:
    """Stands in for harness.Sim when the XAPI peer is not the simulator."""

    def __init__(self, url, pool_uuid="", fingerprint=None):
        self.url, self.pool_uuid, self.fingerprint = url, pool_uuid, fingerprint


def agent_exit(proc, timeout=30):
    proc.p.wait(timeout * harness.SCALE)
    return proc.p.returncode


class AgentRobustness(unittest.TestCase):
    def test_hostile_xapi_answers_are_survived(self):
        x = HostileXapi().start()
        try:
            with harness.Stack() as st:
                k = st.start_kafka(brokers=1)
                ag = st.start_agent(Fake(x.url, POOL), k,
                                    extra={"xapi": {"backoff_min_ms": "50",
                                                    "backoff_max_ms": "200"}})
                harness.wait_until(lambda: x.step >= 6, 60, what="the whole hostile plan")
                log = ag.log_text()
                self.assertTrue(ag.alive(), log[-2000:])
                for needle in ("event=malformed_event", "event=record_too_large",
                               "event=event_from_failed"):
                    self.assertIn(needle, log)
                folded = harness.wait_until(
                    lambda: (lambda f: f if f"{POOL}/vm/OpaqueRef:vm2" in f and
                             f.get(f"{POOL}/_sync") else None)(
                        harness.kcat_fold(k.bootstrap, "xo.objects")), 30, what="records")
                name = folded[f"{POOL}/vm/OpaqueRef:vm2"]["snapshot"]["name_label"]
                self.assertLess(len(name), 70000)
                self.assertTrue(name.endswith("bytes]") or name == "small", name[-40:])
                self.assertNotIn(f"{POOL}/vm/OpaqueRef:bad", folded)
        finally:
            x.stop()

    def test_bad_credentials_exit_4(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1)
            sim = st.start_sim(vms=5, hosts=1)
            ag = st.start_agent(sim, k, password="wrong")
            self.assertEqual(agent_exit(ag), 4)
            self.assertIn("XAPI refused the credentials", ag.log_text())
            self.assertNotIn("wrong", ag.log_text().replace("wrong_", ""))

    def test_tls_pinned_fingerprint(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1)
            sim = st.start_sim(vms=20, hosts=1, extra=["--tls"])
            self.assertTrue(sim.url.startswith("https://"))
            good = st.start_agent(sim, k, name="good")
            self.assertEqual(harness.wait_equal(k, sim), [])
            good.stop()
            bad = st.start_agent(sim, k, name="bad", extra={"xapi": {"fingerprint": "ab" * 32}})
            self.assertEqual(agent_exit(bad), 5)
            self.assertIn(sim.fingerprint, bad.log_text())  # the actual one, for the operator

    def test_unreachable_master_retries_with_backoff(self):
        port = harness.free_port()
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1)
            ag = st.start_agent(Fake(f"http://127.0.0.1:{port}/"), k,
                                extra={"xapi": {"backoff_min_ms": "200",
                                                "backoff_max_ms": "2000"}})
            time.sleep(6)
            self.assertTrue(ag.alive())
            attempts = ag.log_text().count("event=login_failed")
            self.assertLessEqual(attempts, 12)  # backs off, does not spin
            if harness.CHECK_SPEED:  # a retry by 6 s is a speed; under sanitizers, wait for it
                self.assertGreaterEqual(attempts, 2)
            else:
                harness.wait_until(lambda: ag.log_text().count("event=login_failed") >= 2, 30,
                                   what="a second login attempt")

            def error_beats():
                beats = [json.loads(v) for _, v, _ in harness.kcat_read(k.bootstrap, "xo.agents")
                         if v]
                return any(b["state"] == "error" and "reachable" in b.get("error", "")
                           for b in beats)
            harness.wait_until(error_beats, 30, what="an error heartbeat naming the unreachable host")
            t0 = time.monotonic()
            self.assertEqual(ag.stop(), 0)
            if harness.CHECK_SPEED:  # stop() itself bounds the wait (then SIGKILL: not 0)
                self.assertLess(time.monotonic() - t0, 5 * harness.SCALE)

    def test_kafka_unreachable_at_start(self):
        with harness.Stack() as st:
            sim = st.start_sim(vms=5, hosts=1)
            dead = Fake(sim.url, sim.pool_uuid)
            k = type("K", (), {"bootstrap": f"127.0.0.1:{harness.free_port()}"})()
            ag = st.start_agent(dead, k, extra={"xapi": {"backoff_min_ms": "200",
                                                         "backoff_max_ms": "1000"}})
            harness.wait_until(lambda: "event=kafka_unreachable" in ag.log_text(), 30,
                               what="kafka_unreachable log")
            self.assertTrue(ag.alive())
            self.assertEqual(ag.stop(), 0)
            # With a bound on the wait, the agent gives up with exit code 6.
            ag2 = st.start_agent(dead, k, name="bounded",
                                 extra={"agent": {"kafka_wait_s": "2"},
                                        "xapi": {"backoff_min_ms": "200",
                                                 "backoff_max_ms": "500"}})
            self.assertEqual(agent_exit(ag2), 6)

    def test_clean_sigterm_flushes_without_tombstones(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1)
            sim = st.start_sim(vms=50, hosts=1)
            ag = st.start_agent(sim, k)
            self.assertEqual(harness.wait_equal(k, sim), [])
            before = harness.kcat_read(k.bootstrap, "xo.objects")
            t0 = time.monotonic()
            self.assertEqual(ag.stop(), 0)
            if harness.CHECK_SPEED:  # stop() itself bounds the wait (then SIGKILL: not 0)
                self.assertLess(time.monotonic() - t0, 5 * harness.SCALE)
            after = harness.kcat_read(k.bootstrap, "xo.objects")
            self.assertEqual(len(after), len(before))  # nothing, tombstones least of all
            beats = [json.loads(v) for _, v, _ in harness.kcat_read(k.bootstrap, "xo.agents") if v]
            self.assertEqual(beats[-1]["state"], "stopped")
            self.assertGreater(sim.stats()["calls_by_method"].get("session.logout", 0), 0)

    def test_cli_help_version_and_config_errors(self):
        exe = harness.binary("xo-agent")
        out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        self.assertIn("xapi.url", out.stdout)
        self.assertIn("XO_AGENT_XAPI_PASSWORD", out.stdout)
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
        self.assertRegex(out.stdout, r"^xo-agent \d+\.\d+\.\d+")
        with harness.Stack() as st:
            cfg = st.write_config("bad.conf", {"xapi": {"url": "http://x", "timeout": "3"}})
            out = subprocess.run([exe, "--config", cfg, "--check-config"], capture_output=True,
                                 text=True, timeout=10)
            self.assertEqual(out.returncode, 3)
            self.assertIn("bad.conf:3: unknown key 'xapi.timeout'", out.stderr)
            cfg = st.write_config("empty.conf", {"agent": {"id": "a"}})
            out = subprocess.run([exe, "--config", cfg, "--check-config"], capture_output=True,
                                 text=True, timeout=10)
            self.assertEqual(out.returncode, 3)
            self.assertIn("missing required key 'xapi.url'", out.stderr)
            cfg = st.write_config("ok.conf", {"xapi": {"url": "http://x", "password": "s3cret"}})
            out = subprocess.run([exe, "--config", cfg, "--check-config"], capture_output=True,
                                 text=True, timeout=10)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertNotIn("s3cret", out.stdout)
            self.assertIn("password = <redacted>", out.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
