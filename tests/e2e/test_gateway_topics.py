"""Topic administration against xo-kafka-dev, as far as librdkafka's mock cluster goes.

The mock answers metadata (so topic existence, partition counts and replication are
checked for real) but implements neither CreateTopics nor DescribeConfigs: requests for
them wait for a controller the mock never names, until topics.admin_timeout_ms. So:

1. Partition counts that differ (xo.results with 4 partitions, the others 6):
   `xo-gateway topics` exits 3 naming every count; the gateway refuses to start (exit 3);
   with topics.manage = off it starts.
2. No topic at all (--no-topics): `xo-gateway topics` exits 3 (each topic missing) and
   creates nothing (kcat -L still lists none: the mock would create a topic for any
   metadata request naming it); `--create` and the gateway's default start try
   CreateTopics and exit 6 after the admin timeout, saying why.
3. The usual cluster: the gateway starts at once, logs each topic's layout, reports in the
   background that the configuration could not be read, and /healthz stays ok;
   `xo-gateway topics` exits 0 with one line per topic and the unchecked configuration.
The configuration verdicts themselves (a non-compacted xo.objects is a loud warning) are
checked on the judge in tests/unit/test_topic_admin.c.
"""
import json
import subprocess
import time

import gw_harness as g
import harness

TIMEOUT_MS = 1500


def topics_cmd(st, k, *args, name="topics"):
    cfg = st.write_config(f"{name}.conf", {"kafka": {"bootstrap.servers": k.bootstrap},
                                           "topics": {"admin_timeout_ms": str(TIMEOUT_MS)}})
    return subprocess.run([harness.binary("xo-gateway"), "topics", *args, "--config", cfg],
                          capture_output=True, text=True, timeout=60 * harness.SCALE)


def gateway_exit(st, k, name, extra=None):
    """Start a gateway expected to stop by itself; returns (exit code, its log)."""
    sections = {"http": {"address": "127.0.0.1", "port": "0"},
                "kafka": {"bootstrap.servers": k.bootstrap},
                "topics": {"admin_timeout_ms": str(TIMEOUT_MS)}}
    for s, kv in (extra or {}).items():
        sections.setdefault(s, {}).update(kv)
    p = st.spawn(name, [harness.binary("xo-gateway"), "--config",
                        st.write_config(f"{name}.conf", sections)])
    rc = p.p.wait(30 * harness.SCALE)
    return rc, p.log_text()


def listed_topics(k):
    out = subprocess.run(["kcat", "-L", "-J", "-b", k.bootstrap], capture_output=True,
                         timeout=30 * harness.SCALE, check=True).stdout
    return {t["topic"]: len(t["partitions"]) for t in json.loads(out)["topics"]}


def differing_partitions():
    with harness.Stack() as st:
        k = st.start_kafka(extra=("--topic", "xo.results=4"))
        r = topics_cmd(st, k)
        assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
        assert ("partition counts differ (xo.objects 6, xo.agents 6, xo.commands 6, "
                "xo.results 4)") in r.stdout, r.stdout
        rc, log = gateway_exit(st, k, "gateway-strict")
        assert rc == 3, (rc, log[-2000:])
        assert "partition counts differ" in log and "event=topics_failed" in log, log[-2000:]
        gw = st.start_gateway(k, extra={"topics": {"manage": "off"}}, name="gateway-off")
        g.wait_loaded(gw)
        print("differing partition counts: topics exit 3, gateway exit 3, manage=off starts")


def no_topics():
    with harness.Stack() as st:
        k = st.start_kafka(extra=("--no-topics",))
        r = topics_cmd(st, k)
        assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
        for t in ("xo.objects", "xo.agents", "xo.commands", "xo.results", "xo.tokens"):
            assert f"error {t}: {t} does not exist" in r.stdout, r.stdout
        assert not any(t.startswith("xo.") for t in listed_topics(k)), listed_topics(k)
        t0 = time.monotonic()
        r = topics_cmd(st, k, "--create", name="create")
        took = time.monotonic() - t0
        assert r.returncode == 6, (r.returncode, r.stdout, r.stderr)
        assert "CreateTopics" in r.stderr and "Timed out" in r.stderr, r.stderr
        if harness.CHECK_SPEED:
            assert took < TIMEOUT_MS / 1000 + 5, took
        rc, log = gateway_exit(st, k, "gateway-create")
        assert rc == 6, (rc, log[-2000:])
        assert "event=creating_topics count=5 partitions=12 replication=3" in log, log[-2000:]
        assert "CreateTopics" in log
        print(f"no topics: topics exit 3, --create exit 6 after {took:.1f} s, gateway exit 6")


def usual_cluster():
    with harness.Stack() as st:
        k = st.start_kafka()
        gw = st.start_gateway(k, extra={"topics": {"admin_timeout_ms": str(TIMEOUT_MS)}})
        g.wait_loaded(gw)
        harness.wait_until(lambda: "event=topic_config_unchecked" in gw.proc.log_text(),
                           30, what="the background configuration check to give up")
        log = gw.proc.log_text()
        for t in ("xo.objects", "xo.agents", "xo.commands", "xo.results", "xo.tokens"):
            assert f'text="{t}: 6 partitions, replication 3"' in log, log[-3000:]
        assert "DescribeConfigs" in log
        st_, body, _ = g.http_get(gw.url + "/healthz")
        h = json.loads(body)
        assert st_ == 200 and not any(r.startswith("topic ") for r in h["reasons"]), h
        r = topics_cmd(st, k)
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        assert "info xo.objects: xo.objects: 6 partitions, replication 3" in r.stdout, r.stdout
        assert "warning topics: configuration not checked: DescribeConfigs" in r.stdout
        assert listed_topics(k) == {"xo.objects": 6, "xo.agents": 6, "xo.commands": 6,
                                    "xo.results": 6, "xo.tokens": 6}
        print("usual cluster: gateway up, layout checked, configuration unchecked (mock)")


if __name__ == "__main__":
    differing_partitions()
    no_topics()
    usual_cluster()
