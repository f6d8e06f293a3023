'use strict'

// node-resque's plugins and Scheduler driving rusque Workers: the scenarios of
// node-resque's plugin tests, with its Queue, Scheduler and Plugins classes.

const { describe, it, before, after, beforeEach } = require('node:test')
const assert = require('node:assert/strict')
const NodeResque = require('node-resque')
const { Worker, native } = require('..')
const { startRedis } = require('./helpers/redis')
const { LOOPS } = require('./helpers/loops')
const { cleanup } = require('./helpers/cleanup')
const { nextEvent, collect, sleep, waitFor } = require('./helpers/events')

const { Plugins, Plugin } = NodeResque
const NS = 'resque-plugins'
let Q = 'test_queue'
let testNumber = 0
const TIMEOUT = 100

let redisServer
let redis
let queue
let scheduler

function connection () {
  return redisServer.connection(NS)
}

async function startWorker (jobs, options = {}) {
  const w = new Worker({ connection: connection(), timeout: TIMEOUT, queues: [Q], ...options }, jobs)
  w.on('error', (e) => console.error('worker error:', e))
  await w.connect()
  await w.start()
  return w
}

before(async () => {
  redisServer = await startRedis()
  redis = redisServer.client()
  queue = new NodeResque.Queue({ connection: connection() })
  await queue.connect()
  scheduler = new NodeResque.Scheduler({ connection: connection(), timeout: TIMEOUT })
  scheduler.on('error', () => {})
  await scheduler.connect()
  await scheduler.start()
})

after(() => cleanup(
  () => scheduler?.end(),
  () => queue?.end(),
  () => redisServer?.close()
))

beforeEach(async () => {
  // A queue per test: a worker left running by a failed test cannot take another test's jobs.
  Q = `test_queue_${++testNumber}`
  const keys = await redis.keys(`${NS}:*`)
  const keep = new Set([`${NS}:resque_scheduler_leader_lock`])
  const drop = keys.filter((k) => !keep.has(k))
  if (drop.length) await redis.del(drop)
})

describe('Retry', () => {
  const retryJobs = {
    brokenJob: {
      plugins: [Plugins.Retry],
      pluginOptions: { Retry: { retryLimit: 3, retryDelay: 100 } },
      perform: () => { throw new Error('BUSTED') }
    },
    happyJob: {
      plugins: [Plugins.Retry],
      pluginOptions: { Retry: { retryLimit: 3, retryDelay: 100 } },
      perform: () => {}
    },
    byName: {
      plugins: ['Retry'],
      pluginOptions: { Retry: { retryLimit: 2, retryDelay: 100 } },
      perform: () => { throw new Error('BUSTED') }
    }
  }

  it('works fine with jobs that do not fail', async () => {
    await queue.enqueue(Q, 'happyJob', [1, 2])
    const w = await startWorker(retryJobs)
    w.on('failure', () => assert.fail('should not fail'))
    await nextEvent(w, 'success')
    assert.equal(await redis.llen(`${NS}:failed`), 0)
    await w.end()
  })

  it('retries n times (through the Scheduler) before failing for good', async () => {
    await queue.enqueue(Q, 'brokenJob')
    const w = await startWorker(retryJobs)
    let retried = 0
    const reEnqueued = []
    w.on('success', () => { retried++ })
    w.on('reEnqueue', (q, job, info) => reEnqueued.push(info))
    const [, job, err] = await nextEvent(w, 'failure', { ms: 10000 })
    assert.equal(err.message, 'BUSTED')
    assert.equal(job.class, 'brokenJob')
    assert.equal(retried, 2)
    assert.equal(reEnqueued.length, 2)
    assert.equal(reEnqueued[0].remainingAttempts, 2)
    assert.equal(reEnqueued[1].remainingAttempts, 1)
    assert.equal(await redis.llen(`${NS}:failed`), 1)
    const stats = await queue.stats()
    assert.equal(stats.failed, '3', 'each attempt counts as failed')
    assert.equal(stats.processed, '0')
    await w.end()
  })

  it('re-enqueues a failed job into the delayed set instead of the failed list', async () => {
    const w = await startWorker(retryJobs)
    const success = nextEvent(w, 'success')
    await queue.enqueue(Q, 'brokenJob', [1, 2])
    await success
    await w.end()
    const timestamps = await queue.scheduledAt(Q, 'brokenJob', [1, 2])
    assert.equal(timestamps.length, 1)
    assert.equal(await redis.llen(`${NS}:failed`), 0)
    assert.ok(await redis.get(`${NS}:resque-retry:brokenJob:1-2`))
  })

  it('resolves a plugin given by name from node-resque', async () => {
    await queue.enqueue(Q, 'byName', [])
    const w = await startWorker(retryJobs)
    const [, , err] = await nextEvent(w, 'failure', { ms: 10000 })
    assert.equal(err.message, 'BUSTED')
    await w.end()
  })
})

// The same native job with node-resque's Retry in both loops: the JS loop
// runs node-resque's Plugins.Retry class, the Rust loop its own Retry
// (crates/resque/src/plugins.rs). Each writes to a namespace of its own; the
// Redis state (keys, TTLs, delayed entries, stats, failed entries) and the
// events must come out the same, and a node-resque Scheduler must take the
// Rust loop's delayed entries back to the queue.
describe('Retry for native jobs, in both loops', () => {
  const RETRY = { retryLimit: 3, retryDelay: 100, backoffStrategy: [300, 150] }
  const ARG = { input: { key: 'no such key' }, algorithm: 'sha256' }
  const ignored = /^(workers$|worker:|rusque:)/

  function retryJobs (loop, plugin = Plugins.Retry) {
    const hashIt = native('hash', {}, { plugins: [plugin], pluginOptions: { Retry: RETRY } })
    return { hashIt, ...loop.extra }
  }

  /** Every key of `ns` but workers' own, with its type, value and TTL (a delayed:<s> key as delayed:S). */
  async function state (ns) {
    const out = {}
    for (const full of (await redis.keys(`${ns}:*`)).sort()) {
      const k = full.slice(ns.length + 1)
      if (ignored.test(k)) continue
      const type = await redis.type(full)
      const ttl = await redis.ttl(full)
      let value
      if (type === 'string') value = await redis.get(full)
      else if (type === 'list') value = await redis.lrange(full, 0, -1)
      else if (type === 'set') value = (await redis.smembers(full)).map((m) => m.replace(/^delayed:\d+$/, 'delayed:S'))
      else if (type === 'zset') value = (await redis.zrange(full, 0, -1)).length
      out[k.replace(/^delayed:\d+$/, 'delayed:S')] = { type, ttl: ttl > 0 ? Math.round(ttl / 10) * 10 : ttl, value }
    }
    return out
  }

  /** Retry's last-error record and the failed list, without what a clock or a JS stack writes. */
  function normalize (st) {
    const out = structuredClone(st)
    for (const [k, v] of Object.entries(out)) {
      if (k.startsWith('failure-resque-retry:')) {
        const e = JSON.parse(v.value)
        assert.match(e.failed_at, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d$/)
        delete e.failed_at
        delete e.backtrace
        v.value = e
      }
      if (k === 'failed') {
        v.value = v.value.map((r) => {
          const f = JSON.parse(r)
          assert.ok(Array.isArray(f.backtrace))
          delete f.backtrace
          delete f.failed_at
          return f
        })
      }
    }
    return out
  }

  async function runLoop (loop) {
    const ns = `${NS}-retry-${loop.rust ? 'rust' : 'js'}`
    const q = new NodeResque.Queue({ connection: redisServer.connection(ns) })
    await q.connect()
    const w = new Worker({ connection: redisServer.connection(ns), timeout: 50, queues: [Q], name: 'retrier' }, retryJobs(loop))
    assert.equal(w.nativeLoop, loop.rust, `${loop.kind} expected`)
    const events = []
    for (const kind of ['job', 'reEnqueue', 'success', 'failure']) {
      w.on(kind, (queueName, job, x) => events.push({ kind, queue: queueName, job, args: structuredClone(job.args), x }))
    }
    await q.enqueue(Q, 'hashIt', [ARG])
    await w.connect()
    await w.start()
    // Before any Scheduler runs: the first failure, delayed.
    await waitFor(() => events.some((e) => e.kind === 'success'), { what: 'the first attempt' })
    const first = await state(ns)
    const sched = new NodeResque.Scheduler({ connection: redisServer.connection(ns), timeout: 50, name: `sched-${ns}` })
    sched.on('error', () => {})
    await sched.connect()
    await sched.start()
    await waitFor(() => events.some((e) => e.kind === 'failure'), { ms: 10000, what: 'the last attempt' })
    await w.end()
    await sched.end()
    const last = await state(ns)
    await q.end()
    const summary = events.map((e) => {
      // node-resque's Retry passes the job's definition, given the args.
      if (e.kind === 'reEnqueue') return { kind: e.kind, queue: e.queue, args: e.args, definition: e.job === w.jobs.hashIt, delay: e.x.delay, remainingAttempts: e.x.remainingAttempts, code: e.x.err.code, message: e.x.err.message }
      if (e.kind === 'failure') return { kind: e.kind, queue: e.queue, args: e.args, code: e.x.code, message: e.x.message }
      if (e.kind === 'success') return { kind: e.kind, queue: e.queue, args: e.args, result: e.x ?? null }
      return { kind: e.kind, queue: e.queue, args: e.args }
    })
    return { first: normalize(first), last: normalize(last), events: summary }
  }

  it('a failing job is delayed, counted and finally failed alike, and the Scheduler brings it back', async () => {
    const [js, rust] = [await runLoop(LOOPS[0]), await runLoop(LOOPS[1])]
    // What node-resque's Retry writes, as the JS loop shows.
    const argsKey = JSON.stringify(ARG).replace(/\s/, '')
    assert.equal(js.first[`resque-retry:hashIt:${argsKey}`].value, '0')
    assert.equal(js.first[`resque-retry:hashIt:${argsKey}`].ttl, 300, 'node-resque sets the largest delay (ms) as seconds')
    assert.deepEqual(js.first['delayed:S'].value, [JSON.stringify({ class: 'hashIt', queue: Q, args: [ARG] })])
    assert.equal(js.first['stat:failed'].value, '1')
    assert.equal(js.first['stat:processed'].value, '0')
    assert.deepEqual(js.events.map((e) => e.kind), ['job', 'reEnqueue', 'success', 'job', 'reEnqueue', 'success', 'job', 'failure'])
    assert.deepEqual(js.events.filter((e) => e.kind === 'reEnqueue').map((e) => [e.delay, e.remainingAttempts, e.definition]), [[300, 2, true], [150, 1, true]])
    assert.equal(js.last['stat:failed'].value, '3')
    assert.equal(js.last.failed.value.length, 1)
    assert.equal(js.last[`resque-retry:hashIt:${argsKey}`], undefined)
    // The Rust loop: the same, key for key.
    assert.deepEqual(rust.first, js.first)
    assert.deepEqual(rust.last, js.last)
    assert.deepEqual(rust.events, js.events)
  })

  it('a job that succeeds clears its attempt count and last error, in both loops', async () => {
    const results = []
    for (const loop of LOOPS) {
      const ns = `${NS}-retry-ok-${loop.rust ? 'rust' : 'js'}`
      const arg = { input: { key: `${ns}-input` } }
      const argsKey = JSON.stringify(arg)
      await redis.set(`${ns}-input`, 'bytes')
      await redis.set(`${ns}:resque-retry:hashIt:${argsKey}`, '1')
      await redis.set(`${ns}:failure-resque-retry:hashIt:${argsKey}`, '{}')
      await redis.rpush(`${ns}:queue:${Q}`, JSON.stringify({ class: 'hashIt', queue: Q, args: [arg] }))
      const w = new Worker({ connection: redisServer.connection(ns), timeout: 50, queues: [Q] }, retryJobs(loop, 'Retry'))
      assert.equal(w.nativeLoop, loop.rust, `${loop.kind} expected`)
      await w.connect()
      const done = nextEvent(w, 'success')
      await w.start()
      const [, , result] = await done
      await w.end()
      assert.ok(result, loop.kind)
      results.push(result)
      assert.deepEqual(await redis.keys(`${ns}:*retry*`), [], loop.kind)
      assert.equal(await redis.get(`${ns}:stat:processed`), '1', loop.kind)
    }
    assert.deepEqual(results[1], results[0])
  })

  it('keeps the Rust loop for Retry by name or class; other plugins and subclasses use the JS loop', () => {
    const worker = (def) => new Worker({ connection: connection(), queues: [Q] }, { j: def })
    assert.equal(worker(native('hash', {}, { plugins: ['Retry'] })).nativeLoop, true)
    assert.equal(worker(native('hash', {}, { plugins: [Plugins.Retry] })).nativeLoop, true)
    assert.equal(worker(native('hash', {}, { plugins: ['Noop'] })).nativeLoop, true)
    assert.equal(worker(native('hash', {}, { plugins: [Plugins.Noop], pluginOptions: { Noop: { logger: () => {} } } })).nativeLoop, true)
    assert.equal(worker(native('hash', {}, { plugins: [Plugins.JobLock] })).nativeLoop, true)
    assert.equal(worker(native('hash', {}, { plugins: ['QueueLock'] })).nativeLoop, true)
    assert.equal(worker(native('hash', {}, { plugins: ['DelayQueueLock'] })).nativeLoop, true)
    assert.equal(worker(native('hash', {}, { plugins: ['JobLock'], pluginOptions: { JobLock: { key: () => 'k' } } })).nativeLoop, false, 'a key function runs in JS')
    assert.equal(worker(native('hash', {}, { plugins: ['Retry', 'Noop'] })).nativeLoop, false, 'one plugin at a time')
    class MyRetry extends Plugins.Retry {}
    assert.equal(worker(native('hash', {}, { plugins: [MyRetry] })).nativeLoop, false)
    class Custom extends Plugin {}
    assert.equal(worker(native('hash', {}, { plugins: [Custom, 'Retry'] })).nativeLoop, false)
  })

  it('refuses Retry options the Rust loop cannot honour, when the job is defined', () => {
    for (const Retry of [{ retryLimit: -1 }, { retryDelay: '100' }, { retrylimit: 3 }, { backoffStrategy: [] }, { backoffStrategy: [1.5] }]) {
      assert.throws(() => native('hash', {}, { plugins: ['Retry'], pluginOptions: { Retry } }), { code: 'ERR_INVALID_ARG' }, JSON.stringify(Retry))
    }
  })
})

describe('Noop for native jobs, in both loops', () => {
  it('logs the error and completes the job alike', async () => {
    const outcomes = []
    for (const loop of LOOPS) {
      const ns = `${NS}-noop-${loop.rust ? 'rust' : 'js'}`
      const logged = []
      const jobs = {
        hashIt: native('hash', {}, { plugins: [Plugins.Noop], pluginOptions: { Noop: { logger: (e) => logged.push({ code: e.code, message: e.message }) } } }),
        ...loop.extra
      }
      const w = new Worker({ connection: redisServer.connection(ns), timeout: 50, queues: [Q] }, jobs)
      assert.equal(w.nativeLoop, loop.rust, `${loop.kind} expected`)
      const events = []
      for (const kind of ['job', 'success', 'failure']) w.on(kind, (q, job, x) => events.push([kind, q, job.args, kind === 'success' ? (x ?? null) : undefined]))
      await redis.rpush(`${ns}:queue:${Q}`, JSON.stringify({ class: 'hashIt', queue: Q, args: [{ input: { key: 'missing' } }] }))
      await w.connect()
      await w.start()
      await waitFor(() => events.some(([k]) => k === 'success' || k === 'failure'))
      await w.end()
      outcomes.push({
        events,
        logged,
        failed: await redis.llen(`${ns}:failed`),
        processed: await redis.get(`${ns}:stat:processed`),
        failedStat: await redis.get(`${ns}:stat:failed`)
      })
    }
    const [js, rust] = outcomes
    assert.deepEqual(js.events.map(([k]) => k), ['job', 'success'])
    assert.equal(js.logged.length, 1)
    assert.equal(js.logged[0].code, 'ERR_INPUT_NOT_FOUND')
    assert.deepEqual([js.failed, js.processed, js.failedStat], [0, '1', null])
    assert.deepEqual(rust, js)
  })
})

describe('JobLock and QueueLock for native jobs, in both loops', () => {
  async function lockRun (loop, options, { lockHeld, ns }) {
    const arg = { input: { key: `${ns}-input` } }
    await redis.set(`${ns}-input`, 'bytes')
    const lockKey = `${ns}:workerslock:hashIt:${Q}:${JSON.stringify([arg])}`
    if (lockHeld) await redis.set(lockKey, 'someone', 'EX', 100)
    const jobs = { hashIt: native('hash', {}, { plugins: ['JobLock'], pluginOptions: { JobLock: options } }), ...loop.extra }
    const q = new NodeResque.Queue({ connection: redisServer.connection(ns) })
    await q.connect()
    const w = new Worker({ connection: redisServer.connection(ns), timeout: 50, queues: [Q], name: 'locker' }, jobs)
    assert.equal(w.nativeLoop, loop.rust, `${loop.kind} expected`)
    const events = []
    for (const kind of ['job', 'success', 'failure']) w.on(kind, () => events.push(kind))
    await q.enqueue(Q, 'hashIt', [arg])
    await w.connect()
    await w.start()
    await waitFor(async () => events.length > 0 && (await redis.get(`${ns}:worker:locker:${Q}`)) === null && (await q.length(Q)) === 0, { what: 'the job claimed and let go' })
    await sleep(100)
    const after = {
      events: events.slice(),
      delayed: await q.scheduledAt(Q, 'hashIt', [arg]).then((t) => t.length),
      stats: [await redis.get(`${ns}:stat:processed`), await redis.get(`${ns}:stat:failed`)],
      lock: await redis.get(lockKey)
    }
    return { w, q, after, lockKey }
  }

  it('a job whose lock another worker holds goes to the delayed queue, then runs once the lock is gone', async () => {
    const outcomes = []
    for (const loop of LOOPS) {
      const ns = `${NS}-joblock-${loop.rust ? 'rust' : 'js'}`
      const { w, q, after, lockKey } = await lockRun(loop, { enqueueTimeout: 100 }, { lockHeld: true, ns })
      await redis.del(lockKey)
      const sched = new NodeResque.Scheduler({ connection: redisServer.connection(ns), timeout: 50, name: `sched-${ns}` })
      sched.on('error', () => {})
      const done = nextEvent(w, 'success', { ms: 5000 })
      await sched.connect()
      await sched.start()
      await done
      await w.end()
      await sched.end()
      await q.end()
      outcomes.push({ after, lockAfterRun: await redis.get(lockKey), processed: await redis.get(`${ns}:stat:processed`) })
    }
    const [js, rust] = outcomes
    assert.deepEqual(js.after, { events: ['job'], delayed: 1, stats: [null, null], lock: 'someone' })
    assert.deepEqual([js.lockAfterRun, js.processed], [null, '1'])
    assert.deepEqual(rust, js)
  })

  it('with reEnqueue: false a locked-out job is dropped', async () => {
    const outcomes = []
    for (const loop of LOOPS) {
      const ns = `${NS}-joblock-drop-${loop.rust ? 'rust' : 'js'}`
      const { w, q, after } = await lockRun(loop, { reEnqueue: false }, { lockHeld: true, ns })
      await w.end()
      await q.end()
      outcomes.push(after)
    }
    assert.deepEqual(outcomes[0], { events: ['job'], delayed: 0, stats: [null, null], lock: 'someone' })
    assert.deepEqual(outcomes[1], outcomes[0])
  })

  it('QueueLock: the job deletes its producer\'s lock when it starts', async () => {
    for (const loop of LOOPS) {
      const ns = `${NS}-queuelock-${loop.rust ? 'rust' : 'js'}`
      const jobs = { hashIt: native('hash', {}, { plugins: [Plugins.QueueLock] }), ...loop.extra }
      const producer = new NodeResque.Queue({ connection: redisServer.connection(ns) }, jobs)
      await producer.connect()
      await redis.set(`${ns}-input`, 'bytes')
      const arg = { input: { key: `${ns}-input` } }
      assert.equal(await producer.enqueue(Q, 'hashIt', [arg]), true)
      assert.equal(await producer.enqueue(Q, 'hashIt', [arg]), false, 'locked while queued')
      const lockKey = `${ns}:lock:hashIt:${Q}:${JSON.stringify([arg])}`
      assert.ok(await redis.get(lockKey))
      const w = new Worker({ connection: redisServer.connection(ns), timeout: 50, queues: [Q] }, jobs)
      assert.equal(w.nativeLoop, loop.rust, `${loop.kind} expected`)
      const done = nextEvent(w, 'success')
      await w.start()
      await done
      await w.end()
      assert.equal(await redis.get(lockKey), null, loop.kind)
      assert.equal(await producer.enqueue(Q, 'hashIt', [arg]), true, loop.kind)
      await producer.end()
    }
  })
})

describe('JobLock', () => {
  it('does not run the same job twice at once; the second is delayed', async () => {
    const jobs = {
      lockedSlow: {
        plugins: [Plugins.JobLock],
        pluginOptions: { JobLock: { enqueueTimeout: 100 } },
        perform: async () => { await sleep(300); return 'done' }
      }
    }
    await queue.enqueue(Q, 'lockedSlow', [1])
    await queue.enqueue(Q, 'lockedSlow', [1])
    const w = await startWorker(jobs, { concurrency: 2 })
    const starts = []
    w.on('job', () => starts.push(Date.now()))
    await collect(w, 'success', 2, { ms: 10000 })
    assert.ok(starts.length >= 2)
    assert.ok(starts[starts.length - 1] - starts[0] >= 250, 'the second run waited for the first')
    assert.deepEqual(await redis.keys(`${NS}:workerslock:*`), [])
    await w.end()
  })

  it('lets jobs with different args run together', async () => {
    const jobs = {
      lockedSlow: {
        plugins: [Plugins.JobLock],
        perform: async () => { await sleep(800) }
      }
    }
    await queue.enqueue(Q, 'lockedSlow', [1])
    await queue.enqueue(Q, 'lockedSlow', [2])
    const w = await startWorker(jobs, { concurrency: 2 })
    const t0 = Date.now()
    await collect(w, 'success', 2)
    assert.ok(Date.now() - t0 < 1500, 'two 800 ms jobs ran side by side')
    await w.end()
  })
})

describe('QueueLock', () => {
  it('keeps one copy in the queue; the lock goes when the job starts', async () => {
    const jobs = { uniqueJob: { plugins: [Plugins.QueueLock], perform: () => 'ok' } }
    const producer = new NodeResque.Queue({ connection: connection() }, jobs)
    await producer.connect()
    assert.equal(await producer.enqueue(Q, 'uniqueJob', [1]), true)
    assert.equal(await producer.enqueue(Q, 'uniqueJob', [1]), false)
    assert.equal(await producer.length(Q), 1)
    const w = await startWorker(jobs)
    await nextEvent(w, 'success')
    assert.deepEqual(await redis.keys(`${NS}:lock:*`), [])
    assert.equal(await producer.enqueue(Q, 'uniqueJob', [1]), true)
    await producer.end()
    await w.end()
  })
})

describe('DelayQueueLock', () => {
  it('runs jobs the Scheduler moves from the delayed set', async () => {
    const jobs = { delayed: { plugins: [Plugins.DelayQueueLock], perform: (x) => x * 2 } }
    const producer = new NodeResque.Queue({ connection: connection() }, jobs)
    await producer.connect()
    await producer.enqueueIn(200, Q, 'delayed', [21])
    const w = await startWorker(jobs)
    const [, , result] = await nextEvent(w, 'success', { ms: 5000 })
    assert.equal(result, 42)
    assert.equal(await redis.zcard(`${NS}:delayed_queue_schedule`), 0)
    await producer.end()
    await w.end()
  })
})

describe('Noop', () => {
  it('logs and swallows the error, so the job counts as a success', async () => {
    const logged = []
    const jobs = {
      noisy: {
        plugins: [Plugins.Noop],
        pluginOptions: { Noop: { logger: (e) => logged.push(e.message) } },
        perform: () => { throw new Error('ignored') }
      }
    }
    await queue.enqueue(Q, 'noisy', [])
    const w = await startWorker(jobs)
    await nextEvent(w, 'success')
    assert.deepEqual(logged, ['ignored'])
    assert.equal(await redis.llen(`${NS}:failed`), 0)
    await w.end()
  })
})

describe('custom plugins', () => {
  it('a beforePerform that returns false drops the job: no success, no failure', async () => {
    class Veto extends Plugin {
      async beforePerform () { return false }
    }
    let ran = false
    const jobs = { vetoed: { plugins: [Veto], perform: () => { ran = true } }, after: () => 'after' }
    await queue.enqueue(Q, 'vetoed', [])
    await queue.enqueue(Q, 'after', [])
    const w = await startWorker(jobs)
    w.on('failure', () => assert.fail('no failure'))
    const [, job] = await nextEvent(w, 'success')
    assert.equal(job.class, 'after')
    assert.equal(ran, false)
    assert.equal(await redis.get(`${NS}:stat:processed`), '1')
    assert.equal(await redis.get(`${NS}:worker:${w.name}:${Q}`), null)
    await w.end()
  })

  it('plugins see the worker, the queue, the args and their options', async () => {
    const seen = []
    class Spy extends Plugin {
      async beforePerform () {
        seen.push({ name: this.worker.name, queue: this.queue, func: this.func, args: this.args, opt: this.options.x })
        return true
      }

      async afterPerform () {
        seen.push({ result: this.worker.result })
        return true
      }
    }
    const jobs = { spied: { plugins: [Spy], pluginOptions: { Spy: { x: 7 } }, perform: (a) => a + 1 } }
    await queue.enqueue(Q, 'spied', [1])
    const w = await startWorker(jobs)
    await nextEvent(w, 'success')
    assert.deepEqual(seen, [{ name: w.name, queue: Q, func: 'spied', args: [1], opt: 7 }, { result: 2 }])
    await w.end()
  })

  it('an afterPerform that throws fails a job that succeeded', async () => {
    class Bad extends Plugin {
      async afterPerform () { throw new Error('after went wrong') }
    }
    await queue.enqueue(Q, 'j', [])
    const w = await startWorker({ j: { plugins: [Bad], perform: () => 1 } })
    const [, , err] = await nextEvent(w, 'failure')
    assert.equal(err.message, 'after went wrong')
    await w.end()
  })
})

describe('Scheduler', () => {
  it('delayed jobs reach a rusque worker', async () => {
    await queue.enqueueIn(150, Q, 'later', ['x'])
    const w = await startWorker({ later: (x) => x + '!' })
    const [, , result] = await nextEvent(w, 'success', { ms: 5000 })
    assert.equal(result, 'x!')
    await w.end()
  })

  it('stuck-worker cleanup fails a rusque worker\'s job once its ping is stale', async () => {
    const stuck = new NodeResque.Scheduler({ connection: connection(), timeout: TIMEOUT, stuckWorkerTimeout: 1000, name: 'stuck-checker' })
    stuck.on('error', () => {})
    const w = await startWorker({ forever: () => new Promise(() => {}) }, { recovery: false, name: 'stuck-worker' })
    const started = nextEvent(w, 'job')
    await queue.enqueue(Q, 'forever', [1])
    await started
    // Its pings stop, as if the process were gone (a blocked event loop
    // would not stop them: they come from a Rust thread).
    clearInterval(w.pingTimer)
    await w._stopAlive()
    await scheduler.end()
    await stuck.connect()
    await stuck.start()
    const [name, payload] = await nextEvent(stuck, 'cleanStuckWorker', { ms: 8000 })
    assert.equal(name, 'stuck-worker')
    assert.deepEqual(payload.payload, { class: 'forever', queue: Q, args: [1] })
    const failed = await queue.failed(0, -1)
    assert.equal(failed.length, 1)
    assert.equal(failed[0].worker, 'stuck-worker')
    assert.deepEqual(await queue.workers(), {})
    await stuck.end()
    await scheduler.connect()
    await scheduler.start()
    w.running = false // the job never ends; let the test process go
    w.connection.end()
  })
})
