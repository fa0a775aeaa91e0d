#!/usr/bin/env python3
"""bench_gateway_latency: end-to-end notification latency of XO Fleet (issue 5), push vs pull.

Chain: XAPI simulator (--event-batch-ms 0 or 50, a pool of --vms VMs) -> xo-agent ->
xo-kafka-dev -> xo-gateway -> N signed-in WebSocket clients. A driver
(latency_driver.mjs) calls VM.set_name_label over JSON-RPC at a steady --rate per second,
round-robin over the VMs, on --conns keep-alive connections; each label is
"lat:<send ns>:<seq>" (CLOCK_MONOTONIC, the clock every process here reads: node's
process.hrtime.bigint(), Python's time.monotonic_ns()). The clients (latency_clients.mjs)
stamp the receive time of each `all` "enter" item carrying a newer label:
latency = receive - send.

Clients per row: min(N, --xolib) measuring clients run the npm xo-lib client (0.9.0,
unchanged) in their own node process -- the "push p50/p99/max" columns are theirs (a fixed
subset, every sample of every one of them); the other N - that many are load clients,
signed in like xo-lib and recording latency into a histogram too ("all p99": their p99):
by default latency_load_client (C, libwebsockets, one process: it finds the labels by a
scan instead of parsing every message, so that a 1,000-client row measures the gateway),
or with --load-client node raw `ws` JSON-RPC clients spread over --procs node processes
(parsing every notification: their p99 includes their own queueing).

Responsiveness, per row: a probe GETs /healthz every 100 ms while the clients are fed
("healthz p50/p99/max"), and every 0.5 s a new WebSocket client connects and signs in with a
token ("sign-in p50/p99", connect to answer): the gateway must answer within 50 ms.

Pull baseline, in the same run: a REST client polls GET /rest/v0/vms?fields=name_label once
per --poll-s seconds during every row; latency = time the poll that first shows a label
returned - its send time. The REST rows come from the poll during each batching's smallest
client row; "REST/push" is the REST p50 / push p50 measured in the same row.

Also per row: "gw p50/p99" from the gateway's own histogram
xo_gateway_notification_latency_seconds (agent record timestamp -> `all` queued; bucket
upper bounds), clients dropped, and the CPU used by each process (percent of one core).

The physical limit, in the same run (issue 16): after each row, raw_fanout_pipe (C, one
thread, nothing else: no Kafka, no view, no JSON) writes frames of the size the gateway
sent per change in that row, at the same --rate, to as many latency_load_client readers as
the row had clients, each frame carrying its due time; the "raw pipe" table prints its
p50/p99 beside the gateway's and the ratio. --no-raw-pipe skips it.

HTTP off the sessions' thread (issue 16): --session-thread false,true runs every batch
with the gateway's http.session_thread off (one service thread: the baseline) then on,
--rounds N times alternately, and ends with a table of the /healthz and sign-in medians
over the rounds per setting and their ratio to the baseline measured in the same run.

Default (CI-sized): --clients 1,100 --batch-ms 0,50 --seconds 10 --rate 1000.
The issue's figures: --full (= --clients 1,100,1000 --seconds 30). Loopback only; every
process is started through harness.Stack and killed at the end.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import bench_common  # noqa: E402
import gw_harness as g  # noqa: E402
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return 0.0


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(p * len(sorted_vals)))]


GW_HISTOGRAMS = {"queued": "xo_gateway_notification_latency_seconds",
                 "written": "xo_gateway_notification_written_seconds"}


def gw_histograms(gw):
    """{"queued"|"written": {"buckets": {upper bound s: cumulative count}, "sum": s, "count"}}
    of the gateway's notification histograms (record timestamp -> queued, -> written to one
    client); a histogram this gateway does not have is absent."""
    out = {}
    try:  # after an overloaded row the service thread may not answer for a while
        st, body, _ = g.http_get(gw.url + "/metrics", timeout=60)
    except Exception:
        return out
    text = body.decode()
    for key in ("xo_gateway_ws_gathered_sends_total", "xo_gateway_ws_gathered_messages_total",
                "xo_gateway_notification_bytes_total"):
        m = re.search("^" + key + r" (\d+)", text, re.M)
        if m:
            out[key] = int(m.group(1))
    for key, name in GW_HISTOGRAMS.items():
        buckets = {float("inf") if m.group(1) == "+Inf" else float(m.group(1)): int(m.group(2))
                   for m in re.finditer(name + r'_bucket\{le="([^"]+)"\} (\d+)', text)}
        total = re.search(name + r"_sum (\S+)", text)
        count = re.search(name + r"_count (\d+)", text)
        if buckets and total and count:
            out[key] = {"buckets": buckets, "sum": float(total.group(1)), "count": int(count.group(1))}
    return out


def hist_mean_ms(before, after, key):
    """Mean (ms) of a gateway histogram over a row, or None."""
    if key not in before or key not in after:
        return None
    n = after[key]["count"] - before[key]["count"]
    return 1000 * (after[key]["sum"] - before[key]["sum"]) / n if n > 0 else None


def hop_split(r):
    """Mean ms of each hop of a row: change -> agent publish and Kafka (latency_hop_probe, a
    consumer configured as the gateway's), agent publish -> queued and -> written (the
    gateway's histograms), the rest of the measuring clients' mean (socket and client)."""
    probe, e2e = r["probe"], r["mean"]
    pub = probe["publish"]["mean"] if probe.get("publish") else None
    kafka = probe["kafka"]["mean"] if probe.get("kafka") else None
    queued, written = r["gw_queued_mean"], r["gw_written_mean"]

    def diff(a, b):
        return a - b if a is not None and b is not None else None

    return {"publish": pub, "kafka": kafka, "consume_queued": diff(queued, kafka),
            "queued_written": diff(written, queued),
            "written_client": diff(diff(e2e, pub), written), "e2e": e2e}


def hist_pct(before, after, p):
    before = before.get("queued", {}).get("buckets")
    after = after.get("queued", {}).get("buckets")
    if not before or not after:
        return None
    les = sorted(after)
    diff = [(le, after[le] - before.get(le, 0)) for le in les]
    total = diff[-1][1] if diff else 0
    if total <= 0:
        return None
    for le, c in diff:
        if c >= p * total:
            return le * 1000
    return None


class Poller(threading.Thread):
    """The pull-model client: GET /rest/v0/vms?fields=name_label every interval seconds."""

    def __init__(self, gw, token, interval):
        super().__init__(daemon=True)
        self.url = gw.url + "/rest/v0/vms?fields=name_label"
        self.headers = {"Authorization": "Bearer " + token}
        self.interval = interval
        self.stop_ev = threading.Event()
        self.since = time.monotonic_ns()
        self.last = {}
        self.samples = []
        self.seqs = set()
        self.polls = 0
        self.errors = 0
        self.poll_ms = []

    def run(self):
        t0 = time.monotonic()
        k = 0
        while not self.stop_ev.is_set():
            k += 1
            try:
                ts = time.monotonic_ns()
                req = urllib.request.Request(self.url, headers=self.headers)
                with urllib.request.urlopen(req, timeout=30) as r:
                    objs = json.loads(r.read())
                now = time.monotonic_ns()
                self.polls += 1
                self.poll_ms.append((now - ts) / 1e6)
                for o in objs:
                    label = o.get("name_label")
                    if not isinstance(label, str) or not label.startswith("lat:"):
                        continue
                    _, sent, seq = label.split(":")
                    sent, seq = int(sent), int(seq)
                    if sent < self.since or self.last.get(o["href"], -1) >= seq:
                        continue
                    self.last[o["href"]] = seq
                    self.samples.append((now - sent) / 1e6)
                    self.seqs.add(seq)
            except Exception:
                self.errors += 1
            self.stop_ev.wait(max(0.0, t0 + k * self.interval - time.monotonic()))


class TimedProbe(threading.Thread):
    """Every interval seconds, self.once() timed: ms of each that succeeded, errors counted."""

    def __init__(self, interval):
        super().__init__(daemon=True)
        self.interval = interval
        self.stop_ev = threading.Event()
        self.ms = []
        self.errors = 0

    def run(self):
        while not self.stop_ev.is_set():
            t = time.monotonic()
            try:
                self.once()
                self.ms.append((time.monotonic() - t) * 1000)
            except Exception:
                self.errors += 1
            self.stop_ev.wait(max(0.0, t + self.interval - time.monotonic()))


class HealthProbe(TimedProbe):
    """GET /healthz every interval seconds; the time each answer took (ms)."""

    def __init__(self, gw, interval=0.1):
        super().__init__(interval)
        self.url = gw.url + "/healthz"

    def once(self):
        with urllib.request.urlopen(self.url, timeout=30) as r:
            r.read()


class SigninProbe(TimedProbe):
    """Every interval seconds a new WebSocket client connects to /api/ and signs in with the
    token, as xo-lib does: ms from connect to the sign-in's answer (a new user's wait)."""

    def __init__(self, gw, token, interval=0.5):
        super().__init__(interval)
        self.gw = gw
        self.token = token
        self.handshake_ms = []  # of each: connect -> the upgrade answered (the rest is the call)

    def once(self):
        t = time.monotonic()
        ws = g.WsClient(self.gw.port, timeout=30)
        self.handshake_ms.append((time.monotonic() - t) * 1000)
        try:
            if "result" not in ws.call("session.signIn", {"token": self.token}):
                raise RuntimeError("sign-in refused")
        finally:
            ws.close()


def probe_stats(probe):
    ms = sorted(probe.ms)
    return {"p50": pct(ms, 0.5), "p99": pct(ms, 0.99), "max": ms[-1] if ms else None,
            "samples": len(ms), "errors": probe.errors}


def client_report(proc):
    n = len(proc.lines)
    proc.p.stdin.write(b"report\n")
    proc.p.stdin.flush()
    line = harness.wait_until(lambda: next((l for l in proc.lines[n:] if l.startswith("{")), None),
                              60, 0.02, "client report")
    return json.loads(line)


def final_labels(sim, since_ns):
    """{VM uuid: seq} of every VM whose current label in the simulator was sent by this row's
    driver: the last notification each client must receive for that VM."""
    out = {}
    for rec in sim.truth()["vm"].values():
        label = rec.get("name_label", "")
        if label.startswith("lat:"):
            _, sent, seq = label.split(":")
            if int(sent) >= since_ns:
                out[rec["uuid"]] = int(seq)
    return out


def client_missing(proc, final_file):
    """{xolib, raw}: (client, VM) pairs of this clients process without the final label."""
    n = len(proc.lines)
    send(proc, "missing " + final_file)
    line = harness.wait_until(lambda: next((l for l in proc.lines[n:]
                                            if l.startswith('{"missing"')), None),
                              60, 0.02, "clients' missing count")
    return json.loads(line)["missing"]


def send(proc, cmd):
    proc.p.stdin.write((cmd + "\n").encode())
    proc.p.stdin.flush()


def run_row(a, st, sim, agent, gw, token, refs_file, n_clients, batch_ms, row_id, hop_probe):
    n_xo = min(n_clients, a.xolib)
    n_raw = n_clients - n_xo
    procs = [st.spawn(f"clients-xolib-{row_id}", ["node", os.path.join(HERE, "latency_clients.mjs"),
                                                   gw.url, token, str(n_xo), "0"], stdin=True)]
    if n_raw and a.load_client == "c":
        procs.append(st.spawn(f"clients-load-{row_id}", [harness.binary("latency_load_client"),
                                                         gw.url, token, str(n_raw)], stdin=True))
    nproc = min(a.procs, n_raw) if a.load_client == "node" else 0
    for i in range(nproc):
        share = n_raw // nproc + (1 if i < n_raw % nproc else 0)
        procs.append(st.spawn(f"clients-raw-{row_id}-{i}",
                              ["node", os.path.join(HERE, "latency_clients.mjs"), gw.url, token,
                               "0", str(share)], stdin=True))
    for p in procs:
        p.wait_line(lambda l: l.startswith("ready"), timeout=120 + n_clients / 10)
    time.sleep(1.0)
    for p in procs + [hop_probe]:
        send(p, "reset")
    for p in procs + [hop_probe]:
        p.wait_line(lambda l: l == "reset", timeout=30)
    h0 = gw_histograms(gw)
    watched = {"gw": [gw.proc.p.pid], "sim": [sim.proc.p.pid], "agent": [agent.p.pid],
               "clients": [p.p.pid for p in procs]}
    c0 = {k: sum(cpu_s(pid) for pid in v) for k, v in watched.items()}
    poller = Poller(gw, token, a.poll_s)
    poller.start()
    probe = HealthProbe(gw)
    probe.start()
    signin = SigninProbe(gw, token)
    signin.start()
    t0 = time.monotonic()
    t0_ns = time.monotonic_ns()  # labels sent before this belong to an earlier row
    drv = st.spawn(f"driver-{row_id}", ["node", os.path.join(HERE, "latency_driver.mjs"), sim.url,
                                        refs_file, str(a.rate), str(a.seconds), str(a.conns)])
    line = drv.wait_line(lambda l: l.startswith("{"), timeout=a.seconds + 120)
    d = json.loads(line)
    wall = time.monotonic() - t0
    c1 = {k: sum(cpu_s(pid) for pid in v) for k, v in watched.items()}
    # drain: wait until every client has the last label of every VM the simulator holds
    # (delivery is ordered, so then it has everything it will ever get), bounded; a pause in
    # the stream (a slow sanitized build, a loaded machine) no longer ends the row early
    final = final_labels(sim, t0_ns)
    final_file = os.path.join(st.tmp, f"final-{row_id}.json")
    with open(final_file, "w") as f:
        json.dump(final, f)
    deadline = time.monotonic() + a.drain_s * harness.SCALE
    while True:
        missing = sum(sum(client_missing(p, final_file).values()) for p in procs)
        if missing == 0 or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    drain = time.monotonic() - t0 - wall
    for p in (probe, signin):
        p.stop_ev.set()
        p.join(35)
    poller.stop_ev.wait(a.poll_s + 0.5)  # the REST poller's last poll after the drain
    poller.stop_ev.set()
    poller.join(35)
    reports = [client_report(p) for p in procs]
    probe_report = client_report(hop_probe)
    h1 = gw_histograms(gw)
    for p in procs:
        send(p, "quit")
    for p in procs:
        try:
            p.p.wait(10)
        except Exception:
            p.kill()
    xo = reports[0]["xolib"]
    raw_samples = sum(r["raw"]["samples"] for r in reports[1:])
    # the raw clients' p99 over all their processes: take the worst process's (conservative)
    raw_p99 = max((r["raw"]["p99"] for r in reports[1:] if r["raw"]["p99"] is not None), default=None)
    raw_p50 = max((r["raw"]["p50"] for r in reports[1:] if r["raw"]["p50"] is not None), default=None)
    rest = sorted(poller.samples)
    return {
        "clients": n_clients, "batch_ms": batch_ms, "xolib_clients": n_xo, "raw_clients": n_raw,
        "rate": d["ok"] / d["seconds"], "sent": d["ok"], "skipped": d["skipped"], "errors": d["errors"],
        "call_p50": d["call_ms"]["p50"], "call_p99": d["call_ms"]["p99"],
        "samples": xo["samples"], "seen": xo["seqs"] / max(1, d["ok"]), "drain_s": drain,
        # (client, VM) pairs still without the VM's final label when the drain ended: 0 unless
        # a client lost data or the drain's deadline passed
        "final_vms": len(final), "final_missing": missing,
        # share of (measuring client, label) pairs that produced a sample before the drain ended
        "coverage": xo["samples"] / max(1, n_xo * d["ok"]),
        "p50": xo["p50"], "p99": xo["p99"], "max": xo["max"], "mean": xo.get("mean"),
        "probe": probe_report, "gw_queued_mean": hist_mean_ms(h0, h1, "queued"),
        "gw_written_mean": hist_mean_ms(h0, h1, "written"),
        # messages that went out several to a send() (a client behind), and those sends
        "gathered": {k.split("_")[4]: h1[k] - h0.get(k, 0) for k in h1
                     if k.startswith("xo_gateway_ws_gathered_")},
        "raw_samples": raw_samples, "raw_p99": raw_p99, "raw_p50": raw_p50,
        # bytes of `all` per change (the raw pipe's frame size)
        "bytes_per_change": bytes_per_change(h0, h1, reports),
        "closed": sum(r["closed"] for r in reports),
        "corrupt": sum(r["corrupt"] for r in reports),
        "corrupt_sample": next((r["corrupt_sample"] for r in reports if r["corrupt_sample"]), None),
        "notifications": reports[0]["notifications"] / max(1, n_xo) / wall,
        "gw_p50": hist_pct(h0, h1, 0.5), "gw_p99": hist_pct(h0, h1, 0.99),
        "cpu": {k: 100 * (c1[k] - c0[k]) / wall for k in c0},
        "healthz": probe_stats(probe), "signin": probe_stats(signin),
        "signin_handshake": {"p50": pct(sorted(signin.handshake_ms), 0.5),
                             "p99": pct(sorted(signin.handshake_ms), 0.99)},
        "rest": {"samples": len(rest), "seen": len(poller.seqs) / max(1, d["ok"]),
                 "p50": pct(rest, 0.5), "p99": pct(rest, 0.99), "max": rest[-1] if rest else None,
                 "polls": poller.polls, "errors": poller.errors,
                 "poll_ms_p50": pct(sorted(poller.poll_ms), 0.5)},
    }


def run_pipe_row(a, st, n_clients, frame_bytes, row_id, sim, refs_file):
    """The raw pipe: raw_fanout_pipe writes frames of the gateway's size at the same rate to
    n_clients latency_load_client readers (one process, as the gateway row's load clients);
    latency from each frame's due time to its reader, over a.seconds. With
    a.pipe_under_load the driver renames VMs meanwhile as in the row (simulator, agent,
    broker and gateway busy with the changes, no WebSocket client)."""
    pipe = st.spawn(f"raw-pipe-{row_id}", [harness.binary("raw_fanout_pipe"), "--clients",
                                           str(n_clients), "--rate", str(a.rate), "--bytes",
                                           str(int(frame_bytes)), "--vms", str(a.vms)], stdin=True)
    port = int(pipe.wait_line(lambda l: l.startswith("listening"), timeout=30).split()[1])
    cl = st.spawn(f"raw-pipe-clients-{row_id}", [harness.binary("latency_load_client"),
                                                 f"http://127.0.0.1:{port}", "raw", str(n_clients)],
                  stdin=True)
    try:
        cl.wait_line(lambda l: l.startswith("ready"), timeout=120 + n_clients / 10)
        pipe.wait_line(lambda l: l.startswith("feeding"), timeout=30)
        time.sleep(1.0)
        send(cl, "reset")
        cl.wait_line(lambda l: l == "reset", timeout=30)
        c0 = {"pipe": cpu_s(pipe.p.pid), "clients": cpu_s(cl.p.pid)}
        t0 = time.monotonic()
        drv = st.spawn(f"raw-pipe-driver-{row_id}", [
            "node", os.path.join(HERE, "latency_driver.mjs"), sim.url, refs_file, str(a.rate),
            str(a.seconds), str(a.conns)]) if a.pipe_under_load else None
        time.sleep(a.seconds)
        wall = time.monotonic() - t0
        c1 = {"pipe": cpu_s(pipe.p.pid), "clients": cpu_s(cl.p.pid)}
        rep = client_report(cl)
        # its only JSON line, printed between two passes (a pass far behind can take long)
        send(pipe, "stats")
        stats = json.loads(pipe.wait_line(lambda l: l.startswith("{"), timeout=60 + a.seconds * 6))
        if drv:
            drv.wait_line(lambda l: l.startswith("{"), timeout=120)
    finally:
        for p in (cl, pipe):
            try:
                send(p, "quit")
                p.p.wait(10)
            except Exception:
                p.kill()
    return {"clients": n_clients, "bytes": frame_bytes, "samples": rep["raw"]["samples"],
            "under_load": bool(a.pipe_under_load),
            "expected": n_clients * a.rate * wall, "p50": rep["raw"]["p50"],
            "p99": rep["raw"]["p99"], "max": rep["raw"]["max"], "closed": rep["closed"],
            "corrupt": rep["corrupt"], "stats": stats,
            "cpu": {k: 100 * (c1[k] - c0[k]) / wall for k in c0}}


def bytes_per_change(h0, h1, reports):
    """Bytes of `all` notifications per change in a row: the gateway's own count (bytes
    queued per client / changes queued), else what the clients received per label."""
    key = "xo_gateway_notification_bytes_total"
    changes = (h1.get("queued") or {}).get("count", 0) - (h0.get("queued") or {}).get("count", 0)
    if key in h1 and changes > 0:
        return (h1[key] - h0.get(key, 0)) / changes
    items = sum(r["items"] for r in reports)
    return sum(r["bytes"] for r in reports) / items if items else None


GATEWAY = None  # --gateway-binary, else this build's


def gateway_knows(key):
    """Does the xo-gateway under test have this setting? (a build from before it has not)"""
    out = subprocess.run([GATEWAY or harness.binary("xo-gateway"), "--print-config-docs"],
                         capture_output=True, text=True, timeout=30).stdout
    return f"`{key}`" in out


def run_batch(a, batch_ms, clients, rows, session_thread=None):
    # The single pool's records all go to one partition; at 1,000 changes/s of full VM
    # snapshots xo-kafka-dev's 5 MiB in-memory partition log gets trimmed during a long run.
    # The gateway reads at the head (its lag is checked below), so trimming old records does
    # not change what it sees; the run reports it instead of failing.
    with harness.Stack(allow_kafka_truncation=True) as st:
        k = st.start_kafka(brokers=1, partitions=6)
        sim = st.start_sim(vms=a.vms, extra=["--event-batch-ms", str(batch_ms)])
        # each knob only when asked for: the daemons' own defaults otherwise (and a build that
        # predates a knob can still be measured)
        agent_extra, gw_extra = {}, {"limits": {"max_clients": str(max(clients) + 100)}}
        if session_thread is not None:
            if not gateway_knows("http.session_thread"):
                raise bench_common.BenchError("this xo-gateway has no http.session_thread")
            gw_extra["http"] = {"session_thread": session_thread}
        if a.agent_linger_ms is not None:
            agent_extra["kafka"] = {"linger.ms": str(a.agent_linger_ms)}
        if gateway_knows("view.fetch_wait_ms"):
            gw_extra["view"] = {"fetch_wait_ms": str(a.gw_fetch_wait_ms)}
        else:  # a gateway that predates the setting fetches with its fixed 10 ms
            print("note: this xo-gateway has no view.fetch_wait_ms (10 ms fixed)", file=sys.stderr)
            a.gw_fetch_wait_ms = 10
        agent = st.start_agent(sim, k, extra=agent_extra)
        gw = st.start_gateway(k, extra=gw_extra, program=GATEWAY)
        g.wait_synced(gw, [sim.pool_uuid], timeout=180)
        hop_probe = st.spawn("hop-probe", [harness.binary("latency_hop_probe"), "--bootstrap",
                                           k.bootstrap, "--topic", "xo.objects",
                                           "--fetch-wait-ms", str(a.gw_fetch_wait_ms)],
                             stdin=True)
        hop_probe.wait_line(lambda l: l == "ready", timeout=60)
        token = g.node("call", gw.url, *g.ADMIN, "token.create", "{}")["result"]
        truth = sim.truth()
        refs = [ref for ref, v in truth["vm"].items()
                if not v["is_a_template"] and not v["is_control_domain"] and not v["is_a_snapshot"]]
        refs_file = st.path("refs.json")
        with open(refs_file, "w") as f:
            json.dump(refs, f)
        for i, n in enumerate(clients):
            r = run_row(a, st, sim, agent, gw, token, refs_file, n, batch_ms, f"{batch_ms}-{n}",
                        hop_probe)
            try:  # the service thread may still be busy writing queued notifications
                _, body, _ = g.http_get(gw.url + "/healthz", timeout=60)
                r["lag_after"] = json.loads(body)["lag"]
            except Exception as e:
                r["lag_after"] = f"/healthz unanswered ({e})"
            r["kafka_trimmed"] = "dropped its oldest" in k.proc.log_text()
            r["session_thread"] = session_thread
            if not a.no_raw_pipe:  # the physical limit beside the row, same readers and bytes
                try:
                    r["pipe"] = run_pipe_row(a, st, n, r["bytes_per_change"] or 2048,
                                             f"{batch_ms}-{n}", sim, refs_file)
                except Exception as e:  # the row stands without its baseline
                    r["pipe_error"] = f"{type(e).__name__}: {e}"
            rows.append(r)
            if a.json:  # written after every row: a long run that fails later keeps its rows
                with open(a.json, "w") as f:
                    json.dump(rows, f, indent=1)
            print(f"  done: {n} clients, batching {batch_ms} ms: push p50 {fmt(r['p50'])} ms, "
                  f"REST p50 {fmt(r['rest']['p50'])} ms", file=sys.stderr, flush=True)


def fmt(v, nd=1):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def print_table(a, rows):
    print()
    print(f"Notification latency, change (VM.set_name_label sent) -> `all` at the client; "
          f"target {a.rate}/s for {a.seconds:g} s per row, pool of {a.vms} VMs; gateway "
          f"view.fetch_wait_ms {a.gw_fetch_wait_ms}, agent linger.ms "
          f"{'default' if a.agent_linger_ms is None else a.agent_linger_ms}")
    hdr = (f"{'row':<22} {'rate/s':>7} {'samples':>8} {'seen':>6} {'p50 ms':>8} {'p99 ms':>8} "
           f"{'max ms':>8} {'all p99':>8} {'REST/push':>9} {'gw p50/p99':>12} {'drop':>5} {'bad':>6} "
           f"{'cpu% gw/sim/agent/clients':>26} {'healthz p50/p99/max':>20} {'sign-in p50/p99':>16}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        ratio = (r["rest"]["p50"] / r["p50"]) if r["rest"]["p50"] and r["p50"] else None
        cpu = r["cpu"]
        name = f"push {r['clients']:>4} cl, batch {r['batch_ms']:>2}"
        if r.get("session_thread") is not None:
            name += f" st={'on' if r['session_thread'] == 'true' else 'off'}"
        # labels never seen before the drain ended count as later than every sample seen:
        # a percentile beyond the coverage is only known to exceed the row's max
        p50 = fmt(r["p50"]) if r["coverage"] >= 0.5 else ">" + fmt(r["max"])
        p99 = fmt(r["p99"]) if r["coverage"] >= 0.99 else ">" + fmt(r["max"])
        print(f"{name:<22} {r['rate']:>7.0f} {r['samples']:>8} {100 * r['seen']:>5.1f}% {p50:>8} "
              f"{p99:>8} {fmt(r['max']):>8} {fmt(r['raw_p99']):>8} "
              f"{(f'{ratio:.0f}x' if ratio else '-'):>9} "
              f"{fmt(r['gw_p50']) + '/' + fmt(r['gw_p99']):>12} {r['closed']:>5} {r['corrupt']:>6} "
              f"{cpu['gw']:>6.0f}/{cpu['sim']:.0f}/{cpu['agent']:.0f}/{cpu['clients']:.0f}"
              f" {'/'.join(fmt(r['healthz'][k]) for k in ('p50', 'p99', 'max')):>20}"
              f" {'/'.join(fmt(r['signin'][k]) for k in ('p50', 'p99')):>16}")
    for b in sorted({r["batch_ms"] for r in rows}):
        r = min((r for r in rows if r["batch_ms"] == b), key=lambda r: r["clients"])
        rr = r["rest"]
        name = f"REST poll {a.poll_s:g}s, batch {b:>2}"
        print(f"{name:<22} {r['rate']:>7.0f} {rr['samples']:>8} {100 * rr['seen']:>5.1f}% {fmt(rr['p50']):>8} "
              f"{fmt(rr['p99']):>8} {fmt(rr['max']):>8} {'-':>8} {'1x':>9} {'-':>12} {'-':>5} {'-':>6} "
              f"  (during the {r['clients']}-client row; GET p50 {fmt(rr['poll_ms_p50'])} ms)")
    print()
    print("rate/s: set_name_label calls the simulator completed per second (the driver skips owed")
    print("  calls when >100 ms behind). seen: share of the labels sent that a measuring client saw")
    print("  (a rename merged with a later one before it was published is never seen). p50/p99/max:")
    print("  every sample of the xo-lib measuring clients (min(N, --xolib) of them). all p99: the raw")
    print("  clients' p99 (worst process; 2% buckets). REST/push: REST p50 / push p50 in the same row.")
    print("  gw p50/p99: the gateway's xo_gateway_notification_latency_seconds (agent record ts ->")
    print("  queued), bucket bounds. drop: clients disconnected during the row. bad: messages (summed")
    print("  over all clients) that were not valid JSON, or whose lat: label was mangled. cpu%: of one core.")
    print("  healthz p50/p99/max: GET /healthz every 100 ms during the row, ms to the answer (target 50).")
    print("  sign-in p50/p99: every 0.5 s a new WebSocket client connects and signs in (token), ms")
    print("  from connect to the answer (target 50).")
    print(f"  load clients: {a.load_client} ({'latency_load_client, C' if a.load_client == 'c' else 'node ws, --procs ' + str(a.procs)}).")
    for r in rows:
        notes = []
        if r["skipped"] or r["errors"]:
            notes.append(f"driver skipped {r['skipped']} calls, {r['errors']} errors")
        if r["lag_after"]:
            notes.append(f"gateway lag after the row {r['lag_after']}")
        if r["corrupt"]:
            notes.append(f"{r['corrupt']} corrupted messages, e.g. {r['corrupt_sample']!r}")
        if r["final_missing"]:
            notes.append(f"{r['final_missing']} (client, VM) pairs still lacked the VM's last label "
                         f"{r['drain_s']:.0f} s after the driver stopped")
        if r["coverage"] < 0.99:
            notes.append(f"measuring clients got {100 * r['coverage']:.1f}% of the labels sent by "
                         f"{r['drain_s']:.0f} s after the driver stopped (the rest were in corrupted "
                         f"messages or still queued): percentiles shown as >max are censored "
                         f"(p99 of the samples received: {fmt(r['p99'])} ms)")
        if r["raw_clients"] and r["raw_samples"] < 0.99 * r["raw_clients"] * r["sent"]:
            notes.append(f"raw clients had received {100 * r['raw_samples'] / (r['raw_clients'] * r['sent']):.1f}% "
                         f"of their labels when the row ended (their processes were behind)")
        gath = r.get("gathered") or {}
        if gath.get("messages"):
            notes.append(f"{gath['messages']:,} messages written gathered in {gath['sends']:,} sends")
        if r["healthz"]["errors"]:
            notes.append(f"/healthz unanswered {r['healthz']['errors']} times (30 s timeout)")
        if r["signin"]["errors"]:
            notes.append(f"sign-in probe failed {r['signin']['errors']} times (30 s timeout)")
        hs = r.get("signin_handshake") or {}
        if hs.get("p50") is not None:
            notes.append(f"sign-in's handshake (connect -> upgrade answered) p50/p99 {hs['p50']:.1f}/"
                         f"{hs['p99']:.1f} ms, the rest is the call")
        if r["rest"]["errors"]:
            notes.append(f"REST poll errors {r['rest']['errors']}")
        if notes:
            print(f"note ({r['clients']} clients, batch {r['batch_ms']}): " + "; ".join(notes))
    if any(r["kafka_trimmed"] for r in rows):
        print("note: xo-kafka-dev trimmed old records of the pool's partition (5 MiB in-memory log);"
              " the gateway was reading at the head, see lag")
    print_hops(rows)
    print_pipe(rows)
    print_split(rows)
    print("call latency of set_name_label at the simulator (p50/p99 ms): " + ", ".join(
        f"{r['clients']}cl/b{r['batch_ms']} {fmt(r['call_p50'], 2)}/{fmt(r['call_p99'], 1)}" for r in rows))


def median(vals):
    vals = sorted(v for v in vals if v is not None)
    return vals[len(vals) // 2] if len(vals) % 2 else (
        (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2 if vals else None)


def print_split(rows):
    """Medians over the rounds of /healthz and sign-in per http.session_thread, and their
    ratio to the one-thread baseline (false) of the same clients and batching."""
    keys = sorted({(r["clients"], r["batch_ms"]) for r in rows if r.get("session_thread")})
    if not keys:
        return
    print()
    print("HTTP beside the fan-out: medians over the rounds (ms), ratio to http.session_thread "
          "false in the same run")
    hdr = (f"{'row':<24} {'rounds':>6} {'healthz p50':>12} {'healthz p99':>12} "
           f"{'sign-in p50':>12} {'sign-in p99':>12} {'push p50':>9}")
    print(hdr)
    print("-" * len(hdr))
    for n, b in keys:
        base = None
        for st in ("false", "true"):
            rs = [r for r in rows if (r["clients"], r["batch_ms"], r.get("session_thread")) ==
                  (n, b, st)]
            if not rs:
                continue
            m = {"hz50": median(r["healthz"]["p50"] for r in rs),
                 "hz99": median(r["healthz"]["p99"] for r in rs),
                 "si50": median(r["signin"]["p50"] for r in rs),
                 "si99": median(r["signin"]["p99"] for r in rs),
                 "push": median(r["p50"] for r in rs)}
            base = base or m

            def cell(k):
                ratio = m[k] / base[k] if m[k] and base[k] and m is not base else None
                return fmt(m[k]) + (f" {ratio:.2f}x" if ratio else "")
            name = f"{n} cl, batch {b}, st={'on' if st == 'true' else 'off'}"
            print(f"{name:<24} {len(rs):>6} {cell('hz50'):>12} {cell('hz99'):>12} "
                  f"{cell('si50'):>12} {cell('si99'):>12} {cell('push'):>9}")


def print_pipe(rows):
    """Each row beside its physical limit: the raw pipe's latency with the same readers,
    frame size and rate, and the gateway's ratio to it."""
    for r in rows:
        if r.get("pipe_error"):
            print(f"note: the raw pipe after the {r['clients']}-client row failed: {r['pipe_error']}")
    rows = [r for r in rows if r.get("pipe")]
    if not rows:
        return
    print()
    print("Against the raw pipe (raw_fanout_pipe: the same frames, rate and readers, nothing "
          "else), measured after each row; ratio = gateway / pipe")
    hdr = (f"{'row':<22} {'bytes/chg':>9} {'pipe p50':>9} {'pipe p99':>9} {'pipe seen':>9} "
           f"{'pipe cpu% w/r':>13} {'gw p50':>9} {'ratio':>7} {'gw p99':>9} {'ratio':>7} "
           f"{'load p50':>9} {'load p99':>9} {'ratio':>7}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        pp = r["pipe"]

        def ratio(v, base):
            return f"{v / base:.1f}x" if v is not None and base else "-"
        name = f"{r['clients']:>4} cl, batch {r['batch_ms']:>2}"
        print(f"{name:<22} {pp['bytes']:>9.0f} {fmt(pp['p50']):>9} {fmt(pp['p99']):>9} "
              f"{100 * pp['samples'] / max(1, pp['expected']):>8.1f}% "
              f"{pp['cpu']['pipe']:>6.0f}/{pp['cpu']['clients']:<6.0f} {fmt(r['p50']):>9} "
              f"{ratio(r['p50'], pp['p50']):>7} {fmt(r['p99']):>9} {ratio(r['p99'], pp['p99']):>7} "
              f"{fmt(r.get('raw_p50')):>9} {fmt(r['raw_p99']):>9} {ratio(r['raw_p99'], pp['p99']):>7}")
    print("bytes/chg: the gateway's `all` bytes per change in the row (the pipe's frame size).")
    print("pipe p50/p99: the load clients' latency from each frame's due time (one frame per change,")
    print("  the changes due since its last pass written by one thread to every reader in one send(),")
    print("  a reader behind gets its pending frames in one writev()); pipe seen: samples / (clients x")
    print("  rate x seconds); cpu%: the pipe's writer / its")
    print("  readers. gw p50/p99: the row's xo-lib measuring clients; load p50/p99: its load clients")
    print("  (the pipe's readers' program). The gateway's figures also hold the hops before it")
    print("  (change -> publish, Kafka), a few ms; the pipe runs while the stack is " +
          ("busy with the same changes (--pipe-under-load)." if any(
              r["pipe"].get("under_load") for r in rows) else "idle."))
    for r in rows:
        st = r["pipe"]["stats"]
        if st.get("dropped") or r["pipe"]["closed"] or r["pipe"]["corrupt"]:
            print(f"note (pipe, {r['clients']} clients): {st.get('dropped')} readers dropped "
                  f"(over 64 MiB behind), {r['pipe']['closed']} closed, {r['pipe']['corrupt']} corrupt")
        print(f"pipe {r['clients']} clients: {st['frames']:,} frames of {st['frame_bytes']} bytes, "
              f"{st['sends']:,} sends ({st['gathered_sends']:,} of pending bytes), "
              f"{st['eagain']:,} refused at once, writer at most {st['max_behind_ms']:.1f} ms behind")


def print_hops(rows):
    print()
    print("Where the time goes: mean ms of each hop (share of the measuring clients' mean)")
    names = [("publish", "change->publish"), ("kafka", "Kafka"), ("consume_queued", "consume->queued"),
             ("queued_written", "queued->written"), ("written_client", "written->client")]
    hdr = f"{'row':<22} {'mean ms':>8} " + " ".join(f"{t:>18}" for _, t in names)
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        h = hop_split(r)
        cells = []
        for key, _ in names:
            v = h[key]
            share = f" ({100 * v / h['e2e']:.0f}%)" if v is not None and h["e2e"] else ""
            cells.append(f"{fmt(v) + share:>18}")
        print(f"{'push ' + str(r['clients']).rjust(4) + ' cl, batch ' + str(r['batch_ms']).rjust(2):<22} "
              f"{fmt(h['e2e']):>8} " + " ".join(cells))
    print("change->publish: record timestamp (the agent's produce) - label sent; Kafka: a consumer")
    print("  configured as the gateway's got it - record timestamp (latency_hop_probe); consume->queued:")
    print("  the gateway's record -> queued mean - Kafka; queued->written: its record -> written to a")
    print("  client (every client, load clients included) - record -> queued; written->client: the rest")
    print("  of the xo-lib clients' mean (kernel, client). With load clients queued->written covers")
    print("  every client, the measuring ones being only 4 of them, so it can exceed their mean and")
    print("  written->client be negative.")
    print("  p50 of the first two hops: " + ", ".join(
        f"{r['clients']}cl {fmt((r['probe'].get('publish') or {}).get('p50'))}/"
        f"{fmt((r['probe'].get('kafka') or {}).get('p50'))}" for r in rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Full run (issue 5): --full, i.e. --clients 1,100,1000 "
                                        "--batch-ms 0,50 --seconds 30 --rate 1000")
    ap.add_argument("--clients", default="1,100", help="WebSocket clients per row (default 1,100)")
    ap.add_argument("--batch-ms", default="0,50", help="simulator event batching (default 0,50)")
    ap.add_argument("--seconds", type=float, default=10, help="measured seconds per row (default 10)")
    ap.add_argument("--rate", type=int, default=1000, help="changes per second (default 1000)")
    ap.add_argument("--vms", type=int, default=1000, help="VMs in the simulated pool (default 1000)")
    ap.add_argument("--conns", type=int, default=8, help="driver keep-alive connections (default 8)")
    ap.add_argument("--xolib", type=int, default=4, help="xo-lib measuring clients per row (default 4)")
    ap.add_argument("--procs", type=int, default=2,
                    help="node processes for the load clients with --load-client node (default 2)")
    ap.add_argument("--load-client", choices=("c", "node"), default="c",
                    help="the clients beyond --xolib: c (latency_load_client, default) or node")
    ap.add_argument("--poll-s", type=float, default=1.0, help="REST poll interval (default 1 s)")
    ap.add_argument("--full", action="store_true", help="the issue's run: clients 1,100,1000, 30 s")
    ap.add_argument("--drain-s", type=float, default=60,
                    help="max wait after the driver stops for every client to receive every VM's "
                         "last label (default 60 s, times XO_TIMEOUT_SCALE)")
    ap.add_argument("--agent-linger-ms", type=int,
                    help="the agent's producer linger.ms (default: the agent's own)")
    ap.add_argument("--gw-fetch-wait-ms", type=int, default=1,
                    help="the gateway's view.fetch_wait_ms (default 1 here: the in-memory "
                         "xo-kafka-dev holds an empty fetch for the whole wait where a Kafka "
                         "broker answers as soon as a record arrives, so 1 measures the "
                         "gateway as it runs on Kafka; the gateway's own default is 10)")
    ap.add_argument("--session-thread", help="comma list of the gateway's http.session_thread "
                    "values to run every batch with, e.g. false,true (default: the gateway's "
                    "own setting, not set)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="with --session-thread: run its list this many times, alternately "
                         "(default 1)")
    ap.add_argument("--gateway-binary", help="an xo-gateway to measure instead of this build's "
                    "(another branch's build: run both alternately to compare)")
    ap.add_argument("--no-raw-pipe", action="store_true",
                    help="skip the raw pipe measured after each row (raw_fanout_pipe: the same "
                         "frames to the same readers with nothing else, the physical limit)")
    ap.add_argument("--pipe-under-load", action="store_true",
                    help="run the raw pipe while the driver renames VMs as in the row (the "
                         "simulator, agent, broker and gateway busy, no WebSocket client): the "
                         "floor with the rest of the chain beside it")
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    a = ap.parse_args()
    if a.full:
        a.clients, a.seconds = "1,100,1000", 30
    global GATEWAY
    if a.gateway_binary and not os.access(a.gateway_binary, os.X_OK):
        ap.error(f"--gateway-binary {a.gateway_binary}: not an executable")
    GATEWAY = a.gateway_binary
    clients = [int(x) for x in a.clients.split(",")]
    settings = a.session_thread.split(",") if a.session_thread else [None]
    if any(v not in (None, "true", "false") for v in settings) or a.rounds < 1:
        ap.error("--session-thread takes true and/or false; --rounds at least 1")
    batches = [int(x) for x in a.batch_ms.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4 * max(clients) + 1024
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))
    bench_common.require("latency_hop_probe")
    if not a.no_raw_pipe:
        bench_common.require("raw_fanout_pipe", "latency_load_client")
    if a.load_client == "c":
        bench_common.require("latency_load_client")
    g.ensure_node_modules()
    rows = []
    t0 = time.monotonic()
    try:
        for _ in range(a.rounds if a.session_thread else 1):
            for v in settings:
                for b in batches:
                    run_batch(a, b, clients, rows, v)
    finally:
        if rows:  # print what was measured even if a later row failed
            print_table(a, rows)
    print(f"total {time.monotonic() - t0:.0f} s; machine: {os.cpu_count()} CPUs; "
          f"RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    bench_common.run_main(main)  # errors as one line, never a traceback
