// store.js - the page's copy of the gateway's objects: loaded by xo.getAllObjects, then
// kept by `all` notifications. Notifications are queued and applied once per animation
// frame, however many arrive; subscribers then get the ids that changed and whether the
// tree's shape changed (an object in or out, a VM moved or renamed), so the list redraws
// only what it must. Knows no DOM but requestAnimationFrame.
// what places an object in the tree: its parent and its rank there (a power state change
// moves a VM through $container; its badge alone is a row redraw)
const SHAPE_FIELDS = ["name_label", "$container", "$pool"];

export class Store {
  constructor() {
    this.objects = new Map();
    this.queue = [];
    this.scheduled = false;
    this.listeners = new Set();
    this.frames = 0; // frames that applied a batch (the bench reads it)
  }

  load(all) {
    this.objects = new Map(Object.entries(all));
    this.emit(new Set(this.objects.keys()), true);
  }

  // an `all` notification: {type: "enter"|"exit", items: {id: object|0}}
  push(params) {
    this.queue.push(params);
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  flush() {
    const changed = new Set();
    let shape = false;
    this.scheduled = false;
    for (const { type, items } of this.queue.splice(0)) {
      for (const [id, obj] of Object.entries(items)) {
        const old = this.objects.get(id);
        if (type === "exit") {
          if (old) shape = shape || isTreeType(old);
          this.objects.delete(id);
        } else {
          if (!old || SHAPE_FIELDS.some((f) => old[f] !== obj[f])) shape = shape || isTreeType(obj);
          this.objects.set(id, obj);
        }
        changed.add(id);
      }
    }
    if (changed.size) {
      this.frames++;
      this.emit(changed, shape);
    }
  }

  emit(changed, shape) {
    for (const fn of this.listeners) fn(changed, shape);
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get(id) { return this.objects.get(id); }

  ofType(type) {
    const out = [];
    for (const o of this.objects.values()) if (o.type === type) out.push(o);
    return out;
  }

  // objects named by a list of ids (VBDs, VIFs, snapshots), the missing ones skipped
  many(ids) {
    return (ids || []).map((id) => this.objects.get(id)).filter(Boolean);
  }
}

export function isTreeType(o) {
  return o.type === "pool" || o.type === "host" || o.type === "VM";
}

// A VM's host: its $container when running there, else none (a halted VM sits in its pool).
export function hostOf(store, vm) {
  const c = store.get(vm.$container);
  return c && c.type === "host" ? c : null;
}

export function vmIp(vm) {
  if (vm.mainIpAddress) return vm.mainIpAddress;
  const a = vm.addresses && Object.values(vm.addresses);
  return a && a.length ? a[0] : "";
}

export function formatBytes(n) {
  if (typeof n !== "number" || !isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}
