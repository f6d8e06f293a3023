'use strict'

// Workers on a real Redis Cluster (three primaries; three more replicas for
// the failover case), started by helpers/redis.js startCluster(). A
// namespace with a hash tag ('{resque}') keeps every key of the queue in one
// slot, so the scripts of both loops run there; native jobs' input and output
// keys live in other slots, on other nodes, and are read and written outside
// the scripts. A namespace without a tag is refused at connect().

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const NodeResque = require('node-resque')
const { Worker, native, metadata } = require('..')
const { nativeTarget } = require('../lib/resque/redis-target')
const { startCluster, usePrivateCluster } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { nextEvent, collect, waitFor, sleep } = require('./helpers/events')
const { spawnWorker, kill, killAll } = require('./helpers/children')

const NS = '{resque}'
const LIMIT = { timeout: 60000 }
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex')
const digest = native('hash', { algorithm: 'sha256' })

let cluster
let redis
let queue
let n = 0

/** A worker on the shared Cluster client under `NS`, its errors kept. */
function worker (options, jobs) {
  const w = new Worker({ connection: { redis, namespace: NS }, timeout: 50, ...options }, jobs)
  w.errors = []
  w.on('error', (err) => w.errors.push(err))
  return w
}

/** A node-resque Queue on `client` under `NS`, connected. */
async function queueOn (client) {
  const q = new NodeResque.Queue({ connection: { redis: client, namespace: NS } })
  q.on('error', () => {})
  await q.connect()
  return q
}

/** A node-resque Scheduler on the cluster, under `NS`, started. */
async function startScheduler () {
  const scheduler = new NodeResque.Scheduler({ connection: { redis, namespace: NS }, timeout: 50 })
  scheduler.on('error', () => {})
  await scheduler.connect()
  await scheduler.start()
  return scheduler
}

/** Every key under the namespace, from every primary: [{ key, port }]. */
async function namespaceKeys () {
  const out = []
  for (const node of redis.nodes('master')) {
    for (const key of await node.keys(`${NS}:*`)) out.push({ key, port: node.options.port })
  }
  return out
}

/**
 * Keys named `<prefix><i>` on other nodes than the namespace's; with
 * `apart`, each on a node of its own as well.
 */
async function foreignKeys (prefix, count, { apart = false } = {}) {
  const taken = [await cluster.primaryOf(`${NS}:x`)]
  const keys = []
  for (let i = 0; keys.length < count; i++) {
    const key = `${prefix}${i}`
    const node = await cluster.primaryOf(key)
    if (node === taken[0] || (apart && taken.includes(node))) continue
    keys.push(key)
    taken.push(node)
  }
  return keys
}

describe('on a three-node Redis Cluster', LIMIT, () => {
  before(async () => {
    cluster = await startCluster()
    redis = cluster.client()
    queue = await queueOn(redis)
  })
  after(() => cleanup(
    () => killAll(),
    () => queue?.end(),
    () => cluster?.close()
  ))

  it('connect() refuses a namespace without a hash tag with ERR_INVALID_ARG and leaves the client open', async () => {
    for (const namespace of ['resque', '', 'a:{b', '{}resque']) {
      const w = new Worker({ connection: { redis, namespace }, queues: ['q'] }, { digest })
      await assert.rejects(w.connect(), (err) => {
        assert.equal(err.code, 'ERR_INVALID_ARG')
        assert.match(err.message, /hash tag/)
        return true
      }, `namespace ${JSON.stringify(namespace)}`)
      assert.equal(redis.status, 'ready', 'the shared client stays open')
    }
  })

  it('runs JS jobs in the JS loop; every key of the queue is in the namespace\'s slot', async () => {
    const q = `js${++n}`
    const w = worker({ queues: [q] }, { add: async (a, b) => a + b })
    await w.connect()
    await w.start()
    try {
      assert.equal(w.nativeLoop, false)
      const done = collect(w, 'success', 5)
      for (let i = 0; i < 5; i++) await queue.enqueue(q, 'add', [i, 1])
      const results = (await done).map(([, , result]) => result).sort((a, b) => a - b)
      assert.deepEqual(results, [1, 2, 3, 4, 5])
      assert.equal(await redis.get(`${NS}:stat:processed:${w.name}`), '5')
    } finally {
      await w.end()
    }
    const keys = await namespaceKeys()
    assert.ok(keys.some((k) => k.key === `${NS}:stat:processed`), JSON.stringify(keys))
    assert.equal(new Set(keys.map((k) => k.port)).size, 1, `all on one node: ${JSON.stringify(keys)}`)
  })

  it('runs native jobs in the JS loop with input and output keys in other slots', async () => {
    const q = `jsnative${++n}`
    const [input, output] = await foreignKeys(`in:${q}:`, 2)
    const data = crypto.randomBytes(1000)
    await redis.set(input, data)
    const w = worker({ queues: [q], nativeLoop: false }, { digest })
    await w.connect()
    await w.start()
    try {
      assert.equal(w.nativeLoop, false)
      const done = nextEvent(w, 'success')
      await queue.enqueue(q, 'digest', [{ input: { key: input }, output: { key: output } }])
      const [, , result] = await done
      assert.equal(result, sha256(data))
      assert.equal(await redis.get(output), sha256(data))
    } finally {
      await w.end()
    }
  })

  it('runs an all-native worker in the Rust loop: inputs and outputs in other slots, small and large', async () => {
    const q = `rust${++n}`
    const [small, large, out1, out2] = await foreignKeys(`k:${q}:`, 4)
    const smallData = crypto.randomBytes(100)
    const largeData = crypto.randomBytes(200 * 1024) // past the step's prefetch: read with plain GETs anyway
    await redis.set(small, smallData)
    await redis.set(large, largeData)
    const w = worker({ queues: [q], concurrency: 2 }, { digest })
    await w.connect()
    assert.ok(nativeTarget(redis).nodes.length >= 3, 'the Rust side is given the cluster\'s nodes')
    await w.start()
    try {
      assert.equal(w.nativeLoop, true)
      const done = collect(w, 'success', 3)
      await queue.enqueue(q, 'digest', [{ input: { key: small }, output: { key: out1, ttl: 60 } }])
      await queue.enqueue(q, 'digest', [{ input: { key: large }, output: { key: out2 } }])
      await queue.enqueue(q, 'digest', [{ input: { base64: Buffer.from('abc').toString('base64') } }])
      const results = (await done).map(([, , result]) => result).sort()
      assert.deepEqual(results, [sha256(smallData), sha256(largeData), sha256('abc')].sort())
      assert.equal(await redis.get(out1), sha256(smallData))
      assert.ok((await redis.ttl(out1)) > 0, 'the output ttl is kept')
      assert.equal(await redis.get(out2), sha256(largeData))
      // A missing input fails the job as it does on one server.
      const failed = nextEvent(w, 'failure')
      await queue.enqueue(q, 'digest', [{ input: { key: `${small}:none` } }])
      const [, , err] = await failed
      assert.equal(err.code, 'ERR_INPUT_NOT_FOUND')
      assert.equal(await redis.get(`${NS}:stat:processed`) > 0, true)
      assert.deepEqual(w.errors, [])
    } finally {
      await w.end()
    }
    assert.deepEqual(await redis.smembers(`${NS}:workers`), [], 'the slots unregistered')
    const failed = (await redis.lrange(`${NS}:failed`, 0, -1)).map((f) => JSON.parse(f)).filter((f) => f.queue === q)
    assert.equal(failed.length, 1)
    assert.equal(failed[0].exception, 'ERR_INPUT_NOT_FOUND')
  })

  it('the Rust loop fails a job whose output the output key\'s node refuses, and goes on', async () => {
    const q = `oom${++n}`
    const [full, fine] = await foreignKeys(`o:${q}:`, 2, { apart: true })
    const node = await cluster.primaryOf(full)
    const nodeClient = cluster.nodeClient(node)
    const w = worker({ queues: [q] }, { digest })
    await w.connect()
    await w.start()
    try {
      assert.equal(w.nativeLoop, true)
      // That node takes no more writes (out of memory); the queue's node and the other are fine.
      await nodeClient.config('SET', 'maxmemory', '1')
      const failed = nextEvent(w, 'failure')
      await queue.enqueue(q, 'digest', [{ input: { base64: 'YWJj' }, output: { key: full } }])
      const [, , err] = await failed
      assert.equal(err.code, 'ERR_REDIS_REJECTED')
      assert.match(err.message, /Redis refused to store the output at key .*OOM/)
      await nodeClient.config('SET', 'maxmemory', '0')
      const done = nextEvent(w, 'success')
      await queue.enqueue(q, 'digest', [{ input: { base64: 'YWJj' }, output: { key: fine } }])
      await done
      assert.equal(await redis.get(fine), sha256('abc'))
      assert.equal(await redis.exists(full), 0)
    } finally {
      await nodeClient.config('SET', 'maxmemory', '0')
      await w.end()
    }
  })

  it('a JS loop worker pings from a Rust thread on the cluster', async () => {
    const q = `ping${++n}`
    const w = worker({ queues: [q], timeout: 100 }, { add: async (a, b) => a + b })
    await w.connect()
    await w.start()
    try {
      await waitFor(async () => {
        const p = JSON.parse(await redis.get(`${NS}:worker:ping:${w.name}`) || 'null')
        return p && p.rusque && typeof p.rusque.lag === 'number'
      }, { what: 'a ping written by the Rust thread (with the lag field)' })
    } finally {
      await w.end()
    }
    assert.equal(await redis.get(`${NS}:worker:ping:${w.name}`), null)
  })

  it('node-resque\'s Queue and Scheduler work under the tagged namespace', async () => {
    const q = `sched${++n}`
    const scheduler = await startScheduler()
    const w = worker({ queues: [q] }, { digest })
    await w.connect()
    await w.start()
    try {
      const done = nextEvent(w, 'success', { ms: 15000 })
      await queue.enqueueIn(100, q, 'digest', [{ input: { base64: Buffer.from('later').toString('base64') } }])
      assert.equal((await queue.scheduledAt(q, 'digest', [{ input: { base64: Buffer.from('later').toString('base64') } }])).length, 1)
      const [, , result] = await done
      assert.equal(result, sha256('later'))
      assert.equal(w.nativeLoop, true)
      const workers = await queue.workers()
      assert.ok(Object.keys(workers).some((name) => name.startsWith(w.name)), JSON.stringify(workers))
    } finally {
      await w.end()
      await scheduler.end()
    }
  })

  it('runs a native job\'s Retry plugin in the Rust loop: delayed by the Scheduler, then failed', async () => {
    const q = `retry${++n}`
    const scheduler = await startScheduler()
    const retried = native('hash', {}, { plugins: ['Retry'], pluginOptions: { Retry: { retryLimit: 2, retryDelay: 100 } } })
    const w = worker({ queues: [q] }, { retried })
    await w.connect()
    await w.start()
    try {
      assert.equal(w.nativeLoop, true)
      const reEnqueued = nextEvent(w, 'reEnqueue', { ms: 15000 })
      const failed = nextEvent(w, 'failure', { ms: 15000 })
      const [missing] = await foreignKeys(`gone:${q}:`, 1)
      await queue.enqueue(q, 'retried', [{ input: { key: missing } }])
      const [, , { remainingAttempts }] = await reEnqueued
      assert.equal(remainingAttempts, 1)
      const [, , err] = await failed
      assert.equal(err.code, 'ERR_INPUT_NOT_FOUND')
    } finally {
      await w.end()
      await scheduler.end()
    }
    const filed = (await redis.lrange(`${NS}:failed`, 0, -1)).map((f) => JSON.parse(f)).filter((f) => f.queue === q)
    assert.equal(filed.length, 1)
    assert.deepEqual((await namespaceKeys()).filter((k) => k.key.includes('resque-retry')), [], 'the retry keys are cleaned up')
  })

  it('Connection#getKeys finds the keys on whichever primary holds them', async () => {
    const { Connection } = require('../lib/resque/connection')
    const c = new Connection({ redis, namespace: NS })
    await c.connect()
    await redis.set(`${NS}:stat:probe`, '1')
    // node-resque's own getKeys sends SCAN through the cluster client, to one node of three.
    for (let i = 0; i < 5; i++) assert.ok((await c.getKeys(`${NS}:stat:*`)).includes(`${NS}:stat:probe`))
    c.end()
  })

  it('a JS job survives its SIGKILLed worker: a survivor recovers and runs it', async () => {
    const q = `kill${++n}`
    const child = await spawnWorker({ cluster: cluster.nodes, namespace: NS, queue: q, name: 'doomed', timeout: 100 })
    await queue.enqueue(q, 'slow', ['job-1', 60000])
    await child.waitLine('job ')
    await kill(child)
    const held = JSON.parse(await redis.get(`${NS}:worker:doomed:${q}`))
    assert.deepEqual(held.payload.args, ['job-1', 60000])

    const w = worker({ queues: [q], name: 'survivor', recovery: { staleAfter: 1000, interval: 200 } }, { slow: async (id) => id })
    const recovered = nextEvent(w, 'recover', { ms: 15000 })
    const ran = nextEvent(w, 'success', { ms: 15000 })
    await w.connect()
    await w.start()
    try {
      const [info] = await recovered
      assert.equal(info.worker, 'doomed')
      const [, job, result] = await ran
      assert.deepEqual(job.args, ['job-1', 60000])
      assert.equal(result, 'job-1')
    } finally {
      await w.end()
    }
    assert.equal(await redis.get(`${NS}:worker:doomed:${q}`), null)
    assert.equal(await redis.sismember(`${NS}:workers`, `doomed:${q}`), 0)
  })

  it('a native job survives its SIGKILLed Rust-loop worker: a survivor recovers and runs it', async () => {
    const q = `killnative${++n}`
    const [input, output] = await foreignKeys(`big:${q}:`, 2)
    await redis.set(input, fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'images', '2569067123_aca715a2ee_o.jpg')))
    const child = await spawnWorker({ cluster: cluster.nodes, namespace: NS, queue: q, name: 'doomed-native', native: true })
    // An upscale that takes the pool a while: the worker is killed while it runs.
    const args = [{ input: { key: input }, output: { key: output }, width: 10000, format: 'jpeg', quality: 40 }]
    await queue.enqueue(q, 'resize', args)
    await child.waitLine('job ')
    await kill(child)
    const held = JSON.parse(await redis.get(`${NS}:worker:doomed-native:${q}`))
    assert.deepEqual(held.payload, { class: 'resize', queue: q, args })
    assert.equal(await redis.exists(output), 0, 'killed before its output was written')

    const w = worker({ queues: [q], name: 'survivor-native', recovery: { staleAfter: 1000, interval: 200 } }, { resize: native('resize') })
    const recovered = nextEvent(w, 'recover', { ms: 15000 })
    const ran = nextEvent(w, 'success', { ms: 30000 })
    await w.connect()
    await w.start()
    try {
      assert.equal(w.nativeLoop, true)
      const [info] = await recovered
      assert.equal(info.worker, 'doomed-native')
      await ran
      const meta = await metadata(await redis.getBuffer(output))
      assert.equal(meta.width, 10000)
    } finally {
      await w.end()
    }
    assert.equal(await redis.get(`${NS}:worker:doomed-native:${q}`), null)
  })

  it('a native job left by a dead Rust-loop worker runs when a worker of that name starts again', async () => {
    const q = `resume${++n}`
    const [input, output] = await foreignKeys(`r:${q}:`, 2)
    await redis.set(input, 'resumed')
    const name = `native-${q}`
    const entry = { class: 'digest', queue: q, args: [{ input: { key: input }, output: { key: output } }] }
    // What a Rust-loop slot killed mid-job leaves: its registration and working-on record.
    await redis.sadd(`${NS}:workers`, `${name}:${q}`)
    await redis.set(`${NS}:worker:${name}:${q}`, JSON.stringify({ run_at: new Date().toString(), queue: q, worker: name, payload: entry }))
    const w = worker({ queues: [q], name }, { digest })
    const ran = nextEvent(w, 'success')
    await w.connect()
    await w.start()
    try {
      assert.equal(w.nativeLoop, true)
      const [, , result] = await ran
      assert.equal(result, sha256('resumed'))
      assert.equal(await redis.get(output), sha256('resumed'))
      await waitFor(async () => (await redis.get(`${NS}:worker:${name}:${q}`)) === null, { what: 'the resumed job acked' })
    } finally {
      await w.end()
    }
  })
})

describe('a cluster that requires a password', LIMIT, () => {
  const locked = usePrivateCluster({ requirepass: 'cluster-secret' })

  it('the Rust loop and the ping thread use the Cluster client\'s redisOptions password', async () => {
    const q = 'locked'
    const client = locked.redis
    const queueL = await queueOn(client)
    const errors = []
    const native = new Worker({ connection: { redis: client, namespace: NS }, queues: [q], timeout: 50, name: 'locked-native' }, { digest })
    const js = new Worker({ connection: { redis: client, namespace: NS }, queues: [`${q}-js`], timeout: 100, name: 'locked-js' }, { add: async (a, b) => a + b })
    for (const w of [native, js]) {
      w.on('error', (err) => errors.push(err))
      await w.connect()
      await w.start()
    }
    try {
      assert.equal(native.nativeLoop, true)
      const done = nextEvent(native, 'success')
      await queueL.enqueue(q, 'digest', [{ input: { base64: 'YWJj' } }])
      const [, , result] = await done
      assert.equal(result, sha256('abc'))
      await waitFor(async () => {
        const p = JSON.parse(await client.get(`${NS}:worker:ping:${js.name}`) || 'null')
        return p && p.rusque && typeof p.rusque.lag === 'number'
      }, { what: 'a ping from the JS loop worker\'s Rust thread' })
      assert.deepEqual(errors, [])
    } finally {
      await native.end()
      await js.end()
      await queueL.end()
    }
  })
})

/**
 * The test's own commands during a failover: ioredis may fail one whose
 * connection closed under it ('Connection is closed.'); try it again. (An
 * enqueue tried twice may land twice: a job run twice is not a job lost.)
 */
async function retrying (fn, ms = 20000) {
  const until = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > until) throw err
      await sleep(200)
    }
  }
}

describe('a failover (three primaries, three replicas)', LIMIT, () => {
  const ctx = usePrivateCluster({ replicas: 1 })

  it('loses no job when the primary holding the queue dies and its replica takes over', async () => {
    const q = 'failover'
    const { cluster: big, redis: client } = ctx
    const queueB = await queueOn(client)
    const count = 40
    const inputs = []
    for (let i = 0; i < count; i++) {
      inputs.push(`fin:${i}`)
      await client.set(`fin:${i}`, `payload ${i}`)
    }
    const native = new Worker({ connection: { redis: client, namespace: NS }, queues: [q], timeout: 50, concurrency: 2, name: 'failover-native' }, { digest })
    const js = new Worker({ connection: { redis: client, namespace: NS }, queues: [`${q}-js`], timeout: 50, name: 'failover-js' }, { echo: async (i) => i })
    const jsDone = new Set()
    js.on('success', (queueName, job) => jsDone.add(job.args[0]))
    for (const w of [native, js]) {
      w.on('error', () => {})
      await w.connect()
      await w.start()
    }
    try {
      assert.equal(native.nativeLoop, true)
      const enqueue = async (from, to) => {
        for (let i = from; i < to; i++) {
          await retrying(() => queueB.enqueue(q, 'digest', [{ input: { key: inputs[i] }, output: { key: `fout:${i}` } }]))
          await retrying(() => queueB.enqueue(`${q}-js`, 'echo', [i]))
        }
      }
      await enqueue(0, count / 2)
      // Replicated before the kill: Redis Cluster's replication is asynchronous,
      // and a write the dead primary never passed on is lost whoever wrote it.
      for (const node of client.nodes('master')) await node.call('WAIT', 1, 5000)
      await waitFor(async () => (await client.exists(`fout:${count / 4}`)) === 1, { ms: 20000, what: 'jobs under way' })
      const primary = await big.primaryOf(`${NS}:x`)
      await primary.stop()
      await enqueue(count / 2, count) // through the failover: ioredis waits for the new primary
      await big.waitHealthy()
      await waitFor(async () => {
        const outs = await retrying(() => Promise.all(inputs.map((_, i) => client.get(`fout:${i}`))))
        return outs.every((o, i) => o === sha256(`payload ${i}`)) && jsDone.size === count
      }, { ms: 40000, every: 200, what: 'every job done after the failover' })
      assert.equal(await retrying(() => client.llen(`${NS}:queue:${q}`)), 0)
      assert.deepEqual(await retrying(() => client.lrange(`${NS}:failed`, 0, -1)), [])
    } finally {
      await native.end()
      await js.end()
      await queueB.end()
    }
    await sleep(0)
  })
})
