// webui_xolib_watch.mjs - bench_webui.py's xo-lib client, the baseline beside the page:
// signs in with the npm xo-lib client (0.9.0, unchanged), loads every object, then stamps
// the arrival of each `all` item whose name_label starts with "lat:" (wall clock in ms,
// performance.timeOrigin + performance.now(), the clock the page stamps with too).
//   node webui_xolib_watch.mjs URL EMAIL PASSWORD
// Prints {"ready": true, "load_ms": <signIn + getAllObjects>, "objects": n}, then on
// "report" on stdin one line {"seen": {label: ms}}; exits on "quit".
import { createRequire } from 'node:module'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '..', 'e2e', 'node', 'package.json'))
const Xo = require('xo-lib').default
const [url, email, password] = process.argv.slice(2)
const now = () => performance.timeOrigin + performance.now()
setTimeout(() => { console.error('webui_xolib_watch: timed out'); process.exit(1) }, 3600e3).unref()

const seen = {}
const xo = new Xo({ url })
xo.on('notification', (n) => {
  if (n.method !== 'all' || n.params.type !== 'enter') return
  const t = now()
  for (const o of Object.values(n.params.items)) {
    const l = o && o.name_label
    if (typeof l === 'string' && l.startsWith('lat:') && !(l in seen)) seen[l] = t
  }
})
const t0 = now()
await xo.open()
await xo.signIn({ email, password })
const objects = await xo.call('xo.getAllObjects', {})
console.log(JSON.stringify({ ready: true, load_ms: now() - t0, objects: Object.keys(objects).length }))
for await (const line of readline.createInterface({ input: process.stdin })) {
  if (line === 'report') console.log(JSON.stringify({ seen }))
  if (line === 'quit') break
}
await xo.close()
process.exit(0)
