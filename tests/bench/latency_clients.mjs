// latency_clients.mjs - signed-in WebSocket clients of xo-gateway for bench_gateway_latency.py.
//
//   node latency_clients.mjs URL TOKEN N_XOLIB N_RAW
//
// Opens N_XOLIB clients with the npm xo-lib client (0.9.0, unchanged) and N_RAW light raw
// WebSocket JSON-RPC clients (the `ws` package xo-lib itself uses), all signed in with the
// token (session.signIn {token}). Every client receives and JSON-parses every `all`
// notification (xo-lib parses in its own stack; the raw clients JSON.parse each message)
// and, for every "enter" item whose name_label is "lat:<send ns>:<seq>" with a seq newer
// than the last one that client saw for that object, records latency = receive time
// (process.hrtime.bigint(), CLOCK_MONOTONIC, taken when the message is handled) - send time.
// xo-lib clients keep exact samples; raw clients feed a log histogram (2% buckets).
// Prints "ready <signed-in>" when every client is signed in. Commands on stdin:
//   reset   forget samples and counters (start of the measured window; labels sent before
//           the reset are ignored)
//   report  print one JSON line {xolib:{samples,p50,p99,max,seqs}, raw:{...}, notifications,
//           items, bytes, closed, corrupt (messages that were not JSON, or labels
//           that did not parse), clients}
//   missing FILE  FILE holds {objectId: seq}, the last label of each VM (from the
//           simulator); print {"missing": {xolib, raw}}: how many (client, VM) pairs have not
//           received that label yet -- 0 once every client has every VM's final state
//   quit    close every client and exit
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '..', 'e2e', 'node', 'package.json'))
const Xo = require('xo-lib').default
const WebSocket = require('ws')

const [url, token, nXoS, nRawS] = process.argv.slice(2)
const nXo = Number(nXoS)
const nRaw = Number(nRawS)
setTimeout(() => { console.error('latency_clients: timed out'); process.exit(1) }, 1800e3).unref()

let since = process.hrtime.bigint()
let notifications = 0
let items = 0
let bytes = 0
let closed = 0
let corrupt = 0
let corruptSample = null
const lasts = { xolib: [], raw: [] } // every client's object -> newest seq received
const xoSamples = []
const xoSeqs = new Set()
const B = Math.log(1.02)
const hist = new Float64Array(2000)
let rawCount = 0
let rawMax = 0

function scan (params, last, now, sink) {
  if (params.type !== 'enter') return
  for (const id in params.items) {
    items++
    const o = params.items[id]
    const l = o && o.name_label
    if (typeof l !== 'string' || !l.startsWith('lat:')) continue
    const i = l.indexOf(':', 4)
    let sent
    const seq = Number(l.slice(i + 1))
    try {
      sent = BigInt(l.slice(4, i))
      if (i < 0 || !Number.isInteger(seq)) throw new Error('bad seq')
    } catch (e) {
      // valid JSON but a mangled label: the message was corrupted in flight (counted)
      corrupt++
      if (!corruptSample) corruptSample = 'label ' + JSON.stringify(l.slice(0, 60))
      continue
    }
    if (sent < since) continue
    const prev = last.get(id)
    if (prev !== undefined && prev >= seq) continue
    last.set(id, seq)
    sink(Number(now - sent) / 1e6, seq)
  }
}

const xoSink = (ms, seq) => { xoSamples.push(ms); xoSeqs.add(seq) }
const rawSink = (ms) => {
  rawCount++
  if (ms > rawMax) rawMax = ms
  const k = ms <= 0.01 ? 0 : Math.min(hist.length - 1, Math.ceil(Math.log(ms / 0.01) / B))
  hist[k]++
}

async function openXo () {
  const xo = new Xo({ url })
  const last = new Map()
  lasts.xolib.push(last)
  xo.on('notification', (n) => {
    if (n.method !== 'all') return
    notifications++
    scan(n.params, last, process.hrtime.bigint(), xoSink)
  })
  xo.on('closed', () => { closed++ })
  await xo.open()
  await xo.signIn({ token })
  return xo
}

function openRaw () {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws').replace(/\/?$/, '/api/'))
    const last = new Map()
    lasts.raw.push(last)
    let signed = false
    ws.on('open', () => ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'session.signIn', params: { token }, id: 1 })))
    ws.on('message', (data) => {
      const now = process.hrtime.bigint()
      bytes += data.length
      let m
      try {
        m = JSON.parse(data.toString())
      } catch (e) {
        // a message that is not JSON: counted (see the bench's "bad" column), not fatal
        corrupt++
        if (!corruptSample) corruptSample = String(e.message).slice(0, 200)
        return
      }
      if (m.method === 'all') {
        notifications++
        scan(m.params, last, now, rawSink)
      } else if (m.id === 1 && !signed) {
        signed = true
        if (m.error) reject(new Error('signIn: ' + JSON.stringify(m.error)))
        else resolve(ws)
      }
    })
    ws.on('error', (e) => { if (!signed) reject(e) })
    ws.on('close', () => { if (signed) closed++; else reject(new Error('closed before sign-in')) })
  })
}

// xo-lib (json-rpc-peer) emits an unhandled 'error' when a message from the server is not
// JSON (-32700); count it like the raw clients do instead of dying, so the row completes.
process.on('uncaughtException', (e) => {
  if (e && e.code === 'ERR_UNHANDLED_ERROR' && String(e.context || e.message).includes('-32700')) {
    corrupt++
    if (!corruptSample) corruptSample = 'xo-lib: ' + String(e.context || e.message).slice(0, 200)
    return
  }
  console.error('latency_clients:', e && e.stack ? e.stack : e)
  process.exit(1)
})

const xos = []
const raws = []
for (let i = 0; i < nXo; i++) xos.push(await openXo())
for (let i = 0; i < nRaw; i += 50) {
  const batch = []
  for (let j = i; j < Math.min(nRaw, i + 50); j++) batch.push(openRaw())
  raws.push(...await Promise.all(batch))
}
process.stdout.write(`ready ${xos.length + raws.length}\n`)

function pct (sorted, p) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null }
function histPct (p) {
  if (!rawCount) return null
  let acc = 0
  const want = p * rawCount
  for (let k = 0; k < hist.length; k++) { acc += hist[k]; if (acc > want) return 0.01 * Math.exp(k * B) }
  return rawMax
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  if (line === 'reset') {
    since = process.hrtime.bigint()
    notifications = items = bytes = closed = rawCount = rawMax = corrupt = 0
    corruptSample = null
    xoSamples.length = 0
    xoSeqs.clear()
    hist.fill(0)
    process.stdout.write('reset\n')
  } else if (line === 'report') {
    const s = Float64Array.from(xoSamples).sort()
    process.stdout.write(JSON.stringify({
      clients: xos.length + raws.length, closed, corrupt, corrupt_sample: corruptSample, notifications, items, bytes,
      xolib: { clients: xos.length, samples: s.length, seqs: xoSeqs.size, p50: pct(s, 0.5), p99: pct(s, 0.99), max: s.length ? s[s.length - 1] : null, mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : null },
      raw: { clients: raws.length, samples: rawCount, p50: histPct(0.5), p99: histPct(0.99), max: rawCount ? rawMax : null }
    }) + '\n')
  } else if (line.startsWith('missing ')) {
    const final = JSON.parse(fs.readFileSync(line.slice(8), 'utf8'))
    const count = (maps) => maps.reduce((n, last) => n + Object.entries(final)
      .filter(([id, seq]) => !((last.get(id) ?? -1) >= seq)).length, 0)
    process.stdout.write(JSON.stringify({ missing: { xolib: count(lasts.xolib), raw: count(lasts.raw) } }) + '\n')
  } else if (line === 'quit') {
    for (const ws of raws) ws.terminate()
    await Promise.race([Promise.all(xos.map((x) => x.close().catch(() => {}))), new Promise((r) => setTimeout(r, 3000))])
    process.exit(0)
  }
})
rl.on('close', () => process.exit(0))
