'use strict'

// `composite`: overlays (a watermark PNG with alpha first) placed by gravity
// or by top/left, with sharp's blend modes, compared with sharp doing the
// same chain; plus the overlay inputs' refusals and the JobQueue path.

const { test, describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const sharp = require('sharp')
const { resize, JobQueue, native } = require('..')
const { fixture } = require('./helpers/fixtures')
const { startRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')
const { psnr } = require('../benchmark/lib/lanczos')

const photo = fixture('Landscape_1.jpg') // 600x450, upright

// A watermark as an upload pipeline has one: antialiased text and a
// half-transparent band, rendered by sharp from SVG (generated here, so the
// repository carries no extra file).
const markSvg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="140" height="48">
  <rect x="0" y="0" width="140" height="48" fill="rgb(0,0,80)" fill-opacity="0.45"/>
  <text x="70" y="33" font-family="sans-serif" font-size="26" font-weight="bold" text-anchor="middle" fill="white" fill-opacity="0.8">rusque</text>
</svg>`)
let markPng
async function mark () {
  markPng = markPng || await sharp(markSvg).png().toBuffer()
  return markPng
}

async function raw (bytes) {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return { data, width: info.width, height: info.height }
}

/** PSNR of two raw RGB images inside a rectangle. */
function regionPsnr (a, b, { left, top, width, height }) {
  const pick = (img) => {
    const out = Buffer.alloc(width * height * 3)
    for (let y = 0; y < height; y++) img.data.copy(out, y * width * 3, ((top + y) * img.width + left) * 3, ((top + y) * img.width + left + width) * 3)
    return out
  }
  return psnr(pick(a), pick(b))
}

test('a watermark at southeast: sharp\'s pixels, and the mark is really there', async () => {
  const input = await mark()
  const ours = await raw(await resize(photo, { width: 300, composite: [{ input, gravity: 'southeast' }], format: 'png' }))
  const theirs = await raw(await sharp(photo).resize({ width: 300 }).composite([{ input, gravity: 'southeast' }]).png().toBuffer())
  const plain = await raw(await resize(photo, { width: 300, format: 'png' }))
  assert.deepEqual([ours.width, ours.height], [300, 225])
  assert.deepEqual([theirs.width, theirs.height], [300, 225])
  const db = psnr(theirs.data, ours.data)
  assert.ok(db >= 30, `PSNR ${db.toFixed(1)} dB against sharp, want at least 30`)
  const where = { left: 160, top: 177, width: 140, height: 48 }
  const inMark = regionPsnr(ours, theirs, where)
  assert.ok(inMark >= 30, `inside the mark: PSNR ${inMark.toFixed(1)} dB against sharp`)
  // Without the overlay the corner differs a lot; away from it, nothing changed.
  assert.ok(regionPsnr(ours, plain, where) < 25, 'the corner carries the mark')
  assert.equal(regionPsnr(ours, plain, { left: 0, top: 0, width: 150, height: 150 }), Infinity, 'the rest of the image is untouched')
})

for (const blend of ['over', 'multiply', 'screen', 'darken', 'lighten']) {
  test(`blend ${blend} at top/left, as sharp blends it`, async () => {
    const input = await mark()
    const place = { top: 20, left: 30 }
    const ours = await raw(await resize(photo, { width: 300, composite: [{ input, ...place, blend }], format: 'png' }))
    const theirs = await raw(await sharp(photo).resize({ width: 300 }).composite([{ input, ...place, blend }]).png().toBuffer())
    const db = regionPsnr(ours, theirs, { left: 30, top: 20, width: 140, height: 48 })
    assert.ok(db >= 30, `PSNR ${db.toFixed(1)} dB inside the overlay, want at least 30`)
  })
}

test('overlays compose in order, after greyscale, and reach past the edges clipped', async () => {
  const red = await sharp({ create: { width: 20, height: 20, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 1 } } }).png().toBuffer()
  const blue = await sharp({ create: { width: 10, height: 10, channels: 3, background: { r: 0, g: 0, b: 255 } } }).png().toBuffer()
  const out = await raw(await resize(photo, {
    width: 100,
    greyscale: true,
    format: 'png',
    composite: [{ input: red, left: -10, top: -10 }, { input: blue, left: 5, top: 5 }, { input: blue, left: 95, top: 70 }]
  }))
  assert.deepEqual([out.width, out.height], [100, 75])
  const px = (x, y) => [...out.data.subarray((y * 100 + x) * 3, (y * 100 + x) * 3 + 3)]
  assert.deepEqual(px(0, 0), [255, 0, 0], 'the red square, clipped to its visible quarter')
  assert.deepEqual(px(9, 2), [255, 0, 0])
  assert.deepEqual(px(7, 7), [0, 0, 255], 'the second overlay lies on top of the first')
  assert.deepEqual(px(99, 74), [0, 0, 255], 'clipped at the bottom-right corner')
  const [r, g, b] = px(50, 40)
  assert.ok(r === g && g === b, 'the photo under no overlay is grey: greyscale ran before composite')
})

test('JobQueue takes the same overlays and gives the same bytes', async () => {
  const input = await mark()
  const opts = { width: 240, composite: [{ input, gravity: 'north', blend: 'screen' }], format: 'jpeg' }
  const q = new JobQueue({ concurrency: 2 })
  try {
    const [a, b] = await Promise.all([resize(photo, opts), q.add('resize', photo, opts)])
    assert.ok(Buffer.compare(a, b) === 0)
  } finally {
    await q.close()
  }
})

test('the overlay bytes are read at the call: changing them afterwards changes nothing', async () => {
  const input = Buffer.from(await mark())
  const expected = await resize(photo, { width: 200, composite: [{ input: Buffer.from(input), gravity: 'centre' }] })
  const pending = resize(photo, { width: 200, composite: [{ input, gravity: 'centre' }] })
  input.fill(0)
  assert.ok(Buffer.compare(await pending, expected) === 0)
  // An ArrayBuffer and a typed-array view over the same bytes are overlays too.
  const png = await mark()
  const ab = png.buffer.slice(png.byteOffset, png.byteOffset + png.byteLength)
  assert.ok(Buffer.compare(await resize(photo, { width: 200, composite: [{ input: ab }] }), await resize(photo, { width: 200, composite: [{ input: new DataView(ab) }] })) === 0)
})

test('bad overlays: coded errors naming the entry', async () => {
  const input = await mark()
  const big = await sharp({ create: { width: 700, height: 500, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer()
  const corrupt = Buffer.from(input)
  corrupt.fill(7, 40) // the header survives, the image data does not
  const cases = [
    [{ composite: [{ input }, { input: corrupt }] }, 'ERR_CORRUPT_INPUT', /composite\[1\]\.input/],
    [{ composite: [{ input: Buffer.from('not an image') }] }, 'ERR_UNSUPPORTED_FORMAT', /composite\[0\]\.input/],
    [{ composite: [{ input: Buffer.alloc(0) }] }, 'ERR_UNSUPPORTED_FORMAT', /composite\[0\]\.input: input is empty/],
    [{ composite: [{ input: big }], limitInputPixels: 600 * 450 }, 'ERR_LIMIT_EXCEEDED', /composite\[0\]\.input: input image is 700x500/],
    [{ composite: [{ input: 'mark.png' }] }, 'ERR_INVALID_ARG', /composite\[0\]\.input must be a Buffer/],
    [{ composite: [{ input: { path: '/etc/passwd' } }] }, 'ERR_INVALID_ARG', /composite\[0\]\.input: a path, key or base64 names an overlay in a native job only/],
    [{ composite: [{ input, left: 3 }] }, 'ERR_INVALID_ARG', /composite\[0\] needs both left and top/],
    [{ composite: [{ input, blend: 'overlay' }] }, 'ERR_INVALID_ARG', /composite\[0\]\.blend must be one of over, multiply, screen, darken, lighten/],
    [{ composite: [{ input, gravty: 'north' }] }, 'ERR_INVALID_ARG', /did you mean "gravity"/],
    [{ composite: input }, 'ERR_INVALID_ARG', /composite must be an array/]
  ]
  for (const [opts, code, message] of cases) {
    await assert.rejects(resize(photo, { width: 100, ...opts }).then(() => null, (e) => { throw e }), (err) => {
      assert.equal(err.code, code, `${JSON.stringify(Object.keys(opts))}: ${err.message}`)
      assert.match(err.message, message)
      return true
    })
  }
  // Each input meets the limit alone: raised to the overlay's size, the same call works.
  const ok = await resize(photo, { width: 100, composite: [{ input: big }], limitInputPixels: 700 * 500, format: 'png' })
  assert.equal((await sharp(ok).metadata()).width, 100)
})

// Native jobs name an overlay by path (inside the roots), key or base64, in
// both loops, and get the bytes resize() gives for the same overlay.
describe('native jobs', () => {
  let server, redis, dir
  before(async () => {
    server = await startRedis()
    redis = server.client()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rusque-composite-'))
    fs.writeFileSync(path.join(dir, 'mark.png'), await mark())
  })
  after(async () => {
    await server.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  for (const loop of LOOPS) {
    it(`${loop.kind}: path, key and base64 overlays; refusals coded and named`, async () => {
      const ns = `cmp${loop.rust ? 'r' : 'j'}`
      const png = await mark()
      await redis.set('mark', png)
      await redis.set('a-list', 'x')
      await redis.del('a-list')
      await redis.rpush('a-list', 'x')
      const expected = await resize(photo, { width: 200, format: 'png', composite: [{ input: png, gravity: 'southeast' }, { input: png, top: 0, left: 0, blend: 'multiply' }] })
      const out = (tag) => ({ key: `out:${ns}:${tag}` })
      const job = (tag, composite) => ({ class: 'mark', queue: 'q', args: [{ input: { base64: photo.toString('base64') }, output: out(tag), composite }, { tag }] })
      const entries = [
        job(0, [{ input: { path: path.join(dir, 'mark.png') }, gravity: 'southeast' }, { input: { key: 'mark' }, top: 0, left: 0, blend: 'multiply' }]),
        job(1, [{ input: { base64: png.toString('base64') }, gravity: 'southeast' }, { input: { key: 'mark' }, top: 0, left: 0, blend: 'multiply' }]),
        job(2, [{ input: { key: 'no-such-key' } }]),
        job(3, [{ input: { buffer: 0 } }]),
        job(4, [{ input: { path: '/etc/hostname' } }]),
        job(5, [{ input: { key: 'a-list' } }]),
        job(6, [{ input: { base64: Buffer.from('not an image').toString('base64') } }])
      ]
      const { outcomes } = await runEntries(server, redis, loop, {
        ns,
        jobs: { mark: native('resize', { width: 200, format: 'png' }) },
        entries,
        options: { roots: [dir] }
      })
      assert.deepEqual(outcomes.slice(0, 2).map((o) => o.ok), [true, true], JSON.stringify(outcomes.slice(0, 2)))
      for (const tag of [0, 1]) assert.ok(Buffer.compare(await redis.getBuffer(out(tag).key), expected) === 0, `job ${tag}: resize()'s bytes`)
      const failed = outcomes.slice(2).map((o) => [o.code, o.error])
      assert.equal(failed[0][0], 'ERR_INPUT_NOT_FOUND')
      assert.match(failed[0][1], /^composite\[0\]\.input: no value at Redis key "no-such-key"/)
      assert.equal(failed[1][0], 'ERR_INVALID_ARG')
      assert.match(failed[1][1], /composite\[0\]\.input: \{ buffer \} is for resize\(\) and JobQueue/)
      assert.match(failed[2][1], /^composite\[0\]\.input: /)
      assert.notEqual(failed[2][0], undefined)
      assert.equal(failed[3][0], 'ERR_INVALID_ARG')
      assert.match(failed[3][1], /a composite overlay from Redis key "a-list": WRONGTYPE/)
      assert.equal(failed[4][0], 'ERR_UNSUPPORTED_FORMAT')
      assert.match(failed[4][1], /^composite\[0\]\.input: /)
    })
  }
})
