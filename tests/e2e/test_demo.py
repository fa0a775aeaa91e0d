"""README command 1 acts: scripts/demo.sh (on an ephemeral port, small pools, the binaries
of this build) is started as a user would, every command of the README's "Try it" section
is run as written (only the port and the Kafka address the demo printed are filled in),
and the VM those commands act on must change in the simulator: Halted, then Running after
the curl action, Halted after xo-lib's vm.stop, Running after xo-lib's vm.start; the
gateway's view must follow. That VM's console then opens through the demo's gateway and
agent as noVNC opens it (/api/consoles/<id>, the token cookie of the demo account): its
ServerInit names the VM and its framebuffer equals the simulator's own console. Ctrl-C
(SIGINT to the demo's process group) must then stop every process the demo started."""
import json
import os
import re
import signal
import subprocess
import threading
import time
import unittest
import urllib.request

import gw_harness
import harness
import rfb_client

README = os.path.join(harness.src_dir(), "README.md")
DEMO = os.path.join(harness.src_dir(), "scripts", "demo.sh")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# What each acting command of the README must leave the VM in (checked in the simulator).
EFFECTS = (("/actions/start", "Running"), ("/actions/clean_shutdown", "Halted"),
           ("/actions/hard_shutdown", "Halted"), (" vm.start ", "Running"),
           (" vm.stop ", "Halted"))


def try_it_commands():
    """Every command line of the sh blocks of the README's "Try it" section."""
    with open(README) as f:
        text = f.read()
    section = text[text.index("\n## Try it"):]
    nxt = section.find("\n## ", 1)
    section = section[:nxt] if nxt > 0 else section
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        lines += [l for l in block.splitlines() if l.strip() and not l.startswith("#")]
    return lines


class Shell:
    """One bash, fed one command at a time, so that variables (VM=...) carry over."""

    def __init__(self, cwd):
        self.p = subprocess.Popen(["bash"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def run(self, command, timeout):
        """Run one line; returns (exit status, its output)."""
        start = len(self.lines)
        marker = f"@@done-{start}-{time.monotonic_ns()}"
        self.p.stdin.write(f"{command}\necho; echo \"{marker} $?\"\n".encode())
        self.p.stdin.flush()
        deadline = time.monotonic() + timeout * harness.SCALE
        with self.cond:
            while not any(l.startswith(marker) for l in self.lines[start:]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"README command did not finish: {command}")
                self.cond.wait(min(left, 0.5))
            out = self.lines[start:]
        end = next(i for i, l in enumerate(out) if l.startswith(marker))
        return int(out[end].split()[1]), "\n".join(out[:end]).strip()

    def var(self, name):
        return self.run(f'printf "%s\\n" "${name}"', 10)[1]

    def close(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait()
        self.p.stdin.close()
        self.p.stdout.close()


class SimAt:
    """The simulator at a URL the demo printed, as rfb_client.straight_to_sim reads it."""

    def __init__(self, url):
        self.url = url

    def truth(self):
        with urllib.request.urlopen(self.url.rstrip("/") + "/sim/truth", timeout=60) as r:
            return json.load(r)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


class DemoActs(unittest.TestCase):
    def test_readme_try_it_against_the_demo(self):
        commands = try_it_commands()
        self.assertTrue(any("curl" in c and "/actions/" in c for c in commands),
                        "the README's Try it has no curl action")
        self.assertTrue(any("xo_client.js" in c and " vm.start " in c for c in commands),
                        "the README's Try it has no xo-lib vm.start")
        gw_harness.ensure_node_modules()  # under its lock, before the demo looks
        port = harness.free_port()
        with harness.Stack() as st:
            demo = st.spawn("demo", ["bash", DEMO], env={
                "XO_DEMO_PORT": str(port), "XO_DEMO_BUILD_DIR": harness.build_dir(),
                "XO_DEMO_NO_BUILD": "1", "XO_DEMO_VMS_A": "30", "XO_DEMO_VMS_B": "12",
                "TMPDIR": st.tmp})
            # the two "pool: <uuid> <simulator url>" lines, printed once everything is up
            # (wait_line fails at once if the demo exits)
            pools = []
            demo.wait_line(lambda l: l.startswith("pool: ") and (pools.append(l) or
                                                                 len(pools) == 2), timeout=180)
            sims = [l.split()[2] for l in pools]
            kafka = demo.wait_line(lambda l: l.startswith("kafka: ")).split()[1]
            url = f"http://127.0.0.1:{port}"
            # where to open the web UI: its page, served by the demo's gateway
            webui = demo.wait_line(lambda l: l.startswith("web UI: ")).split()[2]
            status, body, headers = gw_harness.http_get(webui)
            self.assertEqual((status, webui), (200, url + "/"))
            self.assertIn(b'src="/app/main.js"', body)
            harness.wait_until(lambda: self._ready(url), 120, interval=0.5,
                               what="the demo's view loaded with both pools synced")
            sh = Shell(harness.src_dir())
            try:
                vm = self._run_commands(sh, commands, port, kafka, sims, url)
            finally:
                sh.close()
            self._console(port, sims, vm)
            self._ctrl_c(demo)

    @staticmethod
    def _ready(url):
        h = json.loads(gw_harness.http_get(f"{url}/healthz", timeout=5)[1])
        pools = h.get("pools", [])
        return h.get("status") == "ok" and len(pools) == 2 and all(p["synced"] for p in pools)

    def _run_commands(self, sh, commands, port, kafka, sims, url):
        vm = None
        states = []
        for command in commands:
            line = (command.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
                    .replace("<kafka address printed by the demo>", kafka))
            rc, out = sh.run(line, 120)
            self.assertEqual(rc, 0, f"{command}\n{out}")
            assign = re.match(r"^(\w+)=\$\(", command)
            self.assertTrue(out or assign, f"no output from {command}")
            if assign:
                vm = sh.var(assign.group(1))
                self.assertRegex(vm, UUID, f"{command} gave {vm!r}")
                states.append(self._power_state(sims, vm))
                self.assertEqual(states[-1], "Halted", "the README picks a halted VM")
            self._check_patching(command, out)
            for needle, want in EFFECTS:
                if needle in command:
                    self.assertIsNotNone(vm, f"{command} acts before a VM was picked")
                    self.assertNotIn('"error"', out, f"{command}\n{out}")
                    self.assertRegex(out, re.compile(r'^true$|^204$|"result":\s*true', re.M),
                                     f"{command}\n{out}")
                    states.append(self._power_state(sims, vm))
                    self.assertEqual(states[-1], want, f"after {command}\n{out}")
        self.assertEqual(states, ["Halted", "Running", "Halted", "Running"])
        # and the gateway's view follows the simulator
        vm_url = f"{url}/rest/v0/vms/{vm}"
        harness.wait_until(
            lambda: json.loads(gw_harness.http_get(vm_url, gw_harness.basic(*gw_harness.ADMIN))[1])
            .get("power_state") == states[-1], 30, what="the view shows the VM's last state")
        return vm

    def _console(self, port, sims, vm):
        """The running VM's console through the demo, compared with the simulator's own."""
        ws = gw_harness.WsClient(port)
        self.assertIn("result", ws.call("session.signIn", {"username": "admin@admin.net",
                                                           "password": "admin"}))
        token = ws.call("token.create", {})["result"]
        ws.close()
        sim = next(s for s in (SimAt(u) for u in sims)
                   if any(r.get("uuid") == vm for r in s.truth().get("vm", {}).values()))
        name = next(r["name_label"] for r in sim.truth()["vm"].values() if r.get("uuid") == vm)
        # the agent is live at the gateway by now: it answered the README's actions
        conn = rfb_client.through_gateway(port, vm, token, timeout=30)
        try:
            rfb = rfb_client.Rfb(conn)
            rfb.handshake()
            self.assertEqual(rfb.name, name)
            frame = rfb.full_frame()
        finally:
            conn.close()
        direct = rfb_client.straight_to_sim(sim, vm)
        try:
            d = rfb_client.Rfb(direct)
            d.handshake()
            self.assertEqual(frame, d.full_frame(), "the console shows another framebuffer")
        finally:
            direct.close()
        print(f"console of {vm} through the demo: ServerInit '{name}', frame equal to the "
              "simulator's")

    patched = False

    def _check_patching(self, command, out):
        """Before the install every host misses something; after it, nothing."""
        if "pool.installPatches" in command:
            self.assertNotIn('"error"', out, f"{command}\n{out}")
            self.assertEqual(out.count('"result":true'), 5, f"{command}\n{out}")
            self.patched = True
        elif "pool.listMissingPatches" in command:
            lines = [l for l in out.splitlines() if l.strip()]
            self.assertEqual(len(lines), 5, f"one answer per host of both pools\n{out}")
            for line in lines:
                self.assertTrue(line.startswith('{"result":[' + ("]" if self.patched else "{")),
                                f"{command}\n{out}")

    @staticmethod
    def _power_state(sims, vm):
        for sim in sims:
            with urllib.request.urlopen(sim.rstrip("/") + "/sim/truth", timeout=60) as r:
                truth = json.load(r)
            for rec in truth.get("vm", {}).values():
                if rec.get("uuid") == vm:
                    return rec["power_state"]
        raise AssertionError(f"VM {vm} is in no simulator")

    def _ctrl_c(self, demo):
        """Ctrl-C as a terminal sends it: SIGINT to the demo's whole process group."""
        pgid = demo.p.pid  # started in its own session: pgid == pid
        os.killpg(pgid, signal.SIGINT)
        demo.p.wait(30 * harness.SCALE)
        harness.wait_until(lambda: not group_alive(pgid), 30, interval=0.2,
                           what="every process of the demo gone after Ctrl-C")
        self.assertIn("demo: stopped", demo.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
