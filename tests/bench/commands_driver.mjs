// commands_driver.mjs - the two clients of bench_commands.py, timing vm.start one call at a
// time and resetting the VM with a hard shutdown (not timed) between calls.
//
//   node commands_driver.mjs xolib URL EMAIL PASSWORD VM_UUID N [GAP_MS]
//       npm xo-lib 0.9.0 (unchanged) -> xo-gateway: vm.start {id}, then vm.stop {id, force};
//       with GAP_MS, no call for that long before each vm.start
//   node commands_driver.mjs xenapi URL VM_UUID N
//       npm xen-api (as xo-server calls XAPI) straight to the simulator:
//       callAsync('VM.start', ref, false, false), then callAsync('VM.hard_shutdown', ref)
//
//   node commands_driver.mjs burst URL EMAIL PASSWORD CONNECTIONS OP ARGS_JSON VM_UUID,VM_UUID,...
//       npm xo-lib over CONNECTIONS connections: OP {id: vm, ...ARGS_JSON} for every VM at
//       once (round-robin over the connections); each call timed from its own send
//
// Prints one JSON line: {start_ms, stop_ms, start_at} (per-call wall times, ms; start_at: the
// epoch ms each vm.start was sent, for the bench's per-hop split), or for a burst
// {ms: [...], at: [...], wall_ms} (at: the epoch ms each call was sent, in the VMs' order).
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const [mode, ...args] = process.argv.slice(2)
const now = () => Number(process.hrtime.bigint()) / 1e6
const epoch = () => performance.timeOrigin + performance.now()

async function timed (fn) {
  const t0 = now()
  await fn()
  return now() - t0
}

async function signedIn (url, email, password) {
  const require = createRequire(path.join(here, '..', 'e2e', 'node', 'package.json'))
  const Xo = require('xo-lib').default
  const xo = new Xo({ url })
  await xo.open()
  await xo.signIn({ email, password })
  return xo
}

async function xolib ([url, email, password, vm, n, gapMs]) {
  const xo = await signedIn(url, email, password)
  const out = { start_ms: [], stop_ms: [], start_at: [] }
  for (let i = 0; i < +n; i++) {
    if (gapMs) await new Promise(resolve => setTimeout(resolve, +gapMs))
    out.start_at.push(epoch())
    out.start_ms.push(await timed(() => xo.call('vm.start', { id: vm })))
    out.stop_ms.push(await timed(() => xo.call('vm.stop', { id: vm, force: true })))
  }
  await xo.close()
  return out
}

async function xenapi ([url, vm, n]) {
  const mod = path.join(here, '..', 'xapi_sim', 'npm', 'node_modules', 'xen-api', 'index.mjs')
  const { Xapi } = await import(pathToFileURL(mod).href)
  const xapi = new Xapi({ url, auth: { user: 'root', password: 'password' }, allowUnauthorized: true })
  await xapi.connect()
  await xapi.objectsFetched
  const ref = await xapi.call('VM.get_by_uuid', vm)
  const out = { start_ms: [], stop_ms: [] }
  for (let i = 0; i < +n; i++) {
    out.start_ms.push(await timed(() => xapi.callAsync('VM.start', ref, false, false)))
    out.stop_ms.push(await timed(() => xapi.callAsync('VM.hard_shutdown', ref)))
  }
  await xapi.disconnect()
  return out
}

async function burst ([url, email, password, conns, op, argsJson, vms]) {
  const clients = await Promise.all(Array.from({ length: +conns }, () => signedIn(url, email, password)))
  const extra = JSON.parse(argsJson)
  const at = []
  const t0 = now()
  const ms = await Promise.all(vms.split(',').map((vm, i) => {
    at.push(epoch())
    return timed(() => clients[i % clients.length].call(op, { id: vm, ...extra }))
  }))
  const wall = now() - t0
  await Promise.all(clients.map(xo => xo.close()))
  return { ms, at, wall_ms: wall }
}

const fn = { xolib, xenapi, burst }[mode]
if (!fn) {
  console.error('usage: commands_driver.mjs xolib|xenapi|burst ...')
  process.exit(2)
}
fn(args).then(out => {
  process.stdout.write(JSON.stringify(out) + '\n')
  process.exit(0)
}, e => {
  console.error('commands_driver:', e && e.stack ? e.stack : e)
  process.exit(1)
})
