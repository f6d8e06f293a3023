'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { resize, metadata, hash, configure, poolInfo } = require('..')
const pool = require('../lib/pool')
const { fixture, loopProbe } = require('./helpers/fixtures')

const big = fixture('2569067123_aca715a2ee_o.jpg')
const root = path.resolve(__dirname, '..')

test('the event loop keeps ticking while 8 large resizes run', async () => {
  const probe = loopProbe()
  const outs = await Promise.all(Array.from({ length: 8 }, () => resize(big, { width: 720, height: 588 })))
  const gaps = probe.stop()
  assert.equal(outs.length, 8)
  for (const out of outs) assert.equal((await metadata(out)).width, 720)
  assert.ok(gaps.ticks > 10, `the interval ran (${gaps.ticks} ticks)`)
  assert.ok(gaps.max < 50, `largest event-loop gap ${gaps.max.toFixed(1)} ms`)
})

test('work runs on rusque threads, not the JS thread and not libuv\'s pool', async () => {
  // Occupy all of libuv's threads (4 by default) with slow key derivations.
  const crypto = require('node:crypto')
  const uvSize = Number(process.env.UV_THREADPOOL_SIZE) || 4
  let uvDone = 0
  const uv = Array.from({ length: uvSize }, () => new Promise((resolve) => {
    crypto.pbkdf2('secret', 'salt', 1500000, 32, 'sha512', () => { uvDone++; resolve() })
  }))
  const started = performance.now()
  let done = false
  const p = resize(big, { width: 720 }).then(() => { done = true })
  // Spin the JS thread: a job on the JS thread could not progress meanwhile.
  while (performance.now() - started < 300) { /* busy */ }
  await p
  assert.equal(done, true)
  assert.equal(uvDone, 0, 'the resize finished while every libuv thread was still busy')
  await Promise.all(uv)
})

test('a panic inside a task rejects with ERR_INTERNAL and the process keeps serving', async () => {
  await assert.rejects(pool.submitPanic(), (err) => {
    assert.equal(err.code, 'ERR_INTERNAL')
    assert.match(err.message, /deliberate panic/)
    return true
  })
  assert.equal(await hash(Buffer.from('abc'), 'md5'), '900150983cd24fb0d6963f7d28e17f72')
})

test('AbortSignal: aborted before the call, and while queued behind other work', async () => {
  const before = new AbortController()
  before.abort()
  await assert.rejects(resize(big, { width: 100, signal: before.signal }), { name: 'AbortError', code: 'ABORT_ERR' })

  const busy = Array.from({ length: 6 }, () => resize(big, { width: 720 }))
  const ac = new AbortController()
  const queued = resize(big, { width: 100, signal: ac.signal })
  ac.abort(new Error('client went away'))
  await assert.rejects(queued, (err) => {
    assert.equal(err.name, 'AbortError')
    assert.equal(err.code, 'ABORT_ERR')
    assert.equal(err.cause.message, 'client went away')
    return true
  })
  await Promise.all(busy)
})

test('configure() resizes the pool and RUSQUE_THREADS sets it at start', async () => {
  const before = poolInfo()
  assert.ok(before.threads >= 1)
  assert.deepEqual(configure({ threads: 3 }), { threads: 3, nice: before.nice })
  assert.equal(poolInfo().threads, 3)
  assert.equal((await metadata(await resize(big, { width: 64 }))).width, 64)
  configure({ threads: before.threads })
  const child = spawnSync(process.execPath, ['-e', "console.log(JSON.stringify(require('.').poolInfo()))"], {
    cwd: root, env: { ...process.env, RUSQUE_THREADS: '5', RUSQUE_NICE: '3' }, encoding: 'utf8'
  })
  const { threads, nice } = JSON.parse(child.stdout)
  assert.deepEqual({ threads, nice }, { threads: 5, nice: 3 })
})

test('pending work keeps the process alive; an idle pool lets it exit', () => {
  const script = `
    const { resize, hash } = require('.')
    const fs = require('fs')
    hash(Buffer.from('x')).then(() => {
      resize(fs.readFileSync(${JSON.stringify(path.join(require('./helpers/fixtures').dir, '320x240.jpg'))}), { width: 8 })
        .then((b) => console.log('done', b.length > 0))
    })`
  const child = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 20000 })
  assert.equal(child.error, undefined, 'exited on its own (no timeout)')
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'done true')
})

test('ESM import works', () => {
  const child = spawnSync(process.execPath, ['--input-type=module', '-e',
    "import { resize, hash } from 'rusque'; import rusque from 'rusque'; console.log(typeof resize, await hash(Buffer.from('')), typeof rusque.JobQueue)"
  ], { cwd: root, encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout.trim(), 'function e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 function')
})
