'use strict'

// Remote calls: rusque.remote() on this process, Workers with remoteJobs()
// in processes of their own (helpers/worker-child.js), a private Redis.
// Results equal the local calls' byte for byte, errors carry their codes,
// calls time out and abort, survive a worker SIGKILLed mid-burst, settle
// when Redis restarts, and leave no key behind.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const rusque = require('..')
const { remote, remoteJobs, RusqueError } = rusque
const { startRedis } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { fixture } = require('./helpers/fixtures')
const { spawnWorker, kill, killAll } = require('./helpers/children')

const JPEG = fixture('320x240.jpg') // has EXIF, ICC and XMP blocks
const BIG = fixture('2569067123_aca715a2ee_o.jpg') // 2725x2225
const PNG = fixture('swiss.png')

let server
let redis
let n = 0

/** A namespace of its own for each describe(), so key counts are its own. */
function namespace () {
  return `rt${++n}`
}

/**
 * Every key under `ns` but the workers' own bookkeeping (their registration,
 * pings, counters, step ids and the set of queues): what calls left behind,
 * whatever its name (inputs, replies, entries, failed jobs...), and how many
 * entries `queue` still holds.
 */
const BOOKKEEPING = /^[^:]+:(workers|queues|connection_test_key|worker:.*|stat:.*|rusque:cycle:.*)$/
async function leftovers (ns, queue = 'rusque') {
  const keys = (await redis.keys(`${ns}:*`)).filter((k) => !BOOKKEEPING.test(k)).sort()
  return { keys, queued: await redis.llen(`${ns}:queue:${queue}`) }
}

/** CPU time (clock ticks) a process has used: evidence that a child is working. */
function cpuTicks (pid) {
  const fields = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime, stime
}

async function until (check, ms = 20000) {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** What a promise settles to: { value } or { error }. */
function settle (p) {
  return p.then((value) => ({ value }), (error) => ({ error }))
}

before(async () => {
  server = await startRedis()
  redis = server.client()
})

after(() => cleanup(() => killAll(), () => server?.close()))

describe('a remote call resolves to what the local call does', () => {
  const ns = namespace()
  let worker
  let caller
  before(async () => {
    // A poll interval longer than any call's timeout: each call here is
    // claimed because its caller wakes the idle slots, not by a poll.
    worker = await spawnWorker({ port: server.port, namespace: ns, queue: 'rusque', name: 'answers', remote: true, concurrency: 2, timeout: 600000 })
    caller = remote({ connection: server.connection(ns), timeout: 20000 })
  })
  after(() => cleanup(() => caller?.close(), () => worker && kill(worker)))

  it('resize, metadata and hash: the same bytes and values', async () => {
    const overlay = await rusque.resize(PNG, { width: 40 })
    const cases = [
      ['resize', JPEG, { width: 100 }],
      ['resize', BIG, { width: 720, height: 588, quality: 80 }],
      ['resize', JPEG, { width: 64, format: 'png', resolveWithObject: true }],
      ['resize', JPEG, { width: 120, composite: [{ input: overlay, gravity: 'southeast' }], format: 'webp' }],
      ['metadata', JPEG, undefined],
      ['metadata', PNG, {}],
      ['hash', BIG, undefined],
      ['hash', JPEG, 'md5'],
      ['hash', JPEG, { algorithm: 'blake3' }]
    ]
    for (const [task, input, options] of cases) {
      const [there, here] = await Promise.all([caller[task](input, options), rusque[task](input, options)])
      assert.deepStrictEqual(there, here, `${task} ${JSON.stringify(options)}`)
      if (task === 'resize' && !options.resolveWithObject) assert.ok(Buffer.isBuffer(there) && there.length > 100)
    }
    const meta = await caller.metadata(JPEG)
    assert.ok(Buffer.isBuffer(meta.exif) && Buffer.isBuffer(meta.icc) && Buffer.isBuffer(meta.xmp), 'the profile blocks travel as bytes')
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 })
  })

  it('a failed task rejects with the local call\'s code and message; bad options fail before anything is sent', async () => {
    const cases = [
      [fixture('truncated.jpg'), { width: 50 }],
      [fixture('corrupt-header.jpg'), { width: 50 }],
      [Buffer.from('not an image at all'), { width: 50 }],
      [BIG, { width: 50, limitInputPixels: 1000 }]
    ]
    const codes = []
    for (const [input, options] of cases) {
      const [there, here] = await Promise.all([settle(caller.resize(input, options)), settle(rusque.resize(input, options))])
      assert.ok(here.error instanceof RusqueError, 'the local call fails')
      assert.ok(there.error instanceof RusqueError, `the remote call fails as the local one: ${there.error}`)
      assert.equal(there.error.code, here.error.code)
      assert.equal(there.error.message, here.error.message)
      codes.push(there.error.code)
    }
    assert.ok(codes.includes('ERR_LIMIT_EXCEEDED') && codes.includes('ERR_UNSUPPORTED_FORMAT'), codes.join())
    const before = await redis.get(`${ns}:stat:processed`)
    for (const bad of [{ width: -1 }, { widht: 5 }]) {
      await assert.rejects(caller.resize(JPEG, bad), { code: 'ERR_INVALID_ARG' })
    }
    await assert.rejects(caller.hash(JPEG, 'sha3'), { code: 'ERR_INVALID_ARG' })
    await assert.rejects(caller.resize('not bytes', {}), { code: 'ERR_INVALID_ARG' })
    assert.equal(await redis.get(`${ns}:stat:processed`), before, 'no job ran')
    assert.equal((await redis.lrange(`${ns}:failed`, 0, -1)).length, 0, 'a call\'s failure is its answer, not a failed job')
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 })
  })

  it('an overlay named by key or path is refused by the caller, and by a worker given such an entry by hand', async () => {
    await redis.set('secret', PNG)
    const binding = require('../lib/load').load()
    for (const [i, input] of [{ key: 'secret' }, { path: '/etc/passwd' }].entries()) {
      const options = { width: 50, composite: [{ input }] }
      await assert.rejects(caller.resize(JPEG, options), { code: 'ERR_INVALID_ARG', message: /^composite\[0\]\.input: a path, key or base64/ })
      // The same call written by hand: the worker answers it with the error and reads no overlay.
      const call = `byhand${i}`
      await redis.set(`${ns}:rusque:call:${call}`, JPEG)
      await redis.rpush(`${ns}:queue:rusque`, JSON.stringify({ class: 'rusque:resize', queue: 'rusque', args: [{ call, reply: 'handwritten', ttl: 30, options }] }))
      await redis.publish(binding.remoteWakeChannel(ns, 'rusque'), '')
      const [, reply] = await redis.blpopBuffer(`${ns}:rusque:reply:handwritten`, 20)
      const newline = reply.indexOf(10)
      const head = JSON.parse(reply.subarray(0, newline).toString())
      assert.equal(head.call, call)
      assert.equal(head.error && head.error.code, 'ERR_INVALID_ARG', `answered with ${JSON.stringify(head)}`)
      assert.match(head.error.message, /^composite\[0\]\.input: a path, key or base64/)
      assert.equal(reply.length, newline + 1, 'no image in the reply')
    }
    await redis.del('secret')
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 })
  })

  it('a call given up after its answer was pushed, before it was popped, removes the answer', async () => {
    for (const [task, input, options] of [['resize', JPEG, { width: 60 }], ['metadata', JPEG, {}], ['hash', PNG, { algorithm: 'md5' }]]) {
      const idle = remote({ connection: server.connection(ns), timeout: 20000 })
      // No reply is ever popped: the answer waits in the list when the call is given up.
      idle._wait = async () => {}
      try {
        const ac = new AbortController()
        const call = settle(idle[task](input, { ...options, signal: ac.signal }))
        await until(async () => (await redis.llen(`${ns}:rusque:reply:${idle.id}`)) === 1)
        ac.abort()
        assert.equal((await call).error.name, 'AbortError')
        await until(async () => (await redis.exists(`${ns}:rusque:reply:${idle.id}`)) === 0, 5000)
      } finally {
        await idle.close()
      }
    }
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 })
  })

  it('the input is copied before the call returns, as a local call copies it', async () => {
    const mine = Buffer.from(JPEG)
    const call = caller.resize(mine, { width: 80 })
    mine.fill(0) // the caller reuses its buffer at once
    assert.deepStrictEqual(await call, await rusque.resize(JPEG, { width: 80 }))
  })

  it('takes an ioredis client as a Worker does, and leaves it open on close()', async () => {
    const client = server.client()
    const shared = remote({ connection: { redis: client, namespace: ns } })
    assert.equal(await shared.hash(PNG, 'sha512'), await rusque.hash(PNG, 'sha512'))
    await shared.close()
    assert.equal(await client.ping(), 'PONG', 'the shared client still works')
    await assert.rejects(shared.hash(PNG), { code: 'ERR_NOT_CONNECTED' })
  })

  it('no Redis, or a client it cannot share keys through: coded errors', async () => {
    const closed = new (require('./helpers/redis').RedisServer)()
    await closed.start()
    const port = closed.port
    await closed.close()
    const nowhere = remote({ connection: { host: '127.0.0.1', port } })
    await assert.rejects(nowhere.hash(JPEG), { code: 'ERR_REDIS_UNREACHABLE' })
    await nowhere.close()
    const Redis = require('ioredis')
    const prefixed = new Redis({ port: server.port, keyPrefix: 'app:', lazyConnect: true })
    const withPrefix = remote({ connection: { redis: prefixed, namespace: ns } })
    await assert.rejects(withPrefix.hash(JPEG), { code: 'ERR_INVALID_ARG', message: /keyPrefix/ })
    await withPrefix.close()
    prefixed.disconnect()
    const cluster = new Redis.Cluster([{ host: '127.0.0.1', port: server.port }], { lazyConnect: true })
    const clustered = remote({ connection: { redis: cluster, namespace: ns } })
    await assert.rejects(clustered.hash(JPEG), { code: 'ERR_INVALID_ARG', message: /Redis Cluster/ })
    await clustered.close()
    assert.equal(cluster.status, 'wait', 'not even connected')
    cluster.disconnect()
    // Redis refuses the send (here a queue key of another type; also maxmemory, an ACL).
    await redis.set(`${ns}:queue:notalist`, 'x')
    const refused = remote({ connection: server.connection(ns), queue: 'notalist' })
    await assert.rejects(refused.hash(JPEG), { code: 'ERR_REDIS_REJECTED', message: /^could not send the remote hash: WRONGTYPE/ })
    await refused.close()
    await redis.del(`${ns}:queue:notalist`)
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 }, 'its input was deleted all the same')
    // The command connection opens, the reply connection cannot: the call
    // fails with a code, and the reply connection is not left retrying.
    const client = server.client()
    let attempts = 0
    client.duplicate = (options) => {
      const dead = new Redis({ port, ...options })
      dead.on('error', () => {})
      dead.on('connecting', () => attempts++)
      return dead
    }
    const halfway = remote({ connection: { redis: client, namespace: ns } })
    await assert.rejects(halfway.hash(JPEG), { code: 'ERR_REDIS_UNREACHABLE', message: /connection for replies/ })
    await assert.rejects(halfway.hash(JPEG), { code: 'ERR_REDIS_UNREACHABLE' })
    await halfway.close()
    const tried = attempts
    assert.equal(tried, 2, 'one attempt per call')
    // ioredis retries after 50, 100, 150... ms unless disconnected.
    await new Promise((resolve) => setTimeout(resolve, 600))
    assert.equal(attempts, tried, 'the reply connections were not left retrying')
    client.disconnect()
  })

  it('an input over maxInputBytes is refused before it is sent', async () => {
    const small = remote({ connection: server.connection(ns), maxInputBytes: 1000 })
    try {
      await assert.rejects(small.hash(JPEG), { code: 'ERR_LIMIT_EXCEEDED', message: /maxInputBytes \(1000\)/ })
      assert.equal(await small.hash(JPEG.subarray(0, 1000)), await rusque.hash(JPEG.subarray(0, 1000)))
    } finally {
      await small.close()
    }
    assert.throws(() => remote({ maxInputBytes: 0 }), { code: 'ERR_INVALID_ARG' })
    assert.throws(() => remote({ timeout: -5 }), { code: 'ERR_INVALID_ARG' })
    // Over 2^31-1 ms Node would fire the timer after 1 ms.
    assert.throws(() => remote({ timeout: 2 ** 31 }), { code: 'ERR_INVALID_ARG', message: /at most 2147483647/ })
    assert.throws(() => remote({ timeout: Infinity }), { code: 'ERR_INVALID_ARG' })
    const longest = remote({ connection: server.connection(ns), timeout: 2 ** 31 - 1 })
    try {
      await assert.rejects(longest.hash(JPEG, { algorithm: 'md5', timeout: 2 ** 31 }), { code: 'ERR_INVALID_ARG', message: /at most 2147483647/ })
      assert.equal(await longest.hash(JPEG, 'md5'), await rusque.hash(JPEG, 'md5'), 'the longest timeout does not fire at once')
    } finally {
      await longest.close()
    }
  })

  it('the queue entry is node-resque\'s shape, under the documented class, the input in a key of its own', async () => {
    const spy = remote({ connection: server.connection(ns), queue: 'nobody', timeout: 5000 })
    const call = settle(spy.hash(JPEG, { algorithm: 'md5' }))
    await until(async () => (await redis.llen(`${ns}:queue:nobody`)) === 1)
    const entry = JSON.parse(await redis.lindex(`${ns}:queue:nobody`, 0))
    assert.equal(entry.class, 'rusque:hash')
    assert.equal(entry.queue, 'nobody')
    assert.deepStrictEqual(Object.keys(entry.args[0]).sort(), ['call', 'options', 'reply', 'ttl'])
    assert.deepStrictEqual(entry.args[0].options, { algorithm: 'md5' })
    const input = `${ns}:rusque:call:${entry.args[0].call}`
    assert.deepStrictEqual(await redis.getBuffer(input), JPEG, 'the bytes, not base64 in the entry')
    assert.ok((await redis.pttl(input)) > 0, 'the input expires')
    await spy.close()
    assert.equal((await call).error.code, 'ERR_NOT_CONNECTED')
    assert.deepStrictEqual(await leftovers(ns, 'nobody'), { keys: [], queued: 0 })
    assert.deepStrictEqual(Object.keys(remoteJobs()), ['rusque:resize', 'rusque:metadata', 'rusque:hash'])
    assert.equal(require('../resque').remoteJobs, remoteJobs)
  })
})

describe('a MultiWorker with remoteJobs() answers calls too', () => {
  const ns = namespace()
  it('resolves as the local call, in the Rust loop of its workers', async () => {
    const multi = new rusque.MultiWorker({ connection: server.connection(ns), queues: ['rusque'], minTaskProcessors: 1, maxTaskProcessors: 1, timeout: 50 }, remoteJobs())
    multi.on('error', () => {})
    const caller = remote({ connection: server.connection(ns) })
    try {
      await multi.start()
      assert.deepStrictEqual(await caller.metadata(PNG), await rusque.metadata(PNG))
      assert.ok(multi.workers.length >= 1 && multi.workers.every((w) => w.nativeLoop), 'its workers run the Rust loop')
    } finally {
      await caller.close()
      await multi.end()
    }
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 })
  })
})

describe('remoteJobs(limits): a worker\'s limits on the calls it answers', () => {
  const ns = namespace()
  it('maxInputBytes for every call; pixel limits as a resize\'s defaults and ceilings', async () => {
    assert.throws(() => remoteJobs({ bogus: 1 }), { code: 'ERR_INVALID_ARG', message: /unknown limit "bogus"/ })
    assert.throws(() => remoteJobs({ maxInputBytes: 0 }), { code: 'ERR_INVALID_ARG', message: /maxInputBytes/ })
    assert.throws(() => remoteJobs({ limitInputPixels: -1 }), { code: 'ERR_INVALID_ARG' })
    assert.throws(() => remoteJobs(null), { code: 'ERR_INVALID_ARG' })
    const worker = new rusque.Worker({ connection: server.connection(ns), queues: ['rusque'], timeout: 50 }, remoteJobs({ maxInputBytes: PNG.length, limitInputPixels: 1000 }))
    worker.on('error', () => {})
    const caller = remote({ connection: server.connection(ns), timeout: 20000 })
    try {
      await worker.connect()
      await worker.start()
      assert.equal(worker.nativeLoop, true)
      assert.equal(await caller.hash(PNG, 'md5'), await rusque.hash(PNG, 'md5'), 'an input of maxInputBytes')
      await assert.rejects(caller.hash(Buffer.concat([PNG, Buffer.alloc(1)])), { code: 'ERR_LIMIT_EXCEEDED', message: /maxInputBytes/ })
      const local = await settle(rusque.resize(PNG, { width: 10, limitInputPixels: 1000 }))
      await assert.rejects(caller.resize(PNG, { width: 10 }), { code: 'ERR_LIMIT_EXCEEDED', message: local.error.message })
      await assert.rejects(caller.resize(PNG, { width: 10, limitInputPixels: 5000 }), { code: 'ERR_INVALID_ARG', message: /ceiling of 1000/ })
    } finally {
      await caller.close()
      await worker.end()
    }
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 })
  })
})

describe('spill: true runs calls here while the pool has a free thread', () => {
  const ns = namespace()
  it('calls beyond the pool\'s threads go to the fleet (here: a queue nobody serves, so they time out)', async () => {
    const threads = rusque.poolInfo().threads
    const spill = remote({ connection: server.connection(ns), queue: 'nobody', timeout: 300, spill: true })
    try {
      assert.equal(await spill.hash(JPEG, 'md5'), await rusque.hash(JPEG, 'md5'), 'an idle pool runs it here')
      const calls = Array.from({ length: threads + 2 }, () => settle(spill.resize(BIG, { width: 300 })))
      const outcomes = await Promise.all(calls)
      const local = await rusque.resize(BIG, { width: 300 })
      assert.deepStrictEqual(outcomes.slice(0, threads).map((o) => o.value), Array(threads).fill(local), 'one per free thread ran here')
      assert.deepStrictEqual(outcomes.slice(threads).map((o) => o.error && o.error.code), ['ERR_TIMEOUT', 'ERR_TIMEOUT'], 'the rest were sent')
    } finally {
      await spill.close()
    }
    assert.deepStrictEqual(await leftovers(ns, 'nobody'), { keys: [], queued: 0 })
    assert.throws(() => remote({ spill: 'yes' }), { code: 'ERR_INVALID_ARG' })
  })
})

describe('a Worker that would run the JS loop refuses remoteJobs()', () => {
  const ns = namespace()
  it('at construction (JS jobs, nativeLoop: false, a wildcard), or at connect (a keyPrefix): callers are not left waiting', async () => {
    const connection = server.connection(ns)
    for (const [options, jobs] of [
      [{ queues: ['rusque'] }, { ...remoteJobs(), other: async () => 1 }],
      [{ queues: ['rusque'], nativeLoop: false }, remoteJobs()],
      [{ queues: '*' }, remoteJobs()]
    ]) {
      assert.throws(() => new rusque.Worker({ connection, ...options }, jobs), { code: 'ERR_INVALID_ARG', message: /^rusque:resize, rusque:metadata, rusque:hash: remote calls are answered by the Rust loop only/ })
    }
    const Redis = require('ioredis')
    const prefixed = new Redis({ port: server.port, keyPrefix: 'app:', lazyConnect: true })
    for (const connectFirst of [true, false]) {
      const worker = new rusque.Worker({ connection: { redis: prefixed, namespace: ns }, queues: ['rusque'] }, remoteJobs())
      const errors = []
      worker.on('error', (err) => errors.push(err))
      try {
        if (connectFirst) await assert.rejects(worker.connect(), { code: 'ERR_INVALID_ARG', message: /cannot use this connection: an ioredis keyPrefix/ })
        await worker.start() // reports it once, and does not retry
        assert.deepStrictEqual(errors.map((e) => e.code), ['ERR_INVALID_ARG'])
        assert.equal(worker.started, false)
      } finally {
        await worker.end()
      }
    }
    prefixed.disconnect()
    // node-resque's own Worker (or any JS loop given them anyway) fails such a job with a coded error.
    const perform = remoteJobs()['rusque:hash'].perform
    assert.throws(() => perform(), { code: 'ERR_INVALID_ARG', message: /Rust loop only/ })
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 })
  })
})

describe('giving up: timeout and abort leave nothing behind', () => {
  const ns = namespace()
  let caller
  before(() => { caller = remote({ connection: server.connection(ns), queue: 'idle', timeout: 300 }) })
  after(() => caller?.close())

  it('ERR_TIMEOUT when no worker answers; the entry and input are removed', async () => {
    await assert.rejects(caller.resize(JPEG, { width: 10 }), { code: 'ERR_TIMEOUT', name: 'RusqueError' })
    await assert.rejects(caller.hash(JPEG, { algorithm: 'md5', timeout: 50 }), { code: 'ERR_TIMEOUT' })
    assert.deepStrictEqual(await leftovers(ns, 'idle'), { keys: [], queued: 0 })
  })

  it('AbortError before the call is claimed removes it from the queue', async () => {
    const already = AbortSignal.abort()
    await assert.rejects(caller.metadata(JPEG, { signal: already }), { name: 'AbortError', code: 'ABORT_ERR' })
    const ac = new AbortController()
    const call = caller.resize(JPEG, { width: 10, signal: ac.signal, timeout: 20000 })
    await until(async () => (await redis.llen(`${ns}:queue:idle`)) === 1)
    ac.abort()
    await assert.rejects(call, { name: 'AbortError' })
    await until(async () => (await redis.llen(`${ns}:queue:idle`)) === 0)
    assert.deepStrictEqual(await leftovers(ns, 'idle'), { keys: [], queued: 0 })
  })
})

describe('abort while a worker runs the call', () => {
  const ns = namespace()
  let worker
  let caller
  before(async () => {
    worker = await spawnWorker({ port: server.port, namespace: ns, queue: 'rusque', name: 'stopper', remote: true })
    caller = remote({ connection: server.connection(ns), timeout: 60000 })
  })
  after(() => cleanup(() => caller?.close(), () => worker && kill(worker)))

  it('the running task is told to stop, and no answer is left', async () => {
    const ac = new AbortController()
    // A long resize: a 4x upscale, encoded as PNG.
    const call = caller.resize(BIG, { width: 10900, format: 'png', limitOutputPixels: false, signal: ac.signal })
    await worker.waitLine('job ', 20000)
    // On the pool: the worker has spent half a second of CPU since it
    // claimed the call (reading the input costs a few ms; decoding it more).
    const claimed = cpuTicks(worker.pid)
    await until(() => cpuTicks(worker.pid) - claimed >= 50, 60000)
    ac.abort()
    await assert.rejects(call, { name: 'AbortError' })
    // The worker stops the running task and acks the job without an answer.
    const line = await worker.waitLine('result ', 60000)
    const result = JSON.parse(line.slice('result '.length))
    assert.equal(result.error && result.error.code, 'ABORT_ERR', `the task was stopped, not completed nor unstarted: ${line}`)
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 })
    assert.equal(await redis.keys(`${ns}:worker:stopper:*`).then((k) => k.filter((x) => !x.endsWith(':started')).length), 0, 'the job was acked')
  })
})

describe('a worker SIGKILLed mid-burst', () => {
  const ns = namespace()
  let caller
  after(() => cleanup(() => caller?.close(), () => killAll()))

  it('recovery requeues its calls and every call still resolves', async () => {
    const recovery = { staleAfter: 1500, interval: 200 }
    const doomed = await spawnWorker({ port: server.port, namespace: ns, queue: 'rusque', name: 'doomed', remote: true, concurrency: 2, recovery })
    caller = remote({ connection: server.connection(ns), timeout: 60000 })
    const inputs = [BIG, JPEG, BIG, PNG, BIG, JPEG, BIG, PNG, BIG, JPEG]
    const options = { width: 720, height: 588 }
    const calls = inputs.map((input) => caller.resize(input, options))
    await doomed.waitLine('job ', 20000)
    await kill(doomed)
    // It polls every 10 minutes: the dead worker's calls reach it when its
    // recovery requeues them and wakes it, or by its claims while busy.
    const survivor = await spawnWorker({ port: server.port, namespace: ns, queue: 'rusque', name: 'survivor', remote: true, concurrency: 2, recovery, timeout: 600000 })
    const results = await Promise.all(calls)
    const local = await Promise.all(inputs.map((input) => rusque.resize(input, options)))
    results.forEach((r, i) => assert.deepStrictEqual(r, local[i], `call ${i}`))
    assert.ok(survivor.lines.some((l) => l === 'recover doomed' || l.startsWith('recover doomed')), `the survivor recovered the dead worker's job: ${survivor.lines.filter((l) => l.startsWith('recover'))}`)
    assert.deepStrictEqual(await leftovers(ns), { keys: [], queued: 0 })
  })
})

describe('Redis restarting mid-call', () => {
  let own
  let worker
  let caller
  after(() => cleanup(() => caller?.close(), () => worker && kill(worker), () => own?.close()))

  it('the waiting call rejects with ERR_REDIS_UNREACHABLE when the link drops; later calls work', async () => {
    own = await startRedis()
    const ns = namespace()
    worker = await spawnWorker({ port: own.port, namespace: ns, queue: 'rusque', name: 'restarts', remote: true })
    caller = remote({ connection: { ...own.connection(ns), options: { retryStrategy: () => 100 } }, timeout: 4000 })
    const call = settle(caller.resize(BIG, { width: 6000, format: 'png', limitOutputPixels: false }))
    await worker.waitLine('job ', 20000)
    await own.stop()
    // The task (seconds of work) is still running: the lost reply
    // connection fails the call now, not at its timeout.
    const outcome = await call
    assert.equal(outcome.error && outcome.error.code, 'ERR_REDIS_UNREACHABLE', String(outcome.error))
    assert.match(outcome.error.message, /closed while this remote resize waited/)
    await own.start()
    assert.equal(await caller.hash(JPEG, { timeout: 20000 }), await rusque.hash(JPEG))
  })
})
