'use strict'

// Native jobs through Redis: input from a key, a path or base64, output to a
// key or a path, the CPU part on rusque's pool; paths confined to `roots`.

const { describe, it, before, after, beforeEach } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')
const NodeResque = require('node-resque')
const { Worker, native, metadata } = require('..')
const { startRedis } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { fixture } = require('./helpers/fixtures')
const { nextEvent } = require('./helpers/events')

const NS = 'resque-native'
const Q = 'images'

let redisServer
let redis
let queue
let tmp
let roots
let outside
let worker
let photo // 320x240 JPEG

const jobs = {
  thumbnail: native('resize', { width: 100, format: 'png' }),
  probe: native('metadata'),
  digest: native('hash', { algorithm: 'sha256' })
}

async function run (cls, args, w = worker) {
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { settle(); reject(new Error('no outcome in 10 s')) }, 10000)
    const onSuccess = (q, job, result) => { settle(); resolve({ result }) }
    const onFailure = (q, job, error) => { settle(); resolve({ error }) }
    function settle () {
      clearTimeout(timer)
      w.off('success', onSuccess)
      w.off('failure', onFailure)
    }
    w.on('success', onSuccess)
    w.on('failure', onFailure)
  })
  await queue.enqueue(Q, cls, [args])
  return done
}

before(async () => {
  redisServer = await startRedis()
  redis = redisServer.client()
  queue = new NodeResque.Queue({ connection: redisServer.connection(NS) })
  await queue.connect()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-native-'))
  roots = path.join(tmp, 'roots')
  outside = path.join(tmp, 'outside')
  fs.mkdirSync(path.join(roots, 'in'), { recursive: true })
  fs.mkdirSync(path.join(roots, 'out'), { recursive: true })
  fs.mkdirSync(outside)
  photo = fixture('320x240.jpg')
  fs.writeFileSync(path.join(roots, 'in', 'photo.jpg'), photo)
  fs.writeFileSync(path.join(outside, 'secret.jpg'), photo)
  fs.symlinkSync(path.join(outside, 'secret.jpg'), path.join(roots, 'in', 'link.jpg'))
  fs.symlinkSync(outside, path.join(roots, 'escape'))

  worker = new Worker({ connection: redisServer.connection(NS), queues: [Q], timeout: 100, roots: [roots], concurrency: 4 }, jobs)
  worker.on('error', () => {})
  await worker.connect()
  await worker.start()
})

after(() => cleanup(
  () => worker?.end(),
  () => queue?.end(),
  () => redisServer?.close(),
  () => tmp && fs.rmSync(tmp, { recursive: true, force: true })
))

beforeEach(async () => {
  await redis.del(`${NS}:failed`)
})

describe('native resize', () => {
  it('reads a Redis key and writes a Redis key with a ttl', async () => {
    await redis.set('img:in', photo)
    const { result, error } = await run('thumbnail', { input: { key: 'img:in' }, output: { key: 'img:out', ttl: 60 } })
    assert.equal(error, undefined)
    assert.equal(result.key, 'img:out')
    const out = await redis.getBuffer('img:out')
    assert.equal(result.size, out.length)
    const meta = await metadata(out)
    assert.equal(meta.format, 'png')
    assert.equal(meta.width, 100)
    assert.equal(meta.height, 75)
    const ttl = await redis.ttl('img:out')
    assert.ok(ttl > 0 && ttl <= 60)
  })

  it('reads a path and writes a path inside the roots; job options override the defaults', async () => {
    const target = path.join(roots, 'out', 'thumb.jpg')
    const { result, error } = await run('thumbnail', { input: { path: path.join(roots, 'in', 'photo.jpg') }, output: { path: target }, width: 64, format: 'jpeg' })
    assert.equal(error, undefined)
    assert.equal(result.path, fs.realpathSync(target))
    const meta = await metadata(fs.readFileSync(target))
    assert.equal(meta.format, 'jpeg')
    assert.equal(meta.width, 64)
    assert.equal(meta.height, 48)
    assert.deepEqual(fs.readdirSync(path.join(roots, 'out')).filter((f) => f.endsWith('.tmp')), [])
  })

  it('reads base64', async () => {
    const { error } = await run('thumbnail', { input: { base64: photo.toString('base64') }, output: { key: 'img:b64' }, width: 40 })
    assert.equal(error, undefined)
    const meta = await metadata(await redis.getBuffer('img:b64'))
    assert.equal(meta.width, 40)
    assert.equal(meta.height, 30)
  })

  it('fails with ERR_PATH_OUTSIDE_ROOTS for ".." escapes', async () => {
    const sneaky = path.join(roots, 'in', '..', '..', 'outside', 'secret.jpg')
    const { error } = await run('thumbnail', { input: { path: sneaky }, output: { key: 'x' } })
    assert.equal(error.code, 'ERR_PATH_OUTSIDE_ROOTS')
    const [failed] = await queue.failed(0, -1)
    assert.equal(failed.exception, 'ERR_PATH_OUTSIDE_ROOTS')
    assert.match(failed.error, /outside the Worker's roots/)
    assert.equal(await redis.exists('x'), 0)
    // node-resque's Queue#retryStuckJobs (a Scheduler with retryStuckJobs)
    // reads backtrace[1] of every failed record: null would make it throw.
    assert.ok(worker.nativeLoop)
    assert.deepEqual(failed.backtrace, [])
    await queue.retryStuckJobs()
    assert.equal(await queue.failedCount(), 1, 'not a stuck job: left where it is')
  })

  it('fails with ERR_PATH_OUTSIDE_ROOTS when a symlink inside the roots points outside', async () => {
    const { error } = await run('thumbnail', { input: { path: path.join(roots, 'in', 'link.jpg') }, output: { key: 'x' } })
    assert.equal(error.code, 'ERR_PATH_OUTSIDE_ROOTS')
  })

  it('refuses to write through a symlinked directory that leaves the roots', async () => {
    const { error } = await run('thumbnail', { input: { base64: photo.toString('base64') }, output: { path: path.join(roots, 'escape', 'planted.png') } })
    assert.equal(error.code, 'ERR_PATH_OUTSIDE_ROOTS')
    assert.equal(fs.existsSync(path.join(outside, 'planted.png')), false)
  })

  it('replaces, never follows, a symlink planted at the output path', async () => {
    const target = path.join(roots, 'out', 'planted.png')
    const victim = path.join(outside, 'victim.txt')
    fs.writeFileSync(victim, 'keep me')
    fs.symlinkSync(victim, target)
    const { error } = await run('thumbnail', { input: { base64: photo.toString('base64') }, output: { path: target } })
    assert.equal(error, undefined)
    assert.equal(fs.readFileSync(victim, 'utf8'), 'keep me')
    assert.equal(fs.lstatSync(target).isSymbolicLink(), false)
  })

  it('fails with ERR_INPUT_NOT_FOUND / ERR_OUTPUT_NOT_FOUND for missing files and directories', async () => {
    let r = await run('thumbnail', { input: { path: path.join(roots, 'in', 'nope.jpg') }, output: { key: 'z' } })
    assert.equal(r.error.code, 'ERR_INPUT_NOT_FOUND')
    r = await run('thumbnail', { input: { base64: photo.toString('base64') }, output: { path: path.join(roots, 'no-such-dir', 'a.png') } })
    assert.equal(r.error.code, 'ERR_OUTPUT_NOT_FOUND')
  })

  it('refuses all path I/O when the worker has no roots', async () => {
    const w = new Worker({ connection: redisServer.connection(NS), queues: ['noroots'], timeout: 100 }, jobs)
    w.on('error', () => {})
    await w.connect()
    await w.start()
    const done = nextEvent(w, 'failure')
    await queue.enqueue('noroots', 'thumbnail', [{ input: { path: path.join(roots, 'in', 'photo.jpg') }, output: { key: 'y' } }])
    const [, , error] = await done
    assert.equal(error.code, 'ERR_PATH_OUTSIDE_ROOTS')
    assert.match(error.message, /no roots/)
    await w.end()
  })

  it('fails with the task\'s own error code on a corrupt image', async () => {
    const { error } = await run('thumbnail', { input: { base64: Buffer.from('not an image at all').toString('base64') }, output: { key: 'z' } })
    assert.ok(error.code && error.code.startsWith('ERR_'), `coded error, got ${error.code}`)
    assert.equal(await redis.exists('z'), 0)
  })

  it('fails with ERR_INPUT_NOT_FOUND for a missing key and ERR_INVALID_ARG for bad options', async () => {
    let r = await run('thumbnail', { input: { key: 'missing' }, output: { key: 'z' } })
    assert.equal(r.error.code, 'ERR_INPUT_NOT_FOUND')
    r = await run('thumbnail', { input: { base64: photo.toString('base64') }, output: { key: 'z' }, fit: 'sideways' })
    assert.equal(r.error.code, 'ERR_INVALID_ARG')
    r = await run('thumbnail', { input: { base64: photo.toString('base64') } })
    assert.equal(r.error.code, 'ERR_INVALID_ARG')
  })
})

describe('native metadata and hash', () => {
  it('metadata returns the header facts', async () => {
    await redis.set('img:meta', photo)
    const { result } = await run('probe', { input: { key: 'img:meta' }, output: { key: 'img:meta:json' } })
    assert.equal(result.width, 320)
    assert.equal(result.height, 240)
    assert.equal(JSON.parse(await redis.get('img:meta:json')).format, 'jpeg')
  })

  it('hash returns the hex digest and can write it', async () => {
    const data = crypto.randomBytes(100000)
    await redis.set('blob', data)
    const { result } = await run('digest', { input: { key: 'blob' }, output: { key: 'blob:sha' } })
    const expected = crypto.createHash('sha256').update(data).digest('hex')
    assert.equal(result, expected)
    assert.equal(await redis.get('blob:sha'), expected)
    const md5 = await run('digest', { input: { key: 'blob' }, algorithm: 'md5' })
    assert.equal(md5.result, crypto.createHash('md5').update(data).digest('hex'))
  })

  it('an array namespace reaches the Rust loop joined, as node-resque joins it', async () => {
    const connection = { ...redisServer.connection(), namespace: ['tenant', 'img'] }
    const w = new Worker({ connection, queues: ['parts'], timeout: 50 }, { digest: jobs.digest })
    const q = new NodeResque.Queue({ connection })
    try {
      await q.connect()
      await w.connect()
      await w.start()
      assert.equal(w.nativeLoop, true)
      const ok = nextEvent(w, 'success')
      await q.enqueue('parts', 'digest', [{ input: { base64: 'YWJj' } }])
      const [, , result] = await ok
      assert.equal(result, crypto.createHash('sha256').update('abc').digest('hex'))
      assert.equal(await redis.get('tenant:img:stat:processed'), '1')
      assert.equal(await redis.exists('resque:stat:processed'), 0)
    } finally {
      await w.end()
      await q.end()
    }
  })

  it('native() rejects unknown tasks at definition time', () => {
    assert.throws(() => native('sharpen'), { code: 'ERR_INVALID_ARG' })
  })

  it('performInline runs a native job without Redis for base64 input', async () => {
    const w = new Worker({}, jobs)
    const digest = await w.performInline('digest', [{ input: { base64: Buffer.from('abc').toString('base64') } }])
    assert.equal(digest, crypto.createHash('sha256').update('abc').digest('hex'))
  })
})
