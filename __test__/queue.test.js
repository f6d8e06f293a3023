'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { JobQueue, resize, metadata, hash } = require('..')
const { fixture, loopProbe } = require('./helpers/fixtures')

const big = fixture('2569067123_aca715a2ee_o.jpg')
const small = fixture('320x240.jpg')

function recorder (queue) {
  const events = []
  for (const name of ['active', 'completed', 'failed', 'idle', 'drain']) {
    queue.on(name, (...args) => events.push([name, ...args]))
  }
  return events
}

test('higher priority runs first, FIFO within a priority', async () => {
  const q = new JobQueue({ concurrency: 1 })
  const started = []
  q.on('active', (job) => started.push(job.id))
  q.pause()
  const plan = [[0, 'a'], [5, 'b'], [0, 'c'], [10, 'd'], [5, 'e'], [-1, 'f'], [10, 'g']]
  const all = plan.map(([priority, id]) => q.add('hash', Buffer.from(id), 'sha256', { priority, id }))
  assert.equal(q.size, plan.length)
  q.resume()
  await Promise.all(all)
  assert.deepEqual(started, ['d', 'g', 'b', 'e', 'a', 'c', 'f'])
})

test('results are exactly what the direct functions return', async () => {
  const q = new JobQueue()
  assert.equal(await q.add('hash', Buffer.from('abc'), 'blake3'), await hash(Buffer.from('abc'), 'blake3'))
  assert.deepEqual(await q.add('metadata', small), await metadata(small))
  const viaQueue = await q.add('resize', small, { width: 50, format: 'png' })
  const direct = await resize(small, { width: 50, format: 'png' })
  assert.ok(viaQueue.equals(direct))
})

test('maxQueued: add rejects at once with ERR_QUEUE_FULL, nothing dropped silently', async () => {
  const q = new JobQueue({ concurrency: 1, maxQueued: 2 })
  q.pause()
  const a = q.add('hash', Buffer.from('1'))
  const b = q.add('hash', Buffer.from('2'))
  await assert.rejects(q.add('hash', Buffer.from('3')), { code: 'ERR_QUEUE_FULL' })
  assert.equal(q.size, 2)
  assert.equal(q.stats().rejected, 1)
  q.resume()
  assert.equal((await Promise.all([a, b])).length, 2)
  // Room again once the waiting jobs have started.
  assert.equal(typeof await q.add('hash', Buffer.from('4')), 'string')
})

test('abort while waiting: rejects ABORT_ERR and the job never runs', async () => {
  const q = new JobQueue({ concurrency: 1 })
  const events = recorder(q)
  const first = q.add('resize', big, { width: 720 }, { id: 'first' })
  const ac = new AbortController()
  const second = q.add('resize', big, { width: 720 }, { id: 'second', signal: ac.signal })
  await new Promise((resolve) => q.once('active', resolve)) // jobs start from a microtask
  assert.equal(q.size, 1)
  ac.abort()
  await assert.rejects(second, { name: 'AbortError', code: 'ABORT_ERR' })
  assert.equal(q.size, 0)
  await first
  await q.onIdle()
  const activeIds = events.filter((e) => e[0] === 'active').map((e) => e[1].id)
  assert.deepEqual(activeIds, ['first'])
  const s = q.stats()
  assert.deepEqual([s.completed, s.cancelled, s.failed], [1, 1, 0])
})

test('abort while running: rejects at once, the slot frees when the task stops', async () => {
  const q = new JobQueue({ concurrency: 1 })
  const ac = new AbortController()
  const job = q.add('resize', big, { width: 720 }, { signal: ac.signal })
  await new Promise((resolve) => q.once('active', resolve))
  ac.abort()
  await assert.rejects(job, { code: 'ABORT_ERR' })
  // Rejected before the pool reported back: the native task is still winding down.
  assert.equal(q.running, 1)
  await q.onIdle()
  assert.equal(q.running, 0)
  assert.equal(q.stats().cancelled, 1)
  // The queue keeps working.
  assert.equal((await metadata(await q.add('resize', small, { width: 20 }))).width, 20)
})

test('timeout rejects a running job with ERR_TIMEOUT', async () => {
  const q = new JobQueue({ concurrency: 1 })
  await assert.rejects(q.add('resize', big, { width: 2000, format: 'png' }, { timeout: 5 }), (err) => {
    assert.equal(err.code, 'ERR_TIMEOUT')
    assert.match(err.message, /5 ms/)
    return true
  })
  await q.onIdle()
  const s = q.stats()
  assert.equal(s.timedOut, 1)
  assert.equal(s.running, 0)
})

test('pause stops new starts; resume continues', async () => {
  const q = new JobQueue({ concurrency: 2 })
  q.pause()
  let ran = 0
  q.on('active', () => ran++)
  const jobs = [1, 2, 3].map((i) => q.add('hash', Buffer.from(String(i))))
  await new Promise((resolve) => setTimeout(resolve, 30))
  assert.equal(ran, 0)
  assert.equal(q.size, 3)
  q.resume()
  await Promise.all(jobs)
  assert.equal(ran, 3)
})

test('close with drain finishes queued work; without drain rejects waiting jobs', async () => {
  const q = new JobQueue({ concurrency: 1 })
  const jobs = [1, 2, 3].map((i) => q.add('hash', Buffer.from(String(i))))
  await q.close()
  assert.equal((await Promise.all(jobs)).length, 3)
  await assert.rejects(q.add('hash', Buffer.from('x')), { code: 'ERR_QUEUE_CLOSED' })

  const q2 = new JobQueue({ concurrency: 1 })
  const running = q2.add('resize', big, { width: 720 })
  const waiting = q2.add('resize', big, { width: 720 })
  await new Promise((resolve) => q2.once('active', resolve))
  const closed = q2.close({ drain: false })
  await assert.rejects(waiting, { code: 'ERR_QUEUE_CLOSED' })
  assert.equal((await metadata(await running)).width, 720)
  await closed
  assert.deepEqual([q2.stats().completed, q2.stats().cancelled], [1, 1])
})

test('events fire with the documented arguments; stats add up', async () => {
  const q = new JobQueue({ concurrency: 2 })
  const events = recorder(q)
  const ok = q.add('hash', Buffer.from('a'), 'md5', { id: 'ok', priority: 3 })
  const bad = q.add('resize', fixture('truncated.png'), { width: 10 }, { id: 'bad' })
  await Promise.all([ok, assert.rejects(bad, { code: 'ERR_CORRUPT_INPUT' })])
  await q.onIdle()
  const completed = events.find((e) => e[0] === 'completed')
  assert.deepEqual(completed[1], { id: 'ok', task: 'hash', priority: 3 })
  assert.equal(completed[2], '0cc175b9c0f1b6a831c399e269772661')
  const failed = events.find((e) => e[0] === 'failed')
  assert.equal(failed[1].id, 'bad')
  assert.equal(failed[2].code, 'ERR_CORRUPT_INPUT')
  assert.equal(events.filter((e) => e[0] === 'active').length, 2)
  assert.ok(events.some((e) => e[0] === 'idle'))
  const s = q.stats()
  assert.equal(s.added, 2)
  assert.equal(s.completed + s.failed + s.cancelled + s.timedOut, s.added)
  assert.ok(s.runTime.p50 > 0 && s.runTime.p99 >= s.runTime.p50)
  assert.ok(s.waitTime.p99 >= s.waitTime.p50)
})

test('drain fires when the last waiting job starts', async () => {
  const q = new JobQueue({ concurrency: 1 })
  const order = []
  q.on('drain', () => order.push('drain'))
  q.on('idle', () => order.push('idle'))
  await Promise.all([1, 2, 3].map((i) => q.add('hash', Buffer.from(String(i)))))
  assert.deepEqual(order.slice(0, 1), ['drain'])
  assert.equal(order[order.length - 1], 'idle')
})

test('task errors are the same coded errors as the direct functions', async () => {
  const q = new JobQueue()
  await assert.rejects(q.add('resize', fixture('giant-image.jpg'), { width: 10 }), { code: 'ERR_LIMIT_EXCEEDED' })
  await assert.rejects(q.add('resize', small, { width: 0 }), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(q.add('sharpen', small), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(q.add('hash', small, 'sha256', { priority: 1.5 }), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(q.add('hash', small, 'sha256', { timeout: -1 }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => new JobQueue({ concurrency: 0 }), { code: 'ERR_INVALID_ARG' })
})

test('addBulk runs many jobs in one call and keeps order', async () => {
  const q = new JobQueue({ concurrency: 64 })
  const inputs = Array.from({ length: 1000 }, (_, i) => Buffer.from(`job ${i}`))
  const results = await q.addBulk(inputs.map((input) => ['hash', input, 'sha256']))
  const crypto = require('node:crypto')
  assert.equal(results.length, 1000)
  for (let i = 0; i < 1000; i += 97) {
    assert.equal(results[i], crypto.createHash('sha256').update(inputs[i]).digest('hex'))
  }
  const mixed = await q.addBulk([{ task: 'metadata', input: small }, { task: 'hash', input: small, options: 'md5' }])
  assert.equal(mixed[0].width, 320)
  assert.equal(mixed[1].length, 32)
})

test('several queues share the pool; concurrency caps each', async () => {
  const a = new JobQueue({ concurrency: 1 })
  const b = new JobQueue({ concurrency: 2 })
  let maxA = 0
  let maxB = 0
  a.on('active', () => { maxA = Math.max(maxA, a.running) })
  b.on('active', () => { maxB = Math.max(maxB, b.running) })
  const jobs = []
  for (let i = 0; i < 6; i++) {
    jobs.push(a.add('resize', small, { width: 50 }))
    jobs.push(b.add('resize', small, { width: 50 }))
  }
  await Promise.all(jobs)
  assert.equal(maxA, 1)
  assert.equal(maxB, 2)
})

test('the event loop keeps ticking while 500 resizes run through the queue', async () => {
  const q = new JobQueue()
  const input = fixture('Landscape_1.jpg')
  const probe = loopProbe()
  const outs = await Promise.all(Array.from({ length: 500 }, () => q.add('resize', input, { width: 200 })))
  const gaps = probe.stop()
  assert.equal(outs.length, 500)
  assert.equal((await metadata(outs[499])).width, 200)
  assert.ok(gaps.max < 50, `largest event-loop gap ${gaps.max.toFixed(1)} ms`)
})

test('an idle queue lets a child process exit on its own; a paused one with work does not', () => {
  const root = path.resolve(__dirname, '..')
  const idle = spawnSync(process.execPath, ['-e', `
    const { JobQueue } = require('.')
    const q = new JobQueue()
    q.add('hash', Buffer.from('x')).then((h) => console.log(h.length))`], { cwd: root, encoding: 'utf8', timeout: 15000 })
  assert.equal(idle.error, undefined)
  assert.equal(idle.status, 0, idle.stderr)
  assert.equal(idle.stdout.trim(), '64')

  const held = spawnSync(process.execPath, ['-e', `
    const { JobQueue } = require('.')
    const q = new JobQueue()
    q.pause()
    q.add('hash', Buffer.from('x'))`], { cwd: root, encoding: 'utf8', timeout: 1500 })
  assert.equal(held.error && held.error.code, 'ETIMEDOUT', 'a queue with waiting work keeps the process alive')
})
