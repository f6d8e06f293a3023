'use strict'

// Every public constructor and configure() refuses bad options with a
// RusqueError carrying a code, never a plain TypeError; so do configure(),
// native(), plugin resolution and the rusque/resque entry.

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

test('configure() refuses bad input with ERR_INVALID_ARG naming the option, from JS and from the Rust range check', () => {
  assert.throws(() => configure('4'), coded('ERR_INVALID_ARG', /configure\(\) takes an object/))
  assert.throws(() => configure({ threads: 0 }), coded('ERR_INVALID_ARG', /threads/))
  assert.throws(() => configure({ threads: 'many' }), coded('ERR_INVALID_ARG', /threads/))
  // 257 passes the JS type check; the core's range check (pool::MAX_THREADS) refuses it across the FFI.
  assert.throws(() => configure({ threads: 257 }), coded('ERR_INVALID_ARG', /threads/))
  assert.throws(() => configure({ nice: 20 }), coded('ERR_INVALID_ARG', /nice/))
  assert.throws(() => configure({ memoryBudget: -1 }), coded('ERR_INVALID_ARG', /memoryBudget/))
})

test('native() refuses an unknown task or bad defaults with ERR_INVALID_ARG', () => {
  const { native } = require('..')
  assert.throws(() => native('blur'), coded('ERR_INVALID_ARG', /unknown native task "blur"/))
  assert.throws(() => native('resize', 42), coded('ERR_INVALID_ARG', /defaults must be an object/))
})

test('new Worker(): bad followSymlinks and keys, checked in Rust, arrive as RusqueErrors naming them', () => {
  assert.throws(() => new Worker({ followSymlinks: 'no' }), coded('ERR_INVALID_ARG', /followSymlinks/))
  assert.throws(() => new Worker({ keys: 'img:' }), coded('ERR_INVALID_ARG', /keys must be/))
  assert.throws(() => new Worker({ keys: { prefix: '' } }), coded('ERR_INVALID_ARG', /keys\.prefix/))
  assert.throws(() => new Worker({ keys: { prefixes: ['a'] } }), coded('ERR_INVALID_ARG', /keys: unknown option "prefixes"/))
  assert.throws(() => new Worker({ roots: ['/no/such/dir/for/rusque'] }), coded('ERR_INVALID_ARG', /\/no\/such\/dir/))
})

test('new MultiWorker() and new JobQueue(): more bad options', () => {
  assert.throws(() => new MultiWorker({ followSymlinks: 1 }, {}), coded('ERR_INVALID_ARG', /followSymlinks/))
  assert.throws(() => new JobQueue({ maxQueued: -1 }), coded('ERR_INVALID_ARG', /maxQueued/))
  assert.throws(() => new JobQueue('fast'), coded('ERR_INVALID_ARG', /JobQueue options must be an object/))
})

test('bad pluginOptions fail the job with ERR_INVALID_ARG naming them', async () => {
  class Noop { constructor () { this.name = 'Noop' } }
  const w = new Worker({}, {
    all: { plugins: [Noop], pluginOptions: 'retry', perform: () => 'ran' },
    one: { plugins: [Noop], pluginOptions: { Noop: 5 }, perform: () => 'ran' }
  })
  await assert.rejects(w.performInline('all', []), coded('ERR_INVALID_ARG', /pluginOptions must be an object/))
  await assert.rejects(w.performInline('one', []), coded('ERR_INVALID_ARG', /pluginOptions\.Noop/))
})

test('rusque/resque: its Worker and MultiWorker are the same, coded on bad options (ERR_PEER_MISSING: resque-compat.test.js)', () => {
  const compat = require('../resque')
  assert.throws(() => new compat.Worker({ concurrency: 0 }), coded('ERR_INVALID_ARG', /concurrency/))
  assert.throws(() => new compat.MultiWorker({ roots: 'nope' }, {}), coded('ERR_INVALID_ARG', /roots/))
})
