// The web UI tests' browser: Debian's chromium (never a downloaded build) headless through
// playwright-core, driven one step at a time by the Python test, which keeps the simulators
// and the API in the same hands. One JSON step per stdin line, one JSON answer per stdout
// line ({ok, value} or {error}); the page's console goes to stderr.
//   {op: "goto", url} | {op: "click", sel} | {op: "fill", sel, value} | {op: "press", key}
//   {op: "click_reload", sel} (a click that reloads the page: answers once the new page
//   has loaded, so the next step never races the reload) | {op: "type", text} | {op: "wait", fn, arg?, timeout} (a function's source, run in the
//   page until truthy: its value) | {op: "eval", fn, arg?} | {op: "shot", path, sel?}
//   {op: "viewport", width, height} | {op: "quit"}
// usage: node webui_driver.mjs   (XO_CHROMIUM: the browser, default /usr/bin/chromium)
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const browser = await chromium.launch({
  executablePath: process.env.XO_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
page.on("console", (m) => process.stderr.write(`[page] ${m.text()}\n`));
page.on("pageerror", (e) => process.stderr.write(`[page error] ${e}\n`));
const fn = (src) => new Function(`return (${src})`)();

async function step(s) {
  switch (s.op) {
    case "goto": await page.goto(s.url, { timeout: s.timeout || 20000 }); return null;
    case "click": await page.click(s.sel, { timeout: s.timeout || 20000 }); return null;
    case "click_reload": {
      const loaded = page.waitForEvent("load", { timeout: s.timeout || 20000 });
      await page.click(s.sel, { timeout: s.timeout || 20000 });
      await loaded;
      return null;
    }
    case "fill": await page.fill(s.sel, s.value, { timeout: s.timeout || 20000 }); return null;
    case "press": await page.keyboard.press(s.key); return null;
    case "type": await page.keyboard.type(s.text, { delay: 20 }); return null;
    case "wait": {
      const h = await page.waitForFunction(fn(s.fn), s.arg ?? null, { timeout: s.timeout || 20000, polling: s.polling || "raf" });
      return await h.jsonValue();
    }
    case "eval": return await page.evaluate(fn(s.fn), s.arg ?? null);
    case "shot":
      if (s.sel) await page.locator(s.sel).screenshot({ path: s.path });
      else await page.screenshot({ path: s.path, fullPage: false });
      return s.path;
    case "viewport": await page.setViewportSize({ width: s.width, height: s.height }); return null;
    default: throw new Error(`unknown step ${s.op}`);
  }
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const s = JSON.parse(line);
  if (s.op === "quit") break;
  try {
    process.stdout.write(JSON.stringify({ ok: true, value: await step(s) }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + "\n");
  }
}
await browser.close();
process.exit(0);
