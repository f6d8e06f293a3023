'use strict'

// A call's input is copied before the call returns (docs/api.md, "Input
// buffers"): whatever the caller does with its buffer afterwards (drops it,
// changes it, transfers its ArrayBuffer to another thread, shrinks it) the
// job reads the bytes it was given and the process never crashes.

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
    const bytes = new Uint8Array(1 << 20).fill(i)
    expected.push(sha256(bytes))
    results.push(q.add('hash', bytes))
  }
  churn(16 << 20)
  assert.deepEqual(await Promise.all(results), expected)
  await q.close()
})

test('bytes changed after the call change nothing: the job reads the bytes it was given', async () => {
  const jpeg = fixture('2569067123_aca715a2ee_o.jpg')
  const expected = await resize(jpeg, { width: 720, height: 588 })
  for (let round = 0; round < 6; round++) {
    const input = ownCopy(jpeg)
    const job = resize(input, { width: 720, height: 588 })
    if (round % 3 === 0) input.fill(0xff, 0, 4096)
    else if (round % 3 === 1) crypto.randomFillSync(input)
    else input.fill(0)
    assert.ok((await job).equals(expected), `round ${round}`)
  }
  const big = new Uint8Array(16 << 20).fill(1)
  const before = sha256(big)
  const during = hash(big)
  big.fill(2)
  assert.equal(await during, before)
})

test('an ArrayBuffer transferred away during a job, and collected, is no crash', async () => {
  const size = 32 << 20
  const jobs = []
  for (let round = 0; round < 3; round++) {
    const ab = new ArrayBuffer(size)
    new Uint8Array(ab).fill(round + 7)
    const expected = sha256(new Uint8Array(ab))
    jobs.push(hash(new Uint8Array(ab)).then((got) => assert.equal(got, expected, `round ${round}`)))
    structuredClone(ab, { transfer: [ab] }) // detaches ab; the clone is dropped at once
    assert.equal(ab.byteLength, 0)
    churn(size)
  }
  await Promise.all(jobs)
})

test('a resizable ArrayBuffer shrunk during a job is safe', async () => {
  const jpeg = fixture('2569067123_aca715a2ee_o.jpg')
  const ab = new ArrayBuffer(jpeg.length, { maxByteLength: jpeg.length * 2 })
  new Uint8Array(ab).set(jpeg)
  const job = resize(new Uint8Array(ab), { width: 100, height: 80 })
  ab.resize(16)
  const out = await job
  assert.equal(out[0], 0xff)
  assert.equal(out[1], 0xd8)
})
