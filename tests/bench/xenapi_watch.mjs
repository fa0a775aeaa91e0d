// Baseline follower for bench_agent.py: the real xen-api npm client (4.7.6) watching a
// simulator with its own watch loop, printing one JSON line per 200 ms with how many
// objects it has loaded and how many object changes its watch loop has delivered.
// Usage: node xenapi_watch.mjs <url> [user] [password]
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const mod = path.join(here, '..', 'xapi_sim', 'npm', 'node_modules', 'xen-api', 'index.mjs')
const { Xapi } = await import(pathToFileURL(mod).href)

const [url, user = 'root', password = 'password'] = process.argv.slice(2)
const xapi = new Xapi({ url, auth: { user, password }, allowUnauthorized: true, debounce: 0 })
let changes = 0
let lastChange = 0
let loaded = false
const t0 = Date.now()
const count = objs => {
  changes += Object.keys(objs).length
  lastChange = Date.now()
}
xapi.objects.on('add', count)
xapi.objects.on('update', count)
xapi.objects.on('remove', count)
await xapi.connect()
xapi.objectsFetched.then(() => {
  loaded = true
  console.log(JSON.stringify({ t: Date.now(), fetched_ms: Date.now() - t0,
    objects: Object.keys(xapi.objects.all).length }))
})
setInterval(() => {
  console.log(JSON.stringify({ t: Date.now(), loaded, changes, last_change: lastChange,
    objects: Object.keys(xapi.objects.all).length }))
}, 200)
process.on('SIGTERM', () => process.exit(0))
