'use strict'

// Redis not there when a worker connects: connect() rejects at once with a
// coded error naming the address and leaves nothing retrying behind; calling
// it again works once Redis is up; start() on an unconnected worker waits for
// Redis with backoff (an 'error' event per failed attempt). The JS loop, the
// Rust loop and MultiWorker, each against a private redis-server started late
// on a port nothing listened on before.

const { describe, it, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const Redis = require('ioredis')
const NodeResque = require('node-resque')
const { Worker, MultiWorker, native } = require('..')
const { RedisServer } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { nextEvent, sleep, waitFor } = require('./helpers/events')

const NS = 'resque-connect'
const Q = 'q'
const SHA256_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'

const servers = []
after(() => cleanup(...servers.map((s) => () => s.close())))

/** A RedisServer with a port reserved but nothing listening on it yet. */
async function lateServer () {
  const s = new RedisServer()
  servers.push(s)
  const probe = net.createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  s.port = probe.address().port
  await new Promise((resolve) => probe.close(resolve))
  return s
}

function connection (s) {
  return { host: '127.0.0.1', port: s.port, database: 0, namespace: NS }
}

/** Enqueues with node-resque's Queue and waits for the job's outcome on `w`. */
async function enqueueAndWait (s, w, cls, args) {
  const outcome = new Promise((resolve) => {
    w.once('success', (q, job, result) => resolve({ result }))
    w.once('failure', (q, job, error) => resolve({ error }))
  })
  const queue = new NodeResque.Queue({ connection: connection(s) })
  await queue.connect()
  await queue.enqueue(Q, cls, args)
  await queue.end()
  return outcome
}

function assertUnreachable (err, port) {
  assert.equal(err.code, 'ERR_REDIS_UNREACHABLE', err.message)
  assert.equal(err.name, 'RusqueError')
  assert.ok(err.message.includes(`127.0.0.1:${port}`), err.message)
}

const jsJobs = { add: (a, b) => a + b }
const nativeJobs = { digest: native('hash', 'sha256') }

describe('connect() with Redis not listening', () => {
  it('rejects with ERR_REDIS_UNREACHABLE naming host:port, leaves no client retrying, and works when called again', async () => {
    const s = await lateServer()
    const w = new Worker({ connection: connection(s), queues: [Q], timeout: 100 }, jsJobs)
    const errors = []
    w.on('error', (e) => errors.push(e))
    // ioredis' own defaults would retry a command 20 times (over 10 s) first.
    const err = await Promise.race([
      w.connect().then(() => null, (e) => e),
      sleep(8000).then(() => assert.fail('connect() did not settle'))
    ])
    assertUnreachable(err, s.port)
    assert.equal(err.cause.code, 'ECONNREFUSED')
    assert.equal(w.connection.redis, null)
    assert.equal(w.connection.connected, false)
    await sleep(300)
    assert.deepEqual(errors, [], 'no background reconnects reported as errors')

    await s.start()
    const seen = new Redis({ port: s.port, lazyConnect: true })
    await seen.connect()
    const before = Number((await seen.info('stats')).match(/total_connections_received:(\d+)/)[1])
    await sleep(300)
    const after = Number((await seen.info('stats')).match(/total_connections_received:(\d+)/)[1])
    assert.equal(after, before, 'the failed client does not reconnect once Redis is up')

    await w.connect()
    assert.equal(w.connection.connected, true)
    await w.start()
    const { result } = await enqueueAndWait(s, w, 'add', [2, 3])
    assert.equal(result, 5)
    assert.equal(await seen.get(`${NS}:stat:processed`), '1')
    await w.end()
    assert.deepEqual(await seen.smembers(`${NS}:workers`), [])
    seen.disconnect()
  })

  it('rejects, bounded by connectTimeout, when something listens but never answers', async () => {
    const sockets = []
    const mute = net.createServer((sock) => sockets.push(sock))
    await new Promise((resolve) => mute.listen(0, '127.0.0.1', resolve))
    const port = mute.address().port
    try {
      const w = new Worker({ connection: { host: '127.0.0.1', port, namespace: NS, options: { connectTimeout: 300 } }, queues: [Q] }, jsJobs)
      const err = await Promise.race([
        w.connect().then(() => null, (e) => e),
        sleep(8000).then(() => assert.fail('connect() did not settle'))
      ])
      assertUnreachable(err, port)
      assert.match(err.message, /no answer within 300 ms/)
      assert.equal(w.connection.redis, null)
    } finally {
      for (const sock of sockets) sock.destroy()
      await new Promise((resolve) => mute.close(resolve))
    }
  })

  it('a shared ioredis client that cannot connect: rejects by its connectTimeout and is left open for its owner', async () => {
    const s = await lateServer()
    const client = new Redis({ port: s.port, lazyConnect: true, connectTimeout: 300, maxRetriesPerRequest: null })
    client.on('error', () => {})
    try {
      const w = new Worker({ connection: { redis: client, namespace: NS }, queues: [Q] }, jsJobs)
      const err = await Promise.race([
        w.connect().then(() => null, (e) => e),
        sleep(8000).then(() => assert.fail('connect() did not settle'))
      ])
      assertUnreachable(err, s.port)
      assert.notEqual(client.status, 'end', 'not closed: the client belongs to the caller')
    } finally {
      client.disconnect()
    }
  })

  it('a wrong password is ERR_REDIS_REJECTED, not retried', async () => {
    const s = await lateServer()
    await s.start()
    const admin = s.client()
    await admin.config('SET', 'requirepass', 'sesame')
    try {
      const w = new Worker({ connection: { ...connection(s), password: 'wrong' }, queues: [Q] }, jsJobs)
      w.on('error', () => {})
      const err = await w.connect().then(() => null, (e) => e)
      assert.equal(err.code, 'ERR_REDIS_REJECTED', err.message)
      assert.ok(err.message.includes(`127.0.0.1:${s.port}`), err.message)
      assert.match(err.message, /WRONGPASS|NOAUTH|invalid password/i)
      assert.equal(w.connection.redis, null)
    } finally {
      await admin.config('SET', 'requirepass', '')
    }
  })
})

describe('start() on an unconnected worker waits for Redis', () => {
  for (const [kind, jobs, cls, args, expected] of [
    ['a JS-job worker', jsJobs, 'add', [20, 22], 42],
    ['a native-only worker (Rust loop)', nativeJobs, 'digest', [{ input: { base64: Buffer.from('abc').toString('base64') } }], SHA256_ABC]
  ]) {
    it(`${kind}: an error event per failed attempt, then it starts and works`, async () => {
      const s = await lateServer()
      const w = new Worker({ connection: connection(s), queues: [Q], timeout: 100 }, jobs)
      assert.equal(w.nativeLoop, kind.includes('native'))
      const errors = []
      w.on('error', (e) => errors.push(e))
      const started = nextEvent(w, 'start')
      const starting = w.start()
      await waitFor(() => errors.length >= 2, { what: 'two failed attempts' })
      for (const e of errors) assertUnreachable(e, s.port)
      assert.equal(w.running, false)
      await s.start()
      await starting
      await started
      assert.equal(w.running, true)
      const { result, error } = await enqueueAndWait(s, w, cls, args)
      assert.equal(error, undefined)
      assert.equal(result, expected)
      const r = s.client()
      assert.equal(await r.get(`${NS}:stat:processed`), '1')
      await w.end()
      assert.deepEqual(await r.smembers(`${NS}:workers`), [])
      await r.flushdb()
    })
  }

  it('end() while start() is waiting stops the attempts; start() returns without starting', async () => {
    const s = await lateServer()
    const w = new Worker({ connection: connection(s), queues: [Q], timeout: 100 }, jsJobs)
    const errors = []
    w.on('error', (e) => errors.push(e))
    const starting = w.start()
    await waitFor(() => errors.length >= 1, { what: 'a failed attempt' })
    await w.end()
    await starting
    const count = errors.length
    assert.equal(w.running, false)
    assert.equal(w.started, false)
    await s.start()
    await sleep(500)
    assert.equal(errors.length, count, 'no attempts after end()')
    const r = s.client()
    assert.deepEqual(await r.smembers(`${NS}:workers`), [], 'never registered')
    assert.equal(w.connection.redis, null)
  })
})

describe('MultiWorker with Redis not listening', () => {
  it('reports coded errors, counts no dead workers, and starts working once Redis is up', async () => {
    const s = await lateServer()
    const mw = new MultiWorker({ connection: connection(s), queues: [Q], timeout: 100, checkTimeout: 50, minTaskProcessors: 1, maxTaskProcessors: 2 }, jsJobs)
    const errors = []
    mw.on('error', (e) => errors.push(e))
    mw.start()
    await waitFor(() => errors.length >= 2, { what: 'two failed attempts' })
    for (const e of errors) assertUnreachable(e, s.port)
    assert.equal(mw.workers.length, 0)
    await s.start()
    await waitFor(() => mw.workers.some((w) => w.running), { what: 'a running worker' })
    const success = nextEvent(mw, 'success')
    const queue = new NodeResque.Queue({ connection: connection(s) })
    await queue.connect()
    await queue.enqueue(Q, 'add', [1, 1])
    const [, , , result] = await success
    assert.equal(result, 2)
    await queue.end()
    await mw.end()
    const r = s.client()
    assert.equal(await r.get(`${NS}:stat:processed`), '1')
    assert.deepEqual(await r.smembers(`${NS}:workers`), [])
  })
})
