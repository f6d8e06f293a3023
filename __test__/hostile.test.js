'use strict'

// Hostile inputs: headers that claim huge images, decompression bombs, JPEG
// marker floods, tiny inputs and random mutations of every fixture. Each call
// must settle with a valid result or an error carrying a documented code,
// within bounded time and memory, and the process must survive.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const zlib = require('node:zlib')
const { resize, metadata, hash } = require('..')
const { dir, fixture, png } = require('./helpers/fixtures')

const MB = 1024 * 1024
const INPUT_ERRORS = new Set(['ERR_UNSUPPORTED_FORMAT', 'ERR_CORRUPT_INPUT', 'ERR_LIMIT_EXCEEDED'])

// ---------------------------------------------------------------- measuring

/**
 * Runs `fn` while sampling RSS every millisecond (the work runs on the Rust
 * pool, so the JS thread is free to sample), and returns its outcome with the
 * peak RSS growth over the starting RSS.
 */
async function withPeakRss (fn) {
  if (global.gc) global.gc()
  const base = process.memoryUsage.rss()
  let peak = base
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 1)
  const started = performance.now()
  let value, error
  try {
    value = await fn()
  } catch (err) {
    error = err
  } finally {
    clearInterval(timer)
  }
  peak = Math.max(peak, process.memoryUsage.rss())
  return { value, error, growth: peak - base, ms: performance.now() - started }
}

/** Rejects with a clear message instead of hanging the suite. */
function within (ms, promise, what) {
  let timer
  const limit = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

function assertCode (outcome, code, what) {
  assert.ok(outcome.error, `${what}: expected ${code}, but it resolved`)
  assert.equal(outcome.error.code, code, `${what}: ${outcome.error.message}`)
}

// ---------------------------------------------------------------- crafting

function u16be (v) { return [(v >> 8) & 255, v & 255] }
function u16le (v) { return [v & 255, (v >> 8) & 255] }
function u24le (v) { return [v & 255, (v >> 8) & 255, (v >> 16) & 255] }

/** zlib stream of `total` zero bytes, compressed in 1 MB steps so the raw data never sits in memory. */
function deflateZeros (total) {
  return new Promise((resolve, reject) => {
    const z = zlib.createDeflate({ level: 9 })
    const parts = []
    z.on('data', (c) => parts.push(c))
    z.on('end', () => resolve(Buffer.concat(parts)))
    z.on('error', reject)
    const block = Buffer.alloc(MB)
    let left = total
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, MB)
        left -= n
        if (!z.write(n === MB ? block : block.subarray(0, n))) {
          z.once('drain', pump)
          return
        }
      }
      z.end()
    }
    pump()
  })
}

/** A greyscale PNG of zeros: every row is filter 0 followed by `width` zeros. */
async function pngBomb (width, height) {
  return png(width, height, await deflateZeros(height * (width + 1)))
}

/** Baseline JPEG header: SOI, SOF0 (3 components), EOI; no tables, no scan. */
function jpegHeader (width, height) {
  return Buffer.from([
    0xff, 0xd8,
    0xff, 0xc0, 0, 17, 8, ...u16be(height), ...u16be(width), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
    0xff, 0xd9
  ])
}

/** GIF89a whose screen and first frame claim width x height, with a tiny LZW block. */
function gifHeader (width, height) {
  return Buffer.from([
    ...Buffer.from('GIF89a'), ...u16le(width), ...u16le(height), 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
    0x2c, 0, 0, 0, 0, ...u16le(width), ...u16le(height), 0,
    2, 2, 0x4c, 0x01, 0,
    0x3b
  ])
}

function riffChunk (fourcc, data) {
  const head = Buffer.alloc(8)
  head.write(fourcc, 0, 'latin1')
  head.writeUInt32LE(data.length, 4)
  return Buffer.concat([head, data, Buffer.alloc(data.length % 2)])
}

function riffWebp (chunks) {
  const body = Buffer.concat([Buffer.from('WEBP'), ...chunks])
  const head = Buffer.alloc(8)
  head.write('RIFF', 0, 'latin1')
  head.writeUInt32LE(body.length, 4)
  return Buffer.concat([head, body])
}

/** Extended (VP8X) animated WebP: a width x height canvas holding one frame, `frame` (a VP8 or VP8L chunk). */
function webpCanvas (width, height, frame) {
  const vp8x = Buffer.from([0x02, 0, 0, 0, ...u24le(width - 1), ...u24le(height - 1)])
  const anmf = Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...u24le(100), 0]), frame])
  return riffWebp([riffChunk('VP8X', vp8x), riffChunk('ANIM', Buffer.alloc(6)), riffChunk('ANMF', anmf)])
}

/** The first chunk after 'WEBP' in a simple-format file: a 'VP8 ' or 'VP8L' chunk with its header. */
function firstWebpChunk (file) {
  const size = file.readUInt32LE(16)
  return file.subarray(12, 20 + size + (size % 2))
}

/** A copy of a JPEG whose frame header (SOF) claims width x height. */
function withJpegSize (file, width, height) {
  const out = Buffer.from(file)
  let pos = 2
  while (pos + 9 <= out.length && out[pos] === 0xff) {
    const marker = out[pos + 1]
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      out.writeUInt16BE(height, pos + 5)
      out.writeUInt16BE(width, pos + 7)
      return out
    }
    pos += 2 + out.readUInt16BE(pos + 2)
  }
  throw new Error('no frame header')
}

/** A copy of a lossy WebP whose VP8 frame header claims width x height. */
function withVp8Size (file, width, height) {
  const out = Buffer.from(file)
  const at = out.indexOf(Buffer.from([0x9d, 0x01, 0x2a]))
  assert.ok(at > 0, 'VP8 start code')
  out.writeUInt16LE(width, at + 3)
  out.writeUInt16LE(height, at + 5)
  return out
}

/** Splits a JPEG at its first SOS marker, found by walking the marker segments. */
function jpegBeforeScan (file) {
  let pos = 2
  while (pos + 4 <= file.length && file[pos] === 0xff && file[pos + 1] !== 0xda) {
    pos += 2 + file.readUInt16BE(pos + 2)
  }
  assert.ok(file[pos] === 0xff && file[pos + 1] === 0xda, 'fixture has a scan')
  return [file.subarray(0, pos), file.subarray(pos)]
}

/** Repeats the last scan (SOS to EOI) of a progressive JPEG `times` times. */
function progressiveScanFlood (file, times) {
  const sof2 = file.indexOf(Buffer.from([0xff, 0xc2]))
  assert.ok(sof2 > 0, 'progressive JPEG')
  const eoi = file.length - 2
  let last = file.lastIndexOf(Buffer.from([0xff, 0xda]))
  // Tables (DHT) may sit between scans: start the repeated block at them.
  const dht = file.lastIndexOf(Buffer.from([0xff, 0xc4]))
  if (dht > 0 && dht < last && file.indexOf(Buffer.from([0xff, 0xda]), dht) === last) last = dht
  const block = file.subarray(last, eoi)
  return Buffer.concat([file.subarray(0, eoi), ...new Array(times).fill(block), file.subarray(eoi)])
}

// ---------------------------------------------------------------- huge headers

test('headers claiming huge images are rejected with ERR_LIMIT_EXCEEDED before any large allocation', async (t) => {
  const frame = firstWebpChunk(await resize(fixture('320x240.jpg'), { width: 4, height: 4, format: 'webp' }))
  // JPEG and GIF store 16-bit dimensions, so 65535 is their largest claim.
  const cases = [
    ['png 100000x100000', png(100000, 100000, zlib.deflateSync(Buffer.alloc(64))), 100000, 100000],
    ['webp 100000x100000', webpCanvas(100000, 100000, frame), 100000, 100000],
    ['webp 65535x65535', webpCanvas(65535, 65535, frame), 65535, 65535],
    ['jpeg 65535x65535', jpegHeader(65535, 65535), 65535, 65535],
    ['gif 65535x65535', gifHeader(65535, 65535), 65535, 65535]
  ]
  for (const [what, bytes, width, height] of cases) {
    assert.ok(bytes.length < 1024, `${what} is a tiny file`)
    for (const limitInputPixels of [undefined, 0x3fff * 0x3fff, 1e6]) {
      const out = await withPeakRss(() => resize(bytes, { width: 100, limitInputPixels }))
      assertCode(out, 'ERR_LIMIT_EXCEEDED', what)
      assert.match(out.error.message, new RegExp(`${width}x${height}`), what)
      assert.ok(out.growth < 200 * MB, `${what}: RSS grew ${(out.growth / MB).toFixed(0)} MB`)
      t.diagnostic(`${what} limit ${limitInputPixels}: ${out.error.code}, RSS +${(out.growth / MB).toFixed(1)} MB, ${out.ms.toFixed(1)} ms`)
    }
    if (what === 'webp 100000x100000') {
      // Over the 2^32 pixels a WebP canvas may have: no size to report.
      await assert.rejects(metadata(bytes), { code: 'ERR_LIMIT_EXCEEDED' }, what)
    } else {
      // The header alone is readable: metadata reports the claim without decoding it.
      const m = await metadata(bytes)
      assert.deepEqual([m.width, m.height], [width, height], what)
    }
  }
})

test('frames claiming more than their header: rejected, RSS stays low', async (t) => {
  // The header (GIF screen, WebP canvas) is small and passes any limit; the
  // first frame inside claims 65535x65535. The decoder must not allocate it.
  const gif = Buffer.from([
    ...Buffer.from('GIF89a'), ...u16le(16), ...u16le(12), 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
    0x2c, 0, 0, 0, 0, ...u16le(65535), ...u16le(65535), 0, 2, 2, 0x4c, 0x01, 0, 0x3b
  ])
  const m = await metadata(gif)
  assert.deepEqual([m.format, m.width, m.height], ['gif', 16, 12])
  const out = await withPeakRss(() => resize(gif, { width: 8 }))
  // 35 bytes cannot hold the frame: refused as corrupt before decoding (a
  // frame with the data to match meets the decode budget: ERR_LIMIT_EXCEEDED).
  assertCode(out, 'ERR_CORRUPT_INPUT', 'GIF frame 65535x65535 behind a 16x12 screen')
  assert.ok(out.growth < 200 * MB, `RSS grew ${(out.growth / MB).toFixed(0)} MB`)
  t.diagnostic(`gif: ${out.error.code}, RSS +${(out.growth / MB).toFixed(1)} MB`)

  // A VP8L frame header claiming 16384x16384 inside a 16x12 animated canvas.
  const vp8l = Buffer.from([0x2f, ...u16le(0x3fff), 0xff, 0x0f, 0x00, 0, 0, 0, 0, 0, 0, 0])
  const webp = webpCanvas(16, 12, riffChunk('VP8L', vp8l))
  const w = await withPeakRss(() => resize(webp, { width: 8 }))
  assert.ok(w.error && INPUT_ERRORS.has(w.error.code), `webp: ${w.error ? w.error.message : 'resolved'}`)
  assert.ok(w.growth < 200 * MB, `RSS grew ${(w.growth / MB).toFixed(0)} MB`)
  t.diagnostic(`webp: ${w.error.code} (${w.error.message}), RSS +${(w.growth / MB).toFixed(1)} MB`)
})

// ---------------------------------------------------------------- files too small for their claim

test('files far too small for the pixels they claim are refused as corrupt, before the decoder allocates', async (t) => {
  // 16383x16383 is under the default pixel limit and every format can store it.
  const S = 16383
  const jpeg = fixture('320x240.jpg')
  const progressive = await require('sharp')(jpeg).jpeg({ progressive: true }).toBuffer()
  const lossy = await resize(jpeg, { width: 64, format: 'webp' })
  const cases = [
    // The GIF decoder used to fill a 256 MB index buffer before finding the data missing.
    ['gif', gifHeader(S, S)],
    ['png 8-bit grey', png(S, S, zlib.deflateSync(Buffer.alloc(64)))],
    ['png 1-bit grey', png(S, S, zlib.deflateSync(Buffer.alloc(64)), 0, 1)],
    ['png 8-bit RGBA', png(S, S, zlib.deflateSync(Buffer.alloc(64)), 6)],
    ['jpeg baseline', withJpegSize(jpeg, S, S)],
    ['jpeg progressive', withJpegSize(progressive, S, S)],
    ['webp lossy', withVp8Size(lossy, S, S)]
  ]
  for (const [what, bytes] of cases) {
    const m = await metadata(bytes)
    assert.deepEqual([m.width, m.height], [S, S], `${what}: metadata reports the claim`)
    const out = await withPeakRss(() => resize(bytes, { width: 100 }))
    assertCode(out, 'ERR_CORRUPT_INPUT', what)
    // Refused by the size check (which names the floor), not by a decoder that ran out of data.
    assert.match(out.error.message, new RegExp(`${S}x${S} pixels in ${bytes.length} bytes, .* needs at least \\d+ bytes`), what)
    assert.ok(out.growth < 32 * MB, `${what}: RSS grew ${(out.growth / MB).toFixed(0)} MB`)
    t.diagnostic(`${what} (${bytes.length} bytes): RSS +${(out.growth / MB).toFixed(1)} MB; ${out.error.message}`)
  }
})

test('legitimate images that compress to tiny files still decode', async (t) => {
  // One colour over many pixels is each encoder's best case: these files sit
  // closest to the size floors (zlib at level 9 comes within 0.2% of deflate's limit).
  const side = 6000
  const sharp = require('sharp')
  const solid = () => sharp({ create: { width: side, height: side, channels: 3, background: { r: 200, g: 100, b: 50 } } })
  const cases = [
    ['png 8-bit grey, zlib level 9', await pngBomb(side, side)],
    ['png 1-bit grey, zlib level 9', png(side, side, await deflateZeros(side * (1 + side / 8)), 0, 1)],
    ['gif', await solid().gif().toBuffer()],
    ['jpeg baseline', await solid().jpeg().toBuffer()],
    ['jpeg progressive', await solid().jpeg({ progressive: true }).toBuffer()],
    ['webp lossy', await solid().webp().toBuffer()],
    ['webp lossless', await solid().webp({ lossless: true }).toBuffer()]
  ]
  for (const [what, bytes] of cases) {
    assert.ok(bytes.length < side * side / 100, `${what}: ${bytes.length} bytes is a tiny file for its pixels`)
    const out = await resize(bytes, { width: 60 })
    const m = await metadata(out)
    assert.deepEqual([m.width, m.height], [60, 60], what)
    t.diagnostic(`${what}: ${side}x${side} in ${bytes.length} bytes (${(side * side / bytes.length).toFixed(0)} pixels per byte) decodes`)
  }
})

// ---------------------------------------------------------------- PNG bombs

test('PNG decompression bomb over the default limit: 20000x20000 zeros in a small file', async (t) => {
  const bomb = await pngBomb(20000, 20000)
  assert.ok(bomb.length < 1 * MB, `bomb is ${bomb.length} bytes`)
  const m = await metadata(bomb)
  assert.deepEqual([m.width, m.height], [20000, 20000])
  const out = await withPeakRss(() => resize(bomb, { width: 100 }))
  assertCode(out, 'ERR_LIMIT_EXCEEDED', '20000x20000 bomb')
  assert.ok(out.growth < 200 * MB, `RSS grew ${(out.growth / MB).toFixed(0)} MB`)
  t.diagnostic(`${bomb.length} byte file: RSS +${(out.growth / MB).toFixed(1)} MB`)
})

test('PNG bomb under the default limit is stopped by a tight limitInputPixels', async (t) => {
  const bomb = await pngBomb(10000, 10000)
  const out = await withPeakRss(() => resize(bomb, { width: 100, limitInputPixels: 10_000_000 }))
  assertCode(out, 'ERR_LIMIT_EXCEEDED', '10000x10000 bomb with limit 1e7')
  assert.match(out.error.message, /10000x10000/)
  assert.ok(out.growth < 200 * MB, `RSS grew ${(out.growth / MB).toFixed(0)} MB`)
  t.diagnostic(`${bomb.length} byte file: RSS +${(out.growth / MB).toFixed(1)} MB`)
})

test('PNG bomb within the limit decodes, using memory in proportion to the pixels it declares', async (t) => {
  const side = 4000
  const bomb = await pngBomb(side, side)
  assert.ok(bomb.length < 100 * 1024, `bomb is ${bomb.length} bytes`)
  const out = await withPeakRss(() => resize(bomb, { width: 100 }))
  assert.ifError(out.error)
  const m = await metadata(out.value)
  assert.deepEqual([m.format, m.width, m.height], ['png', 100, 100])
  // Decoded greyscale, then RGB, plus resampling buffers: a few bytes per
  // declared pixel, never a multiple of the decompressed stream.
  const declared = side * side
  assert.ok(out.growth < declared * 8 + 64 * MB,
    `RSS grew ${(out.growth / MB).toFixed(0)} MB for ${declared / 1e6}M declared pixels`)
  t.diagnostic(`${bomb.length} byte file, ${declared / 1e6}M pixels: RSS +${(out.growth / MB).toFixed(1)} MB, ${out.ms.toFixed(0)} ms`)
})

// ---------------------------------------------------------------- JPEG marker floods

test('JPEG marker floods settle in bounded time', async (t) => {
  const small = fixture('320x240.jpg')
  const [head, scan] = jpegBeforeScan(small)
  // sharp (a dev dependency) writes the progressive JPEG; rusque's encoder writes baseline.
  const progressive = require('sharp')(small).resize(64).jpeg({ progressive: true }).toBuffer()
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x02])
  const com = Buffer.from([0xff, 0xfe, 0x00, 0x04, 0x41, 0x41])
  const cases = [
    // No frame header ever comes: the header walk must reach the end and stop.
    ['200k empty APP0 segments, no SOF', Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(200000 * 4).fill(app0)]), 'ERR_CORRUPT_INPUT'],
    ['4 MB of 0xFF fill bytes', Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(4 * MB, 0xff)]), 'ERR_CORRUPT_INPUT'],
    ['4 MB of repeated SOI markers', Buffer.alloc(4 * MB).fill(Buffer.from([0xff, 0xd8])), 'ERR_CORRUPT_INPUT'],
    // A valid image with a flood of comments between its tables and its scan: still valid.
    ['100k COM segments before the scan', Buffer.concat([head, Buffer.alloc(100000 * com.length).fill(com), scan]), null],
    // Restart markers without end inside the entropy-coded data.
    ['the scan followed by 1M restart markers', Buffer.concat([head, scan.subarray(0, scan.length - 2), Buffer.alloc(2 * MB).fill(Buffer.from([0xff, 0xd0])), Buffer.from([0xff, 0xd9])]), 'any'],
    // A progressive image's last scan repeated: scan after scan for the decoder to run over the whole image.
    ['a progressive scan repeated 20000 times', progressiveScanFlood(await progressive, 20000), 'any'],
    // The header again after the scan, endlessly: SOI/SOF inside the data.
    ['the whole file repeated 500 times', Buffer.concat(new Array(500).fill(small)), 'any']
  ]
  for (const [what, bytes, expected] of cases) {
    for (const call of [() => resize(bytes, { width: 64 }), () => metadata(bytes)]) {
      const out = await withPeakRss(() => within(20000, call(), what))
      assert.ok(!(out.error && /did not settle/.test(out.error.message)), out.error && out.error.message)
      if (out.error) {
        assert.ok(expected !== null, `${what}: ${out.error.code} ${out.error.message}`)
        if (expected === 'any') assert.ok(INPUT_ERRORS.has(out.error.code), `${what}: ${out.error.code} ${out.error.message}`)
        else assert.equal(out.error.code, expected, `${what}: ${out.error.message}`)
      } else {
        assert.ok(expected === null || expected === 'any', `${what}: expected ${expected}, resolved`)
      }
      assert.ok(out.growth < 200 * MB, `${what}: RSS grew ${(out.growth / MB).toFixed(0)} MB`)
      t.diagnostic(`${what} (${bytes.length} bytes): ${out.error ? out.error.code : 'ok'} in ${out.ms.toFixed(0)} ms, RSS +${(out.growth / MB).toFixed(1)} MB`)
    }
  }
})

// ---------------------------------------------------------------- tiny inputs

test('zero-byte and one-byte inputs reject with a coded error', async () => {
  await assert.rejects(resize(Buffer.alloc(0), { width: 10 }), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(metadata(Buffer.alloc(0)), { code: 'ERR_INVALID_ARG' })
  assert.match(await hash(Buffer.alloc(0)), /^[0-9a-f]{64}$/)
  for (let b = 0; b < 256; b++) {
    const one = Buffer.from([b])
    await assert.rejects(resize(one, { width: 10 }), { code: 'ERR_UNSUPPORTED_FORMAT' }, `byte ${b}`)
    await assert.rejects(metadata(one), { code: 'ERR_UNSUPPORTED_FORMAT' }, `byte ${b}`)
  }
  // Each format's magic bytes and nothing more.
  const magics = [
    [0xff, 0xd8, 0xff], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    [...Buffer.from('RIFF'), 0, 0, 0, 0, ...Buffer.from('WEBP')], [...Buffer.from('GIF89a')], [...Buffer.from('GIF87a')]
  ]
  for (const magic of magics) {
    await assert.rejects(resize(Buffer.from(magic), { width: 10 }), { code: 'ERR_CORRUPT_INPUT' }, `magic ${magic}`)
    await assert.rejects(metadata(Buffer.from(magic)), { code: 'ERR_CORRUPT_INPUT' }, `magic ${magic}`)
  }
})

// ---------------------------------------------------------------- mutations

/** mulberry32: a small deterministic PRNG, so a failing mutation can be replayed. */
function prng (seed) {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One random mutation; half of them aim at the first KB, where the headers are. */
function mutate (src, rnd) {
  const int = (n) => Math.floor(rnd() * n)
  let b = Buffer.from(src)
  const at = () => (rnd() < 0.5 ? int(Math.min(b.length, 1024)) : int(b.length))
  switch (int(7)) {
    case 0: { // overwrite a few random bytes
      const n = 1 + int(8)
      for (let i = 0; i < n; i++) b[at()] = int(256)
      break
    }
    case 1: { // flip one bit
      b[at()] ^= 1 << int(8)
      break
    }
    case 2: // truncate
      b = b.subarray(0, int(b.length))
      break
    case 3: { // insert random bytes
      const p = at()
      const ins = Buffer.alloc(1 + int(64))
      for (let i = 0; i < ins.length; i++) ins[i] = int(256)
      b = Buffer.concat([b.subarray(0, p), ins, b.subarray(p)])
      break
    }
    case 4: { // interesting values: sizes and lengths pushed to edges
      const p = at()
      b.fill([0x00, 0xff, 0x7f, 0x80, 0x01][int(5)], p, Math.min(b.length, p + 1 + int(4)))
      break
    }
    case 5: { // duplicate a block elsewhere
      const p = at()
      const q = at()
      b = Buffer.concat([b.subarray(0, p), b.subarray(q, q + 1 + int(256)), b.subarray(p)])
      break
    }
    case 6: { // delete a block
      const p = at()
      b = Buffer.concat([b.subarray(0, p), b.subarray(p + 1 + int(256))])
      break
    }
  }
  return b
}

test('500 random mutations of each fixture all settle with a result or a coded input error', async (t) => {
  const MUTATIONS = 500
  const BATCH = 25
  const names = fs.readdirSync(dir).filter((n) => /\.(jpe?g|png|webp|gif)$/i.test(n)).sort()
  assert.ok(names.length >= 4, 'fixtures found')
  const tally = {}
  const failures = []
  for (const [index, name] of names.entries()) {
    const src = fixture(name)
    const rnd = prng(0x5eed + index)
    // resize keeps the input's format, except GIF, which it writes as PNG.
    const outputFormat = { jpg: 'jpeg', jpeg: 'jpeg', png: 'png', webp: 'webp', gif: 'png' }[path.extname(name).slice(1).toLowerCase()]
    for (let i = 0; i < MUTATIONS; i += BATCH) {
      const calls = []
      for (let j = i; j < Math.min(i + BATCH, MUTATIONS); j++) {
        const input = mutate(src, rnd)
        const record = (kind, outcome) => {
          const key = `${kind}:${outcome}`
          tally[key] = (tally[key] || 0) + 1
        }
        const fail = (kind, why) => {
          const file = path.join(os.tmpdir(), `rusque-hostile-${name}-${j}`)
          fs.writeFileSync(file, input)
          failures.push(`${name} mutation ${j} (${kind}, saved to ${file}): ${why}`)
        }
        const onError = (kind) => (err) => {
          record(kind, err && err.code)
          const empty = input.length === 0 && err && err.code === 'ERR_INVALID_ARG'
          if (!(err instanceof Error) || !(INPUT_ERRORS.has(err.code) || empty) || !err.message) {
            fail(kind, `${err && err.code}: ${err && err.message}`)
          }
        }
        calls.push(resize(input, { width: 64 }).then(async (out) => {
          record('resize', 'ok')
          const m = await metadata(out)
          if (m.width !== 64 || m.format !== outputFormat) fail('resize', `bad output ${JSON.stringify(m)}`)
        }, onError('resize')))
        calls.push(metadata(input).then((m) => {
          record('metadata', 'ok')
          if (!(m.width > 0 && m.height > 0 && m.size === input.length)) fail('metadata', `bad metadata ${JSON.stringify(m)}`)
        }, onError('metadata')))
        if (j % BATCH === 0) calls.push(hash(input).then((h) => { if (!/^[0-9a-f]{64}$/.test(h)) fail('hash', h) }))
      }
      await within(60000, Promise.all(calls), `${name} mutations ${i}..${i + BATCH}`)
    }
  }
  t.diagnostic(`${names.length} fixtures x ${MUTATIONS}: ${JSON.stringify(tally)}`)
  assert.deepEqual(failures, [], `tally ${JSON.stringify(tally)}`)
  // Both outcomes happened: the mutations reached the decoders, not only the sniffer.
  assert.ok(tally['resize:ok'] > 0 && tally['resize:ERR_CORRUPT_INPUT'] > 0, JSON.stringify(tally))
})
