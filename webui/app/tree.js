// tree.js - the inventory: pools -> hosts -> VMs as one virtualised list. Only the rows in
// view (and a few around) exist in the DOM; the flat row list is rebuilt when the tree's
// shape changes (objects in or out, a VM moved, renamed or filtered), and a changed object
// redraws its own row only. Keyboard: arrows move, Left/Right fold, Enter opens.
import { formatBytes, vmIp } from "./store.js";

const OVERSCAN = 8;

// one collator: String.prototype.localeCompare builds one per call, ten times slower on a
// 10,000-VM sort
const collator = new Intl.Collator(undefined, { numeric: true });
const byName = (a, b) => collator.compare(a.name_label || "", b.name_label || "") || (a.id < b.id ? -1 : 1);

export class Tree {
  constructor(el, store, { onOpen, countEl }) {
    this.el = el;
    this.spacer = el.querySelector(".tree-spacer");
    this.store = store;
    this.onOpen = onOpen;
    this.countEl = countEl;
    this.rows = [];
    this.shown = new Map(); // row index -> element
    this.folded = new Set();
    this.filter = null; // Set of VM ids, or null: every VM
    this.active = 0;
    this.selected = null;
    this.rowHeight = 28;
    el.addEventListener("scroll", () => this.render());
    el.addEventListener("click", (e) => this.click(e));
    el.addEventListener("keydown", (e) => this.key(e));
    new ResizeObserver(() => this.render()).observe(el);
    store.subscribe((changed, shape) => this.update(changed, shape));
  }

  setFilter(ids) {
    this.filter = ids;
    this.rebuild();
  }

  select(id) {
    this.selected = id;
    const i = this.rows.findIndex((r) => r.id === id);
    if (i >= 0) this.active = i;
    this.redrawAll();
  }

  update(changed, shape) {
    if (shape) { this.rebuild(); return; }
    for (const [i, row] of this.shown) if (changed.has(this.rows[i].id)) this.fill(row, this.rows[i]);
  }

  // the flat list of rows, in tree order
  rebuild() {
    const s = this.store, rows = [];
    const hostsOf = new Map(), vmsOf = new Map();
    const add = (m, k, v) => { if (!m.has(k)) m.set(k, []); m.get(k).push(v); };
    for (const o of s.objects.values()) {
      if (o.type === "host") add(hostsOf, o.$pool, o);
      else if (o.type === "VM" && (!this.filter || this.filter.has(o.id))) add(vmsOf, o.$container, o);
    }
    let vmCount = 0;
    for (const pool of s.ofType("pool").sort(byName)) {
      const hosts = (hostsOf.get(pool.id) || []).sort(byName);
      const halted = (vmsOf.get(pool.id) || []).sort(byName);
      const n = halted.length + hosts.reduce((k, h) => k + (vmsOf.get(h.id) || []).length, 0);
      vmCount += n;
      if (this.filter && !n) continue;
      rows.push({ kind: "pool", id: pool.id, level: 1 });
      if (this.folded.has(pool.id)) continue;
      for (const h of hosts) {
        const vms = (vmsOf.get(h.id) || []).sort(byName);
        if (this.filter && !vms.length) continue;
        rows.push({ kind: "host", id: h.id, level: 2 });
        if (!this.folded.has(h.id)) for (const v of vms) rows.push({ kind: "vm", id: v.id, level: 3 });
      }
      for (const v of halted) rows.push({ kind: "vm", id: v.id, level: 2 });
    }
    this.rows = rows;
    this.vmCount = vmCount;
    if (this.selected) {
      const i = rows.findIndex((r) => r.id === this.selected);
      if (i >= 0) this.active = i;
    }
    this.active = Math.min(this.active, Math.max(0, rows.length - 1));
    this.spacer.style.height = `${rows.length * this.rowHeight}px`;
    if (this.countEl) this.countEl.textContent = `${vmCount} VM${vmCount === 1 ? "" : "s"}${this.filter ? " match" : ""}`;
    this.redrawAll();
  }

  redrawAll() {
    for (const el of this.shown.values()) el.remove();
    this.shown.clear();
    this.render();
  }

  // create the rows that came into view, drop the ones that left it
  render() {
    const h = this.rowHeight, top = this.el.scrollTop, height = this.el.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / h) - OVERSCAN);
    const last = Math.min(this.rows.length - 1, Math.ceil((top + height) / h) + OVERSCAN);
    for (const [i, el] of this.shown) if (i < first || i > last) { el.remove(); this.shown.delete(i); }
    for (let i = first; i <= last; i++) {
      if (this.shown.has(i)) continue;
      const el = document.createElement("div");
      el.style.top = `${i * h}px`;
      el.id = `row-${i}`;
      el.setAttribute("role", "treeitem");
      for (const c of ["name", "state", "cpus", "mem", "ip"]) {
        const span = document.createElement("span");
        span.className = c;
        el.appendChild(span);
      }
      el.dataset.index = i;
      this.fill(el, this.rows[i]);
      this.el.appendChild(el);
      this.shown.set(i, el);
    }
    this.el.setAttribute("aria-activedescendant", this.shown.has(this.active) ? `row-${this.active}` : "");
  }

  fill(el, row) {
    const o = this.store.get(row.id) || {};
    const [name, state, cpus, mem, ip] = el.children;
    const i = Number(el.dataset.index);
    el.className = `row ${row.kind}${i === this.active ? " active" : ""}`;
    el.dataset.id = row.id;
    el.setAttribute("aria-level", row.level);
    el.setAttribute("aria-selected", String(row.id === this.selected));
    if (row.kind !== "vm") el.setAttribute("aria-expanded", String(!this.folded.has(row.id)));
    name.textContent = o.name_label || row.id;
    name.title = o.name_label || "";
    if (row.kind === "vm") {
      state.textContent = o.power_state || "";
      state.className = `state state-${o.power_state}`;
      cpus.textContent = o.CPUs ? o.CPUs.number : "";
      mem.textContent = o.memory ? formatBytes(o.memory.size) : "";
      ip.textContent = vmIp(o);
    } else {
      state.textContent = row.kind === "host" ? (o.power_state || "") : "";
      state.className = "state";
      cpus.textContent = mem.textContent = ip.textContent = "";
    }
  }

  click(e) {
    const el = e.target.closest(".row");
    if (!el) return;
    this.active = Number(el.dataset.index);
    this.open(this.rows[this.active]);
  }

  open(row) {
    if (!row) return;
    this.selected = row.id;
    this.redrawAll();
    this.onOpen(row);
  }

  toggle(row, fold) {
    if (!row || row.kind === "vm" || this.folded.has(row.id) === fold) return;
    if (fold) this.folded.add(row.id); else this.folded.delete(row.id);
    this.rebuild();
  }

  key(e) {
    const row = this.rows[this.active];
    const page = Math.max(1, Math.floor(this.el.clientHeight / this.rowHeight) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page,
                    Home: -this.rows.length, End: this.rows.length };
    if (e.key in moves) {
      this.active = Math.max(0, Math.min(this.rows.length - 1, this.active + moves[e.key]));
      this.scrollTo(this.active);
    } else if (e.key === "ArrowLeft") this.toggle(row, true);
    else if (e.key === "ArrowRight") this.toggle(row, false);
    else if (e.key === "Enter" || e.key === " ") this.open(row);
    else return;
    e.preventDefault();
  }

  scrollTo(i) {
    const h = this.rowHeight, top = i * h;
    if (top < this.el.scrollTop) this.el.scrollTop = top;
    else if (top + h > this.el.scrollTop + this.el.clientHeight) this.el.scrollTop = top + h - this.el.clientHeight;
    this.redrawAll();
  }
}
