"""xo-agent runs a pool's commands concurrently (issue 16, item 4): xo-kafka-dev + the XAPI
simulator + xo-agent, commands signed and written as in test_agent_commands.py. The
simulator's task log (/sim/task_log: when each Async.* task was created and ended, on which
object) shows which tasks overlapped, how many at once, and in what order per VM."""
import time
import unittest

import harness
from test_agent_commands import Cmds, power, vm_by_state, wait_consuming


def task_log(sim, targets):
    """The Async.* tasks on the VMs whose refs are in targets, in the order they were made."""
    return [t for t in sim.get("/sim/task_log")["tasks"] if t["target"] in targets]


def most_at_once(tasks):
    """The largest number of these tasks that ran at the same time."""
    edges = sorted([(t["start"], 1) for t in tasks] + [(t["end"], -1) for t in tasks])
    now = peak = 0
    for _, d in edges:
        now += d
        peak = max(peak, now)
    return peak


def refs_of(sim, uuids):
    by_uuid = {rec["uuid"]: ref for ref, rec in sim.truth()["vm"].items()}
    return [by_uuid[u] for u in uuids]


def states(c, cid):
    return [r["state"] for r in c.results().get(cid, [])]


class AgentConcurrency(unittest.TestCase):
    def test_overlap_bound_order_and_expiry_in_queue(self):
        task_ms = int(3000 * harness.SCALE)
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=30, hosts=2, seed=29, extra=("--task-ms", str(task_ms)))
            c = Cmds(st, k, sim)
            ag = st.start_agent(sim, k, extra=c.agent_extra(concurrency="3"))
            wait_consuming(ag)
            halted = vm_by_state(sim, "Halted", n=5)
            x, y = vm_by_state(sim, "Running", n=2)

            # on VM y a pause, then an unpause that expires while it waits behind the pause
            # (read at once: there is room), five starts on five VMs, and three power changes
            # in a row on VM x
            y_pause = c.write(c.sign("vm.pause", {"id": y}))
            y_late = c.write(c.sign("vm.unpause", {"id": y}, expires_in=int(1000 * harness.SCALE)))
            starts = [c.write(c.sign("vm.start", {"id": vm})) for vm in halted]
            on_x = [c.write(c.sign(op, {"id": x})) for op in ("vm.pause", "vm.unpause", "vm.pause")]

            for cid in starts + on_x + [y_pause]:
                self.assertEqual(c.wait_final(cid, timeout=120)[-1]["state"], "success",
                                 c.results().get(cid))
            late = c.wait_final(y_late, timeout=120)
            self.assertEqual([r["state"] for r in late], ["accepted", "failure"])
            self.assertEqual(late[-1]["error"]["code"], "EXPIRED")

            # each ran once, and the one that expired in the queue never reached XAPI
            calls = c.vm_calls()
            self.assertEqual(calls.get("Async.VM.start", 0), 5)
            self.assertEqual(calls.get("Async.VM.pause", 0), 3)
            self.assertEqual(calls.get("Async.VM.unpause", 0), 1)
            for vm in halted:
                self.assertEqual(power(sim, vm), "Running")
            self.assertEqual(power(sim, x), "Paused")
            self.assertEqual(power(sim, y), "Paused")

            log = task_log(sim, set(refs_of(sim, halted + [x, y])))
            self.assertEqual(len(log), 9, log)
            # concurrency: tasks on different VMs overlapped; the bound: never more than 3
            self.assertGreaterEqual(most_at_once(log), 2, log)
            self.assertLessEqual(most_at_once(log), 3, log)
            # per-VM order: x's tasks in arrival order, each after the previous one ended
            (xref,) = refs_of(sim, [x])
            on_xs = [t for t in log if t["target"] == xref]
            self.assertEqual([t["method"] for t in on_xs],
                             ["Async.VM.pause", "Async.VM.unpause", "Async.VM.pause"])
            for a, b in zip(on_xs, on_xs[1:]):
                self.assertGreaterEqual(b["start"], a["end"])
            self.assertEqual(ag.stop(), 0, ag.log_text()[-2000:])

    def test_sigkill_mid_batch_is_not_replayed(self):
        task_ms = int(4000 * harness.SCALE)
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=20, hosts=2, seed=31, extra=("--task-ms", str(task_ms)))
            c = Cmds(st, k, sim)
            ag = st.start_agent(sim, k, extra=c.agent_extra(concurrency="2"))
            wait_consuming(ag)
            halted = vm_by_state(sim, "Halted", n=4)

            # two run, the third waits in Kafka: the bound keeps it unread, so unaccepted
            running = [c.write(c.sign("vm.start", {"id": vm})) for vm in halted[:2]]
            waiting = c.write(c.sign("vm.start", {"id": halted[2]}))
            refs = refs_of(sim, halted)
            harness.wait_until(lambda: len(task_log(sim, set(refs[:2]))) == 2, 30 * harness.SCALE,
                               interval=0.05, what="both tasks started")
            time.sleep(0.5)  # room for a wrong third acceptance to show (none may come)
            self.assertEqual(states(c, waiting), [])
            ag.kill()

            ag2 = st.start_agent(sim, k, name="agent2", extra=c.agent_extra(concurrency="2"))
            wait_consuming(ag2)
            after = c.write(c.sign("vm.start", {"id": halted[3]}))
            self.assertEqual(c.wait_final(waiting, timeout=120)[-1]["state"], "success")
            self.assertEqual(c.wait_final(after, timeout=120)[-1]["state"], "success")
            # the killed batch: accepted, started once by the first agent, never again
            harness.wait_until(lambda: all(power(sim, vm) == "Running" for vm in halted),
                               60 * harness.SCALE, what="the killed batch's tasks ending in XAPI")
            for cid in running:
                self.assertEqual(states(c, cid)[0], "accepted")
                self.assertNotIn("success", states(c, cid))
                self.assertNotIn("failure", states(c, cid))
            self.assertEqual(c.vm_calls().get("Async.VM.start", 0), 4)
            self.assertEqual(sorted(t["target"] for t in task_log(sim, set(refs))), sorted(refs))
            self.assertEqual(ag2.stop(), 0, ag2.log_text()[-2000:])

    def test_one_task_watcher_follows_every_task(self):
        """The workers' tasks are followed by one event.from on the task class, not one per
        task; when the simulator drops every connection while tasks run, every command
        still ends in success."""
        task_ms = int(2500 * harness.SCALE)
        with harness.Stack() as st:
            k = st.start_kafka()
            sim = st.start_sim(vms=40, hosts=2, seed=37, extra=("--task-ms", "200"))
            c = Cmds(st, k, sim)
            ag = st.start_agent(sim, k, extra=c.agent_extra(concurrency="4"))
            wait_consuming(ag)
            halted = vm_by_state(sim, "Halted", n=7)
            self.assertEqual(len(halted), 7)
            subs = lambda: sim.stats()["event_from_by_subscription"]

            ids = [c.write(c.sign("vm.start", {"id": vm})) for vm in halted[:4]]
            for cid in ids:
                self.assertEqual(c.wait_final(cid)[-1]["state"], "success")
            self.assertEqual(subs().get("task/<ref>", 0), 0, subs())
            self.assertGreaterEqual(subs().get("task", 0), 1, subs())

            sim.post(f"/sim/config?task_ms={task_ms}")
            ids = [c.write(c.sign("vm.start", {"id": vm})) for vm in halted[4:]]
            refs = set(refs_of(sim, halted[4:]))
            harness.wait_until(lambda: len(task_log(sim, refs)) == 3, 30 * harness.SCALE,
                               interval=0.05, what="the three tasks started")
            sim.post("/sim/fault?kind=drop_connections")
            for cid in ids:
                self.assertEqual(c.wait_final(cid, timeout=60)[-1]["state"], "success")
            for vm in halted:
                self.assertEqual(power(sim, vm), "Running")
            self.assertEqual(c.vm_calls().get("Async.VM.start", 0), 7)
            self.assertEqual(ag.stop(), 0, ag.log_text()[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
