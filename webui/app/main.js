// main.js - the page: sign-in and sign-out, the live inventory, the search box, and the
// routes (#/vm/<id>, #/pool/<id>, #/host/<id>, #/console/<id>). Talks only to its own
// gateway: JSON-RPC on /api/ (rpc.js), /healthz for the agents, the console proxy.
// window.xoPage exposes the page's state to the browser tests and the bench.
import { Agents } from "./agents.js";
import { closeConsole, consolePage } from "./console_page.js";
import { Jobs } from "./jobs.js";
import { hostPage, poolPage } from "./pool_page.js";
import { Rpc, describeError } from "./rpc.js";
import { Store } from "./store.js";
import { Tree } from "./tree.js";
import { vmPage } from "./vm_page.js";

const $ = (id) => document.getElementById(id);
const SEARCH_DELAY_MS = 250;

const page = (window.xoPage = { signedIn: false, loadedAt: 0, paintedAt: 0, user: null });

class App {
  constructor() {
    this.store = new Store();
    this.jobs = new Jobs(this.store);
    this.tree = new Tree($("tree"), this.store, { onOpen: (row) => { location.hash = `#/${row.kind}/${row.id}`; },
                                                   countEl: $("tree-count") });
    this.agents = new Agents($("banners"), this.store, () => this.agentsChanged());
    this.rpc = null;
    this.user = null;
    this.route = null;
    this.store.subscribe((changed, shape) => this.objectsChanged(changed, shape));
    page.store = this.store;
    page.tree = this.tree;
  }

  get isAdmin() { return this.user && this.user.permission === "admin"; }

  async connect() {
    const rpc = new Rpc();
    await rpc.open();
    rpc.on("all", (params) => this.store.push(params));
    return rpc;
  }

  // signed in on this.rpc: load the objects, show the inventory
  async start(user) {
    this.user = page.user = user;
    document.body.classList.toggle("viewer", !this.isAdmin);
    $("signin").hidden = true;
    $("app").hidden = $("search").hidden = $("user").hidden = false;
    $("user-name").textContent = `${user.email} (${user.permission})`;
    this.rpc.onclose = () => this.lost();
    this.store.load(await this.rpc.call("xo.getAllObjects", {}));
    page.loadedAt = performance.now();
    // the frame that paints the list runs after this callback: take the time after it
    requestAnimationFrame(() => setTimeout(() => { page.paintedAt = performance.now(); }, 0));
    page.signedIn = true;
    this.agents.start();
    this.navigate();
  }

  async signIn(email, password) {
    this.rpc = await this.connect();
    const user = await this.rpc.call("session.signIn", { email, password });
    // the session's token: the console proxy reads it as a cookie, a reload signs in with it
    const token = await this.rpc.call("token.create", { description: "web UI session" });
    document.cookie = `token=${token}; path=/; SameSite=Strict`;
    await this.start(user);
  }

  async resume() {
    const token = cookie("token");
    if (!token) return false;
    try {
      this.rpc = await this.connect();
      await this.start(await this.rpc.call("session.signIn", { token }));
      return true;
    } catch {
      if (this.rpc) this.rpc.close();
      document.cookie = "token=; path=/; max-age=0";
      return false;
    }
  }

  async signOut() {
    const token = cookie("token");
    try {
      if (token) await this.rpc.call("token.deleteOwn", { tokens: [token] });
      await this.rpc.call("session.signOut", {});
    } catch { /* signed out either way: the cookie goes */ }
    document.cookie = "token=; path=/; max-age=0";
    location.hash = "";
    location.reload();
  }

  // the connection dropped: say so, and sign in again with the token
  async lost() {
    page.signedIn = false;
    $("banners").prepend(banner("Connection to the gateway lost; reconnecting...", "lost"));
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 2000));
      try {
        this.rpc = await this.connect();
        this.rpc.onclose = () => this.lost();
        await this.rpc.call("session.signIn", { token: cookie("token") });
        this.store.load(await this.rpc.call("xo.getAllObjects", {}));
        document.querySelector(".banner.lost")?.remove();
        page.signedIn = true;
        return;
      } catch { if (this.rpc) { this.rpc.onclose = null; this.rpc.close(); } }
    }
  }

  // ---- the detail pane ----

  navigate() {
    const [, kind, id] = (location.hash.match(/^#\/(vm|pool|host|console)\/(.+)$/) || []);
    if (kind !== "console") closeConsole();
    this.route = kind ? { kind, id: decodeURIComponent(id) } : null;
    if (this.route && kind !== "console") this.tree.select(this.route.id);
    this.redraw(true);
  }

  redraw(full = false) {
    const d = $("detail"), r = this.route;
    const o = r && this.store.get(r.id);
    if (!r) { d.replaceChildren(welcome(this)); return; }
    if (!o) { d.replaceChildren(h2("Not found"), para(`No object ${r.id} (deleted?)`)); return; }
    if (r.kind === "console" && !full) return; // never reopen a console on a change
    const parts = r.kind === "vm" ? vmPage(this, o) : r.kind === "pool" ? poolPage(this, o)
                : r.kind === "host" ? hostPage(this, o) : consolePage(this, o);
    const kept = full ? null : keepEdits(d);
    d.replaceChildren(...parts);
    if (kept) kept();
  }

  objectsChanged(changed) {
    const r = this.route;
    if (!r || r.kind !== "vm") return;
    const vm = this.store.get(r.id);
    const parts = vm ? [vm.id, ...(vm.$VBDs || []), ...(vm.VIFs || []), ...(vm.snapshots || [])] : [r.id];
    if (parts.some((id) => changed.has(id))) this.redraw();
  }

  agentsChanged() {
    const r = this.route, span = document.querySelector('[data-field="agent"]');
    if (r && r.kind === "pool" && span) {
      const st = this.agents.stateOf(r.id);
      span.textContent = st.text;
      span.className = `agent-${st.state}`;
    }
  }

  // an action's bar goes to the page's job list, which outlives the page it started on
  runJob(label, pools, call) {
    return this.jobs.run($("jobs"), label, pools, call);
  }
}

// ---- the search box: the gateway evaluates the filter (xo.getAllObjects {filter}) ----

// The filter sent is the user's text behind this prefix: the parser's positions are
// given back in the text as typed.
const SEARCH_PREFIX = "type:VM ";

function inTypedText(message, typed) {
  const lead = typed.length - typed.trimStart().length;
  return message.replace(/at position (\d+)/g,
    (_, n) => `at position ${Math.max(0, Number(n) - SEARCH_PREFIX.length) + lead}`);
}

function searchBox(app) {
  let timer = null, seq = 0;
  const run = async () => {
    const typed = $("search-input").value, text = typed.trim(), mine = ++seq;
    if (!text) { app.tree.setFilter(null); $("search-status").textContent = ""; return; }
    try {
      const found = await app.rpc.call("xo.getAllObjects", { filter: SEARCH_PREFIX + text });
      if (mine !== seq) return;
      app.tree.setFilter(new Set(Object.keys(found)));
      $("search-status").textContent = "";
    } catch (e) {
      if (mine === seq) $("search-status").textContent = inTypedText(describeError(e), typed);
    }
  };
  $("search").addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("search-input").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, SEARCH_DELAY_MS); });
  // while a search is on, objects coming and going are matched again
  app.store.subscribe((changed, shape) => {
    if (shape && app.tree.filter) { clearTimeout(timer); timer = setTimeout(run, SEARCH_DELAY_MS); }
  });
}

function welcome(app) {
  const pools = app.store.ofType("pool");
  const div = document.createElement("div");
  div.append(h2("Pools"));
  for (const p of pools.sort((a, b) => a.name_label.localeCompare(b.name_label))) {
    const a = document.createElement("a");
    a.href = `#/pool/${p.id}`;
    a.textContent = p.name_label;
    const st = app.agents.stateOf(p.id);
    const s = document.createElement("span");
    s.className = `agent-${st.state}`;
    s.textContent = ` agent ${st.text}`;
    const para_ = document.createElement("p");
    para_.append(a, s);
    div.append(para_);
  }
  div.append(para("Pick a VM, a host or a pool in the inventory (arrow keys and Enter work too)."));
  return div;
}

function h2(text) { const e = document.createElement("h2"); e.textContent = text; return e; }
function para(text) { const e = document.createElement("p"); e.textContent = text; return e; }
function banner(text, cls) { const e = document.createElement("div"); e.className = `banner warn ${cls}`; e.setAttribute("role", "alert"); e.textContent = text; return e; }

// A redraw of the same page (the object changed) keeps what the user is typing or has
// picked: each input's edited value, each select's choice, the focus and the caret.
function keepEdits(d) {
  const edited = [...d.querySelectorAll("input[id], select[id]")]
    .filter((e) => e.tagName === "SELECT" || e.value !== e.defaultValue)
    .map((e) => [e.id, e.value]);
  const f = document.activeElement && d.contains(document.activeElement) ? document.activeElement : null;
  const caret = f && f.tagName === "INPUT" ? [f.selectionStart, f.selectionEnd] : null;
  return () => {
    for (const [id, value] of edited) {
      const e = $(id);
      if (e && (e.tagName !== "SELECT" || [...e.options].some((o) => o.value === value))) e.value = value;
    }
    const g = f && f.id && $(f.id);
    if (!g) return;
    g.focus();
    if (caret && g.tagName === "INPUT") g.setSelectionRange(caret[0], caret[1]);
  };
}

function cookie(name) {
  const m = document.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`));
  return m ? m[1] : null;
}

async function boot() {
  const app = new App();
  page.app = app;
  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = $("signin-error");
    err.textContent = "";
    page.signInAt = performance.now();
    try {
      await app.signIn($("signin-email").value, $("signin-password").value);
    } catch (ex) {
      if (app.rpc) app.rpc.close();
      err.textContent = ex.message === "invalid credentials" ? "Wrong email or password." : `Cannot sign in: ${describeError(ex)}`;
    }
  });
  $("sign-out").addEventListener("click", () => app.signOut());
  window.addEventListener("hashchange", () => app.navigate());
  searchBox(app);
  if (!(await app.resume())) {
    $("signin").hidden = false;
    $("signin-email").focus();
  }
}

boot();
