"""The deployment files in deploy/ say what the docs say:

- compose.yaml: three Kafka brokers in KRaft mode forming one quorum (distinct node ids,
  every node in the voters), replication 3 with min.insync.replicas 2, no topic
  auto-creation, and the four contract topics with one partition count, compaction for
  objects and agents, delete with retention for commands and results;
- prometheus.yml and xo-fleet.rules.yml: valid YAML, the rule file referenced, every
  gateway metric an expression uses exported by the gateway's sources, and alerts for an
  agent down, consumer lag and command failures; with promtool installed, `promtool
  check config` and `promtool test rules tests/integration/prometheus_rules_test.yml`;
- every other deploy/*.cfg / *.conf is checked by its own tool when present (haproxy -c).
"""
import glob
import os
import re
import shutil
import subprocess
import sys

import yaml

SRC = os.environ.get("XO_SRC_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(SRC, "deploy")
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)


def compose():
    d = yaml.safe_load(open(os.path.join(DEPLOY, "compose.yaml")))
    svcs = d["services"]
    brokers = {n: s for n, s in svcs.items() if "KAFKA_NODE_ID" in s.get("environment", {})}
    check(len(brokers) == 3, f"compose: {len(brokers)} brokers, want 3")
    ids = sorted(str(s["environment"]["KAFKA_NODE_ID"]) for s in brokers.values())
    check(len(set(ids)) == 3, f"compose: node ids {ids} not distinct")
    for name, s in brokers.items():
        env = s["environment"]
        voters = env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "")
        check(sorted(v.split("@")[0] for v in voters.split(",")) == ids,
              f"compose: {name}: voters {voters!r} are not the three nodes")
        check("controller" in env.get("KAFKA_PROCESS_ROLES", "") and
              "broker" in env.get("KAFKA_PROCESS_ROLES", ""), f"compose: {name}: not KRaft")
        check(str(env.get("KAFKA_DEFAULT_REPLICATION_FACTOR")) == "3", f"compose: {name}: RF")
        check(str(env.get("KAFKA_MIN_INSYNC_REPLICAS")) == "2", f"compose: {name}: min ISR")
        check(str(env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE")).lower() == "false",
              f"compose: {name}: topics must not be auto-created")
    script = "\n".join(svcs["topics"]["command"])
    shared = re.search(r"^\s*P=(\d+)", script, re.M)
    check(shared is not None, "compose: no shared partition count P=")
    creates = re.findall(r"--create .*--topic (\S+) (.*)$", script, re.M)
    topics = {t: rest for t, rest in creates}
    check(sorted(topics) == ["xo.agents", "xo.commands", "xo.objects", "xo.results"],
          f"compose: topics created {sorted(topics)}")
    for t, rest in topics.items():
        check("--partitions $$P" in rest and "--replication-factor 3" in rest,
              f"compose: {t}: not the shared partition count $P and RF 3")
        want = "cleanup.policy=compact" if t in ("xo.objects", "xo.agents") else "cleanup.policy=delete"
        check(want in rest, f"compose: {t}: want {want}")
        if t in ("xo.commands", "xo.results"):
            check("retention.ms=" in rest, f"compose: {t}: no retention.ms")


def exported_metrics():
    names = set()
    for path in glob.glob(os.path.join(SRC, "gateway", "**", "*.c"), recursive=True):
        names |= set(re.findall(r"\b(xo_gateway_[a-z_]+)", open(path).read()))
    return names


def prometheus():
    cfg = yaml.safe_load(open(os.path.join(DEPLOY, "prometheus.yml")))
    check("xo-fleet.rules.yml" in cfg.get("rule_files", []), "prometheus.yml: rule file not loaded")
    check(any(j.get("metrics_path") == "/metrics" for j in cfg["scrape_configs"]),
          "prometheus.yml: no /metrics scrape")
    rules = yaml.safe_load(open(os.path.join(DEPLOY, "xo-fleet.rules.yml")))
    have = exported_metrics()
    alerts = {}
    for g in rules["groups"]:
        for r in g["rules"]:
            alerts[r["alert"]] = r["expr"]
            for m in re.findall(r"\b(xo_gateway_[a-z_]+)", r["expr"]):
                check(m in have, f"rules: {r['alert']} uses {m}, which the gateway does not export")
    for needed, pattern in (("agent down", "xo_gateway_pool_agent_stale"),
                            ("consumer lag", "xo_gateway_consumer_lag"),
                            ("command failures", "xo_gateway_commands_total")):
        check(any(pattern in e for e in alerts.values()), f"rules: no alert for {needed}")
    promtool = shutil.which("promtool")
    if not promtool:
        print("promtool not installed: syntax and rule tests skipped (Debian package prometheus)")
        return
    for argv in (["check", "config", os.path.join(DEPLOY, "prometheus.yml")],
                 ["test", "rules", "prometheus_rules_test.yml"]):
        r = subprocess.run([promtool, *argv], capture_output=True, text=True,
                           cwd=os.path.dirname(os.path.abspath(__file__)))
        check(r.returncode == 0, f"promtool {' '.join(argv)}: {r.stdout}{r.stderr}")


def load_balancers():
    haproxy = shutil.which("haproxy")
    for path in glob.glob(os.path.join(DEPLOY, "haproxy*.cfg")):
        if not haproxy:
            print(f"haproxy not installed: {os.path.basename(path)} not checked")
            continue
        r = subprocess.run([haproxy, "-c", "-f", path], capture_output=True, text=True)
        check(r.returncode == 0, f"haproxy -c {path}: {r.stdout}{r.stderr}")
    nginx = shutil.which("nginx")
    for path in glob.glob(os.path.join(DEPLOY, "nginx*.conf")):
        if not nginx:
            print(f"nginx not installed: {os.path.basename(path)} not checked")
            continue
        r = subprocess.run([nginx, "-t", "-c", path], capture_output=True, text=True)
        check(r.returncode == 0, f"nginx -t {path}: {r.stdout}{r.stderr}")


compose()
prometheus()
load_balancers()
if errors:
    print("\n".join(errors))
    sys.exit(1)
print("deploy files: compose (3 KRaft brokers, contract topics), prometheus config and rules ok")
