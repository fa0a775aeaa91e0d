// rpc.js - JSON-RPC 2.0 over WebSocket to the gateway's /api/, the protocol xo-lib speaks
// (named params, one id per call, notifications without id: `all`). Knows no UI.
export class RpcError extends Error {
  constructor(e) {
    super(e.message || "error");
    this.code = e.code;
    this.data = e.data;
  }
}

export class Rpc {
  constructor(url = apiUrl()) {
    this.url = url;
    this.next = 1;
    this.pending = new Map(); // id -> {resolve, reject}
    this.handlers = new Map(); // notification method -> fn(params)
    this.onclose = null;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => resolve(this);
      ws.onerror = () => reject(new Error(`cannot connect to ${this.url}`));
      ws.onmessage = (ev) => this.receive(ev.data);
      ws.onclose = (ev) => {
        for (const p of this.pending.values()) p.reject(new Error("connection closed"));
        this.pending.clear();
        if (this.onclose) this.onclose(ev);
      };
    });
  }

  receive(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (msg.id === undefined || msg.id === null) {
      const fn = this.handlers.get(msg.method);
      if (fn) fn(msg.params);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) p.reject(new RpcError(msg.error));
    else p.resolve(msg.result);
  }

  on(method, fn) { this.handlers.set(method, fn); }

  call(method, params = {}) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error("not connected to the gateway"));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", method, params, id }));
    });
  }

  close() {
    if (this.ws) {
      this.onclose = null;
      this.ws.close();
    }
  }
}

// xo-lib connects to <url>/api/: the same origin as the page.
export function apiUrl(loc = window.location) {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/api/`;
}

// An error in words, for people: the gateway's message, and what XAPI said when it says.
export function describeError(e) {
  if (!(e instanceof RpcError)) return String(e && e.message ? e.message : e);
  const d = e.data || {};
  const parts = [e.message];
  if (d.code && d.code !== e.message) parts.push(String(d.code));
  if (Array.isArray(d.params) && d.params.length) parts.push(d.params.join(", "));
  if (d.reason) parts.push(String(d.reason));
  if (Array.isArray(d.errors)) parts.push(...d.errors.map((x) => String(x && x.message)));
  if (d.permission) parts.push(`(needs ${d.permission})`);
  return parts.join(": ");
}
