"""Issue 11 in a browser: noVNC (npm @novnc/novnc, pinned in tests/e2e/browser) in Debian's
chromium, headless through playwright-core, opens simulated VMs' consoles through the
gateway and the pool's agent, as xo-web does: the `token` cookie, /api/consoles/<id>.

- with subprotocol `binary` offered (noVNC's usual) and with none (xo-web may offer none);
- the canvas holds that VM's framebuffer, pixel for pixel the simulator's own (each VM's
  screen shows its name, uuid and a barcode of it); a screenshot of the canvas is saved as
  a test artifact ($XO_BUILD_DIR/artifacts/console-<n>.png);
- keys typed in the page arrive at the simulator (/sim/stats consoles.<vm>.last_keysyms).
"""
import base64
import functools
import http.server
import json
import os
import subprocess
import sys
import threading

import harness
import rfb_client as rc
from test_agent_commands import regular_vms, vm_by_state
from test_console import direct_frame, start_stack, token

BROWSER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser")


def ensure_node_modules():
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, check=True,
                       env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))


class Pages(http.server.SimpleHTTPRequestHandler):
    """console.html at /, noVNC's package at /novnc/ (loopback only)."""

    def translate_path(self, path):
        path = path.split("?", 1)[0]
        if path.startswith("/novnc/"):
            return os.path.join(BROWSER_DIR, "node_modules", "@novnc", "novnc", path[7:])
        return os.path.join(BROWSER_DIR, "console.html")

    def log_message(self, *args):
        pass


def serve_pages():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def run_browser(cfg, tmp):
    path = os.path.join(tmp, f"browser-{cfg['vm']}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = subprocess.run(["node", os.path.join(BROWSER_DIR, "console_browser.mjs"), path],
                       capture_output=True, text=True, timeout=120 * harness.SCALE)
    sys.stderr.write(p.stderr[-2000:])
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def rgba_of(frame_bgrx):
    """The simulator's 32 bpp little-endian pixels (B, G, R, X) as the canvas holds them."""
    out = bytearray(len(frame_bgrx))
    out[0::4] = frame_bgrx[2::4]
    out[1::4] = frame_bgrx[1::4]
    out[2::4] = frame_bgrx[0::4]
    out[3::4] = b"\xff" * (len(frame_bgrx) // 4)
    return bytes(out)


def check_vm(sim, gw, tok, vm, protocols, n, tmp, art):
    shot = os.path.join(art, f"console-{n}.png")
    if os.path.exists(shot):
        os.unlink(shot)
    text = f"xo{n}"
    out = run_browser({"gateway_port": gw.port, "vm": vm, "token": tok, "type": text,
                       "page_url": f"http://127.0.0.1:{PAGES.server_address[1]}/console.html",
                       "screenshot": shot, "protocols": protocols}, tmp)
    assert "error" not in out, out.get("error")
    name = regular_vms(sim)[vm][1]["name_label"]
    assert out["state"]["connected"] and out["state"]["name"] == name, out["state"]
    assert out["state"]["disconnected"] is None, out["state"]
    px = out["pixels"]
    assert (px["width"], px["height"]) == (640, 480), px
    canvas = base64.b64decode(px["rgba"])
    want = rgba_of(direct_frame(sim, vm))
    diff = sum(1 for i in range(0, len(want), 4) if canvas[i:i + 3] != want[i:i + 3])
    # the typed text may already be echoed on the direct frame's screen: a few pixels at most
    assert diff < 640 * 480 // 50, f"{diff} pixels differ from the VM's framebuffer"
    assert os.path.getsize(shot) > 1000, shot
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    stats = rc.wait_for(lambda: (s := sim.stats()["consoles"].get(vm, {})) and
                        s.get("last_keysyms", [])[-len(text):] == [ord(c) for c in text] and s,
                        20, "typed keys at the simulator")
    print(f"noVNC in chromium, protocols={protocols or 'none'}: '{name}', canvas = the VM's "
          f"framebuffer ({diff} pixels differ), typed '{text}' -> keys {stats['keys']}, "
          f"screenshot {shot}")


PAGES = None


def main():
    global PAGES
    ensure_node_modules()
    art = os.path.join(harness.build_dir(), "artifacts")
    os.makedirs(art, exist_ok=True)
    PAGES = serve_pages()
    try:
        with harness.Stack() as st:
            _, sim, _, gw, _ = start_stack(st)
            tok = token(gw, ("admin@admin.net", "admin"))
            running = vm_by_state(sim, "Running", n=2)
            check_vm(sim, gw, tok, running[0], "binary", 1, st.tmp, art)
            check_vm(sim, gw, tok, running[1], "", 2, st.tmp, art)
    finally:
        PAGES.shutdown()
    print("console_browser: all checks passed")


if __name__ == "__main__":
    main()
