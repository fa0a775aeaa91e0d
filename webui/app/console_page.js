// console_page.js - a VM's console in the page: noVNC (served by the gateway from the
// pinned npm package, app/vendor.js says where) over the console proxy,
// /api/consoles/<id>, signed in by the `token` cookie the page set at sign-in. Ctrl-Alt-Del
// and full screen; window.xoConsole tells its state (the browser tests read it).
import { h } from "./dom.js";
import { NOVNC_RFB } from "./vendor.js";

let current = null; // the open RFB connection: one console at a time

export function closeConsole() {
  if (current) current.disconnect();
  current = null;
}

export function consolePage(app, vm) {
  const state = { connected: false, name: null, disconnected: null };
  window.xoConsole = state;
  const screen = h("div", { class: "screen", id: "console-screen", "aria-label": `Console of ${vm.name_label}` });
  const status = h("span", { role: "status", id: "console-status" }, "connecting...");
  const cad = h("button", { type: "button", disabled: true, onclick: () => current && current.sendCtrlAltDel() }, "Ctrl-Alt-Del");
  const full = h("button", { type: "button", onclick: () => screen.requestFullscreen && screen.requestFullscreen() }, "Full screen");
  closeConsole();
  if (!NOVNC_RFB) {
    status.textContent = "noVNC is not installed with this gateway's web UI (npm ci in webui/, then build)";
    state.disconnected = { error: "noVNC missing" };
  } else {
    open(vm, screen, status, cad, state);
  }
  return [h("h2", {}, `Console: ${vm.name_label}`),
          h("p", {}, h("a", { href: `#/vm/${vm.id}` }, "Back to the VM")),
          h("div", { class: "console-bar" }, cad, full, status), screen];
}

async function open(vm, screen, status, cad, state) {
  try {
    const { default: RFB } = await import(NOVNC_RFB);
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/consoles/${encodeURIComponent(vm.id)}`;
    const rfb = new RFB(screen, url, { wsProtocols: ["binary"] });
    current = rfb;
    rfb.scaleViewport = false;
    rfb.resizeSession = false;
    rfb.focusOnClick = true;
    rfb.addEventListener("connect", () => {
      state.connected = true;
      cad.disabled = false;
      status.textContent = "connected";
    });
    rfb.addEventListener("desktopname", (e) => { state.name = e.detail.name; });
    rfb.addEventListener("disconnect", (e) => {
      state.disconnected = e.detail || { clean: false };
      cad.disabled = true;
      status.textContent = e.detail && e.detail.clean ? "closed" : "the console closed (is the VM running, is its agent connected?)";
      if (current === rfb) current = null;
    });
  } catch (e) {
    state.disconnected = { error: String(e) };
    status.textContent = `cannot start the console: ${e.message || e}`;
  }
}
