"""xo-gateway's /healthz and /metrics tell the truth about a Kafka outage:
simulator -> xo-agent -> xo-kafka-dev (3 brokers) -> xo-gateway.

1. Before: /healthz "ok" with no reasons, Kafka connected, the pool's heartbeat on time
   (its limit is 3 x the 2 s interval the agent announces: 6 s); /metrics agrees.
2. Every broker down for 15 s (xo-kafka-dev --control "down all"): /healthz turns
   "degraded" with a Kafka reason, then with the pool's late heartbeat as a reason (the
   pool's agent entry says stale, its age beyond 6 s); /metrics reports
   xo_gateway_kafka_connected 0, the pool's heartbeat age over its limit, agent_stale 1,
   and the view idle for seconds. The VMs changed during the outage are not in the view.
3. Brokers up again: /healthz returns to "ok" with no reasons, /metrics to connected and
   fresh, and the view catches up: getAllObjects equals /sim/truth.
"""
import json
import re
import sys
import time

import gw_harness as g
import harness

OUTAGE_S = 15
INTERVAL_MS = 2000  # the agent's heartbeat interval; the gateway's limit is 3 of them


def healthz(gw):
    st, body, _ = g.http_get(gw.url + "/healthz", timeout=5)
    h = json.loads(body)
    h["_http"] = st
    return h


def metrics(gw):
    st, body, _ = g.http_get(gw.url + "/metrics", timeout=5)
    assert st == 200, st
    out = {}
    for line in body.decode().splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def pool_entry(h, pool):
    return next(p for p in h["pools"] if p["uuid"] == pool)


def main():
    with harness.Stack() as st:
        k = st.start_kafka(brokers=3)
        sim = st.start_sim(vms=30, hosts=2, seed=21)
        st.start_agent(sim, k, extra={"agent": {"heartbeat_ms": str(INTERVAL_MS)}})
        gw = st.start_gateway(k)
        pool = sim.pool_uuid
        g.wait_synced(gw, [pool])
        plabel = f'{{pool="{pool}"}}'

        # 1. healthy
        def healthy():
            h = healthz(gw)
            a = pool_entry(h, pool)["agent"]
            # brokers_up comes with librdkafka's first statistics (1 s after start)
            return h if (h["status"] == "ok" and h["kafka"]["connected"]
                         and h["kafka"]["brokers_up"] >= 1 and a
                         and a["state"] == "live" and not a["stale"]) else None
        h = harness.wait_until(healthy, 30, what="/healthz ok with a live agent")
        assert h["_http"] == 200 and h["reasons"] == [], h
        a = pool_entry(h, pool)["agent"]
        assert a["limit_ms"] == 3 * INTERVAL_MS, a
        assert 0 <= a["age_ms"] <= a["limit_ms"], a
        m = metrics(gw)
        assert m["xo_gateway_kafka_connected"] == 1, m.get("xo_gateway_kafka_connected")
        assert m["xo_gateway_kafka_brokers_up"] >= 1
        assert m["xo_gateway_degraded"] == 0
        assert m["xo_gateway_pool_agent_stale" + plabel] == 0
        assert m["xo_gateway_pool_heartbeat_limit_seconds" + plabel] == 3 * INTERVAL_MS / 1000
        assert m["xo_gateway_pool_heartbeat_age_seconds" + plabel] < 3 * INTERVAL_MS / 1000
        assert 0 <= m["xo_gateway_view_idle_seconds"] < 3 * INTERVAL_MS / 1000 * harness.SCALE
        print(f"before: ok, heartbeat {a['age_ms']} ms old (limit {a['limit_ms']} ms)")

        # 2. every broker down for OUTAGE_S seconds
        t0 = time.monotonic()
        k.control("down all")
        # The simulator keeps changing while Kafka is away: the view must not show it yet,
        # and must show it after.
        sim.post("/sim/churn?n=20&rate=50&seed=5")
        during = g.compare(g.expected_all([sim]), g.summarize(g.get_all(gw.url)))
        assert during, "the churn during the outage reached the view without Kafka?"

        def kafka_reason():
            h = healthz(gw)
            return h if (h["status"] == "degraded" and not h["kafka"]["connected"] and
                         any(r.startswith("kafka:") for r in h["reasons"])) else None
        h = harness.wait_until(kafka_reason, 10, what="/healthz degraded: kafka unreachable")
        assert h["_http"] == 200, h  # still serving its view
        print(f"after {time.monotonic() - t0:.1f} s: {h['reasons']}")

        def stale_reason():
            h = healthz(gw)
            a = pool_entry(h, pool)["agent"]
            return h if (a["stale"] and any(pool in r and "heartbeat" in r
                                            for r in h["reasons"])) else None
        h = harness.wait_until(stale_reason, OUTAGE_S - 1, what="/healthz: the pool's heartbeat late")
        a = pool_entry(h, pool)["agent"]
        assert a["age_ms"] > a["limit_ms"] == 3 * INTERVAL_MS, a
        assert h["status"] == "degraded" and not h["kafka"]["connected"], h
        assert a["state"] == "live"  # the last heartbeat said so: the age says otherwise
        m = metrics(gw)
        assert m["xo_gateway_kafka_connected"] == 0, m["xo_gateway_kafka_connected"]
        assert m["xo_gateway_kafka_brokers_up"] == 0
        assert m["xo_gateway_degraded"] == 1
        assert m["xo_gateway_health_reasons"] >= 2
        assert m["xo_gateway_pools_agent_stale"] == 1
        assert m["xo_gateway_pool_agent_stale" + plabel] == 1
        assert (m["xo_gateway_pool_heartbeat_age_seconds" + plabel] >
                m["xo_gateway_pool_heartbeat_limit_seconds" + plabel])
        assert m["xo_gateway_view_idle_seconds"] > INTERVAL_MS / 1000
        print(f"after {time.monotonic() - t0:.1f} s: {h['reasons']}; metrics: connected 0, "
              f"heartbeat age {m['xo_gateway_pool_heartbeat_age_seconds' + plabel]:.1f} s, "
              f"view idle {m['xo_gateway_view_idle_seconds']:.1f} s")
        left = OUTAGE_S - (time.monotonic() - t0)
        if left > 0:
            time.sleep(left)
        # Still degraded at the end of the outage (nothing healed on its own).
        h = healthz(gw)
        assert h["status"] == "degraded" and not h["kafka"]["connected"], h

        # 3. back
        k.control("up all")
        t1 = time.monotonic()

        def recovered():
            h = healthz(gw)
            a = pool_entry(h, pool)["agent"]
            return h if (h["status"] == "ok" and h["reasons"] == [] and h["kafka"]["connected"]
                         and a and not a["stale"]) else None
        h = harness.wait_until(recovered, 60, what="/healthz ok again")
        print(f"recovered {time.monotonic() - t1:.1f} s after the brokers came back")
        m = metrics(gw)
        assert m["xo_gateway_kafka_connected"] == 1 and m["xo_gateway_degraded"] == 0, m
        assert m["xo_gateway_pool_agent_stale" + plabel] == 0
        assert m["xo_gateway_view_idle_seconds"] < 3 * INTERVAL_MS / 1000 * harness.SCALE

        # The view caught up with everything that changed during the outage.
        last = []

        def equal():
            nonlocal last
            last = g.compare(g.expected_all([sim]), g.summarize(g.get_all(gw.url)))
            return not last
        try:
            harness.wait_until(equal, 60, interval=1.0, what="getAllObjects == truth")
        except TimeoutError:
            sys.stderr.write("\n".join(last[:30]) + "\n")
            raise
        print("view equals /sim/truth after the outage")


if __name__ == "__main__":
    main()
