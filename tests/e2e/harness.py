"""Shared end-to-end test harness: starts the real pieces on loopback and cleans up.

Every process started through a Stack is killed when the `with` block ends, whatever
happens; every wait is bounded. Pieces: xo-kafka-dev (librdkafka mock cluster), the XAPI
simulator (tests/xapi_sim), xo-agent, xo-gateway, and kcat to read topics as a user would.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SRC = os.environ.get("XO_SRC_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("XO_BUILD_DIR") or os.path.join(SRC, "build")
# Stretch timeouts under sanitizers (slower binaries) or by hand: XO_TIMEOUT_SCALE=3.
SANITIZED = os.environ.get("XO_SANITIZE") == "1"
SCALE = float(os.environ.get("XO_TIMEOUT_SCALE") or (3 if SANITIZED else 1))
# Assertions on speed (a latency, a duration, a share of the data seen by a fixed time) run
# only in the normal build: under sanitizers, with other tests sharing the cores, they
# measure the machine, and a flake blocks everyone. Every functional assertion runs in both
# builds, waiting for its data with a bounded deadline. XO_SPEED_ASSERTS=0/1 overrides.
CHECK_SPEED = os.environ.get("XO_SPEED_ASSERTS", "0" if SANITIZED else "1") == "1"


def src_dir():
    return SRC


def build_dir():
    return BUILD


def binary(name):
    for sub in ("tools", "agent", "gateway", "cli", "tests/bench", ""):
        p = os.path.join(BUILD, sub, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError(f"{name} not built under {BUILD}")


def wait_until(fn, timeout, interval=0.1, what="condition"):
    """Call fn until it returns a truthy value; raise TimeoutError after timeout*SCALE s."""
    deadline = time.monotonic() + timeout * SCALE
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the condition may not be checkable yet
            last_exc = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout * SCALE:.0f}s waiting for {what}"
                       + (f" (last error: {last_exc})" if last_exc else ""))


def murmur2(data):
    """Kafka's murmur2 (seed 0x9747b28c), as common/xo_kafka.c computes it."""
    m, h = 0x5BD1E995, (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    n4 = len(data) // 4 * 4
    for i in range(0, n4, 4):
        k = (int.from_bytes(data[i:i + 4], "little") * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = data[n4:]
    if len(rest) >= 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if rest:
        h = ((h ^ rest[0]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def pool_partition(pool_uuid, partitions):
    """The partition of a pool on every contract topic (docs/topics.md)."""
    return (murmur2(pool_uuid.encode()) & 0x7FFFFFFF) % partitions


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process whose stdout lines are collected by a thread."""

    def __init__(self, name, argv, env=None, stdin=False, log_dir=None):
        self.name = name
        self.argv = argv
        self.lines = []
        self._cond = threading.Condition()
        self.log_path = os.path.join(log_dir, f"{name}.log") if log_dir else os.devnull
        self._log = open(self.log_path, "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  env=full_env, start_new_session=True)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._log.write(b"[stdout] " + raw)
            self._log.flush()
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pred, timeout=20):
        """First stdout line for which pred(line) is true (searching from the start)."""
        deadline = time.monotonic() + timeout * SCALE
        i = 0
        with self._cond:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return self.lines[i]
                    i += 1
                if self.p.poll() is not None and not self._t.is_alive():
                    raise RuntimeError(f"{self.name} exited ({self.p.returncode}) before the "
                                       f"expected line; log: {self.log_path}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: expected line not seen; log: {self.log_path}")
                self._cond.wait(min(left, 0.5))

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL; returns the exit code."""
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout * SCALE)
            except subprocess.TimeoutExpired:
                self.kill()
        self.p.wait()
        self._log.close()
        return self.p.returncode

    def kill(self):
        if self.alive():
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.p.wait()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class KafkaDev:
    def __init__(self, proc):
        self.proc = proc
        self.bootstrap = proc.wait_line(lambda l: "127.0.0.1:" in l)
        self._acks = 0

    def control(self, command):
        """Send a fault command ("down 1", "up all", ...) and wait for its answer."""
        n_before = len(self.proc.lines)
        self.proc.p.stdin.write((command + "\n").encode())
        self.proc.p.stdin.flush()
        wait_until(lambda: any(l == "ok" or l.startswith("error:") for l in self.proc.lines[n_before:]),
                   10, what=f"kafka-dev answer to {command!r}")
        answer = [l for l in self.proc.lines[n_before:] if l == "ok" or l.startswith("error:")][0]
        if answer != "ok":
            raise RuntimeError(f"xo-kafka-dev: {command!r}: {answer}")


class Sim:
    def __init__(self, proc):
        self.proc = proc
        self.url = proc.wait_line(lambda l: l.startswith("listening: ")).split(" ", 1)[1].strip()
        proc.wait_line(lambda l: l == "ready", timeout=120)
        self.pool_uuid = next(l.split()[1] for l in proc.lines if l.startswith("pool: "))
        self.hosts = [l.split()[1:] for l in proc.lines if l.startswith("host: ")]
        fp = [l.split()[1] for l in proc.lines if l.startswith("fingerprint: ")]
        self.fingerprint = fp[0] if fp else None

    def _req(self, method, path, timeout=120):
        req = urllib.request.Request(self.url.rstrip("/") + path, method=method,
                                     data=b"" if method == "POST" else None)
        ctx = None
        if self.url.startswith("https"):
            import ssl
            ctx = ssl._create_unverified_context()
        with urllib.request.urlopen(req, timeout=timeout * SCALE, context=ctx) as r:
            body = r.read()
        return json.loads(body) if body else None

    def get(self, path):
        return self._req("GET", path)

    def post(self, path, timeout=300):
        return self._req("POST", path, timeout)

    def truth(self):
        return self.get("/sim/truth")

    def stats(self):
        return self.get("/sim/stats")


class Gateway:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


class Stack:
    """Owns a temp dir and every process started through it."""

    def __init__(self, keep=False, allow_kafka_truncation=False):
        self.allow_kafka_truncation = allow_kafka_truncation
        self.kafkas = []
        self.tmp = tempfile.mkdtemp(prefix="xo-e2e-")
        self.procs = []
        self.keep = keep or os.environ.get("XO_KEEP_TMP") == "1"
        self._n = 0
        self.agent_keys = {}  # pool uuid -> (private, public, key id): see agent_key()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        truncated = [k.proc.log_path for k in self.kafkas
                     if "dropped its oldest" in k.proc.log_text()]
        for p in reversed(self.procs):
            try:
                p.kill()
            except Exception:
                pass
        if exc_type is not None:
            # Show the tail of every log to make a failure diagnosable from CI output.
            for p in self.procs:
                text = p.log_text()
                sys.stderr.write(f"\n----- {p.name} ({p.log_path}) -----\n{text[-4000:]}\n")
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if truncated and exc_type is None and not self.allow_kafka_truncation:
            # xo-kafka-dev dropped records a compacted topic needs: the test proved nothing.
            raise AssertionError("xo-kafka-dev dropped old records (over ~5 MiB in a "
                                 "partition); make the test smaller or use more partitions")
        return False

    def spawn(self, name, argv, env=None, stdin=False):
        self._n += 1
        p = Proc(f"{self._n:02d}-{name}", argv, env=env, stdin=stdin, log_dir=self.tmp)
        self.procs.append(p)
        return p

    def path(self, name):
        return os.path.join(self.tmp, name)

    def start_kafka(self, brokers=3, partitions=6, extra=()):
        p = self.spawn("kafka", [binary("xo-kafka-dev"), "--brokers", str(brokers),
                                 "--partitions", str(partitions), "--control", *extra],
                       stdin=True)
        k = KafkaDev(p)
        self.kafkas.append(k)
        return k

    def start_sim(self, vms=100, hosts=2, seed=1, extra=()):
        argv = [sys.executable, os.path.join(SRC, "tests", "xapi_sim", "xapi_sim.py"),
                "--port", "0", "--hosts", str(hosts), "--vms", str(vms), "--seed", str(seed),
                *extra]
        return Sim(self.spawn("sim", argv))

    def write_config(self, name, sections):
        """Write an ini file from {section: {key: value}}; returns its path."""
        path = self.path(name)
        with open(path, "w") as f:
            for section, kv in sections.items():
                f.write(f"[{section}]\n")
                for k, v in kv.items():
                    f.write(f"{k} = {v}\n")
        return path

    def agent_key(self, pool_uuid):
        """The agent key pair of a pool (xo-agent keygen, made once per pool and stack):
        every agent of that pool signs its results with it, and gateways started with
        commands trust it for that pool. Returns (private, public, key id)."""
        if pool_uuid not in self.agent_keys:
            d = self.path(f"agent-keys/{pool_uuid or 'unknown-pool'}")
            os.makedirs(os.path.dirname(d), exist_ok=True)
            out = subprocess.run([binary("xo-agent"), "keygen", "--out", d], check=True,
                                 capture_output=True, text=True, timeout=30).stdout
            kid = next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("key id: "))
            self.agent_keys[pool_uuid] = (os.path.join(d, "agent.key"),
                                          os.path.join(d, "agent.pub"), kid)
        return self.agent_keys[pool_uuid]

    def agent_keys_setting(self, pools=()):
        """commands.agent_keys trusting the key of every pool given or already keyed."""
        for pool in pools:
            self.agent_key(pool)
        return ",".join(f"{pool}={pub}" for pool, (_, pub, _) in self.agent_keys.items())

    def start_agent(self, sim, kafka, extra=None, name="agent", password="password"):
        sections = {
            "agent": {"id": f"{name}-{sim.pool_uuid[:8]}",
                      "private_key": self.agent_key(sim.pool_uuid)[0]},
            "xapi": {"url": sim.url, "user": "root"},
            "topics": {"prefix": "xo."},
            "kafka": {"bootstrap.servers": kafka.bootstrap},
        }
        if sim.fingerprint:
            sections["xapi"]["fingerprint"] = sim.fingerprint
        for section, kv in (extra or {}).items():
            sections.setdefault(section, {}).update(kv)
        cfg = self.write_config(f"{name}.conf", sections)
        return self.spawn(name, [binary("xo-agent"), "--config", cfg],
                          env={"XO_AGENT_XAPI_PASSWORD": password})

    def start_gateway(self, kafka, extra=None, name="gateway", port=None, agent_pools=(),
                      program=None, env=None):
        """A gateway; with commands.private_key in extra and no commands.agent_keys, it
        trusts the agent key of every pool keyed so far and of agent_pools (pools whose
        agents start later). program: another xo-gateway binary (a bench comparing builds).
        env: more environment variables for it."""
        port = port or free_port()
        sections = {
            "http": {"address": "127.0.0.1", "port": str(port)},
            "topics": {"prefix": "xo."},
            "kafka": {"bootstrap.servers": kafka.bootstrap},
        }
        for section, kv in (extra or {}).items():
            sections.setdefault(section, {}).update(kv)
        commands = sections.get("commands", {})
        if "private_key" in commands and "agent_keys" not in commands:
            commands["agent_keys"] = self.agent_keys_setting(agent_pools)
        cfg = self.write_config(f"{name}.conf", sections)
        p = self.spawn(name, [program or binary("xo-gateway"), "--config", cfg], env=env)
        gw = Gateway(p, port)
        wait_until(lambda: _http_ok(f"{gw.url}/healthz"), 30, what="gateway /healthz")
        return gw


def _http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status in (200, 503)
    except urllib.error.HTTPError as e:
        return e.code in (200, 503)
    except OSError:
        return False


def kcat_read(bootstrap, topic, timeout=60):
    """Every message of a topic, all partitions, as (key, value-bytes-or-None, headers) tuples,
    read with kcat to the end (-e). Values and keys are framed by length so binary is safe."""
    fmt = "%K\\t%k%S\\t%s%h\\n--XO-END--\\n"
    out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                          "-q", "-Z", "-f", "%K|%k|%S|%h\n%s\n--XO-END--\n"],
                         capture_output=True, timeout=timeout * SCALE, check=True).stdout
    del fmt
    msgs = []
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        header = out[pos:nl].decode()
        klen_s, rest = header.split("|", 1)
        klen = int(klen_s)
        key = rest[:klen] if klen >= 0 else None
        rest = rest[klen + 1:] if klen >= 0 else rest[len("NULL") + 1:]
        vlen_s, hdrs = rest.split("|", 1)
        vlen = int(vlen_s)
        start = nl + 1
        if vlen >= 0:
            value = out[start:start + vlen]
            pos = start + vlen
        else:
            value = None
            pos = start + len(b"NULL")
        end = b"\n--XO-END--\n"
        assert out[pos:pos + len(end)] == end, f"bad kcat framing at {pos}"
        pos += len(end)
        headers = dict(h.split("=", 1) for h in hdrs.split(",") if "=" in h)
        msgs.append((key, value, headers))
    return msgs


def kcat_fold(bootstrap, topic, timeout=60):
    """Fold a compacted topic as a consumer would: last value per key wins, tombstones delete.
    Returns {key: parsed-json-value}."""
    state = {}
    for key, value, _ in kcat_read(bootstrap, topic, timeout):
        if value is None:
            state.pop(key, None)
        else:
            state[key] = json.loads(value)
    return state


# ---------------------------------------------------------------- comparing with the truth
def normalize(v):
    """Make an XML-RPC-decoded value (int64 as string) and a JSON-RPC one comparable: every
    integer becomes its decimal string, floats are rounded, containers recurse."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return ("float", round(v, 6))
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return {k: normalize(x) for k, x in v.items()}
    if isinstance(v, list):
        return [normalize(x) for x in v]
    return v


def pool_objects(folded, pool_uuid):
    """{(class, ref): snapshot} of one pool from a folded xo.objects (markers left out)."""
    out = {}
    prefix = pool_uuid + "/"
    for key, value in folded.items():
        if not key.startswith(prefix) or key == prefix + "_sync":
            continue
        cls, ref = key[len(prefix):].split("/", 1)
        out[(cls, ref)] = value["snapshot"]
    return out


def diff_truth(folded, truth, pool_uuid, limit=10):
    """Differences between a folded xo.objects and the simulator's /sim/truth, as strings
    (empty list when they are equal)."""
    have = pool_objects(folded, pool_uuid)
    want = {(cls, ref): rec for cls, recs in truth.items() for ref, rec in recs.items()}
    diffs = []
    for k in sorted(set(want) - set(have)):
        diffs.append(f"missing {k[0]}/{k[1]}")
    for k in sorted(set(have) - set(want)):
        diffs.append(f"stale {k[0]}/{k[1]}")
    for k in sorted(set(have) & set(want)):
        a, b = normalize(have[k]), normalize(want[k])
        if a != b:
            fields = sorted(f for f in set(a) | set(b) if a.get(f) != b.get(f))
            diffs.append(f"differs {k[0]}/{k[1]}: {fields[:5]}")
    if len(diffs) > limit:
        diffs = diffs[:limit] + [f"... and {len(diffs) - limit} more"]
    return diffs


def wait_equal(kafka, sim, timeout=60, topic="xo.objects"):
    """Wait until the folded topic equals the simulator's truth; return the last diff."""
    last = ["never compared"]

    def equal():
        nonlocal last
        last = diff_truth(kcat_fold(kafka.bootstrap, topic), sim.truth(), sim.pool_uuid)
        return not last
    try:
        wait_until(equal, timeout, interval=1.0, what="xo.objects == /sim/truth")
    except TimeoutError:
        pass
    return last
