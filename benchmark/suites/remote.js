'use strict'

// Remote calls (issue 21): sharp's case (a 2725x2225 JPEG resized to 720x588,
// JPEG q80) as a local resize() and as a remote() call answered by Workers
// with remoteJobs() in other processes, on a private redis-server.
//
//   npm run bench -- remote [--quick]
//
// - latency: one call at a time, local and remote alternating, p50/p99 of
//   each and the remote overhead (remote minus local, per percentile);
// - throughput: bursts of calls in flight, alternating: local (this
//   process's pool), remote answered by one worker process, and remote
//   answered by two (queue `two` is served by both workers, `one` by the
//   first only, so no worker starts or stops between rounds), and
//   remote({ spill: true }) with both workers: this process's pool while it
//   has a free thread, the fleet for the rest;
// - the caller's event loop (1 ms probe) during bursts of 40 remote calls in
//   flight, beside 40 local calls.
// The worker processes and this one share the machine's cores: on a 2-core
// machine "two workers" adds processes, not cores.

const path = require('node:path')
const { spawn } = require('node:child_process')
const readline = require('node:readline')
const { performance } = require('node:perf_hooks')

const rusque = require('../..')
const { startRedis } = require('../../__test__/helpers/redis')
const { readFixture } = require('../lib/fixtures')
const { median, percentile, max } = require('../lib/stats')
const { startLoopProbe } = require('../lib/loop-probe')

const IMAGE = '2569067123_aca715a2ee_o.jpg'
const OPTIONS = { width: 720, height: 588, format: 'jpeg', quality: 80 }
const NS = 'bench-remote'

const PLANS = {
  full: { warmup: 6, latencyCalls: 120, rounds: 5, burst: 40, loopRounds: 3 },
  quick: { warmup: 3, latencyCalls: 30, rounds: 2, burst: 40, loopRounds: 1 }
}

function startWorker (port, queues) {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'workers', 'remote-worker.js'), JSON.stringify({ port, namespace: NS, queues, concurrency: 4 })], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`remote worker exited (${code}) before it was ready`)))
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('ready')) resolve(child)
    })
  })
}

function stop (child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', resolve)
    child.kill('SIGTERM')
  })
}

async function timed (fn) {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

/** Calls per second for `n` calls, all in flight at once. */
async function burst (call, n) {
  const ms = await timed(() => Promise.all(Array.from({ length: n }, call)))
  return n / (ms / 1000)
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a')
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a')

module.exports = {
  description: 'remote() calls answered by worker processes vs local calls, on a private Redis',
  async run ({ log, args }) {
    const plan = args.includes('--quick') ? PLANS.quick : PLANS.full
    const input = readFixture(IMAGE)
    const server = await startRedis()
    const workers = []
    const connection = { host: '127.0.0.1', port: server.port, namespace: NS }
    const one = rusque.remote({ connection, queue: 'one', timeout: 120000 })
    const two = rusque.remote({ connection, queue: 'two', timeout: 120000 })
    const spill = rusque.remote({ connection, queue: 'two', timeout: 120000, spill: true })
    try {
      workers.push(await startWorker(server.port, ['one', 'two']))
      workers.push(await startWorker(server.port, ['two']))
      const local = () => rusque.resize(input, OPTIONS)
      const remote = () => one.resize(input, OPTIONS)
      const expected = await local()
      const got = await remote()
      if (!got.equals(expected)) throw new Error('the remote resize differs from the local one')
      for (let i = 0; i < plan.warmup; i++) { await local(); await remote(); await two.resize(input, OPTIONS) }

      log(`latency: ${plan.latencyCalls} calls each, one at a time, alternating`)
      const lat = { local: [], remote: [] }
      for (let i = 0; i < plan.latencyCalls; i++) {
        lat.local.push(await timed(local))
        lat.remote.push(await timed(remote))
      }

      log(`throughput: ${plan.rounds} rounds of ${plan.burst} calls in flight, alternating`)
      const rates = { local: [], 'remote, 1 worker': [], 'remote, 2 workers': [], 'spill, 2 workers': [] }
      for (let r = 0; r < plan.rounds; r++) {
        rates.local.push(await burst(local, plan.burst))
        rates['remote, 1 worker'].push(await burst(remote, plan.burst))
        rates['remote, 2 workers'].push(await burst(() => two.resize(input, OPTIONS), plan.burst))
        rates['spill, 2 workers'].push(await burst(() => spill.resize(input, OPTIONS), plan.burst))
      }

      log(`event loop: ${plan.loopRounds} bursts of ${plan.burst} calls, 1 ms probe`)
      const gaps = { local: [], remote: [] }
      for (let r = 0; r < plan.loopRounds; r++) {
        for (const [name, call] of [['local', local], ['remote', remote]]) {
          const probe = startLoopProbe()
          await Promise.all(Array.from({ length: plan.burst }, call))
          gaps[name].push(...probe.stop())
        }
      }

      const p = (xs, q) => percentile(xs, q)
      const rows = [
        { measure: 'latency p50 (ms)', local: f2(p(lat.local, 50)), remote: f2(p(lat.remote, 50)), 'remote - local': f2(p(lat.remote, 50) - p(lat.local, 50)) },
        { measure: 'latency p99 (ms)', local: f2(p(lat.local, 99)), remote: f2(p(lat.remote, 99)), 'remote - local': f2(p(lat.remote, 99) - p(lat.local, 99)) },
        { measure: `throughput, ${plan.burst} in flight (calls/s, median)`, local: f1(median(rates.local)), remote: `${f1(median(rates['remote, 1 worker']))} (1 worker), ${f1(median(rates['remote, 2 workers']))} (2 workers)`, 'remote - local': '' },
        { measure: 'throughput with spill: true, 2 workers (calls/s, median)', local: f1(median(rates.local)), remote: f1(median(rates['spill, 2 workers'])), 'remote - local': `${f2(median(rates['spill, 2 workers']) / median(rates.local))}x` },
        { measure: `caller's event loop, ${plan.burst} in flight: p99 / max gap (ms)`, local: `${f2(p(gaps.local, 99))} / ${f2(max(gaps.local))}`, remote: `${f2(p(gaps.remote, 99))} / ${f2(max(gaps.remote))}`, 'remote - local': '' }
      ]
      return {
        rows,
        notes: [
          `Remote overhead at p50: ${f2(p(lat.remote, 50) - p(lat.local, 50))} ms (target: at most +2 ms).`,
          'Workers: separate processes, concurrency 4, remoteJobs(); redis-server private on a free port, no persistence.',
          'The workers and this process share the machine\'s cores: two workers add processes, not cores.'
        ],
        details: { plan, latency: lat, rates, gaps: { local: { p99: p(gaps.local, 99), max: max(gaps.local) }, remote: { p99: p(gaps.remote, 99), max: max(gaps.remote) } } }
      }
    } finally {
      await Promise.allSettled([one.close(), two.close(), spill.close()])
      await Promise.allSettled(workers.map(stop))
      await server.close()
    }
  }
}
