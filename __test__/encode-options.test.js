'use strict'

// The encoder options of issue #15 (sharp's names, flat on the resize
// options): each seen in the output itself (JPEG sampling factors, PNG colour
// type and chunks, WebP chunk kind), decoded back by sharp (an independent
// decoder) and compared pixel by pixel; bad values refused naming the option;
// one case through a native job in each loop, since every path reads the spec.

const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const sharp = require('sharp')
const { resize, native } = require('..')
const { fixture, raw, meanAbsDiff, MAGIC } = require('./helpers/fixtures')
const { usePrivateRedis } = require('./helpers/redis')
const { LOOPS, runEntries } = require('./helpers/loops')

const photo = fixture('320x240.jpg')
const translucent = fixture('blackbug.png') // RGBA

/** A PNG's chunks: [{ type, data }]. */
function pngChunks (png) {
  const chunks = []
  for (let i = 8; i + 8 <= png.length;) {
    const length = png.readUInt32BE(i)
    chunks.push({ type: png.toString('latin1', i + 4, i + 8), data: png.subarray(i + 8, i + 8 + length) })
    i += 12 + length
  }
  return chunks
}

const colourType = (png) => pngChunks(png)[0].data[9]
/** The first chunk inside a WebP's RIFF: 'VP8 ' (lossy), 'VP8L' (lossless) or 'VP8X' (extended). */
const webpChunk = (webp) => webp.toString('latin1', 12, 16)

function same (a, b, what) {
  assert.deepEqual([a.width, a.height, a.channels], [b.width, b.height, b.channels], what)
  assert.ok(a.data.equals(b.data), `${what}: identical pixels`)
}

describe('JPEG', () => {
  it("chromaSubsampling: '4:4:4' keeps full-resolution colour; '4:2:0' is the default", async () => {
    const d = await resize(photo, { width: 160, format: 'jpeg' })
    const s420 = await resize(photo, { width: 160, format: 'jpeg', chromaSubsampling: '4:2:0' })
    const s444 = await resize(photo, { width: 160, format: 'jpeg', chromaSubsampling: '4:4:4' })
    assert.equal((await sharp(d).metadata()).chromaSubsampling, '4:2:0')
    assert.ok(s420.equals(d), "'4:2:0' is the default's output")
    assert.equal((await sharp(s444).metadata()).chromaSubsampling, '4:4:4')
    assert.ok(s444.length > d.length, `${s444.length} > ${d.length}`)
    assert.ok(meanAbsDiff(await raw(s444), await raw(d)) < 3, 'the same picture')
  })

  it('trellisQuantisation: a different, smaller JPEG of the same picture; off by default', async () => {
    const d = await resize(photo, { format: 'jpeg' })
    const off = await resize(photo, { format: 'jpeg', trellisQuantisation: false })
    const t = await resize(photo, { format: 'jpeg', trellisQuantisation: true })
    const z = await resize(photo, { format: 'jpeg', trellisQuantization: true })
    assert.ok(off.equals(d), 'false is the default')
    assert.ok(t.equals(z), 'both spellings')
    assert.ok(!t.equals(d) && t.length < d.length, `${t.length} < ${d.length}`)
    const m = await sharp(t).metadata()
    assert.deepEqual([m.width, m.height, m.isProgressive, m.chromaSubsampling], [320, 240, false, '4:2:0'])
    assert.ok(meanAbsDiff(await raw(t), await raw(photo)) < 4, 'close to the input')
    const tp = await resize(photo, { format: 'jpeg', trellisQuantisation: true, progressive: true })
    assert.equal((await sharp(tp).metadata()).isProgressive, true, 'with progressive too')
  })

  it('optimiseCoding: false gives a larger file with the same pixels (Huffman coding is lossless)', async () => {
    const d = await resize(photo, { width: 200, format: 'jpeg' })
    const plain = await resize(photo, { width: 200, format: 'jpeg', optimiseCoding: false })
    assert.ok((await resize(photo, { width: 200, format: 'jpeg', optimizeCoding: false })).equals(plain), 'both spellings')
    assert.ok(plain.length > d.length, `${plain.length} > ${d.length}`)
    same(await raw(plain), await raw(d), 'optimised vs standard tables')
  })
})

describe('PNG', () => {
  it('compressionLevel: 0 is larger than 9, both the same pixels; 6 is the default', async () => {
    const d = await resize(photo, { width: 200, format: 'png' })
    const l0 = await resize(photo, { width: 200, format: 'png', compressionLevel: 0 })
    const l6 = await resize(photo, { width: 200, format: 'png', compressionLevel: 6 })
    const l9 = await resize(photo, { width: 200, format: 'png', compressionLevel: 9 })
    assert.ok(l6.equals(d), '6 is the default')
    assert.ok(l0.length > l9.length, `${l0.length} > ${l9.length}`)
    assert.ok(l0.length > 200 * 150 * 3, 'level 0 stores the rows')
    same(await raw(l0), await raw(l9), 'level 0 vs 9')
  })

  it('adaptiveFiltering: false writes unfiltered rows, the same pixels', async () => {
    const d = await resize(photo, { width: 200, format: 'png' })
    const none = await resize(photo, { width: 200, format: 'png', adaptiveFiltering: false })
    assert.ok((await resize(photo, { width: 200, format: 'png', adaptiveFiltering: true })).equals(d), 'true is the default')
    assert.ok(!none.equals(d))
    same(await raw(none), await raw(d), 'unfiltered vs adaptive')
    // Each row of the decompressed data starts with its filter type: 0 (None) throughout.
    const idat = Buffer.concat(pngChunks(none).filter((c) => c.type === 'IDAT').map((c) => c.data))
    const rows = require('node:zlib').inflateSync(idat)
    for (let y = 0; y < 150; y++) assert.equal(rows[y * (1 + 200 * 3)], 0, `row ${y} unfiltered`)
  })

  it('palette: an indexed PNG (colour type 3) with at most colours entries', async () => {
    const p = await resize(photo, { width: 160, format: 'png', palette: true })
    assert.equal(colourType(p), 3)
    const plte = pngChunks(p).find((c) => c.type === 'PLTE')
    assert.ok(plte.data.length / 3 <= 256)
    assert.equal(pngChunks(p).find((c) => c.type === 'tRNS'), undefined, 'opaque: no tRNS')
    const full = await raw(await resize(photo, { width: 160, format: 'png' }))
    assert.ok(meanAbsDiff(await raw(p), full) < 6, 'close to the full-colour image')

    const c16 = await resize(photo, { width: 160, format: 'png', colours: 16 }) // colours implies palette
    assert.equal(colourType(c16), 3)
    assert.ok(pngChunks(c16).find((c) => c.type === 'PLTE').data.length / 3 <= 16)
    const used = new Set()
    const px = await raw(c16)
    for (let i = 0; i < px.data.length; i += 3) used.add(px.data.readUIntBE(i, 3))
    assert.ok(used.size <= 16, `${used.size} colours`)
    assert.ok(c16.length < p.length)
    assert.ok((await resize(photo, { width: 160, format: 'png', colors: 16 })).equals(c16), 'both spellings')

    const plain = await resize(photo, { width: 160, format: 'png', colours: 16, dither: 0 })
    assert.ok(!plain.equals(c16), 'dither 0 maps each pixel to its nearest entry')
    assert.equal(colourType(await resize(photo, { width: 160, format: 'png', colours: 16, palette: false })), 2, 'palette: false wins')
  })

  it('palette keeps alpha in a tRNS chunk', async () => {
    const p = await resize(translucent, { width: 100, format: 'png', colours: 64 })
    assert.equal(colourType(p), 3)
    assert.ok(pngChunks(p).find((c) => c.type === 'tRNS'), 'tRNS')
    const a = await raw(p, 4)
    const b = await raw(await resize(translucent, { width: 100, format: 'png' }), 4)
    assert.ok(meanAbsDiff(a, b) < 10, 'close to the full-colour image, alpha included')
  })
})

describe('WebP', () => {
  it('lossless: the same pixels as a PNG of the same resize', async () => {
    for (const input of [photo, translucent]) {
      const w = await resize(input, { width: 120, format: 'webp', lossless: true })
      assert.equal(webpChunk(w), 'VP8L')
      const channels = input === photo ? 3 : 4
      const png = await raw(await resize(input, { width: 120, format: 'png' }), channels)
      if (channels === 3) same(await raw(w, 3), png, 'lossless WebP vs PNG')
      else {
        // libwebp may change the colour of fully transparent pixels; the visible ones are exact.
        const a = await raw(w, 4)
        for (let i = 0; i < a.data.length; i += 4) {
          if (png.data[i + 3] === 0) assert.equal(a.data[i + 3], 0)
          else assert.ok(a.data.subarray(i, i + 4).equals(png.data.subarray(i, i + 4)), `pixel ${i / 4}`)
        }
      }
    }
    assert.equal(webpChunk(await resize(photo, { width: 120, format: 'webp' })), 'VP8 ', 'lossy by default')
  })

  it('nearLossless: lossless coding of preprocessed pixels, close to the input', async () => {
    const n = await resize(photo, { width: 120, format: 'webp', nearLossless: true, quality: 50 })
    const l = await resize(photo, { width: 120, format: 'webp', lossless: true, quality: 50 })
    assert.equal(webpChunk(n), 'VP8L')
    assert.ok(n.length < l.length, `${n.length} < ${l.length}`)
    const png = await raw(await resize(photo, { width: 120, format: 'png' }))
    assert.ok(meanAbsDiff(await raw(n), png) < 3)
  })

  it('effort changes the size; 4 is the default', async () => {
    const d = await resize(photo, { format: 'webp' })
    assert.ok((await resize(photo, { format: 'webp', effort: 4 })).equals(d))
    const e0 = await resize(photo, { format: 'webp', effort: 0 })
    const e6 = await resize(photo, { format: 'webp', effort: 6 })
    assert.notEqual(e0.length, e6.length)
    assert.ok(e6.length < e0.length, `${e6.length} < ${e0.length}`)
    assert.ok(meanAbsDiff(await raw(e0), await raw(e6)) < 4)
  })

  it('alphaQuality: a smaller alpha plane, alpha close to the input', async () => {
    const d = await resize(translucent, { width: 120, format: 'webp' })
    const low = await resize(translucent, { width: 120, format: 'webp', alphaQuality: 0 })
    assert.ok(low.length < d.length, `${low.length} < ${d.length}`)
    const alpha = async (b) => (await sharp(b).extractChannel(3).raw().toBuffer({ resolveWithObject: true }))
    const [a, b] = [await alpha(low), await alpha(d)]
    assert.ok(meanAbsDiff({ data: a.data }, { data: b.data }) < 20)
  })
})

describe('checks and other formats', () => {
  it('bad values are ERR_INVALID_ARG naming the option, whatever the output format', async () => {
    const cases = [
      [{ chromaSubsampling: '4:2:2' }, 'chromaSubsampling must be one of 4:2:0, 4:4:4; got a string ("4:2:2")'],
      [{ trellisQuantisation: 1 }, 'trellisQuantisation must be a boolean, got number 1'],
      [{ optimizeCoding: 'no' }, 'optimizeCoding must be a boolean, got a string ("no")'],
      [{ compressionLevel: 10 }, 'compressionLevel must be an integer from 0 to 9, got number 10'],
      [{ compressionLevel: 2.5 }, 'compressionLevel must be an integer from 0 to 9, got number 2.5'],
      [{ adaptiveFiltering: null, palette: 'yes' }, 'palette must be a boolean, got a string ("yes")'],
      [{ colours: 257 }, 'colours must be an integer from 2 to 256, got number 257'],
      [{ colors: 1 }, 'colors must be an integer from 2 to 256, got number 1'],
      [{ dither: 1.5 }, 'dither must be a number from 0 to 1, got number 1.5'],
      [{ lossless: 'true' }, 'lossless must be a boolean, got a string ("true")'],
      [{ nearLossless: 0 }, 'nearLossless must be a boolean, got number 0'],
      [{ effort: 10 }, 'effort must be an integer from 0 to 9, got number 10'],
      [{ alphaQuality: 101 }, 'alphaQuality must be an integer from 0 to 100, got number 101']
    ]
    for (const [opts, message] of cases) {
      for (const format of ['jpeg', 'png']) {
        await assert.rejects(resize(photo, { width: 16, format, ...opts }), { code: 'ERR_INVALID_ARG', message }, JSON.stringify(opts))
      }
    }
  })

  it("another format's options are accepted and ignored", async () => {
    const jpeg = await resize(photo, { width: 64, format: 'jpeg' })
    const withOthers = await resize(photo, { width: 64, format: 'jpeg', compressionLevel: 0, palette: true, lossless: true, effort: 0, alphaQuality: 1 })
    assert.ok(withOthers.equals(jpeg))
    const png = await resize(photo, { width: 64, format: 'png' })
    assert.ok((await resize(photo, { width: 64, format: 'png', chromaSubsampling: '4:4:4', trellisQuantisation: true, lossless: true })).equals(png))
    assert.ok(MAGIC.webp(await resize(photo, { width: 64, format: 'webp', compressionLevel: 9, chromaSubsampling: '4:4:4' })))
  })
})

describe('through a native job', () => {
  const r = usePrivateRedis()

  for (const loop of LOOPS) {
    it(`palette PNG and 4:4:4 JPEG in the ${loop.kind}`, async () => {
      const ns = `encode-${loop.rust ? 'rust' : 'js'}`
      const jobs = { thumb: native('resize', { width: 64 }) }
      const input = { base64: photo.toString('base64') }
      const entries = [
        { class: 'thumb', queue: 'q', args: [{ input, output: { key: `out:${ns}:0` }, format: 'png', colours: 8 }, { tag: 0 }] },
        { class: 'thumb', queue: 'q', args: [{ input, output: { key: `out:${ns}:1` }, format: 'jpeg', chromaSubsampling: '4:4:4' }, { tag: 1 }] },
        { class: 'thumb', queue: 'q', args: [{ input, output: { key: `out:${ns}:2` }, effort: 10 }, { tag: 2 }] }
      ]
      const { outcomes } = await runEntries(r.server, r.redis, loop, { ns, jobs, entries })
      assert.ok(outcomes[0].ok && outcomes[1].ok, JSON.stringify(outcomes))
      const p = await r.redis.getBuffer(`out:${ns}:0`)
      assert.equal(colourType(p), 3)
      assert.ok(pngChunks(p).find((c) => c.type === 'PLTE').data.length / 3 <= 8)
      assert.equal((await sharp(await r.redis.getBuffer(`out:${ns}:1`)).metadata()).chromaSubsampling, '4:4:4')
      assert.equal(outcomes[2].ok, false)
      assert.equal(outcomes[2].code, 'ERR_INVALID_ARG')
      assert.match(outcomes[2].error, /effort must be an integer from 0 to 9/)
    })
  }
})
