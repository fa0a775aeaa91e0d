// agents.js - each pool's agent as the gateway sees it (/healthz: pools[].status and
// agent heartbeat), asked every few seconds: connected, syncing, error or gone, and a
// banner for each pool whose agent is gone (its objects are then what the agent said last).
const POLL_MS = 3000;

export class Agents {
  constructor(bannerEl, store, onChange) {
    this.banner = bannerEl;
    this.store = store;
    this.onChange = onChange;
    this.pools = new Map(); // pool uuid -> healthz entry
    this.timer = null;
  }

  start() {
    this.poll();
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.banner.replaceChildren();
  }

  async poll() {
    try {
      const r = await fetch("/healthz", { cache: "no-store" });
      const body = await r.json();
      this.pools = new Map((body.pools || []).map((p) => [p.uuid, p]));
    } catch {
      this.pools = new Map();
    }
    this.showBanners();
    if (this.onChange) this.onChange();
  }

  // pool id (its uuid in the view) -> {state, text}
  stateOf(poolId) {
    const p = this.pools.get(poolId);
    if (!p) return { state: "syncing", text: "unknown (no heartbeat yet)" };
    if (p.status === "stale") return { state: "gone", text: `gone (last heartbeat ${Math.round((p.agent?.age_ms || 0) / 1000)} s ago)` };
    if (p.status === "no_agent") return { state: "error", text: "no agent" };
    if (!p.synced) return { state: "syncing", text: "syncing" };
    if (p.agent && p.agent.state && p.agent.state !== "live") return { state: "error", text: p.agent.state };
    return { state: "ok", text: "connected" };
  }

  showBanners() {
    const items = [];
    for (const uuid of this.pools.keys()) {
      const st = this.stateOf(uuid);
      if (st.state !== "gone" && st.state !== "error") continue;
      const pool = this.store.get(uuid);
      const div = document.createElement("div");
      div.className = "banner";
      div.dataset.pool = uuid;
      div.setAttribute("role", "alert");
      div.textContent = `Pool ${pool ? pool.name_label : uuid}: its agent is ${st.text}; what you see of it may be out of date.`;
      items.push(div);
    }
    this.banner.replaceChildren(...items);
  }
}
