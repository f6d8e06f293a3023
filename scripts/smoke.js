'use strict'

// Runs inside the Node.js of the platform under test (for arm64 on an x64
// machine: an arm64 node under qemu-user), against the prebuilt binary named
// by NAPI_RS_NATIVE_LIBRARY_PATH. Exercises every task, the queue, errors and
// cancellation, checks each result, prints one JSON line, exits 1 on a problem.
//
//   NAPI_RS_NATIVE_LIBRARY_PATH=rusque.linux-arm64-gnu.node node scripts/smoke.js FIXTURES_DIR

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const rusque = require('..')

async function main (fixtures) {
  const checks = []
  const check = async (name, fn) => { await fn(); checks.push(name) }
  const read = (f) => fs.readFileSync(path.join(fixtures, f))
  const photo = read('2569067123_aca715a2ee_o.jpg')

  await check('resize to jpeg, png and webp at the requested size', async () => {
    for (const [input, width, format] of [[photo, 720, 'jpeg'], [read('blackbug.png'), 300, 'png'], [read('4.webp'), 256, 'webp'], [read('Landscape_5.jpg'), 200, 'jpeg']]) {
      const out = await rusque.resize(input, { width, format })
      const meta = await rusque.metadata(out)
      assert.equal(meta.format, format)
      assert.equal(meta.width, width)
    }
  })
  await check('hashes match node:crypto', async () => {
    for (const alg of ['sha256', 'sha512', 'md5']) {
      assert.equal(await rusque.hash(photo, alg), crypto.createHash(alg).update(photo).digest('hex'))
    }
    assert.equal((await rusque.hash(photo, 'blake3')).length, 64)
  })
  await check('bad input rejects with a code', async () => {
    await assert.rejects(rusque.metadata(Buffer.from('not an image')), { code: 'ERR_UNSUPPORTED_FORMAT' })
    await assert.rejects(rusque.resize(read('truncated.jpg'), { width: 10, format: 'png' }).then(async (out) => {
      // A truncated JPEG may decode partially (like libjpeg); then the output must still be valid.
      assert.equal((await rusque.metadata(out)).width, 10)
      throw Object.assign(new Error('decoded'), { code: 'PARTIAL' })
    }), (err) => ['ERR_CORRUPT_INPUT', 'PARTIAL'].includes(err.code))
  })
  await check('an aborted call rejects with AbortError', async () => {
    const ac = new AbortController()
    const p = rusque.resize(photo, { width: 100, signal: ac.signal })
    ac.abort()
    await assert.rejects(p, { name: 'AbortError' })
  })
  await check('JobQueue runs jobs and refuses past maxQueued', async () => {
    const q = new rusque.JobQueue({ concurrency: 1, maxQueued: 1 })
    const settled = await Promise.allSettled(Array.from({ length: 5 }, () => q.add('resize', photo, { width: 64 })))
    const done = settled.filter((r) => r.status === 'fulfilled')
    const refused = settled.filter((r) => r.status === 'rejected')
    assert.ok(done.length >= 1 && refused.length >= 1, `${done.length} done, ${refused.length} refused`)
    for (const r of refused) assert.equal(r.reason.code, 'ERR_QUEUE_FULL')
    for (const r of done) assert.equal((await rusque.metadata(r.value)).width, 64)
    await q.close()
  })
  await check('a panic in a job becomes ERR_INTERNAL', async () => {
    await assert.rejects(require('../lib/pool').submitPanic(), { code: 'ERR_INTERNAL' })
  })
  return checks
}

main(process.argv[2]).then((checks) => {
  console.log(JSON.stringify({ arch: process.arch, node: process.version, pool: rusque.poolInfo(), build: rusque.buildInfo(), checks }))
}, (err) => {
  console.error(err)
  process.exitCode = 1
})
