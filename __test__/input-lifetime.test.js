'use strict'

// The pool reads a caller's input in place (src/input.rs): the bytes must
// stay alive, unmoved, until the job settles, whatever the caller does with
// its own references meanwhile, and a caller who changes the bytes during a
// job gets a result or a coded error, never a crash.

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const v8 = require('node:v8')
const vm = require('node:vm')
const { resize, hash, metadata, JobQueue } = require('..')
const { fixture } = require('./helpers/fixtures')

// A real collection, even without --expose-gc on the command line.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

const INPUT_ERRORS = new Set(['ERR_UNSUPPORTED_FORMAT', 'ERR_CORRUPT_INPUT', 'ERR_LIMIT_EXCEEDED'])
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex')

/** Collects garbage and fills freshly allocated memory, so freed input memory would be reused and overwritten. */
function churn (size) {
  for (let i = 0; i < 4; i++) {
    gc()
    new Uint8Array(size).fill(0xaa) // eslint-disable-line no-new
  }
}

/** A copy of `bytes` in an ArrayBuffer of its own, seen as a Uint8Array. */
function ownCopy (bytes) {
  const copy = new Uint8Array(new ArrayBuffer(bytes.length))
  copy.set(bytes)
  return copy
}

test('an input whose only reference is dropped survives GC until its job settles', async () => {
  const size = 32 << 20 // long enough to hash that GC runs while the job reads
  const pending = []
  for (let round = 0; round < 3; round++) {
    let bytes = new Uint8Array(size).fill(round + 1)
    const expected = sha256(bytes)
    pending.push(hash(bytes).then((got) => assert.equal(got, expected, `round ${round}: the hash read other bytes`)))
    bytes = null // eslint-disable-line no-unused-vars
    churn(size)
  }
  const jpeg = fixture('2569067123_aca715a2ee_o.jpg')
  const jobs = []
  for (let i = 0; i < 4; i++) {
    const input = ownCopy(jpeg)
    jobs.push(resize(input, { width: 320, height: 240, resolveWithObject: true }))
    jobs.push(metadata(ownCopy(jpeg)))
  }
  churn(jpeg.length * 8)
  for (const r of await Promise.all(jobs)) {
    if (r.info) assert.deepEqual([r.info.width, r.info.height, r.info.format], [320, 240, 'jpeg'])
    else assert.deepEqual([r.width, r.height], [2725, 2225])
  }
  await Promise.all(pending)
})

test('queued jobs keep their inputs alive while they wait (JobQueue, dropped references, GC)', async () => {
  const q = new JobQueue({ concurrency: 1 })
  const expected = []
  const results = []
  for (let i = 0; i < 16; i++) {
    const bytes = new Uint8Array(1 << 20).fill(i) // over COPY_BELOW: read in place
    expected.push(sha256(bytes))
    results.push(q.add('hash', bytes))
  }
  churn(16 << 20)
  assert.deepEqual(await Promise.all(results), expected)
  await q.close()
})

test('bytes changed during a job give a result or a coded error, never a crash', async () => {
  const jpeg = fixture('2569067123_aca715a2ee_o.jpg')
  const outcomes = []
  for (let round = 0; round < 12; round++) {
    const input = ownCopy(jpeg)
    const job = resize(input, { width: 720, height: 588 }).then(() => 'ok', (err) => err.code)
    // Overwrite the header (which claims the size), then the data, while the job runs.
    if (round % 3 === 0) input.fill(0xff, 0, 4096)
    else if (round % 3 === 1) crypto.randomFillSync(input)
    else input.fill(0)
    outcomes.push(await job)
  }
  for (const o of outcomes) assert.ok(o === 'ok' || INPUT_ERRORS.has(o), `unexpected outcome ${o}`)

  const big = new Uint8Array(16 << 20).fill(1)
  const before = sha256(big)
  const during = hash(big)
  big.fill(2)
  const got = await during
  assert.match(got, /^[0-9a-f]{64}$/)
  assert.ok(got === before || got === sha256(big) || got.length === 64)
})

test('a resizable ArrayBuffer is read from a copy: shrinking it during a job is safe', async () => {
  const jpeg = fixture('2569067123_aca715a2ee_o.jpg')
  const ab = new ArrayBuffer(jpeg.length, { maxByteLength: jpeg.length * 2 })
  new Uint8Array(ab).set(jpeg)
  const job = resize(new Uint8Array(ab), { width: 100, height: 80 })
  ab.resize(16)
  const out = await job
  assert.equal(out[0], 0xff)
  assert.equal(out[1], 0xd8)
})
