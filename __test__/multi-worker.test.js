'use strict'

// node-resque's multiWorker scenarios against rusque's MultiWorker.

const { describe, it, before, after, beforeEach, afterEach } = require('node:test')
const assert = require('node:assert/strict')
const NodeResque = require('node-resque')
const { MultiWorker } = require('..')
const { startRedis } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { nextEvent, sleep, waitFor } = require('./helpers/events')

const NS = 'resque-multi'
const Q = 'test_queue'
const TIMEOUT = 500
const checkTimeout = TIMEOUT / 10
const minTaskProcessors = 1
const maxTaskProcessors = 5

function blockingSleep (ms) {
  const until = Date.now() + ms
  while (Date.now() < until) { /* hold the event loop */ }
}

const jobs = {
  slowSleepJob: {
    plugins: [],
    pluginOptions: {},
    perform: async () => {
      await sleep(1000)
      return Date.now()
    }
  },
  slowCPUJob: {
    plugins: [],
    pluginOptions: {},
    perform: async () => {
      blockingSleep(1000)
      return Date.now()
    }
  }
}

let redisServer
let redis
let queue
let multiWorker

before(async () => {
  redisServer = await startRedis()
  redis = redisServer.client()
  queue = new NodeResque.Queue({ connection: redisServer.connection(NS) })
  await queue.connect()
})

after(() => cleanup(
  () => queue?.end(),
  () => redisServer?.close()
))

beforeEach(() => {
  multiWorker = new MultiWorker({
    connection: redisServer.connection(NS),
    timeout: TIMEOUT,
    checkTimeout,
    minTaskProcessors,
    maxTaskProcessors,
    queues: [Q]
  }, jobs)
  multiWorker.on('error', (error) => { throw error })
})

afterEach(async () => {
  const mw = multiWorker
  multiWorker = undefined
  await cleanup(
    () => mw?.end(),
    () => queue?.delQueue(Q)
  )
})

describe('MultiWorker', () => {
  it('never has fewer than one worker', async () => {
    assert.equal(multiWorker.workers.length, 0)
    multiWorker.start()
    await sleep(checkTimeout * 3 + 500)
    assert.ok(multiWorker.workers.length > 0)
    const names = Object.keys(await queue.workers())
    assert.ok(names.includes(`${multiWorker.name}:${process.pid}+1`), `registered as host:pid+id, got ${names}`)
  })

  it('adds workers up to the max while the event loop is free', async () => {
    for (let i = 0; i < 100; i++) await queue.enqueue(Q, 'slowSleepJob', [])
    multiWorker.start()
    await sleep(checkTimeout * 30)
    // node-resque's own test retries this one (scaling reads the event loop):
    // give a loaded machine a few more checks, then hold it to the max.
    await waitFor(() => multiWorker.workers.length === maxTaskProcessors, { ms: 5000, what: 'max workers' })
    await sleep(checkTimeout * 5)
    assert.equal(multiWorker.workers.length, maxTaskProcessors)
    assert.equal(Object.keys(await queue.workers()).length, maxTaskProcessors)
  })

  it('does not add workers while CPU-bound jobs block the event loop', async () => {
    for (let i = 0; i < 10; i++) await queue.enqueue(Q, 'slowCPUJob', [])
    multiWorker.start()
    await sleep(checkTimeout * 30)
    assert.equal(multiWorker.workers.length, minTaskProcessors)
  })

  it('passes on every worker event with the worker id first', async () => {
    const failure = nextEvent(multiWorker, 'failure')
    const job = nextEvent(multiWorker, 'job')
    const success = nextEvent(multiWorker, 'success')
    const poll = nextEvent(multiWorker, 'poll')
    const actions = nextEvent(multiWorker, 'multiWorkerAction')
    await queue.enqueue(Q, 'missingJob', [])
    await queue.enqueue(Q, 'quick', [7])
    multiWorker.jobs.quick = (x) => x * 6
    multiWorker.start()
    const [fid, fq, , error, duration] = await failure
    assert.equal(fid, 1)
    assert.equal(fq, Q)
    assert.equal(String(error), 'Error: No job defined for class "missingJob"')
    assert.ok(duration >= 0)
    const [id, q, payload] = await job
    assert.equal(id, 1)
    assert.equal(q, Q)
    assert.equal(payload.class, 'quick')
    const [sid, , , result] = await success
    assert.equal(sid, 1)
    assert.equal(result, 42)
    const [pid, pq] = await poll
    assert.equal(pid, 1)
    assert.equal(pq, Q)
    const [verb] = await actions
    assert.ok(['+', '-', 'x', '--'].includes(verb))
    const [failed] = await queue.failed(0, -1)
    assert.equal(failed.worker, `${multiWorker.name}:${process.pid}+1`)
  })

  it('end() stops every worker and unregisters them', async () => {
    for (let i = 0; i < 20; i++) await queue.enqueue(Q, 'slowSleepJob', [])
    multiWorker.start()
    await waitFor(() => multiWorker.workers.length >= 2, { what: 'two workers' })
    await multiWorker.end()
    assert.equal(multiWorker.workers.length, 0)
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
    assert.deepEqual(await queue.allWorkingOn(), {})
  })
})
