// Drives the XAPI simulator with the unchanged `xen-api` npm client (pinned 4.7.6).
// Starts its own simulator, runs the checks with bounded waits, prints "N passed, N failed".
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { Xapi } from 'xen-api'

const here = path.dirname(fileURLToPath(import.meta.url))
const simPath = path.join(here, '..', 'xapi_sim.py')

let passed = 0
let failed = 0
function check(name, ok, detail = '') {
  if (ok) {
    passed++
    console.log(`ok - ${name}`)
  } else {
    failed++
    console.log(`not ok - ${name} ${detail}`)
  }
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor(fn, timeoutMs, stepMs = 100) {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    try {
      if (await fn()) return true
    } catch (_) {}
    await sleep(stepMs)
  }
  return false
}

function startSim(extra) {
  return new Promise((resolve, reject) => {
    const proc = spawn('python3', [simPath, '--port', '0', '--hosts', '2', '--vms', '30', '--seed', '7',
      '--task-ms', '200', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] })
    const info = { proc, hosts: [] }
    const timer = setTimeout(() => reject(new Error('simulator did not become ready')), 30000)
    createInterface({ input: proc.stdout }).on('line', line => {
      if (line.startsWith('listening: ')) info.url = line.slice(11).trim()
      else if (line.startsWith('host: ')) info.hosts.push(line.split(' '))
      else if (line === 'ready') {
        clearTimeout(timer)
        resolve(info)
      }
    })
    proc.on('exit', code => reject(new Error('simulator exited ' + code)))
  })
}

async function sim(base, method, p) {
  const res = await fetch(new URL(p, base), { method })
  return res.json()
}

function cacheByType(xapi, type) {
  return Object.values(xapi.objects.all).filter(o => o.$type === type)
}

async function runWith(transport, base) {
  const xapi = new Xapi({
    url: base,
    auth: { user: 'root', password: 'password' },
    allowUnauthorized: true,
    transport,
    debounce: 50,
  })
  try {
    await xapi.connect()
    check(`[${transport}] connect and log in`, xapi.status === 'connected')
    await Promise.race([xapi.objectsFetched, sleep(20000)])
    const truth = await sim(base, 'GET', '/sim/truth')
    const nVm = Object.keys(truth.vm).length
    check(`[${transport}] all objects loaded (VM count ${nVm})`, cacheByType(xapi, 'VM').length === nVm,
      `cache=${cacheByType(xapi, 'VM').length}`)
    const classes = ['host', 'SR', 'VDI', 'VBD', 'VIF', 'PIF', 'network', 'VM_metrics', 'pool_update']
    const bad = classes.filter(c => cacheByType(xapi, c).length !== Object.keys(truth[c.toLowerCase()]).length)
    check(`[${transport}] counts of ${classes.join(',')} match /sim/truth`, bad.length === 0, bad.join(','))
    check(`[${transport}] pool record`, xapi.pool !== undefined && xapi.pool.uuid === Object.values(truth.pool)[0].uuid)

    // a change made through /sim/churn arrives through the event watch
    const churn = await sim(base, 'POST', '/sim/churn?n=60&seed=' + (transport === 'json-rpc' ? 1 : 2))
    check(`[${transport}] churn applied`, churn.done === 60)
    const after = await sim(base, 'GET', '/sim/truth')
    const synced = await waitFor(() => {
      const vms = cacheByType(xapi, 'VM')
      if (vms.length !== Object.keys(after.vm).length) return false
      return vms.every(vm => {
        const t = after.vm[vm.$ref]
        return t !== undefined && t.name_label === vm.name_label && t.power_state === vm.power_state
      })
    }, 15000)
    check(`[${transport}] churned changes arrived through event.from`, synced)

    // start a VM through the client (Async.VM.start + task watch), then a sync VM.start
    const halted = cacheByType(xapi, 'VM').filter(vm => vm.power_state === 'Halted' && !vm.is_a_template &&
      !vm.is_control_domain && !vm.is_a_snapshot)
    check(`[${transport}] has halted VMs`, halted.length >= 2)
    await xapi.callAsync('VM.start', halted[0].$ref, false, false)
    const running = await waitFor(() => xapi.getObjectByRef(halted[0].$ref).power_state === 'Running', 10000)
    check(`[${transport}] Async.VM.start task completed and the VM shows Running`, running)
    await xapi.call('VM.start', halted[1].$ref, false, false)
    const running2 = await waitFor(() => xapi.getObjectByRef(halted[1].$ref).power_state === 'Running', 10000)
    check(`[${transport}] VM.start (sync) seen through events`, running2)
    let code
    try {
      await xapi.call('VM.start', halted[0].$ref, false, false)
    } catch (e) {
      code = e.code
    }
    check(`[${transport}] starting a running VM fails with VM_BAD_POWER_STATE`, code === 'VM_BAD_POWER_STATE', code)
    // a setter goes through and comes back by event
    await xapi.call('VM.set_name_label', halted[0].$ref, 'renamed-by-xen-api')
    const renamed = await waitFor(() => xapi.getObjectByRef(halted[0].$ref).name_label === 'renamed-by-xen-api', 10000)
    check(`[${transport}] VM.set_name_label seen through events`, renamed)
    // xen-api barrier uses pool.add_to_other_config / remove_from_other_config and events
    const b = await Promise.race([xapi.barrier().then(() => true), sleep(10000).then(() => false)])
    check(`[${transport}] barrier() round trip`, b)
    // snapshot returns a task result parsed as a ref
    const snapRef = await xapi.callAsync('VM.snapshot', halted[1].$ref, 'snap-1')
    check(`[${transport}] Async.VM.snapshot returns a VM ref`, typeof snapRef === 'string' && snapRef.startsWith('OpaqueRef:'), String(snapRef))
  } catch (e) {
    check(`[${transport}] unexpected error`, false, e.stack)
  } finally {
    await xapi.disconnect().catch(() => {})
  }
}

async function main() {
  const info = await startSim([])
  const deadline = setTimeout(() => {
    console.log('timeout')
    info.proc.kill()
    process.exit(2)
  }, 110000)
  try {
    await runWith('json-rpc', info.url)
    await runWith('xml-rpc', info.url)
    // HOST_IS_SLAVE: connecting to the slave is redirected to the master by xen-api itself
    const slaveUrl = info.hosts.find(h => h[3] === 'slave')[2]
    const x = new Xapi({ url: slaveUrl, auth: { user: 'root', password: 'password' }, watchEvents: false })
    try {
      await x.connect()
      check('connecting to a slave follows HOST_IS_SLAVE to the master', x.status === 'connected' &&
        new URL(info.url).hostname === x._url.hostname)
    } catch (e) {
      check('connecting to a slave follows HOST_IS_SLAVE to the master', false, e.message)
    } finally {
      await x.disconnect().catch(() => {})
    }
  } finally {
    clearTimeout(deadline)
    info.proc.kill()
  }
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
}

main().catch(e => {
  console.log(e.stack)
  console.log(`${passed} passed, ${failed + 1} failed`)
  process.exit(1)
})
