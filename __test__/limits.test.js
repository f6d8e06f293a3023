'use strict'

// Output limits (issue #12): a tiny file with extreme options used to ask the
// allocator for terabytes and abort the whole process. The output plan is now
// checked before decoding (limitOutputPixels, each encoder's size limit, the
// resampler's tables) and the buffers after it are allocated fallibly, so
// every such request is refused with ERR_LIMIT_EXCEEDED, on every path: a
// call, a JobQueue, a Worker's JS loop and its Rust loop.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const zlib = require('node:zlib')
const { spawn, spawnSync } = require('node:child_process')
const { once } = require('node:events')
const NR = require('node-resque')
const { resize, metadata, JobQueue } = require('..')
const { fixture, png } = require('./helpers/fixtures')
const { RedisServer } = require('./helpers/redis')

const ROOT = path.join(__dirname, '..')
const FIXTURES = path.join(__dirname, 'helpers', 'fixtures.js')

/** An 8-bit grey PNG of zeros (each row: a filter byte and one byte a pixel). */
const grey = (w, h) => png(w, h, zlib.deflateSync(Buffer.alloc((w + 1) * h)))
const tall = grey(1, 16383) // ~110 bytes; to width 65535 it is 65535x1073659905, 211 TB as RGB
const LIMIT_EXCEEDED = 'ERR_LIMIT_EXCEEDED'

async function rejectsWith (promise, code, pattern) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, code, `code of: ${err.message}`)
    if (pattern) assert.match(err.message, pattern)
    return true
  })
}

/** Runs `body` (an expression giving a promise of a resize) in a child process; returns its exit and printed outcome. */
function inChild (body) {
  const script = `
    const zlib = require('zlib')
    const { resize } = require(${JSON.stringify(ROOT)})
    const { png } = require(${JSON.stringify(FIXTURES)})
    const grey = (w, h) => png(w, h, zlib.deflateSync(Buffer.alloc((w + 1) * h)))
    ;(${body}).then(
      (out) => console.log(JSON.stringify({ resolved: out.length })),
      (err) => console.log(JSON.stringify({ code: err.code, message: err.message })))`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  return { status: r.status, signal: r.signal, stderr: r.stderr, outcome: r.stdout.trim() ? JSON.parse(r.stdout.trim()) : null }
}

test('the 211 TB resize (1x16383 PNG to width 65535) is a coded error; the process lives and exits 0', () => {
  assert.ok(tall.length < 150, `${tall.length} byte input`)
  const r = inChild('resize(grey(1, 16383), { width: 65535 })')
  assert.equal(r.signal, null, `child died of ${r.signal}: ${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.outcome.code, LIMIT_EXCEEDED, r.outcome.message)
  assert.match(r.outcome.message, /65535x1073659905 .*limitOutputPixels \(268402689\).*raise limitOutputPixels/)
})

test('with every limit off, the allocator\'s refusal of 211 TB is a coded error too, not an abort', () => {
  const r = inChild('resize(grey(1, 16383), { width: 65535, limitInputPixels: false, limitOutputPixels: false })')
  assert.equal(r.signal, null, `child died of ${r.signal}: ${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.outcome.code, LIMIT_EXCEEDED, JSON.stringify(r.outcome))
  assert.match(r.outcome.message, /could not be allocated/)
})

test('fit outside of a 1x2 PNG to 65535x65535 (25 GB) is refused', async () => {
  await rejectsWith(resize(grey(1, 2), { width: 65535, height: 65535, fit: 'outside' }), LIMIT_EXCEEDED, /65535x131070/)
})

test('16x16 to 20000x20000 WebP is refused by the encoder limit before resampling, whatever limitOutputPixels says', async () => {
  for (const limitOutputPixels of [undefined, false, 1e9]) {
    await rejectsWith(resize(grey(16, 16), { width: 20000, height: 20000, format: 'webp', limitOutputPixels }),
      LIMIT_EXCEEDED, /WebP output is limited to 16383x16383 pixels, but this resize would give 20000x20000/)
  }
  const out = await resize(grey(16, 16), { width: 16383, height: 1, fit: 'fill', format: 'webp' })
  assert.deepEqual([(await metadata(out)).width, (await metadata(out)).height], [16383, 1])
})

test('JPEG output over 65500 a side is refused; 65500 is written', async () => {
  const jpeg = await resize(grey(4, 4), { format: 'jpeg' })
  await rejectsWith(resize(jpeg, { width: 65501, height: 1, fit: 'fill', limitOutputPixels: false }), LIMIT_EXCEEDED, /JPEG output is limited to 65500x65500/)
  const out = await resize(jpeg, { width: 65500, height: 1, fit: 'fill' })
  const m = await metadata(out)
  assert.deepEqual([m.format, m.width, m.height], ['jpeg', 65500, 1])
})

test('limitOutputPixels: follows limitInputPixels by default; lowered, raised and false', async () => {
  const small = fixture('320x240.jpg')
  await rejectsWith(resize(small, { width: 100, limitOutputPixels: 7499 }), LIMIT_EXCEEDED, /100x75 \(7500 pixels\), over limitOutputPixels \(7499\)/)
  assert.equal((await metadata(await resize(small, { width: 100, limitOutputPixels: 7500 }))).width, 100)
  const sq = grey(16, 16)
  // The default is limitInputPixels: 300 admits the 256-pixel input but not a 400-pixel output.
  await rejectsWith(resize(sq, { width: 20, limitInputPixels: 300 }), LIMIT_EXCEEDED, /20x20 \(400 pixels\), over limitOutputPixels \(300\)/)
  for (const limitOutputPixels of [400, false, 0]) {
    const m = await metadata(await resize(sq, { width: 20, limitInputPixels: 300, limitOutputPixels }))
    assert.deepEqual([m.width, m.height], [20, 20], `limitOutputPixels ${limitOutputPixels}`)
  }
  // contain: the canvas counts, not only the resized image inside it.
  await rejectsWith(resize(sq, { width: 200, height: 10, fit: 'contain', limitOutputPixels: 1999 }), LIMIT_EXCEEDED, /200x10 \(2000 pixels\)/)
})

test('extreme reductions of thin strips are refused before their filter tables are built', async () => {
  // 1x16777216 to 1x64, a 262144:1 reduction: 1.6 GB of weights for 50 MB of pixels.
  const strip = grey(1, 1 << 24)
  await rejectsWith(resize(strip, { height: 64 }), LIMIT_EXCEEDED, /resampling 1x16777216 to 1x64 with kernel 'lanczos3' needs \d+ MB of filter tables/)
  // kernel nearest has no tables.
  const m = await metadata(await resize(strip, { height: 64, kernel: 'nearest' }))
  assert.deepEqual([m.width, m.height], [1, 64])
})

test('fill of a wide strip to a tall output resamples within the images\' own size', async () => {
  // Columns shrink while rows grow: one resampler call would hold a 4000x3000 temporary.
  const strip = await resize(fixture('320x240.jpg'), { width: 4000, height: 2, fit: 'fill', format: 'png' })
  const out = await resize(strip, { width: 8, height: 3000, fit: 'fill' })
  const m = await metadata(out)
  assert.deepEqual([m.width, m.height], [8, 3000])
})

test('a normal resize still works: 2725x2225 JPEG to width 720', async () => {
  const m = await metadata(await resize(fixture('2569067123_aca715a2ee_o.jpg'), { width: 720 }))
  assert.deepEqual([m.format, m.width, m.height], ['jpeg', 720, 588])
})

test('bad limitOutputPixels values are ERR_INVALID_ARG', async () => {
  for (const bad of [-1, 1.5, 'a lot', [1], {}, NaN, Infinity]) {
    await rejectsWith(resize(tall, { width: 10, limitOutputPixels: bad }), 'ERR_INVALID_ARG', /^limitOutputPixels must be a non-negative integer, true or false; got /)
  }
})

test('JobQueue: the 211 TB job rejects with ERR_LIMIT_EXCEEDED and the queue goes on', async () => {
  const q = new JobQueue({ concurrency: 1 })
  const bad = q.add('resize', tall, { width: 65535 })
  const good = q.add('resize', fixture('320x240.jpg'), { width: 32 })
  await rejectsWith(bad, LIMIT_EXCEEDED, /limitOutputPixels/)
  assert.equal((await metadata(await good)).width, 32)
})

// ---------------------------------------------------------------- workers on Redis

// Values whose refusal must read the same from resize() and from a native job.
const BAD_VALUES = [-1, 1.5, -0.5, 1e-7, 'a lot', 'x'.repeat(39) + '\u{1F600}', [1], { n: 1 }]

let server
let redis
let queue

test.before(async () => {
  server = await new RedisServer().start()
  redis = server.client()
  queue = new NR.Queue({ connection: server.connection() })
  await queue.connect()
})

test.after(async () => {
  await queue.end()
  await server.close()
})

/** A Worker in a child process (native resize job `thumb`; plus a JS job when `js`), printing its loop and failures. */
async function startWorker (js) {
  const script = `
    const { Worker, native } = require(${JSON.stringify(ROOT)})
    const jobs = { thumb: native('resize', { format: 'png' }) }
    if (${js}) jobs.noop = async () => 'ok'
    const w = new Worker({ connection: ${JSON.stringify(server.connection())}, queues: ['img'], timeout: 20 }, jobs)
    w.on('error', () => {})
    w.on('failure', (q, job, err) => console.log('failure ' + err.code))
    w.connect().then(() => w.start()).then(() => console.log('started ' + (w.nativeLoop ? 'rust' : 'js')))
    process.on('SIGTERM', () => w.end().then(() => process.exit(0)))`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  while (!/started/.test(out)) await once(child.stdout, 'data')
  return { child, loop: /started (\w+)/.exec(out)[1] }
}

async function until (check, ms = 20000) {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

for (const js of [false, true]) {
  const which = js ? 'JS loop' : 'Rust loop'
  test(`native resize jobs over the limits are filed with ERR_LIMIT_EXCEEDED and the worker lives on (${which})`, async () => {
    await redis.flushdb()
    const { child, loop } = await startWorker(js)
    assert.equal(loop, js ? 'js' : 'rust')
    const b64 = (buf) => ({ base64: buf.toString('base64') })
    const over = [
      { input: b64(tall), output: { key: 'o:tall' }, width: 65535 },
      { input: b64(grey(1, 2)), output: { key: 'o:outside' }, width: 65535, height: 65535, fit: 'outside' },
      { input: b64(grey(16, 16)), output: { key: 'o:webp' }, width: 20000, height: 20000, format: 'webp' },
      { input: b64(tall), output: { key: 'o:off' }, width: 65535, limitInputPixels: false, limitOutputPixels: false }
    ]
    for (const args of over) await queue.enqueue('img', 'thumb', [args])
    for (const limitOutputPixels of BAD_VALUES) {
      await queue.enqueue('img', 'thumb', [{ input: b64(tall), output: { key: 'o:bad' }, width: 10, limitOutputPixels }])
    }
    await queue.enqueue('img', 'thumb', [{ input: b64(fixture('320x240.jpg')), output: { key: 'o:good' }, width: 40 }])
    const filed = over.length + BAD_VALUES.length
    await until(async () => (await redis.llen('resque:failed')) === filed && (await redis.exists('o:good')) === 1)

    assert.equal(child.exitCode, null, 'the worker process is still running')
    assert.equal(child.signalCode, null)
    const failed = (await redis.lrange('resque:failed', 0, -1)).map((s) => JSON.parse(s))
    const byKey = (k) => failed.find((f) => f.payload.args[0].output.key === k)
    for (const args of over) {
      const f = byKey(args.output.key)
      assert.equal(f.exception, LIMIT_EXCEEDED, f.error)
      if (args.output.key === 'o:off') {
        assert.match(f.error, /could not be allocated/)
        continue
      }
      // The same refusal as a direct call with the same options.
      const { input, output, ...options } = args
      const direct = await resize(Buffer.from(input.base64, 'base64'), { format: 'png', ...options }).catch((e) => e)
      assert.deepEqual([f.exception, f.error], [direct.code, direct.message])
    }
    // Bad values: the same code and message as resize() gives for them.
    const bad = failed.filter((f) => f.payload.args[0].output.key === 'o:bad')
    assert.equal(bad.length, BAD_VALUES.length)
    for (const f of bad) {
      const value = f.payload.args[0].limitOutputPixels
      assert.equal(f.exception, 'ERR_INVALID_ARG', f.error)
      const direct = await resize(tall, { width: 10, limitOutputPixels: value }).catch((e) => e)
      assert.equal(direct.code, 'ERR_INVALID_ARG')
      assert.equal(f.error, direct.message, `limitOutputPixels ${JSON.stringify(value)}`)
    }
    assert.equal((await metadata(await redis.getBuffer('o:good'))).width, 40)

    child.kill('SIGTERM')
    const [code, signal] = await once(child, 'exit')
    assert.deepEqual([code, signal], [0, null])
  })
}
