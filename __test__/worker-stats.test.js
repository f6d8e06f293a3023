'use strict'

// Worker#stats(): jobs acked per slot and in total, in both loops (the Rust
// loop counts in Rust, with or without `success` listeners), and the pool
// counting the Rust loop's tasks; prometheus({ workers }) exports them.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const NodeResque = require('node-resque')
const { Worker, native, poolInfo, prometheus } = require('..')
const { startRedis } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { fixture } = require('./helpers/fixtures')

const NS = 'resque-stats'
const Q = 'stats'
let redisServer
let queue

before(async () => {
  redisServer = await startRedis()
  queue = new NodeResque.Queue({ connection: redisServer.connection(NS) })
  await queue.connect()
})

after(() => cleanup(() => queue?.end(), () => redisServer?.close()))

async function until (check) {
  for (let i = 0; i < 400; i++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error('timed out')
}

const photo = fixture('320x240.jpg').toString('base64')
const notImage = Buffer.from('not an image').toString('base64')

describe('Worker#stats()', () => {
  it('counts the Rust loop\'s jobs per slot, with no success listener, and the pool counts their tasks', async (t) => {
    const w = new Worker({ connection: redisServer.connection(NS), queues: [Q], timeout: 50, concurrency: 2 }, {
      thumb: native('resize', { width: 40, format: 'png' })
    })
    w.on('error', () => {})
    t.after(() => w.end())
    await w.connect()
    await w.start()
    assert.ok(w._native, 'native jobs only: the Rust loop runs them')
    const before = poolInfo().tasks.resize
    for (let i = 0; i < 3; i++) await queue.enqueue(Q, 'thumb', [{ input: { base64: photo }, output: { key: 'stats:out', ttl: 60 } }])
    await queue.enqueue(Q, 'thumb', [{ input: { base64: notImage }, output: { key: 'stats:out', ttl: 60 } }])
    await until(() => { const s = w.stats(); return s.completed + s.failed === 4 })
    const s = w.stats()
    assert.deepEqual([s.completed, s.failed], [3, 1])
    assert.equal(s.slots.length, 2)
    assert.deepEqual(s.slots.map((x) => x.name), [w.slots[0].name, w.slots[1].name])
    assert.equal(s.slots.reduce((n, x) => n + x.completed, 0), 3)
    assert.deepEqual(Object.keys(s.runTime), ['p50', 'p99', 'max'])
    const after = poolInfo().tasks.resize
    assert.equal(after.completed - before.completed, 3, 'the pool counted the Rust loop\'s resizes')
    assert.equal(after.failed - before.failed, 1)
    const text = prometheus({ workers: { thumbs: w } })
    assert.match(text, /^rusque_worker_jobs_total\{worker="thumbs",outcome="completed"\} 3$/m)
    assert.match(text, /^rusque_worker_jobs_total\{worker="thumbs",outcome="failed"\} 1$/m)
    await w.end()
    assert.deepEqual([w.stats().completed, w.stats().failed], [3, 1], 'counts outlive end()')
  })

  it('counts the JS loop\'s jobs, native and JS alike', async (t) => {
    const w = new Worker({ connection: redisServer.connection(NS), queues: [Q], timeout: 50, concurrency: 2 }, {
      thumb: native('resize', { width: 40, format: 'png' }),
      add: { perform: async (a, b) => a + b },
      boom: { perform: async () => { throw new Error('boom') } }
    })
    w.on('error', () => {})
    t.after(() => w.end())
    await w.connect()
    await w.start()
    assert.equal(w._native, null, 'a JS job: the JS loop runs them')
    await queue.enqueue(Q, 'thumb', [{ input: { base64: photo }, output: { key: 'stats:out', ttl: 60 } }])
    await queue.enqueue(Q, 'add', [1, 2])
    await queue.enqueue(Q, 'boom', [])
    await until(() => { const s = w.stats(); return s.completed + s.failed === 3 })
    const s = w.stats()
    assert.deepEqual([s.completed, s.failed], [2, 1])
    assert.ok(s.runTime.max >= 0)
  })
})
