'use strict'

// The scenarios of node-resque's own worker tests, run against rusque's
// Worker, with node-resque's Queue as the producer and Redis state asserted.

const { describe, it, before, after, beforeEach, afterEach } = require('node:test')
const assert = require('node:assert/strict')
const os = require('os')
const NodeResque = require('node-resque')
const { Worker } = require('..')
const { startRedis } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { nextEvent, collect, sleep, waitFor } = require('./helpers/events')

const NS = 'resque-test'
const Q = 'test_queue'
const TIMEOUT = 200

class MyPlugin extends NodeResque.Plugin {
  async beforePerform () { return true }
  async afterPerform () {
    this.options.afterPerform(this)
    return true
  }
}

const jobs = {
  add: { perform: (a, b) => a + b },
  badAdd: { perform: () => { throw new Error('Blue Smoke') } },
  messWithData: { perform: (a) => { a.data = 'new thing'; return a } },
  isFrozen: { perform: (a) => Object.isFrozen(a) },
  whoAmI: { perform: function () { return this.name } },
  async: {
    perform: async () => {
      await sleep(100)
      return 'yay'
    }
  },
  slow: {
    perform: async (ms) => {
      await sleep(ms)
      return 'slow'
    }
  },
  quickDefine: async () => 'ok'
}

let redisServer
let redis
let queue

function connection () {
  return redisServer.connection(NS)
}

function makeWorker (options = {}, js = jobs) {
  const w = new Worker({ connection: connection(), timeout: TIMEOUT, queues: [Q], ...options }, js)
  w.on('error', () => {})
  return w
}

before(async () => {
  redisServer = await startRedis()
  redis = redisServer.client()
  queue = new NodeResque.Queue({ connection: connection() })
  await queue.connect()
})

after(() => cleanup(
  () => queue?.end(),
  () => redisServer?.close()
))

beforeEach(async () => {
  await redis.flushdb()
})

describe('Worker: connection', () => {
  it('can connect and end', async () => {
    const w = makeWorker()
    await w.connect()
    assert.equal(await redis.get(`${NS}:connection_test_key`), 'ok')
    await w.end()
  })

  it('accepts an existing ioredis client and leaves it open', async () => {
    const client = redisServer.client()
    const w = new Worker({ connection: { redis: client, namespace: NS }, timeout: TIMEOUT, queues: [Q] }, jobs)
    await w.connect()
    await w.start()
    const success = nextEvent(w, 'success')
    await queue.enqueue(Q, 'add', [2, 3])
    const [, , result] = await success
    assert.equal(result, 5)
    await w.end()
    assert.equal(await client.ping(), 'PONG')
  })

  it('accepts an array namespace', async () => {
    const w = new Worker({ connection: { ...connection(), namespace: ['a', 'b'] }, timeout: TIMEOUT, queues: [Q] }, jobs)
    await w.connect()
    await w.start()
    assert.deepEqual(await redis.smembers('a:b:workers'), [`${w.name}:${Q}`])
    await w.end()
  })

  it('uses the database given', async () => {
    const w = new Worker({ connection: { ...connection(), database: 3 }, timeout: TIMEOUT, queues: [Q] }, jobs)
    await w.connect()
    await w.start()
    const db3 = redisServer.client()
    await db3.select(3)
    assert.deepEqual(await db3.smembers(`${NS}:workers`), [`${w.name}:${Q}`])
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
    await w.end()
    await db3.flushdb()
  })

  it('end() right after start() leaves no timers or registration behind', async () => {
    const w = makeWorker()
    await w.connect()
    const starting = w.start()
    await w.end()
    await starting
    assert.equal(w.pingTimer, null)
    assert.equal(w.running, false)
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
    assert.deepEqual(await redis.keys(`${NS}:worker:*`), [])
  })

  it('rejects connect() when Redis is unreachable', async () => {
    const w = new Worker({ connection: { host: '127.0.0.1', port: 1, options: { retryStrategy: () => null } }, queues: [Q] }, jobs)
    w.on('error', () => {})
    await assert.rejects(w.connect(), /ECONNREFUSED|Connection is closed/)
  })
})

describe('Worker: performInline', () => {
  const w = new Worker({ connection: {}, queues: [Q] }, jobs)

  it('runs a successful job', async () => {
    assert.equal(await w.performInline('add', [1, 2]), 3)
  })

  it('runs a successful async job', async () => {
    assert.equal(await w.performInline('async'), 'yay')
  })

  it('throws a failing job\'s error', async () => {
    await assert.rejects(w.performInline('badAdd', [1, 2]), { message: 'Blue Smoke' })
  })

  it('throws for an unknown job', async () => {
    await assert.rejects(w.performInline('nope'), { message: 'No job defined for class "nope"' })
  })

  it('calls a plugin\'s afterPerform when the job throws, and the plugin may clear the error', async () => {
    let seen = null
    const failingJob = {
      plugins: [MyPlugin],
      pluginOptions: {
        MyPlugin: {
          afterPerform: (plugin) => {
            seen = plugin.worker.error
            delete plugin.worker.error
          }
        }
      },
      perform: (x) => { throw new TypeError(x) }
    }
    const worker = new Worker({}, { failingJob })
    await worker.performInline('failingJob', ['John'])
    assert.ok(seen instanceof TypeError)
    assert.equal(seen.message, 'John')
  })

  it('refuses to run on a started worker', async () => {
    const worker = makeWorker()
    await worker.connect()
    await worker.start()
    await assert.rejects(worker.performInline('add', [1, 2]), /can not be used on a started worker/)
    await worker.end()
  })
})

describe('Worker: queues', () => {
  it('can boot and stop, registering and unregistering in Redis', async () => {
    const w = makeWorker()
    await w.connect()
    await w.start()
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [`${w.name}:${Q}`])
    assert.ok(await redis.get(`${NS}:worker:${w.name}:${Q}:started`))
    const ping = JSON.parse(await redis.get(`${NS}:worker:ping:${w.name}`))
    assert.equal(ping.name, w.name)
    assert.equal(ping.queues, Q)
    assert.deepEqual(await queue.workers(), { [w.name]: Q })
    await w.end()
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
    assert.equal(await redis.exists(`${NS}:worker:ping:${w.name}`, `${NS}:worker:${w.name}:${Q}:started`), 0)
  })

  it('uses hostname:pid as the default name', async () => {
    const w = makeWorker()
    assert.equal(w.name, `${os.hostname()}:${process.pid}`)
  })

  it('determines the queue names of a "*" worker', async () => {
    const w = new Worker({ connection: connection(), timeout: TIMEOUT }, jobs)
    await w.connect()
    assert.deepEqual(w.queues, [])
    await queue.enqueue(Q, 'badAdd', [1, 2])
    await w.checkQueues()
    assert.deepEqual(w.queues, [Q])
    await w.end()
  })

  it('notices new queues when started with queues "*"', async () => {
    const w = makeWorker({ queues: ['*'] })
    await w.connect()
    await w.start()
    const success = nextEvent(w, 'success')
    setTimeout(() => queue.enqueue('__newQueue', 'add', [1, 2]), 150)
    const [q, job, result, duration] = await success
    assert.equal(q, '__newQueue')
    assert.equal(job.class, 'add')
    assert.equal(result, 3)
    assert.equal(w.result, 3)
    assert.ok(duration >= 0)
    assert.deepEqual(await queue.workers(), { [w.name]: '*' })
    await w.end()
  })

  it('works queues in the order given', async () => {
    await queue.enqueue('low', 'add', [1, 1])
    await queue.enqueue('high', 'add', [2, 2])
    const w = makeWorker({ queues: ['high', 'low'] })
    const got = collect(w, 'success', 2)
    await w.connect()
    await w.start()
    const order = (await got).map(([q]) => q)
    assert.deepEqual(order, ['high', 'low'])
    await w.end()
  })
})

describe('Worker: working jobs', () => {
  let w
  beforeEach(async () => {
    w = makeWorker()
    await w.connect()
  })
  afterEach(async () => {
    await w?.end()
    w = undefined
  })

  it('marks a job as failed and stores node-resque\'s failure payload', async () => {
    await queue.enqueue(Q, 'badAdd', [1, 2])
    await w.start()
    const [q, job, failure, duration] = await nextEvent(w, 'failure')
    assert.equal(q, Q)
    assert.equal(job.class, 'badAdd')
    assert.equal(failure.message, 'Blue Smoke')
    assert.ok(duration >= 0)
    const failed = await queue.failed(0, -1)
    assert.equal(failed.length, 1)
    assert.deepEqual(Object.keys(failed[0]), ['worker', 'queue', 'payload', 'exception', 'error', 'backtrace', 'failed_at'])
    assert.equal(failed[0].worker, w.name)
    assert.equal(failed[0].queue, Q)
    assert.deepEqual(failed[0].payload, { class: 'badAdd', queue: Q, args: [1, 2] })
    assert.equal(failed[0].exception, 'Error')
    assert.equal(failed[0].error, 'Blue Smoke')
    assert.ok(Array.isArray(failed[0].backtrace))
    const stats = await queue.stats()
    assert.equal(stats.failed, '1')
    assert.equal(stats[`failed:${w.name}`], '1')
    assert.equal(await redis.get(`${NS}:worker:${w.name}:${Q}`), null)
  })

  it('works a job and reports the result', async () => {
    await queue.enqueue(Q, 'add', [1, 2])
    w.start()
    const [q, job, result, duration] = await nextEvent(w, 'success')
    assert.equal(q, Q)
    assert.equal(job.class, 'add')
    assert.deepEqual(job.args, [1, 2])
    assert.equal(result, 3)
    assert.equal(w.result, result)
    assert.ok(duration >= 0)
    const stats = await queue.stats()
    assert.equal(stats.processed, '1')
    assert.equal(stats[`processed:${w.name}`], '1')
    assert.equal(await queue.length(Q), 0)
  })

  it('accepts jobs that are plain functions', async () => {
    await queue.enqueue(Q, 'quickDefine')
    w.start()
    const [, , result] = await nextEvent(w, 'success')
    assert.equal(result, 'ok')
  })

  it('fails jobs whose class is not defined', async () => {
    await queue.enqueue(Q, 'somethingFake')
    w.start()
    const [q, , failure, duration] = await nextEvent(w, 'failure')
    assert.equal(q, Q)
    assert.equal(String(failure), 'Error: No job defined for class "somethingFake"')
    assert.ok(duration >= 0)
    const data = JSON.parse(await redis.rpop(`${NS}:failed`))
    assert.equal(data.queue, Q)
    assert.equal(data.exception, 'Error')
    assert.equal(data.error, 'No job defined for class "somethingFake"')
  })

  it('freezes object arguments', async () => {
    await queue.enqueue(Q, 'isFrozen', [{ a: 'starting value' }])
    await queue.enqueue(Q, 'messWithData', [{ a: 'starting value' }])
    w.start()
    const [, , frozen] = await nextEvent(w, 'success')
    assert.equal(frozen, true)
    const [, , err] = await nextEvent(w, 'failure')
    assert.ok(err instanceof TypeError, 'strict-mode write to a frozen argument throws')
  })

  it('binds `this` to the worker', async () => {
    await queue.enqueue(Q, 'whoAmI')
    w.start()
    const [, , name] = await nextEvent(w, 'success')
    assert.equal(name, w.name)
  })

  it('emits job, then success, with the payload; the working-on key holds the job meanwhile', async () => {
    await queue.enqueue(Q, 'slow', [300])
    w.start()
    const [q, job] = await nextEvent(w, 'job')
    assert.equal(q, Q)
    assert.deepEqual(job, { class: 'slow', queue: Q, args: [300] })
    const raw = await redis.get(`${NS}:worker:${w.name}:${Q}`)
    assert.deepEqual(Object.keys(JSON.parse(raw)), ['run_at', 'queue', 'payload', 'worker'])
    const on = await queue.allWorkingOn()
    assert.equal(on[w.name].queue, Q)
    assert.equal(on[w.name].worker, w.name)
    assert.deepEqual(on[w.name].payload, job)
    assert.ok(Date.now() - Date.parse(on[w.name].run_at) < 5000)
    await nextEvent(w, 'success')
    assert.equal(await redis.get(`${NS}:worker:${w.name}:${Q}`), null)
    assert.deepEqual(await queue.allWorkingOn(), { [w.name]: 'started' })
  })

  it('polls and pauses when the queue is empty', async () => {
    w.start()
    const [q] = await nextEvent(w, 'poll')
    assert.equal(q, Q)
    await nextEvent(w, 'pause')
  })

  it('pings with status even while working a slow job', async () => {
    // Whole seconds, as a ping's time may be rounded either way (node-resque
    // rounds, the Rust heartbeat floors).
    const now = Math.floor(Date.now() / 1000)
    await w.start()
    await sleep(TIMEOUT * 2)
    const pingKey = w.connection.key('worker', 'ping', w.name)
    const first = JSON.parse(await redis.get(pingKey))
    assert.equal(first.name, w.name)
    assert.ok(first.time >= now)
    const started = nextEvent(w, 'job')
    await queue.enqueue(Q, 'slow', [1200])
    await started
    await nextEvent(w, 'ping')
    const second = JSON.parse(await redis.get(pingKey))
    assert.equal(second.name, w.name)
    assert.ok(second.time >= first.time)
    await nextEvent(w, 'success', { ms: 5000 })
  })

  it('end() gives back a job whose claim reply never arrived', async () => {
    const idle = makeWorker({ timeout: 3000 })
    await idle.connect()
    await idle.start()
    await nextEvent(idle, 'pause')
    // As if a claim cycle ran in Redis but its reply was lost on the way back.
    const payload = '{"class":"add","queue":"test_queue","args":[[],{}]}'
    await redis.set(`${NS}:worker:${idle.name}:${Q}`, `{"run_at":"x","queue":"${Q}","payload":${payload},"worker":"${idle.name}"}`)
    await idle.end()
    assert.deepEqual(await redis.lrange(`${NS}:queue:${Q}`, 0, -1), [payload])
    assert.equal(await redis.exists(`${NS}:worker:${idle.name}:${Q}`), 0)
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
  })

  it('end() waits for the running job and acknowledges it', async () => {
    await queue.enqueue(Q, 'slow', [400])
    await w.start()
    await nextEvent(w, 'job')
    const success = nextEvent(w, 'success')
    const t0 = Date.now()
    await w.end()
    assert.ok(Date.now() - t0 >= 300)
    await success
    assert.equal(await redis.get(`${NS}:stat:processed`), '1')
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
    w = makeWorker() // afterEach ends a fresh one
  })
})

describe('Worker: queue entries that are not jobs', () => {
  it('moves bad entries to failed with a clear error and carries on', async () => {
    await redis.sadd(`${NS}:queues`, Q)
    await redis.rpush(`${NS}:queue:${Q}`, 'not json{', '{"queue":"x","args":[]}', '[1,2]', '{"class":5}')
    await queue.enqueue(Q, 'add', [1, 2])
    const w = makeWorker()
    const failures = collect(w, 'failure', 4)
    const success = nextEvent(w, 'success')
    await w.connect()
    await w.start()
    const f = await failures
    assert.deepEqual(f.map(([, raw]) => raw), ['not json{', '{"queue":"x","args":[]}', '[1,2]', '{"class":5}'])
    for (const [, , err] of f) assert.equal(err.name, 'InvalidPayload')
    const [, , result] = await success
    assert.equal(result, 3)
    const failed = await queue.failed(0, -1)
    assert.equal(failed.length, 4)
    assert.equal(failed[0].payload, 'not json{')
    assert.equal(failed[0].exception, 'InvalidPayload')
    assert.equal(failed[0].error, 'queue entry is not valid JSON')
    assert.equal(failed[0].worker, w.name)
    assert.equal(failed[0].queue, Q)
    assert.match(failed[1].error, /no "class"/)
    assert.match(failed[2].error, /no "class"|not a JSON object/)
    assert.equal(await redis.get(`${NS}:stat:failed`), '4')
    assert.equal(await redis.get(`${NS}:stat:processed`), '1')
    await w.end()
  })
})

describe('Worker: entries that are not UTF-8', () => {
  it('go to failed instead of running (a lossy read could never be acknowledged)', async () => {
    let runs = 0
    await redis.sadd(`${NS}:queues`, Q)
    await redis.rpush(`${NS}:queue:${Q}`, Buffer.concat([Buffer.from('{"class":"count","queue":"q","args":["'), Buffer.from([0xff, 0xfe]), Buffer.from('"]}')]))
    await queue.enqueue(Q, 'count', ['ok \u00e9\u4e2d\ud83d\ude00'])
    const w = makeWorker({}, { count: (x) => { runs++; return x } })
    const failure = nextEvent(w, 'failure')
    const success = nextEvent(w, 'success')
    await w.connect()
    await w.start()
    const [, , err] = await failure
    assert.equal(err.name, 'InvalidPayload')
    const [, , result] = await success
    assert.equal(result, 'ok \u00e9\u4e2d\ud83d\ude00', 'multi-byte UTF-8 passes')
    await sleep(300)
    assert.equal(runs, 1)
    const [failed] = await queue.failed(0, -1)
    assert.equal(failed.error, 'queue entry is not valid UTF-8')
    assert.equal(await redis.get(`${NS}:worker:${w.name}:${Q}`), null)
    await w.end()
  })

  it('a working-on value that is not UTF-8 is parked in failed, not resumed forever', async () => {
    await redis.set(`${NS}:worker:poisoned:${Q}`, Buffer.concat([Buffer.from('{"run_at":"x","queue":"q","payload":{"class":"count","args":["'), Buffer.from([0xc3]), Buffer.from('"]},"worker":"poisoned"}')]))
    let runs = 0
    const w = makeWorker({ name: 'poisoned' }, { count: () => { runs++ } })
    const failure = nextEvent(w, 'pause')
    await w.connect()
    await w.start()
    await failure
    await sleep(300)
    assert.equal(runs, 0)
    assert.equal(await redis.get(`${NS}:worker:poisoned:${Q}`), null)
    const [failed] = await queue.failed(0, -1)
    assert.equal(failed.error, 'working-on value is not valid UTF-8')
    await w.end()
  })
})

describe('Worker: node-resque Queue sees rusque workers', () => {
  it('retryAndRemoveFailed re-enqueues a job a rusque worker failed', async () => {
    let attempts = 0
    const w = makeWorker({}, { flaky: () => { if (++attempts === 1) throw new Error('first time') ; return 'second time' } })
    await w.connect()
    await w.start()
    const failure = nextEvent(w, 'failure')
    await queue.enqueue(Q, 'flaky', [{ n: 1 }, 'x'])
    await failure
    const [failed] = await queue.failed(0, -1)
    const success = nextEvent(w, 'success')
    await queue.retryAndRemoveFailed(failed)
    assert.equal(await queue.failedCount(), 0)
    const [, job, result] = await success
    assert.equal(result, 'second time')
    assert.deepEqual(job.args, [{ n: 1 }, 'x'])
    await w.end()
  })

  it('forceCleanWorker fails a stuck rusque worker\'s job', async () => {
    const w = makeWorker({ recovery: false })
    await w.connect()
    await w.start()
    const started = nextEvent(w, 'job')
    await queue.enqueue(Q, 'slow', [800])
    await started
    const payload = await queue.forceCleanWorker(w.name)
    assert.equal(payload.worker, w.name)
    assert.deepEqual(payload.payload, { class: 'slow', queue: Q, args: [800] })
    const failed = await queue.failed(0, -1)
    assert.equal(failed.length, 1)
    assert.equal(failed[0].error, 'Worker Timeout (killed manually)')
    await nextEvent(w, 'success')
    await w.end()
  })
})

describe('Worker: concurrency', () => {
  it('runs up to `concurrency` jobs at once, one registered worker per slot', async () => {
    for (let i = 0; i < 8; i++) await queue.enqueue(Q, 'slow', [300])
    const w = makeWorker({ concurrency: 4 })
    const done = collect(w, 'success', 8)
    await w.connect()
    await w.start()
    await nextEvent(w, 'job')
    await sleep(50)
    const on = await queue.allWorkingOn()
    const names = [w.name, `${w.name}#1`, `${w.name}#2`, `${w.name}#3`]
    assert.deepEqual(Object.keys(on).sort(), names.sort())
    for (const n of names) assert.equal(on[n].worker, n)
    const t0 = Date.now()
    await done
    assert.ok(Date.now() - t0 < 1500, 'eight 300 ms jobs four at a time take about two rounds')
    const stats = await queue.stats()
    assert.equal(stats.processed, '8')
    await w.end()
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
  })

  it('gives each slot its own name, error and result', async () => {
    const seen = []
    const w = makeWorker({ concurrency: 3 }, {
      tag: async function (n) {
        await sleep(50)
        seen.push([n, this.name])
        return n
      },
      fail: async function () { await sleep(20); throw new Error('nope') }
    })
    for (let i = 0; i < 3; i++) await queue.enqueue(Q, 'tag', [i])
    await queue.enqueue(Q, 'fail', [])
    const results = collect(w, 'success', 3)
    const failure = nextEvent(w, 'failure')
    await w.connect()
    await w.start()
    const got = await results
    assert.deepEqual(got.map((a) => a[2]).sort(), [0, 1, 2])
    await failure
    const names = new Set(seen.map(([, name]) => name))
    assert.ok(names.size >= 2, `jobs ran in several slots, saw ${[...names]}`)
    assert.equal(w.error, null, 'a slot\'s error does not leak onto the worker')
    await w.end()
  })

  it('looping: false works one job per slot and stops', async () => {
    for (let i = 0; i < 3; i++) await queue.enqueue(Q, 'add', [i, 0])
    const w = makeWorker({ looping: false })
    await w.connect()
    await w.start()
    await nextEvent(w, 'success')
    await sleep(TIMEOUT * 2)
    assert.equal(await queue.length(Q), 2)
    await w.end()
  })
})

describe('Worker: errors', () => {
  it('emits error instead of an unhandled rejection when a ping from the JS thread fails', async () => {
    const w = makeWorker()
    await w.connect()
    await w.start()
    // Pings come from a Rust thread (worker-alive.test.js tests its failures);
    // without it, as for a client a Rust thread cannot use, this thread pings.
    await w._stopAlive()
    const original = w.connection.redis.set.bind(w.connection.redis)
    const boom = new Error('Connection is closed')
    w.connection.redis.set = async () => { throw boom }
    const [err] = await nextEvent(w, 'error')
    assert.equal(err, boom)
    w.connection.redis.set = original
    await w.end()
  })
})

describe('Worker: listeners that throw', () => {
  it('turn into error events; the job is acknowledged once and the worker carries on', async () => {
    const w = makeWorker()
    const errors = []
    w.removeAllListeners('error')
    w.on('error', (e) => errors.push(e.message))
    const two = collect(w, 'success', 2)
    let first = true
    w.on('success', () => {
      if (first) {
        first = false
        throw new Error('listener blew up')
      }
    })
    await queue.enqueue(Q, 'add', [1, 1])
    await queue.enqueue(Q, 'add', [2, 2])
    await w.connect()
    await w.start()
    const got = await two
    assert.deepEqual(got.map((a) => a[2]), [2, 4])
    assert.deepEqual(errors, ['listener blew up'])
    assert.equal(await redis.get(`${NS}:stat:processed`), '2')
    await w.end()
  })
})

describe('Worker: bursts after an idle spell', () => {
  it('paused slots join in as soon as a busy slot\'s claim finds work, not at the next poll timer', async () => {
    const w = makeWorker({ concurrency: 4, timeout: 6000 })
    await w.connect()
    await queue.enqueue(Q, 'slow', [600])
    const t0 = Date.now()
    await w.start()
    await nextEvent(w, 'job') // one slot works; the other three found nothing and wait 6 s
    const done = collect(w, 'success', 7, { ms: 10000 })
    for (let i = 0; i < 6; i++) await queue.enqueue(Q, 'slow', [200])
    await done
    const elapsed = Date.now() - t0
    assert.ok(elapsed < 3500, `the six short jobs ran four at a time once the first slot came back (${elapsed} ms)`)
    await w.end()
  })
})
