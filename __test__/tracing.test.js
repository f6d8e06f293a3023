'use strict'

// Tracing: diagnostics_channel.tracingChannel('rusque:task') publishes
// start/end/asyncStart/asyncEnd/error for every task call, nothing while
// nobody subscribes; NODE_DEBUG=rusque logs life-cycle events.

const test = require('node:test')
const assert = require('node:assert/strict')
const dc = require('node:diagnostics_channel')
const { AsyncLocalStorage } = require('node:async_hooks')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { resize, hash, metadata, JobQueue } = require('..')
const pool = require('../lib/pool')
const { fixture } = require('./helpers/fixtures')

const small = fixture('320x240.jpg')
const channel = dc.tracingChannel('rusque:task')

function record () {
  const events = []
  const handlers = {}
  for (const name of ['start', 'end', 'asyncStart', 'asyncEnd', 'error']) {
    handlers[name] = (ctx) => events.push([name, ctx])
  }
  channel.subscribe(handlers)
  return { events, stop: () => channel.unsubscribe(handlers) }
}

function byContext (events) {
  const map = new Map()
  for (const [name, ctx] of events) {
    if (!map.has(ctx)) map.set(ctx, [])
    map.get(ctx).push(name)
  }
  return map
}

test('a task call publishes start, end, asyncStart, asyncEnd in order with { task, options, inputBytes }', async () => {
  const rec = record()
  const options = { width: 40 }
  let settledIn = null
  try {
    const out = await resize(small, options).then((v) => { settledIn = rec.events.length; return v })
    assert.ok(out.length > 0)
  } finally {
    rec.stop()
  }
  const [[ctx, names]] = byContext(rec.events)
  assert.deepEqual(names, ['start', 'end', 'asyncStart', 'asyncEnd'])
  assert.equal(ctx.task, 'resize')
  assert.equal(ctx.options, options)
  assert.equal(ctx.inputBytes, small.length)
  assert.ok(Buffer.isBuffer(ctx.result))
  assert.equal(settledIn, 4, 'the promise settles after asyncEnd')
})

test('a failing call publishes error before asyncStart, with the RusqueError', async () => {
  const rec = record()
  try {
    await assert.rejects(metadata(Buffer.from('not an image')), { code: 'ERR_UNSUPPORTED_FORMAT' })
  } finally {
    rec.stop()
  }
  const [[ctx, names]] = byContext(rec.events)
  assert.deepEqual(names, ['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
  assert.equal(ctx.task, 'metadata')
  assert.equal(ctx.error.code, 'ERR_UNSUPPORTED_FORMAT')
})

test('JobQueue jobs (batched hashes included) are traced, one context each', async () => {
  const q = new JobQueue({ concurrency: 4 })
  const rec = record()
  try {
    await Promise.all([q.add('hash', small), q.add('hash', small, 'md5'), q.add('resize', small, { width: 20 })])
  } finally {
    rec.stop()
  }
  const contexts = byContext(rec.events)
  assert.equal(contexts.size, 3)
  for (const [ctx, names] of contexts) {
    assert.deepEqual(names, ['start', 'end', 'asyncStart', 'asyncEnd'], ctx.task)
  }
  assert.deepEqual([...contexts.keys()].map((c) => c.task).sort(), ['hash', 'hash', 'resize'])
  await q.close()
})

test('a store bound to start is active in the completion (APM context propagation)', async () => {
  const als = new AsyncLocalStorage()
  channel.start.bindStore(als, (ctx) => ({ span: ctx.task }))
  let seen
  const done = () => { seen = als.getStore() }
  channel.asyncStart.bindStore(als, (ctx) => ({ span: `${ctx.task}:done` }))
  channel.asyncEnd.subscribe(done)
  try {
    await hash(small)
  } finally {
    channel.asyncEnd.unsubscribe(done)
    channel.start.unbindStore(als)
    channel.asyncStart.unbindStore(als)
  }
  assert.deepEqual(seen, { span: 'hash:done' })
})

test('with no subscriber, no trace context is made', async () => {
  assert.equal(channel.hasSubscribers, false)
  const before = pool.traceCounts.contexts
  const q = new JobQueue()
  await Promise.all([resize(small, { width: 30 }), hash(small), metadata(small), q.add('hash', small)])
  await q.close()
  assert.equal(pool.traceCounts.contexts, before)
  // And one subscriber makes exactly one per call.
  const rec = record()
  try {
    await hash(small)
  } finally {
    rec.stop()
  }
  assert.equal(pool.traceCounts.contexts, before + 1)
})

test('NODE_DEBUG=rusque logs pool life-cycle events', () => {
  const code = `
    const r = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    r.configure({ threads: 2, memoryBudget: 1 << 28 })
    r.hash(Buffer.from('x')).then(() => {})`
  const run = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, NODE_DEBUG: 'rusque' }, encoding: 'utf8' })
  assert.equal(run.status, 0, run.stderr)
  assert.match(run.stderr, /RUSQUE \d+: pool configured: \{"threads":2,"nice":\d+\}, memory budget 268435456 bytes/)
  assert.match(run.stderr, /RUSQUE \d+: runtime started/)
  const quiet = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, NODE_DEBUG: '' }, encoding: 'utf8' })
  assert.equal(quiet.stderr, '')
})
