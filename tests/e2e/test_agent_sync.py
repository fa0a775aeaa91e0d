"""xo-agent end to end: xo-kafka-dev + the XAPI simulator + xo-agent, read back with kcat.
Every scenario ends with xo.objects (folded by key, last value wins, tombstones delete)
compared with the simulator's /sim/truth: zero differences."""
import json
import os
import signal
import time
import unittest

import harness

SCHEMAS = os.path.join(harness.src_dir(), "schemas")


class AgentSync(unittest.TestCase):
    def assertEqualsTruth(self, k, sim, timeout=90):
        diffs = harness.wait_equal(k, sim, timeout)
        self.assertEqual(diffs, [], "xo.objects differs from /sim/truth")

    def test_startup_1000_vms_and_schemas(self):
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=1000, hosts=3, seed=7)
            ag = st.start_agent(sim, k)
            self.assertEqualsTruth(k, sim)
            msgs = harness.kcat_read(k.bootstrap, "xo.objects")
            self.assertGreater(len(msgs), 7000)
            self.validate_topic(msgs, "xo.objects.schema.json")
            harness.wait_until(lambda: any(json.loads(v)["state"] == "live" for _, v, _ in
                                           harness.kcat_read(k.bootstrap, "xo.agents") if v),
                               30, what="a live heartbeat")
            self.validate_topic(harness.kcat_read(k.bootstrap, "xo.agents"),
                                "xo.agents.schema.json")
            # one pool, one partition
            out = harness.kcat_read(k.bootstrap, "xo.objects")
            self.assertTrue(all(key.startswith(sim.pool_uuid + "/") for key, _, _ in out))
            self.assertIn("event=synced", ag.log_text())

    def validate_topic(self, msgs, schema_name):
        import jsonschema
        with open(os.path.join(SCHEMAS, schema_name)) as f:
            schema = json.load(f)
        validator = jsonschema.Draft202012Validator(schema)
        n = 0
        for key, value, headers in msgs:
            if value is None:
                self.assertEqual(headers.get("xo-op"), "del", key)
                continue
            errors = list(validator.iter_errors(json.loads(value)))
            self.assertEqual(errors, [], f"{key} does not validate against {schema_name}")
            n += 1
        self.assertGreater(n, 0)

    def test_churn_5000_while_following(self):
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=300, hosts=2, seed=11)
            st.start_agent(sim, k)
            self.assertEqualsTruth(k, sim)
            res = sim.post("/sim/churn?n=5000&rate=2500&seed=3")
            self.assertEqual(res["done"], 5000)
            self.assertEqualsTruth(k, sim)

    def test_deletes_lost_from_xapi_window(self):
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=200, hosts=2, seed=5)
            ag = st.start_agent(sim, k)
            self.assertEqualsTruth(k, sim)
            sim.post("/sim/fault?kind=pause_events")
            time.sleep(1)
            self.assertEqual(sim.post("/sim/destroy_vms?n=25")["done"], 25)
            sim.post("/sim/fault?kind=trim_deleted")
            sim.post("/sim/fault?kind=resume_events")
            self.assertEqualsTruth(k, sim)
            self.assertIn("event=count_drift", ag.log_text())

    def test_invalidated_sessions_and_dropped_connections(self):
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=150, hosts=2, seed=9)
            ag = st.start_agent(sim, k)
            self.assertEqualsTruth(k, sim)
            sim.post("/sim/fault?kind=invalidate_sessions")
            sim.post("/sim/churn?n=300&seed=4")
            self.assertEqualsTruth(k, sim)
            harness.wait_until(lambda: "SESSION_INVALID" in ag.log_text(), 30,
                               what="agent saw SESSION_INVALID")
            # The agent's keep-alive connection is closed under it (libcurl may transparently
            # re-send an idempotent event.from on a fresh connection; either way no change
            # may be lost).
            self.assertGreaterEqual(sim.post("/sim/fault?kind=drop_connections")["dropped"], 1)
            sim.post("/sim/churn?n=300&seed=5")
            self.assertEqualsTruth(k, sim)
            self.assertGreaterEqual(ag.log_text().count("event=logged_in"), 2)

    def test_sigkill_restart_tombstones_destroyed(self):
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=200, hosts=2, seed=13)
            ag = st.start_agent(sim, k)
            self.assertEqualsTruth(k, sim)
            before = {ref for ref in sim.truth()["vm"]}
            ag.kill()
            self.assertEqual(sim.post("/sim/destroy_vms?n=20")["done"], 20)
            sim.post("/sim/churn?n=400&seed=8")
            destroyed = before - set(sim.truth()["vm"])
            self.assertGreaterEqual(len(destroyed), 20)
            st.start_agent(sim, k, name="agent2")
            self.assertEqualsTruth(k, sim)
            tombstoned = {key.rsplit("/", 1)[1] for key, v, h in
                          harness.kcat_read(k.bootstrap, "xo.objects")
                          if v is None and h.get("xo-op") == "del" and "/vm/" in key}
            self.assertTrue(destroyed <= tombstoned, destroyed - tombstoned)

    def test_master_move_follows_host_is_slave(self):
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=100, hosts=3, seed=17)
            ag = st.start_agent(sim, k)
            self.assertEqualsTruth(k, sim)
            moved = sim.post("/sim/fault?kind=move_master&host=1")
            sim.post("/sim/churn?n=200&seed=6")
            self.assertEqualsTruth(k, sim)
            harness.wait_until(lambda: f"master={moved['master']}" in ag.log_text().replace(
                "http://", "").replace(":" + sim.url.rsplit(":", 1)[1].rstrip("/"), "") or
                "event=host_is_slave" in ag.log_text(), 30, what="agent followed the master")
            self.assertIn("event=host_is_slave", ag.log_text())

    def test_kafka_down_10s_during_churn(self):
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=200, hosts=2, seed=19)
            ag = st.start_agent(sim, k)
            self.assertEqualsTruth(k, sim)
            sim.post("/sim/churn?n=3000&rate=200&seed=2&async=1")
            time.sleep(2)
            k.control("down all")
            time.sleep(10)
            k.control("up all")
            harness.wait_until(lambda: sim.stats()["changes"] > 0, 10)
            time.sleep(14)  # the rest of the churn (3000 at 200/s = 15 s in all)
            self.assertEqualsTruth(k, sim, timeout=120)
            self.assertTrue(ag.alive())

    def test_backpressure_when_kafka_buffer_fills(self):
        """Kafka down long enough for librdkafka's buffer (1 MiB here) to fill: the agent stops
        reading XAPI instead of dropping anything, and resyncs once Kafka is back."""
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=200, hosts=2, seed=23)
            ag = st.start_agent(sim, k, extra={"limits": {"kafka_buffer_mb": "1"}})
            self.assertEqualsTruth(k, sim)
            k.control("down all")
            sim.post("/sim/churn?n=2500&rate=500&seed=9")
            harness.wait_until(lambda: "event=backpressure " in ag.log_text(), 60,
                               what="the agent to report back-pressure")
            k.control("up all")
            self.assertEqualsTruth(k, sim, timeout=180)
            log = ag.log_text()
            self.assertIn("event=backpressure_end", log)
            self.assertGreaterEqual(log.count("event=synced"), 2)  # the resync after it
            self.assertTrue(ag.alive())


if __name__ == "__main__":
    unittest.main(verbosity=2)
