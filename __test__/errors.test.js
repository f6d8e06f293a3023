'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { resize, metadata, hash, configure } = require('..')
const { fixture } = require('./helpers/fixtures')

const small = fixture('320x240.jpg')

async function rejectsWith (promise, code, pattern) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, 'an Error')
    assert.equal(err.code, code, `code of: ${err.message}`)
    if (pattern) assert.match(err.message, pattern)
    return true
  })
}

test('bad fixtures reject with the right code', async () => {
  await rejectsWith(resize(fixture('corrupt-header.jpg'), { width: 100 }), 'ERR_CORRUPT_INPUT', /JPEG/)
  await rejectsWith(resize(fixture('truncated.jpg'), { width: 100 }), 'ERR_CORRUPT_INPUT', /truncated|Premature/)
  await rejectsWith(resize(fixture('truncated.png'), { width: 100 }), 'ERR_CORRUPT_INPUT', /png/i)
  await rejectsWith(resize(fixture('giant-image.jpg'), { width: 100 }), 'ERR_LIMIT_EXCEEDED', /20000x14000/)
  await rejectsWith(resize(fixture('65536-uint32-limit.png'), { width: 100 }), 'ERR_LIMIT_EXCEEDED', /65536x65536/)
  await rejectsWith(metadata(fixture('corrupt-header.jpg')), 'ERR_CORRUPT_INPUT')
})

test('limitInputPixels: a lower limit rejects, false disables', async () => {
  await rejectsWith(resize(small, { width: 10, limitInputPixels: 1000 }), 'ERR_LIMIT_EXCEEDED', /limitInputPixels/)
  const out = await resize(small, { width: 10, limitInputPixels: false })
  assert.equal((await metadata(out)).width, 10)
})

test('empty, random and non-image bytes', async () => {
  await rejectsWith(resize(Buffer.alloc(0), { width: 10 }), 'ERR_INVALID_ARG', /empty/)
  await rejectsWith(metadata(Buffer.alloc(0)), 'ERR_INVALID_ARG', /empty/)
  await rejectsWith(resize(require('node:crypto').randomBytes(4096), { width: 10 }), 'ERR_UNSUPPORTED_FORMAT')
  await rejectsWith(resize(Buffer.from('GIF89a'), { width: 10 }), 'ERR_CORRUPT_INPUT')
  await rejectsWith(resize(Buffer.from([0xff, 0xd8, 0xff]), { width: 10 }), 'ERR_CORRUPT_INPUT')
})

test('wrong argument types reject with ERR_INVALID_ARG', async () => {
  for (const bad of [undefined, null, 'a string', 42, {}, [1, 2, 3]]) {
    await rejectsWith(resize(bad, { width: 10 }), 'ERR_INVALID_ARG', /input must be/)
    await rejectsWith(metadata(bad), 'ERR_INVALID_ARG')
    await rejectsWith(hash(bad), 'ERR_INVALID_ARG')
  }
  await rejectsWith(resize(small, 'wide'), 'ERR_INVALID_ARG', /options/)
})

test('out-of-range and unknown options reject with ERR_INVALID_ARG', async () => {
  const cases = [
    [{ width: 0 }, /width/], [{ width: -5 }, /width/], [{ width: NaN }, /width/], [{ width: 65536 }, /width/],
    [{ width: 10.5 }, /width/], [{ height: '100' }, /height/], [{ fit: 'stretch' }, /fit/], [{ format: 'tiff' }, /format/],
    [{ kernel: 'lanczos2' }, /kernel/], [{ quality: 0 }, /quality/], [{ quality: 101 }, /quality/],
    [{ position: 'entropy' }, /position/], [{ background: 'nope' }, /background/], [{ withoutEnlargement: 'yes' }, /withoutEnlargement/],
    [{ autoOrient: 1 }, /autoOrient/], [{ limitInputPixels: -1 }, /limitInputPixels/], [{ signal: {} }, /signal/]
  ]
  for (const [options, pattern] of cases) {
    await rejectsWith(resize(small, options), 'ERR_INVALID_ARG', pattern)
  }
  await rejectsWith(hash(Buffer.from('x'), 'crc32'), 'ERR_INVALID_ARG', /algorithm/)
  assert.throws(() => configure({ threads: 0 }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => configure({ nice: 40 }), { code: 'ERR_INVALID_ARG' })
})

test('after every bad input the process still works', async () => {
  const m = await metadata(await resize(small, { width: 32 }))
  assert.deepEqual([m.width, m.height], [32, 24])
})

const { JobQueue } = require('..')

/** Detaches `buf`'s ArrayBuffer (as a transfer to a worker would) and returns `buf`. */
function detach (buf) {
  structuredClone(buf.buffer, { transfer: [buf.buffer] })
  return buf
}

test('a signal that is not a real AbortSignal is ERR_INVALID_ARG naming signal; the process lives on', () => {
  // In a child: before, this object was accepted, and the missing
  // removeEventListener threw on a later tick at completion (exit 1, the
  // promise never settled).
  const script = `
    const { resize, metadata, hash, JobQueue } = require(${JSON.stringify(require.resolve('..'))})
    const fake = { aborted: false, addEventListener () {} }
    const img = require('fs').readFileSync(${JSON.stringify(require('./helpers/fixtures').dir + '/320x240.jpg')})
    const q = new JobQueue()
    const calls = [
      resize(img, { width: 10, signal: fake }),
      metadata(img, { signal: fake }),
      hash(img, { signal: fake }),
      q.add('resize', img, { width: 10, signal: fake }),
      q.add('hash', img, 'sha256', { signal: fake }),
      q.add('hash', img, 'sha256', { signal: Object.create(AbortSignal.prototype) })
    ]
    Promise.allSettled(calls).then((r) => console.log(JSON.stringify(r.map((x) => [x.status, x.reason && x.reason.code, x.reason && x.reason.message]))))
  `
  const { execFileSync } = require('node:child_process')
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }))
  assert.equal(out.length, 6)
  for (const [status, code, message] of out) {
    assert.equal(status, 'rejected')
    assert.equal(code, 'ERR_INVALID_ARG')
    assert.match(message, /signal must be an AbortSignal/)
  }
})

test('Proxies, detached buffers and throwing getters reject with ERR_INVALID_ARG naming the argument', async () => {
  const revocable = Proxy.revocable(Buffer.from(small), {})
  revocable.revoke()
  const inputs = [
    ['a Proxy of a Buffer', () => new Proxy(Buffer.from(small), {}), /input must be .*got a Proxy/],
    ['a revoked Proxy', () => revocable.proxy, /input must be .*got a Proxy/],
    ['a detached Buffer', () => detach(Buffer.from(small)), /input's ArrayBuffer is detached/],
    ['a detached ArrayBuffer', () => detach(new Uint8Array(small)).buffer, /input's ArrayBuffer is detached/],
    ['a DataView on a detached ArrayBuffer', () => { const u = new Uint8Array(small); const d = new DataView(u.buffer); detach(u); return d }, /input's ArrayBuffer is detached/],
    ['an object claiming Uint8Array', () => Object.create(Uint8Array.prototype), /input must be/]
  ]
  for (const [what, make, pattern] of inputs) {
    await rejectsWith(resize(make(), { width: 10 }), 'ERR_INVALID_ARG', pattern).catch((e) => { e.message = `resize(${what}): ${e.message}`; throw e })
    await rejectsWith(metadata(make()), 'ERR_INVALID_ARG', pattern).catch((e) => { e.message = `metadata(${what}): ${e.message}`; throw e })
    await rejectsWith(hash(make()), 'ERR_INVALID_ARG', pattern).catch((e) => { e.message = `hash(${what}): ${e.message}`; throw e })
  }
  // hash() of an empty (not detached) buffer is still the empty digest.
  assert.equal(await hash(new Uint8Array(0)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')

  const boom = () => { throw new TypeError('boom') }
  const throwing = [
    ['resize', () => resize(small, { get width () { return boom() } }), /options could not be read \(reading it threw TypeError: boom\)/],
    ['resize with a Proxy', () => resize(small, new Proxy({}, { get: boom })), /options could not be read/],
    ['resize with a revoked Proxy', () => resize(small, revocable.proxy), /options could not be read|options must be/],
    ['hash', () => hash(small, { get algorithm () { return boom() } }), /options could not be read/],
    ['metadata', () => metadata(small, { get signal () { return boom() } }), /options could not be read/],
    ['JobQueue#add job options', () => new JobQueue().add('hash', small, 'md5', { get priority () { return boom() } }), /job options could not be read/],
    ['a throw of a non-Error', () => resize(small, { get width () { throw 42 } }), /options could not be read \(reading it threw number 42\)/] // eslint-disable-line no-throw-literal
  ]
  for (const [what, call, pattern] of throwing) {
    await assert.rejects(call(), (err) => {
      assert.equal(err.code, 'ERR_INVALID_ARG', `${what}: ${err.message}`)
      assert.equal(err.name, 'RusqueError', what)
      assert.match(err.message, pattern, what)
      return true
    })
  }
})

test('a job whose buffer is detached while it waits rejects with ERR_INVALID_ARG, and the queue goes on', async () => {
  const q = new JobQueue({ concurrency: 1 })
  q.pause()
  const resized = new Uint8Array(small)
  const hashed = new Uint8Array([97, 98, 99]) // not from Buffer's shared pool
  const a = q.add('resize', resized, { width: 10 })
  const b = q.add('hash', hashed) // an uncancellable hash: the grouped path
  const c = q.add('hash', Buffer.from('abc'))
  detach(resized)
  detach(hashed)
  q.resume()
  await rejectsWith(a, 'ERR_INVALID_ARG', /detached/)
  await rejectsWith(b, 'ERR_INVALID_ARG', /detached/)
  assert.equal(await c, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  await q.onIdle()
})

test('a listener that throws during a completion: the promise settles, the queue goes on, a warning says so', async () => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  try {
    const q = new JobQueue({ concurrency: 1 })
    q.on('completed', () => { throw new Error('listener bug') })
    q.on('failed', () => { throw new Error('failed listener bug') })
    const results = await Promise.allSettled([q.add('hash', Buffer.from('abc')), q.add('resize', Buffer.from('nope'), { width: 5 }), q.add('hash', Buffer.from('abc'), 'md5')])
    assert.equal(results[0].value, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    assert.equal(results[1].reason.code, 'ERR_UNSUPPORTED_FORMAT')
    assert.equal(results[2].value, '900150983cd24fb0d6963f7d28e17f72')
    await q.onIdle()
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(warnings.map((w) => [w.name, w.code, w.cause.message]).sort(), [
      ['RusqueWarning', 'RUSQUE_CALLBACK_THREW', 'failed listener bug'],
      ['RusqueWarning', 'RUSQUE_CALLBACK_THREW', 'listener bug'],
      ['RusqueWarning', 'RUSQUE_CALLBACK_THREW', 'listener bug']
    ])
  } finally {
    process.off('warning', onWarning)
  }
})

test('configure() caps threads at 256: above is ERR_INVALID_ARG, the cap itself works', async () => {
  const { poolInfo } = require('..')
  const before = poolInfo()
  for (const threads of [257, 1024, 2 ** 32, 2 ** 40]) {
    assert.throws(() => configure({ threads }), (err) => {
      assert.equal(err.name, 'RusqueError')
      assert.equal(err.code, 'ERR_INVALID_ARG')
      assert.match(err.message, /threads must be/)
      return true
    }, String(threads))
  }
  assert.equal(poolInfo().threads, before.threads, 'a refused configure changes nothing')
  assert.throws(() => configure({ get threads () { throw new Error('boom') } }), { code: 'ERR_INVALID_ARG', message: /options could not be read/ })
  assert.throws(() => configure({ nice: 20 }), { code: 'ERR_INVALID_ARG', message: /nice must be an integer from 0 to 19/ })
  try {
    assert.deepEqual(configure({ threads: 256 }), { threads: 256, nice: before.nice })
    assert.equal(await hash(Buffer.from('abc'), 'md5'), '900150983cd24fb0d6963f7d28e17f72')
  } finally {
    configure({ threads: before.threads })
  }
  // RUSQUE_THREADS follows the same cap: a value above it is ignored.
  const { spawnSync } = require('node:child_process')
  const info = (value) => JSON.parse(spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(require.resolve('..'))}).poolInfo()))`], { env: { ...process.env, RUSQUE_THREADS: value }, encoding: 'utf8' }).stdout)
  assert.equal(info('256').threads, 256)
  assert.equal(info('257').threads, require('node:os').availableParallelism())
})

// The error catalogue (crates/core/src/error.rs) is the one list of codes:
// every code the sources name, the d.ts union and the docs' table must be it.
const fs = require('node:fs')
const path = require('node:path')
const errors = require('../lib/errors')

const root = path.join(__dirname, '..')
const CODE = /\b(ERR_[A-Z0-9_]*[A-Z0-9]|ABORT_ERR)\b/g
const catalogued = new Set(errors.catalogue.map((e) => e.code))

/** Every file under `dir` (or `dir` itself) ending in one of `exts`. */
function sources (dir, exts) {
  const full = path.join(root, dir)
  if (!fs.statSync(full).isDirectory()) return [full]
  return fs.readdirSync(full, { recursive: true }).map((f) => path.join(full, f)).filter((f) => exts.some((e) => f.endsWith(e)))
}

test('the catalogue: unique codes, each with a one-line meaning; codes is frozen and equal to it', () => {
  assert.ok(errors.catalogue.length >= 19)
  assert.equal(catalogued.size, errors.catalogue.length, 'no code twice')
  for (const { code, description } of errors.catalogue) {
    assert.match(code, /^(ERR_[A-Z_]+|ABORT_ERR)$/)
    assert.ok(typeof description === 'string' && description.length > 20 && !description.includes('\n'), code)
  }
  assert.ok(Object.isFrozen(errors.codes) && Object.isFrozen(errors.catalogue))
  assert.deepEqual(Object.keys(errors.codes).sort(), [...catalogued].sort())
  for (const [k, v] of Object.entries(errors.codes)) assert.equal(k, v)
  assert.throws(() => { 'use strict'; errors.codes.ERR_NEW = 'x' }, TypeError)
})

test('every code named in lib/, index.js, resque.js and src/ is in the catalogue', () => {
  const files = [...sources('lib', ['.js']), ...sources('src', ['.rs']), path.join(root, 'index.js'), path.join(root, 'resque.js')]
  const stray = []
  for (const f of files) {
    for (const [code] of fs.readFileSync(f, 'utf8').matchAll(CODE)) {
      if (!catalogued.has(code)) stray.push(`${path.relative(root, f)}: ${code}`)
    }
  }
  assert.deepEqual(stray, [], 'codes the catalogue (crates/core/src/error.rs) does not list')
})

test('ERR_RUSQUE_NATIVE_LOAD, thrown by lib/load.js before the binding exists, is catalogued', () => {
  assert.match(fs.readFileSync(path.join(root, 'lib', 'load.js'), 'utf8'), /new RusqueError\('ERR_RUSQUE_NATIVE_LOAD'/)
  assert.ok(catalogued.has('ERR_RUSQUE_NATIVE_LOAD'))
  const { load } = require('../lib/load')
  const { RusqueError } = require('..')
  assert.throws(() => load(path.join(root, 'no-such-binding.js')), (err) => err instanceof RusqueError && err.code === 'ERR_RUSQUE_NATIVE_LOAD' && err.name === 'RusqueError')
})

test('the RusqueErrorCode union of index.d.ts is the catalogue; RusqueError#code uses it', () => {
  const dts = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8')
  const union = /export type RusqueErrorCode =([^]*?)\n\n/.exec(dts)
  assert.ok(union, 'index.d.ts declares RusqueErrorCode')
  const members = [...union[1].matchAll(/'([^']+)'/g)].map((m) => m[1])
  assert.equal(new Set(members).size, members.length, 'no member twice')
  assert.deepEqual(members.sort(), [...catalogued].sort())
  assert.match(/export class RusqueError [^]*?\n}/.exec(dts)[0], /\bcode: RusqueErrorCode\n/)
  // The ESM and rusque/resque declarations re-export index.d.ts rather than declare codes again.
  for (const f of ['index.d.mts', 'resque.d.ts', 'resque.d.mts']) {
    assert.doesNotMatch(fs.readFileSync(path.join(root, f), 'utf8'), /ERR_/, `${f} names no code of its own`)
  }
})

test("docs/api.md's error table lists exactly the catalogue", () => {
  const md = fs.readFileSync(path.join(root, 'docs', 'api.md'), 'utf8')
  const section = /\n## Errors\n([^]*?)\n## /.exec(md)
  assert.ok(section, 'docs/api.md has an ## Errors section')
  const rows = section[1].split('\n').filter((l) => l.startsWith('| `'))
  const table = rows.filter((l) => /^\| `(ERR_|ABORT_ERR)/.test(l) && l.split('|').length >= 6)
  const listed = table.flatMap((l) => [...l.split('|')[1].matchAll(CODE)].map((m) => m[1]))
  assert.equal(new Set(listed).size, listed.length, 'no code in two rows')
  assert.deepEqual(listed.sort(), [...catalogued].sort())
})

test('fromNative: a catalogue code keeps its code as a RusqueError; napi refusals are ERR_INVALID_ARG', () => {
  const thrown = Object.assign(new Error('bad width'), { code: 'ERR_LIMIT_EXCEEDED' })
  const e = errors.fromNative(thrown)
  assert.ok(e instanceof errors.RusqueError)
  assert.deepEqual([e.code, e.message], ['ERR_LIMIT_EXCEEDED', 'bad width'])
  assert.ok(errors.fromNative(Object.assign(new Error('x'), { code: 'ABORT_ERR' })) instanceof errors.AbortError)
  const napi = Object.assign(new Error('Failed to convert JavaScript value `String` into rust type `u32`'), { code: 'NumberExpected' })
  const n = errors.fromNative(napi)
  assert.ok(n instanceof errors.RusqueError)
  assert.equal(n.code, 'ERR_INVALID_ARG')
  assert.equal(n.cause, napi)
})

test('the binding throws err.code itself: configure(), NativeWorker config, NativeJobs', () => {
  const binding = require('../lib/load').load()
  const code = (c, m) => (err) => { assert.equal(err.code, c, err.message); assert.match(err.message, m); return true }
  assert.throws(() => binding.configure(0, undefined), code('ERR_INVALID_ARG', /threads/))
  const config = { url: 'redis://127.0.0.1:1/0', queues: ['q'], slots: ['s'], jobs: {} }
  const noop = () => {}
  assert.throws(() => new binding.NativeWorker({ ...config, pollMs: -1 }, noop), code('ERR_INVALID_ARG', /pollMs/))
  assert.throws(() => new binding.NativeWorker({ ...config, pingMs: 1e300 }, noop), code('ERR_INVALID_ARG', /pingMs/))
  assert.throws(() => new binding.NativeWorker({ ...config, pollMs: Infinity }, noop), code('ERR_INVALID_ARG', /pollMs/))
  assert.throws(() => new binding.NativeWorker({ ...config, events: 256 }, noop), code('ERR_INVALID_ARG', /events/))
  assert.throws(() => new binding.NativeWorker({ ...config, slots: [] }, noop), code('ERR_INVALID_ARG', /slot/))
  assert.throws(() => new binding.NativeWorker({ ...config, jobs: { t: { task: 'blur', defaults: '{}' } } }, noop), code('ERR_INVALID_ARG', /blur/))
  assert.throws(() => new binding.NativeWorker({ ...config, jobs: { t: { task: 'hash', defaults: '[]' } } }, noop), code('ERR_INVALID_ARG', /defaults/))
  assert.throws(() => new binding.NativeWorker({ ...config, keys: '{"prefix":""}' }, noop), code('ERR_INVALID_ARG', /keys\.prefix/))
  assert.throws(() => new binding.NativeWorker({ ...config, roots: ['relative'] }, noop), code('ERR_INVALID_ARG', /relative/))
  // A field of the wrong type is napi's own refusal (a napi status), which fromNative turns into ERR_INVALID_ARG.
  let napiErr
  try { new binding.NativeWorker({ ...config, queues: 'q' }, noop) } catch (err) { napiErr = err } // eslint-disable-line no-new
  assert.ok(napiErr && !catalogued.has(napiErr.code), `napi status, got ${napiErr && napiErr.code}`)
  assert.equal(errors.fromNative(napiErr).code, 'ERR_INVALID_ARG')
})
