'use strict'

// A busy JS thread is not a dead worker: the JS loop's pings come from a Rust
// thread of the worker process (lib/resque/alive.js), with the JS thread's lag
// beside them, so a job that blocks the event loop for seconds runs once next
// to a peer with a short staleAfter; a process that is really gone still
// stops pinging, and its job is recovered as before.

const { describe, it, before, after, beforeEach } = require('node:test')
const assert = require('node:assert/strict')
const net = require('net')
const os = require('os')
const path = require('path')
const fs = require('fs')
const Redis = require('ioredis')
const NodeResque = require('node-resque')
const { Worker } = require('..')
const binding = require('../lib/load').load()
const { nativeTarget } = require('../lib/resque/redis-target')
const { startRedis } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { nextEvent, sleep, waitFor } = require('./helpers/events')
const { spawnWorker: spawnChild, kill, killAll } = require('./helpers/children')

const NS = 'resque-alive'
const STALE_AFTER = 2000
let Q = 'q'
let n = 0

let redisServer
let redis
let queue

function connection () {
  return redisServer.connection(NS)
}

function spawnWorker (cfg) {
  return spawnChild({ port: redisServer.port, namespace: NS, queue: Q, ...cfg })
}

/** A worker in this process that recovers dead workers' jobs after STALE_AFTER. */
function peer (queues, jobs = {}) {
  const w = new Worker({ connection: connection(), queues, timeout: 100, name: 'peer', recovery: { staleAfter: STALE_AFTER, interval: 200 } }, jobs)
  w.on('error', () => {})
  return w
}

async function ping (name, r = redis, ns = NS) {
  const raw = await r.get(`${ns}:worker:ping:${name}`)
  return raw === null ? null : JSON.parse(raw)
}

before(async () => {
  redisServer = await startRedis()
  redis = redisServer.client()
  queue = new NodeResque.Queue({ connection: connection() })
  queue.on('error', () => {})
  await queue.connect()
})

after(() => cleanup(
  () => killAll(),
  () => queue?.end(),
  () => redisServer?.close()
))

beforeEach(async () => {
  Q = `q${++n}`
  await redis.flushdb()
})

describe('a JS job that blocks its event loop', () => {
  it('runs exactly once next to a peer with a short staleAfter, and its pings show the lag', async () => {
    const child = await spawnWorker({ name: 'busy', timeout: 200, recovery: false })
    await queue.enqueue(Q, 'block', ['once', 7000])
    await waitFor(async () => (await redis.get(`${NS}:test:runs:once`)) === '1', { what: 'the job to start' })
    const started = Date.now()

    // The peer could run the job too (its definition does not block), so a
    // recovery would show as a second run.
    const w = peer([Q], { block: async (id) => { await redis.incr(`${NS}:test:runs:${id}`); return id } })
    const recovered = []
    w.on('recover', (info) => recovered.push(info))
    await w.connect()
    await w.start()
    // node-resque's Scheduler reads the same pings (their `time`) for its stuck-worker cleanup.
    const scheduler = new NodeResque.Scheduler({ connection: connection(), timeout: 200, stuckWorkerTimeout: STALE_AFTER, name: 'scheduler' })
    scheduler.on('error', () => {})
    const cleaned = []
    scheduler.on('cleanStuckWorker', (name) => cleaned.push(name))
    await scheduler.connect()
    await scheduler.start()

    // Past staleAfter into the block: the ping is fresh, and says the JS thread is late.
    await sleep(STALE_AFTER + 1500 - (Date.now() - started))
    const p = await ping('busy')
    assert.equal(p.name, 'busy')
    assert.equal(p.queues, Q)
    assert.ok(Date.now() - p.time * 1000 < STALE_AFTER, `the ping is fresh (time ${p.time})`)
    assert.ok(p.rusque.lag >= 1000, `the ping records the JS thread's lag: ${JSON.stringify(p)}`)

    assert.equal(await child.waitLine('success ', 15000), 'success ["once",7000]')
    // Give the peer time to act on anything it might have seen.
    await sleep(STALE_AFTER)
    await w.end()
    await scheduler.end()
    assert.deepEqual(recovered, [])
    assert.deepEqual(cleaned, [])
    assert.equal(await redis.get(`${NS}:test:runs:once`), '1')
    assert.equal(await redis.get(`${NS}:stat:processed`), '1')
    assert.equal(await queue.failedCount(), 0)
    assert.equal(await queue.length(Q), 0)
    // Once the JS thread is back, the lag goes back to (about) zero.
    await waitFor(async () => (await ping('busy')).rusque.lag < 500, { what: 'a ping with a small lag' })
    await kill(child)
  })
})

describe('a worker process that is gone', () => {
  it('SIGKILLed mid-job: stops pinging, and its job is recovered within staleAfter', async () => {
    // The peer works another queue: the recovered job stays in Q to be seen.
    const w = peer([`${Q}-other`])
    const recovered = nextEvent(w, 'recover', { ms: 15000, filter: (info) => info.worker === 'doomed' })
    await w.connect()
    await w.start()
    const child = await spawnWorker({ name: 'doomed', timeout: 200, recovery: false })
    await queue.enqueue(Q, 'slow', ['k', 60000])
    await child.waitLine('job ')
    assert.ok((await ping('doomed')).rusque, 'the ping comes from the Rust thread')
    // The peer judges nobody within staleAfter of its own connect.
    await sleep(STALE_AFTER)
    await kill(child)
    const killed = Date.now()
    const [info] = await recovered
    const took = Date.now() - killed
    // Pings carry whole seconds and come every 200 ms; the peer looks every 200 ms.
    assert.ok(took > STALE_AFTER - 1000 && took < STALE_AFTER + 1500, `recovered ${took} ms after the kill`)
    assert.equal(info.action, 'requeue')
    assert.deepEqual(info.job.args, ['k', 60000])
    assert.deepEqual(await queue.queued(Q, 0, -1), [{ class: 'slow', queue: Q, args: ['k', 60000] }])
    assert.equal(await ping('doomed'), null)
    assert.equal(await redis.exists(`${NS}:worker:doomed:${Q}`), 0)
    await w.end()
  })
})

describe('the Rust ping thread', () => {
  it('pings for every slot with a lag field, emits ping events, and lands no ping after end()', async () => {
    const w = new Worker({ connection: connection(), queues: [Q], timeout: 100, name: 'host:1', concurrency: 2 }, {})
    w.on('error', (err) => assert.fail(err))
    await w.connect()
    await w.start()
    // One `ping` event per ping of the Rust thread (every 100 ms here), not one a second.
    const pings = []
    w.on('ping', (time) => pings.push(time))
    await sleep(1000)
    assert.ok(pings.length >= 3, `${pings.length} ping events in 1 s`)
    assert.ok(pings.every((t) => Math.abs(t - Date.now() / 1000) < 3), `ping events carry the ping's time: ${pings}`)
    for (const name of ['host:1', 'host:1#1']) {
      const p = await waitFor(async () => { const v = await ping(name); return v && v.rusque && v }, { what: `a Rust ping for ${name}` })
      assert.equal(p.queues, Q)
      assert.ok(p.rusque.lag < 1000, `an idle JS thread has no lag: ${p.rusque.lag}`)
    }
    await w.end()
    await sleep(400)
    assert.deepEqual(await redis.keys(`${NS}:worker:*`), [])
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [])
  })

  it('re-registers a worker a peer unregistered, as JS pings did', async () => {
    const w = new Worker({ connection: connection(), queues: [Q], timeout: 100, name: 'comeback' }, {})
    w.on('error', (err) => assert.fail(err))
    await w.connect()
    await w.start()
    await redis.srem(`${NS}:workers`, `comeback:${Q}`)
    await waitFor(async () => (await redis.sismember(`${NS}:workers`, `comeback:${Q}`)) === 1, { what: 're-registration' })
    await w.end()
  })

  it('reports a failed ping as an error event, reconnects and pings on', async () => {
    const w = new Worker({ connection: connection(), queues: [Q], timeout: 100, name: 'cut' }, {})
    const errors = []
    w.on('error', (err) => errors.push(err))
    await w.connect()
    await w.start()
    // Cut the ping thread's connection (it names itself rusque-alive).
    const list = await redis.client('LIST')
    const ids = list.split('\n').filter((l) => / name=rusque-alive /.test(l)).map((l) => l.match(/^id=(\d+)/)[1])
    assert.equal(ids.length, 1, list)
    await redis.client('KILL', 'ID', ids[0])
    await waitFor(() => errors.length > 0, { what: 'an error event' })
    assert.equal(errors[0].code, 'ERR_REDIS_UNREACHABLE')
    assert.match(errors[0].message, /ping thread could not ping/)
    const after = Math.round(Date.now() / 1000) + 1
    await waitFor(async () => { const p = await ping('cut'); return p && p.rusque && p.time >= after }, { what: 'pings after the reconnect' })
    await w.end()
  })

  it('reaches the database and key prefix of the client it was given', async () => {
    const client = new Redis({ host: '127.0.0.1', port: redisServer.port, db: 3, keyPrefix: 'pfx:' })
    client.on('error', () => {})
    const w = new Worker({ connection: { redis: client, namespace: NS }, queues: [Q], timeout: 100, name: 'prefixed' }, {})
    w.on('error', (err) => assert.fail(err))
    await w.connect()
    await w.start()
    const db3 = redisServer.client()
    await db3.select(3)
    try {
      const p = await waitFor(async () => { const v = await ping('prefixed', db3, `pfx:${NS}`); return v && v.rusque && v }, { what: 'a Rust ping in db 3 under the prefix' })
      assert.equal(p.name, 'prefixed')
      assert.equal(await redis.exists(`${NS}:worker:ping:prefixed`), 0, 'nothing in db 0')
      await w.end()
      assert.deepEqual(await db3.keys('pfx:*worker*'), [])
    } finally {
      await db3.flushdb()
      client.disconnect()
    }
  })

  it('falls back to JS pings for a client whose options a Rust thread cannot use (a Unix socket)', async () => {
    const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-alive-')), 'redis.sock')
    const relay = net.createServer((c) => {
      const up = net.connect(redisServer.port, '127.0.0.1')
      for (const s of [c, up]) s.on('error', () => {}).on('close', () => { c.destroy(); up.destroy() })
      c.pipe(up).pipe(c)
    })
    await new Promise((resolve) => relay.listen(sock, resolve))
    const client = new Redis({ path: sock })
    client.on('error', () => {})
    try {
      assert.deepEqual(nativeTarget(client), { unsupported: 'a Unix socket connection' })
      const w = new Worker({ connection: { redis: client, namespace: NS }, queues: [Q], timeout: 100, name: 'socketed' }, {})
      w.on('error', (err) => assert.fail(err))
      await w.connect()
      await w.start()
      await nextEvent(w, 'ping')
      await nextEvent(w, 'ping')
      const p = await ping('socketed')
      assert.deepEqual(Object.keys(p).sort(), ['name', 'queues', 'time'], 'node-resque\'s own format, from the JS thread')
      await w.end()
    } finally {
      client.disconnect()
      await new Promise((resolve) => relay.close(resolve))
      fs.rmSync(path.dirname(sock), { recursive: true, force: true })
    }
  })

  it('refuses to start where it does not find the worker\'s own ping (another server or database)', async () => {
    const hb = new binding.Heartbeat({
      url: `redis://127.0.0.1:${redisServer.port}/0`,
      namespace: NS,
      slots: ['nobody'],
      queues: Q,
      everyMs: 100,
      checkInMs: 100,
      expect: '{"time":1,"name":"nobody","queues":"q"}'
    })
    const failed = await hb.start()
    assert.equal(failed.code, 'ERR_INVALID_ARG')
    assert.match(failed.message, /another server or database/)
    await hb.stop()
    await sleep(300)
    assert.equal(await ping('nobody'), null)
  })

  it('maps node-resque\'s connection options, and names what it cannot map', () => {
    const c = (options, extra = {}) => ({ options, ...extra })
    assert.deepEqual(nativeTarget(c({ host: '::1', port: 7000, db: 2, username: 'u', password: 'p w' })), { url: 'redis://u:p%20w@[::1]:7000/2', keyPrefix: '' })
    assert.deepEqual(nativeTarget(c({ host: 'h', port: 1, db: 0, keyPrefix: 'x:' })), { url: 'redis://h:1/0', keyPrefix: 'x:' })
    assert.deepEqual(nativeTarget(c({ tls: {} })), { unsupported: 'a TLS connection' })
    assert.deepEqual(nativeTarget(c({ sentinels: [{ host: 'h', port: 1 }] })), { unsupported: 'a Sentinel client' })
    assert.deepEqual(nativeTarget(c({ keyPrefix: 'x:' }, { isCluster: true, startupNodes: ['h:1'] })), { url: 'redis://h:1/0', nodes: ['redis://h:1/0'], keyPrefix: 'x:' })
    assert.deepEqual(nativeTarget(c({}, { isCluster: true, startupNodes: [] })), { unsupported: 'a Cluster client without nodes' })
  })
})
