'use strict'

// Every public constructor and configure() refuses bad options with a
// RusqueError carrying a code, never a plain TypeError.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Worker, MultiWorker, JobQueue, configure, RusqueError } = require('..')

const coded = (code, message) => (err) => {
  assert.ok(err instanceof RusqueError, `${err && err.name}: ${err && err.message}`)
  assert.equal(err.code, code)
  if (message) assert.match(err.message, message)
  return true
}

test('new Worker() with bad options throws ERR_INVALID_ARG naming the option', () => {
  assert.throws(() => new Worker({ concurrency: 0 }), coded('ERR_INVALID_ARG', /concurrency/))
  assert.throws(() => new Worker({ concurrency: 1.5 }), coded('ERR_INVALID_ARG', /concurrency/))
  assert.throws(() => new Worker({ roots: '/tmp' }), coded('ERR_INVALID_ARG', /roots/))
  assert.throws(() => new Worker({ roots: ['relative/dir'] }), coded('ERR_INVALID_ARG', /relative\/dir/))
  assert.throws(() => new Worker({ queues: 42 }), coded('ERR_INVALID_ARG', /queues/))
  assert.throws(() => new Worker({ recovery: { action: 'explode' } }), coded('ERR_INVALID_ARG', /recovery\.action/))
  assert.throws(() => new Worker({ recovery: { staleAfter: -1 } }), coded('ERR_INVALID_ARG', /staleAfter/))
})

test('new MultiWorker() with bad roots throws ERR_INVALID_ARG', () => {
  assert.throws(() => new MultiWorker({ roots: 'nope' }, {}), coded('ERR_INVALID_ARG', /roots/))
})

test('new JobQueue() and configure() with bad options throw ERR_INVALID_ARG', () => {
  assert.throws(() => new JobQueue({ concurrency: -1 }), coded('ERR_INVALID_ARG', /concurrency/))
  assert.throws(() => configure({ threads: 100000 }), coded('ERR_INVALID_ARG', /threads/))
})

test('a plugin that cannot be resolved fails its job with a coded error', async () => {
  const w = new Worker({}, {
    unknown: { plugins: ['NoSuchPlugin'], perform: () => 'ran' },
    bad: { plugins: [42], perform: () => 'ran' }
  })
  await assert.rejects(w.performInline('unknown', []), coded('ERR_INVALID_ARG', /NoSuchPlugin/))
  await assert.rejects(w.performInline('bad', []), coded('ERR_INVALID_ARG', /Plugin must be/))
})
