'use strict'

// Where an all-native worker's Rust threads connect, and which keys they
// use: the server, database, credentials and key prefix the Worker's own
// ioredis client uses (lib/resque/redis-target.js), whether they came as
// node-resque's top-level options, inside its nested ioredis `options`, or
// with a client passed as `{ redis }`; and node-resque's key layout for an
// empty namespace. A client whose options the Rust loop cannot use runs the
// JS loop instead.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const Redis = require('ioredis')
const NodeResque = require('node-resque')
const { Worker, native } = require('..')
const { loopTarget } = require('../lib/resque/native-loop')
const { startRedis } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { nextEvent } = require('./helpers/events')

const PASSWORD = 'target-test-secret'
// A slot that never reaches Redis never polls, and start() waits for its first poll: fail, don't hang.
const LIMIT = { timeout: 20000 }
const Q = 'digests'
const jobs = { digest: native('hash', { algorithm: 'sha256' }) }
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex')

let server // requires PASSWORD
let db0
let db3

/** A node-resque Queue on db `database` of the server, under `namespace`. */
async function queueOn (database, namespace) {
  const q = new NodeResque.Queue({ connection: { host: '127.0.0.1', port: server.port, database, namespace, options: { password: PASSWORD } } })
  await q.connect()
  return q
}

/**
 * Starts `w`, enqueues a digest job through node-resque on db `database`
 * under `namespace`, and waits for its outcome. Resolves to the outcome and
 * whether the Rust loop ran it.
 */
async function runOne (w, { database, namespace, out, text }) {
  const errors = []
  w.on('error', (err) => errors.push(err))
  await w.connect()
  await w.start()
  const rust = w.nativeLoop
  const q = await queueOn(database, namespace)
  let outcome
  try {
    const done = Promise.race([nextEvent(w, 'success').then(([, , result]) => ({ result })), nextEvent(w, 'failure').then(([, , error]) => ({ error }))])
    await q.enqueue(Q, 'digest', [{ input: { base64: Buffer.from(text).toString('base64') }, output: { key: out } }])
    outcome = await done
  } finally {
    // Also when no outcome came (a slot that cannot reach Redis retries until it is stopped).
    await w.end()
    await q.end()
  }
  assert.deepEqual(errors, [], 'no error events')
  return { ...outcome, rust }
}

before(async () => {
  server = await startRedis({ requirepass: PASSWORD })
  db0 = server.client()
  db3 = server.client({ db: 3 })
})

after(() => cleanup(() => server?.close()))

describe('an all-native worker reaches Redis as its own client does', () => {
  it('db and password given only in the nested ioredis options', LIMIT, async () => {
    await db0.flushall()
    const w = new Worker({
      connection: { host: '127.0.0.1', port: server.port, namespace: 'nested', options: { db: 3, password: PASSWORD } },
      queues: [Q],
      timeout: 50,
      name: 'nested-1'
    }, jobs)
    const { result, error, rust } = await runOne(w, { database: 3, namespace: 'nested', out: 'out:nested', text: 'three' })
    assert.equal(error, undefined)
    assert.equal(rust, true, 'the Rust loop ran it')
    assert.equal(result, sha256('three'), 'the digest')
    // Claimed from db 3, output and counts written there; nothing in db 0.
    assert.equal(await db3.get('out:nested'), sha256('three'))
    assert.equal(await db3.llen(`nested:queue:${Q}`), 0)
    assert.equal(await db3.get('nested:stat:processed'), '1')
    assert.equal(await db3.get('nested:stat:failed'), null)
    assert.deepEqual(await db0.keys('*'), [], 'db 0 untouched')
  })

  it('a client passed as { redis } with its own db, user and password', LIMIT, async () => {
    await db0.flushall()
    await db0.call('ACL', 'SETUSER', 'jobs', 'on', '>jobs-pw', '~*', '&*', '+@all')
    const client = new Redis({ host: '127.0.0.1', port: server.port, db: 3, username: 'jobs', password: 'jobs-pw' })
    client.on('error', () => {})
    try {
      // The top-level options say db 0 and no password: the client's own win.
      const w = new Worker({ connection: { redis: client, namespace: 'given', database: 0 }, queues: [Q], timeout: 50, name: 'given-1' }, jobs)
      const { result, error, rust } = await runOne(w, { database: 3, namespace: 'given', out: 'out:given', text: 'client' })
      assert.equal(error, undefined)
      assert.equal(rust, true)
      assert.equal(result, sha256('client'), 'the digest')
      assert.equal(await db3.get('out:given'), sha256('client'))
      assert.equal(await db3.get('given:stat:processed'), '1')
      assert.deepEqual(await db0.keys('*'), [])
    } finally {
      client.disconnect()
      await db0.call('ACL', 'DELUSER', 'jobs')
    }
  })

  it('a client with a keyPrefix runs the JS loop, whose reads and writes the client prefixes', LIMIT, async () => {
    await db0.flushall()
    const client = new Redis({ host: '127.0.0.1', port: server.port, db: 3, password: PASSWORD, keyPrefix: 'app:' })
    client.on('error', () => {})
    try {
      assert.match(loopTarget(client).unsupported, /keyPrefix/)
      const w = new Worker({ connection: { redis: client, namespace: 'pfx' }, queues: [Q], timeout: 50, name: 'pfx-1' }, jobs)
      assert.equal(w.nativeLoop, true, 'before it connects, only its jobs are known')
      const { result, error, rust } = await runOne(w, { database: 3, namespace: 'app:pfx', out: 'out:pfx', text: 'prefixed' })
      assert.equal(error, undefined)
      assert.equal(rust, false, 'the JS loop ran it')
      assert.equal(result, sha256('prefixed'), 'the digest')
      assert.equal(await db3.get('app:out:pfx'), sha256('prefixed'), 'the output key under the prefix')
      assert.equal(await db3.get('app:pfx:stat:processed'), '1')
    } finally {
      client.disconnect()
    }
  })

  it('names what the Rust loop cannot use', () => {
    const c = (options, extra = {}) => ({ options, ...extra })
    assert.deepEqual(loopTarget(c({ host: 'h', port: 1, db: 3, password: 'p' })), { url: 'redis://:p@h:1/3', keyPrefix: '' })
    assert.deepEqual(loopTarget(c({ path: '/tmp/redis.sock' })), { unsupported: 'a Unix socket connection' })
    assert.deepEqual(loopTarget(c({ tls: {} })), { unsupported: 'a TLS connection' })
    // An ioredis Cluster: its startup nodes (before it has connected), with its redisOptions' credentials.
    const cluster = (options, startupNodes) => c(options, { isCluster: true, startupNodes })
    assert.deepEqual(loopTarget(cluster({ redisOptions: { username: 'u', password: 'p' } }, [7000, 'h:7001', { host: '::1', port: 7002 }])), {
      url: 'redis://u:p@127.0.0.1:7000/0',
      nodes: ['redis://u:p@127.0.0.1:7000/0', 'redis://u:p@h:7001/0', 'redis://u:p@[::1]:7002/0'],
      keyPrefix: ''
    })
    assert.deepEqual(loopTarget(cluster({ redisOptions: { tls: {} } }, [7000])), { unsupported: 'a TLS connection' })
    assert.deepEqual(loopTarget(cluster({ natMap: { '10.0.0.1:7000': { host: 'h', port: 1 } } }, [7000])).unsupported.startsWith("a Cluster client's natMap"), true)
    assert.match(loopTarget(cluster({ keyPrefix: 'x:' }, [7000])).unsupported, /keyPrefix/)
  })
})

describe('an empty namespace, as node-resque lays it out', () => {
  it('an all-native worker claims what a node-resque Queue enqueued with namespace \'\'', LIMIT, async () => {
    await db0.flushall()
    const w = new Worker({ connection: { ...server.connection(''), database: 3 }, queues: [Q], timeout: 50, name: 'top-1' }, jobs)
    const { result, error, rust } = await runOne(w, { database: 3, namespace: '', out: 'out:top', text: 'top' })
    assert.equal(error, undefined)
    assert.equal(rust, true)
    assert.equal(result, sha256('top'), 'the digest')
    assert.equal(await db3.get('out:top'), sha256('top'))
    assert.equal(await db3.llen(`queue:${Q}`), 0)
    assert.equal(await db3.get('stat:processed'), '1')
    assert.equal(await db3.get('stat:processed:top-1'), null, 'unregistered: its own count went with it')
    // Nothing under ':' (the Rust key builder's old layout) nor under 'resque'.
    const stray = (await db3.keys('*')).filter((k) => k.startsWith(':') || k.startsWith('resque'))
    assert.deepEqual(stray, [])
  })

  it('the Rust ping thread of a JS-loop worker pings under a keyPrefix and an empty namespace', LIMIT, async () => {
    await db0.flushall()
    const client = new Redis({ host: '127.0.0.1', port: server.port, db: 3, password: PASSWORD, keyPrefix: 'app:' })
    client.on('error', () => {})
    const w = new Worker({ connection: { redis: client, namespace: '' }, queues: [Q], timeout: 50, name: 'pinger', nativeLoop: false }, jobs)
    const errors = []
    w.on('error', (err) => errors.push(err))
    try {
      await w.connect()
      await w.start()
      // The Rust thread found the worker's own first ping (else it says so with
      // an error event and the JS thread pings): its pings carry `rusque`.
      let ping = null
      for (let i = 0; i < 100 && !(ping && ping.rusque); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        ping = JSON.parse(await db3.get('app:worker:ping:pinger'))
      }
      assert.ok(ping && ping.rusque, 'a ping from the Rust thread at app:worker:ping:pinger')
      assert.deepEqual(await db3.keys('app::*'), [])
      await w.end()
      assert.deepEqual(errors, [])
    } finally {
      client.disconnect()
    }
  })
})
