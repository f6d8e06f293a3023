'use strict'

// Hostile queue entries, through both loops: a Worker with a JS job (the JS
// loop, native jobs run by native-job.js) and a native-only Worker (the Rust
// loop). Each entry must end in <ns>:failed with the expected exception and
// error text, the stat counters must count it, no 'error' event may fire, and
// the worker must go on to run the valid job queued after it.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const zlib = require('node:zlib')
const { Worker, native } = require('..')
const { startRedis } = require('./helpers/redis')
const { cleanup } = require('./helpers/cleanup')
const { waitFor } = require('./helpers/events')
const { png } = require('./helpers/fixtures')

const Q = 'hostile'
const MB = 1024 * 1024
const SENTINEL = JSON.stringify({ class: 'digest', queue: Q, args: [{ input: { base64: Buffer.from('sentinel').toString('base64') } }] })
const SENTINEL_SHA256 = crypto.createHash('sha256').update('sentinel').digest('hex')
const ABC = Buffer.from('abc').toString('base64')

let server
let redis
let tmp
let root
let outside

const nativeJobs = {
  thumb: native('resize', { width: 16, format: 'png' }),
  digest: native('hash', 'sha256')
}

const LOOPS = [
  { kind: 'JS loop', ns: 'hostile-js', jobs: { ...nativeJobs, add: (a, b) => a + b }, rust: false },
  { kind: 'Rust loop', ns: 'hostile-rust', jobs: nativeJobs, rust: true }
]

before(async () => {
  server = await startRedis()
  redis = server.client()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-hostile-'))
  root = path.join(tmp, 'root')
  outside = path.join(tmp, 'outside')
  fs.mkdirSync(root)
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(root, 'inside.txt'), 'inside')
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret')
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'link.txt'))
})

after(() => cleanup(
  () => server?.close(),
  () => tmp && fs.rmSync(tmp, { recursive: true, force: true })
))

/**
 * Pushes the raw entries, then the sentinel job, runs a fresh worker until the
 * sentinel succeeds, ends it, and returns what Redis and the events recorded.
 */
async function work (loop, entries) {
  const { ns } = loop
  await redis.flushdb()
  await redis.sadd(`${ns}:queues`, Q)
  for (const e of entries) await redis.rpush(`${ns}:queue:${Q}`, e)
  await redis.rpush(`${ns}:queue:${Q}`, SENTINEL)
  const w = new Worker({ connection: server.connection(ns), queues: [Q], timeout: 100, roots: [root] }, loop.jobs)
  assert.equal(w.nativeLoop, loop.rust, `${loop.kind} expected`)
  const seen = { success: [], failure: [], error: [] }
  for (const k of Object.keys(seen)) w.on(k, (...args) => seen[k].push(args))
  await w.connect()
  await w.start()
  await waitFor(() => seen.success.some(([, job]) => job && job.args && job.args[0] && job.args[0].input && job.args[0].input.base64 === SENTINEL_B64),
    { ms: 60000, what: 'the sentinel job after the hostile entries' })
  await w.end()
  const sentinel = seen.success.find(([, job]) => job && job.args && job.args[0] && job.args[0].input && job.args[0].input.base64 === SENTINEL_B64)
  assert.equal(sentinel[2], SENTINEL_SHA256, 'the worker carried on and ran the valid job')
  const failed = (await redis.lrange(`${ns}:failed`, 0, -1)).map((s) => JSON.parse(s))
  return {
    name: w.name,
    seen,
    failed,
    processed: Number(await redis.get(`${ns}:stat:processed`)),
    failedCount: Number(await redis.get(`${ns}:stat:failed`)),
    left: await redis.llen(`${ns}:queue:${Q}`),
    workingOn: await redis.keys(`${ns}:worker:*`)
  }
}
const SENTINEL_B64 = Buffer.from('sentinel').toString('base64')

function digest (arg) {
  return JSON.stringify({ class: 'digest', queue: Q, args: [arg] })
}
function thumb (arg) {
  return JSON.stringify({ class: 'thumb', queue: Q, args: [{ input: { base64: ABC }, output: { key: 'never' }, ...arg }] })
}

// [what, raw entry, exception, error pattern]; exception/pattern may be
// { js, rust } where the loops word a failure differently.
const BAD = [
  ['args a string', JSON.stringify({ class: 'digest', queue: Q, args: 'abc' }), 'ERR_INVALID_ARG', /one object argument|must be \[\{ input/],
  ['class null', JSON.stringify({ class: null, queue: Q, args: [] }), 'InvalidPayload', /no "class" string/],
  ['class a number', JSON.stringify({ class: 7, queue: Q, args: [] }), 'InvalidPayload', /no "class" string/],
  ['class an array', JSON.stringify({ class: ['digest'], queue: Q, args: [] }), 'InvalidPayload', /no "class" string/],
  ['args[0] a string', digest('a string'), 'ERR_INVALID_ARG', /one object argument|must be \[\{ input/],
  ['args[0] a number', digest(5), 'ERR_INVALID_ARG', /one object argument|must be \[\{ input/],
  ['input a string', digest({ input: ABC }), 'ERR_INVALID_ARG', /input must be/],
  ['input an empty object', digest({ input: {} }), 'ERR_INVALID_ARG', /input must (be|have)/],
  ['input.path a number', digest({ input: { path: 5 } }), 'ERR_INVALID_ARG', /input must be|path must be a string/],
  ['input.base64 a number', digest({ input: { base64: 12 } }), 'ERR_INVALID_ARG', /input must be|base64 must be a string/],
  ['input.base64 not base64', digest({ input: { base64: '!!not base64' } }), 'ERR_INVALID_ARG', /not valid base64/],
  ['input.base64 with stray bits', digest({ input: { base64: 'AB==' } }), 'ERR_INVALID_ARG', /not valid base64|Invalid last symbol/],
  ['output an array', digest({ input: { base64: ABC }, output: [1] }), 'ERR_INVALID_ARG', /output must be/],
  ['output.ttl a numeric string', digest({ input: { base64: ABC }, output: { key: 'o', ttl: '60' } }), 'ERR_INVALID_ARG', /ttl/],
  ['output.ttl negative', digest({ input: { base64: ABC }, output: { key: 'o', ttl: -1 } }), 'ERR_INVALID_ARG', /ttl/],
  ['output.ttl past what Redis accepts', digest({ input: { base64: ABC }, output: { key: 'o', ttl: 1e16 } }), 'ERR_INVALID_ARG', /ttl.*at most 10\^15/],
  ['algorithm a number', digest({ input: { base64: ABC }, algorithm: 5 }), 'ERR_INVALID_ARG', /algorithm/],
  ['width a numeric string', thumb({ width: '100' }), 'ERR_INVALID_ARG', /width must be an integer/],
  ['width negative', thumb({ width: -5 }), 'ERR_INVALID_ARG', /width must be an integer/],
  ['width huge', thumb({ width: 1e12 }), 'ERR_INVALID_ARG', /width must be an integer/],
  ['width fractional', thumb({ width: 1.5 }), 'ERR_INVALID_ARG', /width must be an integer/],
  ['quality a numeric string', thumb({ quality: '80' }), 'ERR_INVALID_ARG', /quality/],
  // JSON.parse reads 1e400 as Infinity; serde_json refuses the number.
  ['width 1e400', `{"class":"thumb","queue":"${Q}","args":[{"input":{"base64":"${ABC}"},"output":{"key":"never"},"width":1e400}]}`,
    { js: 'ERR_INVALID_ARG', rust: 'InvalidPayload' }, { js: /width must be an integer/, rust: /not valid JSON: number out of range/ }],
  ['nesting 100000 deep', '['.repeat(100000), 'InvalidPayload', /not valid JSON/],
  ['an unknown class', JSON.stringify({ class: 'nope', queue: Q, args: [] }), 'Error', /^No job defined for class "nope"$/],
  ['input path escaping roots with ..', () => digest({ input: { path: path.join(root, '..', 'outside', 'secret.txt') } }), 'ERR_PATH_OUTSIDE_ROOTS', /outside the Worker's roots/],
  ['input path through a symlink out of roots', () => digest({ input: { path: path.join(root, 'link.txt') } }), 'ERR_PATH_OUTSIDE_ROOTS', /outside the Worker's roots/],
  ['output path escaping roots with ..', () => digest({ input: { base64: ABC }, output: { path: path.join(root, '..', 'outside', 'planted.txt') } }), 'ERR_PATH_OUTSIDE_ROOTS', /outside the Worker's roots/]
]

const pick = (v, loop) => (v && typeof v === 'object' && !(v instanceof RegExp) ? (loop.rust ? v.rust : v.js) : v)

for (const loop of LOOPS) {
  describe(`hostile queue entries: ${loop.kind}`, () => {
    it('wrong types, wrong shapes, unknown classes and paths out of roots all fail into <ns>:failed; the worker carries on', async () => {
      const entries = BAD.map(([, e]) => (typeof e === 'function' ? e() : e))
      // args as an object instead of an array: taken as the one argument, by both loops.
      const lenient = JSON.stringify({ class: 'digest', queue: Q, args: { input: { base64: ABC } } })
      const r = await work(loop, [...entries, lenient])

      assert.deepEqual(r.seen.error, [], 'no error events')
      assert.equal(r.left, 0)
      assert.deepEqual(r.workingOn, [], 'nothing left in working-on keys')
      assert.equal(r.failed.length, BAD.length)
      assert.equal(r.failedCount, BAD.length)
      assert.equal(r.seen.failure.length, BAD.length)
      assert.equal(r.processed, 2, 'the lenient entry and the sentinel')
      assert.ok(r.seen.success.some(([, , result]) => result === crypto.createHash('sha256').update('abc').digest('hex')))

      for (let i = 0; i < BAD.length; i++) {
        const [what, , exception, pattern] = BAD[i]
        const f = r.failed[i]
        assert.equal(f.exception, pick(exception, loop), `${what}: ${f.error}`)
        assert.match(f.error, pick(pattern, loop), what)
        assert.equal(f.queue, Q, what)
        assert.equal(f.worker, r.name, what)
        assert.match(f.failed_at, /GMT/, what)
        // The failure event's error, the same from both loops.
        const err = r.seen.failure[i][2]
        assert.ok(err.message.endsWith(f.error), `${what}: ${err.message}`)
        if (f.exception === 'InvalidPayload') assert.equal(err.name, 'InvalidPayload', what)
        else if (f.exception === 'Error') assert.equal(err.code, undefined, what)
        else assert.equal(err.code, f.exception, what)
        const raw = entries[i]
        if (f.exception === 'InvalidPayload' && typeof f.payload === 'string') assert.equal(f.payload, raw, `${what}: the raw entry is kept`)
        else assert.deepEqual(f.payload, JSON.parse(JSON.stringify(JSON.parse(raw))), `${what}: the payload is kept`)
      }
      assert.equal(await redis.exists('never'), 0, 'no output written by a failed job')
      assert.equal(fs.existsSync(path.join(outside, 'planted.txt')), false)
    })

    it('an entry of 50 MB (base64 of zeros) and a base64 image far over the pixel limit fail cleanly', async () => {
      const zeros = 'A'.repeat(50 * MB)
      const big = JSON.stringify({ class: 'thumb', queue: Q, args: [{ input: { base64: zeros }, output: { key: 'never' } }] })
      const bomb = thumb({ input: { base64: png(100000, 100000, zlib.deflateSync(Buffer.alloc(1024))).toString('base64') } })
      const r = await work(loop, [big, bomb])

      assert.deepEqual(r.seen.error, [])
      assert.equal(r.failedCount, 2)
      assert.equal(r.processed, 1)
      assert.deepEqual(r.workingOn, [])
      const [f1, f2] = r.failed
      assert.equal(f1.exception, 'ERR_UNSUPPORTED_FORMAT', f1.error)
      assert.equal(f1.payload.args[0].input.base64.length, zeros.length, 'the failed record keeps the whole payload')
      assert.equal(f2.exception, 'ERR_LIMIT_EXCEEDED', f2.error)
      assert.match(f2.error, /100000x100000/)
      assert.equal(await redis.exists('never'), 0)
    })

    it('an entry that is not UTF-8 is filed as InvalidPayload and never run', async () => {
      const bad = Buffer.concat([Buffer.from(`{"class":"digest","queue":"${Q}","args":[{"input":{"base64":"${ABC}"},"note":"`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}]}')])
      const r = await work(loop, [bad])
      assert.deepEqual(r.seen.error, [])
      assert.equal(r.failedCount, 1)
      assert.equal(r.processed, 1, 'only the sentinel ran')
      assert.equal(r.failed[0].exception, 'InvalidPayload')
      assert.equal(r.failed[0].error, 'queue entry is not valid UTF-8')
      assert.equal(r.failed[0].payload, `(not UTF-8; ${bad.length} bytes)`)
      assert.deepEqual(r.workingOn, [])
    })
  })
}
