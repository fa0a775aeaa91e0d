"""xo-fleet, the command-line client, end to end on the demo's pieces: two simulators, two
agents, xo-kafka-dev, and xo-gateway with commands enabled (signed with its key).

1. register: a wrong password -> exit 4 and one line naming invalidCredentials; the
   password on stdin -> a config file of mode 0600 holding a token and never the password.
2. `list-objects type=VM` equals the simulators' truth (ids, name_label, power_state).
3. `vm.start id=...` starts the simulated VM; `watch` (NDJSON) prints that change.
4. `rest get /vms fields=name_label` equals the JSON-RPC view.
5. Every failure -> a non-zero exit status and exactly one line on stderr naming it:
   connection refused, TLS failure (a TLS gateway; then --allowUnauthorized and
   SSL_CERT_FILE make it work), wrong password, unknown method, invalid parameters, XO
   errors by name (vmBadPowerState, noSuchObject), usage, not registered.
6. A long method draws a progress bar on stderr when stderr is a terminal (a pty).
"""
import json
import os
import pty
import select
import signal
import stat
import subprocess
import time

import gw_harness as g
import harness
from test_agent_commands import power, regular_vms, vm_by_state, wait_consuming
from test_gateway_tls import make_cert

TASK_MS = 2400  # sim 0: slow Async.* tasks, so that the progress bar shows


class Cli:
    def __init__(self, cfg_home):
        self.bin = harness.binary("xo-fleet")
        self.env = dict(os.environ, XDG_CONFIG_HOME=cfg_home)
        self.env.pop("SSL_CERT_FILE", None)

    def run(self, *args, stdin=None, env=None, timeout=60):
        r = subprocess.run([self.bin, *args], input=stdin, capture_output=True,
                           env=dict(self.env, **(env or {})), timeout=timeout * harness.SCALE)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    def ok(self, *args, **kw):
        rc, out, err = self.run(*args, **kw)
        assert rc == 0, (args, rc, err)
        return out

    def fails(self, args, status, *words, **kw):
        """The command fails with `status` and one stderr line holding every word."""
        rc, out, err = self.run(*args, **kw)
        lines = err.splitlines()
        assert rc == status, (args, rc, err)
        assert len(lines) == 1 and lines[0].startswith("xo-fleet: "), (args, err)
        for w in words:
            assert w in lines[0], (args, w, lines[0])
        return lines[0]


def start_stack(st):
    k = st.start_kafka()
    sims = [st.start_sim(vms=20, hosts=2, seed=41, extra=("--task-ms", str(TASK_MS))),
            st.start_sim(vms=12, hosts=1, seed=42)]
    keys = st.path("keys")
    subprocess.run([harness.binary("xo-gateway"), "keygen", "--out", keys], check=True,
                   capture_output=True)
    users = st.path("users")
    subprocess.run([harness.binary("xo-gateway"), "useradd", "--users", users, "--email",
                    g.ADMIN[0], "--permission", "admin"], input=g.ADMIN[1].encode(), check=True,
                   capture_output=True)
    agents = []
    for i, s in enumerate(sims):
        agents.append(st.start_agent(s, k, name=f"agent{i}", extra={
            "commands": {"public_keys": os.path.join(keys, "gateway.pub")}}))
    gw_conf = {"users": {"file": users},
               "commands": {"private_key": os.path.join(keys, "gateway.key"),
                            "timeout_ms": "30000"}}
    gw = st.start_gateway(k, extra=gw_conf)
    for a in agents:
        wait_consuming(a)
    g.wait_synced(gw, [s.pool_uuid for s in sims])
    return k, sims, gw, gw_conf


def check_register(cli, gw, cfg_home):
    cli.fails(["register", gw.url, g.ADMIN[0], "not the password"], 4, "invalidCredentials")
    path = os.path.join(cfg_home, "xo-fleet", "config.json")
    assert not os.path.exists(path)
    # no password argument, stdin not a terminal: the first line of stdin
    rc, out, err = cli.run("register", "--expiresIn", "2h", gw.url, g.ADMIN[0],
                           stdin=(g.ADMIN[1] + "\n").encode())
    assert rc == 0 and "Successfully logged with admin@admin.net" in err, (rc, err)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, oct(mode)
    with open(path) as f:
        text = f.read()
    cfg = json.loads(text)
    assert set(cfg) == {"server", "token", "allowUnauthorized"}, cfg
    assert cfg["server"] == gw.url + "/" and len(cfg["token"]) >= 32
    assert g.ADMIN[1] not in text.replace(cfg["token"], "")
    print(f"register: wrong password -> exit 4 invalidCredentials; config {oct(mode)} with a "
          "token only")


def vm_truth(sims):
    exp = {}
    for s in sims:
        for xid, (t, name, ps) in g.expected_from_truth(s.truth(), s.pool_uuid).items():
            if t == "VM":
                exp[xid] = (name, ps)
    return exp


def check_list_objects(cli, sims):
    out = cli.ok("list-objects", "type=VM")
    got = {o["id"]: (o["name_label"], o["power_state"]) for o in json.loads(out)}
    assert all(o["type"] == "VM" for o in json.loads(out))
    exp = vm_truth(sims)
    assert got == exp, (len(got), len(exp), set(got) ^ set(exp))
    # --prop restricts the properties, prop=value filters (booleans and json: typed)
    running = json.loads(cli.ok("list-objects", "--name_label", "type=VM",
                                "power_state=Running"))
    assert running and all(set(o) == {"name_label"} for o in running)
    assert len(running) == sum(1 for _, ps in exp.values() if ps == "Running")
    print(f"list-objects type=VM: {len(got)} VMs equal to the simulators' truth")
    return got


class Watch:
    def __init__(self, cli):
        self.p = subprocess.Popen([cli.bin, "watch"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=cli.env)
        self.lines = []

    def wait_for(self, pred, timeout=30):
        deadline = time.monotonic() + timeout * harness.SCALE
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if r:
                line = self.p.stdout.readline()
                if not line:
                    break
                self.lines.append(json.loads(line))
                if pred(self.lines[-1]):
                    return self.lines[-1]
        raise TimeoutError(f"watch: no such notification in {len(self.lines)} lines")

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        out, err = self.p.communicate(timeout=10 * harness.SCALE)
        return self.p.returncode, err.decode()


def check_start_and_watch(cli, sims):
    sim = next(s for s in sims[::-1] if any(r["power_state"] == "Halted"
                                          for _, r in regular_vms(s).values()))
    vm = vm_by_state(sim, "Halted")
    w = Watch(cli)
    try:
        time.sleep(0.5 * harness.SCALE)  # signed in before the change
        assert cli.ok("vm.start", f"id={vm}") == "true\n"
        assert power(sim, vm) == "Running"
        n = w.wait_for(lambda m: m["method"] == "all" and m["params"]["type"] == "enter"
                       and m["params"]["items"].get(vm, {}).get("power_state") == "Running")
    finally:
        rc, err = w.stop()
    assert rc == 0, (rc, err)
    assert set(n) == {"method", "params"}
    print(f"vm.start id={vm}: simulated VM Running; watch printed the `all` enter "
          f"({len(w.lines)} NDJSON lines)")
    return vm


def check_rest(cli, rpc_vms):
    out = json.loads(cli.ok("rest", "get", "/vms", "fields=name_label"))
    rest = {o["href"].rsplit("/", 1)[1]: o["name_label"] for o in out}
    assert all(o["href"].startswith("/rest/v0/vms/") and set(o) == {"href", "name_label"}
               for o in out)
    rpc = {i: name for i, (name, _) in rpc_vms.items()}
    assert rest == rpc, set(rest.items()) ^ set(rpc.items())
    # the same with the query in the path, and one object
    assert json.loads(cli.ok("rest", "get", "/rest/v0/vms?fields=name_label")) == out
    one = next(iter(rest))
    assert json.loads(cli.ok("rest", "get", f"vms/{one}"))["id"] == one
    print(f"rest get /vms fields=name_label: {len(rest)} VMs equal to the JSON-RPC view")


def check_errors(cli, gw, sims, started):
    port = harness.free_port()
    cli.fails(["--url", f"http://tok@127.0.0.1:{port}", "system.getServerVersion"], 6,
              "connection refused")
    cli.fails(["--url", f"http://tok@127.0.0.1:{port}", "rest", "get", "/vms"], 6,
              "connection refused")
    cli.fails(["vm.nope", "id=x"], 1, "methodNotFound", "vm.nope")
    cli.fails(["vm.start"], 1, "invalidParameters", "property @")
    cli.fails(["vm.start", "id=json:42"], 1, "invalidParameters", "@.id")
    cli.fails(["vm.start", f"id={started}"], 1, "vmBadPowerState", "(13)")
    cli.fails(["vm.start", "id=00000000-0000-4000-8000-000000000000"], 1, "noSuchObject")
    cli.fails(["rest", "get", "/vms/00000000-0000-4000-8000-000000000000"], 1, "HTTP 404")
    cli.fails(["vm.start", "id"], 2, "expected <name>=<value>")
    cli.fails(["vm.start", "id=json:{"], 2, "invalid JSON")
    cli.fails(["--url", f"http://wrongtoken@127.0.0.1:{gw.port}", "vm.start", "id=x"], 4,
              "invalidCredentials")
    cli.fails(["--url", f"http://wrongtoken@127.0.0.1:{gw.port}", "rest", "get", "/vms"], 4,
              "HTTP 401")
    assert regular_vms(sims[0])  # nothing above changed a VM
    print("errors: connection refused (6), unknown method, invalid parameters, "
          "vmBadPowerState, noSuchObject, HTTP 404 (1), usage (2), refused token (4): "
          "one line each")


def check_tls(cli, st, k, gw_conf):
    cert, key = make_cert(st)
    port = harness.free_port()
    # written here, not by start_gateway: commands trust the agent keys of the pools as it does
    commands = dict(gw_conf["commands"], agent_keys=st.agent_keys_setting())
    cfg = st.write_config("gw-tls.conf", dict(gw_conf, **{
        "http": {"address": "127.0.0.1", "port": str(port), "tls_cert": cert, "tls_key": key},
        "kafka": {"bootstrap.servers": k.bootstrap}, "commands": commands}))
    st.spawn("gateway-tls", [harness.binary("xo-gateway"), "--config", cfg])
    url = f"https://127.0.0.1:{port}"
    harness.wait_until(lambda: cli.run("--url", f"https://x@127.0.0.1:{port}",
                                       "system.getServerVersion")[0] == 5, 30,
                       what="TLS gateway listening")
    cfg_home = st.path("cfg-tls")
    tls = Cli(cfg_home)
    tls.fails(["register", url, *g.ADMIN], 5, "TLS failure", "self-signed")
    tls.fails(["--url", f"https://tok@127.0.0.1:{port}", "rest", "get", "/vms"], 5,
              "TLS failure")
    tls.ok("register", "--allowUnauthorized", url, *g.ADMIN)
    assert json.loads(tls.ok("list-objects", "type=pool", "--id"))
    tls.ok("unregister")
    # verified against the gateway's certificate as a CA
    tls.ok("register", url, *g.ADMIN, env={"SSL_CERT_FILE": cert})
    assert json.loads(tls.ok("rest", "get", "/pools", env={"SSL_CERT_FILE": cert}))
    print("TLS: self-signed -> exit 5 TLS failure (WebSocket and REST); --allowUnauthorized "
          "and SSL_CERT_FILE work")


def check_progress(cli, sims):
    sim = sims[0]
    vm = vm_by_state(sim, "Running")
    master, slave = pty.openpty()
    p = subprocess.Popen([cli.bin, "vm.stop", f"id={vm}"], stdout=subprocess.PIPE,
                         stderr=slave, env=cli.env)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60 * harness.SCALE
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif p.poll() is not None:
            break
    out = p.communicate(timeout=30)[0]
    os.close(master)
    assert p.returncode == 0 and out == b"true\n", (p.returncode, out, seen)
    text = seen.decode(errors="replace")
    assert "Async.VM.clean_shutdown [" in text and "%" in text, text
    assert text.endswith("\r\x1b[K"), repr(text[-40:])  # the bar erased at the end
    assert power(sim, vm) == "Halted"
    print(f"progress bar on a terminal's stderr: {text.count(chr(13)) - 1} redraws of "
          f"Async.VM.clean_shutdown, erased at the end")


def check_help_and_commands(cli):
    out = cli.ok("list-commands", "--brief", "vm.*")
    assert any(l.split()[0] == "vm.start" and "id" in l.split() for l in out.splitlines())
    info = json.loads(cli.ok("list-commands", "{vm,session}.s*"))
    assert "vm.start" in info and "session.signIn" in info and "vm.delete" not in info
    assert "id=<string>" in cli.ok("vm.start", "--help")
    assert "--expiresIn" in cli.ok("register", "--help")
    assert "Exit status" in cli.ok("--help")


def main():
    t0 = time.monotonic()
    with harness.Stack() as st:
        k, sims, gw, gw_conf = start_stack(st)
        cfg_home = st.path("cfg")
        cli = Cli(cfg_home)
        cli.fails(["list-objects"], 3, "not registered")
        check_register(cli, gw, cfg_home)
        rpc_vms = check_list_objects(cli, sims)
        started = check_start_and_watch(cli, sims)
        check_rest(cli, {i: v for i, v in json.loads(json.dumps(rpc_vms)).items()})
        check_errors(cli, gw, sims, started)
        check_progress(cli, sims)
        check_help_and_commands(cli)
        check_tls(cli, st, k, gw_conf)
        cli.ok("unregister")
        assert not os.path.exists(os.path.join(cfg_home, "xo-fleet", "config.json"))
        cli.fails(["list-objects"], 3, "not registered")
    print(f"PASS ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
