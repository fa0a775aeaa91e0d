// latency_driver.mjs - the change source of bench_gateway_latency.py.
//
//   node latency_driver.mjs SIM_URL REFS_JSON_FILE RATE SECONDS CONNS
//
// Logs in to the XAPI simulator over JSON-RPC (POST /jsonrpc, keep-alive), then calls
// VM.set_name_label at a steady RATE per second for SECONDS, round-robin over the VM refs,
// on at most CONNS keep-alive connections (one call in flight per connection, as XAPI
// clients do). Each label is "lat:<send time>:<seq>", the send time being
// process.hrtime.bigint() (CLOCK_MONOTONIC in ns, the same clock as Python's
// time.monotonic_ns() and the clients' receive stamps) taken just before the request is
// written. When every connection is busy the call waits; if the driver falls more than
// 100 ms behind its schedule the owed calls are skipped (counted), so the achieved rate is
// what the simulator sustains and no label carries a stale send time.
// Prints one JSON line at the end: {sent, ok, errors, skipped, seconds, rate, call_ms:{p50,p99,max}}.
import http from 'node:http'
import fs from 'node:fs'

const [simUrl, refsFile, rateS, secondsS, connsS] = process.argv.slice(2)
const rate = Number(rateS)
const seconds = Number(secondsS)
const conns = Number(connsS)
const refs = JSON.parse(fs.readFileSync(refsFile, 'utf8'))
const u = new URL(simUrl)
const agent = new http.Agent({ keepAlive: true, maxSockets: conns })
setTimeout(() => { console.error('latency_driver: timed out'); process.exit(1) }, (seconds + 120) * 1000).unref()

function rpc (method, params, id) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ jsonrpc: '2.0', method, params, id })
    const req = http.request({ host: u.hostname, port: u.port, path: '/jsonrpc', method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        try {
          const m = JSON.parse(Buffer.concat(chunks).toString())
          if (m.error) reject(new Error(JSON.stringify(m.error)))
          else resolve(m.result)
        } catch (e) { reject(e) }
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

const session = await rpc('session.login_with_password', ['root', 'password', '1.0', 'xo-bench'], 0)
let seq = 0
let ok = 0
let errors = 0
let skipped = 0
let inflight = 0
let lastError = null
const callMs = []
const t0 = process.hrtime.bigint()
const end = t0 + BigInt(Math.round(seconds * 1e9))

function pump () {
  const now = process.hrtime.bigint()
  if (now >= end) return false
  let due = Math.floor(Number(now - t0) / 1e9 * rate)
  if (due - (seq + skipped) > rate * 0.1) skipped = due - seq - Math.floor(rate * 0.1)
  while (seq + skipped < due && inflight < conns) {
    const n = seq++
    const ref = refs[n % refs.length]
    const sent = process.hrtime.bigint()
    inflight++
    rpc('VM.set_name_label', [session, ref, `lat:${sent}:${n}`], n + 1).then(() => {
      ok++
      callMs.push(Number(process.hrtime.bigint() - sent) / 1e6)
    }, (e) => { errors++; lastError = String(e) }).finally(() => { inflight--; if (inflight === conns - 1) setImmediate(pump) })
  }
  return true
}

await new Promise((resolve) => {
  const tick = () => { if (pump()) setTimeout(tick, 1); else resolve() }
  tick()
})
const wall = Number(process.hrtime.bigint() - t0) / 1e9
const drain = Date.now() + 30000
while (inflight > 0 && Date.now() < drain) await new Promise((r) => setTimeout(r, 5))
callMs.sort((a, b) => a - b)
const pct = (p) => callMs.length ? callMs[Math.min(callMs.length - 1, Math.floor(p * callMs.length))] : null
process.stdout.write(JSON.stringify({ sent: seq, ok, errors, skipped, seconds: wall, rate: ok / wall,
  call_ms: { p50: pct(0.5), p99: pct(0.99), max: callMs.length ? callMs[callMs.length - 1] : null }, last_error: lastError }) + '\n')
agent.destroy()
process.exit(0)
