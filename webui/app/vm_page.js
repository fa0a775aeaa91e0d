// vm_page.js - a VM's page: details, disks, networks, snapshots, tags, and for admins its
// actions (power, snapshot, rename, copy, delete with a confirmation), each a job with its
// progress bar. Redrawn when the VM or one of its parts changes; a job's bar lives in the
// page's job list, which survives the redraws.
import { confirmDialog, h, table } from "./dom.js";
import { formatBytes, hostOf, vmIp } from "./store.js";

const POWER_ACTIONS = {
  Halted: [["Start", "vm.start", {}]],
  Running: [["Clean shutdown", "vm.stop", {}], ["Hard shutdown", "vm.stop", { force: true }],
            ["Reboot", "vm.restart", {}], ["Suspend", "vm.suspend", {}]],
  Suspended: [["Resume", "vm.resume", {}]],
  Paused: [["Resume", "vm.unpause", {}]],
};

export function vmPage(app, vm) {
  const s = app.store;
  const host = hostOf(s, vm), pool = s.get(vm.$pool);
  const parts = [h("h2", {}, vm.name_label),
    table(["", ""], [
      ["Power state", h("span", { class: `state state-${vm.power_state}`, "data-field": "power_state" }, vm.power_state)],
      ["UUID", vm.uuid], ["Pool", pool ? pool.name_label : vm.$pool],
      ["Host", host ? host.name_label : "-"], ["CPUs", vm.CPUs ? String(vm.CPUs.number) : ""],
      ["Memory", vm.memory ? formatBytes(vm.memory.size) : ""], ["IP", vmIp(vm) || "-"],
      ["OS", vm.os_version ? Object.values(vm.os_version).filter((v) => typeof v === "string").slice(0, 1).join("") || "-" : "-"],
      ["Description", vm.name_description || ""]].map(([k, v]) => [h("strong", {}, k), v]), "Details")];
  if (app.isAdmin) parts.push(actions(app, vm));
  parts.push(h("h3", {}, "Disks"), disks(s, vm), h("h3", {}, "Networks"), networks(s, vm),
             h("h3", {}, "Snapshots"), snapshots(s, vm), h("h3", {}, "Tags"), tags(app, vm));
  if (vm.power_state === "Running")
    parts.push(h("p", {}, h("a", { href: `#/console/${vm.id}` }, "Open the console")));
  return parts;
}

function actions(app, vm) {
  const run = (label, method, params) => app.runJob(label, [vm.$pool], () => app.rpc.call(method, { id: vm.id, ...params }));
  const power = (POWER_ACTIONS[vm.power_state] || []).map(([label, method, params]) =>
    h("button", { type: "button", "data-action": label, onclick: () => run(label, method, params) }, label));
  const snapshot = h("button", { type: "button", "data-action": "Snapshot",
    onclick: () => run("Snapshot", "vm.snapshot", { name: `${vm.name_label} ${new Date().toISOString()}` }) }, "Snapshot");
  const del = h("button", { type: "button", class: "danger", "data-action": "Delete", onclick: async () => {
    if (await confirmDialog(`Delete VM "${vm.name_label}" and its disks? This cannot be undone.`, "Delete"))
      run("Delete", "vm.delete", { deleteDisks: true });
  } }, "Delete");
  return h("div", {}, h("div", { class: "actions", role: "group", "aria-label": "VM actions" }, power, snapshot, del),
           renameForm(run, vm), copyForm(app, vm));
}

function renameForm(run, vm) {
  const input = h("input", { id: "rename-input", value: vm.name_label, required: true });
  return h("form", { class: "inline", onsubmit: (e) => {
    e.preventDefault();
    if (input.value && input.value !== vm.name_label) run("Rename", "vm.set", { name_label: input.value });
  } }, h("label", { for: "rename-input" }, "Name"), input, h("button", { type: "submit", "data-action": "Rename" }, "Rename"));
}

// Copy to any SR of any pool: the gateway makes it one XAPI copy, or a transfer between
// the two pools' agents.
function copyForm(app, vm) {
  const s = app.store;
  const srs = s.ofType("SR").filter((sr) => sr.content_type !== "iso" && sr.SR_type !== "iso")
    .sort((a, b) => (a.$pool + a.name_label).localeCompare(b.$pool + b.name_label));
  const select = h("select", { id: "copy-sr" }, srs.map((sr) => {
    const p = s.get(sr.$pool);
    return h("option", { value: sr.id }, `${p ? p.name_label : sr.$pool} / ${sr.name_label}`);
  }));
  const name = h("input", { id: "copy-name", value: `${vm.name_label} (copy)` });
  return h("form", { class: "inline", onsubmit: (e) => {
    e.preventDefault();
    const sr = s.get(select.value);
    if (!sr) return;
    app.runJob(`Copy to ${select.selectedOptions[0].textContent}`, [vm.$pool, sr.$pool],
               () => app.rpc.call("vm.copy", { vm: vm.id, sr: sr.id, name: name.value }));
  } }, h("label", { for: "copy-sr" }, "Copy to"), select, h("label", { for: "copy-name" }, "as"), name,
  h("button", { type: "submit", "data-action": "Copy" }, "Copy"));
}

function disks(s, vm) {
  const rows = s.many(vm.$VBDs).sort((a, b) => String(a.position).localeCompare(String(b.position))).map((vbd) => {
    const vdi = s.get(vbd.VDI), sr = vdi && s.get(vdi.$SR);
    return [String(vbd.position ?? ""), vbd.is_cd_drive ? "CD" : (vdi ? vdi.name_label : "-"),
            vdi ? formatBytes(vdi.size) : "", sr ? sr.name_label : ""];
  });
  return table(["Position", "Disk", "Size", "SR"], rows, "Disks");
}

function networks(s, vm) {
  const rows = s.many(vm.VIFs).map((vif) => {
    const net = s.get(vif.$network);
    return [String(vif.device ?? ""), vif.MAC || "", net ? net.name_label : ""];
  });
  return table(["Device", "MAC", "Network"], rows, "Networks");
}

function snapshots(s, vm) {
  const rows = s.many(vm.snapshots).map((sn) => [sn.name_label,
    sn.snapshot_time ? new Date(sn.snapshot_time * 1000).toLocaleString() : ""]);
  return table(["Name", "Taken"], rows, "Snapshots");
}

function tags(app, vm) {
  const list = (vm.tags || []).map((t) => h("span", { class: "tag" }, t, app.isAdmin &&
    h("button", { type: "button", "aria-label": `Remove tag ${t}`,
                  onclick: () => app.runJob(`Untag ${t}`, [vm.$pool], () => app.rpc.call("tag.remove", { id: vm.id, tag: t })) }, "×")));
  if (!app.isAdmin) return h("div", {}, list.length ? list : h("span", { class: "hint" }, "none"));
  const input = h("input", { id: "tag-input", placeholder: "new tag" });
  return h("div", {}, list, h("form", { class: "inline", onsubmit: (e) => {
    e.preventDefault();
    if (input.value) app.runJob(`Tag ${input.value}`, [vm.$pool], () => app.rpc.call("tag.add", { id: vm.id, tag: input.value }));
  } }, h("label", { for: "tag-input" }, "Add a tag"), input, h("button", { type: "submit" }, "Add")));
}
