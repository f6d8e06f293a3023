'use strict'

// The memory budget, measured: 16 threads resizing 16 copies of a 4000x4000
// PNG to 800 px, in a child process each, with a 200 MiB budget and without.
// The test asserts what the pool itself knows (the running tasks' estimates
// never exceeded the budget while two or more ran; identical outputs); the
// RSS ratio is a measurement, printed for the record.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const child = path.join(__dirname, 'helpers', 'budget-child.js')
const MiB = 1024 * 1024

/** A 4000x4000 RGB PNG: gradients plus noise, so it is not trivially compressible. */
async function noisyPng (file) {
  const sharp = require('sharp')
  const w = 4000
  const h = 4000
  const raw = Buffer.alloc(w * h * 3)
  let seed = 12345
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0
      const n = (seed >>> 24) & 15
      raw[i++] = ((x * 255) / w + n) & 255
      raw[i++] = ((y * 255) / h + n) & 255
      raw[i++] = (((x + y) * 127) / w + n) & 255
    }
  }
  fs.writeFileSync(file, await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 3 }).toBuffer())
}

function run (file, budget) {
  const r = spawnSync(process.execPath, [child, file, String(budget)], { encoding: 'utf8', maxBuffer: 16 * MiB })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

test('16 concurrent 4000x4000 PNG resizes: a 200 MiB budget holds, results identical', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-budget-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'noisy-4000.png')
  await noisyPng(file)
  const budget = 200 * MiB
  const without = run(file, 0)
  const within = run(file, budget)

  assert.equal(within.resize.completed, 16)
  assert.deepEqual(within.digests, without.digests, 'the budget changes nothing in the output')
  assert.equal(new Set(within.digests).size, 1)
  assert.equal(within.memory.budget, budget)
  assert.equal(within.memory.reserved, 0)
  assert.equal(within.memory.waiting, 0)
  // Two or more ran together, and never with more than the budget reserved.
  assert.ok(within.memory.peakShared > 0, 'tasks ran side by side')
  assert.ok(within.memory.peakShared <= budget, `peak reserved ${within.memory.peakShared} <= ${budget}`)
  // Without a budget nothing is reserved at all.
  assert.equal(without.memory.peakShared, 0)
  const ratio = within.maxRSS / without.maxRSS
  t.diagnostic(`peak RSS: ${(without.maxRSS / MiB).toFixed(0)} MiB without a budget, ${(within.maxRSS / MiB).toFixed(0)} MiB with 200 MiB (ratio ${ratio.toFixed(2)}); PNG ${(fs.statSync(file).size / MiB).toFixed(1)} MiB`)
})

// In-process: admission order and cancellation, read from the pool's own
// counters right after submission (synchronous, so not a matter of timing).
const { resize, hash, configure, poolInfo } = require('..')
const { fixture } = require('./helpers/fixtures')
const big = fixture('2569067123_aca715a2ee_o.jpg') // 2725x2225: about 70 MB estimated at width 2000
const small = fixture('320x240.jpg') // well under 1 MB estimated

async function withBudget (bytes, fn) {
  const before = poolInfo().memory.budget
  configure({ memoryBudget: bytes })
  try {
    return await fn()
  } finally {
    configure({ memoryBudget: before })
  }
}

test('a large resize that does not fit waits; small tasks pass it; a parked one can be aborted', () => withBudget(100e6, async () => {
  const order = []
  const big1 = resize(big, { width: 2000 }).then(() => order.push('big1'))
  const big2 = resize(big, { width: 2000 }).then(() => order.push('big2'))
  const ac = new AbortController()
  const big3 = resize(big, { width: 2000, signal: ac.signal })
  const smallOne = resize(small, { width: 50 }).then(() => order.push('small'))
  const digest = hash(big).then(() => order.push('hash'))
  const m = poolInfo().memory
  assert.equal(m.waiting, 2, 'big2 and big3 wait for room; the small resize and the hash do not')
  assert.ok(m.reserved > 0 && m.reserved <= 100e6, `reserved ${m.reserved}`)
  ac.abort()
  await assert.rejects(big3, { name: 'AbortError' })
  await Promise.all([big1, big2, smallOne, digest])
  assert.ok(order.indexOf('small') < order.indexOf('big2'), `the small resize passed the waiting one: ${order}`)
  for (let i = 0; i < 200 && poolInfo().memory.waiting + poolInfo().memory.reserved > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  const after = poolInfo().memory
  assert.deepEqual([after.waiting, after.reserved], [0, 0], 'every reservation was given back, the aborted one included')
}))

test('a task larger than the whole budget runs alone and never deadlocks', () => withBudget(10e6, async () => {
  const outs = await Promise.all([resize(big, { width: 2000 }), resize(big, { width: 1900 }), resize(small, { width: 40 })])
  assert.equal(outs.length, 3)
  assert.equal(poolInfo().memory.waiting, 0)
}))

test('a worker thread that ends with parked resizes gives their budget back', () => withBudget(100e6, async () => {
  const { Worker: Thread } = require('node:worker_threads')
  const code = `
    const { parentPort } = require('node:worker_threads')
    const { resize, poolInfo } = require(${JSON.stringify(require.resolve('..'))})
    const fs = require('node:fs')
    const big = fs.readFileSync(${JSON.stringify(require.resolve('../fixtures/images/2569067123_aca715a2ee_o.jpg'))})
    for (let i = 0; i < 4; i++) resize(big, { width: 2000 }).catch(() => {})
    parentPort.postMessage(poolInfo().memory.waiting)`
  const thread = new Thread(code, { eval: true })
  const waiting = await new Promise((resolve, reject) => { thread.once('message', resolve); thread.once('error', reject) })
  assert.ok(waiting >= 1, `resizes were parked (${waiting})`)
  await thread.terminate()
  for (let i = 0; i < 500 && (poolInfo().memory.waiting > 0 || poolInfo().memory.reserved > 0); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  assert.deepEqual([poolInfo().memory.waiting, poolInfo().memory.reserved], [0, 0], 'nothing stays reserved for the ended thread')
  assert.equal(poolInfo().queued, 0)
}))
