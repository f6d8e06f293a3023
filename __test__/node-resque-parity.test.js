'use strict'

// rusque's Worker and MultiWorker beside node-resque's own, in the same test:
// the same scenario through both (each in its own namespace, under the same
// worker name), then the same Redis state and the same events. The rows of
// docs/node-resque-parity.md marked "same" point here (or at the tests named
// there).

const { describe, it, before, after, beforeEach } = require('node:test')
const assert = require('node:assert/strict')
const NodeResque = require('node-resque')
const { Worker, MultiWorker, native } = require('..')
const { startRedis } = require('./helpers/redis')
const { nextEvent, sleep, waitFor } = require('./helpers/events')

const Q = 'parity_q'
const TIMEOUT = 100
const IMPLS = { 'node-resque': NodeResque, rusque: { Worker, MultiWorker } }

let redisServer
let redis

before(async () => {
  redisServer = await startRedis()
  redis = redisServer.client()
})

after(async () => {
  await redisServer.close()
})

beforeEach(async () => {
  await redis.flushdb()
})

/** Every key of a namespace with its value (strings; other types by content), prefix and times normalised. */
async function snapshot (ns) {
  const out = {}
  for (const k of (await redis.keys(`${ns}:*`)).sort()) {
    // rusque's own keys (step ids, resume counts) are beside node-resque's.
    if (k === `${ns}:connection_test_key` || k.startsWith(`${ns}:rusque:`)) continue
    const type = await redis.type(k)
    let v
    if (type === 'string') v = await redis.get(k)
    else if (type === 'set') v = (await redis.smembers(k)).sort()
    else if (type === 'list') v = await redis.lrange(k, 0, -1)
    else v = type
    out[k.slice(ns.length + 1)] = normalise(v)
  }
  return out
}

function normalise (v) {
  if (Array.isArray(v)) return v.map(normalise)
  return String(v)
    .replace(/"(run_at|failed_at)":"[^"]*"/g, '"$1":"<date>"')
    .replace(/"time":\d+/g, '"time":<s>')
    .replace(/"backtrace":\[.*\](?=,"failed_at")/, '"backtrace":<stack>')
    .replace(/^\d{10}$/, '<s>')
}

async function producer (ns, jobs = {}) {
  const queue = new NodeResque.Queue({ connection: redisServer.connection(ns) }, jobs)
  await queue.connect()
  return queue
}

/** Records the events (names only, and `poll`/`pause` not repeated) a worker emits. */
function record (emitter, events) {
  const seen = []
  for (const e of events) {
    emitter.on(e, () => { if (!((e === 'poll' || e === 'pause') && seen[seen.length - 1] === e)) seen.push(e) })
  }
  return seen
}

const WORKER_EVENTS = ['start', 'end', 'poll', 'ping', 'job', 'reEnqueue', 'success', 'failure', 'pause']

describe('Worker.init() as node-resque\'s', () => {
  it('registers without working: workers(), allWorkingOn(), forceCleanWorker() see it; end() unregisters', async () => {
    const seen = {}
    const events = {}
    for (const [impl, { Worker: W }] of Object.entries(IMPLS)) {
      const ns = 'init-' + impl
      const queue = await producer(ns)
      await queue.enqueue(Q, 'add', [1, 2])
      const w = new W({ connection: redisServer.connection(ns), name: 'parity-host:1', queues: [Q], timeout: 60000 }, { add: (a, b) => a + b })
      w.on('error', (err) => assert.fail(err))
      events[impl] = record(w, WORKER_EVENTS)
      await w.connect()
      await w.init()
      assert.equal(w.running, true, impl)
      assert.equal(w.started, false, impl)
      assert.equal(w.working, false, impl)
      assert.notEqual(w.pingTimer, null, `${impl}: init() starts the ping timer`)
      assert.deepEqual(Object.keys(await queue.workers()), ['parity-host:1'], impl)
      assert.deepEqual(await queue.allWorkingOn(), { 'parity-host:1': 'started' }, impl)
      await sleep(TIMEOUT)
      assert.equal(await queue.length(Q), 1, `${impl}: init() works no job`)
      const registered = await snapshot(ns)
      const cleaned = await queue.forceCleanWorker('parity-host:1')
      assert.deepEqual(cleaned, undefined, impl) // nothing was in flight: no error payload
      assert.deepEqual(await queue.workers(), {}, impl)
      await w.end()
      seen[impl] = { registered, after: await snapshot(ns) }
      await queue.end()
    }
    assert.deepEqual(seen.rusque, seen['node-resque'])
    assert.deepEqual(seen.rusque.registered, {
      'queue:parity_q': ['{"class":"add","queue":"parity_q","args":[1,2]}'],
      queues: ['parity_q'],
      'worker:parity-host:1:parity_q:started': '<s>',
      'worker:ping:parity-host:1': '{"time":<s>,"name":"parity-host:1","queues":"parity_q"}',
      workers: ['parity-host:1:parity_q']
    })
    // forceCleanWorker() counts a failure even with nothing in flight.
    assert.deepEqual(seen.rusque.after, { 'queue:parity_q': ['{"class":"add","queue":"parity_q","args":[1,2]}'], queues: ['parity_q'], 'stat:failed': '1' })
    assert.deepEqual(events.rusque, events['node-resque'])
    assert.deepEqual(events.rusque, ['ping', 'end'])
  })

  it('rusque: init() on a worker that is not connected rejects with ERR_NOT_CONNECTED', async () => {
    const w = new Worker({ connection: redisServer.connection('x'), queues: [Q] }, {})
    await assert.rejects(w.init(), { code: 'ERR_NOT_CONNECTED', message: /connect\(\) first/ })
  })
})

/** A plugin that records its hooks in `calls` (given through pluginOptions). */
class Recorder extends NodeResque.Plugin {
  async beforePerform () { this.options.calls.push('beforePerform'); return true }
  async afterPerform () { this.options.calls.push('afterPerform'); return true }
}

describe('start() then end() at once, with a job queued: the job runs, as in node-resque', () => {
  it('JS jobs with plugins (Recorder, QueueLock): claimed, hooks run, performed, acked, lock released', async () => {
    const seen = {}
    for (const [impl, { Worker: W }] of Object.entries(IMPLS)) {
      const ns = 'start-' + impl
      const calls = []
      const jobs = {
        add: {
          plugins: [Recorder, NodeResque.Plugins.QueueLock],
          pluginOptions: { Recorder: { calls } },
          perform: (a, b) => { calls.push('perform'); return a + b }
        }
      }
      const queue = await producer(ns, jobs)
      await queue.enqueue(Q, 'add', [1, 2])
      const lockKey = `${ns}:lock:add:${Q}:[1,2]`
      assert.equal(await redis.exists(lockKey), 1, `${impl}: QueueLock took its lock at enqueue`)
      const w = new W({ connection: redisServer.connection(ns), name: 'parity-host:2', queues: [Q], timeout: TIMEOUT }, jobs)
      w.on('error', (err) => assert.fail(err))
      await w.connect()
      const events = record(w, WORKER_EVENTS)
      const results = []
      w.on('success', (q, job, result) => results.push(result))
      await w.start()
      await w.end()
      seen[impl] = { calls, events, results, lock: await redis.exists(lockKey), redis: await snapshot(ns) }
      await queue.end()
    }
    assert.deepEqual(seen.rusque, seen['node-resque'])
    assert.deepEqual(seen.rusque.calls, ['beforePerform', 'perform', 'afterPerform'])
    assert.deepEqual(seen.rusque.events, ['start', 'ping', 'poll', 'job', 'success', 'end'])
    assert.deepEqual(seen.rusque.results, [3])
    assert.equal(seen.rusque.lock, 0)
    assert.deepEqual(seen.rusque.redis, { queues: [Q], 'stat:processed': '1' })
  })

  it('the Rust loop (all-native worker) and the JS loop (native and JS jobs) run it too', async () => {
    const input = Buffer.from('parity input')
    const expected = require('node:crypto').createHash('sha256').update(input).digest('hex')
    const seen = {}
    const workers = {
      // node-resque runs a JS job doing the same (reads the key, writes the hash).
      'node-resque': (ns, o) => new NodeResque.Worker(o, {
        digest: async function ({ input, output }) {
          const bytes = await this.connection.redis.getBuffer(input.key)
          const hex = require('node:crypto').createHash('sha256').update(bytes).digest('hex')
          await this.connection.redis.set(output.key, hex)
          return hex
        }
      }),
      'rusque Rust loop': (ns, o) => new Worker(o, { digest: native('hash', 'sha256') }),
      'rusque JS loop': (ns, o) => new Worker(o, { digest: native('hash', 'sha256'), other: () => null })
    }
    for (const [impl, make] of Object.entries(workers)) {
      const ns = 'native-' + impl.replace(/ /g, '-')
      const queue = await producer(ns)
      // Native jobs' keys live outside the namespace (keys under it are refused).
      await redis.set(`io:${ns}:in`, input)
      await queue.enqueue(Q, 'digest', [{ input: { key: `io:${ns}:in` }, output: { key: `io:${ns}:out` } }])
      const w = make(ns, { connection: redisServer.connection(ns), name: 'parity-host:3', queues: [Q], timeout: TIMEOUT })
      w.on('error', (err) => assert.fail(err))
      await w.connect()
      assert.equal(w.nativeLoop ?? false, impl === 'rusque Rust loop', impl)
      const before = record(w, WORKER_EVENTS)
      await w.start()
      // Listeners added right after start() still hear the first job.
      const after = record(w, ['job', 'success'])
      const results = []
      w.on('success', (q, job, result) => results.push(result))
      await w.end()
      const out = await redis.get(`io:${ns}:out`)
      await redis.del(`io:${ns}:in`, `io:${ns}:out`)
      seen[impl] = { out, after, results, redis: await snapshot(ns), ended: before.includes('end') }
      await queue.end()
    }
    for (const impl of ['rusque Rust loop', 'rusque JS loop']) {
      assert.deepEqual(seen[impl], seen['node-resque'], impl)
    }
    assert.equal(seen['node-resque'].out, expected)
    assert.deepEqual(seen['node-resque'].after, ['job', 'success'])
    assert.deepEqual(seen['node-resque'].results, [expected])
    assert.deepEqual(seen['node-resque'].redis, { queues: [Q], 'stat:processed': '1' })
  })

  it('the Rust loop: after start() resolves the job has left its queue, and end() waits for it', async () => {
    const ns = 'claimed'
    const queue = await producer(ns)
    await queue.enqueue(Q, 'digest', [{ input: { base64: Buffer.from('x').toString('base64') }, output: { key: `io:${ns}:out` } }])
    const w = new Worker({ connection: redisServer.connection(ns), name: 'parity-host:4', queues: [Q], timeout: TIMEOUT }, { digest: native('hash', 'sha256') })
    w.on('error', (err) => assert.fail(err))
    await w.connect()
    await w.start()
    assert.equal(await queue.length(Q), 0, 'claimed before start() resolved')
    await w.end()
    assert.equal(await redis.get(`${ns}:stat:processed`), '1')
    assert.equal((await redis.get(`io:${ns}:out`)).length, 64)
    await queue.end()
  })

  it('rusque: a Rust slot that never reaches Redis holds start() until end(), which unregisters what init() registered', async () => {
    const client = redisServer.client()
    const w = new Worker({ connection: { redis: client, namespace: 'silent' }, name: 'silent-host', queues: [Q], timeout: TIMEOUT }, { digest: native('hash') })
    await w.connect()
    // The Rust loop connects on its own, to the address the shared client names: make that a dead one.
    client.options.port = 1
    const errors = []
    w.on('error', (err) => errors.push(err.code))
    const starting = w.start()
    await waitFor(() => errors.length > 0)
    assert.deepEqual(await redis.smembers('silent:workers'), [`silent-host:${Q}`], 'init() registered it')
    await w.end()
    await starting
    assert.equal(errors[0], 'ERR_REDIS_UNREACHABLE')
    assert.deepEqual(await redis.keys('silent:worker*'), [])
  })

  it('with the queues empty, start() resolves and end() ends, in both loops', async () => {
    for (const jobs of [{ digest: native('hash') }, { other: () => null }]) {
      const w = new Worker({ connection: redisServer.connection('empty'), queues: [Q], timeout: TIMEOUT }, jobs)
      w.on('error', (err) => assert.fail(err))
      await w.connect()
      const paused = nextEvent(w, 'pause')
      await w.start()
      await paused
      await w.end()
      assert.deepEqual(await redis.keys('empty:worker*'), [])
    }
  })
})

describe('MultiWorker: startWorker(), checkWorkers(), cleanupWorker() as node-resque\'s', () => {
  it('same workers, Redis state, verbs and forwarded events', async () => {
    const seen = {}
    for (const [impl, { MultiWorker: M }] of Object.entries(IMPLS)) {
      const ns = 'multi-' + impl
      const queue = await producer(ns)
      // A long checkTimeout: the event-loop probe and the check timer stay out of the way.
      // Workers poll once a second: a node-resque worker counts as `working`
      // while a poll is in flight, which would change checkWorkers()' verb.
      const mw = new M({ connection: redisServer.connection(ns), name: 'parity-multi', queues: [Q], timeout: 1000, checkTimeout: 60000, minTaskProcessors: 1, maxTaskProcessors: 2 }, { add: (a, b) => a + b })
      mw.on('error', (err) => assert.fail(err))
      const s = { verbs: [] }
      const successes = []
      mw.on('success', (id, q, job, result) => successes.push([id, q, job.class, result]))

      await mw.startWorker()
      s.ids = mw.workers.map((w) => [w.id, w.name])
      s.afterStart = await snapshot(ns)
      await queue.enqueue(Q, 'add', [2, 3])
      await nextEvent(mw, 'success')
      s.successes = successes.slice()

      // Stopped (running false) with a worker: '--' ends and cleans them all.
      const first = mw.workers[0]
      s.verbs.push((await mw.checkWorkers()).verb)
      s.cleaned = ['success', 'job', 'end', 'error', 'pause'].map((e) => first.listenerCount(e))
      s.workersAfterStop = mw.workers.length
      s.afterStop = await snapshot(ns)
      // No workers, stopped: 'x'.
      const { verb, eventLoopDelay } = await mw.checkWorkers()
      s.verbs.push(verb)
      assert.equal(typeof eventLoopDelay, 'number', impl)

      // Running with the event loop free: '+' up to min, then 'x' while idle.
      mw.running = true
      mw.eventLoopBlocked = false
      s.verbs.push((await mw.checkWorkers()).verb)
      await sleep(50) // its first poll is over
      s.verbs.push((await mw.checkWorkers()).verb)
      // Blocked: 'x' at min.
      mw.eventLoopBlocked = true
      s.verbs.push((await mw.checkWorkers()).verb)
      // A second worker, then blocked above min: '-' ends the last one and cleans it.
      await mw.startWorker()
      await sleep(50)
      const second = mw.workers[1]
      s.ids2 = mw.workers.map((w) => [w.id, w.name])
      s.verbs.push((await mw.checkWorkers()).verb)
      s.cleaned2 = second.listenerCount('success')
      s.ids3 = mw.workers.map((w) => w.id)

      // cleanupWorker() alone: the worker keeps working, unheard.
      const remaining = mw.workers[0]
      assert.ok(remaining.listenerCount('success') > 0, impl)
      await mw.cleanupWorker(remaining)
      s.cleaned3 = ['start', 'end', 'poll', 'ping', 'job', 'reEnqueue', 'success', 'failure', 'error', 'pause'].map((e) => remaining.listenerCount(e))
      remaining.on('error', () => {})
      const heard = []
      mw.on('job', () => heard.push('job'))
      const done = nextEvent(remaining, 'success')
      await queue.enqueue(Q, 'add', [1, 1])
      await done
      s.heard = heard
      // node-resque's worker is still `working` while its success event runs,
      // and its checkWorkers() records that: let the job finish first.
      await sleep(TIMEOUT)

      mw.running = false
      s.verbs.push((await mw.checkWorkers()).verb)
      await mw.end()
      s.afterEnd = await snapshot(ns)
      await queue.end()
      seen[impl] = s
    }
    assert.deepEqual(seen.rusque, seen['node-resque'])
    const s = seen.rusque
    assert.deepEqual(s.ids, [[1, `parity-multi:${process.pid}+1`]])
    assert.deepEqual(s.afterStart.workers, [`parity-multi:${process.pid}+1:${Q}`])
    assert.deepEqual(s.successes, [[1, Q, 'add', 5]])
    assert.deepEqual(s.verbs, ['--', 'x', '+', 'x', 'x', '-', '--'])
    assert.deepEqual(s.cleaned, [0, 0, 0, 0, 0])
    assert.equal(s.workersAfterStop, 0)
    assert.equal(s.afterStop.workers, undefined)
    assert.deepEqual(s.ids2, [[1, `parity-multi:${process.pid}+1`], [2, `parity-multi:${process.pid}+2`]])
    assert.equal(s.cleaned2, 0)
    assert.deepEqual(s.ids3, [1])
    assert.deepEqual(s.cleaned3, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert.deepEqual(s.heard, [])
    assert.equal(s.afterEnd.workers, undefined)
  })
})

// --- The rows of docs/node-resque-parity.md marked "same" --------------------

/** A node-resque Worker and a rusque one, same options, each in its own namespace. */
function pair (options, jobs, nsBase) {
  const out = {}
  for (const [impl, { Worker: W }] of Object.entries(IMPLS)) {
    const ns = `${nsBase}-${impl}`
    out[impl] = { ns, w: new W({ connection: redisServer.connection(ns), ...options }, typeof jobs === 'function' ? jobs(impl) : jobs) }
  }
  return out
}

describe('Worker members marked "same"', () => {
  it('constructor defaults (options, jobs, name, id) and properties before start', async () => {
    const seen = {}
    const perform = (a, b) => a + b
    for (const [impl, { w }] of Object.entries(pair({ queues: [Q, 'b'] }, { add: perform, obj: { perform } }, 'ctor'))) {
      const o = w.options
      seen[impl] = {
        options: { name: o.name, id: o.id, queues: o.queues, timeout: o.timeout, looping: o.looping },
        jobs: w.jobs,
        props: ['name', 'queue', 'originalQueue', 'error', 'result', 'ready', 'running', 'working', 'started', 'pollTimer', 'endTimer', 'pingTimer', 'job']
          .map((p) => [p, w[p]]),
        queues: w.queues
      }
    }
    assert.deepEqual(seen.rusque, seen['node-resque'])
    assert.equal(seen.rusque.options.name, `${require('os').hostname()}:${process.pid}`)
    assert.deepEqual(seen.rusque.jobs, { add: { perform }, obj: { perform } })
    assert.deepEqual(seen.rusque.options, { name: seen.rusque.options.name, id: 1, queues: [Q, 'b'], timeout: 5000, looping: true })
  })

  it("'*' workers: after connect() the queues are Redis' queue list, sorted, and originalQueue is '*'", async () => {
    const seen = {}
    for (const [impl, { ns, w }] of Object.entries(pair({ queues: '*' }, {}, 'star'))) {
      await redis.sadd(`${ns}:queues`, 'zeta', 'alpha', 'mid')
      await w.connect()
      seen[impl] = { queues: w.queues, originalQueue: w.originalQueue, ready: w.ready }
      await w.end()
    }
    assert.deepEqual(seen.rusque, seen['node-resque'])
    assert.deepEqual(seen.rusque, { queues: ['alpha', 'mid', 'zeta'], originalQueue: '*', ready: true })
  })

  it('a run: events and their arguments, this.* inside perform and plugins, failed records, timers', async () => {
    const seen = {}
    const jobsFor = () => ({
      add: {
        plugins: [Recorder, class ReadsResult extends NodeResque.Plugin {
          async afterPerform () { this.worker.seenResult = this.worker.result.sum; return true }
        }],
        pluginOptions: { Recorder: { calls: [] } },
        perform: function (a, b) {
          return { sum: a + b, name: this.name, queue: this.queue, job: this.job, working: this.working }
        }
      },
      boom: {
        plugins: [class ReadsError extends NodeResque.Plugin {
          async afterPerform () { this.worker.seenError = this.worker.error && this.worker.error.message; return true }
        }],
        perform: () => { throw new Error('Blue Smoke') }
      }
    })
    const workers = pair({ name: 'parity-host:5', queues: [Q], timeout: TIMEOUT, namespace: 'top-level-is-ignored' }, jobsFor, 'run')
    for (const [impl, { ns, w }] of Object.entries(workers)) {
      const queue = await producer(ns)
      await queue.enqueue(Q, 'add', [1, 2])
      await queue.enqueue(Q, 'boom', [])
      await queue.enqueue(Q, 'nope', [])
      w.on('error', (err) => assert.fail(err))
      const args = []
      for (const e of ['start', 'end', 'poll', 'ping', 'job', 'success', 'failure', 'pause', 'cleaning_worker']) {
        w.on(e, (...a) => args.push([e, ...a.map((x) => x instanceof Date ? 'Date' : x instanceof Error ? `Error: ${x.message}` : x)]))
      }
      await w.connect()
      await w.start()
      const timers = { ping: w.pingTimer._idleTimeout, started: w.started }
      await nextEvent(w, 'pause')
      timers.poll = w.pollTimer && w.pollTimer._idleTimeout
      await w.end()
      // Pings come on a timer of their own: their place in the sequence is not compared.
      const pings = args.filter((a) => a[0] === 'ping')
      const sequence = args.filter((a, i) => a[0] !== 'ping' && !(a[0] === 'pause' && args[i - 1] && args[i - 1][0] === 'pause'))
        .map((a) => a[0] === 'success' || a[0] === 'failure' ? [...a.slice(0, 4), typeof a[4]] : a)
      const failed = (await redis.lrange(`${ns}:failed`, 0, -1)).map((f) => {
        const { backtrace, failed_at: at, ...rest } = JSON.parse(f)
        return { ...rest, backtrace: Array.isArray(backtrace), failedAt: typeof at }
      })
      seen[impl] = { sequence, pings: pings.map((p) => typeof p[1]), timers, failed, seenError: w.seenError, seenResult: w.seenResult, ignored: await redis.keys('top-level-is-ignored*'), redis: await snapshot(ns) }
      await queue.end()
    }
    if (process.env.PARITY_DEBUG) console.error(JSON.stringify(seen, null, 1))
    assert.deepEqual(seen.rusque, seen['node-resque'])
    const job = (cls, args) => ({ class: cls, queue: Q, args })
    const s = seen.rusque
    assert.deepEqual(s.sequence, [
      ['start', 'Date'],
      ['poll', Q],
      ['job', Q, job('add', [1, 2])],
      ['success', Q, job('add', [1, 2]), { sum: 3, name: 'parity-host:5', queue: Q, job: job('add', [1, 2]), working: true }, 'number'],
      ['poll', Q],
      ['job', Q, job('boom', [])],
      ['failure', Q, job('boom', []), 'Error: Blue Smoke', 'number'],
      ['poll', Q],
      ['failure', Q, job('nope', []), 'Error: No job defined for class "nope"', 'number'],
      ['poll', Q],
      ['pause'],
      ['end', 'Date']
    ])
    assert.ok(s.pings.length >= 1 && s.pings.every((t) => t === 'number'))
    assert.deepEqual(s.timers, { ping: TIMEOUT, started: true, poll: TIMEOUT })
    assert.equal(s.seenResult, 3)
    assert.deepEqual(s.failed, [
      { worker: 'parity-host:5', queue: Q, payload: job('boom', []), exception: 'Error', error: 'Blue Smoke', backtrace: true, failedAt: 'string' },
      { worker: 'parity-host:5', queue: Q, payload: job('nope', []), exception: 'Error', error: 'No job defined for class "nope"', backtrace: true, failedAt: 'string' }
    ])
    assert.equal(s.seenError, 'Blue Smoke')
    assert.deepEqual(s.ignored, [])
    assert.equal(s.redis['stat:processed'], '1')
    assert.equal(s.redis['stat:failed'], '2')
  })

  it('performInline(): result, thrown errors, unknown job, refused on a started worker', async () => {
    const seen = {}
    const jobs = { add: (a, b) => a + b, boom: () => { throw new Error('Blue Smoke') } }
    for (const [impl, { w }] of Object.entries(pair({ queues: [Q], timeout: TIMEOUT }, jobs, 'inline'))) {
      const msg = (p) => p.then(() => 'no error', (e) => e.message)
      const s = { add: await w.performInline('add', [1, 2]), boom: await msg(w.performInline('boom')), nope: await msg(w.performInline('nope')) }
      w.on('error', () => {})
      await w.connect()
      await w.start()
      s.started = await msg(w.performInline('add', [1, 2]))
      await w.end()
      seen[impl] = s
    }
    assert.deepEqual(seen.rusque, seen['node-resque'])
    assert.deepEqual(seen.rusque, { add: 3, boom: 'Blue Smoke', nope: 'No job defined for class "nope"', started: 'Worker#performInline can not be used on a started worker' })
  })

  it('reEnqueue(queue, job, plugin details) from the Retry plugin', async () => {
    const seen = {}
    const jobs = { flaky: { plugins: [NodeResque.Plugins.Retry], pluginOptions: { Retry: { retryLimit: 3, retryDelay: 60000 } }, perform: () => { throw new Error('again') } } }
    for (const [impl, { ns, w }] of Object.entries(pair({ queues: [Q], timeout: TIMEOUT }, jobs, 'retry'))) {
      const queue = await producer(ns)
      await queue.enqueue(Q, 'flaky', [7])
      w.on('error', (err) => assert.fail(err))
      await w.connect()
      const re = nextEvent(w, 'reEnqueue')
      await w.start()
      const [q, job, { delay, remainingAttempts, err }] = await re
      await w.end()
      // Retry emits the job's definition, its args added.
      seen[impl] = { q, job: { args: job.args, perform: typeof job.perform, plugins: job.plugins }, delay, remainingAttempts, err: err.message, delayed: (await redis.keys(`${ns}:delayed:*`)).length }
      await queue.end()
    }
    assert.deepEqual(seen.rusque, seen['node-resque'])
    assert.deepEqual(seen.rusque, { q: Q, job: { args: [7], perform: 'function', plugins: [NodeResque.Plugins.Retry] }, delay: 60000, remainingAttempts: 2, err: 'again', delayed: 1 })
  })

  it('connection: key(), getKeys(), connected, redis, end() keeps a shared client, its error events reach the worker', async () => {
    const seen = {}
    for (const [impl, { Worker: W }] of Object.entries(IMPLS)) {
      const client = redisServer.client()
      const ns = ['conn', impl]
      const w = new W({ connection: { redis: client, namespace: ns }, queues: [Q] }, {})
      const errors = []
      w.on('error', (err) => errors.push(err.message))
      await w.connect()
      await client.set(`conn:${impl}:a1`, 'x')
      await client.set(`conn:${impl}:a2`, 'x')
      const c = w.connection
      const s = {
        key: c.key('worker', 'ping', 'n').replace(impl, '<impl>'),
        keys: (await c.getKeys(`conn:${impl}:a*`)).sort().map((k) => k.replace(impl, '<impl>')),
        connected: c.connected,
        redis: c.redis === client
      }
      client.emit('error', new Error('connection trouble'))
      await w.end()
      s.errors = errors
      s.stillOpen = await client.ping()
      seen[impl] = s
    }
    assert.deepEqual(seen.rusque, seen['node-resque'])
    assert.deepEqual(seen.rusque, { key: 'conn:<impl>:worker:ping:n', keys: ['conn:<impl>:a1', 'conn:<impl>:a2'], connected: true, redis: true, errors: ['connection trouble'], stillOpen: 'PONG' })
  })
})

describe('MultiWorker members marked "same"', () => {
  it('defaults and properties; start(), stop(); forwarded events with the worker id; multiWorkerAction', async () => {
    const seen = {}
    for (const [impl, { MultiWorker: M }] of Object.entries(IMPLS)) {
      const ns = 'mw-' + impl
      const queue = await producer(ns)
      const jobs = { add: (a, b) => a + b, boom: () => { throw new Error('Blue Smoke') } }
      const defaults = new M({ connection: redisServer.connection(ns), queues: [Q] }, jobs)
      const s = {
        options: (({ name, minTaskProcessors, maxTaskProcessors, timeout, checkTimeout, maxEventLoopDelay }) => ({ name, minTaskProcessors, maxTaskProcessors, timeout, checkTimeout, maxEventLoopDelay }))(defaults.options),
        props: ['name', 'workers', 'running', 'working', 'eventLoopBlocked', 'eventLoopDelay', 'eventLoopCheckCounter', 'stopInProcess', 'checkTimer'].map((p) => [p, defaults[p]]),
        jobs: defaults.jobs === jobs
      }
      const mw = new M({ connection: redisServer.connection(ns), name: 'parity-mw', queues: [Q], timeout: TIMEOUT, checkTimeout: 20, minTaskProcessors: 1, maxTaskProcessors: 1 }, jobs)
      const errors = []
      mw.on('error', (...a) => errors.push(a))
      const events = []
      for (const e of ['start', 'end', 'job', 'success', 'failure', 'pause', 'poll', 'cleaning_worker']) {
        mw.on(e, (...a) => events.push(e === 'success' || e === 'failure'
          ? [e, a[0], a[1], a[2], a[3] instanceof Error ? a[3].message : a[3], typeof a[4], a.length]
          : [e, ...a]))
      }
      const actions = []
      mw.on('multiWorkerAction', (verb, delay) => actions.push([verb, typeof delay]))
      const failed = nextEvent(mw, 'failure')
      mw.start()
      s.running = mw.running
      await nextEvent(mw, 'pause')
      // What the worker emits reaches the MultiWorker with the worker id
      // (error: second); reEnqueue, ping and error are emitted here by hand.
      const forwarded = []
      for (const e of ['reEnqueue', 'ping', 'poll', 'pause']) mw.on(e, (...a) => forwarded.push([e, ...a]))
      const w1 = mw.workers[0]
      w1.emit('reEnqueue', Q, { args: [1] }, { delay: 5, remainingAttempts: 1, err: 'e' })
      w1.emit('ping', 123)
      w1.emit('poll', Q)
      w1.emit('pause')
      w1.emit('error', new Error('by hand'), Q, { class: 'x' })
      s.forwarded = forwarded.slice()
      s.errors = errors.map(([err, ...rest]) => [err.message, ...rest])
      await queue.enqueue(Q, 'add', [1, 2])
      await queue.enqueue(Q, 'boom', [])
      await failed
      await mw.stop()
      s.afterStop = { running: mw.running, workers: mw.workers.length, redis: await snapshot(ns) }
      const seq = events.filter((e, i) => !((e[0] === 'pause' || e[0] === 'poll') && events[i - 1] && (events[i - 1][0] === 'pause' || events[i - 1][0] === 'poll')))
      s.events = seq.filter((e) => e[0] !== 'pause' && e[0] !== 'poll')
      s.actions = [actions[0], actions.some((a) => a[0] === '--')]
      seen[impl] = s
      await queue.end()
    }
    assert.deepEqual(seen.rusque, seen['node-resque'])
    const s = seen.rusque
    const job = (cls, args) => ({ class: cls, queue: Q, args })
    assert.deepEqual(s.options, { name: require('os').hostname(), minTaskProcessors: 1, maxTaskProcessors: 10, timeout: 5000, checkTimeout: 500, maxEventLoopDelay: 10 })
    assert.deepEqual(s.props, [['name', require('os').hostname()], ['workers', []], ['running', false], ['working', false], ['eventLoopBlocked', true], ['eventLoopDelay', Infinity], ['eventLoopCheckCounter', 0], ['stopInProcess', false], ['checkTimer', null]])
    assert.deepEqual(s.events, [
      ['start', 1],
      ['job', 1, Q, job('add', [1, 2])],
      ['success', 1, Q, job('add', [1, 2]), 3, 'number', 5],
      ['job', 1, Q, job('boom', [])],
      ['failure', 1, Q, job('boom', []), 'Blue Smoke', 'number', 5],
      ['end', 1]
    ])
    // The event loop counts as blocked until its first probe, checkTimeout after start().
    assert.deepEqual(s.actions, [['x', 'number'], true])
    assert.deepEqual(s.forwarded, [
      ['reEnqueue', 1, Q, { args: [1] }, { delay: 5, remainingAttempts: 1, err: 'e' }],
      ['ping', 1, 123],
      ['poll', 1, Q],
      ['pause', 1]
    ])
    assert.deepEqual(s.errors, [['by hand', 1, Q, { class: 'x' }]])
    assert.deepEqual(s.afterStop, {
      running: false,
      workers: 0,
      redis: {
        failed: [`{"worker":"parity-mw:${process.pid}+1","queue":"${Q}","payload":{"class":"boom","queue":"${Q}","args":[]},"exception":"Error","error":"Blue Smoke","backtrace":<stack>,"failed_at":"<date>"}`],
        queues: [Q],
        'stat:failed': '1',
        'stat:processed': '1'
      }
    })
  })
})
