'use strict'

// Operations: the pool's counters (poolInfo), JobQueue#stats() in the same
// shape, and the Prometheus exposition, checked against real tasks.

const test = require('node:test')
const assert = require('node:assert/strict')
const { resize, metadata, hash, configure, poolInfo, prometheus, JobQueue, RusqueError } = require('..')
const { fixture } = require('./helpers/fixtures')

const big = fixture('2569067123_aca715a2ee_o.jpg')
const small = fixture('320x240.jpg')
const FIELDS = ['queued', 'running', 'completed', 'failed', 'cancelled']

function counts (info) {
  const out = {}
  for (const [task, c] of Object.entries(info.tasks)) {
    out[task] = { completed: c.completed, failed: c.failed, cancelled: c.cancelled }
  }
  return out
}

/** Waits until the pool has nothing queued or running (completions are in JS before the counters settle). */
async function settled () {
  for (let i = 0; i < 2000; i++) {
    const info = poolInfo()
    if (info.queued === 0 && info.running === 0) return info
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error('the pool did not go idle')
}

function delta (before, after) {
  const out = {}
  for (const task of Object.keys(after)) {
    out[task] = {}
    for (const k of ['completed', 'failed', 'cancelled']) out[task][k] = after[task][k] - before[task][k]
  }
  return out
}

test('poolInfo counts every task by name and outcome, exactly', async () => {
  const before = counts(await settled())
  const previous = configure({})
  configure({ threads: 1 })
  try {
    // One thread: the cancellable resize waits behind a large one, so it is
    // still queued when aborted and the pool counts it as cancelled.
    const blocker = resize(big, { width: 2000 })
    const ac = new AbortController()
    const cancelled = resize(big, { width: 100, signal: ac.signal })
    ac.abort()
    const results = await Promise.allSettled([
      blocker,
      cancelled,
      resize(small, { width: 50 }),
      resize(Buffer.from('not an image'), { width: 50 }),
      metadata(small),
      metadata(Buffer.from('nope')),
      hash(small),
      hash(big, 'blake3')
    ])
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    assert.equal(results[1].reason.name, 'AbortError')
    const after = await settled()
    assert.deepEqual(delta(before, counts(after)), {
      resize: { completed: 2, failed: 1, cancelled: 1 },
      metadata: { completed: 1, failed: 1, cancelled: 0 },
      hash: { completed: 2, failed: 0, cancelled: 0 }
    })
    for (const k of FIELDS) {
      assert.equal(after[k], Object.values(after.tasks).reduce((n, t) => n + t[k], 0), `total ${k} is the sum over tasks`)
    }
    for (const s of [after.runTime, after.waitTime, after.tasks.resize.runTime]) {
      assert.deepEqual(Object.keys(s), ['p50', 'p99', 'max'])
      assert.ok(s.p50 <= s.p99 && s.p99 <= s.max, JSON.stringify(s))
    }
    assert.ok(after.tasks.resize.runTime.max > 0)
    assert.ok(after.utilization >= 0 && after.utilization <= 1)
    assert.equal(typeof after.memory.budget, 'number')
    assert.equal(after.memory.reserved, 0, 'nothing reserved once idle')
  } finally {
    configure({ threads: previous.threads })
  }
})

test('utilization is the busy share of the pool since the previous poolInfo()', async () => {
  await settled()
  poolInfo()
  const t0 = performance.now()
  await Promise.all(Array.from({ length: 4 }, () => resize(big, { width: 1500 })))
  const wall = performance.now() - t0
  const info = await settled()
  assert.ok(info.utilization > 0, `utilization ${info.utilization}`)
  // Task time cannot exceed the threads' time over the span.
  assert.ok(info.utilization <= 1)
  assert.ok(wall > 0)
  const idle = poolInfo()
  assert.ok(idle.utilization < info.utilization || idle.utilization === 0, 'an idle span reads lower')
})

function parse (text) {
  const samples = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(m, `a well-formed sample line: ${line}`)
    const labels = {}
    if (m[2]) for (const kv of m[2].split(',')) { const [k, v] = kv.split('='); labels[k] = JSON.parse(v) }
    samples.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) })
  }
  return samples
}

test('prometheus(): counters, consistent histograms, gauges, queue series', async () => {
  const q = new JobQueue({ concurrency: 2 })
  await Promise.allSettled([q.add('resize', small, { width: 40 }), q.add('hash', small), q.add('metadata', Buffer.from('x'))])
  await settled()
  const text = prometheus({ queues: { thumbs: q } })
  assert.ok(text.endsWith('\n'))
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]))
  assert.equal(types.get('rusque_tasks_total'), 'counter')
  assert.equal(types.get('rusque_task_duration_seconds'), 'histogram')
  assert.equal(types.get('rusque_pool_queued'), 'gauge')
  assert.equal(types.get('rusque_pool_running'), 'gauge')
  const samples = parse(text)
  const info = poolInfo()
  for (const task of ['resize', 'metadata', 'hash']) {
    const total = (outcome) => samples.find((s) => s.name === 'rusque_tasks_total' && s.labels.task === task && s.labels.outcome === outcome).value
    assert.equal(total('completed'), info.tasks[task].completed)
    assert.equal(total('failed'), info.tasks[task].failed)
    assert.equal(total('cancelled'), info.tasks[task].cancelled)
    for (const family of ['rusque_task_duration_seconds', 'rusque_task_wait_seconds']) {
      const buckets = samples.filter((s) => s.name === `${family}_bucket` && s.labels.task === task)
      assert.ok(buckets.length > 20)
      let prevLe = 0
      let prev = 0
      for (const b of buckets) {
        const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)
        assert.ok(le > prevLe, 'bounds increase')
        assert.ok(b.value >= prev, 'cumulative counts never decrease')
        prevLe = le
        prev = b.value
      }
      assert.equal(buckets.at(-1).labels.le, '+Inf')
      const count = samples.find((s) => s.name === `${family}_count` && s.labels.task === task).value
      assert.equal(buckets.at(-1).value, count, '+Inf bucket equals _count')
      assert.equal(count, total('completed') + total('failed') + total('cancelled'), `${family} counts every finished ${task}`)
    }
    assert.equal(samples.find((s) => s.name === 'rusque_pool_queued' && s.labels.task === task).value, 0)
  }
  const qs = q.stats()
  const qtotal = (outcome) => samples.find((s) => s.name === 'rusque_queue_jobs_total' && s.labels.queue === 'thumbs' && s.labels.outcome === outcome).value
  assert.equal(qtotal('completed'), 2)
  assert.equal(qtotal('failed'), 1)
  assert.equal(qs.completed, 2)
  assert.equal(samples.find((s) => s.name === 'rusque_queue_job_duration_seconds_count').value, 3)
  assert.throws(() => prometheus({ queues: { bad: {} } }), TypeError)
  await q.close()
})

test('JobQueue#stats() has the pool\'s shape: queued and { p50, p99, max }', async () => {
  const q = new JobQueue({ concurrency: 1 })
  await Promise.all(Array.from({ length: 5 }, () => q.add('hash', small)))
  const s = q.stats()
  assert.equal(s.completed, 5)
  assert.equal(s.queued, 0)
  for (const t of [s.runTime, s.waitTime]) {
    assert.deepEqual(Object.keys(t), ['p50', 'p99', 'max'])
    assert.ok(t.p50 <= t.p99 && t.p99 <= t.max)
  }
  assert.ok(s.runTime.max > 0)
  await q.close()
})

test('configure({ memoryBudget }) sets the budget; bad values are ERR_INVALID_ARG', () => {
  const before = poolInfo().memory.budget
  try {
    configure({ memoryBudget: 123456789 })
    assert.equal(poolInfo().memory.budget, 123456789)
    configure({ memoryBudget: Infinity })
    assert.equal(poolInfo().memory.budget, 0, 'Infinity: no budget')
    for (const bad of [-1, 1.5, '100', NaN]) {
      assert.throws(() => configure({ memoryBudget: bad }), (e) => e instanceof RusqueError && e.code === 'ERR_INVALID_ARG')
    }
  } finally {
    configure({ memoryBudget: before })
  }
})
