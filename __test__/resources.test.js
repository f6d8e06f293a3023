'use strict'

// Resource conventions: JobQueue, Worker and MultiWorker release what they hold
// through Symbol.asyncDispose (`await using`; called directly here, as the
// syntax needs a newer parser than Node 20's), and warnings go through
// process.emitWarning with a code.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { JobQueue, Worker, MultiWorker } = require('..')
const { startRedis, RedisServer } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { nextEvent, waitFor } = require('./helpers/events')

const NS = 'resque-resources'

let redisServer
let redis

before(async () => {
  redisServer = await startRedis()
  redis = redisServer.client()
})

after(() => cleanup(() => redisServer?.close()))

/** Names of the clients connected to the test Redis, other than `redis` itself. */
async function otherClients () {
  const list = await redis.client('LIST')
  return list.split('\n').filter(Boolean).length - 1
}

describe('Symbol.asyncDispose', () => {
  it('JobQueue: closes the queue once its jobs are done, as close() does', async () => {
    const q = new JobQueue({ concurrency: 1 })
    const job = q.add('hash', Buffer.from('abc'), 'sha256')
    await q[Symbol.asyncDispose]()
    assert.equal(q.isClosed, true)
    assert.equal(await job, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'the queued job ran')
    await assert.rejects(q.add('hash', Buffer.from('x')), { code: 'ERR_QUEUE_CLOSED' })
  })

  it('Worker: ends it, unregistering it and closing its Redis connections', async () => {
    const w = new Worker({ connection: redisServer.connection(NS), queues: ['q'], timeout: 100, name: 'disposable' }, { add: (a, b) => a + b })
    w.on('error', () => {})
    await w.connect()
    await w.start()
    assert.ok((await redis.smembers(`${NS}:workers`)).length > 0, 'registered while running')
    assert.ok(await otherClients() > 0, 'connected while running')
    const ended = nextEvent(w, 'end')
    await w[Symbol.asyncDispose]()
    await ended
    assert.equal(w.running, false)
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
    await waitFor(async () => (await otherClients()) === 0, { what: 'the worker\'s connections to close' })
  })

  it('MultiWorker: ends it and every worker it started', async () => {
    const mw = new MultiWorker({ connection: redisServer.connection(NS), queues: ['q'], timeout: 100, checkTimeout: 20, minTaskProcessors: 1, maxTaskProcessors: 2 }, { add: (a, b) => a + b })
    mw.on('error', () => {})
    mw.start()
    await waitFor(() => mw.workers.length > 0 && mw.workers[0].running, { what: 'a worker to start' })
    await mw[Symbol.asyncDispose]()
    assert.equal(mw.running, false)
    assert.equal(mw.workers.length, 0)
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
    await waitFor(async () => (await otherClients()) === 0, { what: 'the workers\' connections to close' })
  })
})

describe('warnings', () => {
  it('an error with no listener becomes a process warning with code RUSQUE_UNHANDLED_ERROR', async () => {
    // A port nothing listens on: start() retries, reporting each failed attempt.
    const probe = net.createServer()
    await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const { port } = probe.address()
    await new Promise((resolve) => probe.close(resolve))
    const nowhere = new RedisServer()
    nowhere.port = port

    const w = new Worker({ connection: nowhere.connection(NS), queues: ['q'], timeout: 100 }, { add: (a, b) => a + b })
    const warned = nextEvent(process, 'warning', { filter: (warning) => warning.name === 'RusqueWorkerWarning' })
    const starting = w.start()
    try {
      const [warning] = await warned
      assert.equal(warning.code, 'RUSQUE_UNHANDLED_ERROR')
      assert.match(warning.message, new RegExp(`127\\.0\\.0\\.1:${port}`))
      assert.match(warning.message, /add an 'error' listener/)
    } finally {
      await w.end()
      await starting
    }
  })
})
