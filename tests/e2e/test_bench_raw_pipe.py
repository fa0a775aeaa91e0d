"""The latency bench's raw pipe (tests/bench/raw_fanout_pipe.c), the baseline its rows are
compared with: it must deliver what the gateway would, or its figures mean nothing.

1. 20 latency_load_client readers at 200 changes/s: every reader gets every frame (by the
   readers' own `missing` check over every seq the pipe sent), none corrupt (each frame a
   whole `all` "enter" JSON object with its lat: label), none closed, and the pipe dropped
   no reader.
2. A reader that stops reading (a Python client with a small receive buffer) while the pipe
   writes: its frames pile up in the pipe as shared batches and go out together in writev()s
   once it reads again; every frame arrives whole and in order (seq 0, 1, 2, ... with no
   gap), so the pending path is the intact one the comparison assumes.
Loopback only; bounded waits.
"""
import json
import socket
import time

import gw_harness as g
import harness

S = harness.SCALE


def start_pipe(st, name, clients, rate):
    pipe = st.spawn(name, [harness.binary("raw_fanout_pipe"), "--clients", str(clients),
                           "--rate", str(rate), "--bytes", "1900", "--vms", "50"], stdin=True)
    port = int(pipe.wait_line(lambda l: l.startswith("listening"), timeout=30).split()[1])
    return pipe, port


def send(proc, cmd):
    proc.p.stdin.write((cmd + "\n").encode())
    proc.p.stdin.flush()


def ask(proc, cmd, prefix):
    """Send cmd; the first line starting with prefix printed after it, as JSON."""
    seen, skip = [0], len(proc.lines)

    def fresh(line):  # wait_line visits the lines in order from the first
        seen[0] += 1
        return seen[0] > skip and line.startswith(prefix)
    send(proc, cmd)
    return json.loads(proc.wait_line(fresh, timeout=60))


def stats(pipe):
    return ask(pipe, "stats", "{")


def check_readers(st):
    pipe, port = start_pipe(st, "pipe-readers", 20, 200)
    cl = st.spawn("pipe-load-clients", [harness.binary("latency_load_client"),
                                        f"http://127.0.0.1:{port}", "t", "20"], stdin=True)
    cl.wait_line(lambda l: l.startswith("ready"), timeout=60)
    pipe.wait_line(lambda l: l.startswith("feeding"), timeout=30)
    harness.wait_until(lambda: stats(pipe)["frames"] >= 400, 60, 0.2, "400 frames written")
    st_ = ask(pipe, "stop", "{")  # no frame after these; the readers stay connected
    seqs = st_["frames"]
    final = st.path("pipe-seqs.json")
    with open(final, "w") as f:  # every seq the pipe sent, in the readers' FILE shape
        json.dump({f"s{i}": i for i in range(seqs)}, f)

    deadline = time.monotonic() + 60 * S
    while True:  # the readers may still be reading what was sent
        missing = ask(cl, f"missing {final}", '{"missing"')["missing"]["raw"]
        if missing == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    rep = ask(cl, "report", '{"clients"')
    print(f"  readers: {seqs} frames x 20 readers, {rep['raw']['samples']} samples, "
          f"p50 {rep['raw']['p50']} ms, {st_['sends']} sends")
    assert st_["dropped"] == 0 and st_["clients"] == 20, st_
    assert rep["corrupt"] == 0, rep["corrupt_sample"]
    assert missing == 0, f"{missing} (reader, frame) pairs lost"
    assert rep["raw"]["samples"] == 20 * seqs, rep
    send(cl, "quit")
    send(pipe, "quit")


def check_behind(st):
    pipe, port = start_pipe(st, "pipe-behind", 1, 500)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30 * S)
    s.connect(("127.0.0.1", port))
    ws = g.WsClient(port, sock=s)
    assert "result" in ws.call("session.signIn", {"token": "t"})
    pipe.wait_line(lambda l: l.startswith("feeding"), timeout=30)
    # not reading until the pipe has had to queue frames for it (its socket buffers full)
    harness.wait_until(lambda: stats(pipe)["queued_bytes"] > 64 * 1024, 60, 0.2,
                       "frames queued in the pipe")
    before = stats(pipe)
    want, deadline = 0, time.monotonic() + 60 * S
    while want < before["frames"] and time.monotonic() < deadline:
        op, payload = ws.recv_frame()
        assert op == 1, f"opcode {op}"
        msg = json.loads(payload)  # whole
        label = msg["params"]["items"].popitem()[1]["name_label"]
        seq = int(label.split(":")[2])
        assert seq == want, f"frame {seq} where {want} was due: reordered or lost"
        want += 1
    after = stats(pipe)
    print(f"  behind: {want} frames read in order, {after['gathered_sends']} writev()s of "
          f"pending frames")
    assert want >= before["frames"], f"{want} of {before['frames']} frames"
    assert after["gathered_sends"] >= 1, after
    assert after["dropped"] == 0, after
    ws.close()
    send(pipe, "quit")


def main():
    with harness.Stack() as st:
        check_readers(st)
        check_behind(st)
    print("PASS")


if __name__ == "__main__":
    main()
