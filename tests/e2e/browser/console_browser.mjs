// The browser test's driver: Debian's chromium (never a downloaded build) headless through
// playwright-core, noVNC's page served from loopback, the console of one VM opened through
// xo-gateway with the user's `token` cookie. Prints one JSON line: what the page saw, the
// canvas pixels (base64 RGBA) and the screenshot's path.
// usage: node console_browser.mjs <config.json>
//   {gateway_port, vm, token, page_url, screenshot, type, protocols}
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.XO_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const out = {};
try {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  await context.addCookies([{ name: "token", value: cfg.token, domain: "127.0.0.1", path: "/" }]);
  const page = await context.newPage();
  page.on("console", (m) => process.stderr.write(`[page] ${m.text()}\n`));
  const url = `ws://127.0.0.1:${cfg.gateway_port}/api/consoles/${cfg.vm}`;
  await page.goto(`${cfg.page_url}?url=${encodeURIComponent(url)}&protocols=${cfg.protocols || ""}`);
  // consoleState is set by the page's first script; guard anyway (a page still loading)
  await page.waitForFunction(() => {
    const s = window.consoleState;
    return s && (s.connected || s.disconnected);
  }, null, { timeout: 20000 });
  out.state = await page.evaluate(() => window.consoleState);
  if (out.state.connected) {
    // the first full update is drawn once the canvas is no longer blank
    await page.waitForFunction(() => {
      const c = document.querySelector("#screen canvas");
      if (!c || c.width < 640) return false;
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < d.length; i += 4 * 997) if (d[i] !== 0 && (d[i - 1] || d[i - 2] || d[i - 3])) return true;
      return false;
    }, null, { timeout: 20000 });
    await page.waitForTimeout(300);
    const canvas = page.locator("#screen canvas");
    await canvas.screenshot({ path: cfg.screenshot });
    out.pixels = await page.evaluate(() => {
      const c = document.querySelector("#screen canvas");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let s = "";
      for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
      return { width: c.width, height: c.height, rgba: btoa(s) };
    });
    if (cfg.type) {
      await canvas.click({ position: { x: 5, y: 5 } });
      await page.keyboard.type(cfg.type, { delay: 20 });
      await page.waitForTimeout(500);
    }
    out.state = await page.evaluate(() => window.consoleState);
  }
} catch (e) {
  out.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
