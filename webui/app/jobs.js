// jobs.js - an action in progress: one JSON-RPC call, shown as a progress bar that the
// XAPI tasks of the pools it acts on drive (the agents' Async.* tasks and transfer tasks
// are objects of the view, `progress` 0..1), ended by the call's answer: done, or the
// error in words. The bar never goes back.
import { describeError } from "./rpc.js";

const KEEP = 8; // finished jobs shown at most (the newest first)

export class Jobs {
  constructor(store) {
    this.store = store;
    this.running = new Set();
    store.subscribe((changed) => this.tasksChanged(changed));
  }

  // run rpc.call(method, params) as a job shown in container; pools: the pool ids whose
  // tasks drive its bar. Resolves with the call's result, or null when it failed.
  async run(container, label, pools, call) {
    const job = { label, pools: new Set(pools.filter(Boolean)), tasks: new Map(), progress: 0, el: render(label) };
    container.prepend(job.el);
    for (const old of [...container.children].slice(KEEP)) if (old.dataset.state !== "running") old.remove();
    this.running.add(job);
    try {
      const result = await call();
      this.finish(job, "done", "done");
      return result ?? true;
    } catch (e) {
      this.finish(job, "failed", describeError(e));
      return null;
    }
  }

  finish(job, state, text) {
    this.running.delete(job);
    job.el.dataset.state = state;
    job.el.classList.add(state);
    const bar = job.el.querySelector("progress");
    if (state === "done") bar.value = 1;
    job.el.querySelector(".what").textContent = text;
    job.el.querySelector(".what").setAttribute("role", state === "failed" ? "alert" : "status");
  }

  // A job's bar: the mean progress of the tasks seen in its pools while it runs (a task
  // that left counts as finished), never going back; 1 is the answer's.
  tasksChanged(changed) {
    if (!this.running.size) return;
    for (const job of this.running) {
      let seen = false;
      for (const id of changed) {
        const t = this.store.get(id);
        if (t && t.type === "task" && job.pools.has(t.$pool) && typeof t.progress === "number") {
          job.tasks.set(id, t.progress);
          seen = true;
        } else if (!t && job.tasks.has(id)) {
          job.tasks.set(id, 1);
          seen = true;
        }
      }
      if (!seen) continue;
      const mean = [...job.tasks.values()].reduce((a, b) => a + b, 0) / job.tasks.size;
      if (mean <= job.progress) continue;
      job.progress = Math.min(mean, 0.99);
      job.el.querySelector("progress").value = job.progress;
      job.el.querySelector(".what").textContent = `${Math.round(job.progress * 100)}%`;
    }
  }
}

function render(label) {
  const el = document.createElement("div");
  el.className = "job";
  el.dataset.state = "running";
  const name = document.createElement("span");
  name.textContent = label;
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", `${label}: progress`);
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = "0%";
  el.append(name, bar, what);
  return el;
}
