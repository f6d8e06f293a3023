'use strict'

// node-resque's plugins and Scheduler driving rusque Workers: the scenarios of
// node-resque's plugin tests, with its Queue, Scheduler and Plugins classes.

const { describe, it, before, after, beforeEach } = require('node:test')
const assert = require('node:assert/strict')
const NodeResque = require('node-resque')
const { Worker } = require('..')
const { startRedis } = require('./helpers/redis')
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
