// xo_client.js - drive xo-gateway with the npm xo-lib client, unchanged, for the e2e tests.
//
//   node xo_client.js snapshot URL EMAIL PASSWORD [FILTER_JSON]
//       sign in, call xo.getAllObjects, print the map as one JSON line, exit
//   node xo_client.js follow URL EMAIL PASSWORD
//       sign in, getAllObjects, then apply every `all` notification to a local copy;
//       commands on stdin: "dump" prints {objects, notifications, items} as one JSON line,
//       "quit" exits. Prints "ready" once the initial copy is loaded.
//   node xo_client.js call URL EMAIL PASSWORD METHOD PARAMS_JSON
//       sign in (unless EMAIL is "-"), call one method, print {result} or {error}
//       (with ms: the call's duration)
//   node xo_client.js import URL EMAIL PASSWORD SR FILE
//       sign in, call vm.import {sr} and POST FILE to its $sendTo (with Content-Length,
//       streamed, as a browser sends a File); print {status, answer} (the POST's JSON)
//   In follow mode, "dump" also returns tasks: every task object seen entering the copy,
//   as {id, name_label, status} (the XAPI tasks of running commands).
'use strict'
const Xo = require('xo-lib').default
const readline = require('readline')

const [mode, url, email, password, ...rest] = process.argv.slice(2)

function die (e) {
  console.error('xo_client:', e && e.stack ? e.stack : e)
  process.exit(1)
}
setTimeout(() => die('timed out after 280 s'), 280e3).unref()

async function connect () {
  const xo = new Xo({ url })
  await xo.open()
  if (email !== '-') await xo.signIn({ email, password })
  return xo
}

async function main () {
  const xo = await connect()
  if (mode === 'snapshot') {
    const filter = rest[0] ? JSON.parse(rest[0]) : undefined
    const objects = await xo.call('xo.getAllObjects', filter ? { filter } : {})
    process.stdout.write(JSON.stringify(objects) + '\n')
    await xo.close()
    return
  }
  if (mode === 'call') {
    const t0 = Date.now()
    try {
      const result = await xo.call(rest[0], JSON.parse(rest[1] || '{}'))
      process.stdout.write(JSON.stringify({ result, ms: Date.now() - t0 }) + '\n')
    } catch (error) {
      process.stdout.write(JSON.stringify({ error: { code: error.code, message: error.message, data: error.data }, ms: Date.now() - t0 }) + '\n')
    }
    await xo.close()
    return
  }
  if (mode === 'import') {
    const { $sendTo } = await xo.call('vm.import', { sr: rest[0] })
    const target = new URL($sendTo, url.replace(/^ws/, 'http'))
    const size = require('fs').statSync(rest[1]).size
    const lib = target.protocol === 'https:' ? require('https') : require('http')
    const answer = await new Promise((resolve, reject) => {
      const req = lib.request(target, { method: 'POST', headers: { 'content-length': size, 'content-type': 'application/octet-stream' } }, (res) => {
        let body = ''
        res.on('data', (d) => { body += d })
        res.on('end', () => resolve({ status: res.statusCode, answer: JSON.parse(body) }))
      })
      req.on('error', reject)
      require('fs').createReadStream(rest[1]).pipe(req)
    })
    process.stdout.write(JSON.stringify(answer) + '\n')
    await xo.close()
    return
  }
  if (mode === 'follow') {
    const copy = new Map()
    const tasks = []
    let notifications = 0
    let items = 0
    const pending = []
    let loaded = false
    const apply = (params) => {
      notifications++
      for (const [id, obj] of Object.entries(params.items)) {
        items++
        if (params.type === 'enter' && obj.type === 'task') tasks.push({ id, name_label: obj.name_label, status: obj.status })
        if (params.type === 'enter') copy.set(id, obj)
        else copy.delete(id)
      }
    }
    // Notifications may arrive before the getAllObjects answer: queue them and apply
    // them after it (they are newer than or equal to what it returned).
    xo.on('notification', (n) => {
      if (n.method !== 'all') return
      if (loaded) apply(n.params)
      else pending.push(n.params)
    })
    const all = await xo.call('xo.getAllObjects', {})
    for (const [id, obj] of Object.entries(all)) copy.set(id, obj)
    loaded = true
    for (const p of pending) apply(p)
    process.stdout.write('ready\n')
    const rl = readline.createInterface({ input: process.stdin })
    rl.on('line', async (line) => {
      if (line === 'dump') {
        const out = {}
        for (const [id, o] of copy) out[id] = { type: o.type, name_label: o.name_label, power_state: o.power_state, $pool: o.$pool }
        process.stdout.write(JSON.stringify({ objects: out, notifications, items, tasks }) + '\n')
      } else if (line === 'quit') {
        await xo.close()
        process.exit(0)
      }
    })
    rl.on('close', () => process.exit(0))
    return
  }
  die('unknown mode ' + mode)
}

main().catch(die)
