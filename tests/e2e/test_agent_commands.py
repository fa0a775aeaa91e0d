"""xo-agent commands end to end (issue 6, agent side): xo-kafka-dev + the XAPI simulator +
xo-agent; commands are signed by tests/helpers/sign_command and written with kcat -P, results
are read back from xo.results with kcat. /sim/stats calls_by_method proves which commands
reached XAPI."""
import json
import os
import signal
import subprocess
import time
import unittest

import harness

SCHEMAS = os.path.join(harness.src_dir(), "schemas")
OTHER_POOL = "00000000-0000-4000-8000-000000000000"
TERMINAL = ("success", "failure", "rejected")


def sign_command_bin():
    return os.path.join(harness.build_dir(), "tests", "sign_command")


class Cmds:
    """Keys, signing and kcat plumbing for one stack."""

    def __init__(self, st, kafka, sim, partitions=6):
        self.st, self.k, self.sim, self.partitions = st, kafka, sim, partitions
        self.keys = {}
        for name in ("k1", "k2", "rogue"):
            priv, pub = st.path(name + ".pem"), st.path(name + ".pub")
            out = subprocess.run([sign_command_bin(), "--genkey", priv, pub], check=True,
                                 capture_output=True, text=True).stdout
            self.keys[name] = (priv, pub, out.strip())

    def agent_extra(self, **kw):
        commands = {"public_keys": f"{self.keys['k1'][1]},{self.keys['k2'][1]}",
                    "clock_skew_ms": "500"}
        commands.update(kw)
        return {"commands": commands}

    def sign(self, op, args, key="k1", pool=None, expires_in=60000, issued_ago=0, tamper=False,
             id=None):
        argv = [sign_command_bin(), "--key", self.keys[key][0], "--pool", pool or self.sim.pool_uuid,
                "--op", op, "--args", json.dumps(args), "--expires-in-ms", str(expires_in),
                "--issued-ms-ago", str(issued_ago), "--partitions", str(self.partitions)]
        if tamper:
            argv.append("--tamper")
        if id:
            argv += ["--id", id]
        lines = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.splitlines()
        value = lines[0]
        hdrs = dict(l.split("=", 1) for l in lines[1:])
        return {"value": value, "id": json.loads(value)["id"], "headers":
                {"xo-sig": hdrs["xo-sig"], "xo-key": hdrs["xo-key"]}}

    def partition(self):
        return int(subprocess.run([sign_command_bin(), "--key", self.keys["k1"][0], "--pool",
                                   self.sim.pool_uuid, "--op", "x", "--partitions",
                                   str(self.partitions)], check=True, capture_output=True,
                                  text=True).stdout.splitlines()[-1].split("=")[1])

    def write(self, cmd, headers=True):
        """Produce the exact value bytes into the pool's partition of xo.commands with kcat."""
        argv = ["kcat", "-P", "-b", self.k.bootstrap, "-t", "xo.commands", "-p",
                str(self.partition()), "-k", self.sim.pool_uuid]
        for name, v in (cmd["headers"].items() if headers else ()):
            argv += ["-H", f"{name}={v}"]
        subprocess.run(argv, input=cmd["value"].encode(), check=True, timeout=30 * harness.SCALE)
        return cmd["id"]

    def results(self):
        out = {}
        for key, value, _ in harness.kcat_read(self.k.bootstrap, "xo.results"):
            if value is not None:
                out.setdefault(key, []).append(json.loads(value))
        return out

    def wait_final(self, cid, timeout=30, after=0):
        """Results of cid from index `after` on, once the last is terminal."""
        def final():
            rs = self.results().get(cid, [])[after:]
            return rs if rs and rs[-1]["state"] in TERMINAL else None
        return harness.wait_until(final, timeout, interval=0.2, what=f"final result of {cid}")

    def run(self, op, args, **kw):
        cid = self.write(self.sign(op, args, **kw))
        return self.wait_final(cid)[-1]

    def vm_calls(self):
        """Calls that only a command execution makes: Async.* and VM.get_by_uuid."""
        calls = self.sim.stats()["calls_by_method"]
        return {m: n for m, n in calls.items() if m.startswith("Async.") or m == "VM.get_by_uuid"}


def regular_vms(sim):
    truth = sim.truth()
    return {rec["uuid"]: (ref, rec) for ref, rec in truth["vm"].items()
            if not rec["is_a_template"] and not rec["is_control_domain"]
            and not rec["is_a_snapshot"]}


# Every power op, its arguments, the power state XAPI leaves the VM in, and the one XAPI call
# it must make — in an order that can run on one running VM (shared with the gateway test).
POWER_OPS = [
    ("vm.pause", {}, "Paused", "Async.VM.pause"),
    ("vm.unpause", {}, "Running", "Async.VM.unpause"),
    ("vm.suspend", {}, "Suspended", "Async.VM.suspend"),
    ("vm.resume", {}, "Running", "Async.VM.resume"),
    ("vm.restart", {}, "Running", "Async.VM.clean_reboot"),
    ("vm.restart", {"force": True}, "Running", "Async.VM.hard_reboot"),
    ("vm.stop", {}, "Halted", "Async.VM.clean_shutdown"),
    ("vm.start", {}, "Running", "Async.VM.start"),
    ("vm.stop", {"force": True}, "Halted", "Async.VM.hard_shutdown"),
]


def vm_by_state(sim, state, n=1, exclude=()):
    vms = [u for u, (_, r) in sorted(regular_vms(sim).items())
           if r["power_state"] == state and u not in exclude]
    return vms[:n] if n > 1 else vms[0]


def power(sim, uuid):
    return regular_vms(sim)[uuid][1]["power_state"]


def wait_consuming(ag, n=1):
    harness.wait_until(lambda: ag.log_text().count("event=consuming") >= n
                       and "error=success" in ag.log_text().split("event=consuming")[-1][:200],
                       60, what="agent consuming xo.commands")


class AgentCommands(unittest.TestCase):
    def validate(self, values, schema_name):
        import jsonschema
        with open(os.path.join(SCHEMAS, schema_name)) as f:
            validator = jsonschema.Draft202012Validator(json.load(f))
        for v in values:
            errors = [e.message for e in validator.iter_errors(v)]
            self.assertEqual(errors, [], f"{v} does not validate against {schema_name}")

    def assertRejected(self, c, cmd, code, headers=True):
        before = c.vm_calls()
        seen = len(c.results().get(cmd["id"], []))
        cid = c.write(cmd, headers=headers)
        final = c.wait_final(cid, after=seen)
        self.assertEqual([r["state"] for r in final], ["rejected"], final)
        self.assertEqual(final[-1]["error"]["code"], code, final)
        self.assertTrue(final[-1]["reason"])
        return before

    def test_rejections_ops_and_tasks(self):
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=24, hosts=2, seed=21, extra=("--task-ms", "400"))
            c = Cmds(st, k, sim)
            ag = st.start_agent(sim, k, extra=c.agent_extra())
            wait_consuming(ag)
            running = vm_by_state(sim, "Running", n=4)
            halted = vm_by_state(sim, "Halted", n=4)
            calls0 = c.vm_calls()

            # ---- every rejection, none reaching XAPI
            self.assertRejected(c, c.sign("vm.start", {"id": halted[0]}), "SIGNATURE_MISSING",
                                headers=False)
            self.assertRejected(c, c.sign("vm.start", {"id": halted[0]}, key="rogue"),
                                "UNKNOWN_KEY")
            self.assertRejected(c, c.sign("vm.start", {"id": halted[0]}, tamper=True),
                                "SIGNATURE_INVALID")
            self.assertRejected(c, c.sign("vm.start", {"id": halted[0]}, issued_ago=120000,
                                          expires_in=60000), "EXPIRED")
            self.assertRejected(c, c.sign("vm.start", {"id": halted[0]}, pool=OTHER_POOL),
                                "WRONG_POOL")
            self.assertRejected(c, c.sign("host.reboot", {"id": halted[0]}), "OP_NOT_ALLOWED")
            self.assertRejected(c, c.sign("vm.start", {"id": 5}), "MALFORMED")
            self.assertRejected(c, c.sign("vm.start", {"id": halted[0], "x": 1}), "MALFORMED")
            self.assertRejected(c, c.sign("vm.start", {"id": halted[0]}, expires_in=3600000),
                                "EXPIRES_TOO_FAR")
            self.assertEqual(c.vm_calls(), calls0, "a rejected command reached XAPI")
            self.assertEqual(power(sim, halted[0]), "Halted")

            # ---- vm.start, signed with the second (rotated-in) key; task visible in xo.objects
            start = c.sign("vm.start", {"id": halted[0]}, key="k2")
            c.write(start)
            final = c.wait_final(start["id"])
            states = [r["state"] for r in final]
            self.assertEqual(states[0], "accepted")
            self.assertEqual(states[-1], "success", final)
            self.assertIn("progress", states)
            self.assertIs(final[-1]["result"], True)
            self.assertEqual(power(sim, halted[0]), "Running")
            self.assertTaskSeen(k, sim, "Async.VM.start")

            # ---- replay of the exact bytes of an executed command
            n_start = c.vm_calls().get("Async.VM.start", 0)
            before = self.assertRejected(c, start, "REPLAYED")
            self.assertEqual(c.vm_calls(), before)
            self.assertEqual(c.vm_calls().get("Async.VM.start", 0), n_start)

            # ---- XAPI's error on a bad power state
            r = c.run("vm.start", {"id": running[0]})
            self.assertEqual(r["state"], "failure", r)
            ref0 = regular_vms(sim)[running[0]][0]
            self.assertEqual(r["error"], {"code": "VM_BAD_POWER_STATE",
                                          "params": [ref0, "halted", "running"]})

            # ---- every power op, as XAPI would
            vm = running[1]
            for op, args, want, method in POWER_OPS:
                n = c.vm_calls().get(method, 0)
                r = c.run(op, dict(args, id=vm))
                self.assertEqual(r["state"], "success", (op, r))
                self.assertEqual(power(sim, vm), want, op)
                self.assertEqual(c.vm_calls().get(method, 0), n + 1, method)

            # ---- snapshot (result: the new VM's uuid), set, delete (keeps disks / deleteDisks)
            r = c.run("vm.snapshot", {"id": running[2], "name": "snap-e2e"})
            self.assertEqual(r["state"], "success", r)
            snaps = {rec["uuid"]: rec for rec in sim.truth()["vm"].values() if rec["is_a_snapshot"]}
            self.assertIn(r["result"], snaps)
            self.assertEqual(snaps[r["result"]]["name_label"], "snap-e2e")
            self.assertEqual(snaps[r["result"]]["snapshot_of"], regular_vms(sim)[running[2]][0])
            r = c.run("vm.snapshot", {"id": running[2]})
            self.assertEqual(r["state"], "success", r)
            label = regular_vms(sim)[running[2]][1]["name_label"]
            self.assertTrue(next(rec["name_label"] for rec in sim.truth()["vm"].values()
                                 if rec["uuid"] == r["result"]).startswith(label + "_"))

            r = c.run("vm.set", {"id": halted[1], "name_label": "renamed-e2e",
                                 "name_description": "set by a command"})
            self.assertEqual(r["state"], "success", r)
            rec = regular_vms(sim)[halted[1]][1]
            self.assertEqual((rec["name_label"], rec["name_description"]),
                             ("renamed-e2e", "set by a command"))

            for uuid, delete_disks in ((halted[2], False), (halted[3], True)):
                ref, rec = regular_vms(sim)[uuid]
                truth = sim.truth()
                disks = [truth["vbd"][b]["VDI"] for b in rec["VBDs"]
                         if truth["vbd"][b]["type"] == "Disk"]
                args = {"id": uuid, "deleteDisks": True} if delete_disks else {"id": uuid}
                r = c.run("vm.delete", args)
                self.assertEqual(r["state"], "success", r)
                truth = sim.truth()
                self.assertNotIn(ref, truth["vm"])
                self.assertTrue(disks)
                for vdi in disks:
                    self.assertEqual(vdi in truth["vdi"], not delete_disks, (delete_disks, vdi))

            # ---- contract: every message validates; counters; xo.objects still equals truth
            self.validate([v for rs in c.results().values() for v in rs], "xo.results.schema.json")
            executed = {cid for cid, rs in c.results().items() if rs[0]["state"] == "accepted"}
            commands = [json.loads(v) for _, v, _ in harness.kcat_read(k.bootstrap, "xo.commands")]
            self.assertGreaterEqual(len(executed), 15)
            self.validate([v for v in commands if v["id"] in executed], "xo.commands.schema.json")
            harness.wait_until(lambda: any(json.loads(v)["counters"]["commands"] >= 15 for _, v, _ in
                                           harness.kcat_read(k.bootstrap, "xo.agents") if v),
                               20, what="commands counter in a heartbeat")
            self.assertEqual(harness.wait_equal(k, sim, 60), [])
            # clean stop joins the command thread (under ASan: no leak, exit 0)
            self.assertEqual(ag.stop(), 0, ag.log_text()[-2000:])

    def test_vm_ref_from_the_event_stream(self):
        """The agent takes a VM's ref from its own event stream (no VM.get_by_uuid before the
        call); a VM created behind its back (events paused) still runs, its ref asked from
        XAPI; a VM destroyed behind its back fails as XAPI says (UUID_INVALID, the stale ref
        asked again), never with the stale ref's HANDLE_INVALID; once the stream caught up,
        the new VM's ref comes from it too; a lost session is logged in again, as before."""
        import xmlrpc.client
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=8, hosts=1, seed=5, extra=("--task-ms", "20"))
            c = Cmds(st, k, sim)
            ag = st.start_agent(sim, k, extra=c.agent_extra())
            wait_consuming(ag)
            self.assertEqual(harness.wait_equal(k, sim, 60), [])  # the stream has every VM
            known, cloned, doomed = vm_by_state(sim, "Halted", n=3)
            lookups = lambda: c.vm_calls().get("VM.get_by_uuid", 0)
            starts = lambda: c.vm_calls().get("Async.VM.start", 0)
            n0 = lookups()

            r = c.run("vm.start", {"id": known})
            self.assertEqual(r["state"], "success", r)
            self.assertEqual(power(sim, known), "Running")
            self.assertEqual(lookups(), n0, "the ref was asked from XAPI, not taken from the stream")

            x = xmlrpc.client.ServerProxy(sim.url, allow_none=True)
            sid = x.session.login_with_password("root", "password")["Value"]
            sim.post("/sim/fault?kind=pause_events")
            try:
                fresh = x.VM.clone(sid, regular_vms(sim)[cloned][0], "fresh")["Value"]
                fresh_uuid = x.VM.get_uuid(sid, fresh)["Value"]
                self.assertEqual(x.VM.destroy(sid, regular_vms(sim)[doomed][0])["Status"],
                                 "Success")
                s0 = starts()
                ids = [c.write(c.sign("vm.start", {"id": u})) for u in (fresh_uuid, doomed)]
                # both Async calls made while the stream cannot know either change
                harness.wait_until(lambda: starts() >= s0 + 2, 30 * harness.SCALE,
                                   what="both Async.VM.start calls")
            finally:
                sim.post("/sim/fault?kind=resume_events")
            r_fresh, r_doomed = (c.wait_final(i)[-1] for i in ids)
            self.assertEqual(r_fresh["state"], "success", r_fresh)
            self.assertEqual(power(sim, fresh_uuid), "Running")
            self.assertEqual(r_doomed["state"], "failure", r_doomed)
            self.assertEqual(r_doomed["error"]["code"], "UUID_INVALID", r_doomed)
            self.assertEqual(lookups(), n0 + 2)
            self.assertIn("event=vm_ref_refused", ag.log_text())

            self.assertEqual(harness.wait_equal(k, sim, 60), [])  # the stream caught up
            r = c.run("vm.stop", {"id": fresh_uuid, "force": True})
            self.assertEqual(r["state"], "success", r)
            self.assertEqual(power(sim, fresh_uuid), "Halted")
            self.assertEqual(lookups(), n0 + 2, "the new VM's ref did not come from the stream")

            # a lost session refuses the call before any task: a new login, then the call
            sim.post("/sim/fault?kind=invalidate_sessions")
            r = c.run("vm.start", {"id": fresh_uuid})
            self.assertEqual(r["state"], "success", r)
            self.assertEqual(power(sim, fresh_uuid), "Running")
            self.assertIn("code=SESSION_INVALID action=get_by_uuid", ag.log_text())
            self.assertEqual(ag.stop(), 0, ag.log_text()[-2000:])

    def assertTaskSeen(self, k, sim, name):
        """The XAPI task of a command was published to xo.objects while pending, then deleted."""
        msgs = harness.kcat_read(k.bootstrap, "xo.objects")
        pending = {key for key, v, _ in msgs if v and "/task/" in key
                   and json.loads(v)["snapshot"]["name_label"] == name
                   and json.loads(v)["snapshot"]["status"] == "pending"}
        self.assertTrue(pending, f"no pending {name} task in xo.objects")
        harness.wait_until(lambda: all(
            any(key == p and v is None for key, v, _ in harness.kcat_read(k.bootstrap, "xo.objects"))
            for p in pending), 20, what="task tombstone after completion")

    def test_sigkill_after_accepted_and_expiry_while_down(self):
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=16, hosts=2, seed=23, extra=("--task-ms", "300"))
            c = Cmds(st, k, sim)
            ag = st.start_agent(sim, k, extra=c.agent_extra())
            wait_consuming(ag)
            halted = vm_by_state(sim, "Halted", n=3)
            running = vm_by_state(sim, "Running", n=2)

            # ---- SIGKILL right after `accepted`: XAPI answers slowly, so nothing ran yet
            # (the window to see `accepted` and kill the agent: stretched under sanitizers)
            sim.post(f"/sim/fault?kind=slow&ms={int(3000 * harness.SCALE)}")
            cid = c.write(c.sign("vm.start", {"id": halted[0]}))
            harness.wait_until(lambda: any(r["state"] == "accepted"
                                           for r in c.results().get(cid, [])),
                               20, interval=0.05, what="accepted")
            ag.kill()
            sim.post("/sim/fault?kind=slow&ms=0")
            self.assertEqual(c.vm_calls().get("Async.VM.start", 0), 0)

            # ---- while the agent is down: one command expires, one does not
            expiring = c.write(c.sign("vm.start", {"id": halted[1]}, expires_in=1000))
            later = c.write(c.sign("vm.pause", {"id": running[0]}, expires_in=120000))
            time.sleep(1.0 + 0.5 + 1.0)   # expires + clock_skew_ms + margin
            ag2 = st.start_agent(sim, k, name="agent2",
                                 extra=c.agent_extra(allowed_ops="vm.start,vm.stop,vm.pause"))
            wait_consuming(ag2)
            self.assertEqual(c.wait_final(later)[-1]["state"], "success")
            exp = c.wait_final(expiring)
            self.assertEqual([r["state"] for r in exp], ["rejected"])
            self.assertEqual(exp[-1]["error"]["code"], "EXPIRED")
            self.assertEqual(power(sim, running[0]), "Paused")
            # the killed command: accepted, never executed, never again
            states = [r["state"] for r in c.results().get(cid, [])]
            self.assertEqual(states[0], "accepted")
            self.assertNotIn("success", states)
            self.assertNotIn("failure", states)
            self.assertEqual(power(sim, halted[0]), "Halted")
            self.assertEqual(power(sim, halted[1]), "Halted")
            self.assertEqual(c.vm_calls().get("Async.VM.start", 0), 0)

            # ---- an op outside commands.allowed_ops
            before = self.assertRejected(c, c.sign("vm.delete", {"id": halted[2]}),
                                         "OP_NOT_ALLOWED")
            self.assertEqual(c.vm_calls(), before)
            self.assertIn(halted[2], regular_vms(sim))

            # ---- a replay after the restart is still caught (window read back from xo.results)
            replay = c.sign("vm.stop", {"id": halted[2]})
            self.assertEqual(c.wait_final(c.write(replay))[-1]["state"], "failure")
            ag2.kill()
            ag3 = st.start_agent(sim, k, name="agent3", extra=c.agent_extra())
            wait_consuming(ag3)
            before = self.assertRejected(c, replay, "REPLAYED")
            self.assertEqual(c.vm_calls(), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
