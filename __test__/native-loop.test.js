'use strict'

// The Rust fetch-to-ack loop (lib/resque/native-loop.js) against a private
// redis-server, with node-resque's own Queue as the producer.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { EventEmitter, once } = require('node:events')
const NR = require('node-resque')
const { NativeLoop } = require('../lib/resque/native-loop')
const { nativeTarget } = require('../lib/resque/redis-target')
const { metadata } = require('..')
const { RedisServer } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { fixture } = require('./helpers/fixtures')

/**
 * A NativeLoop's url and namespace for node-resque's top-level connection
 * options, through the one mapping of client options (nativeTarget).
 */
function at (c) {
  const options = { host: c.host, port: c.port, db: c.database, username: c.username, password: c.password }
  return { url: nativeTarget({ options }).url, namespace: c.namespace ?? 'resque' }
}

const sha1 = (s) => require('node:crypto').createHash('sha1').update(s).digest('hex')

/** A working-on record for `job` held by slot `worker` on queue img. */
function record (worker, job) {
  return JSON.stringify({ run_at: new Date().toString(), queue: 'img', payload: job, worker })
}

/**
 * Leaves `job` in slot `worker`'s working-on key, as a process that died
 * running it would, with `resumes` earlier resumes counted against it.
 */
async function holdJob (worker, job, resumes = 0) {
  const held = record(worker, job)
  await redis.set(`resque:worker:${worker}:img`, held)
  if (resumes > 0) await redis.hset(`resque:rusque:resumes:${worker}:img`, 'job', sha1(held), 'n', String(resumes))
}

/**
 * What a step Redis runs late leaves behind: `job` claimed into the key of
 * slot `worker`, replacing the record of the job it is running. True if that
 * job was still running (its record still there).
 */
async function claimLate (worker, job) {
  const replace = "if redis.call('GET', KEYS[1]) then redis.call('SET', KEYS[1], ARGV[1]) return 1 end return 0"
  return (await redis.eval(replace, 1, `resque:worker:${worker}:img`, record(worker, job))) === 1
}

let server
let redis
let queue

test.before(async () => {
  server = await new RedisServer().start()
  redis = server.client()
  queue = new NR.Queue({ connection: server.connection() })
  queue.on('error', () => {}) // reconnect noise while the Redis restart test runs
  await queue.connect()
})

test.after(() => cleanup(
  () => queue?.end(),
  () => server?.close()
))

test.beforeEach(async () => { await redis.flushdb() })

function collect (emitter) {
  const seen = { job: [], success: [], failure: [], error: [] }
  for (const k of Object.keys(seen)) emitter.on(k, (...args) => seen[k].push(args))
  return seen
}

async function until (check, ms = 10000) {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const JOBS = {
  thumb: { task: 'resize', defaults: { width: 200, format: 'webp' } },
  digest: { task: 'hash', defaults: { algorithm: 'sha256' } },
  info: { task: 'metadata', defaults: {} }
}

test('native jobs run from claim to ack: outputs, stats, failures, cleanup', async () => {
  await redis.set('in:1', fixture('2569067123_aca715a2ee_o.jpg'))
  await queue.enqueue('img', 'thumb', [{ input: { key: 'in:1' }, output: { key: 'out:1', ttl: 60 }, height: 100 }])
  await queue.enqueue('img', 'digest', [{ input: { base64: Buffer.from('abc').toString('base64') } }])
  await queue.enqueue('img', 'info', [{ input: { key: 'in:1' } }])
  await queue.enqueue('img', 'missing', [{}])
  await redis.rpush('resque:queue:img', '{not json')
  await queue.enqueue('img', 'thumb', [{ input: { key: 'nothing-here' }, output: { key: 'o' } }])

  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['box:1', 'box:1#1'], timeout: 100, jobs: JOBS }, em)
  loop.start()
  await until(async () => (await redis.llen('resque:queue:img')) === 0 && seen.success.length + seen.failure.length === 6)

  // Registered like node-resque workers while running.
  assert.deepEqual((await redis.smembers('resque:workers')).sort(), ['box:1#1:img', 'box:1:img'])
  assert.ok(await redis.get('resque:worker:ping:box:1'))

  const out = await redis.getBuffer('out:1')
  const m = await metadata(out)
  assert.deepEqual([m.format, m.height], ['webp', 100])
  assert.ok((await redis.ttl('out:1')) > 0)

  const hashed = seen.success.find(([, job]) => job.class === 'digest')
  assert.equal(hashed[2], 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  const info = seen.success.find(([, job]) => job.class === 'info')
  assert.equal(info[2].width, 2725)
  const thumb = seen.success.find(([, job]) => job.class === 'thumb')
  assert.deepEqual(thumb[2], { size: out.length, key: 'out:1' })

  assert.equal(await redis.get('resque:stat:processed'), '3')
  assert.equal(await redis.get('resque:stat:failed'), '3')
  const failed = (await redis.lrange('resque:failed', 0, -1)).map((s) => JSON.parse(s))
  assert.equal(failed.length, 3)
  const byError = (re) => failed.find((f) => re.test(f.error))
  const unknown = byError(/No job defined for class "missing"/)
  assert.equal(unknown.payload.class, 'missing')
  assert.equal(unknown.queue, 'img')
  assert.match(unknown.failed_at, /GMT/)
  assert.ok(['box:1', 'box:1#1'].includes(unknown.worker))
  assert.ok(byError(/not valid JSON/))
  assert.equal(byError(/not valid JSON/).payload, '{not json')
  assert.ok(byError(/nothing-here/))
  assert.equal(seen.failure.find(([, , err]) => /nothing-here/.test(err.message))[2].code, 'ERR_INPUT_NOT_FOUND')

  // node-resque's Queue sees the workers and their stats.
  const workers = await queue.workers()
  assert.deepEqual(Object.keys(workers).sort(), ['box:1', 'box:1#1'])

  await loop.end()
  assert.deepEqual(await redis.smembers('resque:workers'), [])
  assert.deepEqual(await redis.keys('resque:worker:*'), [])
})

test('paths must stay inside roots, lexically and after symlinks', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-roots-'))
  const root = path.join(dir, 'root')
  const outside = path.join(dir, 'outside')
  fs.mkdirSync(root)
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(root, 'in.jpg'), fixture('320x240.jpg'))
  fs.writeFileSync(path.join(outside, 'secret.jpg'), fixture('320x240.jpg'))
  fs.symlinkSync(path.join(outside, 'secret.jpg'), path.join(root, 'link.jpg'))

  await queue.enqueue('files', 'thumb', [{ input: { path: path.join(root, 'in.jpg') }, output: { path: path.join(root, 'out.webp') } }])
  await queue.enqueue('files', 'thumb', [{ input: { path: path.join(root, '..', 'outside', 'secret.jpg') }, output: { path: path.join(root, 'x.webp') } }])
  await queue.enqueue('files', 'thumb', [{ input: { path: path.join(root, 'link.jpg') }, output: { path: path.join(root, 'y.webp') } }])
  await queue.enqueue('files', 'thumb', [{ input: { path: path.join(root, 'in.jpg') }, output: { path: path.join(outside, 'z.webp') } }])

  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['files'], slots: ['files:1'], timeout: 100, roots: [root], jobs: JOBS }, em)
  loop.start()
  await until(() => seen.success.length + seen.failure.length === 4)
  await loop.end()

  const out = fs.readFileSync(path.join(root, 'out.webp'))
  assert.equal((await metadata(out)).width, 200)
  assert.equal(seen.failure.length, 3)
  for (const [, , err] of seen.failure) assert.equal(err.code, 'ERR_PATH_OUTSIDE_ROOTS', err.message)
  assert.equal(fs.existsSync(path.join(outside, 'z.webp')), false)
  assert.equal(await redis.llen('resque:failed'), 3)
})

test('a worker SIGKILLed mid-job leaves the job recoverable in its working-on key', async () => {
  // A slow job: a full-size PNG re-encode of the large photo.
  await redis.set('in:big', fixture('2569067123_aca715a2ee_o.jpg'))
  await queue.enqueue('slow', 'thumb', [{ input: { key: 'in:big' }, output: { key: 'out:big' }, width: 2725, format: 'png' }])
  const script = `
    const { EventEmitter } = require('events')
    const { NativeLoop } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'resque', 'native-loop.js'))})
    const em = new EventEmitter()
    em.on('job', () => console.log('job'))
    new NativeLoop({ ...${JSON.stringify(at(server.connection()))}, queues: ['slow'], slots: ['doomed:1'], timeout: 100,
      jobs: { thumb: { task: 'resize', defaults: {} } } }, em).start()`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUSQUE_THREADS: '1' } })
  await once(child.stdout, 'data')
  child.kill('SIGKILL')
  await once(child, 'exit')

  assert.equal(await redis.llen('resque:queue:slow'), 0, 'the job left the queue')
  assert.equal(await redis.exists('out:big'), 0, 'and never finished')
  const working = JSON.parse(await redis.get('resque:worker:doomed:1:slow'))
  assert.equal(working.queue, 'slow')
  assert.equal(working.worker, 'doomed:1')
  assert.equal(working.payload.class, 'thumb')

  // node-resque's cleanup of a dead worker moves it to failed: nothing vanished.
  await queue.forceCleanWorker('doomed:1')
  const failed = (await redis.lrange('resque:failed', 0, -1)).map((s) => JSON.parse(s))
  assert.equal(failed.length, 1)
  assert.equal(failed[0].payload.class, 'thumb')
})

test('Redis going away: error events, reconnect, jobs still complete', async () => {
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['r'], slots: ['r:1'], timeout: 50, jobs: JOBS }, em)
  loop.start()
  await queue.enqueue('r', 'digest', [{ input: { base64: 'eA==' } }])
  await until(() => seen.success.length === 1)
  await server.stop({ save: true })
  await new Promise((resolve) => setTimeout(resolve, 300))
  await server.start()
  await until(() => seen.error.length > 0)
  const q2 = new NR.Queue({ connection: server.connection() })
  await q2.connect()
  await q2.enqueue('r', 'digest', [{ input: { base64: 'eQ==' } }])
  await until(() => seen.success.length === 2, 15000)
  await q2.end()
  await loop.end()
  assert.match(seen.error[0][0].message, /Redis/)
  assert.equal(seen.error[0][0].code, 'ERR_REDIS_UNREACHABLE')
})

test('one step per job: large and small key inputs, keys of another type, ack before success', async () => {
  const crypto = require('node:crypto')
  const big = crypto.randomBytes(300 * 1024)
  const small = crypto.randomBytes(4096)
  await redis.set('big', big)
  await redis.set('small', small)
  await redis.rpush('a-list', 'x') // GET on a list is a Redis error: the job fails, the worker goes on
  await queue.enqueue('img', 'digest', [{ input: { key: 'big' }, output: { key: 'd:big' } }])
  await queue.enqueue('img', 'digest', [{ input: { key: 'a-list' } }])
  for (let i = 0; i < 20; i++) await queue.enqueue('img', 'digest', [{ input: { key: 'small' }, output: { key: `d:${i}`, ttl: 60 } }])

  const em = new EventEmitter()
  const seen = collect(em)
  // When `success` fires, the job is already acked: Redis counts it.
  const countedAtSuccess = []
  em.on('success', () => { countedAtSuccess.push(redis.get('resque:stat:processed')) })
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['one'], timeout: 100, jobs: JOBS }, em)
  loop.start()
  await until(async () => seen.success.length + seen.failure.length === 22)
  await loop.end()

  const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')
  assert.equal(await redis.get('d:big'), sha(big))
  for (let i = 0; i < 20; i++) assert.equal(await redis.get(`d:${i}`), sha(small))
  assert.ok((await redis.ttl('d:7')) > 0)
  assert.equal(seen.success.length, 21)
  // Events carry the payload parsed, as node-resque's do.
  assert.deepEqual(seen.success[0][1], { class: 'digest', queue: 'img', args: [{ input: { key: 'big' }, output: { key: 'd:big' } }] })
  // Durations are whole milliseconds, as node-resque (and the JS loop) report them.
  for (const [, , , duration] of seen.success) assert.ok(Number.isInteger(duration) && duration >= 0, `duration ${duration}`)
  for (const [, , , duration] of seen.failure) assert.ok(Number.isInteger(duration) && duration >= 0, `duration ${duration}`)
  const counts = (await Promise.all(countedAtSuccess)).map(Number)
  counts.forEach((c, i) => assert.ok(c >= i + 1, `success #${i + 1} fired when Redis counted ${c}`))

  const [wrongType] = seen.failure
  assert.equal(wrongType[2].code, 'ERR_INVALID_ARG')
  assert.match(wrongType[2].message, /a-list.*WRONGTYPE/)
  const failed = (await redis.lrange('resque:failed', 0, -1)).map((s) => JSON.parse(s))
  assert.equal(failed.length, 1)
  assert.match(failed[0].error, /WRONGTYPE/)
  assert.equal(await redis.get('resque:stat:processed'), '21')
  assert.equal(await redis.get('resque:stat:failed'), '1')
})

test('a job left in a slot\'s working-on key runs again when that slot starts', async () => {
  // An earlier process of the same name died holding this job.
  const job = { class: 'digest', queue: 'img', args: [{ input: { base64: Buffer.from('abc').toString('base64') }, output: { key: 'left' } }] }
  await holdJob('same-name', job)
  await queue.enqueue('img', 'digest', [{ input: { base64: Buffer.from('next').toString('base64') }, output: { key: 'next' } }])
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['same-name'], timeout: 100, jobs: JOBS }, em)
  loop.start()
  await until(async () => seen.success.length === 2)
  await loop.end()
  assert.equal(await redis.get('left'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  assert.ok(await redis.get('next'))
  assert.deepEqual(seen.success[0][1], job)
  assert.equal(await redis.get('resque:stat:processed'), '2')
  assert.equal(await redis.exists('resque:worker:same-name:img'), 0)
  assert.equal(await redis.exists('resque:rusque:resumes:same-name:img'), 0)
})

test('a job left behind by a worker that kept dying is filed in failed, not re-run forever', async () => {
  const job = { class: 'digest', queue: 'img', args: [{ input: { base64: 'YWJj' }, output: { key: 'never' } }] }
  // Resumed 5 times already, each start died running it (the count is per job).
  await holdJob('crashy', job, 5)
  await queue.enqueue('img', 'digest', [{ input: { base64: 'YWJj' }, output: { key: 'next' } }])
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['crashy'], timeout: 100, jobs: JOBS }, em)
  loop.start()
  await until(() => seen.success.length === 1 && seen.failure.length === 1)
  await loop.end()
  assert.equal(await redis.exists('never'), 0)
  assert.ok(await redis.get('next'))
  const [failed] = (await redis.lrange('resque:failed', 0, -1)).map((x) => JSON.parse(x))
  assert.deepEqual(failed.payload, job)
  assert.match(failed.error, /stopped 6 times while running this job/)
  assert.equal(seen.failure[0][2].code, 'ERR_INTERNAL')
  assert.equal(await redis.exists('resque:rusque:resumes:crashy:img'), 0)
})

test('a job resumed 4 times before still runs a fifth time', async () => {
  const job = { class: 'digest', queue: 'img', args: [{ input: { base64: 'YWJj' }, output: { key: 'fifth' } }] }
  await holdJob('unlucky', job, 4)
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['unlucky'], timeout: 100, jobs: JOBS }, em)
  loop.start()
  await until(() => seen.success.length === 1)
  await loop.end()
  assert.equal(seen.failure.length, 0)
  assert.equal(await redis.get('fifth'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  assert.equal(await redis.exists('resque:rusque:resumes:unlucky:img'), 0)
})

test('end() while Redis restarts mid-job: the held job is finished and acked once Redis is back', async () => {
  await redis.set('in:big', fixture('2569067123_aca715a2ee_o.jpg'))
  // A slow job (a large PNG), so the restart lands while it runs.
  await queue.enqueue('img', 'thumb', [{ input: { key: 'in:big' }, output: { key: 'out:big' }, width: 2400, format: 'png' }])
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['blip'], timeout: 100, jobs: JOBS }, em)
  loop.start()
  await until(async () => (await redis.get('resque:worker:blip:img')) !== null)
  await server.stop({ save: true })
  await server.start()
  await loop.end()
  const m = await metadata(await redis.getBuffer('out:big'))
  assert.deepEqual([m.format, m.width], ['png', 2400])
  assert.equal(await redis.get('resque:stat:processed'), '1')
  assert.equal(await redis.exists('resque:worker:blip:img'), 0)
  assert.deepEqual(await redis.smembers('resque:workers'), [])
  assert.ok(seen.error.length > 0, 'the outage was reported')
})

test('a listener that throws becomes an error event; end() still resolves', async () => {
  await queue.enqueue('img', 'digest', [{ input: { base64: 'YWJj' } }])
  const em = new EventEmitter()
  const errors = []
  em._error = (err) => errors.push(err) // the Worker's error path
  em.on('success', () => { throw new Error('listener bug') })
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['thrower'], timeout: 100, jobs: JOBS }, em)
  loop.start()
  await until(() => errors.some((e) => e.message === 'listener bug'))
  await loop.end()
  assert.equal(await redis.get('resque:stat:processed'), '1')
})

test('Redis refusing the output (an ACL) fails that job; the slot goes on', async () => {
  await redis.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~resque:*', '~mine:*', '+@all')
  try {
    await queue.enqueue('img', 'digest', [{ input: { base64: 'YWJj' }, output: { key: 'elsewhere:1' } }])
    await queue.enqueue('img', 'digest', [{ input: { base64: 'YWJj' }, output: { key: 'mine:1' } }])
    const em = new EventEmitter()
    const seen = collect(em)
    const loop = new NativeLoop({ ...at({ ...server.connection(), username: 'limited', password: 'pw' }), queues: ['img'], slots: ['acl'], timeout: 100, jobs: JOBS }, em)
    loop.start()
    await until(() => seen.success.length + seen.failure.length === 2)
    await loop.end()
    assert.equal(seen.job.length, 2, 'each job ran once')
    // The server's fault, not the job's.
    assert.equal(seen.failure[0][2].code, 'ERR_REDIS_REJECTED')
    assert.match(seen.failure[0][2].message, /Redis refused to store the output at key "elsewhere:1": .*can't access/)
    const [failed] = (await redis.lrange('resque:failed', 0, -1)).map((s) => JSON.parse(s))
    assert.equal(failed.payload.args[0].output.key, 'elsewhere:1')
    assert.equal(await redis.get('mine:1'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    assert.equal(await redis.get('resque:stat:processed'), '1')
    assert.equal(await redis.get('resque:stat:failed'), '1')
  } finally {
    await redis.call('ACL', 'DELUSER', 'limited')
  }
})

test('edge shapes: an empty output key is written, a queue of another type is skipped, an unreadable working-on value is filed', async () => {
  await redis.set('resque:queue:broken', 'not a list')
  await queue.enqueue('img', 'digest', [{ input: { base64: 'YWJj' }, output: { key: '' } }])
  await redis.set('resque:worker:edge:broken,img', '{"not":"a record"')
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['broken', 'img'], slots: ['edge'], timeout: 100, jobs: JOBS }, em)
  loop.start()
  await until(() => seen.success.length === 1)
  await loop.end()
  assert.equal(await redis.get(''), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  const failed = (await redis.lrange('resque:failed', 0, -1)).map((s) => JSON.parse(s))
  assert.equal(failed.length, 1)
  assert.equal(failed[0].exception, 'InvalidPayload')
  assert.match(failed[0].error, /unreadable working-on value/)
  assert.equal(failed[0].payload, '{"not":"a record"')
  assert.equal(await redis.get('resque:queue:broken'), 'not a list')
})

test('failed records can be found again by node-resque (whole numbers written as 100, not 100.0)', async () => {
  await redis.rpush('resque:queue:img', '{"class":"digest","queue":"img","args":[{"input":{"key":"missing"},"n":100.0}]}')
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['floats'], timeout: 100, jobs: JOBS }, em)
  loop.start()
  await until(() => seen.failure.length === 1)
  await loop.end()
  const [record] = await queue.failed(0, 0)
  assert.equal(record.payload.args[0].n, 100)
  await queue.retryAndRemoveFailed(record)
  assert.equal(await redis.llen('resque:failed'), 0)
  assert.equal(await redis.llen('resque:queue:img'), 1)
})

for (const twins of [false, true]) for (const mode of ['reply', 'request']) {
  const what = twins ? ' (the next job\'s record is byte-identical)' : ''
  test(`the step acking a job loses its ${mode}${what}: that job's success is sent once, and no job is lost`, async () => {
    // The first job's ack rides on the step that claims the second: the
    // first request that names the first job's output key. Twins are the
    // same entry twice, claimed in the same second: only the step's id tells
    // a step sent again from a new one.
    const proxy = await server.cuttingProxy('lost-reply:1', mode)
    try {
      const outputs = twins ? ['lost-reply:1', 'lost-reply:1'] : ['lost-reply:1', 'lost-reply:2']
      for (const key of outputs) await queue.enqueue('img', 'digest', [{ input: { base64: 'YWJj' }, output: { key } }])
      const em = new EventEmitter()
      const seen = collect(em)
      const loop = new NativeLoop({ ...at({ host: '127.0.0.1', port: proxy.port }), queues: ['img'], slots: ['cut'], timeout: 50, jobs: JOBS }, em)
      if (twins) await new Promise((resolve) => setTimeout(resolve, 1050 - (Date.now() % 1000)))
      loop.start()
      try {
        await until(() => seen.success.length >= 2)
        await new Promise((resolve) => setTimeout(resolve, 300)) // and no third one
      } finally {
        await loop.end()
      }
      assert.equal(proxy.armed, false, 'the connection was cut')
      assert.ok(seen.error.length >= 1, 'the lost connection was reported')
      const keys = seen.success.map(([, job]) => job.args[0].output.key).sort()
      assert.deepEqual(keys, outputs)
      assert.equal(await redis.get('resque:stat:processed'), '2')
      for (const key of outputs) assert.equal(await redis.get(key), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
      assert.equal(await redis.exists('resque:worker:cut:img'), 0)
      assert.equal(await redis.exists('resque:rusque:cycle:cut:img'), 0, 'the step id key goes with the slot')
    } finally {
      await proxy.close()
    }
  })
}

test('a copy of an acking step that Redis runs late, while the slot runs an identical job, changes nothing', async () => {
  // Three identical jobs claimed in the same second share one working-on
  // record. The step acking the first loses its reply; the slot sends it
  // again. A copy of that step then reaches Redis while the third job runs
  // (as a step sent on a connection that timed out can): by its record
  // alone it would ack the third job, which would then never be counted,
  // and a fourth identical job's record would be deleted by the slot's ack.
  await redis.set('big', Buffer.alloc(24 << 20, 7))
  const proxy = await server.cuttingProxy('late-out', 'reply')
  try {
    for (let i = 0; i < 4; i++) await queue.enqueue('img', 'digest', [{ input: { key: 'big' }, output: { key: 'late-out' } }])
    const em = new EventEmitter()
    const seen = collect(em)
    let sentLate = null
    let heldThen = null
    em.on('job', () => {
      if (seen.job.length !== 3) return
      sentLate = (async () => {
        heldThen = await redis.get('resque:worker:late:img')
        return new Promise((resolve, reject) => {
          const sock = require('node:net').connect(server.port, '127.0.0.1', () => sock.write(proxy.captured))
          sock.on('data', (d) => { sock.destroy(); resolve(String(d)) })
          sock.on('error', reject)
        })
      })()
    })
    const loop = new NativeLoop({ ...at({ host: '127.0.0.1', port: proxy.port }), queues: ['img'], slots: ['late'], timeout: 50, jobs: JOBS }, em)
    await new Promise((resolve) => setTimeout(resolve, 1020 - (Date.now() % 1000)))
    loop.start()
    try {
      await until(() => seen.success.length >= 4 && sentLate !== null)
      // The copy, refused as stale (a nil reply), ran while the slot held a
      // record byte-identical to the one it acks.
      assert.equal(await sentLate, '$-1\r\n')
      assert.ok(heldThen !== null && proxy.captured.includes(heldThen), 'the held record was the acked one, byte for byte')
      await new Promise((resolve) => setTimeout(resolve, 300))
    } finally {
      await loop.end()
    }
    assert.equal(proxy.armed, false, 'the connection was cut')
    assert.equal(seen.job.length, 4, 'each job ran once')
    assert.equal(seen.success.length, 4)
    assert.equal(await redis.get('resque:stat:processed'), '4')
    assert.equal(await redis.llen('resque:queue:img'), 0)
    assert.equal(await redis.exists('resque:worker:late:img'), 0)
  } finally {
    await proxy.close()
    await redis.del('big')
  }
})

test('a resume count lost with the connection is taken again on reconnect', async () => {
  const job = { class: 'digest', queue: 'img', args: [{ input: { base64: 'YWJj' }, output: { key: 'never-again' } }] }
  await holdJob('recount', job, 5)
  // The first request that names the counter never reaches Redis.
  const proxy = await server.cuttingProxy('rusque:resumes', 'request')
  try {
    const em = new EventEmitter()
    const seen = collect(em)
    const loop = new NativeLoop({ ...at({ host: '127.0.0.1', port: proxy.port }), queues: ['img'], slots: ['recount'], timeout: 50, jobs: JOBS }, em)
    loop.start()
    try {
      await until(() => seen.failure.length === 1)
    } finally {
      await loop.end()
    }
    assert.equal(proxy.armed, false, 'the connection was cut')
    assert.equal(seen.failure[0][2].code, 'ERR_INTERNAL')
    assert.match(seen.failure[0][2].message, /stopped 6 times/)
    assert.equal(await redis.exists('never-again'), 0, 'the job did not run')
  } finally {
    await proxy.close()
  }
})

test('an ack never deletes a job that a late step claimed into the slot\'s key: the slot runs that job next', async () => {
  // A step sent on a connection that timed out can run after the slot
  // reconnected; here its claim is written by hand while the slot's own job runs.
  await redis.set('in:slow', fixture('2569067123_aca715a2ee_o.jpg'))
  await queue.enqueue('img', 'thumb', [{ input: { key: 'in:slow' }, output: { key: 'out:slow' }, width: 2400, format: 'png' }])
  const late = { class: 'digest', queue: 'img', args: [{ input: { base64: 'YWJj' }, output: { key: 'out:late' } }] }
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['cas'], timeout: 50, jobs: JOBS }, em)
  loop.start()
  try {
    await until(() => seen.job.length === 1)
    assert.equal(await claimLate('cas', late), true, 'the first job was still running')
    await until(() => seen.success.length === 2, 60000)
  } finally {
    await loop.end()
  }
  assert.ok(await redis.exists('out:slow'))
  assert.equal(await redis.get('out:late'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  assert.deepEqual(seen.success[1][1], late)
  assert.equal(await redis.exists('resque:worker:cas:img'), 0)
  // The first ack found another record, so it did not count: in the real case
  // the late step that claimed that record had counted the first job.
  assert.equal(await redis.get('resque:stat:processed'), '1')
})

test('a failing job\'s record is not deleted either when a late step claimed another job into the key', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-cas-'))
  await redis.set('in:slow', fixture('2569067123_aca715a2ee_o.jpg'))
  // Slow, then fails: the output directory does not exist (checked once the image is made).
  await queue.enqueue('img', 'thumb', [{ input: { key: 'in:slow' }, output: { path: path.join(root, 'missing', 'x.png') }, width: 2400, format: 'png' }])
  const late = { class: 'digest', queue: 'img', args: [{ input: { base64: 'YWJj' }, output: { key: 'out:late-f' } }] }
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['cas-f'], timeout: 50, roots: [root], jobs: JOBS }, em)
  loop.start()
  try {
    await until(() => seen.job.length === 1)
    assert.equal(await claimLate('cas-f', late), true, 'the first job was still running')
    await until(() => seen.failure.length === 1 && seen.success.length === 1, 60000)
  } finally {
    await loop.end()
    fs.rmSync(root, { recursive: true, force: true })
  }
  assert.equal(seen.failure[0][2].code, 'ERR_OUTPUT_NOT_FOUND')
  assert.deepEqual(seen.success[0][1], late)
  assert.equal(await redis.get('out:late-f'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  assert.equal(await redis.exists('resque:worker:cas-f:img'), 0)
})

test('a slot unregistered by a survivor\'s recovery (after a stall) registers again at its next ping', async () => {
  const em = new EventEmitter()
  const seen = collect(em)
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['stalled'], timeout: 50, jobs: JOBS }, em)
  loop.start()
  try {
    await until(async () => (await redis.sismember('resque:workers', 'stalled:img')) === 1)
    // What a survivor's recovery (or the Scheduler's forceCleanWorker) leaves behind.
    await redis.multi().srem('resque:workers', 'stalled:img').del('resque:worker:ping:stalled').exec()
    await until(async () => (await redis.sismember('resque:workers', 'stalled:img')) === 1)
    assert.ok(await redis.get('resque:worker:ping:stalled'))
    // Jobs it claims from now on are visible to recovery again.
    await queue.enqueue('img', 'digest', [{ input: { base64: 'YWJj' }, output: { key: 'after-stall' } }])
    await until(() => seen.success.length === 1)
  } finally {
    await loop.end()
  }
  assert.equal(await redis.get('after-stall'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  assert.equal(await redis.sismember('resque:workers', 'stalled:img'), 0, 'unregistered at end()')
})

test('a slot keeps its ping fresh while a long job runs on the pool', async () => {
  await redis.set('in:long', fixture('2569067123_aca715a2ee_o.jpg'))
  await queue.enqueue('img', 'thumb', [{ input: { key: 'in:long' }, output: { key: 'out:long' }, width: 2400, format: 'png' }])
  await redis.config('SET', 'notify-keyspace-events', 'K$')
  const sub = server.client()
  const pings = []
  sub.on('message', () => pings.push(Date.now()))
  await sub.subscribe('__keyspace@0__:resque:worker:ping:pinger')
  try {
    const em = new EventEmitter()
    const seen = collect(em)
    let doneAt = 0
    em.on('success', () => { doneAt = Date.now() })
    const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['pinger'], timeout: 50, jobs: JOBS }, em)
    loop.start()
    await until(() => seen.success.length === 1, 60000)
    await loop.end()
    const [[, , , duration]] = seen.success
    // The success event comes after the ack, up to a few ms after the job ended.
    const during = pings.filter((t) => t >= doneAt - duration && t <= doneAt)
    // One ping per 50 ms while the job ran (a slot pinged only between jobs before).
    assert.ok(during.length >= Math.floor(duration / 50) - 2, `${during.length} pings during a ${Math.round(duration)} ms job`)
    assert.ok(duration > 150, `the job took ${duration} ms`)
  } finally {
    await sub.quit()
    await redis.config('SET', 'notify-keyspace-events', '')
  }
})

test('a success listener added just before a job is pushed gets its event, however soon the job is claimed', async () => {
  const { execFileSync } = require('node:child_process')
  const em = new EventEmitter()
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['eager'], timeout: 10, jobs: JOBS }, em)
  // start() resolves after the slot's first poll; the slot goes on once the
  // JS thread has had a turn (setImmediate), which the synchronous poll below
  // would never give it: let that turn pass first.
  await loop.start()
  await new Promise((resolve) => setImmediate(resolve))
  await until(async () => (await redis.sismember('resque:workers', 'eager:img')) === 1)
  const successes = []
  em.on('success', (q, job, result) => successes.push(result))
  // The job reaches Redis in this same tick, and this thread then stays busy
  // (a synchronous redis-cli poll, no timer) until the Rust loop has claimed,
  // run and acked it: the event mask must already say `success` by then.
  redis.rpush('resque:queue:img', JSON.stringify({ class: 'digest', queue: 'img', args: [{ input: { base64: 'YWJj' } }] }))
  const cli = ['-p', String(server.port), 'GET', 'resque:stat:processed']
  for (let i = 0; execFileSync('redis-cli', cli, { encoding: 'utf8' }).trim() !== '1'; i++) assert.ok(i < 2000, 'the job was never acked')
  await until(() => successes.length === 1, 3000)
  assert.equal(successes[0], 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  await loop.end()
})

test('a success listener added while the job runs gets its event (the mask is read when the success is sent)', async () => {
  await redis.set('in:big', fixture('2569067123_aca715a2ee_o.jpg'))
  const em = new EventEmitter()
  // Full size to PNG: the encode keeps the job running for a while.
  const jobs = { slow: { task: 'resize', defaults: { width: 2725, format: 'png' } } }
  const loop = new NativeLoop({ ...at(server.connection()), queues: ['img'], slots: ['slow'], timeout: 10, jobs }, em)
  loop.start()
  await queue.enqueue('img', 'slow', [{ input: { key: 'in:big' }, output: { key: 'out:big' } }])
  await until(async () => (await redis.exists('resque:worker:slow:img')) === 1)
  assert.equal(await redis.exists('out:big'), 0, 'the job is still running when the listener is added')
  const got = []
  em.on('success', (...args) => got.push(args))
  await until(() => got.length === 1, 20000)
  const [, job, result] = got[0]
  assert.equal(job.class, 'slow')
  assert.equal(result.key, 'out:big')
  assert.equal(result.size, (await redis.getBuffer('out:big')).length)
  await loop.end()
})

test('event kinds are the Rust list, and the JS loop handles every one', () => {
  const binding = require('../lib/load').load()
  const { KIND } = require('../lib/resque/native-loop')
  const { kinds } = binding.eventKinds()
  assert.deepEqual(kinds, ['start', 'job', 'success', 'failure', 'end', 'pause', 'error', 'ready', 'reEnqueue', 'noop'])
  assert.deepEqual(Object.keys(KIND), kinds)
  // Every kind but `start` (which needs nothing) has its own case in the dispatcher.
  const src = require('node:fs').readFileSync(require.resolve('../lib/resque/native-loop'), 'utf8')
  for (const k of kinds.filter((k) => k !== 'start')) assert.match(src, new RegExp(`case KIND\\.${k}:`), k)
})
