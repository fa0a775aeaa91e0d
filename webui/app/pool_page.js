// pool_page.js - a pool's or a host's page: its agent's state, its hosts and, for admins,
// their missing patches (pool.listMissingPatches per host) with an install button
// (pool.installPatches) and its progress. Patch lists are asked when the page opens and
// again after an installation; they are not objects of the view.
import { h, table } from "./dom.js";
import { describeError } from "./rpc.js";

export function poolPage(app, pool) {
  const hosts = app.store.ofType("host").filter((x) => x.$pool === pool.id)
    .sort((a, b) => a.name_label.localeCompare(b.name_label));
  const agent = app.agents.stateOf(pool.id);
  const parts = [h("h2", {}, pool.name_label),
    h("p", {}, "Agent: ", h("span", { class: `agent-${agent.state}`, "data-field": "agent" }, agent.text)),
    table(["Host", "Product", "Version", "State"], hosts.map((x) => [
      h("a", { href: `#/host/${x.id}` }, x.name_label), x.productBrand || "", x.version || "", x.power_state || ""]), "Hosts")];
  if (app.isAdmin) {
    parts.push(h("h3", {}, "Missing patches"));
    parts.push(h("div", { class: "actions" }, h("button", { type: "button", "data-action": "Install pool patches",
      onclick: () => install(app, pool, { pool: pool.id }) }, "Install all missing patches of the pool")));
    for (const x of hosts) parts.push(hostPatches(app, x));
  }
  return parts;
}

export function hostPage(app, host) {
  const pool = app.store.get(host.$pool);
  const parts = [h("h2", {}, host.name_label),
    table(["", ""], [["Pool", pool ? h("a", { href: `#/pool/${pool.id}` }, pool.name_label) : host.$pool],
                     ["Product", `${host.productBrand || ""} ${host.version || ""}`],
                     ["Address", host.address || ""], ["State", host.power_state || ""]], "Details")];
  if (app.isAdmin) {
    parts.push(h("h3", {}, "Missing patches"), hostPatches(app, host, true));
  }
  return parts;
}

// One host's missing patches, asked now; with its own install button on the host's page.
function hostPatches(app, host, withButton = false) {
  const box = h("section", { class: "patches", "data-host": host.id, "aria-label": `Missing patches of ${host.name_label}` },
                h("h4", {}, host.name_label), h("p", { class: "hint", role: "status" }, "asking the agent..."));
  app.rpc.call("pool.listMissingPatches", { host: host.id }).then((list) => {
    box.dataset.count = list.length;
    box.lastChild.replaceWith(table(["Patch", "Version", "Description"], list.map((p) =>
      [p.name || p.uuid || "", p.version ? `${p.version}${p.release ? "-" + p.release : ""}` : "", p.description || ""]),
      `Missing patches of ${host.name_label}`));
    if (withButton && list.length)
      box.append(h("button", { type: "button", "data-action": "Install patches",
        onclick: () => install(app, app.store.get(host.$pool), { hosts: [host.id] }) }, `Install ${list.length} patches`));
  }, (e) => {
    box.lastChild.textContent = describeError(e);
    box.lastChild.className = "error";
  });
  return box;
}

async function install(app, pool, params) {
  if (await app.runJob("Install patches", [pool.id], () => app.rpc.call("pool.installPatches", params)))
    app.redraw(true);
}
