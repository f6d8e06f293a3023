'use strict'

// rusque's resque Worker beside node-resque (Worker, MultiWorker) and BullMQ,
// on one private redis-server, in one run, alternating contenders per round.
// Each round pre-fills the queue, then times the drain from start() to the
// last success; the producer is idle meanwhile, so the event-loop utilisation
// (ELU) of this process over the drain is the worker's own.
//
//   npm run bench -- worker [--quick] [--only=noop,hash,resize,kill,target]
//
// `target` (not in the default set: the same contenders run in noop and
// hash) is issue 13's speed target alone: the all-native sha256 of 4 KiB
// Redis values at concurrency 16 against BullMQ draining no-op jobs at
// concurrency 16, alternating in one run, with their ratio.

const crypto = require('node:crypto')
const { performance } = require('node:perf_hooks')
const NodeResque = require('node-resque')
const bullmq = require('bullmq')

const { Worker, native, configure, poolInfo } = require('../..')
const { startRedis } = require('../../__test__/helpers/redis')
const { median } = require('../lib/stats')
const { packageVersion } = require('../lib/machine')
const { readFixture } = require('../lib/fixtures')
const { mainThreadTimes, processCpuMs } = require('../lib/thread-cpu')

const Q = 'bench'
const NS = 'resque'

// The private redis-server's pid, set by run(): its CPU time per job tells
// how much of Redis's one core each contender needs.
let redisPid = 0

function rate (n, ms) {
  return n / (ms / 1000)
}

/** The median of the rounds that could be measured; NaN if none could. */
function finiteMedian (values) {
  return median(values.filter(Number.isFinite))
}

function usPerJob (us) {
  return Number.isFinite(us) ? us.toFixed(1) : 'n/a'
}

function pct (share) {
  return Number.isFinite(share) ? (share * 100).toFixed(1) + '%' : 'n/a'
}

async function fill (redis, n, entry) {
  await redis.sadd(`${NS}:queues`, Q)
  for (let i = 0; i < n; i += 2000) {
    const batch = []
    for (let j = i; j < Math.min(n, i + 2000); j++) batch.push(entry(j))
    await redis.rpush(`${NS}:queue:${Q}`, ...batch)
  }
}

function resqueEntry (cls, args) {
  return JSON.stringify({ class: cls, queue: Q, args })
}

/**
 * Starts `worker`, resolves when `n` jobs have finished; returns
 * { ms, elu, steadyPerSec, jsCpu, jsWait }. `ms` runs from start() to the
 * last job. `elu` is the event-loop utilisation in steady state: between the
 * 10th and the 90th percent of jobs finished, so start-up and the tail do not
 * count; `steadyPerSec` is the job rate over that span. `jsCpu` is the JS
 * thread's own CPU time over it, as a share of it, and `jsWait` the share it
 * spent runnable but waiting for a core (NaN where they cannot be told). Finished jobs are counted from
 * `success`/`failure` events; or, with `redis` and `slots`, the worker runs
 * with no per-job listener at all: progress comes from Redis's processed and
 * failed counters, read every 25 ms, and the end from each slot's `pause`
 * (sent when it finds the queue empty), checked against the counters.
 */
async function drain (worker, n, { events = ['success', 'failure'], redis = null, slots = 0 } = {}) {
  let failures = 0
  let elu10 = null
  let elu90 = null
  let t10 = 0
  let t90 = 0
  let d10 = 0
  let d90 = 0
  let js10 = null
  let js90 = null
  let redis10 = NaN
  let redis90 = NaN
  let end = null
  const progress = (done) => {
    if (elu10 === null && done >= n * 0.1) { elu10 = performance.eventLoopUtilization(); t10 = performance.now(); d10 = done; js10 = mainThreadTimes(); redis10 = processCpuMs(redisPid) }
    if (elu90 === null && done >= n * 0.9) { elu90 = performance.eventLoopUtilization(); t90 = performance.now(); d90 = done; js90 = mainThreadTimes(); redis90 = processCpuMs(redisPid) }
  }
  const finished = new Promise((resolve, reject) => {
    if (redis) {
      const counts = () => redis.mget(`${NS}:stat:processed`, `${NS}:stat:failed`).then(([p, f]) => {
        failures = Number(f || 0)
        return Number(p || 0) + failures
      })
      let timer = null
      const poll = () => counts().then((done) => {
        progress(done)
        if (end === null) timer = setTimeout(poll, 25)
      }, reject)
      timer = setTimeout(poll, 25)
      let paused = 0
      worker.on('pause', () => {
        if (++paused < slots || end !== null) return
        const at = performance.now()
        counts().then((done) => {
          if (done < n || end !== null) return
          end = at
          clearTimeout(timer)
          progress(done)
          resolve()
        }, reject)
      })
      return
    }
    let done = 0
    for (const e of events) {
      worker.on(e, () => {
        if (e === 'failure' || e === 'failed') failures++
        progress(++done)
        if (done === n) { end = performance.now(); resolve() }
      })
    }
  })
  if (redis) await redis.del(`${NS}:stat:processed`, `${NS}:stat:failed`)
  const t0 = performance.now()
  await worker.start()
  await finished
  const ms = end - t0
  const elu = performance.eventLoopUtilization(elu90, elu10).utilization
  if (failures) throw new Error(`${failures} of ${n} jobs failed`)
  // With progress read from Redis every 25 ms, both points may fall in one
  // poll on a short run: then there is no steady span to report.
  const steadyMs = t90 - t10
  const span = steadyMs > 0 && d90 > d10
  return {
    ms,
    elu,
    steadyPerSec: span ? rate(d90 - d10, steadyMs) : NaN,
    jsCpu: span ? (js90.cpuMs - js10.cpuMs) / steadyMs : NaN,
    jsWait: span ? (js90.waitMs - js10.waitMs) / steadyMs : NaN,
    redisCpu: span ? (redis90 - redis10) / steadyMs : NaN,
    redisUsPerJob: span ? (redis90 - redis10) * 1000 / (d90 - d10) : NaN
  }
}

/** connect(), drain(), end(): one timed run of a resque worker. */
async function run (worker, n, opts) {
  await worker.connect()
  const r = await drain(worker, n, opts)
  await worker.end()
  return r
}

function connectionOf (server) {
  return { host: '127.0.0.1', port: server.port, namespace: NS }
}

// --- contenders -------------------------------------------------------------

const noop = () => null

function rusqueNoop (concurrency) {
  return async (server, redis, n) => {
    await fill(redis, n, (i) => resqueEntry('noop', [i]))
    const w = new Worker({ connection: connectionOf(server), queues: [Q], timeout: 1000, concurrency, recovery: false, name: 'bench-rusque' }, { noop })
    return run(w, n)
  }
}

async function resqueWorkerNoop (server, redis, n) {
  await fill(redis, n, (i) => resqueEntry('noop', [i]))
  const w = new NodeResque.Worker({ connection: connectionOf(server), queues: [Q], timeout: 1000, name: 'bench-node-resque' }, { noop: { perform: noop } })
  return run(w, n)
}

async function resqueMultiWorkerNoop (server, redis, n) {
  await fill(redis, n, (i) => resqueEntry('noop', [i]))
  const m = new NodeResque.MultiWorker({ connection: connectionOf(server), queues: [Q], timeout: 1000 }, { noop: { perform: noop } })
  const r = await drain(m, n)
  await m.end()
  return r
}

async function bullNoop (server, redis, n) {
  const connection = { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null }
  const name = 'bench-bull'
  const queue = new bullmq.Queue(name, { connection })
  for (let i = 0; i < n; i += 1000) {
    const batch = []
    for (let j = i; j < Math.min(n, i + 1000); j++) batch.push({ name: 'noop', data: { i: j } })
    await queue.addBulk(batch)
  }
  const w = new bullmq.Worker(name, async () => null, { connection, concurrency: 16, autorun: false })
  await w.waitUntilReady()
  const start = () => { w.run().catch(() => {}) }
  const r = await drain({ start, on: w.on.bind(w) }, n, { events: ['completed', 'failed'] })
  await w.close()
  await queue.close()
  return r
}

// Native hash: the input sits in a Redis key, the digest goes to another key.
// `listen`: count jobs from `success` events (one event per job reaches the
// JS thread); otherwise from Redis's counters, with no per-job listener.
function rusqueHash (size, listen) {
  return async (server, redis, n) => {
    await redis.set('blob', crypto.randomBytes(size))
    await fill(redis, n, (i) => resqueEntry('digest', [{ input: { key: 'blob' }, output: { key: `digest:${i}`, ttl: 600 } }]))
    const w = new Worker({ connection: connectionOf(server), queues: [Q], timeout: 1000, concurrency: 16, recovery: false, name: 'bench-rusque' }, { digest: native('hash', { algorithm: 'sha256' }) })
    return run(w, n, listen ? {} : { redis, slots: 16 })
  }
}

// The same job written for node-resque: read the key, hash on the JS thread, write.
function resqueHash (size) {
  return async (server, redis, n) => {
    await redis.set('blob', crypto.randomBytes(size))
    await fill(redis, n, (i) => resqueEntry('digest', [{ input: { key: 'blob' }, output: { key: `digest:${i}`, ttl: 600 } }]))
    const digest = {
      perform: async function ({ input, output }) {
        const r = this.connection.redis
        const bytes = await r.getBuffer(input.key)
        const hex = crypto.createHash('sha256').update(bytes).digest('hex')
        await r.set(output.key, hex, 'EX', output.ttl)
        return hex
      }
    }
    const w = new NodeResque.Worker({ connection: connectionOf(server), queues: [Q], timeout: 1000, name: 'bench-node-resque' }, { digest })
    return run(w, n)
  }
}

// Resize of the large fixture (2725x2225 JPEG → 720 wide) through Redis keys.
function rusqueResize (threads) {
  return async (server, redis, n) => {
    configure({ threads })
    await redis.set('photo', readFixture('2569067123_aca715a2ee_o.jpg'))
    await fill(redis, n, (i) => resqueEntry('thumb', [{ input: { key: 'photo' }, output: { key: `thumb:${i}`, ttl: 600 } }]))
    const w = new Worker({ connection: connectionOf(server), queues: [Q], timeout: 1000, concurrency: 8, recovery: false, name: 'bench-rusque' }, { thumb: native('resize', { width: 720, format: 'jpeg', quality: 80 }) })
    return run(w, n)
  }
}

async function resqueSharpResize (server, redis, n) {
  const sharp = require('sharp')
  await redis.set('photo', readFixture('2569067123_aca715a2ee_o.jpg'))
  await fill(redis, n, (i) => resqueEntry('thumb', [{ input: { key: 'photo' }, output: { key: `thumb:${i}`, ttl: 600 } }]))
  const thumb = {
    perform: async function ({ input, output }) {
      const r = this.connection.redis
      const out = await sharp(await r.getBuffer(input.key)).resize({ width: 720 }).jpeg({ quality: 80 }).toBuffer()
      await r.set(output.key, out, 'EX', output.ttl)
      return out.length
    }
  }
  const w = new NodeResque.Worker({ connection: connectionOf(server), queues: [Q], timeout: 1000, name: 'bench-node-resque' }, { thumb })
  return run(w, n)
}

// --- kill test ----------------------------------------------------------------
// Worker processes SIGKILLed mid-run; survivors recover the dead ones' jobs.
// Every job records each run in a hash, so at the end each id is either run
// (once, or more if a kill landed between perform and ack) or in `failed`.

function runKillChild () {
  const cfg = JSON.parse(process.argv[3])
  const w = new Worker({
    connection: { host: '127.0.0.1', port: cfg.port, namespace: NS },
    queues: [Q],
    timeout: 200,
    name: cfg.name,
    concurrency: 8,
    recovery: { staleAfter: 2000, interval: 300 }
  }, {
    work: async function (id) {
      await this.connection.redis.hincrby('runs', String(id), 1)
      await new Promise((resolve) => setTimeout(resolve, 5))
      return id
    }
  })
  w.on('error', () => {})
  w.connect().then(() => w.start()).then(() => process.stdout.write('started\n'))
  process.on('SIGTERM', () => w.end().then(() => process.exit(0)))
}

async function killTest (server, redis, log, n, kills) {
  const { spawn } = require('node:child_process')
  await redis.flushdb()
  await fill(redis, n, (i) => resqueEntry('work', [i]))
  const children = new Set()
  let generation = 0
  const spawnChild = (name) => new Promise((resolve) => {
    const child = spawn(process.execPath, [__filename, '--kill-child', JSON.stringify({ port: server.port, name })], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.add(child)
    child.once('exit', () => children.delete(child))
    child.stdout.once('data', () => resolve(child))
  })
  const t0 = performance.now()
  for (let i = 0; i < 3; i++) await spawnChild(`kill-test-${generation++}`)
  for (let k = 0; k < kills; k++) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const victim = [...children][Math.floor(Math.random() * children.size)]
    await new Promise((resolve) => { victim.once('exit', resolve); victim.kill('SIGKILL') })
    // Half the replacements come back under a fresh name (recovered by
    // survivors after the stale ping), half as a new process of the same fleet size.
    await spawnChild(`kill-test-${generation++}`)
  }
  let stable = 0
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    const queued = await redis.llen(`${NS}:queue:${Q}`)
    const inFlight = (await redis.keys(`${NS}:worker:*`)).filter((k) => !k.includes(':ping:') && !k.endsWith(':started'))
    const busy = (await Promise.all(inFlight.map((k) => redis.exists(k)))).filter(Boolean).length
    stable = queued === 0 && busy === 0 ? stable + 1 : 0
    if (stable >= 3) break
    if (performance.now() - t0 > 120000) throw new Error(`kill test did not settle: ${queued} queued, ${busy} in flight`)
  }
  const seconds = (performance.now() - t0) / 1000
  for (const c of children) c.kill('SIGTERM')
  await Promise.all([...children].map((c) => new Promise((resolve) => c.once('exit', resolve))))
  const runs = await redis.hgetall('runs')
  const failed = (await redis.lrange(`${NS}:failed`, 0, -1)).map((f) => JSON.parse(f))
  const failedIds = new Set(failed.map((f) => f.payload && f.payload.args && f.payload.args[0]))
  let ran = 0
  let twice = 0
  let vanished = 0
  for (let i = 0; i < n; i++) {
    const r = Number(runs[String(i)] || 0)
    if (r > 0) ran++
    if (r > 1) twice++
    if (r === 0 && !failedIds.has(i)) vanished++
  }
  log(`kill test: ${n} jobs, ${kills} SIGKILLs, ${ran} ran, ${twice} ran more than once, ${failed.length} in failed, ${vanished} vanished, settled in ${seconds.toFixed(1)} s`)
  return { jobs: n, kills, ran, ranMoreThanOnce: twice, failed: failed.length, vanished, seconds }
}

// --- runner -----------------------------------------------------------------

async function compare (server, redis, log, contenders, n, rounds) {
  const results = new Map(contenders.map((c) => [c.name, []]))
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so no contender always runs on a warm (or cold) machine.
    const order = round % 2 === 0 ? contenders : contenders.slice().reverse()
    for (const c of order) {
      await redis.flushdb()
      const r = await c.run(server, redis, n)
      results.get(c.name).push(r)
      log(`round ${round + 1}: ${c.name}: ${Math.round(rate(n, r.ms))} jobs/s, ELU ${pct(r.elu)}, JS CPU ${pct(r.jsCpu)}, waiting ${pct(r.jsWait)}, Redis CPU ${pct(r.redisCpu)} (${usPerJob(r.redisUsPerJob)} µs/job)`)
    }
  }
  return contenders.map((c) => {
    const rs = results.get(c.name)
    return {
      name: c.name,
      jobsPerSec: median(rs.map((r) => rate(n, r.ms))),
      steadyPerSec: finiteMedian(rs.map((r) => r.steadyPerSec)),
      elu: median(rs.map((r) => r.elu)),
      jsCpu: finiteMedian(rs.map((r) => r.jsCpu)),
      jsWait: finiteMedian(rs.map((r) => r.jsWait)),
      redisCpu: finiteMedian(rs.map((r) => r.redisCpu)),
      redisUsPerJob: finiteMedian(rs.map((r) => r.redisUsPerJob)),
      n
    }
  })
}

function rows (section, results, baseline) {
  const base = results.find((r) => r.name === baseline)
  return results.map((r) => ({
    section,
    contender: r.name,
    jobs: r.n,
    jobsPerSec: Math.round(r.jobsPerSec),
    vsBaseline: base ? (r.jobsPerSec / base.jobsPerSec).toFixed(2) + 'x' : '',
    elu: pct(r.elu),
    jsCpu: pct(r.jsCpu),
    jsWait: pct(r.jsWait),
    redisCpu: pct(r.redisCpu),
    redisUsPerJob: usPerJob(r.redisUsPerJob)
  }))
}

module.exports = {
  description: 'resque workers through Redis: rusque Worker vs node-resque Worker/MultiWorker and BullMQ',
  async run ({ log, args = [] }) {
    const quick = args.includes('--quick')
    const rounds = quick ? 1 : 3
    const onlyArg = args.find((a) => a.startsWith('--only='))
    const only = onlyArg ? onlyArg.slice('--only='.length).split(',') : ['noop', 'hash', 'resize', 'kill']
    const server = await startRedis()
    redisPid = server.proc.pid
    const redis = server.client()
    const poolBefore = poolInfo()
    try {
      const out = []
      const notes = [
        `node-resque ${packageVersion('node-resque')}, BullMQ ${packageVersion('bullmq')}, ioredis ${packageVersion('ioredis')}, redis-server private on a free port, no persistence.`,
        'jobs/s: median over rounds of jobs / (time from start() to the last success); the queue is filled before the clock starts.',
        'ELU: event-loop utilisation of the worker process in steady state, from 10% to 90% of the jobs finished (the producer is idle then). Over the same span, "JS thread CPU" is the main thread\'s own CPU time and "waiting for a core" the time it was runnable but preempted (from /proc/<pid>/task/<tid>/schedstat), each as a share of wall time.',
        '"native hash" runs with no per-job listener: progress is read from Redis\'s stat counters every 25 ms (included in its ELU) and the end is each slot\'s `pause`; "a success listener" counts jobs from `success` events, one per job. On 2 saturated cores ELU also counts the time the JS thread waits for a core while it has work.',
        'Redis CPU: the redis-server process\'s CPU time over the same steady span, as a share of one core and per job (/proc/<pid>/stat, 10 ms ticks). Redis runs every command on one thread, so 1e6 / (µs per job) is the most jobs per second it can serve.',
        'rusque native jobs run in the Rust loop (claim, Redis I/O, task on the pool, ack); the worker process\'s JS thread only receives events.'
      ]
      // Ratios from compare()'s unrounded medians (the rows are rounded for display).
      const ratio = (results, a, b) => {
        const rate = (name) => results.find((r) => r.name === name).jobsPerSec
        return (rate(a) / rate(b)).toFixed(2)
      }
      let noop = null
      let kill = null
      if (only.includes('noop')) {
        const noopN = quick ? 3000 : 20000
        log(`no-op JS jobs: ${noopN} per run, ${rounds} rounds`)
        noop = await compare(server, redis, log, [
          { name: 'rusque Worker (concurrency 16)', run: rusqueNoop(16) },
          { name: 'rusque Worker (concurrency 1)', run: rusqueNoop(1) },
          { name: 'node-resque Worker', run: resqueWorkerNoop },
          { name: 'node-resque MultiWorker (defaults)', run: resqueMultiWorkerNoop },
          { name: 'BullMQ Worker (concurrency 16)', run: bullNoop }
        ], noopN, rounds)
        out.push(...rows('no-op JS jobs', noop, 'node-resque Worker'))
        notes.push(`rusque c16 / node-resque Worker (no-op): ${ratio(noop, 'rusque Worker (concurrency 16)', 'node-resque Worker')}x; rusque c16 / BullMQ c16: ${ratio(noop, 'rusque Worker (concurrency 16)', 'BullMQ Worker (concurrency 16)')}x; rusque c1 / node-resque Worker: ${ratio(noop, 'rusque Worker (concurrency 1)', 'node-resque Worker')}x.`)
      }

      for (const size of only.includes('hash') ? [4 * 1024, 256 * 1024] : []) {
        const n = quick ? 1000 : (size > 65536 ? 3000 : 30000)
        log(`native sha256 of a ${size / 1024} KiB Redis value: ${n} per run`)
        const hash = await compare(server, redis, log, [
          { name: 'rusque Worker, native hash (concurrency 16)', run: rusqueHash(size, false) },
          { name: 'rusque Worker, native hash, a success listener', run: rusqueHash(size, true) },
          { name: 'node-resque Worker, crypto in perform', run: resqueHash(size) }
        ], n, rounds)
        out.push(...rows(`sha256 ${size / 1024} KiB`, hash, 'node-resque Worker, crypto in perform'))
      }

      if (only.includes('target')) {
        const n = quick ? 3000 : 30000
        log(`target: native sha256 of 4 KiB (concurrency 16) against BullMQ no-op (concurrency 16): ${n} per run, ${rounds} rounds`)
        const target = await compare(server, redis, log, [
          { name: 'rusque Worker, native hash 4 KiB (concurrency 16)', run: rusqueHash(4 * 1024, false) },
          { name: 'BullMQ Worker, no-op (concurrency 16)', run: bullNoop }
        ], n, rounds)
        out.push(...rows('target', target, ''))
        notes.push(`target: rusque native sha256 4 KiB c16 / BullMQ no-op c16: ${ratio(target, target[0].name, target[1].name)}x (issue 13 asks for at least 2.5x).`)
      }

      if (only.includes('resize')) {
        const resizeN = quick ? 10 : 240
        log(`resize 2725x2225 JPEG → 720 wide through Redis keys: ${resizeN} per run`)
        const resize = await compare(server, redis, log, [
          { name: 'rusque Worker, native resize, 1 pool thread', run: rusqueResize(1) },
          { name: 'rusque Worker, native resize, 2 pool threads', run: rusqueResize(2) },
          { name: 'node-resque Worker, sharp in perform', run: resqueSharpResize }
        ], resizeN, rounds)
        out.push(...rows('resize large JPEG', resize, 'node-resque Worker, sharp in perform'))
        const [one, two] = resize
        notes.push(`resize scaling 2 threads / 1 thread: ${(two.steadyPerSec / one.steadyPerSec).toFixed(2)}x in steady state (10% to 90% of the jobs: ${one.steadyPerSec.toFixed(1)} → ${two.steadyPerSec.toFixed(1)} jobs/s), ${ratio(resize, two.name, one.name)}x over the whole drain (start-up and the last job, when one thread is idle, included).`)
      }

      if (only.includes('kill')) {
        kill = await killTest(server, redis, log, quick ? 2000 : 10000, quick ? 3 : 6)
        notes.push(`kill test: ${kill.jobs} jobs over 3 worker processes (concurrency 8, recovery after a 2 s stale ping), ${kill.kills} SIGKILLs: ${kill.ran} ran, ${kill.ranMoreThanOnce} ran more than once, ${kill.failed} in failed, ${kill.vanished} vanished (settled in ${kill.seconds.toFixed(1)} s).`)
      }
      return {
        columns: [
          { key: 'section', title: 'workload' },
          { key: 'contender', title: 'worker' },
          { key: 'jobs', title: 'jobs/run', align: 'right' },
          { key: 'jobsPerSec', title: 'jobs/s (median)', align: 'right' },
          { key: 'vsBaseline', title: 'vs node-resque Worker', align: 'right' },
          { key: 'elu', title: 'worker ELU', align: 'right' },
          { key: 'jsCpu', title: 'JS thread CPU', align: 'right' },
          { key: 'jsWait', title: 'JS thread waiting for a core', align: 'right' },
          { key: 'redisCpu', title: 'Redis CPU', align: 'right' },
          { key: 'redisUsPerJob', title: 'Redis µs/job', align: 'right' }
        ],
        rows: out,
        notes,
        details: { noop, rounds, kill }
      }
    } finally {
      configure({ threads: poolBefore.threads })
      await server.close()
    }
  }
}

module.exports.killTest = killTest

if (require.main === module && process.argv[2] === '--kill-child') runKillChild()
